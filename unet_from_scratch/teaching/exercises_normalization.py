"""Checkers of lesson 09's exercises: He initialisation, batch normalisation (forward and
backward) and dropout.  They work as those of :mod:`.exercises` do: each calls the student's
function on its own cases, compares with the package's implementation (batch norm's forward
with the loop reference) and names the common mistakes it recognises; ``hidden=True`` runs the
grading cases of :mod:`.hidden`.

The lesson fixes two conventions so that answers can be compared exactly:

* batch norm's cache is ``(x_hat, gamma, inv_std)``, with ``inv_std = 1 / sqrt(var + eps)``
  of shape (c,), and its running statistics are updated **in place**, as ``ops.batch_norm2d``
  does (PyTorch's momentum: the weight of the new value; the running variance takes the
  unbiased batch variance);
* dropout draws ``u = rng.random(x.shape)`` once and keeps the values where ``u >= p``, as
  ``ops.dropout`` does; its cache is the scaled mask ``keep / (1 - p)`` (None when nothing
  is dropped).

He initialisation draws random numbers the student may draw in any order, so its checker
compares statistics of a large draw: the standard deviation within 5 %.
"""

import numpy as np

from .. import ops, reference
from ..gradcheck import elementwise_check
from . import hidden as grading_cases
from .grading import ExerciseError, call_student, compare, describe, report_passed
from .mistakes import (batch_norm_dx_mistakes, batch_norm_eps_outside, batch_norm_over_axes,
                       batch_norm_unbiased, dropout_with_keep_probability_p, he_std_mistakes,
                       running_average_reversed)

STD_TOLERANCE = 0.05            # relative; a draw of 9,000 values has its std within 1 % or so


def check_he_normal_init(he_normal_init, hidden=False):
    """Lesson 09.  ``he_normal_init(rng, shape) -> w``: the weights (c_O, c_I, k_h, k_w) of a
    convolution followed by a ReLU, drawn with the ``numpy.random.Generator`` rng from a normal
    distribution of mean 0 and standard deviation sqrt(2 / fan_in), fan_in = c_I k_h k_w;
    float32, as the package keeps its weights."""
    check = "check_he_normal_init"
    cases = grading_cases.he_normal_init() if hidden else [
        ("w (64, 16, 3, 3)", (64, 16, 3, 3)), ("w (24, 48, 3, 3)", (24, 48, 3, 3))]
    for number, (name, shape) in enumerate(cases):
        seed = 90 + number + 10 * hidden
        w = call_student(check, he_normal_init, name, np.random.default_rng(seed), shape)
        _check_weights_array(check, name, w, shape)
        again = call_student(check, he_normal_init, name, np.random.default_rng(seed), shape)
        other = call_student(check, he_normal_init, name, np.random.default_rng(seed + 1), shape)
        if not np.array_equal(w, again) or np.array_equal(w, other):
            raise ExerciseError(f"{check}: for {name} the weights do not come from the rng your "
                                f"function is given: draw them with rng.standard_normal(shape) "
                                f"(the same seed must give the same weights)")
        _check_statistics(check, name, np.asarray(w, dtype=np.float64), shape)
    report_passed(check, f"{len(cases)} draws have mean 0 and std sqrt(2 / fan_in) within "
                         f"{STD_TOLERANCE:.0%}", hidden)


def _check_weights_array(check, name, w, shape):
    if not hasattr(w, "shape") or tuple(w.shape) != shape:
        raise ExerciseError(f"{check}: for {name} return an array of shape {shape}; your "
                            f"function returned {describe(w)}")
    if w.dtype != np.float32:
        raise ExerciseError(f"{check}: for {name} return float32 weights (.astype(np.float32)), "
                            f"as the package's layers keep them; yours are {w.dtype}")


