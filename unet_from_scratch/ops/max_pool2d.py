"""2-D max pooling.

Notation:

    x  (n, c, h_I, w_I)    input
    y  (n, c, h_O, w_O)    output
    h_O = floor((h_I - k_h) / s_h) + 1,   w_O likewise

    y[n, c, i, j] = max_{p, q} x[n, c, s_h i + p, s_w j + q]

Sizes that do not divide are floored, as in PyTorch: the last rows/columns
that do not fill a whole window are ignored (and get a zero gradient).
There is no padding.

Backward routes each ``dy[n, c, i, j]`` to exactly one input pixel: the
window's maximum.  **Ties** go to the *first* maximum in row-major order
within the window (``argmax`` returns the first), so the gradient is never
split or duplicated.  Where windows overlap (stride < kernel), one pixel can
be the maximum of several windows and receives the sum of their gradients.

The windows are the ``im2col`` columns of ``x`` (no padding), and the backward
is a ``col2im`` of a one-hot gradient: the same pieces as the convolution.
The loop definition is :func:`unet_from_scratch.reference.max_pool2d_forward`.
"""

import numpy as np

from ..backend import get_array_module
from ._checks import check_array, output_size, pair
from .im2col import col2im, im2col


def max_pool2d_forward(x, kernel_size=2, stride=None):
    """Max over each ``kernel_size`` window, windows ``stride`` apart.

    Inputs:
        x: (n, c, h_I, w_I) float array.
        kernel_size: int or pair, >= 1.
        stride: int or pair, >= 1; defaults to ``kernel_size`` (PyTorch's default).
    Returns:
        y: (n, c, h_O, w_O) array of ``x``'s dtype.
        cache: the input shape, the argmax of each window (its index in
            row-major order, 0 <= index < k_h k_w) and the window geometry.
    """
    op = "max_pool2d_forward"
    check_array(op, "x", x, 4)
    kernel_size = pair(op, "kernel_size", kernel_size, 1)
    stride = kernel_size if stride is None else pair(op, "stride", stride, 1)
    n, c, h_in, w_in = x.shape
    h_out = output_size(op, h_in, kernel_size[0], stride[0], 0, "height")
    w_out = output_size(op, w_in, kernel_size[1], stride[1], 0, "width")

    windows = im2col(x, kernel_size, stride, (0, 0))
    windows = windows.reshape(n, c, kernel_size[0] * kernel_size[1], h_out, w_out)
    argmax = windows.argmax(axis=2).astype(_index_dtype(kernel_size))
    y = windows.max(axis=2)
    return y, (x.shape, argmax, kernel_size, stride)


def max_pool2d_backward(dy, cache):
    """Gradient of :func:`max_pool2d_forward`.

    Inputs:
        dy: (n, c, h_O, w_O) upstream gradient.
        cache: from :func:`max_pool2d_forward`.
    Returns:
        dx: (n, c, h_I, w_I), zero except at each window's (first) maximum.
    """
    x_shape, argmax, (k_h, k_w), stride = cache
    xp = get_array_module(dy)
    n, c, h_out, w_out = dy.shape
    positions = xp.arange(k_h * k_w, dtype=argmax.dtype).reshape(1, 1, -1, 1, 1)
    one_hot = argmax[:, :, None] == positions                    # (n, c, k_h k_w, h_O, w_O)
    dwindows = xp.where(one_hot, dy[:, :, None], xp.zeros((), dtype=dy.dtype))
    return col2im(dwindows.reshape(n, c, k_h, k_w, h_out, w_out), x_shape, stride, (0, 0))


def _index_dtype(kernel_size):
    """The smallest unsigned dtype that can hold a window index."""
    return np.uint8 if kernel_size[0] * kernel_size[1] <= 256 else np.int64
