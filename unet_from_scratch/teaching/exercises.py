"""Checkers for the lessons' exercises: each runs a student's function on a few cases and
says what is wrong -- the shape, the values, which gradient -- instead of only failing.

A checker takes the student's function, calls it on inputs it makes itself, and compares the
result with the package's own implementation (the loop reference where there is one).  It
prints one line starting with a check mark when everything agrees, and otherwise raises
:class:`ExerciseError`, whose message names

* the exercise and the case (the shapes, stride and padding of the inputs);
* what was expected and what came back: the shape, or the largest error and where it is;
* where a common mistake explains the numbers, that mistake (a flipped kernel, a forgotten
  bias, a one-sided difference, the gradient of a tie split between several maxima, ...).

A function that still raises ``NotImplementedError`` (the student versions of the lessons
start that way) gets a message saying that the exercise is not done yet, and a function that
calls the package's own implementation of the exercise fails (:mod:`.delegation`).

Every checker also takes ``hidden=True``: then it runs the grading cases of
:mod:`.hidden` instead of the visible ones (other shapes, strides and seeds, ties in pooling,
empty masks), as the lessons' checker cells do between nbgrader's hidden-tests markers.

The signature each checker expects is in its docstring, e.g.::

    def my_conv2d(x, w, b, stride, padding):
        ...
    check_conv2d_forward(my_conv2d)
"""

import numpy as np

from .. import metrics, reference
from . import hidden as grading_cases
from .grading import ExerciseError, as_number, call_student, compare, describe, report_passed
from .mistakes import (db_averaged_over_batch, dw_transposed, dx_with_unflipped_kernel,
                       gradients_with_unpermuted_dy, to_every_maximum, to_last_maximum,
                       transposed_conv_flipped_kernel, transposed_conv_overwriting)


# --- the checkers, in the order of the lessons ----------------------------------------------

def check_dice_coefficient(dice, hidden=False):
    """Lesson 00.  ``dice(pred, target) -> float``: the Dice coefficient of two binary masks
    (2-D arrays of 0 and 1), ``2 |P and T| / (|P| + |T|)``, and 1 when both are empty."""
    check = "check_dice_coefficient"
    rng = np.random.default_rng(0)
    blob = np.zeros((8, 8))
    blob[2:6, 3:7] = 1
    shifted = np.roll(blob, 1, axis=1)
    cases = [("two overlapping squares", blob, shifted),
             ("identical masks", blob, blob.copy()),
             ("an empty prediction of a non-empty mask", np.zeros((8, 8)), blob),
             ("both masks empty", np.zeros((8, 8)), np.zeros((8, 8))),
             ("random masks", (rng.random((9, 7)) < 0.4) * 1.0, (rng.random((9, 7)) < 0.5) * 1.0)]
    if hidden:
        cases = grading_cases.dice()
    for name, pred, target in cases:
        got = call_student(check, dice, name, pred.copy(), target.copy())
        expected = float(metrics.dice_per_image(pred[None], target[None])[0])
        got = as_number(check, name, got)
        if not np.isclose(got, expected, rtol=1e-6, atol=1e-12):
            hint = ""
            if name.startswith("both") and not np.isfinite(got):
                hint = " Both masks are empty, so 0 / 0: the convention is a perfect score of 1."
            elif name.startswith("both"):
                hint = " When both masks are empty the prediction is perfect: the convention is 1."
            raise ExerciseError(f"{check}: for {name} the Dice coefficient should be "
                                f"{expected:.10g}, your function returned {got:.10g}.{hint}")
    report_passed(check, f"{len(cases)} cases agree with metrics.dice_per_image", hidden)


def check_conv2d_forward(conv2d, hidden=False):
    """Lesson 01.  ``conv2d(x, w, b, stride, padding) -> y``: x (n, c_I, h, w), w
    (c_O, c_I, k_h, k_w), b (c_O,), stride and padding ints; y (n, c_O, h_O, w_O) with
    h_O = (h + 2 padding - k_h) // stride + 1."""
    check = "check_conv2d_forward"
    cases = _conv_cases(hidden)
    for name, x, w, b, stride, padding in cases:
        got = call_student(check, conv2d, name, x.copy(), w.copy(), b.copy(), stride, padding)
        expected, _ = reference.conv2d_forward(x, w, b, stride, padding)
        mistakes = {
            "flipped the kernel (that is the convolution of signal processing; deep learning's "
            "'convolution' slides the kernel unflipped, a cross-correlation)":
                reference.conv2d_forward(x, w[:, :, ::-1, ::-1].copy(), b, stride, padding)[0],
            "left out the bias b": reference.conv2d_forward(x, w, None, stride, padding)[0],
        }
        compare(check, name, "y", got, expected, mistakes,
                 shape_hint="h_O = (h + 2 padding - k_h) // stride + 1, and w_O likewise")
    report_passed(check, f"{len(cases)} cases agree with the loop reference (reference.conv2d_forward)", hidden)


