// im2col and col2im on the GPU: the CUDA kernels behind unet_from_scratch/ops/im2col.py.
//
// A first word on CUDA, for a reader who has never written a kernel
// -----------------------------------------------------------------
// A function marked `__global__` (a "kernel") is started on the GPU by many threads at
// once.  The threads come in blocks of `blockDim.x` threads, and `gridDim.x` blocks make
// up the launch.  Each thread runs the same code and tells itself apart from the others
// by two numbers: `blockIdx.x` (which block it is in) and `threadIdx.x` (its place inside
// the block).  So `blockIdx.x * blockDim.x + threadIdx.x` numbers the threads 0, 1, 2, ...
// across the whole launch.
//
// Every kernel here gives each thread whole output elements to compute, through a
// "grid-stride loop":
//
//     for (i = my thread number; i < total; i += number of threads in the launch)
//
// Thread 0 computes elements 0, T, 2T, ...; thread 1 computes 1, T+1, 2T+1, ...; and so
// on, where T is the number of threads.  The launch may therefore have any size, larger
// or smaller than the work, and every element is computed exactly once.  Each thread
// WRITES only the elements it owns and only READS everything else, so no two threads
// ever write the same memory: no locks, no atomic operations, and the result has the
// same bits on every run.
//
// Indices are 64-bit (`long long`): a batch of 32 images of 128 x 128 pixels with 64
// channels unfolded by a 3 x 3 kernel already has 300 million column entries, and the
// products inside an index can pass 2^31 long before that.
//
// Notation (as in im2col.py):
//     x      (n, c, h, w)                 the image, NCHW, C-contiguous
//     k_h, k_w, s_h, s_w, p_h, p_w        kernel size, stride, zero padding per side
//     h_o = (h + 2 p_h - k_h) / s_h + 1   (integer division), w_o likewise
//     cols   (c, k_h, k_w, n, h_o, w_o)   C-contiguous
//     cols[ci, i, j, b, oy, ox] = x_padded[b, ci, s_h*oy + i, s_w*ox + j]
//
// The `template` functions are written once for any element type T; the `extern "C"`
// kernels at the bottom instantiate them for float (`_f32`) and double (`_f64`) under
// plain C names that a loader (CuPy's RawModule) can look up.

// ---------------------------------------------------------------------------------------
// im2col: one thread per column entry.
//
// Thread element `e` is a flat index into cols.  Peeling the coordinates off from the
// last (fastest-varying) axis to the first -- `e % w_o` is ox, then divide by w_o, and so
// on -- gives (ci, i, j, b, oy, ox).  The entry reads the padded image at row
// s_h*oy + i, column s_w*ox + j; in the unpadded image that is y = s_h*oy + i - p_h,
// x = s_w*ox + j - p_w.  If that falls outside the image it lies on the zero padding and
// the entry is 0.  Consecutive threads get consecutive ox, so their writes land side by
// side in memory (the GPU combines them into few wide transactions).
// ---------------------------------------------------------------------------------------
template <typename T>
__device__ void im2col_impl(const T* __restrict__ x, T* __restrict__ cols,
                            long long n, long long c, long long h, long long w,
                            long long k_h, long long k_w, long long s_h, long long s_w,
                            long long p_h, long long p_w, long long h_o, long long w_o)
{
    const long long total = c * k_h * k_w * n * h_o * w_o;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;
         e += (long long)blockDim.x * gridDim.x) {
        long long rest = e;
        const long long ox = rest % w_o;  rest /= w_o;
        const long long oy = rest % h_o;  rest /= h_o;
        const long long b  = rest % n;    rest /= n;
        const long long j  = rest % k_w;  rest /= k_w;
        const long long i  = rest % k_h;  rest /= k_h;
        const long long ci = rest;                       // what is left is the channel
        const long long y  = s_h * oy + i - p_h;        // row in the unpadded image
        const long long xx = s_w * ox + j - p_w;        // column in the unpadded image
        T value = T(0);                                 // the zero padding
        if (y >= 0 && y < h && xx >= 0 && xx < w)
            value = x[((b * c + ci) * h + y) * w + xx];
        cols[e] = value;
    }
}

