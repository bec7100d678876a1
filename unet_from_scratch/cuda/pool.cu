// 2-D max pooling on the GPU: the CUDA kernels behind unet_from_scratch/ops/max_pool2d.py.
//
// (For what `__global__`, blockIdx, threadIdx and the grid-stride loop mean, and why the
// sizes are 32-bit `int`s, see the opening comment of im2col.cu.  In short: each thread
// takes output elements e = its thread number, + number of threads, + ..., and writes
// only those.)
//
// Notation (as in max_pool2d.py):
//     x   (n, c, h, w)       input, NCHW, C-contiguous
//     y   (n, c, h_o, w_o)   output; h_o = (h - k_h) / s_h + 1 (integer division), w_o likewise
//     y[b, ci, oy, ox] = max over p < k_h, q < k_w of x[b, ci, s_h*oy + p, s_w*ox + q]
// No padding; rows and columns that do not fill a whole window are ignored.
// argmax (n, c, h_o, w_o), int: the index p*k_w + q (row-major within the window) of the
// FIRST position holding the maximum.  Ties therefore go to the earliest position, and the
// gradient of a window goes to exactly one pixel.

// ---------------------------------------------------------------------------------------
// Forward: one thread per output element (b, ci, oy, ox).
//
// The thread reads its window twice.  The first pass finds the maximum m; the second
// finds the first position whose value equals m.  This is the definition in NumPy's
// max_pool2d word for word, NaNs included: a NaN anywhere makes m NaN (the test
// `v != v` is true only for a NaN, and once m is NaN no `v > m` can replace it), and
// since NaN equals nothing, the second pass then finds no match and the index stays at
// the last position, as in NumPy.  The window is tiny (4 values for the U-Net's 2 x 2
// pooling) and the second pass reads what the first just brought into the cache.
// ---------------------------------------------------------------------------------------
template <typename T>
__device__ void max_pool2d_forward_impl(const T* __restrict__ x, T* __restrict__ y,
                                        int* __restrict__ argmax,
                                        int n, int c, int h, int w,
                                        int k_h, int k_w, int s_h, int s_w,
                                        int h_o, int w_o)
{
    const int total = n * c * h_o * w_o;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;
         e += (long long)blockDim.x * gridDim.x) {
        int rest = (int)e;                              // e < total < 2^31
        const int ox = rest % w_o;  rest /= w_o;
        const int oy = rest % h_o;  rest /= h_o;
        const int plane = rest;                         // b * c + ci: which image channel
        // The window's top-left pixel; position (p, q) of the window is at
        // window[p * w + q], since a row of the image is w elements long.
        const T* window = x + (plane * h + s_h * oy) * w + s_w * ox;

        T m = window[0];
        for (int p = 0; p < k_h; ++p)
            for (int q = 0; q < k_w; ++q) {
                const T v = window[p * w + q];
                if (v > m || v != v) m = v;             // v != v: v is a NaN
            }
        int index = k_h * k_w - 1;                // the last position, if nothing equals m
        for (int p = k_h - 1; p >= 0; --p)        // backwards, so the FIRST match wins
            for (int q = k_w - 1; q >= 0; --q)
                if (window[p * w + q] == m) index = p * k_w + q;
        y[e] = m;
        argmax[e] = index;
    }
}

// ---------------------------------------------------------------------------------------
// Backward as a GATHER: one thread per input pixel (b, ci, yy, xx).
//
// The gradient of window (oy, ox) goes to one pixel: the window's argmax,
// (s_h*oy + p, s_w*ox + q) with argmax = p*k_w + q.  A scatter (one thread per window,
// adding its dy into that pixel) would need atomic additions where windows overlap
// (stride < kernel), and those add in an unpredictable order.  Instead each thread owns
// one input pixel and collects the dy of every window whose argmax it is.
//
// Which windows contain pixel (yy, xx), and at which position?  Window row oy holds the
// pixel at window row p = yy - s_h*oy, so for each p in 0..k_h-1 the candidate is
// oy = (yy - p) / s_h, which must be a whole number (yy - p divisible by s_h) and a real
// window (0 <= oy < h_o); likewise q and ox.  For each such window the pixel receives dy
// exactly when the stored argmax is its position p*k_w + q.  Every window has exactly one
// argmax, so each dy is collected by exactly one thread: the gather equals the scatter.
// Pixels in no window (cut off by the floor) or never the maximum get 0.
//
// The terms are added in row-major order of (p, q), the order in which NumPy's backward
// adds its per-position slices, so the two give the same bits, on every run.
// ---------------------------------------------------------------------------------------
template <typename T>
__device__ void max_pool2d_backward_impl(const T* __restrict__ dy, const int* __restrict__ argmax,
                                         T* __restrict__ dx,
                                         int n, int c, int h, int w,
                                         int k_h, int k_w, int s_h, int s_w,
                                         int h_o, int w_o)
{
    const int total = n * c * h * w;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;
         e += (long long)blockDim.x * gridDim.x) {
        int rest = (int)e;                              // e < total < 2^31
        const int xx = rest % w;  rest /= w;
        const int yy = rest % h;  rest /= h;
        const int plane = rest;                         // b * c + ci
        T sum = T(0);
        for (int p = yy % s_h; p < k_h && p <= yy; p += s_h) {    // yy - p divisible by s_h
            const int oy = (yy - p) / s_h;
            if (oy >= h_o) continue;                    // below the last whole window
            for (int q = xx % s_w; q < k_w && q <= xx; q += s_w) {
                const int ox = (xx - q) / s_w;
                if (ox >= w_o) continue;
                const int window = (plane * h_o + oy) * w_o + ox;
                if (argmax[window] == p * k_w + q) sum += dy[window];
            }
        }
        dx[e] = sum;
    }
}

extern "C" __global__ void max_pool2d_forward_f32(const float* __restrict__ x, float* __restrict__ y,
                                                  int* __restrict__ argmax,
                                                  int n, int c, int h, int w,
                                                  int k_h, int k_w, int s_h, int s_w,
                                                  int h_o, int w_o)
{
    max_pool2d_forward_impl<float>(x, y, argmax, n, c, h, w, k_h, k_w, s_h, s_w, h_o, w_o);
}

extern "C" __global__ void max_pool2d_forward_f64(const double* __restrict__ x, double* __restrict__ y,
                                                  int* __restrict__ argmax,
                                                  int n, int c, int h, int w,
                                                  int k_h, int k_w, int s_h, int s_w,
                                                  int h_o, int w_o)
{
    max_pool2d_forward_impl<double>(x, y, argmax, n, c, h, w, k_h, k_w, s_h, s_w, h_o, w_o);
}

extern "C" __global__ void max_pool2d_backward_f32(const float* __restrict__ dy, const int* __restrict__ argmax,
                                                   float* __restrict__ dx,
                                                   int n, int c, int h, int w,
                                                   int k_h, int k_w, int s_h, int s_w,
                                                   int h_o, int w_o)
{
    max_pool2d_backward_impl<float>(dy, argmax, dx, n, c, h, w, k_h, k_w, s_h, s_w, h_o, w_o);
}

extern "C" __global__ void max_pool2d_backward_f64(const double* __restrict__ dy, const int* __restrict__ argmax,
                                                   double* __restrict__ dx,
                                                   int n, int c, int h, int w,
                                                   int k_h, int k_w, int s_h, int s_w,
                                                   int h_o, int w_o)
{
    max_pool2d_backward_impl<double>(dy, argmax, dx, n, c, h, w, k_h, k_w, s_h, s_w, h_o, w_o);
}
