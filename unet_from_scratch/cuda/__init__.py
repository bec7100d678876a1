"""The CUDA kernels: the ``.cu`` sources beside this file and their loader, :mod:`.kernels`.

    im2col.cu        im2col, and col2im as a gather (ops/im2col.py, both convolutions)
    pool.cu          max pooling forward with argmax, backward as a gather (ops/max_pool2d.py)
    elementwise.cu   ReLU, sigmoid, the bias gradient's partial sums (ops/), and the soft
                     Dice loss's partial sums (losses.py)
    optim.cu         one Adam update per parameter (optim.py)

Every kernel computes its outputs with one thread per output element (or per group of
them), with no atomics and no shared memory, so every run gives the same bits.  The ops,
the losses and the optimizer call :mod:`.kernels` when
:func:`unet_from_scratch.backend.compute_path` says "kernels".  Nothing here imports CuPy
until a kernel is first compiled.
"""
