"""Checkers of the exercises of lessons 05 to 08, 10 and 11: the skip connections, the network,
its loss, its training, the GPU and the real data.  They work as those of :mod:`.exercises` do
(:mod:`unet_from_scratch.exercises` re-exports them all): each calls the student's function on its own cases, compares with the
package's implementation and names the common mistakes it recognises; ``hidden=True`` runs
the grading cases of :mod:`.hidden`."""

import numpy as np

from .. import losses, optim, reference, submission
from ..gradcheck import module_check
from ..model import UNet
from ..nn import Parameter
from . import hidden as grading_cases
from .grading import ExerciseError, as_number, call_student, compare, describe, report_passed
from .mistakes import (bias_corrected_moments, rle_start_end, rle_uint8_wraparound, shift_starts,
                       skip_backward_at_corner, skip_backward_one_branch,
                       skip_backward_overwriting, soft_dice_without_smoothing,
                       unet_backward_dropping, valid_size_without_bottom)


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


def check_skip_backward(skip_backward, hidden=False):
    """Lesson 05.  ``skip_backward(d_joined, d_down) -> (d_encoder, d_decoder)``: the
    gradients of a skip connection's two inputs.  The encoder's map e (n, c, h, w) feeds two
    paths: down, through the pooling, whose backward pass gave ``d_down`` (of e's shape), and
    across, center-cropped to (h_O, w_O) and concatenated in front of the decoder's map u
    (n, c_u, h_O, w_O): joined = concat([crop(e), u]), whose gradient is ``d_joined``
    (n, c + c_u, h_O, w_O).  Where a value feeds two paths its gradient is the sum of theirs."""
    check = "check_skip_backward"
    rng = np.random.default_rng(66 if hidden else 6)
    cases = grading_cases.skip_backward() if hidden else [
        ("encoder (2, 3, 12, 12) cropped to 8 x 8, decoder 2 channels", (2, 3, 12, 12), (8, 8), 2),
        ("an odd margin: encoder (1, 2, 9, 10) cropped to 6 x 5, decoder 3 channels", (1, 2, 9, 10), (6, 5), 3),
        ("no crop ('same' padding): encoder (2, 2, 6, 6), decoder 2 channels", (2, 2, 6, 6), (6, 6), 2)]
    for name, encoder_shape, size, decoder_channels in cases:
        n, channels = encoder_shape[:2]
        d_joined = rng.standard_normal((n, channels + decoder_channels, *size))
        d_down = rng.standard_normal(encoder_shape)
        got = call_student(check, skip_backward, name, d_joined.copy(), d_down.copy())
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise ExerciseError(f"{check}: return the two gradients as a tuple (d_encoder, "
                                f"d_decoder); for {name} your function returned {describe(got)}")
        crop_cache = reference.center_crop_forward(np.zeros(encoder_shape), size)[1]
        expected = d_down + reference.center_crop_backward(d_joined[:, :channels], crop_cache)
        compare(check, name, "d_encoder", got[0], expected,
                {"dropped the gradient of one of the two paths: the encoder's map feeds the "
                 "pooling (d_down) and the skip connection (d_joined's first c channels, put "
                 "back where the crop took them), so its gradient is the SUM of both":
                     skip_backward_one_branch(d_joined, d_down),
                 "wrote the skip's gradient over d_down in the middle (=) instead of adding "
                 "it (+=)": skip_backward_overwriting(d_joined, d_down),
                 "put the skip's gradient back at the top-left corner; the crop took the middle, "
                 "top = (h - h_O) // 2": skip_backward_at_corner(d_joined, d_down)},
                shape_hint="d_encoder has the encoder map's shape, that of d_down")
        compare(check, name, "d_decoder", got[1], d_joined[:, channels:],
                {"took the decoder's gradient from the first channels; the cropped encoder "
                 "map comes first in the concatenation, the decoder's map after it":
                     d_joined[:, :decoder_channels]},
                shape_hint="d_decoder is the last c_u channels of d_joined")
    report_passed(check, f"{len(cases)} cases agree with reference.center_crop_backward plus the "
                         f"pooling path's gradient", hidden)


