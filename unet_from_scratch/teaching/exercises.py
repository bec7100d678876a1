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

from .. import losses, metrics, optim, reference, submission
from ..model import UNet
from ..nn import Parameter
from . import hidden as grading_cases
from .grading import ExerciseError, as_number, call_student, compare, describe, report_passed
from .mistakes import (dx_with_unflipped_kernel, gradients_with_unpermuted_dy, shift_starts,
                       to_every_maximum, to_last_maximum, transposed_conv_overwriting,
                       valid_size_without_bottom)


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
        compare(check, name, "dw", got[1], dw, {unpermuted: dw_unpermuted})
        compare(check, name, "db", got[2], db, {},
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
        compare(check, name, "y", got, expected,
                 {overwriting: [by_kernel, by_pixel]},
                 shape_hint="h_O = (h - 1) * stride + k; the weights are (c_I, c_O, k, k)")
    report_passed(check, f"{len(cases)} cases agree with the loop reference "
                         f"(reference.conv_transpose2d_forward)",
                  hidden)


def check_center_crop(center_crop, hidden=False):
    """Lesson 05.  ``center_crop(x, height, width) -> y``: the (height, width) middle of every
    image of x (n, c, h, w); when h - height is odd, the extra row is cut at the bottom
    (top = (h - height) // 2), and likewise for columns."""
    check = "check_center_crop"
    x = np.arange(2 * 3 * 9 * 10, dtype=float).reshape(2, 3, 9, 10)
    cases = [("an even margin (9 x 10 -> 5 x 6)", x, (5, 6)),
             ("an odd margin (9 x 10 -> 4 x 7)", x, (4, 7)), ("no crop at all", x, (9, 10))]
    cases = grading_cases.center_crop() if hidden else cases
    for name, x, size in cases:
        got = call_student(check, center_crop, name, x.copy(), *size)
        expected, _ = reference.center_crop_forward(x, size)
        h, w = x.shape[2:]
        top, left = (h - size[0]) // 2, (w - size[1]) // 2
        mistakes = {"cut the extra row or column at the top or left; top = (h - height) // 2 "
                    "puts it at the bottom and right":
                        x[:, :, h - size[0] - top:h - top, w - size[1] - left:w - left]}
        compare(check, name, "y", got, expected, mistakes)
    report_passed(check, f"{len(cases)} crops agree with reference.center_crop_forward", hidden)


def check_unet_output_size(output_size, hidden=False):
    """Lesson 06.  ``output_size(size, depth) -> int``: the side of the logits of a U-Net
    with 'valid' (unpadded) 3 x 3 convolutions, 2 x 2 pooling and up-convolution, for a
    square input of side ``size`` that fits (the original paper: 572 -> 388 at depth 4)."""
    check = "check_unet_output_size"
    cases = grading_cases.unet_output_size() if hidden else [(572, 4), (188, 3), (92, 2), (140, 2), (44, 1)]
    for size, depth in cases:
        name = f"input {size}, depth {depth}"
        got = call_student(check, output_size, name, size, depth)
        expected = UNet(depth=depth, base_channels=1, padding="valid").output_size(size, size)[0]
        if got != expected:
            hint = ""
            if got == size:
                hint = " That is the input size: 'valid' convolutions shrink every map by 2 per conv."
            elif got == valid_size_without_bottom(size, depth):
                hint = (" It looks like you left out the two convolutions at the bottom of the U, "
                        "between the last pooling and the first up-convolution (4 pixels).")
            raise ExerciseError(f"{check}: for {name} the output side is {expected}, your function "
                                f"returned {got!r}. Each level's two 3 x 3 convs take 4 pixels, "
                                f"each pooling halves, each up-convolution doubles.{hint}")
    report_passed(check, f"{len(cases)} sizes agree with UNet(padding='valid').output_size", hidden)


def check_soft_dice_loss(soft_dice_loss, hidden=False):
    """Lesson 07.  ``soft_dice_loss(logits, targets) -> (loss, dlogits)``: with
    p = sigmoid(logits), loss = 1 - (2 sum p t + 1) / (sum p + sum t + 1), the sums over the
    whole batch (smoothing 1), and dlogits its gradient, of the shape of logits."""
    check = "check_soft_dice_loss"
    rng = np.random.default_rng(77 if hidden else 7)
    cases = [("a batch of 2 images 6 x 5", (2, 1, 6, 5), 0.3, 2.0), ("empty targets", (3, 1, 4, 4), 0.0, 2.0)]
    cases = grading_cases.soft_dice() if hidden else cases
    for name, shape, fraction, scale in cases:
        logits = rng.standard_normal(shape) * scale
        targets = (rng.random(shape) < fraction).astype(float)
        got = call_student(check, soft_dice_loss, name, logits.copy(), targets.copy())
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise ExerciseError(f"{check}: return (loss, dlogits); for {name} your function "
                                f"returned {describe(got)}")
        loss, cache = losses.dice_loss_forward(logits, targets, smooth=1.0, reduction="batch")
        dlogits, _ = losses.dice_loss_backward(1.0, cache)
        got_loss = as_number(check, name, got[0])
        if not np.isclose(got_loss, float(loss), rtol=1e-7, atol=1e-12):
            raise ExerciseError(f"{check}: for {name} the loss should be {float(loss):.10g}, yours "
                                f"is {got_loss:.10g}. Apply the sigmoid to the logits first, and "
                                f"sum over the whole batch.")
        p = 1 / (1 + np.exp(-logits))
        compare(check, name, "dlogits", got[1], dlogits,
                 {"stopped at the gradient with respect to p; multiply by the sigmoid's "
                  "derivative p (1 - p) to reach the logits": dlogits / (p * (1 - p))})
    report_passed(check, "the loss and its gradient agree with losses.dice_loss_* (reduction='batch')",
                  hidden)


def check_adam_step(adam_step, hidden=False):
    """Lesson 08.  ``adam_step(p, g, m, v, t, lr, beta1, beta2, eps) -> (p, m, v)``: one Adam
    update of the parameter p from its gradient g at step t = 1, 2, ...:
    m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2;
    p = p - lr (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)."""
    check = "check_adam_step"
    rng = np.random.default_rng(88 if hidden else 8)
    cases = [("lr 0.01, betas (0.9, 0.999), eps 1e-8", (3, 4), 3, 0.01, 0.9, 0.999, 1e-8)]
    cases = grading_cases.adam() if hidden else cases
    for name, shape, steps, lr, beta1, beta2, eps in cases:
        p0 = rng.standard_normal(shape)
        parameter = Parameter(p0.copy())
        adam = optim.Adam([parameter], lr=lr, betas=(beta1, beta2), eps=eps)
        p, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
        for t in range(1, steps + 1):
            case = f"step {t} ({name})" if hidden else f"step {t}"
            g = rng.standard_normal(shape)
            parameter.grad[...] = g
            adam.step()
            got = call_student(check, adam_step, case, p.copy(), g.copy(), m.copy(), v.copy(), t,
                               lr, beta1, beta2, eps)
            if not isinstance(got, (tuple, list)) or len(got) != 3:
                raise ExerciseError(f"{check}: return (p, m, v); at {case} your function returned "
                                    f"{describe(got)}")
            m_expected = beta1 * m + (1 - beta1) * g
            v_expected = beta2 * v + (1 - beta2) * g * g
            compare(check, case, "m", got[1], m_expected, {})
            compare(check, case, "v", got[2], v_expected, {})
            no_correction = p - lr * m_expected / (np.sqrt(v_expected) + eps)
            compare(check, case, "p", got[0], parameter.data,
                    {"left out the bias corrections 1 - beta^t": no_correction}, rtol=1e-6, atol=1e-9)
            p, m, v = got
    report_passed(check, f"{sum(case[2] for case in cases)} steps agree with optim.Adam", hidden)


def check_contributing_windows(contributing_windows, hidden=False):
    """Lesson 09.  ``contributing_windows(y, kernel, stride, padding, out_size) -> list``:
    for pixel row ``y`` of an image, the (kernel row i, window row oy) pairs with
    ``stride * oy + i == y + padding``, ``0 <= i < kernel`` and ``0 <= oy < out_size``, in
    increasing i.  These are the terms a col2im thread for that row gathers."""
    check = "check_contributing_windows"
    count = 0
    cases = ((3, 1, 1, 6), (2, 2, 0, 6), (3, 2, 1, 7), (5, 3, 2, 9))
    for kernel, stride, padding, height in grading_cases.contributing_windows() if hidden else cases:
        out_size = (height + 2 * padding - kernel) // stride + 1
        for y in range(height):
            name = f"row {y}, kernel {kernel}, stride {stride}, padding {padding} ({out_size} windows)"
            got = call_student(check, contributing_windows, name, y, kernel, stride, padding, out_size)
            expected = [(i, oy) for i in range(kernel) for oy in range(out_size)
                        if stride * oy + i == y + padding]
            if [tuple(pair) for pair in got] != expected:
                no_padding = [(i, oy) for i in range(kernel) for oy in range(out_size)
                              if stride * oy + i == y]
                hint = (" It looks like you left out the padding." if padding and
                        [tuple(pair) for pair in got] == no_padding else "")
                raise ExerciseError(f"{check}: for {name} the pairs (i, oy) are {expected}, yours "
                                    f"are {list(got)}. Window oy reads padded rows stride*oy ... "
                                    f"stride*oy + kernel - 1, and the pixel's padded row is y + "
                                    f"padding.{hint}")
            count += 1
    report_passed(check, f"{count} rows agree with a brute-force search", hidden)


def check_rle_encode(rle_encode, hidden=False):
    """Lesson 10.  ``rle_encode(mask) -> str``: the Kaggle nerve competition's run-length
    encoding of a 2-D binary mask: pixels numbered from 1, top to bottom and then left to
    right (column by column), written as "start length start length ..."; "" when empty."""
    check = "check_rle_encode"
    rng = np.random.default_rng(10)
    tall = np.zeros((5, 4), np.uint8)
    tall[1:4, 1] = 1
    tall[0, 2:4] = 1
    cases = [("a small mask", tall), ("an empty mask", np.zeros((3, 3), np.uint8)),
             ("a full mask", np.ones((2, 3), np.uint8)),
             ("a random mask", (rng.random((7, 6)) < 0.3).astype(np.uint8))]
    cases = grading_cases.rle() if hidden else cases
    for name, mask in cases:
        got = call_student(check, rle_encode, name, mask.copy())
        expected = submission.rle_encode(mask)
        if got != expected:
            hints = []
            if got == submission.rle_encode(mask.T.copy()):
                hints.append("you numbered the pixels row by row; the competition numbers them "
                             "column by column (top to bottom, then left to right)")
            if got and got == shift_starts(expected, -1):
                hints.append("your starts are 0-based; the competition counts from 1")
            hint = (" It looks like " + "; ".join(hints) + ".") if hints else ""
            raise ExerciseError(f"{check}: for {name} the encoding is {expected!r}, yours is "
                                f"{got!r}.{hint}")
    report_passed(check, f"{len(cases)} masks agree with submission.rle_encode", hidden)


# --- cases ---------------------------------------------------------------------------------

def _conv_cases(hidden=False):
    """(name, x, w, b, stride, padding) for the convolution checkers, float64."""
    if hidden:
        return grading_cases.conv()
    rng = np.random.default_rng(1)
    cases = []
    for x_shape, w_shape, stride, padding in (((1, 1, 5, 5), (1, 1, 3, 3), 1, 0),
                                              ((2, 3, 6, 7), (4, 3, 3, 3), 1, 1),
                                              ((2, 2, 7, 6), (3, 2, 3, 2), 2, 1),
                                              ((1, 2, 4, 4), (2, 2, 1, 1), 1, 0)):
        name = f"x {x_shape}, w {w_shape}, stride {stride}, padding {padding}"
        cases.append((name, rng.standard_normal(x_shape), rng.standard_normal(w_shape),
                      rng.standard_normal(w_shape[:1]), stride, padding))
    return cases


def _nudged(x, index, step):
    y = x.copy()
    y.flat[index] += step
    return y
