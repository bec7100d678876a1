"""Logistic sigmoid, elementwise on an array of any shape.

    y = 1 / (1 + exp(-x))
    dx = dy * y * (1 - y)

Written so that no ``exp`` ever overflows: with ``e = exp(-|x|)`` (always in
(0, 1]), ``y = 1 / (1 + e)`` for ``x >= 0`` and ``y = e / (1 + e)`` for
``x < 0``.  So ``sigmoid(-1000)`` is 0 and ``sigmoid(1000)`` is 1, without
warnings, in float32 and float64.

On CuPy arrays (GPU path "kernels") each pass is one CUDA kernel from
``cuda/elementwise.cu``, with the same two formulas; the cache is ``y`` on both paths.
"""

from ..backend import get_array_module, use_kernels
from . import cuda_kernels
from ._checks import check_array, check_upstream


def sigmoid_forward(x):
    """Stable ``1 / (1 + exp(-x))``.

    Inputs:
        x: float array of any shape.
    Returns:
        y: array of ``x``'s shape and dtype, in [0, 1]; cache: ``y`` itself, so do not
            modify ``y`` in place before the backward pass.
    """
    check_array("sigmoid_forward", "x", x)
    if use_kernels(x):
        y = cuda_kernels.sigmoid_forward(x)
        return y, y
    xp = get_array_module(x)
    e = xp.exp(-xp.abs(x))
    y = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return y, y


def sigmoid_backward(dy, cache):
    """Gradient of :func:`sigmoid_forward`: ``dy * y * (1 - y)``."""
    y = cache
    check_upstream("sigmoid_backward", dy, y.shape, y.dtype)
    if use_kernels(dy):
        return cuda_kernels.sigmoid_backward(dy, y)
    return dy * y * (1 - y)
