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
// Sizes, coordinates and indices are 32-bit `int`s.  Finding an element's coordinates
// from its flat index takes a division per axis, and a GPU divides 32-bit integers many
// times faster than 64-bit ones (it has no 64-bit divider; the compiler emits a long
// routine).  The Python loader refuses any array of 2^31 elements or more with a clear
// error, so every index here fits; only the loop counter is 64-bit, so that stepping
// past the end of the work cannot overflow.
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
// im2col: one thread per window position (ci, b, oy, ox), writing its k_h * k_w entries.
//
// Thread element `e` numbers the (c, n, h_o, w_o) window positions.  Peeling the
// coordinates off from the last (fastest-varying) axis to the first -- `e % w_o` is ox,
// then divide by w_o, and so on -- gives (ci, b, oy, ox).  The thread then walks the
// window: entry (i, j) reads the padded image at row s_h*oy + i, column s_w*ox + j; in
// the unpadded image that is y = s_h*oy + i - p_h, x = s_w*ox + j - p_w.  If that falls
// outside the image it lies on the zero padding and the entry is 0.
//
// Why a thread per window and not per column entry: the divisions that find the
// coordinates are then done once for k_h * k_w entries instead of once per entry.
// Consecutive threads still get consecutive ox, so for every (i, j) their writes land
// side by side in memory (the GPU combines them into few wide transactions), and so do
// their reads of the image.
// ---------------------------------------------------------------------------------------
template <typename T>
__device__ void im2col_impl(const T* __restrict__ x, T* __restrict__ cols,
                            int n, int c, int h, int w, int k_h, int k_w, int s_h, int s_w,
                            int p_h, int p_w, int h_o, int w_o)
{
    const int total = c * n * h_o * w_o;                // window positions
    const int plane = h_o * w_o;                        // window positions of one image channel
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;
         e += (long long)blockDim.x * gridDim.x) {
        int rest = (int)e;                              // e < total < 2^31
        const int ox = rest % w_o;  rest /= w_o;
        const int oy = rest % h_o;  rest /= h_o;
        const int b  = rest % n;    rest /= n;
        const int ci = rest;                            // what is left is the channel
        const T* image = x + (b * c + ci) * h * w;      // channel ci of image b
        // cols[ci, i, j, b, oy, ox]: the row of (i, j) starts at ((ci*k_h + i)*k_w + j) * n * plane
        T* out = cols + ((ci * k_h * k_w) * n + b) * plane + oy * w_o + ox;
        for (int i = 0; i < k_h; ++i) {
            const int y = s_h * oy + i - p_h;           // row in the unpadded image
            for (int j = 0; j < k_w; ++j) {
                const int xx = s_w * ox + j - p_w;      // column in the unpadded image
                const bool inside = y >= 0 && y < h && xx >= 0 && xx < w;
                *out = inside ? image[y * w + xx] : T(0);   // else: the zero padding
                out += n * plane;                       // on to entry (i, j + 1)
            }
        }
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
                            int n, int c, int h, int w, int k_h, int k_w, int s_h, int s_w,
                            int p_h, int p_w, int h_o, int w_o)
{
    const int total = n * c * h * w;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;
         e += (long long)blockDim.x * gridDim.x) {
        int rest = (int)e;                              // e < total < 2^31
        const int xx = rest % w;  rest /= w;
        const int y  = rest % h;  rest /= h;
        const int ci = rest % c;  rest /= c;
        const int b  = rest;
        const int yp = y + p_h;                         // padded coordinates of the pixel
        const int xp = xx + p_w;
        T sum = T(0);
        for (int i = yp % s_h; i < k_h && i <= yp; i += s_h) {
            const int oy = (yp - i) / s_h;              // exact: yp - i is a multiple of s_h
            if (oy >= h_o) continue;                    // below the last window row
            for (int j = xp % s_w; j < k_w && j <= xp; j += s_w) {
                const int ox = (xp - j) / s_w;
                if (ox >= w_o) continue;
                sum += cols[((((ci * k_h + i) * k_w + j) * n + b) * h_o + oy) * w_o + ox];
            }
        }
        x[e] = sum;
    }
}

// The kernels a loader looks up by name: one per element type.
extern "C" __global__ void im2col_f32(const float* __restrict__ x, float* __restrict__ cols,
                                      int n, int c, int h, int w, int k_h, int k_w, int s_h, int s_w,
                                      int p_h, int p_w, int h_o, int w_o)
{
    im2col_impl<float>(x, cols, n, c, h, w, k_h, k_w, s_h, s_w, p_h, p_w, h_o, w_o);
}

extern "C" __global__ void im2col_f64(const double* __restrict__ x, double* __restrict__ cols,
                                      int n, int c, int h, int w, int k_h, int k_w, int s_h, int s_w,
                                      int p_h, int p_w, int h_o, int w_o)
{
    im2col_impl<double>(x, cols, n, c, h, w, k_h, k_w, s_h, s_w, p_h, p_w, h_o, w_o);
}

extern "C" __global__ void col2im_f32(const float* __restrict__ cols, float* __restrict__ x,
                                      int n, int c, int h, int w, int k_h, int k_w, int s_h, int s_w,
                                      int p_h, int p_w, int h_o, int w_o)
{
    col2im_impl<float>(cols, x, n, c, h, w, k_h, k_w, s_h, s_w, p_h, p_w, h_o, w_o);
}

extern "C" __global__ void col2im_f64(const double* __restrict__ cols, double* __restrict__ x,
                                      int n, int c, int h, int w, int k_h, int k_w, int s_h, int s_w,
                                      int p_h, int p_w, int h_o, int w_o)
{
    col2im_impl<double>(cols, x, n, c, h, w, k_h, k_w, s_h, s_w, p_h, p_w, h_o, w_o);
}