def check_conv2d_backward(conv2d_backward, hidden=False):
    """Lesson 02.  ``conv2d_backward(dy, x, w, stride, padding) -> (dx, dw, db)``: the
    gradients of the convolution (with bias) with respect to x, w and b, given the upstream
    gradient dy of shape (n, c_O, h_O, w_O)."""
    check = "check_conv2d_backward"
    rng = np.random.default_rng(2)
    cases = _conv_cases(hidden)
    for name, x, w, b, stride, padding in cases:
        y, cache = reference.conv2d_forward(x, w, b, stride, padding)
        dy = rng.standard_normal(y.shape)
        got = call_student(check, conv2d_backward, name, dy.copy(), x.copy(), w.copy(), stride, padding)
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            raise ExerciseError(f"{check}: return the three gradients as a tuple (dx, dw, db); "
                                f"for {name} your function returned {describe(got)}")
        dx, dw, db = reference.conv2d_backward(dy, cache)
        dx_unpermuted, dw_unpermuted = gradients_with_unpermuted_dy(dy, x, w, stride, padding)
        unpermuted = ("reshaped dy (n, c_O, h_O, w_O) straight to (c_O, n h_O w_O); move the "
                      "channel axis first: dy.transpose(1, 0, 2, 3).reshape(c_O, -1)")
        compare(check, name, "dx", got[0], dx,
                 {"used w without flipping it: dx is the 'full' convolution of dy with the "
                  "kernel rotated by 180 degrees":
                      dx_with_unflipped_kernel(dy, w, x.shape, stride, padding),
                  unpermuted: dx_unpermuted})
        compare(check, name, "dw", got[1], dw,
                 {unpermuted: dw_unpermuted,
                  "transposed dw: it is dy_matrix @ cols_matrix.T, of shape (c_O, c_I k_h k_w), "
                  "not cols_matrix @ dy_matrix.T (or w's two channel axes swapped)":
                      dw_transposed(dw)},
                 shape_hint="dw has w's shape (c_O, c_I, k_h, k_w): dy_matrix @ cols_matrix.T")
        compare(check, name, "db", got[2], db,
                 {"averaged db over the batch; the loss sums over the images, so db sums dy "
                  "over n as well as h_O and w_O": db_averaged_over_batch(dy)},
                 shape_hint="db[c] sums dy[:, c] over n, h_O and w_O")
    report_passed(check, f"dx, dw and db agree with the loop reference in {len(cases)} cases", hidden)


def check_numerical_gradient(numerical_gradient, hidden=False):
    """Lesson 02.  ``numerical_gradient(f, x, eps) -> g``: the central-difference gradient
    of a function ``f`` returning a float, at the float64 array ``x``:
    ``g[i] = (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)``, with ``x`` left as it was."""
    check = "check_numerical_gradient"
    def f(x):
        return float(np.sum(np.sin(x) * x ** 2))
    def exact(x):
        return np.cos(x) * x ** 2 + 2 * x * np.sin(x)
    cases = [("a vector", (5,), 3, 1e-5), ("a 2-D array", (3, 4), 3, 1e-5)]
    for name, shape, seed, eps in grading_cases.numerical_gradient() if hidden else cases:
        x = np.random.default_rng(seed).uniform(-2, 2, shape)
        before = x.copy()
        got = call_student(check, numerical_gradient, name, f, x, eps)
        if not np.allclose(x, before, rtol=1e-12, atol=1e-12):
            raise ExerciseError(f"{check}: your function changed x (for {name}); put every "
                                f"element back after nudging it: keep the old value and "
                                f"restore it")
        one_sided = np.array([(f(_nudged(x, i, eps)) - f(x)) / eps for i in range(x.size)])
        mistakes = {"used a one-sided difference (f(x + eps) - f(x)) / eps; the central "
                    "difference (f(x + eps) - f(x - eps)) / (2 eps) is far more accurate":
                        one_sided.reshape(shape),
                    "divided by eps instead of 2 eps": 2 * exact(x)}
        compare(check, name, "g", got, exact(x), mistakes, rtol=1e-7, atol=1e-8)
    report_passed(check, "central differences match the exact derivative of sum(sin(x) x^2)", hidden)


