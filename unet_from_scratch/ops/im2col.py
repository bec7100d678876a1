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
one strided slice of the whole batch -- never over pixels.  Neither pads the image:
for each kernel position, :func:`inside_image` gives the window positions that read a
pixel of the image, and the others read (im2col writes) zeros.  ``col2im`` is the
adjoint (transpose) of ``im2col``: it adds every column entry back onto the
pixel it was read from, so pixels shared by overlapping windows receive the sum
of their contributions.  It needs no ``np.add.at``: within one kernel position
the strided slice touches each pixel at most once, so a plain ``+=`` is exact.

On the GPU path "kernels" both run as one CUDA kernel each, from ``cuda/im2col.cu``:
im2col with one thread per window position, col2im as a *gather* with one thread per
pixel, adding its entries in the same (i, j) order as the loop below, so the two give the
same bits.  The convolutions pass the path their forward pass took (``path``); called on
their own, both ask :func:`unet_from_scratch.backend.compute_path`.

On the CPU both are copies that NumPy runs without holding the GIL, so they split the work
into slices of channels (or of images, when there are fewer channels than threads) and copy
the slices on :data:`.threads.THREADS` threads at once (:func:`.threads.run_in_threads`).
Every element is still written by the same slice assignment, and col2im still adds a
pixel's contributions in the same (i, j) order, so the result has the same bits as with
one thread.
"""

import math
import threading
import weakref

import numpy as np

from .. import backend
from ..backend import get_array_module
from ..cuda import kernels
from . import threads
from .threads import run_in_threads

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

# Arrays of fewer than PARALLEL_ELEMENTS column entries are copied by the calling thread
# alone: handing work to another thread costs tens of microseconds, and a small copy spends
# much of its time in Python, which runs one thread at a time.  (With 2**16 instead, the
# main job's step took 35 ms on 2 cores instead of 31.)
PARALLEL_ELEMENTS = 2**20

# The scratch buffers of :func:`scratch`: each thread's own, freed with the thread; the
# set lets release_scratch reach every thread's.
_this_thread = threading.local()
_every_thread = weakref.WeakSet()


class _ScratchBuffers:
    """One thread's scratch buffers, ``.by_key[(name, dtype)]``."""

    def __init__(self):
        self.by_key = {}


