// Elementwise kernels and partial sums: the CUDA kernels behind ops/relu.py, ops/sigmoid.py,
// the bias gradient of ops/bias_add.py (which both convolutions share) and the soft Dice
// loss in losses.py.
//
// (For what `__global__`, blockIdx, threadIdx and the grid-stride loop mean, and why the
// sizes are 32-bit `int`s, see the opening comment of im2col.cu.  In short: each thread
// takes the elements e = its thread number, + number of threads, + ..., and writes only
// those, so no two threads write the same memory and every run gives the same bits.)
//
// The elementwise kernels treat their arrays as flat: element e of the output depends on
// element e of the inputs only.

// exp for float and for double under one name, so that the templates can call it.
__device__ __forceinline__ float exp_of(float v) { return expf(v); }
__device__ __forceinline__ double exp_of(double v) { return exp(v); }

// ---------------------------------------------------------------------------------------
// ReLU: y = max(x, 0), one thread per element.
// `v < 0 ? 0 : v` keeps a NaN a NaN, as NumPy's `maximum` does.
// ---------------------------------------------------------------------------------------
template <typename T>
__device__ void relu_forward_impl(const T* __restrict__ x, T* __restrict__ y, int total)
{
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;
         e += (long long)blockDim.x * gridDim.x) {
        const T v = x[e];
        y[e] = v < T(0) ? T(0) : v;
    }
}

// ReLU backward: dx = dy where the output y was positive, else 0.  y > 0 exactly where
// the ReLU's input was positive (the forward keeps positive values unchanged), so the
// output is all the backward needs, and the forward keeps it (the next layer reads it anyway).
template <typename T>
__device__ void relu_backward_impl(const T* __restrict__ dy, const T* __restrict__ y,
                                   T* __restrict__ dx, int total)
{
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;
         e += (long long)blockDim.x * gridDim.x)
        dx[e] = y[e] > T(0) ? dy[e] : T(0);
}

// ---------------------------------------------------------------------------------------
// Bias gradient, partial sums: db[ci] = sum over b, i, j of dy[b, ci, i, j].
//
// A sum of many numbers into one is a reduction; without atomics or shared memory it is
// done in two steps.  Here `lanes` threads share each channel plane (b, ci) of hw pixels:
// thread element e = (b * c + ci) * lanes + k adds up the pixels k, k + lanes,
// k + 2 lanes, ... of that plane and writes the sum to partial[e], an array
// (n, c, lanes).  The Python side then finishes with partial.sum(axis=(0, 2)), still on
// the GPU: that array is small, and its sum is one library call.
//
// Why every lanes-th pixel and not a block of consecutive ones: in each step of the loop
// the threads k = 0, 1, 2, ... of a plane read pixels side by side, which the GPU serves
// with few wide memory transactions ("coalesced" reads).  Each thread adds its pixels in
// order, so the result is the same on every run (it may differ from NumPy's pairwise sum
// in the last bits).  The caller takes lanes <= hw (for hw > 0): each thread has pixels.
// ---------------------------------------------------------------------------------------
template <typename T>
__device__ void bias_grad_partial_impl(const T* __restrict__ dy, T* __restrict__ partial,
                                       int n, int c, int hw, int lanes)
{
    const int total = n * c * lanes;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;
         e += (long long)blockDim.x * gridDim.x) {
        const int plane = (int)e / lanes;               // b * c + ci
        const int k = (int)e % lanes;                   // this thread's lane in the plane
        const T* values = dy + plane * hw;
        T sum = T(0);
        for (int i = k; i < hw; i += lanes) sum += values[i];
        partial[e] = sum;
    }
}

// ---------------------------------------------------------------------------------------
// Sigmoid, written so that exp never overflows:
//     x >= 0:  1 / (1 + exp(-x))      (exp(-x) is in (0, 1])
//     x <  0:  exp(x) / (1 + exp(x))  (exp(x)  is in (0, 1))
// The two are equal algebraically (multiply the first by exp(x) / exp(x)); each is used
// where its exp is at most 1.  sigmoid(-1000) is 0 and sigmoid(1000) is 1.
// Backward: dx = dy * y * (1 - y), from the output y alone.
// ---------------------------------------------------------------------------------------
template <typename T>
__device__ void sigmoid_forward_impl(const T* __restrict__ x, T* __restrict__ y, int total)
{
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;
         e += (long long)blockDim.x * gridDim.x) {
        const T v = x[e];
        if (v >= T(0)) {
            y[e] = T(1) / (T(1) + exp_of(-v));
        } else {
            const T ev = exp_of(v);
            y[e] = ev / (T(1) + ev);
        }
    }
}

