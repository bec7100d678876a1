"""im2col and col2im: the pieces that turn a convolution into one matrix product.

Notation (as in the lessons):

    x      (n, c, h, w)             the input, NCHW
    k_h, k_w                        the kernel size
    s_h, s_w                        the stride
    p_h, p_w                        the zero padding on each side
    h_O = floor((h + 2 p_h - k_h) / s_h) + 1,   w_O likewise
    cols   (c, k_h, k_w, n, h_O, w_O)

``cols[c, i, j, n, y, x] = x_padded[n, c, s_h*y + i, s_w*x + j]``: for every
kernel tap ``(c, i, j)`` -- a row of the matrix -- the input pixel that tap
sees when the output pixel is ``(n, y, x)`` -- a column.  Reshaped to the
matrix ``(c k_h k_w, n h_O w_O)``, one product with the weights
``(c_O, c k_h k_w)`` gives the convolution of the whole batch.

Both functions loop over the ``k_h*k_w`` kernel positions only -- each step is
one strided slice of the whole batch -- never over pixels.  ``col2im`` is the
adjoint (transpose) of ``im2col``: it adds every column entry back onto the
pixel it was read from, so pixels shared by overlapping windows receive the sum
of their contributions.  It needs no ``np.add.at``: within one kernel position
the strided slice touches each pixel at most once, so a plain ``+=`` is exact.

On the GPU path "kernels" both run as one CUDA kernel each, from ``cuda/im2col.cu``:
im2col with one thread per window position, col2im as a *gather* with one thread per
pixel, adding its entries in the same (i, j) order as the loop below, so the two give the
same bits.  col2im then returns a contiguous array instead of a view.  The convolutions
pass the path their forward pass took (``path``); called on their own, both ask
:func:`unet_from_scratch.backend.compute_path`.

On the CPU both are copies that NumPy runs without holding the GIL, so they split the work
into slices of channels (or of images, when there are fewer channels than threads) and copy
the slices on :data:`COPY_THREADS` threads at once.  Every element is still written by the
same slice assignment, and col2im still adds a pixel's contributions in the same (i, j) order,
so the result has the same bits as with one thread.
"""

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import backend
from ..backend import get_array_module
from ..cuda import kernels

# How much im2col unfolds at once.  Unfolding a whole batch multiplies the input's
# size by k_h*k_w (a batch of 32 images 128x128 with 32 channels becomes 600 MB for a
# 3x3 kernel), so the convolutions unfold a few images at a time instead (at least one).
# 4 MiB sits well inside a server's last-level cache: a training step took the same CPU
# time with 4 and 16 MiB chunks, and the small networks' peak memory fell by 14 MiB.
#
# On a GPU the trade-off is the other way round: each chunk costs a few kernel launches
# and a matrix product, and small products leave most of the GPU idle, so CuPy arrays
# are unfolded in chunks of up to 1 GiB (a batch of 32 images of 128 x 128 in one or two
# chunks per layer), which any GPU that can train the U-Net has room for.
CHUNK_BYTES = 4 * 2**20
GPU_CHUNK_BYTES = 2**30

# Threads that copy im2col's and col2im's slices on the CPU: one per core this process may
# run on, at most 4 (copies are limited by memory bandwidth before that).  Arrays of fewer
# than PARALLEL_ELEMENTS columns are copied by the calling thread alone: handing work to
# another thread costs tens of microseconds.
COPY_THREADS = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                          else os.cpu_count() or 1))
PARALLEL_ELEMENTS = 2**16
_pool = None


