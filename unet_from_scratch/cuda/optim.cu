// The Adam update on the GPU: the CUDA kernel behind optim.Adam.step on CuPy arrays.
//
// (For what `__global__`, blockIdx, threadIdx and the grid-stride loop mean, and why the
// sizes are 32-bit `int`s, see the opening comment of im2col.cu.)
//
// Written with array operations, one Adam step of one parameter is about a dozen GPU
// launches (m *= beta1, m += (1 - beta1) g, v *= beta2, ..., p -= ...), each a full pass
// over memory, and a U-Net has dozens of parameters: hundreds of launches per step, which
// is where much of a small batch's time goes.  This kernel does the whole update of one
// parameter in one launch and one pass: thread element e reads g[e], p[e], m[e], v[e] once
// and writes p[e], m[e], v[e] once.  Every element is independent of the others.
//
// The update, as in optim.py (PyTorch's Adam: weight decay added to the gradient):
//     g  = g + wd * p                       (when wd != 0)
//     m  = beta1 * m + (1 - beta1) * g
//     v  = beta2 * v + (1 - beta2) * g^2
//     p  = p - step_size * m / (sqrt(v) / sqrt_bias2 + eps)
// with step_size = lr / (1 - beta1^t) and sqrt_bias2 = sqrt(1 - beta2^t) computed once on
// the host, in double precision, as are 1 - beta1 and 1 - beta2.

__device__ __forceinline__ float sqrt_of(float v) { return sqrtf(v); }
__device__ __forceinline__ double sqrt_of(double v) { return sqrt(v); }

template <typename T>
__device__ void adam_update_impl(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m,
                                 T* __restrict__ v, int total, T step_size, T beta1,
                                 T one_minus_beta1, T beta2, T one_minus_beta2, T eps,
                                 T sqrt_bias2, T weight_decay)
{
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;
         e += (long long)blockDim.x * gridDim.x) {
        T grad = g[e];
        if (weight_decay != T(0)) grad += weight_decay * p[e];
        const T m_new = beta1 * m[e] + one_minus_beta1 * grad;
        const T v_new = beta2 * v[e] + one_minus_beta2 * (grad * grad);
        m[e] = m_new;
        v[e] = v_new;
        p[e] -= step_size * (m_new / (sqrt_of(v_new) / sqrt_bias2 + eps));
    }
}

// The kernels a loader looks up by name: one per element type.
extern "C" __global__ void adam_update_f32(float* __restrict__ p, const float* __restrict__ g,
                                           float* __restrict__ m, float* __restrict__ v, int total,
                                           float step_size, float beta1, float one_minus_beta1,
                                           float beta2, float one_minus_beta2, float eps,
                                           float sqrt_bias2, float weight_decay)
{
    adam_update_impl<float>(p, g, m, v, total, step_size, beta1, one_minus_beta1, beta2,
                            one_minus_beta2, eps, sqrt_bias2, weight_decay);
}

extern "C" __global__ void adam_update_f64(double* __restrict__ p, const double* __restrict__ g,
                                           double* __restrict__ m, double* __restrict__ v, int total,
                                           double step_size, double beta1, double one_minus_beta1,
                                           double beta2, double one_minus_beta2, double eps,
                                           double sqrt_bias2, double weight_decay)
{
    adam_update_impl<double>(p, g, m, v, total, step_size, beta1, one_minus_beta1, beta2,
                             one_minus_beta2, eps, sqrt_bias2, weight_decay);
}