def check_unet_output_size(output_size, hidden=False):
    """Lesson 06.  ``output_size(size, depth) -> int``: the side of the logits of a U-Net
    with 'valid' (unpadded) 3 x 3 convolutions, 2 x 2 pooling and up-convolution, for a
    square input of side ``size`` that fits (the original paper: 572 -> 388 at depth 4)."""
    check = "check_unet_output_size"
    cases = grading_cases.unet_output_size() if hidden else [(572, 4), (188, 3), (92, 2), (140, 2), (44, 1)]
    for size, depth in cases:
        name = f"input {size}, depth {depth}"
        got = call_student(check, output_size, name, size, depth)
        if not np.isscalar(got):
            raise ExerciseError(f"{check}: for {name} your function should return a number, it "
                                f"returned {describe(got)}")
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


def check_unet_backward(unet_backward, hidden=False):
    """Lesson 06.  ``unet_backward(model, dlogits) -> dx``: the backward pass of a small U-Net
    (depth 1 or 2) written from its blocks, called right after ``model.forward(x)``: it adds
    every parameter's gradient into its ``.grad`` (the blocks' ``backward`` do that) and
    returns the gradient of the input.  Compared with ``UNet.backward`` on a twin of the
    model, parameter by parameter, then checked by directional derivatives (module_check)."""
    check = "check_unet_backward"
    cases = grading_cases.unet_backward() if hidden else [
        ("depth 1, padding 'same', 2 images 8 x 8", 1, "same", (2, 1, 8, 8)),
        ("depth 2, padding 'valid', one image 44 x 44", 2, "valid", (1, 1, 44, 44))]
    for number, (name, depth, padding, x_shape) in enumerate(cases):
        def twin():
            return UNet(base_channels=2, depth=depth, padding=padding, seed=number).to(dtype=np.float64)
        rng = np.random.default_rng(60 + number + 10 * hidden)
        x = rng.standard_normal(x_shape)
        model, student_model = twin(), twin()
        dy = rng.standard_normal(model.forward(x).shape)
        expected = model.backward(dy)
        wrongs = {}
        for dropped in ("skip", "down"):
            wrong_model = twin()
            wrong_model.forward(x)
            wrongs[dropped] = (unet_backward_dropping(wrong_model, dy, dropped), wrong_model)
        student_model.forward(x)
        student_model.zero_grad()
        got = call_student(check, unet_backward, name, student_model, dy.copy())
        dropped_skip = ("dropped the gradient that comes back along the skip connections: each "
                        "encoder's output feeds the pooling AND the skip, so its gradient is the "
                        "sum of both (lesson 05)")
        dropped_down = ("dropped the gradient that comes up through the pooling: each encoder's "
                        "output feeds the pooling AND the skip, so its gradient is the sum of both "
                        "(lesson 05)")
        compare(check, name, "dx", got, expected,
                {dropped_skip: wrongs["skip"][0], dropped_down: wrongs["down"][0]},
                shape_hint="dx has the input's shape: return what the first encoder's backward returns")
        wrong_grads = {dropped: dict(m.named_parameters()) for dropped, (_, m) in wrongs.items()}
        for (parameter_name, parameter), (_, mine) in zip(model.named_parameters(),
                                                          student_model.named_parameters()):
            compare(check, name, f"the gradient of {parameter_name}", mine.grad, parameter.grad,
                    {dropped_skip: wrong_grads["skip"][parameter_name].grad,
                     dropped_down: wrong_grads["down"][parameter_name].grad})
        report = module_check(_Backward(student_model, unet_backward), x)
        if not report.passed:
            raise ExerciseError(f"{check}: for {name} the directional gradient check fails:\n{report}")
    report_passed(check, f"{len(cases)} networks agree with UNet.backward, every parameter, and pass "
                         f"the directional gradient check", hidden)