def check_max_pool2d_backward(max_pool_backward, hidden=False):
    """Lesson 03.  ``max_pool_backward(dy, x) -> dx`` for 2 x 2 windows with stride 2: each
    window's dy goes to the position of its maximum -- the first one, in row-major order,
    when several are equal -- and every other dx is 0.  Rows or columns that do not fill a
    window (odd sizes) get 0."""
    check = "check_max_pool2d_backward"
    rng = np.random.default_rng(4)
    distinct = rng.permutation(2 * 3 * 6 * 8).reshape(2, 3, 6, 8).astype(float)
    ties = np.array([[[[1.0, 5.0, 2.0, 2.0], [5.0, 0.0, 2.0, 2.0]]]])
    odd = rng.permutation(5 * 7).reshape(1, 1, 5, 7).astype(float)
    cases = [("distinct values", distinct), ("ties inside windows", ties),
             ("odd height and width (5 x 7)", odd)]
    cases = grading_cases.max_pool() if hidden else cases
    for name, x in cases:
        y, cache = reference.max_pool2d_forward(x, 2, 2)
        dy = rng.standard_normal(y.shape)
        got = call_student(check, max_pool_backward, name, dy.copy(), x.copy())
        expected = reference.max_pool2d_backward(dy, cache)
        mistakes = {"sent the gradient to every tied maximum; it goes to the first maximum only":
                        to_every_maximum(dy, x),
                    "sent the gradient to the last tied maximum; it goes to the first":
                        to_last_maximum(dy, x)}
        compare(check, name, "dx", got, expected, mistakes)
    report_passed(check, f"{len(cases)} cases (ties and odd sizes included) agree with the loop "
                         f"reference", hidden)


def check_conv_transpose2d_forward(conv_transpose2d, hidden=False):
    """Lesson 04.  ``conv_transpose2d(x, w, stride) -> y``, no padding: x (n, c_I, h, w), w
    (c_I, c_O, k, k) -- PyTorch's layout, input channels first -- and y
    (n, c_O, (h - 1) stride + k, (w - 1) stride + k): every input pixel adds
    ``x[b, ci, i, j] * w[ci, :, :, :]`` into the output at (stride i, stride j)."""
    check = "check_conv_transpose2d_forward"
    rng = np.random.default_rng(55 if hidden else 5)
    cases = [("2 x 2 kernel, stride 2 (the U-Net's up-convolution)", (2, 3, 4, 5), (3, 2, 2, 2), 2),
             ("3 x 3 kernel, stride 1", (1, 2, 3, 3), (2, 3, 3, 3), 1),
             ("3 x 3 kernel, stride 2 (overlapping)", (2, 2, 3, 4), (2, 1, 3, 3), 2)]
    cases = grading_cases.conv_transpose() if hidden else cases
    for name, x_shape, w_shape, stride in cases:
        x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
        got = call_student(check, conv_transpose2d, name, x.copy(), w.copy(), stride)
        expected, _ = reference.conv_transpose2d_forward(x, w, None, stride, 0)
        overwriting = ("wrote each contribution with = instead of adding them (+=): where "
                       "windows overlap, every one of them adds to the output pixel")
        by_kernel, by_pixel = transposed_conv_overwriting(x, w, stride)
        flipped = ("flipped the kernel: the transposed convolution scatters w as it is, "
                   "x[b, ci, i, j] * w[ci, :, u, v] lands at (stride i + u, stride j + v)")
        compare(check, name, "y", got, expected,
                 {overwriting: [by_kernel, by_pixel],
                  flipped: transposed_conv_flipped_kernel(x, w, stride)},
                 shape_hint="h_O = (h - 1) * stride + k; the weights are (c_I, c_O, k, k)")
    report_passed(check, f"{len(cases)} cases agree with the loop reference "
                         f"(reference.conv_transpose2d_forward)",
                  hidden)


# --- cases ---------------------------------------------------------------------------------

def _conv_cases(hidden=False):
    """(name, x, w, b, stride, padding) for the convolution checkers, float64."""
    if hidden:
        return grading_cases.conv()
    return grading_cases.draw_conv_cases((((1, 1, 5, 5), (1, 1, 3, 3), 1, 0),
                                          ((2, 3, 6, 7), (4, 3, 3, 3), 1, 1),
                                          ((2, 2, 7, 6), (3, 2, 3, 2), 2, 1),
                                          ((1, 2, 4, 4), (2, 2, 1, 1), 1, 0)), seed=1)


def _nudged(x, index, step):
    y = x.copy()
    y.flat[index] += step
    return y
