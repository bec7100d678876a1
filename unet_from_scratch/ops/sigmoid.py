"""Logistic sigmoid, elementwise on an array of any shape.

    y = 1 / (1 + exp(-x))
    dx = dy * y * (1 - y)

Written so that no ``exp`` ever overflows: with ``e = exp(-|x|)`` (always in
(0, 1]), ``y = 1 / (1 + e)`` for ``x >= 0`` and ``y = e / (1 + e)`` for
``x < 0``.  So ``sigmoid(-1000)`` is 0 and ``sigmoid(1000)`` is 1, without
warnings, in float32 and float64.
"""

from ..backend import get_array_module
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
    xp = get_array_module(x)
    e = xp.exp(-xp.abs(x))
    y = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return y, y


def sigmoid_backward(dy, cache):
    """Gradient of :func:`sigmoid_forward`: ``dy * y * (1 - y)``."""
    y = cache
    check_upstream("sigmoid_backward", dy, y.shape, y.dtype)
    return dy * y * (1 - y)
