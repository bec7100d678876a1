"""Transposed 2-D convolution: the U-Net's up-convolution.

Notation:

    x  (n, c_I, h_I, w_I)       input
    w  (c_I, c_O, k_h, k_w)     weights, PyTorch's layout for ConvTranspose2d
    b  (c_O,) or None           bias
    y  (n, c_O, h_O, w_O)       output
    h_O = (h_I - 1) s_h - 2 p_h + k_h,   w_O likewise

It is the *adjoint* of :mod:`conv2d`: every input pixel ``x[n, c, i, j]`` is
spread, weighted by the kernel, onto the output window that a convolution
with the same kernel, stride and padding would have read to produce pixel
``(i, j)``:

    y[n, o, s_h i + p - p_h, s_w j + q - p_w] += w[c, o, p, q] * x[n, c, i, j]

Read ``w`` as the weights of a convolution ``A`` from c_O channels to c_I
channels (``(c_I, c_O, k_h, k_w)`` is conv2d's ``(c_out, c_in, k_h, k_w)``).
Then ``y = A^T x`` -- exactly what conv2d's backward computes for its input
gradient -- so this op is conv2d run backwards, built from the same three
matrix products:

    forward     y  = A^T x      = conv2d_dx(x, w)          col2im(W^T @ X)
    backward    dx = A dy       = conv2d_matmul(dy, w)     an ordinary convolution of dy
                dw              = conv2d_dw(dy, x)         dy plays conv2d's input, x its output gradient
                db              = sum of dy over n, h_O, w_O

(from ``<dy, A^T x> = <A dy, x>``).  With kernel 2 and stride 2, as in U-Net,
the windows do not overlap and each input pixel becomes a 2x2 block.  The loop
definition is :func:`unet_from_scratch.reference.conv_transpose2d_forward`.
"""

from .. import backend
from ..checks import (check_cache, check_bias, check_image, check_kernel, check_same_dtype_and_device,
                      check_upstream, pair)
from .bias_add import bias_gradient
from .conv2d import ConvCache, conv2d_dw, conv2d_dx, conv2d_matmul


def conv_transpose2d_forward(x, w, b=None, stride=1, padding=0):
    """Transposed convolution of ``x`` with ``w``, plus ``b``.

    Inputs:
        x: (n, c_I, h_I, w_I) float array.
        w: (c_I, c_O, k_h, k_w) array of ``x``'s dtype.
        b: (c_O,) array of ``x``'s dtype, or None for no bias.
        stride: int or pair, >= 1.
        padding: int or pair, >= 0 (rows/columns cropped from every side of the output).
    Returns:
        y: (n, c_O, h_O, w_O) array of ``x``'s dtype.
        cache: a :class:`~.conv2d.ConvCache`; it holds ``x`` and ``w`` themselves, so do
            not modify them in place before the backward pass.
    """
    op = "conv_transpose2d_forward"
    _check_conv_transpose2d_inputs(op, x, w, b)
    stride = pair(op, "stride", stride, 1)
    padding = pair(op, "padding", padding, 0)
    n, _, h_in, w_in = x.shape
    _, c_out, k_h, k_w = w.shape
    h_out = _transposed_output_size(op, h_in, k_h, stride[0], padding[0], "height")
    w_out = _transposed_output_size(op, w_in, k_w, stride[1], padding[1], "width")

    path = backend.compute_path(x)
    y = conv2d_dx(x, w, (n, c_out, h_out, w_out), stride, padding, path)
    if b is not None:
        y += b[:, None, None]
    return y, ConvCache(path, x, w, b is not None, stride, padding, y.shape)


def conv_transpose2d_backward(dy, cache):
    """Gradients of :func:`conv_transpose2d_forward`.

    Inputs:
        dy: (n, c_O, h_O, w_O) upstream gradient.
        cache: from :func:`conv_transpose2d_forward`.
    Returns:
        dx: (n, c_I, h_I, w_I), dw: (c_I, c_O, k_h, k_w), db: (c_O,) or None when the
        forward had no bias.
    """
    check_cache("conv_transpose2d_backward", cache, ConvCache)
    path, x, w, has_bias, stride, padding, y_shape = cache
    check_upstream("conv_transpose2d_backward", dy, y_shape, x.dtype)
    dx = conv2d_matmul(dy, w, stride, padding, path)
    dw = conv2d_dw(dy, x, w.shape[2:], stride, padding, path)
    db = bias_gradient(dy, path) if has_bias else None
    return dx, dw, db


def _check_conv_transpose2d_inputs(op, x, w, b):
    check_image(op, "x", x)
    check_kernel(op, w, "(c_in, c_out, k_h, k_w)")
    check_bias(op, b, w.shape[1])
    check_same_dtype_and_device(op, x, w=w, b=b)
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"{op}: x has {x.shape[1]} channels but w expects {w.shape[0]} "
                         f"(x.shape={tuple(x.shape)}, w.shape={tuple(w.shape)}; "
                         f"w is laid out (c_in, c_out, k_h, k_w))")


def _transposed_output_size(op, size, kernel, stride, padding, axis_name):
    """``(size - 1) * stride - 2 * padding + kernel``, which must be at least 1."""
    out = (size - 1) * stride - 2 * padding + kernel
    if out < 1:
        raise ValueError(f"{op}: output {axis_name} (size-1)*stride - 2*padding + kernel = "
                         f"({size}-1)*{stride} - 2*{padding} + {kernel} = {out} is not positive; "
                         f"reduce the padding")
    return out
