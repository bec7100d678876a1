"""Dropout: during training, zero each value with probability p and scale the rest by 1/(1-p).

    mask[i] = 1 / (1 - p) with probability 1 - p, else 0      (drawn afresh each forward pass)
    y = x * mask,   dx = dy * mask

The scaling keeps the expected value of y equal to x, so evaluation needs no
change: with ``training=False`` (or p = 0) the op is the identity.
The mask is drawn with a NumPy ``Generator`` and copied to the array's device,
so a CPU run and a GPU run with the same seed drop the same values.
"""

import numpy as np

from ..backend import get_array_module
from ..checks import check_cache, check_array, check_upstream


def dropout_forward(x, p, rng, training=True):
    """Drop values of ``x`` at random.

    Inputs:
        x: float array of any shape.
        p: probability of dropping a value, 0 <= p < 1.
        rng: a ``numpy.random.Generator`` (or an int seed) to draw the mask with.
        training: when False the op is the identity.
    Returns:
        y: array of ``x``'s shape and dtype; cache: the scaled mask (None when nothing is dropped).
    """
    op = "dropout_forward"
    check_array(op, "x", x)
    if not 0 <= p < 1:
        raise ValueError(f"{op}: p must be in [0, 1), got {p}")
    if not training or p == 0:
        return x.copy(), (None, x.shape, x.dtype)
    xp = get_array_module(x)
    rng = np.random.default_rng(rng)
    keep = rng.random(x.shape) >= p
    mask = xp.asarray(keep.astype(x.dtype) / x.dtype.type(1 - p))
    return x * mask, (mask, x.shape, x.dtype)


def dropout_backward(dy, cache):
    """Gradient of :func:`dropout_forward`: ``dy * mask`` (a copy of dy when nothing was dropped)."""
    check_cache("dropout_backward", cache, tuple)
    mask, shape, dtype = cache
    check_upstream("dropout_backward", dy, shape, dtype)
    return dy.copy() if mask is None else dy * mask