def _forget_pool():
    """In a child made by fork the parent's pool threads do not exist: start a new pool."""
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def work_slices(c, n, elements):
    """How im2col and col2im split ``elements`` column entries of ``c`` channels and ``n``
    images among the copying threads: a list of ``(channels, images)`` slice pairs.

    Contiguous runs of channels, or of images when there are fewer channels than threads;
    one pair covering everything when ``elements`` is below :data:`PARALLEL_ELEMENTS` or
    :data:`COPY_THREADS` is 1.
    """
    everything = [(slice(0, c), slice(0, n))]
    if COPY_THREADS < 2 or elements < PARALLEL_ELEMENTS:
        return everything
    length = c if c >= COPY_THREADS else n
    parts = min(COPY_THREADS, length)
    if parts < 2:
        return everything
    bounds = [length * k // parts for k in range(parts + 1)]
    runs = [slice(start, stop) for start, stop in zip(bounds, bounds[1:])]
    if c >= COPY_THREADS:
        return [(run, slice(0, n)) for run in runs]
    return [(slice(0, c), run) for run in runs]


def run_in_threads(function, parts):
    """Call ``function(*part)`` for every part: the first in this thread, the others on the
    pool of copying threads; return when all are done (re-raising the first error)."""
    global _pool
    if len(parts) > 1 and _pool is None:
        _pool = ThreadPoolExecutor(max_workers=COPY_THREADS - 1, thread_name_prefix="im2col")
    futures = [_pool.submit(function, *part) for part in parts[1:]]
    function(*parts[0])
    for future in futures:
        future.result()


def output_size(size, kernel, stride, padding):
    """Number of window positions along one axis: ``floor((size + 2 padding - kernel) / stride) + 1``."""
    return (size + 2 * padding - kernel) // stride + 1


def image_chunks(n, bytes_per_image, xp=np):
    """Slices ``[0:m], [m:2m], ...`` covering ``range(n)``, with ``m`` images per slice chosen
    so that ``m * bytes_per_image`` stays within :data:`CHUNK_BYTES` for NumPy arrays
    (``xp`` is numpy), :data:`GPU_CHUNK_BYTES` for CuPy's (at least one image)."""
    limit = CHUNK_BYTES if xp is np else GPU_CHUNK_BYTES
    step = max(1, limit // max(1, bytes_per_image))
    return [slice(start, min(n, start + step)) for start in range(0, n, step)]


def chunk_buffer(xp, dtype, chunks, elements_per_image):
    """One flat scratch array big enough for the largest of ``chunks`` (slices of images).

    The convolutions unfold every chunk of a batch into a buffer of the same size; filling
    one buffer again is much cheaper than allocating a fresh one per chunk, whose pages the
    operating system must map and zero on first touch (which can cost as much as the copy).
    Take each chunk's array out of it with :func:`buffer_view`.
    """
    most = max((chunk.stop - chunk.start for chunk in chunks), default=0)   # 0 for n = 0
    return xp.empty(most * elements_per_image, dtype=dtype)


def buffer_view(buffer, shape):
    """The first ``prod(shape)`` elements of the flat ``buffer``, as a C-contiguous array of
    ``shape`` (a view)."""
    size = 1
    for length in shape:
        size *= length
    return buffer[:size].reshape(shape)


def im2col(x, kernel_size, stride, padding, out=None, path=None):
    """Unfold the sliding windows of ``x`` into columns.

    Inputs:
        x: (n, c, h, w) array.
        kernel_size, stride, padding: pairs of ints ``(vertical, horizontal)``;
            the caller has checked that the kernel fits in the padded input.
        out: None, or a C-contiguous (c, k_h, k_w, n, h_O, w_O) array of ``x``'s dtype
            to write the columns into (e.g. from :func:`buffer_view`).
        path: "numpy", "cupy" or "kernels"; None: ``backend.compute_path(x)``.
    Returns:
        cols: (c, k_h, k_w, n, h_O, w_O) array of ``x``'s dtype (``out`` when given).
    """
    xp = get_array_module(x)
    n, c, h, w = x.shape
    (k_h, k_w), (s_h, s_w), (p_h, p_w) = kernel_size, stride, padding
    h_out, w_out = output_size(h, k_h, s_h, p_h), output_size(w, k_w, s_w, p_w)
    shape = (c, k_h, k_w, n, h_out, w_out)
    if out is None:
        cols = xp.empty(shape, dtype=x.dtype)
    elif out.shape != shape or out.dtype != x.dtype:
        raise ValueError(f"im2col: out must have shape {shape} and dtype {x.dtype}, got "
                         f"{tuple(out.shape)} and {out.dtype}")
    else:
        cols = out
    if (path or backend.compute_path(x)) == "kernels":
        return kernels.im2col(x, cols, kernel_size, stride, padding)

    def unfold(channels, images):
        part = x[images, channels]
        if p_h or p_w:
            part = xp.pad(part, ((0, 0), (0, 0), (p_h, p_h), (p_w, p_w)))
        part_by_channel = part.transpose(1, 0, 2, 3)              # (c, n, h, w), a view
        for i in range(k_h):
            for j in range(k_w):
                cols[channels, i, j, images] = part_by_channel[
                    :, :, i:i + s_h * h_out:s_h, j:j + s_w * w_out:s_w]

    parts = work_slices(c, n, cols.size) if xp is np else [(slice(0, c), slice(0, n))]
    run_in_threads(unfold, parts)
    return cols


def col2im(cols, input_shape, stride, padding, path=None):
    """Fold columns back onto the image: the adjoint of :func:`im2col`.

    Inputs:
        cols: (c, k_h, k_w, n, h_O, w_O) array.
        input_shape: ``(n, c, h, w)``, the shape of the (unpadded) image.
        stride, padding: pairs of ints, as given to ``im2col``.
        path: "numpy", "cupy" or "kernels"; None: ``backend.compute_path(cols)``.
    Returns:
        x: (n, c, h, w), ``x[n, c, y, x]`` = the sum of the ``cols`` entries read
        from that pixel; contributions that fall on the zero padding are dropped.
        A view (not contiguous; a new contiguous array on the kernel path): callers
        copy it into their output.
    """
    if (path or backend.compute_path(cols)) == "kernels":
        return kernels.col2im(cols, input_shape, stride, padding)
    xp = get_array_module(cols)
    n, c, h, w = input_shape
    _, k_h, k_w, _, h_out, w_out = cols.shape
    (s_h, s_w), (p_h, p_w) = stride, padding
    x_padded = xp.zeros((c, n, h + 2 * p_h, w + 2 * p_w), dtype=cols.dtype)

    def fold(channels, images):
        for i in range(k_h):
            for j in range(k_w):
                x_padded[channels, images, i:i + s_h * h_out:s_h, j:j + s_w * w_out:s_w] += \
                    cols[channels, i, j, images]

    parts = work_slices(c, n, cols.size) if xp is np else [(slice(0, c), slice(0, n))]
    run_in_threads(fold, parts)
    return x_padded[:, :, p_h:p_h + h, p_w:p_w + w].transpose(1, 0, 2, 3)
