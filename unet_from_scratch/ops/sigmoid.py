"""Logistic sigmoid, elementwise on an array of any shape.

    y = 1 / (1 + exp(-x))
    dx = dy * y * (1 - y)

Written so that no ``exp`` ever overflows: with ``e = exp(-|x|)`` (always in
(0, 1]), ``y = 1 / (1 + e)`` for ``x >= 0`` and ``y = e / (1 + e)`` for
``x < 0``.  So ``sigmoid(-1000)`` is 0 and ``sigmoid(1000)`` is 1, without
warnings, in float32 and float64.

On CuPy arrays (GPU path "kernels") each pass is one CUDA kernel from
``cuda/elementwise.cu``, with the same two formulas.  The cache is ``y`` and the path that
made it (``cache.path``), which the backward follows.
"""

from collections import namedtuple

from .. import backend
from ..backend import get_array_module
from ..checks import check_cache, check_array, check_upstream
from ..cuda import kernels

SigmoidCache = namedtuple("SigmoidCache", "path output")
SigmoidCache.__doc__ = """The path taken and the output ``y``, all the backward needs."""


def sigmoid_forward(x):
    """Stable ``1 / (1 + exp(-x))``.

    Inputs:
        x: float array of any shape.
    Returns:
        y: array of ``x``'s shape and dtype, in [0, 1]; cache: a :class:`SigmoidCache`
            holding ``y`` itself, so do not modify ``y`` in place before the backward pass.
    """
    check_array("sigmoid_forward", "x", x)
    path = backend.compute_path(x)
    if path == "kernels":
        y = kernels.sigmoid_forward(x)
        return y, SigmoidCache(path, y)
    xp = get_array_module(x)
    e = xp.exp(-xp.abs(x))
    y = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return y, SigmoidCache(path, y)


def sigmoid_backward(dy, cache):
    """Gradient of :func:`sigmoid_forward`: ``dy * y * (1 - y)``."""
    check_cache("sigmoid_backward", cache, SigmoidCache)
    y = cache.output
    check_upstream("sigmoid_backward", dy, y.shape, y.dtype)
    if cache.path == "kernels":
        return kernels.sigmoid_backward(dy, y)
    return dy * y * (1 - y)