// ---------------------------------------------------------------------------------------
// col2im as a GATHER: one thread per image pixel.
//
// col2im is the adjoint of im2col: every column entry is added back onto the pixel it
// was read from.  Written the obvious way -- one thread per column entry, each adding its
// value into x -- several threads would add into the same pixel at the same time (the
// windows overlap whenever the stride is smaller than the kernel), which needs atomic
// additions, and atomic floating-point additions happen in whatever order the threads
// arrive, so the last bits of the sum change from run to run.
//
// Instead each thread owns one pixel (b, ci, y, x) of the output and COLLECTS the column
// entries that were read from it.  Which entries are those?  Entry (ci, i, j, b, oy, ox)
// read padded row s_h*oy + i and padded column s_w*ox + j.  With yp = y + p_h and
// xp = x + p_w the pixel's padded coordinates, the entry was read from this pixel exactly
// when
//     s_h*oy + i = yp   and   s_w*ox + j = xp,
// i.e. for a kernel row i, the window row is oy = (yp - i) / s_h, which must be
//     (1) a whole number: yp - i divisible by s_h, i.e. i = yp mod s_h, yp mod s_h + s_h, ...
//     (2) a real window:  0 <= oy < h_o, i.e. i <= yp and yp - i < s_h * h_o,
// and likewise for j and ox.  The loops below visit exactly the i satisfying (1) (start
// at yp mod s_h, step s_h) and test (2).  So the thread adds up precisely the terms that
// the scatter would have added into this pixel: the gather equals the scatter-add.
// Entries that were read from the padding belong to no pixel and are dropped, as in
// NumPy, because only real pixels get a thread.
//
// The terms are added in row-major order of the kernel position (i, j), starting from 0:
// the same order in which the NumPy col2im adds its k_h*k_w strided slices, so the two
// give the same bits, and so does every run.
// ---------------------------------------------------------------------------------------
template <typename T>
__device__ void col2im_impl(const T* __restrict__ cols, T* __restrict__ x,
                            long long n, long long c, long long h, long long w,
                            long long k_h, long long k_w, long long s_h, long long s_w,
                            long long p_h, long long p_w, long long h_o, long long w_o)
{
    const long long total = n * c * h * w;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;
         e += (long long)blockDim.x * gridDim.x) {
        long long rest = e;
        const long long xx = rest % w;  rest /= w;
        const long long y  = rest % h;  rest /= h;
        const long long ci = rest % c;  rest /= c;
        const long long b  = rest;
        const long long yp = y + p_h;                   // padded coordinates of the pixel
        const long long xp = xx + p_w;
        T sum = T(0);
        for (long long i = yp % s_h; i < k_h && i <= yp; i += s_h) {
            const long long oy = (yp - i) / s_h;        // exact: yp - i is a multiple of s_h
            if (oy >= h_o) continue;                    // below the last window row
            for (long long j = xp % s_w; j < k_w && j <= xp; j += s_w) {
                const long long ox = (xp - j) / s_w;
                if (ox >= w_o) continue;
                sum += cols[((((ci * k_h + i) * k_w + j) * n + b) * h_o + oy) * w_o + ox];
            }
        }
        x[e] = sum;
    }
}

// The kernels a loader looks up by name: one per element type.
extern "C" __global__ void im2col_f32(const float* __restrict__ x, float* __restrict__ cols,
                                      long long n, long long c, long long h, long long w,
                                      long long k_h, long long k_w, long long s_h, long long s_w,
                                      long long p_h, long long p_w, long long h_o, long long w_o)
{
    im2col_impl<float>(x, cols, n, c, h, w, k_h, k_w, s_h, s_w, p_h, p_w, h_o, w_o);
}

extern "C" __global__ void im2col_f64(const double* __restrict__ x, double* __restrict__ cols,
                                      long long n, long long c, long long h, long long w,
                                      long long k_h, long long k_w, long long s_h, long long s_w,
                                      long long p_h, long long p_w, long long h_o, long long w_o)
{
    im2col_impl<double>(x, cols, n, c, h, w, k_h, k_w, s_h, s_w, p_h, p_w, h_o, w_o);
}

extern "C" __global__ void col2im_f32(const float* __restrict__ cols, float* __restrict__ x,
                                      long long n, long long c, long long h, long long w,
                                      long long k_h, long long k_w, long long s_h, long long s_w,
                                      long long p_h, long long p_w, long long h_o, long long w_o)
{
    col2im_impl<float>(cols, x, n, c, h, w, k_h, k_w, s_h, s_w, p_h, p_w, h_o, w_o);
}

extern "C" __global__ void col2im_f64(const double* __restrict__ cols, double* __restrict__ x,
                                      long long n, long long c, long long h, long long w,
                                      long long k_h, long long k_w, long long s_h, long long s_w,
                                      long long p_h, long long p_w, long long h_o, long long w_o)
{
    col2im_impl<double>(cols, x, n, c, h, w, k_h, k_w, s_h, s_w, p_h, p_w, h_o, w_o);
}
