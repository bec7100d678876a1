"""2-D convolution (cross-correlation, as in every deep-learning library).

Notation:

    x  (n, c_I, h_I, w_I)       input
    w  (c_O, c_I, k_h, k_w)     weights, PyTorch's layout
    b  (c_O,) or None           bias
    y  (n, c_O, h_O, w_O)       output
    h_O = floor((h_I + 2 p_h - k_h) / s_h) + 1,   w_O likewise

    y[n, o, i, j] = b[o] + sum_{c, p, q} w[o, c, p, q] * x_pad[n, c, s_h i + p, s_w j + q]

With ``cols = im2col(x)`` as the matrix ``(c_I k_h k_w, n h_O w_O)``, the
weights as ``W = (c_O, c_I k_h k_w)`` and ``dY`` = ``dy`` as ``(c_O, n h_O w_O)``,
the whole sum is one matrix product, and the backward pass is the two products
with its transposes:

    Y = W @ cols                         (c_O, n h_O w_O), then laid out as NCHW
    dW = dY @ cols^T                     (c_O, c_I k_h k_w), computed as its transpose
                                         cols @ dY^T (see :func:`conv2d_dw`)
    dcols = W^T @ dY                     then dx = col2im(dcols); with stride 1, dx is
                                         computed as a convolution instead (see :func:`conv2d_dx`)
    db = sum of dy over n, h_O, w_O

``cols`` is k_h*k_w times larger than ``x``, so it is neither kept for the
backward pass (the cache holds ``x``, and the backward unfolds it again, as
PyTorch's CPU convolution does) nor built for the whole batch at once: both
passes work through the batch a few images at a time (:func:`image_chunks`),
unfolding every chunk into a scratch buffer that is kept from call to call
(:func:`.im2col.scratch`) and writing the products into another with
``matmul(..., out=...)``.  On the CPU the chunks are shared among one thread per core,
each with its own buffers, each matrix product on one core (:func:`.threads.for_each_chunk`).
The loop definition is :func:`unet_from_scratch.reference.conv2d_forward`.

The cache records the path the forward pass took (``cache.path``, from
:func:`unet_from_scratch.backend.compute_path`), and the backward passes it on to im2col,
col2im and the bias gradient.
"""

from collections import namedtuple

from .. import backend
from ..backend import get_array_module
from ..checks import (check_cache, check_bias, check_image, check_kernel, check_kernel_fits,
                      check_same_dtype_and_device, check_upstream, pair)
from .bias_add import bias_gradient
from .im2col import col2im, im2col, image_chunks, output_size, scratch
from . import threads
from .threads import chunk_workers, for_each_chunk

ConvCache = namedtuple("ConvCache", "path x w has_bias stride padding y_shape")
ConvCache.__doc__ = """What the backward pass of a convolution (or a transposed one) needs:
the path taken, the input and the weights themselves, whether there was a bias, the
stride and padding as pairs, and the output's shape."""


def conv2d_forward(x, w, b=None, stride=1, padding=0):
    """Convolve ``x`` with ``w`` and add ``b``.

    Inputs:
        x: (n, c_I, h_I, w_I) float array.
        w: (c_O, c_I, k_h, k_w) array of ``x``'s dtype.
        b: (c_O,) array of ``x``'s dtype, or None for no bias.
        stride: int or pair, >= 1.
        padding: int or pair, >= 0 (zeros added on every side).
    Returns:
        y: (n, c_O, h_O, w_O) array of ``x``'s dtype.
        cache: a :class:`ConvCache`; it holds ``x`` and ``w`` themselves, so do not
            modify them in place before the backward pass.
    """
    op = "conv2d_forward"
    _check_conv2d_inputs(op, x, w, b)
    stride = pair(op, "stride", stride, 1)
    padding = pair(op, "padding", padding, 0)
    check_kernel_fits(op, x.shape[2:], w.shape[2:], padding)
    path = backend.compute_path(x)
    y = conv2d_matmul(x, w, stride, padding, path, b)
    return y, ConvCache(path, x, w, b is not None, stride, padding, y.shape)


