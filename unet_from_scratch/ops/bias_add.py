"""Adding a per-channel bias to an NCHW array.

    x  (n, c, h, w),  b  (c,)
    y[n, c, i, j] = x[n, c, i, j] + b[c]
    dx = dy,  db[c] = sum_{n, i, j} dy[n, c, i, j]

The convolutions add their own bias; this op is for layers that keep the
bias apart (for example after a bias-free convolution).  The convolutions share
its bias gradient, :func:`bias_gradient`, which on the GPU path "kernels" is the
``bias_grad_partial`` kernel of ``cuda/elementwise.cu``.
"""

from collections import namedtuple

from .. import backend
from ..backend import get_array_module
from ..checks import check_cache, check_bias, check_image, check_same_dtype_and_device, check_upstream
from ..cuda import kernels

BiasAddCache = namedtuple("BiasAddCache", "path shape dtype")
BiasAddCache.__doc__ = """The path taken and the output's shape and dtype: the backward needs
nothing else."""


def bias_add_forward(x, b):
    """``x + b`` broadcast over the channel axis.

    Inputs:
        x: (n, c, h, w) float array; b: (c,) array of ``x``'s dtype.
    Returns:
        y: (n, c, h, w); cache: a :class:`BiasAddCache`.
    """
    op = "bias_add_forward"
    check_image(op, "x", x)
    if b is None:
        raise TypeError(f"{op}: b must be a NumPy or CuPy array, got None")
    check_bias(op, b, x.shape[1])
    check_same_dtype_and_device(op, x, b=b)
    y = x + b[:, None, None]
    return y, BiasAddCache(backend.compute_path(x), y.shape, y.dtype)


def bias_add_backward(dy, cache):
    """Gradients of :func:`bias_add_forward`: ``dx = dy`` (a copy, which a caller may add to
    in place) and ``db`` summed over n, h, w."""
    check_cache("bias_add_backward", cache, BiasAddCache)
    check_upstream("bias_add_backward", dy, cache.shape, cache.dtype)
    return dy.copy(), bias_gradient(dy, cache.path)


def bias_gradient(dy, path):
    """``db[c] = sum over n, h, w of dy[n, c, h, w]``: the gradient of a per-channel bias.

    Inputs:
        dy: (n, c, h, w) upstream gradient.
        path: the path the forward pass took (its cache's ``path``).
    Returns:
        db: (c,) array of ``dy``'s dtype.
    """
    if path == "kernels":
        return kernels.bias_gradient(dy)
    xp = get_array_module(dy)
    return xp.sum(dy, axis=(0, 2, 3))