class _Backward:
    """A U-Net whose backward pass is the student's function (for module_check)."""

    def __init__(self, model, unet_backward):
        self.model, self.unet_backward = model, unet_backward

    def forward(self, x):
        return self.model.forward(x)

    def backward(self, dy):
        return self.unet_backward(self.model, dy)

    def named_parameters(self):
        return self.model.named_parameters()


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
        loss_unsmoothed, dlogits_unsmoothed = soft_dice_without_smoothing(logits, targets)
        got_loss = as_number(check, name, got[0])
        if not np.isclose(got_loss, float(loss), rtol=1e-7, atol=1e-12):
            hint = ("Apply the sigmoid to the logits first, and sum over the whole batch.")
            if np.isclose(got_loss, float(loss_unsmoothed), rtol=1e-7, atol=1e-12):
                hint = ("It looks like you dropped the smoothing: add 1 to the numerator "
                        "2 sum p t and to the denominator sum p + sum t.")
            raise ExerciseError(f"{check}: for {name} the loss should be {float(loss):.10g}, yours "
                                f"is {got_loss:.10g}. {hint}")
        p = 1 / (1 + np.exp(-logits))
        compare(check, name, "dlogits", got[1], dlogits,
                 {"stopped at the gradient with respect to p; multiply by the sigmoid's "
                  "derivative p (1 - p) to reach the logits": dlogits / (p * (1 - p)),
                  "flipped the sign: the gradient of the loss 1 - Dice is minus the gradient "
                  "of Dice": -dlogits,
                  "dropped the smoothing in the gradient: the +1 of the numerator and of the "
                  "denominator stays in the derivative too":
                      dlogits_unsmoothed})
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
            m_hat, v_hat = bias_corrected_moments(m_expected, v_expected, t, beta1, beta2)
            compare(check, case, "m", got[1], m_expected,
                    {"returned the bias-corrected m_hat = m / (1 - beta1^t) as m; return the "
                     "uncorrected m, the next step corrects it again": m_hat})
            compare(check, case, "v", got[2], v_expected,
                    {"returned the bias-corrected v_hat = v / (1 - beta2^t) as v; return the "
                     "uncorrected v, the next step corrects it again": v_hat})
            no_correction = p - lr * m_expected / (np.sqrt(v_expected) + eps)
            compare(check, case, "p", got[0], parameter.data,
                    {"left out the bias corrections 1 - beta^t": no_correction}, rtol=1e-6, atol=1e-9)
            p, m, v = got
    report_passed(check, f"{sum(case[2] for case in cases)} steps agree with optim.Adam", hidden)


def check_contributing_windows(contributing_windows, hidden=False):
    """Lesson 10.  ``contributing_windows(y, kernel, stride, padding, out_size) -> list``:
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
            try:
                pairs = [tuple(pair) for pair in got]
            except TypeError:
                raise ExerciseError(f"{check}: for {name} your function should return a list of "
                                    f"(i, oy) pairs, it returned {describe(got)}") from None
            if pairs != expected:
                no_padding = [(i, oy) for i in range(kernel) for oy in range(out_size)
                              if stride * oy + i == y]
                hint = (" It looks like you left out the padding." if padding and
                        pairs == no_padding else "")
                raise ExerciseError(f"{check}: for {name} the pairs (i, oy) are {expected}, yours "
                                    f"are {list(got)}. Window oy reads padded rows stride*oy ... "
                                    f"stride*oy + kernel - 1, and the pixel's padded row is y + "
                                    f"padding.{hint}")
            count += 1
    report_passed(check, f"{count} rows agree with a brute-force search", hidden)


def check_rle_encode(rle_encode, hidden=False):
    """Lesson 11.  ``rle_encode(mask) -> str``: the Kaggle nerve competition's run-length
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
        if not isinstance(got, str):
            raise ExerciseError(f"{check}: for {name} your function should return a string, it "
                                f"returned {describe(got)}")
        expected = submission.rle_encode(mask)
        if got != expected:
            hints = []
            if got == submission.rle_encode(mask.T.copy()):
                hints.append("you numbered the pixels row by row; the competition numbers them "
                             "column by column (top to bottom, then left to right)")
            if got and got == shift_starts(expected, -1):
                hints.append("your starts are 0-based; the competition counts from 1")
            if got and got in (rle_start_end(mask, True), rle_start_end(mask, False)):
                hints.append("you wrote each run as \"start end\"; the competition writes "
                             "\"start length\"")
            if got == "" and got == rle_uint8_wraparound(mask):
                hints.append("you returned \"\" for a mask that is not empty: if you took "
                             "np.diff of the uint8 mask, a fall from 1 to 0 wraps around to "
                             "255 instead of -1 (uint8 has no negative numbers), so no run "
                             "ever ends; convert the mask with .astype(int) first")
            hint = (" It looks like " + "; ".join(hints) + ".") if hints else ""
            raise ExerciseError(f"{check}: for {name} the encoding is {expected!r}, yours is "
                                f"{got!r}.{hint}")
    report_passed(check, f"{len(cases)} masks agree with submission.rle_encode", hidden)
