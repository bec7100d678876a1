"""Rectified linear unit, elementwise on an array of any shape.

    y = max(x, 0)
    dx = dy where x > 0, else 0

At ``x == 0`` the derivative is taken as 0, as in PyTorch.
"""

from ..backend import get_array_module
from ._checks import check_array, check_upstream


def relu_forward(x):
    """``max(x, 0)``.

    Inputs:
        x: float array of any shape.
    Returns:
        y: array of ``x``'s shape and dtype; cache: the mask ``x > 0`` and the dtype.
    """
    check_array("relu_forward", "x", x)
    xp = get_array_module(x)
    positive = x > 0
    return xp.where(positive, x, xp.zeros((), dtype=x.dtype)), (positive, x.dtype)


def relu_backward(dy, cache):
    """Gradient of :func:`relu_forward`: ``dy`` where the input was positive, else 0."""
    positive, dtype = cache
    check_upstream("relu_backward", dy, positive.shape, dtype)
    xp = get_array_module(dy)
    return xp.where(positive, dy, xp.zeros((), dtype=dy.dtype))