def _check_statistics(check, name, w, shape):
    fan_in = shape[1] * shape[2] * shape[3]
    expected = np.sqrt(2 / fan_in)
    std, mean = float(w.std()), float(w.mean())
    if abs(std / expected - 1) > STD_TOLERANCE:
        for description, wrong in he_std_mistakes(shape).items():
            if abs(std / wrong - 1) <= STD_TOLERANCE:
                raise ExerciseError(f"{check}: for {name} the standard deviation should be "
                                    f"sqrt(2 / {fan_in}) = {expected:.4g}, yours is {std:.4g}: "
                                    f"it looks like you {description}.")
        raise ExerciseError(f"{check}: for {name} the standard deviation should be sqrt(2 / "
                            f"fan_in) = sqrt(2 / {fan_in}) = {expected:.4g}, yours is {std:.4g}")
    if abs(mean) > 6 * expected / np.sqrt(w.size):
        raise ExerciseError(f"{check}: for {name} the weights' mean is {mean:.4g}; it should be "
                            f"0 (draw from a normal distribution centred on 0)")
    within_one_std = float(np.mean(np.abs(w) < std))
    if abs(within_one_std - 0.6827) > 0.03:
        raise ExerciseError(f"{check}: for {name} {within_one_std:.1%} of the weights lie within "
                            f"one standard deviation of 0, a normal distribution has 68.3 %: "
                            f"draw from a normal distribution (rng.standard_normal), not a "
                            f"uniform one")


def check_batch_norm_forward(batch_norm_forward, hidden=False):
    """Lesson 09.  ``batch_norm_forward(x, gamma, beta, running_mean, running_var, training,
    momentum, eps) -> (y, cache)``: x (n, c, h, w); gamma, beta and the running statistics
    (c,).  Training normalises each channel with its mean and biased variance over n, h and w,
    and updates the running statistics in place, running = (1 - momentum) running + momentum
    batch, with the unbiased variance; evaluation normalises with the running statistics.
    y = gamma x_hat + beta, x_hat = (x - mean) inv_std, inv_std = 1 / sqrt(var + eps) (c,);
    cache = (x_hat, gamma, inv_std)."""
    check = "check_batch_norm_forward"
    rng = np.random.default_rng(99 if hidden else 9)
    cases = grading_cases.batch_norm_forward() if hidden else [
        ("training, x (4, 3, 5, 6), momentum 0.1, eps 1e-5", (4, 3, 5, 6), True, 0.1, 1e-5),
        ("training, x (2, 2, 3, 3), momentum 0.1, eps 0.1", (2, 2, 3, 3), True, 0.1, 0.1),
        ("evaluation, x (3, 3, 4, 4), eps 1e-3", (3, 3, 4, 4), False, 0.1, 1e-3)]
    for name, shape, training, momentum, eps in cases:
        x, gamma, beta, running_mean, running_var = _batch_norm_inputs(rng, shape)
        mine_mean, mine_var = running_mean.copy(), running_var.copy()
        got = call_student(check, batch_norm_forward, name, x.copy(), gamma.copy(), beta.copy(),
                           mine_mean, mine_var, training, momentum, eps)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise ExerciseError(f"{check}: return (y, cache); for {name} your function returned "
                                f"{describe(got)}")
        new_mean, new_var = running_mean.copy(), running_var.copy()
        y, ref_cache = reference.batch_norm2d_forward(x, gamma, beta, new_mean, new_var,
                                                      training, momentum, eps)
        mean, var = np.array(ref_cache[2]), np.array(ref_cache[3])
        compare(check, name, "y", got[0], y,
                _forward_mistakes(x, gamma, beta, running_mean, running_var, training, mean, var, eps))
        if training:
            _check_running(check, name, momentum, (mine_mean, mine_var), (new_mean, new_var),
                           (running_mean, running_var), x)
        elif not (np.array_equal(mine_mean, running_mean) and np.array_equal(mine_var, running_var)):
            raise ExerciseError(f"{check}: for {name} your function changed the running "
                                f"statistics; evaluation only reads them, training updates them")
        _check_cache(check, name, got[1], x, mean, var, eps)
    report_passed(check, f"{len(cases)} cases agree with the loop reference "
                         f"(reference.batch_norm2d_forward), running statistics included", hidden)


def _batch_norm_inputs(rng, shape):
    """x with a different mean and scale per channel, gamma, beta and running statistics."""
    channels = shape[1]
    per_channel = (1, channels, 1, 1)
    x = (rng.standard_normal(shape) * rng.uniform(0.5, 3, channels).reshape(per_channel)
         + rng.uniform(-4, 4, channels).reshape(per_channel))
    return (x, rng.uniform(0.5, 2, channels), rng.standard_normal(channels),
            rng.standard_normal(channels), rng.uniform(0.5, 2, channels))


