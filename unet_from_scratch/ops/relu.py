"""Rectified linear unit, elementwise on an array of any shape.

    y = max(x, 0)
    dx = dy where x > 0, else 0

At ``x == 0`` the derivative is taken as 0, as in PyTorch.  A NaN in ``x`` stays NaN
(``maximum`` propagates it, as PyTorch's ReLU does), and its gradient is 0.

Both passes are one arithmetic ufunc: ``maximum`` and a multiplication by the mask are
about ten times faster in NumPy than ``where`` with a boolean mask (a NaN or inf in ``dy``
where ``x <= 0`` then gives NaN instead of 0, since inf * 0 = NaN; by then training has
diverged anyway).

On CuPy arrays (GPU path "kernels") each pass is one CUDA kernel from
``cuda/elementwise.cu``.  That forward keeps its output ``y`` instead of the mask (``y > 0``
exactly where ``x > 0``, and ``y`` is kept alive by the next layer anyway).  The cache says
which path made it (``cache.path``, from :func:`unet_from_scratch.backend.compute_path`), so
the backward reads what its own forward wrote, whatever the switch says in between.
"""

from collections import namedtuple

from .. import backend
from ..backend import get_array_module
from ..checks import check_cache, check_array, check_upstream
from ..cuda import kernels

ReluCache = namedtuple("ReluCache", "path shape dtype mask output")
ReluCache.__doc__ = """What :func:`relu_backward` needs: the path taken, the input's shape and
dtype, and either the mask ``x > 0`` (paths "numpy" and "cupy"; ``output`` is None) or the
output ``y`` (path "kernels"; ``mask`` is None)."""


def relu_forward(x):
    """``max(x, 0)``.

    Inputs:
        x: float array of any shape.
    Returns:
        y: array of ``x``'s shape and dtype; cache: a :class:`ReluCache` (on the kernel path
        it holds ``y`` itself, so do not modify ``y`` in place before the backward pass).
    """
    check_array("relu_forward", "x", x)
    path = backend.compute_path(x)
    if path == "kernels":
        y = kernels.relu_forward(x)
        return y, ReluCache(path, x.shape, x.dtype, None, y)
    xp = get_array_module(x)
    return xp.maximum(x, 0), ReluCache(path, x.shape, x.dtype, x > 0, None)


def relu_backward(dy, cache):
    """Gradient of :func:`relu_forward`: ``dy`` where the input was positive, else 0."""
    check_cache("relu_backward", cache, ReluCache)
    check_upstream("relu_backward", dy, cache.shape, cache.dtype)
    if cache.path == "kernels":
        return kernels.relu_backward(dy, cache.output)
    return dy * cache.mask