def conv2d_backward(dy, cache):
    """Gradients of :func:`conv2d_forward`.

    Inputs:
        dy: (n, c_O, h_O, w_O) upstream gradient.
        cache: from :func:`conv2d_forward`.
    Returns:
        dx: (n, c_I, h_I, w_I), dw: (c_O, c_I, k_h, k_w), db: (c_O,) or None when the
        forward had no bias.
    """
    check_cache("conv2d_backward", cache, ConvCache)
    path, x, w, has_bias, stride, padding, y_shape = cache
    check_upstream("conv2d_backward", dy, y_shape, x.dtype)
    dx = conv2d_dx(dy, w, x.shape, stride, padding, path)
    dw = conv2d_dw(x, dy, w.shape[2:], stride, padding, path)
    db = bias_gradient(dy, path) if has_bias else None
    return dx, dw, db


# The three matrix products.  They take checked arguments (stride and padding as pairs,
# and the path to take) and are shared with conv_transpose2d, which is this op run backwards.

def conv2d_matmul(x, w, stride, padding, path, b=None):
    """``Y = W @ im2col(x)``: the convolution, (n, c_I, h_I, w_I) -> (n, c_O, h_O, w_O); plus
    the bias ``b`` (c_O,) when given, added chunk by chunk while the product is fresh."""
    xp = get_array_module(x)
    n, c_in, h_in, w_in = x.shape
    c_out, _, k_h, k_w = w.shape
    h_out = output_size(h_in, k_h, stride[0], padding[0])
    w_out = output_size(w_in, k_w, stride[1], padding[1])
    w_mat = w.reshape(c_out, c_in * k_h * k_w)
    y = xp.empty((n, c_out, h_out, w_out), dtype=x.dtype)
    chunks, workers = plan_chunks(xp, n, w_mat.shape[1] * h_out * w_out * x.itemsize)

    def one_chunk(images, worker):
        m = images.stop - images.start
        cols = im2col(x[images], (k_h, k_w), stride, padding, path=path,
                      out=scratch(xp, "cols", x.dtype, (c_in, k_h, k_w, m, h_out, w_out)))
        y_by_channel = xp.matmul(w_mat, cols.reshape(w_mat.shape[1], -1),
                                 out=scratch(xp, "product", x.dtype, (c_out, m * h_out * w_out)))
        if b is not None:
            y_by_channel += b[:, None]
        y[images] = y_by_channel.reshape(c_out, m, h_out, w_out).transpose(1, 0, 2, 3)

    for_each_chunk(chunks, workers, one_chunk, xp)
    return y


def conv2d_dx(dy, w, x_shape, stride, padding, path):
    """``dx = col2im(W^T @ dY)``: the gradient with respect to the input, of shape ``x_shape``.

    With stride 1, ``dx`` is itself a convolution: of ``dy`` padded by ``k - 1 - p``, with
    the kernel flipped in both axes and its two channel axes swapped (:func:`flipped_kernel`),

        dx[n, c, i, j] = sum_{o, p, q} w[o, c, k_h-1-p, k_w-1-q] * dy_pad[n, o, i + p, j + q]

    -- the same terms as col2im's sum, added in another order (so float32 results differ in
    the last bits).  It is computed as one when it is the cheaper way: an im2col of ``dy``,
    ``c_O k_h k_w`` rows, and one matrix product (:func:`conv2d_matmul`), instead of a
    product with ``c_I k_h k_w`` rows that col2im then adds back pixel by pixel.  So when
    ``c_O <= c_I``: on one CPU core, 1.2x (the bottleneck) to 2.2x (the first level's
    decoder) faster for the U-Net's layers; where the channels double (``c_O = 2 c_I``) it
    was 1.2x slower.  (The padding ``k - 1 - p`` of ``dy`` must not be negative, hence
    ``p <= k - 1``.)
    """
    c_out, c_in, k_h, k_w = w.shape
    if (stride == (1, 1) and c_out <= c_in and padding[0] <= k_h - 1 and padding[1] <= k_w - 1):
        dx = conv2d_matmul(dy, flipped_kernel(w), (1, 1), (k_h - 1 - padding[0],
                                                            k_w - 1 - padding[1]), path)
        assert dx.shape == tuple(x_shape), (dx.shape, x_shape)
        return dx
    xp = get_array_module(dy)
    n, _, h_out, w_out = dy.shape
    w_mat = w.reshape(c_out, c_in * k_h * k_w)
    dx = xp.empty(x_shape, dtype=dy.dtype)
    chunks, workers = plan_chunks(xp, n, w_mat.shape[1] * h_out * w_out * dy.itemsize)

    def one_chunk(images, worker):
        m = images.stop - images.start
        dy_mat = dy[images].transpose(1, 0, 2, 3).reshape(c_out, -1)        # (c_O, m h_O w_O)
        dcols = xp.matmul(w_mat.T, dy_mat,
                          out=scratch(xp, "cols", dy.dtype, (w_mat.shape[1], m * h_out * w_out)))
        col2im(dcols.reshape(c_in, k_h, k_w, m, h_out, w_out), dx[images].shape, stride, padding,
               path, out=dx[images])

    for_each_chunk(chunks, workers, one_chunk, xp)
    return dx