def _forward_mistakes(x, gamma, beta, running_mean, running_var, training, mean, var, eps):
    outside = ("added eps outside the square root: x_hat = (x - mean) / sqrt(var + eps)")
    if not training:
        return {"normalised with the batch's statistics in evaluation; evaluation uses the "
                "running statistics (the batch's own are for training only)":
                    _normalise(x, gamma, beta, x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3)), eps),
                outside: batch_norm_eps_outside(x, gamma, beta, running_mean, running_var, eps)}
    return {"took the statistics over the wrong axes: batch norm normalises each channel over "
            "the batch and the image, axis=(0, 2, 3) (not per image, not over the channels)":
                batch_norm_over_axes(x, gamma, beta, eps),
            outside: batch_norm_eps_outside(x, gamma, beta, mean, var, eps),
            "normalised with the unbiased variance (divided by M - 1); normalising uses the "
            "biased one, mean((x - mean)^2); the unbiased one is for the running variance":
                batch_norm_unbiased(x, gamma, beta, eps)}


def _normalise(x, gamma, beta, mean, var, eps):
    shape = (1, -1, 1, 1)
    return (gamma.reshape(shape) * (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
            + beta.reshape(shape))


def _check_running(check, name, momentum, mine, expected, before, x):
    count = x.shape[0] * x.shape[2] * x.shape[3]
    batch_mean, batch_var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    not_in_place = ("did not update it in place: write into the array you are given "
                    "(running_mean *= 1 - momentum; running_mean += momentum * mean), "
                    "do not bind the name to a new array")
    reversed_momentum = ("applied momentum the wrong way round: momentum weighs the NEW value, "
                         "running = (1 - momentum) running + momentum batch (PyTorch's convention)")
    compare(check, name, "running_mean (after the call)", mine[0], expected[0],
            {not_in_place: before[0],
             reversed_momentum: running_average_reversed(before[0], batch_mean, momentum)})
    unbiased = batch_var * count / (count - 1)
    compare(check, name, "running_var (after the call)", mine[1], expected[1],
            {not_in_place: before[1],
             reversed_momentum: running_average_reversed(before[1], unbiased, momentum),
             "updated it with the biased variance; the running variance takes the unbiased "
             "one, var M / (M - 1), M = n h w (as PyTorch does)":
                 (1 - momentum) * before[1] + momentum * batch_var})


def _check_cache(check, name, cache, x, mean, var, eps):
    if not isinstance(cache, (tuple, list)) or len(cache) != 3:
        raise ExerciseError(f"{check}: for {name} the cache should be the tuple (x_hat, gamma, "
                            f"inv_std); yours is {describe(cache)}")
    inv_std = 1 / np.sqrt(var + eps)
    compare(check, name, "the cache's x_hat", cache[0],
            (x - mean.reshape(1, -1, 1, 1)) * inv_std.reshape(1, -1, 1, 1), {})
    compare(check, name, "the cache's inv_std", cache[2], inv_std,
            {"stored sqrt(var + eps); inv_std is its inverse, 1 / sqrt(var + eps)": 1 / inv_std},
            shape_hint="inv_std has one value per channel, shape (c,)")


def check_batch_norm_backward(batch_norm_backward, hidden=False):
    """Lesson 09.  ``batch_norm_backward(dy, cache) -> (dx, dgamma, dbeta)``: the gradients of
    batch norm in training mode, from the cache (x_hat, gamma, inv_std) of the forward pass.
    Compared with ``ops.batch_norm2d_backward``, then checked by central differences in
    float64 (gradcheck's elementwise_check) against the forward pass."""
    check = "check_batch_norm_backward"
    rng = np.random.default_rng(98 if hidden else 8)
    cases = grading_cases.batch_norm_backward() if hidden else [
        ("x (4, 3, 5, 6)", (4, 3, 5, 6), 1e-5), ("x (2, 2, 3, 3), eps 0.1", (2, 2, 3, 3), 0.1)]
    for name, shape, eps in cases:
        x, gamma, beta, _, _ = _batch_norm_inputs(rng, shape)
        _, cache = ops.batch_norm2d_forward(x, gamma, beta, None, None, True, 0.1, eps)
        x_hat, _, inv_std, _ = cache
        dy = rng.standard_normal(shape)
        got = call_student(check, batch_norm_backward, name, dy.copy(),
                           (x_hat.copy(), gamma.copy(), inv_std.copy()))
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            raise ExerciseError(f"{check}: return the three gradients as a tuple (dx, dgamma, "
                                f"dbeta); for {name} your function returned {describe(got)}")
        dx, dgamma, dbeta = ops.batch_norm2d_backward(dy, cache)
        _compare_gradients(check, name, got, (dx, dgamma, dbeta), dy, x_hat, gamma, inv_std)
        _gradient_check(check, name, batch_norm_backward, x, gamma, beta, eps)
    report_passed(check, f"{len(cases)} cases agree with ops.batch_norm2d_backward and pass the "
                         f"elementwise gradient check", hidden)


def _compare_gradients(check, name, got, expected, dy, x_hat, gamma, inv_std):
    count = dy.size // dy.shape[1]
    dx_wrong = batch_norm_dx_mistakes(dy, x_hat, gamma, inv_std)
    compare(check, name, "dx", got[0], expected[0],
            {"treated the mean and the variance as constants (dx = gamma dy / sigma); both "
             "depend on every x of the channel, so dx = (gamma / sigma)(dy - mean(dy) - x_hat "
             "mean(dy x_hat))": dx_wrong["constants"],
             "left out the term - mean(dy), the gradient through the mean":
                 dx_wrong["without mean(dy)"],
             "left out the term - x_hat mean(dy x_hat), the gradient through the variance":
                 dx_wrong["without x_hat mean(dy x_hat)"]})
    axes_hint = "one value per channel, shape (c,): sum over n, h and w, axis=(0, 2, 3)"
    swapped = "swapped dgamma and dbeta: dgamma = sum dy x_hat, dbeta = sum dy"
    compare(check, name, "dgamma", got[1], expected[1],
            {"averaged dgamma over the n h w values instead of summing": expected[1] / count,
             swapped: expected[2]}, shape_hint=axes_hint)
    compare(check, name, "dbeta", got[2], expected[2],
            {"averaged dbeta over the n h w values instead of summing": expected[2] / count,
             swapped: expected[1]}, shape_hint=axes_hint)


def _gradient_check(check, name, batch_norm_backward, x, gamma, beta, eps):
    """Central differences of the package's forward pass against the student's backward."""
    def forward(x, gamma, beta):
        y, (x_hat, gamma, inv_std, _) = ops.batch_norm2d_forward(x, gamma, beta, None, None,
                                                                 True, 0.1, eps)
        return y, (x_hat, gamma, inv_std)
    def backward(dy, cache):
        return tuple(call_student(check, batch_norm_backward, name, dy, cache))
    report = elementwise_check(forward, backward, [x, gamma, beta], ["x", "gamma", "beta"])
    if not report.passed:
        raise ExerciseError(f"{check}: for {name} the elementwise gradient check fails:\n{report}")


def check_dropout_forward(dropout_forward, hidden=False):
    """Lesson 09.  ``dropout_forward(x, p, rng, training) -> (y, cache)``: inverted dropout
    of an array x of any shape.  In training draw u = rng.random(x.shape) once, keep the values
    where u >= p (probability 1 - p) and scale them by 1 / (1 - p): y = x mask, mask = keep /
    (1 - p), cache = mask.  In evaluation y = x (a copy) and cache = None."""
    check = "check_dropout_forward"
    rng = np.random.default_rng(97 if hidden else 7)
    cases = grading_cases.dropout() if hidden else _dropout_cases()
    for number, (name, shape, p, training) in enumerate(cases):
        seed = 70 + number + 10 * hidden
        x = rng.standard_normal(shape)
        got = call_student(check, dropout_forward, name, x.copy(), p,
                           np.random.default_rng(seed), training)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise ExerciseError(f"{check}: return (y, cache); for {name} your function returned "
                                f"{describe(got)}")
        y, (mask, _, _) = ops.dropout_forward(x, p, np.random.default_rng(seed), training)
        draws = np.random.default_rng(seed).random(shape)
        _compare_dropout_output(check, name, got[0], y, x, draws, p, training)
        _check_dropout_mask(check, name, got[1], mask, shape)
    report_passed(check, f"{len(cases)} cases agree with ops.dropout_forward", hidden)


def _dropout_cases():
    return [("training, p 0.3, x (4, 3, 8, 8)", (4, 3, 8, 8), 0.3, True),
            ("training, p 0.75, x (2, 5, 6, 6)", (2, 5, 6, 6), 0.75, True),
            ("evaluation, p 0.5, x (3, 2, 4, 4)", (3, 2, 4, 4), 0.5, False)]


def _compare_dropout_output(check, name, got, y, x, draws, p, training):
    keep = draws >= p
    dropped = x * keep / (1 - p)
    if not training:
        compare(check, name, "y", got, y,
                {"applied dropout in evaluation; there y = x: the scaling by 1 / (1 - p) in "
                 "training already keeps the expected value equal to x": [dropped, x * keep]})
        return
    mistakes = {"did not scale the kept values by 1 / (1 - p), so the expected value of y is "
                "(1 - p) x instead of x": x * keep,
                "dropped values with probability 1 - p instead of p (keep where u >= p: "
                "p is the probability of DROPPING)": dropout_with_keep_probability_p(x, draws, p)}
    if hasattr(got, "shape") and got.shape == y.shape and not _matches(got, y, mistakes):
        values = np.asarray(got, dtype=float)
        inverted = np.isclose(values, 0) | np.isclose(values, x / (1 - p))
        if inverted.all():
            raise ExerciseError(f"{check}: for {name} your y keeps values scaled by 1 / (1 - p) "
                                f"and zeroes the others, but not the ones the lesson's "
                                f"convention picks: draw u = rng.random(x.shape) once and keep "
                                f"the values where u >= p")
    compare(check, name, "y", got, y, mistakes)


def _matches(got, expected, mistakes):
    candidates = [expected] + [wrong for wrongs in mistakes.values()
                               for wrong in (wrongs if isinstance(wrongs, list) else [wrongs])]
    return any(np.allclose(np.asarray(got, dtype=float), c, rtol=1e-6, atol=1e-9) for c in candidates)


def _check_dropout_mask(check, name, cache, mask, shape):
    if mask is None:                    # nothing dropped: None, or a mask of ones
        if cache is not None:
            compare(check, name, "the cache (nothing is dropped: None, or a mask of ones)",
                    cache, np.ones(shape), {})
        return
    compare(check, name, "the cache (the mask)", cache, mask,
            {"stored the 0/1 mask; store it scaled, keep / (1 - p), so that the backward pass "
             "is dx = dy mask": (mask > 0) * 1.0})


def check_dropout_backward(dropout_backward, hidden=False):
    """Lesson 09.  ``dropout_backward(dy, cache) -> dx``: the gradient of inverted dropout,
    dx = dy mask, given the forward pass's cache: the scaled mask keep / (1 - p), or None when
    nothing was dropped (evaluation, p = 0); then dx = dy (a copy)."""
    check = "check_dropout_backward"
    rng = np.random.default_rng(96 if hidden else 6)
    cases = grading_cases.dropout() if hidden else _dropout_cases()
    for number, (name, shape, p, training) in enumerate(cases):
        x, dy = rng.standard_normal(shape), rng.standard_normal(shape)
        _, (mask, _, _) = ops.dropout_forward(x, p, np.random.default_rng(number), training)
        cache = None if mask is None else mask.copy()
        got = call_student(check, dropout_backward, name, dy.copy(), cache)
        expected = dy if mask is None else dy * mask
        mistakes = {} if mask is None else {
            "ignored the mask: the dropped values did not reach the output, so their gradient "
            "is 0, and the kept ones were scaled, so theirs is too: dx = dy mask": dy,
            "multiplied by the 0/1 pattern only; the mask already holds the scale 1 / (1 - p)":
                dy * (mask > 0),
            "scaled by 1 / (1 - p) a second time; the mask already holds it": dy * mask / (1 - p)}
        compare(check, name, "dx", got, expected, mistakes)
    report_passed(check, f"{len(cases)} cases agree with ops.dropout_backward", hidden)