template <typename T>
__device__ void sigmoid_backward_impl(const T* __restrict__ dy, const T* __restrict__ y,
                                      T* __restrict__ dx, int total)
{
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;
         e += (long long)blockDim.x * gridDim.x)
        dx[e] = dy[e] * y[e] * (T(1) - y[e]);
}

// ---------------------------------------------------------------------------------------
// Soft Dice, partial sums.  The loss needs, per image g, three sums over its m = C*H*W
// elements: I_g = sum p*t, P_g = sum p, T_g = sum t (p the probabilities, t the targets).
//
// As for the bias gradient, each thread sums one chunk of one image: thread element
// e = g * chunks + k covers elements k*chunk ... min((k+1)*chunk, m) - 1 of image g and
// writes its three sums to partial[e*3 + 0, 1, 2], an array (n, chunks, 3).  The Python
// side finishes with partial.sum(axis=1) on the GPU, giving (n, 3): (I_g, P_g, T_g) per image.
// For a whole-batch Dice, call it with n = 1 and m = the batch's size.
// chunks = ceil(m / chunk).
// ---------------------------------------------------------------------------------------
template <typename T>
__device__ void dice_partial_sums_impl(const T* __restrict__ p, const T* __restrict__ t,
                                       T* __restrict__ partial, int n, int m,
                                       int chunk)
{
    const int chunks = m / chunk + (m % chunk != 0);    // ceil(m / chunk), without overflow
    const int total = n * chunks;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;
         e += (long long)blockDim.x * gridDim.x) {
        const int g = (int)e / chunks;                  // the image
        const int k = (int)e % chunks;                  // the chunk within the image
        const int start = g * m + k * chunk;
        const int left = m - k * chunk;                 // elements of the row from here on
        const int stop = start + (left < chunk ? left : chunk);   // <= (g + 1) m: no overflow
        T sum_pt = T(0), sum_p = T(0), sum_t = T(0);
        for (int i = start; i < stop; ++i) {
            sum_pt += p[i] * t[i];
            sum_p += p[i];
            sum_t += t[i];
        }
        partial[3 * e + 0] = sum_pt;
        partial[3 * e + 1] = sum_p;
        partial[3 * e + 2] = sum_t;
    }
}

// The kernels a loader looks up by name: one per element type.
extern "C" __global__ void relu_forward_f32(const float* __restrict__ x, float* __restrict__ y, int total)
{ relu_forward_impl<float>(x, y, total); }
extern "C" __global__ void relu_forward_f64(const double* __restrict__ x, double* __restrict__ y, int total)
{ relu_forward_impl<double>(x, y, total); }

extern "C" __global__ void relu_backward_f32(const float* __restrict__ dy, const float* __restrict__ y,
                                             float* __restrict__ dx, int total)
{ relu_backward_impl<float>(dy, y, dx, total); }
extern "C" __global__ void relu_backward_f64(const double* __restrict__ dy, const double* __restrict__ y,
                                             double* __restrict__ dx, int total)
{ relu_backward_impl<double>(dy, y, dx, total); }

extern "C" __global__ void bias_grad_partial_f32(const float* __restrict__ dy, float* __restrict__ partial,
                                                 int n, int c, int hw, int lanes)
{ bias_grad_partial_impl<float>(dy, partial, n, c, hw, lanes); }
extern "C" __global__ void bias_grad_partial_f64(const double* __restrict__ dy, double* __restrict__ partial,
                                                 int n, int c, int hw, int lanes)
{ bias_grad_partial_impl<double>(dy, partial, n, c, hw, lanes); }

extern "C" __global__ void sigmoid_forward_f32(const float* __restrict__ x, float* __restrict__ y, int total)
{ sigmoid_forward_impl<float>(x, y, total); }
extern "C" __global__ void sigmoid_forward_f64(const double* __restrict__ x, double* __restrict__ y, int total)
{ sigmoid_forward_impl<double>(x, y, total); }

extern "C" __global__ void sigmoid_backward_f32(const float* __restrict__ dy, const float* __restrict__ y,
                                                float* __restrict__ dx, int total)
{ sigmoid_backward_impl<float>(dy, y, dx, total); }
extern "C" __global__ void sigmoid_backward_f64(const double* __restrict__ dy, const double* __restrict__ y,
                                                double* __restrict__ dx, int total)
{ sigmoid_backward_impl<double>(dy, y, dx, total); }

extern "C" __global__ void dice_partial_sums_f32(const float* __restrict__ p, const float* __restrict__ t,
                                                 float* __restrict__ partial, int n, int m,
                                                 int chunk)
{ dice_partial_sums_impl<float>(p, t, partial, n, m, chunk); }
extern "C" __global__ void dice_partial_sums_f64(const double* __restrict__ p, const double* __restrict__ t,
                                                 double* __restrict__ partial, int n, int m,
                                                 int chunk)
{ dice_partial_sums_impl<double>(p, t, partial, n, m, chunk); }