def conv2d_dw(x, dy, kernel_size, stride, padding, path):
    """``dW = dY @ im2col(x)^T``: the gradient with respect to the weights, (c_O, c_I, k_h, k_w).

    The sum runs over the long axis ``n h_O w_O``, and the product comes out small.  OpenBLAS
    computes it faster as its transpose, ``dW^T = cols @ dY^T`` (c_I k_h k_w, c_O): for the
    first level of the default network, 1.8x faster on one core and 1.9x on two.  So the
    chunks add up ``dW^T`` (each thread its own part of the sum, see :func:`sum_of_parts`),
    transposed once at the end.
    """
    xp = get_array_module(x)
    n, c_in = x.shape[:2]
    _, c_out, h_out, w_out = dy.shape
    k_h, k_w = kernel_size
    rows = c_in * k_h * k_w
    chunks, workers = plan_chunks(xp, n, rows * h_out * w_out * x.itemsize)
    dw_t_parts = [xp.zeros((rows, c_out), dtype=x.dtype) for _ in range(workers)]    # dW^T

    def one_chunk(images, worker):
        m = images.stop - images.start
        cols = im2col(x[images], kernel_size, stride, padding, path=path,
                      out=scratch(xp, "cols", x.dtype, (c_in, k_h, k_w, m, h_out, w_out)))
        dy_mat = dy[images].transpose(1, 0, 2, 3).reshape(c_out, -1)        # (c_O, m h_O w_O)
        dw_t_parts[worker] += cols.reshape(rows, -1) @ dy_mat.T

    for_each_chunk(chunks, workers, one_chunk, xp)
    return xp.ascontiguousarray(sum_of_parts(dw_t_parts).T).reshape(c_out, c_in, k_h, k_w)


def flipped_kernel(w):
    """The kernel of the convolution that gives ``dx`` (stride 1): ``w`` (c_O, c_I, k_h, k_w)
    flipped in both spatial axes, with its channel axes swapped, (c_I, c_O, k_h, k_w)."""
    xp = get_array_module(w)
    return xp.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))


def plan_chunks(xp, n, bytes_per_image):
    """How a convolution goes through a batch of ``n`` images: ``(chunks, threads)``, the
    slices of images (:func:`.im2col.image_chunks`) and how many threads share them
    (:func:`.threads.for_each_chunk`; 1 on a GPU, or when OpenBLAS's threads cannot be set)."""
    workers = chunk_workers(xp) if n * bytes_per_image >= threads.PARALLEL_BYTES else 1
    chunks = image_chunks(n, bytes_per_image, xp, parts=workers)
    return chunks, max(1, min(workers, len(chunks)))


def sum_of_parts(parts):
    """``parts[0] + parts[1] + ...``, in that order (the per-thread parts of a sum): the
    first part itself when there is one."""
    total = parts[0]
    for part in parts[1:]:
        total += part
    return total


def _check_conv2d_inputs(op, x, w, b):
    check_image(op, "x", x)
    check_kernel(op, w, "(c_out, c_in, k_h, k_w)")
    check_bias(op, b, w.shape[0])
    check_same_dtype_and_device(op, x, w=w, b=b)
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"{op}: x has {x.shape[1]} channels but w expects {w.shape[1]} "
                         f"(x.shape={tuple(x.shape)}, w.shape={tuple(w.shape)})")
