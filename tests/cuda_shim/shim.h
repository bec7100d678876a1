// Runs CUDA kernel sources on the CPU, for tests/test_cuda_sources.py.
//
// Included (g++ -x c++ -include shim.h) before a .cu file from unet_from_scratch/ops/cuda,
// which then compiles unchanged as C++: the CUDA keywords become nothing (or `inline`),
// and blockIdx / blockDim / threadIdx / gridDim become ordinary global variables.
// SHIM_LAUNCH(grid, block, kernel(args...)) plays a launch: it sets gridDim and blockDim,
// then calls the kernel once for every (block, thread) pair, one after the other.
//
// This is faithful only for kernels whose threads do not talk to each other: no shared
// memory, no __syncthreads, no atomics, no warp functions.  The kernels in ops/cuda are
// written that way (each thread writes only its own elements), so running the threads
// in sequence gives the same result as running them in parallel.
#pragma once

#include <math.h>
#include <cmath>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
// g++ knows __restrict__ already.

struct dim3 {
    unsigned int x, y, z;
    dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};
typedef dim3 uint3;

// One copy per shared library: each .cu file is compiled into its own library.
static uint3 blockIdx, threadIdx;
static dim3 blockDim, gridDim;

#define SHIM_LAUNCH(grid, block, call)                                             \
    do {                                                                           \
        gridDim = dim3(grid);                                                      \
        blockDim = dim3(block);                                                    \
        for (unsigned int shim_b = 0; shim_b < gridDim.x; ++shim_b)                \
            for (unsigned int shim_t = 0; shim_t < blockDim.x; ++shim_t) {         \
                blockIdx = uint3(shim_b);                                          \
                threadIdx = uint3(shim_t);                                         \
                call;                                                              \
            }                                                                      \
    } while (0)