def work_slices(c, n, elements):
    """How im2col and col2im split ``elements`` column entries of ``c`` channels and ``n``
    images among the copying threads: a list of ``(channels, images)`` slice pairs.

    Contiguous runs of channels, or of images when there are fewer channels than threads;
    one pair covering everything when ``elements`` is below :data:`PARALLEL_ELEMENTS` or
    :data:`.threads.THREADS` is 1.
    """
    everything = [(slice(0, c), slice(0, n))]
    workers = threads.THREADS
    if workers < 2 or elements < PARALLEL_ELEMENTS:
        return everything
    length = c if c >= workers else n
    parts = min(workers, length)
    if parts < 2:
        return everything
    bounds = [length * k // parts for k in range(parts + 1)]
    runs = [slice(start, stop) for start, stop in zip(bounds, bounds[1:])]
    if c >= workers:
        return [(run, slice(0, n)) for run in runs]
    return [(slice(0, c), run) for run in runs]


def output_size(size, kernel, stride, padding):
    """Number of window positions along one axis: ``floor((size + 2 padding - kernel) / stride) + 1``."""
    return (size + 2 * padding - kernel) // stride + 1


def image_chunks(n, bytes_per_image, xp=np, parts=1):
    """Consecutive slices of images covering ``range(n)``, each within :data:`CHUNK_BYTES`
    for NumPy arrays (``xp`` is numpy), :data:`GPU_CHUNK_BYTES` for CuPy's (but at least one
    image per slice).

    Their number is a multiple of ``parts`` (the threads that will share them), as far as
    ``n`` allows, and their sizes differ by at most one image, so that every thread gets
    the same work.
    """
    limit = CHUNK_BYTES if xp is np else GPU_CHUNK_BYTES
    per_chunk = max(1, limit // max(1, bytes_per_image))
    count = -(-n // per_chunk)                                        # ceil(n / per_chunk)
    count = min(n, -(-count // parts) * parts)                        # a multiple of parts
    bounds = [n * k // count for k in range(count + 1)] if count else [0]
    return [slice(start, stop) for start, stop in zip(bounds, bounds[1:])]


def scratch(xp, name, dtype, shape):
    """A C-contiguous array of ``shape`` to work in: this thread's scratch buffer ``name``.

    The convolutions unfold every chunk of a batch into a buffer, and multiply into another.
    Filling a buffer again is much cheaper than allocating a fresh one: the operating system
    must map and zero a fresh one's pages on first touch, which can cost as much as the copy,
    and the threads that share a convolution's chunks would wait for each other while it
    does.  So for NumPy each thread keeps one buffer per name (and dtype), grown to the
    largest size asked for, and hands out views of it: a view is valid until the same thread
    asks for the same name again.  The buffers stay allocated between calls (tens of MiB for
    the default network) until their thread ends or :func:`release_scratch` frees them.
    For CuPy arrays it returns a fresh array: CuPy's memory pool already reuses memory.
    """
    if xp is not np:
        return xp.empty(shape, dtype=dtype)
    size = math.prod(shape)
    buffers = getattr(_this_thread, "buffers", None)
    if buffers is None:
        buffers = _this_thread.buffers = _ScratchBuffers()
        _every_thread.add(buffers)
    key = (name, np.dtype(dtype))
    buffer = buffers.by_key.get(key)
    if buffer is None or buffer.size < size:
        buffer = buffers.by_key[key] = np.empty(size, dtype=dtype)
    return buffer_view(buffer, shape)


def release_scratch():
    """Free every thread's scratch buffers (:func:`scratch`; views handed out stay valid)."""
    for buffers in list(_every_thread):
        buffers.by_key = {}


def buffer_view(buffer, shape):
    """The first ``prod(shape)`` elements of the flat ``buffer``, as a C-contiguous array of
    ``shape`` (a view)."""
    return buffer[:math.prod(shape)].reshape(shape)


def inside_image(tap, size, out_size, stride, padding):
    """Along one axis: the window positions at which kernel tap ``tap`` reads a pixel of the
    image rather than the zero padding, and the pixels they read.

    Window position ``y`` reads padded pixel ``stride*y + tap``, which is image pixel
    ``stride*y + tap - padding``.  Returns ``(positions, pixels)``, two slices of the same
    length (possibly empty): the positions whose pixel lies in ``[0, size)``, and those pixels.
    The positions before and after ``positions`` read the zero padding.
    """
    first = max(0, -(-(padding - tap) // stride))                   # ceil((padding - tap) / stride)
    stop = max(first, min(out_size, (size - 1 + padding - tap) // stride + 1))
    if stop == first:
        return slice(0, 0), slice(0, 0)
    first_pixel = stride * first + tap - padding
    return slice(first, stop), slice(first_pixel, first_pixel + stride * (stop - 1 - first) + 1, stride)


def zero_padding_reads(cols, row_ranges, column_ranges):
    """Zero the entries of ``cols`` (c, k_h, k_w, n, h_O, w_O) whose kernel tap reads the zero
    padding: for kernel row ``i`` the window rows outside ``row_ranges[i]``, for kernel
    column ``j`` the window columns outside ``column_ranges[j]`` -- one slice per kernel row
    or column rather than one per tap."""
    out_rows, out_columns = cols.shape[-2:]
    for i, rows in enumerate(row_ranges):
        if rows.start > 0:
            cols[:, i, :, :, :rows.start, :] = 0
        if rows.stop < out_rows:
            cols[:, i, :, :, rows.stop:, :] = 0
    for j, columns in enumerate(column_ranges):
        if columns.start > 0:
            cols[:, :, j, :, :, :columns.start] = 0
        if columns.stop < out_columns:
            cols[:, :, j, :, :, columns.stop:] = 0


def im2col(x, kernel_size, stride, padding, out=None, path=None):
    """Unfold the sliding windows of ``x`` into columns.

    Inputs:
        x: (n, c, h, w) array.
        kernel_size, stride, padding: pairs of ints ``(vertical, horizontal)``;
            the caller has checked that the kernel fits in the padded input.
        out: None, or a C-contiguous (c, k_h, k_w, n, h_O, w_O) array of ``x``'s dtype
            to write the columns into (e.g. from :func:`scratch`).
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

    x_by_channel = x.transpose(1, 0, 2, 3)                        # (c, n, h, w), a view

    row_ranges = [inside_image(i, h, h_out, s_h, p_h) for i in range(k_h)]
    column_ranges = [inside_image(j, w, w_out, s_w, p_w) for j in range(k_w)]

    def unfold(channels, images):
        part = cols[channels, :, :, images]                       # (c, k_h, k_w, n, h_O, w_O)
        zero_padding_reads(part, [rows for rows, _ in row_ranges],
                           [columns for columns, _ in column_ranges])
        for i, (rows, row_pixels) in enumerate(row_ranges):
            for j, (columns, column_pixels) in enumerate(column_ranges):
                part[:, i, j, :, rows, columns] = \
                    x_by_channel[channels, images, row_pixels, column_pixels]

    parts = work_slices(c, n, cols.size) if xp is np else [(slice(0, c), slice(0, n))]
    run_in_threads(unfold, parts)
    return cols


def col2im(cols, input_shape, stride, padding, path=None, out=None):
    """Fold columns back onto the image: the adjoint of :func:`im2col`.

    Inputs:
        cols: (c, k_h, k_w, n, h_O, w_O) array.
        input_shape: ``(n, c, h, w)``, the shape of the (unpadded) image.
        stride, padding: pairs of ints, as given to ``im2col``.
        path: "numpy", "cupy" or "kernels"; None: ``backend.compute_path(cols)``.
        out: None, or an (n, c, h, w) array of ``cols``' dtype to write the result into
            (e.g. a slice of the caller's output; it need not be contiguous).
    Returns:
        x: (n, c, h, w), ``x[n, c, y, x]`` = the sum of the ``cols`` entries read
        from that pixel; contributions that fall on the zero padding are dropped
        (``out`` when given).
    """
    if out is not None and (tuple(out.shape) != tuple(input_shape) or out.dtype != cols.dtype):
        raise ValueError(f"col2im: out must have shape {tuple(input_shape)} and dtype "
                         f"{cols.dtype}, got {tuple(out.shape)} and {out.dtype}")
    if (path or backend.compute_path(cols)) == "kernels":
        x = kernels.col2im(cols, input_shape, stride, padding, out=out)
        if out is None or x is out:
            return x
        out[...] = x                               # out was not C-contiguous
        return out
    xp = get_array_module(cols)
    n, c, h, w = input_shape
    if out is None:
        out = xp.empty(input_shape, dtype=cols.dtype)
    _, k_h, k_w, _, h_out, w_out = cols.shape
    (s_h, s_w), (p_h, p_w) = stride, padding
    out_by_channel = out.transpose(1, 0, 2, 3)                    # (c, n, h, w), a view

    row_ranges = [inside_image(i, h, h_out, s_h, p_h) for i in range(k_h)]
    column_ranges = [inside_image(j, w, w_out, s_w, p_w) for j in range(k_w)]

    def fold(channels, images):
        out_by_channel[channels, images] = 0
        for i, (rows, row_pixels) in enumerate(row_ranges):
            for j, (columns, column_pixels) in enumerate(column_ranges):
                out_by_channel[channels, images, row_pixels, column_pixels] += \
                    cols[channels, i, j, images, rows, columns]

    parts = work_slices(c, n, cols.size) if xp is np else [(slice(0, c), slice(0, n))]
    run_in_threads(fold, parts)
    return out
