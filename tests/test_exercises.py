"""The lessons' checkers (unet_from_scratch.exercises) and the student-version generator
(unet_from_scratch.lessons), independently of the notebooks.

Each checker accepts a correct implementation written here (not the package's op under another
name, where the exercise is to write that op), rejects the unfilled stub with "not done yet",
and names the typical mistake when given a function that makes it.
"""

import json
import types

import numpy as np
import pytest

from unet_from_scratch import exercises as ex
from unet_from_scratch.teaching import mistakes
import unet_from_scratch as us
from unet_from_scratch import Adam, UNet, losses, ops, reference, submission, tiling
from unet_from_scratch.teaching import student as lessons


def stub(*args):
    raise NotImplementedError("exercise")


# --- correct implementations, written independently --------------------------------------------

def dice(pred, target):
    total = pred.sum() + target.sum()
    return 1.0 if total == 0 else 2 * (pred * target).sum() / total


def conv2d_by_loops(x, w, b, stride, padding):
    n, _, h, wi = x.shape
    c_out, _, k_h, k_w = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    h_out, w_out = (h + 2 * padding - k_h) // stride + 1, (wi + 2 * padding - k_w) // stride + 1
    y = np.empty((n, c_out, h_out, w_out))
    for i in range(h_out):
        for j in range(w_out):
            window = xp[:, :, i * stride:i * stride + k_h, j * stride:j * stride + k_w]
            y[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return y


def conv2d_backward_by_loops(dy, x, w, stride, padding):
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    k_h, k_w = w.shape[2:]
    for i in range(dy.shape[2]):
        for j in range(dy.shape[3]):
            rows, cols = slice(i * stride, i * stride + k_h), slice(j * stride, j * stride + k_w)
            dw += np.tensordot(dy[:, :, i, j], xp[:, :, rows, cols], axes=([0], [0]))
            dxp[:, :, rows, cols] += np.tensordot(dy[:, :, i, j], w, axes=([1], [0]))
    h, wi = x.shape[2:]
    return dxp[:, :, padding:padding + h, padding:padding + wi], dw, dy.sum(axis=(0, 2, 3))


def central_differences(f, x, eps):
    g = np.zeros_like(x)
    for i in range(x.size):
        old = x.flat[i]
        x.flat[i] = old + eps
        up = f(x)
        x.flat[i] = old - eps
        down = f(x)
        x.flat[i] = old
        g.flat[i] = (up - down) / (2 * eps)
    return g


def max_pool_backward(dy, x):
    dx = np.zeros_like(x)
    for index in np.ndindex(dy.shape):
        m, c, i, j = index
        window = x[m, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2]
        u, v = divmod(int(np.argmax(window)), 2)          # argmax: the first maximum
        dx[m, c, 2 * i + u, 2 * j + v] += dy[index]
    return dx


def conv_transpose2d_by_scatter(x, w, stride):
    n, c_in, h, wi = x.shape
    _, c_out, k, _ = w.shape
    y = np.zeros((n, c_out, (h - 1) * stride + k, (wi - 1) * stride + k))
    for i in range(h):
        for j in range(wi):
            y[:, :, i * stride:i * stride + k, j * stride:j * stride + k] += \
                np.tensordot(x[:, :, i, j], w, axes=([1], [0]))
    return y


def center_crop(x, height, width):
    top, left = (x.shape[2] - height) // 2, (x.shape[3] - width) // 2
    return x[:, :, top:top + height, left:left + width]


def skip_backward(d_joined, d_down):
    channels = d_down.shape[1]
    top, left = (d_down.shape[2] - d_joined.shape[2]) // 2, (d_down.shape[3] - d_joined.shape[3]) // 2
    d_encoder = d_down.copy()
    d_encoder[:, :, top:top + d_joined.shape[2], left:left + d_joined.shape[3]] += d_joined[:, :channels]
    return d_encoder, d_joined[:, channels:]


def unet_backward(model, dlogits, dropped=None):
    """The U-Net's backward pass from its blocks; ``dropped``: the path left out at the forks."""
    d = model.head.backward(dlogits)
    joined = []
    for index in reversed(range(len(model.decoders))):
        d = model.decoders[index].backward(d)
        joined.append(d)
        d = model.ups[index].backward(d[:, d.shape[1] // 2:])
    d = model.bottleneck.backward(d)
    for level in reversed(range(len(model.encoders))):
        d_down = model.pools[level].backward(d)
        d_joined = joined[level]
        d_skip = np.zeros_like(d_down)
        top, left = (d_down.shape[2] - d_joined.shape[2]) // 2, (d_down.shape[3] - d_joined.shape[3]) // 2
        d_skip[:, :, top:top + d_joined.shape[2], left:left + d_joined.shape[3]] = d_joined[:, :d_joined.shape[1] // 2]
        d = model.encoders[level].backward({None: d_down + d_skip, "skip": d_down, "down": d_skip}[dropped])
    return d


def valid_output_size(size, depth):
    for _ in range(depth):
        size = (size - 4) // 2
    size -= 4
    for _ in range(depth):
        size = 2 * size - 4
    return size


def soft_dice(logits, targets, smooth=1.0):
    p = 1 / (1 + np.exp(-logits))
    intersection, total = (p * targets).sum(), p.sum() + targets.sum()
    loss = 1 - (2 * intersection + smooth) / (total + smooth)
    dp = -(2 * targets * (total + smooth) - (2 * intersection + smooth)) / (total + smooth) ** 2
    return loss, dp * p * (1 - p)


def adam(p, g, m, v, t, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    return p - lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps), m, v


def windows(y, kernel, stride, padding, out_size):
    return [(i, (y + padding - i) // stride) for i in range(kernel)
            if (y + padding - i) % stride == 0 and 0 <= (y + padding - i) // stride < out_size]


def rle(mask):
    runs, start = [], None
    for number, value in enumerate(mask.T.ravel(), start=1):
        if value and start is None:
            start = number
        elif not value and start is not None:
            runs += [start, number - start]
            start = None
    if start is not None:
        runs += [start, mask.size + 1 - start]
    return " ".join(map(str, runs))


def tile_plan(length, tile_in, margin, period):
    tile_out = tile_in - margin
    starts = [0]
    while starts[-1] + tile_out < length:
        starts.append(starts[-1] + tile_out // period * period)
    return np.array(starts), margin // 2, margin // 2 + starts[-1] + tile_out - length


def tile_plan_flush(length, tile_in, margin, period):
    starts, before, _ = tile_plan(length, tile_in, margin, period)
    starts[-1] = max(0, length - (tile_in - margin))
    return starts, before, before + max(0, starts[-1] + tile_in - margin - length)


def tile_plan_unrounded(length, tile_in, margin, period):
    return tile_plan(length, tile_in, margin, 1)


def he_init(rng, shape, fan_in=None, scale=2.0, dtype=np.float32):
    """He's normal initialisation of conv weights; ``fan_in`` and ``scale`` to plant mistakes."""
    fan_in = fan_in if fan_in is not None else int(np.prod(shape[1:]))
    return (np.sqrt(scale / fan_in) * rng.standard_normal(shape)).astype(dtype)


def batch_norm(x, gamma, beta, running_mean, running_var, training, momentum, eps, *,
               axes=(0, 2, 3), ddof_running=1, in_place=True, eps_inside=True, new_weight=None):
    """Batch norm written per channel; the keywords plant the lesson's mistakes."""
    y, x_hat, inv_std = np.empty_like(x), np.empty_like(x), np.empty(x.shape[1])
    new_weight = momentum if new_weight is None else new_weight
    new_mean, new_var = running_mean.copy(), running_var.copy()
    for c in range(x.shape[1]):
        values = x[:, c]
        if training:
            mu, var = values.mean(), values.var()
            new_mean[c] = (1 - new_weight) * running_mean[c] + new_weight * mu
            new_var[c] = (1 - new_weight) * running_var[c] + new_weight * values.var(ddof=ddof_running)
        else:
            mu, var = running_mean[c], running_var[c]
        inv_std[c] = 1 / np.sqrt(var + eps) if eps_inside else 1 / (np.sqrt(var) + eps)
        x_hat[:, c] = (values - mu) * inv_std[c]
    if axes != (0, 2, 3):
        x_hat = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    y = x_hat * gamma[None, :, None, None] + beta[None, :, None, None]
    if in_place:
        running_mean[...], running_var[...] = new_mean, new_var
    return y, (x_hat, gamma, inv_std)


def batch_norm_grads(dy, cache, *, constants=False, through_mean=True, through_var=True, sum_axes=(0, 2, 3)):
    """dx, dgamma, dbeta of batch norm in training mode, from the chain rule through the mean and
    the variance; the keywords plant the lesson's mistakes."""
    x_hat, gamma, inv_std = cache
    count = dy.size // dy.shape[1]
    dx_hat = dy * gamma[None, :, None, None]
    dx = dx_hat * inv_std[None, :, None, None]
    if not constants:
        if through_mean:
            dx = dx - dx_hat.sum(axis=(0, 2, 3), keepdims=True) * inv_std[None, :, None, None] / count
        if through_var:
            dx = dx - x_hat * (dx_hat * x_hat).sum(axis=(0, 2, 3), keepdims=True) * inv_std[None, :, None, None] / count
    return dx, (dy * x_hat).sum(axis=sum_axes), dy.sum(axis=(0, 2, 3))


def inverted_dropout(x, p, rng, training, *, scale=True, keep_p=False, in_eval=False, unscaled_cache=False):
    """Inverted dropout with the lesson's convention; the keywords plant the lesson's mistakes."""
    if (not training and not in_eval) or p == 0:
        return x.copy(), None
    u = rng.random(x.shape)
    keep = (u < p) if keep_p else (u >= p)
    mask = keep / (1 - p) if scale else keep * 1.0
    return x * mask, (keep * 1.0 if unscaled_cache else mask)


def dropout_grad(dy, cache):
    return dy.copy() if cache is None else dy * cache


CHECKS = [(ex.check_dice_coefficient, dice), (ex.check_conv2d_forward, conv2d_by_loops),
          (ex.check_conv2d_backward, conv2d_backward_by_loops),
          (ex.check_numerical_gradient, central_differences),
          (ex.check_max_pool2d_backward, max_pool_backward),
          (ex.check_conv_transpose2d_forward, conv_transpose2d_by_scatter),
          (ex.check_center_crop, center_crop), (ex.check_skip_backward, skip_backward),
          (ex.check_unet_output_size, valid_output_size), (ex.check_unet_backward, unet_backward),
          (ex.check_soft_dice_loss, soft_dice), (ex.check_adam_step, adam),
          (ex.check_contributing_windows, windows), (ex.check_rle_encode, rle),
          (ex.check_tile_plan, tile_plan), (ex.check_he_normal_init, he_init),
          (ex.check_batch_norm_forward, batch_norm), (ex.check_batch_norm_backward, batch_norm_grads),
          (ex.check_dropout_forward, inverted_dropout), (ex.check_dropout_backward, dropout_grad)]


@pytest.mark.parametrize("checker, solution", CHECKS, ids=[c.__name__ for c, _ in CHECKS])
def test_checker_accepts_a_correct_solution(checker, solution, capsys):
    checker(solution)
    assert capsys.readouterr().out.startswith(f"\u2713 {checker.__name__}: ")


@pytest.mark.parametrize("checker", [c for c, _ in CHECKS], ids=[c.__name__ for c, _ in CHECKS])
def test_checker_rejects_the_stub(checker):
    with pytest.raises(ex.ExerciseError, match=rf"{checker.__name__}: your function still raises "
                                               r"NotImplementedError: the exercise is not done yet"):
        checker(stub)


# Functions that pass every visible case and are still wrong: the grading cases catch them.
ONLY_HIDDEN_CATCHES = [
    (ex.check_conv2d_forward, lambda x, w, b, s, p: conv2d_by_loops(x, w, b, s, min(p, 1)), "padding 2"),
    (ex.check_dice_coefficient, lambda p, t: 1.0 if t.sum() == 0 else dice(p, t), "an empty target"),
    (ex.check_adam_step, lambda p, g, m, v, t, lr, b1, b2, eps: adam(p, g, m, v, t, lr, 0.9, 0.999, 1e-8), "betas"),
    (ex.check_max_pool2d_backward,
     lambda dy, x: max_pool_backward(dy, x) if len(np.unique(x)) > 2 else np.zeros_like(x), "a constant image"),
    (ex.check_tile_plan, lambda n, t, m, p: tile_plan(n, t, m, min(p, 4)), "depth 3"),
    (ex.check_he_normal_init, lambda rng, shape: he_init(rng, shape, fan_in=shape[1] * 9), "a 5 x 5 kernel"),
    (ex.check_batch_norm_forward, lambda *a: batch_norm(*a[:6], 0.1, a[7]), "momentum 0.9"),
]


@pytest.mark.parametrize("checker, solution", CHECKS, ids=[c.__name__ for c, _ in CHECKS])
def test_checker_accepts_a_correct_solution_in_the_grading_cases(checker, solution, capsys):
    checker(solution, hidden=True)
    assert capsys.readouterr().out.startswith(f"\u2713 {checker.__name__}: grading cases: ")


@pytest.mark.parametrize("checker, wrong, case", ONLY_HIDDEN_CATCHES,
                         ids=[c.__name__ for c, _, _ in ONLY_HIDDEN_CATCHES])
def test_the_grading_cases_catch_what_the_visible_ones_miss(checker, wrong, case, capsys):
    checker(wrong)
    assert capsys.readouterr().out.startswith("\u2713")
    with pytest.raises(ex.ExerciseError, match=f"{case}.*grading case"):
        checker(wrong, hidden=True)


def flipped_kernel(x, w, b, stride, padding):
    return conv2d_by_loops(x, w[:, :, ::-1, ::-1], b, stride, padding)


def one_sided(f, x, eps):
    return np.array([(f(x + eps * np.eye(x.size)[i].reshape(x.shape)) - f(x)) / eps
                     for i in range(x.size)]).reshape(x.shape)


def split_ties(dy, x):
    dx = np.zeros_like(x)
    for m, c, i, j in np.ndindex(dy.shape):
        window = x[m, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2]
        dx[m, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2] += (window == window.max()) * dy[m, c, i, j]
    return dx


def to_last_maximum(dy, x):
    dx = np.zeros_like(x)
    for m, c, i, j in np.ndindex(dy.shape):
        window = x[m, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2]
        u, v = divmod(int(np.flatnonzero(window.ravel() == window.max())[-1]), 2)
        dx[m, c, 2 * i + u, 2 * j + v] = dy[m, c, i, j]
    return dx


def crop_extra_at_top(x, height, width):
    bottom, right = (x.shape[2] - height) // 2, (x.shape[3] - width) // 2
    return x[:, :, x.shape[2] - height - bottom:x.shape[2] - bottom, x.shape[3] - width - right:x.shape[3] - right]


def adam_without_correction(p, g, m, v, t, lr, beta1, beta2, eps):
    m, v = beta1 * m + (1 - beta1) * g, beta2 * v + (1 - beta2) * g * g
    return p - lr * m / (np.sqrt(v) + eps), m, v


def dw_by_the_transposed_product(dy, x, w, stride, padding):
    """dw = cols @ dy_matrix.T, reshaped to w's shape: the order of the product reversed."""
    dx, dw, db = conv2d_backward_by_loops(dy, x, w, stride, padding)
    return dx, dw.reshape(w.shape[0], -1).T.reshape(w.shape), db


def dw_with_channels_swapped(dy, x, w, stride, padding):
    """dw with its output and input channel axes swapped (where c_O == c_I); the other
    checks pass through unchanged, so the first case with c_O == c_I != 1 names it."""
    dx, dw, db = conv2d_backward_by_loops(dy, x, w, stride, padding)
    return dx, (dw.transpose(1, 0, 2, 3) if w.shape[0] == w.shape[1] else dw), db


def adam_returning_m_hat(p, g, m, v, t, lr, beta1, beta2, eps):
    """Adam that returns the bias-corrected moments as the state for the next step."""
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps), m_hat, v


def rle_start_end(mask, inclusive):
    """Runs written as "start end", the end the run's last pixel or the one after it."""
    numbers = [int(n) for n in rle(mask).split()]
    return " ".join(f"{s} {s + n - 1 if inclusive else s + n}" for s, n in zip(numbers[0::2], numbers[1::2]))


def at_corner(d_joined, d_down):
    d_encoder = d_down.copy()
    d_encoder[:, :, :d_joined.shape[2], :d_joined.shape[3]] += d_joined[:, :d_down.shape[1]]
    return d_encoder


def rle_by_uint8_diff(mask):
    """Runs found with np.diff on the uint8 mask itself: -1 wraps around to 255."""
    d = np.diff(np.concatenate([np.zeros(1, np.uint8), mask.T.ravel(), np.zeros(1, np.uint8)]))
    return " ".join(f"{s + 1} {e - s}" for s, e in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


MISTAKES = [
    (ex.check_conv2d_forward, flipped_kernel, "it looks like you flipped the kernel"),
    (ex.check_conv2d_forward, lambda x, w, b, s, p: conv2d_by_loops(x, w, 0 * b, s, p), "left out the bias"),
    (ex.check_conv2d_forward, lambda x, w, b, s, p: conv2d_by_loops(x, w, b, s, 0),
     r"y should have shape \(2, 4, 6, 7\), yours has shape \(2, 4, 4, 5\) \(h_O = "),
    (ex.check_conv2d_backward, lambda *a: conv2d_backward_by_loops(*a)[:2], "return the three gradients"),
    (ex.check_numerical_gradient, one_sided, "one-sided difference"),
    (ex.check_max_pool2d_backward, split_ties, "to every tied maximum"),
    (ex.check_center_crop, crop_extra_at_top, "extra row or column at the top or left"),
    (ex.check_unet_output_size, lambda size, depth: size, "That is the input size"),
    (ex.check_soft_dice_loss, lambda z, t: (soft_dice(z, t)[0], soft_dice(z, t)[1] * (1 + np.exp(-z)) ** 2 / np.exp(-z)),
     "gradient with respect to p"),
    (ex.check_adam_step, adam_without_correction, "bias corrections"),
    (ex.check_rle_encode, lambda mask: rle(mask.T), "row by row"),
    (ex.check_dice_coefficient, lambda p, t: 0.0 if p.sum() + t.sum() == 0 else dice(p, t), "the convention is 1"),
    (ex.check_contributing_windows, lambda y, k, s, p, o: windows(y, k, s, 0, o),
     r"for row 0, kernel 3, stride 1, padding 1 \(6 windows\) the pairs \(i, oy\) are \[\(0, 1\), \(1, 0\)\], yours are \[\(0, 0\)\]"),
    (ex.check_conv2d_backward, lambda dy, x, w, s, p: (conv2d_backward_by_loops(dy, x, w[:, :, ::-1, ::-1], s, p)[0],) +
     tuple(conv2d_backward_by_loops(dy, x, w, s, p)[1:]), "used w without flipping it"),
    (ex.check_conv2d_backward, lambda dy, x, w, s, p: mistakes.gradients_with_unpermuted_dy(dy, x, w, s, p) +
     (dy.sum(axis=(0, 2, 3)),), "reshaped dy .* straight to"),
    (ex.check_numerical_gradient, lambda f, x, eps: 2 * central_differences(f, x, eps), "divided by eps instead of 2 eps"),
    (ex.check_max_pool2d_backward, to_last_maximum, "to the last tied maximum"),
    (ex.check_rle_encode, lambda mask: mistakes.shift_starts(rle(mask), -1) if mask.any() else "", "starts are 0-based"),
    (ex.check_conv_transpose2d_forward, lambda x, w, s: overwriting_scatter(x, w, s), "with = instead of adding them"),
    (ex.check_unet_output_size, lambda size, depth: valid_output_size(size, depth) + 4 * 2 ** depth,
     "left out the two convolutions at the bottom"),
    (ex.check_contributing_windows, lambda y, k, s, p, o: windows(y, k, s, 0, o), "It looks like you left out the padding"),
    # the common mistakes the lessons name, each planted
    (ex.check_conv2d_backward, lambda dy, x, w, s, p: conv2d_backward_by_loops(dy, x, w, s, p)[:2] + (dy.sum(axis=(0, 2, 3)) / len(dy),),
     r"for x \(2, 3, 6, 7\).*db has the right shape but wrong values: it looks like you averaged db over the batch"),
    (ex.check_conv2d_backward, dw_by_the_transposed_product, r"dw has the right shape but wrong values: it looks like you transposed dw"),
    (ex.check_conv2d_backward, dw_with_channels_swapped, r"it looks like you transposed dw"),
    (ex.check_conv_transpose2d_forward, lambda x, w, s: conv_transpose2d_by_scatter(x, w[:, :, ::-1, ::-1], s),
     r"y has the right shape but wrong values: it looks like you flipped the kernel"),
    (ex.check_soft_dice_loss, lambda z, t: (soft_dice(z, t)[0], -soft_dice(z, t)[1]), "it looks like you flipped the sign"),
    (ex.check_soft_dice_loss, lambda z, t: (soft_dice(z, t)[0], soft_dice(z, t, smooth=0)[1]),
     "it looks like you dropped the smoothing in the gradient"),
    (ex.check_soft_dice_loss, lambda z, t: soft_dice(z, t, smooth=0), "It looks like you dropped the smoothing: add 1"),
    (ex.check_adam_step, adam_returning_m_hat, r"m has the right shape but wrong values: it looks like you returned the "
                                               r"bias-corrected m_hat"),
    (ex.check_adam_step, lambda *a: adam(*a)[:2] + (adam_returning_m_hat(*a)[2] / (1 - a[7] ** a[4]),),
     "it looks like you returned the bias-corrected v_hat"),
    (ex.check_rle_encode, lambda mask: rle_start_end(mask, inclusive=True), 'you wrote each run as "start end"'),
    (ex.check_rle_encode, lambda mask: rle_start_end(mask, inclusive=False), 'you wrote each run as "start end"'),
    (ex.check_skip_backward, lambda dj, dd: (dd, dj[:, dd.shape[1]:]), "dropped the gradient of one of the two paths"),
    (ex.check_skip_backward, lambda dj, dd: (skip_backward(dj, 0 * dd)[0], dj[:, dd.shape[1]:]),
     "dropped the gradient of one of the two paths"),
    (ex.check_skip_backward, lambda dj, dd: (skip_backward(dj, 0 * dd)[0] + dd * (skip_backward(dj, 0 * dd)[0] == 0),
                                             dj[:, dd.shape[1]:]), r"wrote the skip's gradient over d_down .* \(=\)"),
    (ex.check_skip_backward, lambda dj, dd: (at_corner(dj, dd), dj[:, dd.shape[1]:]), "top-left corner"),
    (ex.check_skip_backward, lambda dj, dd: (skip_backward(dj, dd)[0], dj[:, :dj.shape[1] - dd.shape[1]]),
     "the cropped encoder map comes first"),
    (ex.check_unet_backward, lambda model, dy: unet_backward(model, dy, dropped="skip"),
     r"for depth 1, .* dx has the right shape but wrong values: it looks like you dropped the gradient that comes back "
     r"along the skip connections"),
    (ex.check_unet_backward, lambda model, dy: unet_backward(model, dy, dropped="down"),
     "it looks like you dropped the gradient that comes up through the pooling"),
    (ex.check_unet_backward, lambda model, dy: (unet_backward(model, dy), model.head.weight.grad.__imul__(2))[0],
     r"the gradient of head.weight has the right shape \(1, 2, 1, 1\) but 2 of its 2 values are wrong"),
    (ex.check_rle_encode, rle_by_uint8_diff, r'for a small mask the encoding is .*, yours is \'\'.*wraps around to 255'),
    (ex.check_tile_plan, lambda n, t, m, p: (lambda s, b, a: (s, m, a - b + m))(*tile_plan(n, t, m, p)),
     "it looks like you padded by the whole margin on each side"),
    (ex.check_tile_plan, tile_plan_flush, "it looks like you moved the last tile back to end with the image: "
                                          "every tile must start on a multiple of the period"),
    (ex.check_tile_plan, tile_plan_unrounded, r"for an output tile \(30\) that is no multiple of the period 4, "
                                              r"your plan is wrong: it looks like you stepped by the whole output tile"),
    (ex.check_tile_plan, lambda n, t, m, p: (lambda s, b, a: (s, b, b))(*tile_plan(n, t, m, p)),
     "it looks like you padded by half the margin after the image too"),
    (ex.check_tile_plan, lambda n, t, m, p: (lambda s, b, a: (s + p, b, a))(*tile_plan(n, t, m, p)),
     r"the plan is starts \[0, 20, 40\], pad_before 8, pad_after 16; yours is starts \[2, 22, 42\]"),
    # lesson 09: He initialisation, batch norm, dropout
    (ex.check_he_normal_init, lambda rng, shape: he_init(rng, shape, fan_in=shape[0] * shape[2] * shape[3]),
     r"for w \(64, 16, 3, 3\) the standard deviation should be sqrt\(2 / 144\) = 0.1179, yours is .*: it looks like "
     r"you used fan_out"),
    (ex.check_he_normal_init, lambda rng, shape: he_init(rng, shape, scale=1.0), r"it looks like you used sqrt\(1 / fan_in\)"),
    (ex.check_he_normal_init, lambda rng, shape: (2 / np.prod(shape[1:]) * rng.standard_normal(shape)).astype(np.float32),
     "it looks like you used the variance 2 / fan_in as the standard deviation"),
    (ex.check_he_normal_init, lambda rng, shape: he_init(rng, shape, fan_in=shape[1]), "it looks like you took fan_in = c_I only"),
    (ex.check_he_normal_init, lambda rng, shape: he_init(rng, shape, dtype=np.float64), r"return float32 weights"),
    (ex.check_he_normal_init, lambda rng, shape: he_init(np.random.default_rng(), shape),
     "the weights do not come from the rng your function is given"),
    (ex.check_he_normal_init, lambda rng, shape: (rng.uniform(-1, 1, shape) * np.sqrt(6 / np.prod(shape[1:]))).astype(np.float32),
     "not a uniform one"),
    (ex.check_batch_norm_forward, lambda *a: batch_norm(*a, axes=(2, 3)),
     r"for training, x \(4, 3, 5, 6\).*y has the right shape but wrong values: it looks like you took the statistics over the wrong axes"),
    (ex.check_batch_norm_forward, lambda *a: batch_norm(*a, axes=(1, 2, 3)), "took the statistics over the wrong axes"),
    (ex.check_batch_norm_forward, lambda *a: batch_norm(*a, axes=(0, 1, 2, 3)), "took the statistics over the wrong axes"),
    (ex.check_batch_norm_forward, lambda x, g, b, rm, rv, training, m, eps: batch_norm(x, g, b, rm, rv, True, m, eps),
     r"for evaluation, .* it looks like you normalised with the batch's statistics in evaluation"),
    (ex.check_batch_norm_forward, lambda *a: batch_norm(*a, ddof_running=0),
     r"running_var \(after the call\) has the right shape but wrong values: it looks like you updated it with the biased variance"),
    (ex.check_batch_norm_forward, lambda *a: batch_norm(*a, eps_inside=False), "it looks like you added eps outside the square root"),
    (ex.check_batch_norm_forward, lambda *a: batch_norm(*a, new_weight=1 - a[6]),
     r"running_mean \(after the call\) .* it looks like you applied momentum the wrong way round"),
    (ex.check_batch_norm_forward, lambda *a: batch_norm(*a, in_place=False), "it looks like you did not update it in place"),
    (ex.check_batch_norm_forward, lambda *a: (lambda y, c: (y, (c[0], c[1], 1 / c[2])))(*batch_norm(*a)),
     r"the cache's inv_std has the right shape but wrong values: it looks like you stored sqrt\(var \+ eps\)"),
    (ex.check_batch_norm_backward, lambda dy, cache: batch_norm_grads(dy, cache, constants=True),
     r"for x \(4, 3, 5, 6\), dx has the right shape but wrong values: it looks like you treated the mean and the variance as constants"),
    (ex.check_batch_norm_backward, lambda dy, cache: batch_norm_grads(dy, cache, through_var=False),
     r"it looks like you left out the term - x_hat mean\(dy x_hat\)"),
    (ex.check_batch_norm_backward, lambda dy, cache: batch_norm_grads(dy, cache, through_mean=False),
     r"it looks like you left out the term - mean\(dy\)"),
    (ex.check_batch_norm_backward, lambda dy, cache: batch_norm_grads(dy, cache, sum_axes=(0,)),
     r"dgamma should have shape \(3,\), yours has shape \(3, 5, 6\) \(one value per channel, shape \(c,\): sum over n, h and w"),
    (ex.check_batch_norm_backward, lambda dy, cache: batch_norm_grads(dy, cache)[:2] + (dy.mean(axis=(0, 2, 3)),),
     "it looks like you averaged dbeta"),
    (ex.check_batch_norm_backward, lambda dy, cache: (lambda dx, dg, db: (dx, db, dg))(*batch_norm_grads(dy, cache)),
     "it looks like you swapped dgamma and dbeta"),
    (ex.check_dropout_forward, lambda *a: inverted_dropout(*a, scale=False),
     r"for training, p 0.3, .* it looks like you did not scale the kept values by 1 / \(1 - p\)"),
    (ex.check_dropout_forward, lambda *a: inverted_dropout(*a, keep_p=True),
     "it looks like you dropped values with probability 1 - p instead of p"),
    (ex.check_dropout_forward, lambda *a: inverted_dropout(*a, in_eval=True),
     r"for evaluation, .* it looks like you applied dropout in evaluation"),
    (ex.check_dropout_forward, lambda x, p, rng, training: (lambda keep: (x * keep / (1 - p), keep / (1 - p)))(
        rng.binomial(1, 1 - p, x.shape)), "but not the ones the lesson's convention picks: draw u = rng.random"),
    (ex.check_dropout_forward, lambda *a: inverted_dropout(*a, unscaled_cache=True), "it looks like you stored the 0/1 mask"),
    (ex.check_dropout_backward, lambda dy, cache: dy.copy(), r"for training, p 0.3, .* it looks like you ignored the mask"),
    (ex.check_dropout_backward, lambda dy, cache: dropout_grad(dy, cache) / (1 - 0.3),
     r"it looks like you scaled by 1 / \(1 - p\) a second time"),
]


def overwriting_scatter(x, w, stride):
    y = np.zeros((x.shape[0], w.shape[1], (x.shape[2] - 1) * stride + w.shape[2], (x.shape[3] - 1) * stride + w.shape[3]))
    for i in range(x.shape[2]):
        for j in range(x.shape[3]):
            y[:, :, i * stride:i * stride + w.shape[2], j * stride:j * stride + w.shape[3]] = \
                np.tensordot(x[:, :, i, j], w, axes=([1], [0]))
    return y


@pytest.mark.parametrize("checker, wrong, message", MISTAKES,
                         ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(MISTAKES)])
def test_checker_names_the_mistake(checker, wrong, message):
    with pytest.raises(ex.ExerciseError, match=message):
        checker(wrong)


@pytest.mark.parametrize("checker, solution, as_list", [
    (ex.check_conv2d_backward, conv2d_backward_by_loops, lambda r: list(r)),
    (ex.check_soft_dice_loss, soft_dice, lambda r: [np.float32(r[0]), r[1].astype(np.float32)]),
    (ex.check_adam_step, adam, lambda r: list(r)),
])
def test_lists_and_float32_results_are_accepted(checker, solution, as_list):
    checker(lambda *args: as_list(solution(*args)))


def adam_by_the_optimizer(p, g, m, v, t, lr, beta1, beta2, eps):
    from unet_from_scratch.nn import Parameter
    parameter = Parameter(p.copy())
    adam = Adam([parameter], lr=lr, betas=(beta1, beta2), eps=eps)
    adam.t = t - 1
    adam.state["exp_avg"][0][...], adam.state["exp_avg_sq"][0][...] = m, v
    parameter.grad[...] = g
    adam.step()
    return parameter.data, adam.state["exp_avg"][0], adam.state["exp_avg_sq"][0]


def copied(function):
    """The package's function under another name, made from its code object."""
    return types.FunctionType(function.__code__, function.__globals__, "mine", function.__defaults__)


def transposed_by_conv_backward(x, w, stride):
    n, _, h, wi = x.shape
    y_shape = (n, w.shape[1], (h - 1) * stride + w.shape[2], (wi - 1) * stride + w.shape[3])
    return ops.conv2d_backward(x, ops.conv2d_forward(np.zeros(y_shape), w, None, stride, 0)[1])[0]


DELEGATIONS = [
    (ex.check_dice_coefficient, lambda p, t: float(us.dice_per_image(p[None], t[None])[0]), "metrics.py",
     "the Dice coefficient"),
    (ex.check_conv2d_forward, lambda x, w, b, s, p: ops.conv2d_forward(x, w, b, s, p)[0], "ops/conv2d.py",
     "the convolution"),
    (ex.check_conv2d_forward, lambda x, w, b, s, p: reference.conv2d_forward(x, w, b, s, p)[0], "reference.py",
     "the convolution"),
    (ex.check_conv2d_forward, lambda x, w, b, s, p: copied(ops.conv2d_forward)(x, w, b, s, p)[0], "ops/conv2d.py",
     "the convolution"),
    (ex.check_conv2d_backward, lambda dy, x, w, s, p: ops.conv2d_backward(dy, ops.conv2d_forward(x, w, None, s, p)[1]),
     "ops/conv2d.py", "the convolution's backward pass"),
    (ex.check_max_pool2d_backward, lambda dy, x: ops.max_pool2d_backward(dy, ops.max_pool2d_forward(x, 2)[1]),
     "ops/max_pool2d.py", "the pooling backward pass"),
    (ex.check_conv_transpose2d_forward, lambda x, w, s: ops.conv_transpose2d_forward(x, w, None, s, 0)[0],
     "ops/conv_transpose2d.py", "the transposed convolution"),
    (ex.check_conv_transpose2d_forward, transposed_by_conv_backward, "ops/conv2d.py", "the transposed convolution"),
    (ex.check_center_crop, lambda x, h, w: ops.center_crop_forward(x, (h, w))[0], "ops/center_crop.py",
     "the center crop"),
    (ex.check_skip_backward, lambda dj, dd: (ops.center_crop_backward(ops.concat_backward(dj, ops.concat_forward(
        np.zeros((len(dd), dd.shape[1], *dj.shape[2:])), np.zeros((len(dd), dj.shape[1] - dd.shape[1], *dj.shape[2:])))[1])[0],
        ops.center_crop_forward(dd, dj.shape[2:])[1]) + dd, dj[:, dd.shape[1]:]), "ops/concat.py",
     "the skip connection's backward pass"),
    (ex.check_skip_backward, lambda dj, dd: (reference.center_crop_backward(
        dj[:, :dd.shape[1]], reference.center_crop_forward(dd, dj.shape[2:])[1]) + dd, dj[:, dd.shape[1]:]),
     "reference.py", "the skip connection's backward pass"),
    (ex.check_unet_backward, lambda model, dy: model.backward(dy), "model.py", "the network's backward pass"),
    (ex.check_unet_output_size,
     lambda size, depth: UNet(depth=depth, base_channels=1, padding="valid").output_size(size, size)[0],
     "model.py", "the output size"),
    (ex.check_soft_dice_loss, lambda z, t: losses.dice_loss_forward(z, t, smooth=1.0, reduction="batch")[0],
     "losses.py", "the soft Dice loss and its gradient"),
    (ex.check_adam_step, adam_by_the_optimizer, "optim.py", "the Adam step"),
    (ex.check_rle_encode, lambda mask: submission.rle_encode(mask), "submission.py", "the run-length encoding"),
    (ex.check_tile_plan, lambda n, t, m, p: (lambda a: (a.starts, a.pad_before, a.pad_after))(
        tiling.plan_axis(tiling.Geometry(None, p, m), n, t)), "tiling.py", "the overlap-tile plan"),
    (ex.check_tile_plan, lambda n, t, m, p: (lambda s: (s, m // 2, m // 2 + s[-1] + t - m - n))(
        tiling.tile_starts(n, t - m, (t - m) // p * p)), "tiling.py", "the overlap-tile plan"),
    (ex.check_he_normal_init, lambda rng, shape: us.nn.he_normal(rng, shape, int(np.prod(shape[1:]))), "nn.py",
     "the He initialisation"),
    (ex.check_he_normal_init, lambda rng, shape: us.nn.Conv2d(shape[1], shape[0], shape[2], rng=rng).weight.data,
     "nn.py", "the He initialisation"),
    (ex.check_batch_norm_forward, lambda x, g, b, rm, rv, training, m, eps: (lambda y, c: (y, c[:3]))(
        *ops.batch_norm2d_forward(x, g, b, rm, rv, training, m, eps)), "ops/batch_norm2d.py", "batch normalisation"),
    (ex.check_batch_norm_forward, lambda x, g, b, rm, rv, training, m, eps: reference.batch_norm2d_forward(
        x, g, b, rm, rv, training, m, eps), "reference.py", "batch normalisation"),
    (ex.check_batch_norm_backward, lambda dy, cache: ops.batch_norm2d_backward(dy, tuple(cache) + (True,)),
     "ops/batch_norm2d.py", "batch normalisation's backward pass"),
    (ex.check_dropout_forward, lambda x, p, rng, training: (lambda y, c: (y, c[0]))(*ops.dropout_forward(x, p, rng, training)),
     "ops/dropout.py", "dropout"),
    (ex.check_dropout_forward, lambda x, p, rng, training: (us.nn.Dropout(p, rng=rng).train(training).forward(x), None),
     "nn.py", "dropout"),
    (ex.check_dropout_backward, lambda dy, cache: ops.dropout_backward(dy, (cache, dy.shape, dy.dtype)),
     "ops/dropout.py", "dropout's backward pass"),
]


@pytest.mark.parametrize("checker, delegating, where, what", DELEGATIONS,
                         ids=[f"{c.__name__}-{i}" for i, (c, *_) in enumerate(DELEGATIONS)])
def test_checker_refuses_the_packages_own_implementation(checker, delegating, where, what):
    """A function that calls the package's implementation of the exercise -- directly,
    through a copy of its code or through another op built on it -- fails, and says why."""
    with pytest.raises(ex.ExerciseError, match=rf"your function calls the package's own .* \(in "
                                               rf"unet_from_scratch/{where}\)\. This exercise asks you "
                                               rf"to write {what} yourself"):
        checker(delegating)


def test_the_lessons_helpers_and_the_rest_of_the_package_stay_allowed():
    """im2col and col2im are the convolution backward's helpers: a solution built on them
    passes; so does one that uses an unrelated part of the package."""
    def with_im2col(dy, x, w, stride, padding):
        c_out, c_in, k_h, k_w = w.shape
        cols = ops.im2col(x, (k_h, k_w), (stride, stride), (padding, padding))
        dy_matrix = dy.transpose(1, 0, 2, 3).reshape(c_out, -1)
        dw = (dy_matrix @ cols.reshape(c_in * k_h * k_w, -1).T).reshape(w.shape)
        dcols = (w.reshape(c_out, -1).T @ dy_matrix).reshape(cols.shape)
        return ops.col2im(dcols, x.shape, (stride, stride), (padding, padding)), dw, dy.sum(axis=(0, 2, 3))
    ex.check_conv2d_backward(with_im2col)
    ex.check_rle_encode(lambda mask: rle(ops.relu_forward(mask.astype(float))[0]))


def test_the_unet_backward_checker_runs_the_directional_check(monkeypatch):
    """A backward pass that agrees with UNet.backward passes only if the directional check
    passes too: with the comparison made blind, a wrong gradient is still caught there."""
    from unet_from_scratch.teaching import exercises_network
    monkeypatch.setattr(exercises_network, "compare", lambda *args, **kwargs: None)
    with pytest.raises(ex.ExerciseError, match="the directional gradient check fails"):
        ex.check_unet_backward(lambda model, dy: unet_backward(model, dy, dropped="skip"))
    ex.check_unet_backward(unet_backward)


def test_the_batch_norm_backward_checker_runs_the_gradient_check(monkeypatch):
    """With the comparison with ops.batch_norm2d_backward made blind, a backward pass that
    treats the mean and the variance as constants is still caught by central differences."""
    from unet_from_scratch.teaching import exercises_normalization
    monkeypatch.setattr(exercises_normalization, "compare", lambda *args, **kwargs: None)
    with pytest.raises(ex.ExerciseError, match="the elementwise gradient check fails"):
        ex.check_batch_norm_backward(lambda dy, cache: batch_norm_grads(dy, cache, constants=True))
    ex.check_batch_norm_backward(batch_norm_grads)


def test_a_restore_by_adding_back_is_accepted():
    """x + eps - 2 eps + eps is not always exactly x in floating point; that is not a change."""
    def restores_by_arithmetic(f, x, eps):
        g = np.zeros_like(x)
        for i in range(x.size):
            x.flat[i] += eps
            up = f(x)
            x.flat[i] -= 2 * eps
            down = f(x)
            x.flat[i] += eps
            g.flat[i] = (up - down) / (2 * eps)
        return g
    ex.check_numerical_gradient(restores_by_arithmetic)


def test_numerical_gradient_checker_refuses_to_have_x_changed():
    def leaves_x_nudged(f, x, eps):
        g = central_differences(f, x, eps)
        x[0] += eps
        return g
    with pytest.raises(ex.ExerciseError, match="your function changed x"):
        ex.check_numerical_gradient(leaves_x_nudged)


def test_wrong_values_report_the_worst_index():
    def off_by_one_pixel(x, w, b, stride, padding):
        y = conv2d_by_loops(x, w, b, stride, padding)
        y[0, 0, 1, 2] += 1
        return y
    with pytest.raises(ex.ExerciseError, match=r"1 of its 9 values are wrong; the largest error is at "
                                               r"index \(0, 0, 1, 2\)"):
        ex.check_conv2d_forward(off_by_one_pixel)


def test_an_exception_in_the_students_function_names_the_case():
    def broken(x, w, b, stride, padding):
        return x @ w
    with pytest.raises(ex.ExerciseError, match=r"raised ValueError for x \(1, 1, 5, 5\), w \(1, 1, 3, 3\)"):
        ex.check_conv2d_forward(broken)


# --- the student versions ---------------------------------------------------------------------

SOLUTION_CELL = """def f(x):
    \"\"\"Doc.\"\"\"
    y = 1
    ### BEGIN SOLUTION
    return x + y
    ### END SOLUTION

value = 3"""


def test_student_source_replaces_the_block_at_its_indentation():
    assert lessons.student_source(SOLUTION_CELL) == (
        'def f(x):\n    """Doc."""\n    y = 1\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\nvalue = 3')


@pytest.mark.parametrize("text, expected", [
    ("a = 1\n### BEGIN SOLUTION\nb = 2\n### END SOLUTION", "a = 1\n# YOUR CODE HERE\nraise NotImplementedError()"),
    ("a = 1\n### BEGIN SOLUTION\nb = 2\n### END SOLUTION\n", "a = 1\n# YOUR CODE HERE\nraise NotImplementedError()\n"),
    ("a = 1\r\n  ### BEGIN SOLUTION\r\nb = 2\n### END SOLUTION\n\x0cd = 4\n",
     "a = 1\r\n  # YOUR CODE HERE\n  raise NotImplementedError()\n\x0cd = 4\n"),
])
def test_student_source_keeps_everything_else_exactly(text, expected):
    """Lines are split at \\n as nbgrader splits them: a final newline or its absence, \\r and
    odd separators are kept; only the marker lines and what lies between them go."""
    assert lessons.student_source(text) == expected
    assert lessons.count_solutions({"cells": [{"cell_type": "code", "source": text}]}) == 1


@pytest.mark.parametrize("text, message", [
    ("### BEGIN SOLUTION\nx = 1", "BEGIN SOLUTION without ### END SOLUTION"),
    ("x = 1\n### END SOLUTION", "line 2: ### END SOLUTION without ### BEGIN SOLUTION"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "line 2: ### BEGIN SOLUTION inside another"),
    ("x = 1\nc = '### BEGIN SOLUTION is text'", "line 2: marker text inside a longer line"),
])
def test_student_source_refuses_unbalanced_or_ambiguous_markers(text, message):
    """nbgrader takes any line holding the marker text for a marker; the generator refuses
    such a line rather than read it differently."""
    with pytest.raises(ValueError, match=f"lessons: lesson.ipynb, cell 3.*{message}"):
        lessons.student_source(text, where="lesson.ipynb, cell 3")


def nbgrader_cell(cell_type, source, **meta):
    cell = {"cell_type": cell_type, "metadata": {}, "source": source.splitlines(keepends=True)}
    if cell_type == "code":
        cell.update(execution_count=4, outputs=[{"output_type": "stream", "name": "stdout", "text": "7"}])
    if meta:
        cell["metadata"]["nbgrader"] = dict(dict(grade=False, solution=False, locked=False), **meta)
    return cell


def write_lessons(folder, cells):
    folder.mkdir()
    notebook = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 4}
    (folder / "00_x.ipynb").write_text(json.dumps(notebook))
    return notebook


def test_student_notebook_as_nbgrader_makes_it_and_the_instructor_version_untouched(tmp_path):
    cells = [nbgrader_cell("markdown", "# Text", grade_id="text", locked=True),
             nbgrader_cell("code", SOLUTION_CELL, grade_id="exercise", solution=True),
             nbgrader_cell("code", "x = 2", grade_id="whole", solution=True),
             nbgrader_cell("code", "check(f)\n### BEGIN HIDDEN TESTS\ncheck(f, hidden=True)\n### END HIDDEN TESTS",
                           grade_id="check", grade=True, locked=True, points=1),
             nbgrader_cell("code", "print(1)"),
             nbgrader_cell("markdown", "**Question 1.** Why?\n\n### BEGIN SOLUTION\n**Answer.** Because.\n### END SOLUTION",
                           grade_id="question_1", solution=True, grade=True, points=0),
             nbgrader_cell("markdown", "An answer cell without markers", grade_id="question_2", solution=True, grade=True, points=0)]
    notebook = write_lessons(tmp_path / "lessons", cells)
    written = lessons.write_student_lessons(tmp_path / "out", tmp_path / "lessons", log=None)
    student = json.loads(written[0].read_text())["cells"]
    assert ["".join(cell["source"]) for cell in student] == [
        "# Text", lessons.student_source(SOLUTION_CELL), "# YOUR CODE HERE\nraise NotImplementedError()",
        "check(f)", "print(1)", "**Question 1.** Why?\n\nYOUR ANSWER HERE", "YOUR ANSWER HERE"]
    assert [(cell["metadata"].get("editable"), cell["metadata"].get("deletable")) for cell in student] == [
        (False, False), (None, False), (None, False), (False, False), (None, None), (None, False), (None, False)]
    assert lessons.count_solutions(notebook) == 1 and lessons.count_solutions(notebook, "markdown") == 1
    assert all(cell["outputs"] == [] and cell["execution_count"] is None
               for cell in student if cell["cell_type"] == "code")
    assert json.loads((tmp_path / "lessons" / "00_x.ipynb").read_text()) == notebook


@pytest.mark.parametrize("cell, message", [
    (nbgrader_cell("code", SOLUTION_CELL), "a solution block in a cell that is not a solution cell"),
    (nbgrader_cell("code", "### BEGIN HIDDEN TESTS\nx\n### END HIDDEN TESTS", grade_id="a", solution=True),
     "hidden tests in a cell that is not an autograded test cell"),
])
def test_student_notebook_refuses_markers_where_nbgrader_refuses_them(tmp_path, cell, message):
    write_lessons(tmp_path / "lessons", [cell])
    with pytest.raises(ValueError, match=f"00_x.ipynb, cell 0: {message}"):
        lessons.write_student_lessons(tmp_path / "out", tmp_path / "lessons", log=None)
    assert not (tmp_path / "out").exists()


def test_lessons_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="lessons: no lessons folder at"):
        lessons.lesson_paths(tmp_path / "missing")
    with pytest.raises(ValueError, match="holds no notebooks named like 00_name.ipynb"):
        lessons.lesson_paths(tmp_path)
    (tmp_path / "00_bad.ipynb").write_text("{not json")
    with pytest.raises(ValueError, match="00_bad.ipynb is not a notebook"):
        lessons.write_student_lessons(tmp_path / "out", tmp_path, log=None)
