"""Adding a per-channel bias to an NCHW array.

    x  (n, c, h, w),  b  (c,)
    y[n, c, i, j] = x[n, c, i, j] + b[c]
    dx = dy,  db[c] = sum_{n, i, j} dy[n, c, i, j]

The convolutions add their own bias; this op is for layers that keep the
bias apart (for example after a bias-free convolution).
"""

from ..backend import get_array_module
from ._checks import check_array, check_bias, check_same_dtype_and_device


def bias_add_forward(x, b):
    """``x + b`` broadcast over the channel axis.

    Inputs:
        x: (n, c, h, w) float array; b: (c,) array of ``x``'s dtype.
    Returns:
        y: (n, c, h, w); cache: None (the backward needs nothing).
    """
    op = "bias_add_forward"
    check_array(op, "x", x, 4)
    check_array(op, "b", b, 1)
    check_same_dtype_and_device(op, x, b=b)
    check_bias(op, b, x.shape[1])
    return x + b[:, None, None], None


def bias_add_backward(dy, cache):
    """Gradients of :func:`bias_add_forward`: ``dx = dy`` and ``db`` summed over n, h, w."""
    xp = get_array_module(dy)
    return dy, xp.sum(dy, axis=(0, 2, 3))
