"""The gradient-check cases: one per op, at small U-Net-like shapes, in float64.

``unet-scratch gradcheck`` prints a report for each case, and the tests run each on both
the fast ops (:mod:`unet_from_scratch.ops`) and the loop definitions
(:mod:`unet_from_scratch.reference`), which share names and signatures.

A case names the op, the options bound to its forward pass and a function that draws its
inputs from a ``numpy.random.Generator``.  Two ops need care with their inputs, so that
no finite difference straddles a kink:

* max pooling gets values that are pairwise 0.01 apart (no ties within a window);
* ReLU gets no value within 0.01 of 0.
"""

from collections import namedtuple

import numpy as np

from .. import ops

GradCase = namedtuple("GradCase", "title op options draw names")
GradCase.__doc__ = """One gradient check: a title for the report, the op's name (``conv2d``
for ``conv2d_forward`` / ``conv2d_backward``), keyword options for the forward pass,
``draw(rng)`` giving the list of float64 inputs, and the inputs' names."""


def _normal(*shapes, scale=1.0):
    """Draw standard-normal arrays of the given shapes, times ``scale``."""
    return lambda rng: [scale * rng.standard_normal(shape) for shape in shapes]


def _distinct(shape):
    """Draw values pairwise 0.01 apart, in random order: no ties in a pooling window."""
    return lambda rng: [(rng.permutation(int(np.prod(shape))) * 0.01).reshape(shape)]


def _away_from_zero(shape):
    """Draw standard-normal values, with those within 0.01 of 0 (ReLU's kink) moved to 0.5."""
    def draw(rng):
        x = rng.standard_normal(shape)
        x[np.abs(x) < 0.01] = 0.5
        return [x]
    return draw


OP_CASES = (
    GradCase("conv2d 3x3, padding 1", "conv2d", {"padding": 1},
             _normal((2, 3, 8, 8), (4, 3, 3, 3), (4,)), ("x", "w", "b")),
    GradCase("conv2d 3x3, stride 2, no padding", "conv2d", {"stride": 2},
             _normal((2, 3, 9, 9), (4, 3, 3, 3), (4,)), ("x", "w", "b")),
    GradCase("conv_transpose2d 2x2, stride 2 (up-convolution)", "conv_transpose2d", {"stride": 2},
             _normal((2, 4, 4, 4), (4, 2, 2, 2), (2,)), ("x", "w", "b")),
    GradCase("max_pool2d 2x2", "max_pool2d", {"kernel_size": 2},
             _distinct((2, 3, 8, 8)), ("x",)),
    GradCase("max_pool2d 3x3, stride 2 (overlapping)", "max_pool2d", {"kernel_size": 3, "stride": 2},
             _distinct((2, 3, 8, 8)), ("x",)),
    GradCase("concat along channels", "concat", {},
             _normal((2, 3, 4, 4), (2, 2, 4, 4)), ("a", "b")),
    GradCase("center_crop to 4x4", "center_crop", {"size": 4},
             _normal((2, 2, 7, 6)), ("x",)),
    GradCase("relu", "relu", {}, _away_from_zero((2, 3, 4, 4)), ("x",)),
    GradCase("sigmoid", "sigmoid", {}, _normal((2, 3, 4, 4), scale=4.0), ("x",)),
    GradCase("bias_add", "bias_add", {}, _normal((2, 3, 4, 4), (3,)), ("x", "b")),
)


def case_functions(case, module=ops):
    """``(forward, backward)`` of ``case`` from ``module`` -- :mod:`ops` or :mod:`reference`
    -- with the case's options bound to the forward pass."""
    op_forward = getattr(module, f"{case.op}_forward")

    def forward(*inputs):
        return op_forward(*inputs, **case.options)

    return forward, getattr(module, f"{case.op}_backward")
