"""Losses against loop definitions written here, their gradients against finite differences,
their behaviour at the extremes; metrics on small masks worked out by hand; every bad input."""

import math
import re

import numpy as np
import pytest

from unet_from_scratch import losses, metrics
from unet_from_scratch.backend import asnumpy, to_device
from unet_from_scratch.gradcheck import directional_check, elementwise_check
from unet_from_scratch.losses import (LOSSES, bce_with_logits_backward, bce_with_logits_forward,
                                      dice_bce_loss_backward, dice_bce_loss_forward,
                                      dice_loss_backward, dice_loss_forward)
from unet_from_scratch.metrics import dice_per_image, iou_per_image, mean_dice, mean_iou
from conftest import random_array


# --- loop definitions: plain Python, one element at a time, float64 ----------------------

def loop_sigmoid(v):
    if v >= 0:
        return 1 / (1 + math.exp(-v))
    return math.exp(v) / (1 + math.exp(v))


def loop_dice_loss(x, t, smooth=1.0, reduction="image"):
    """1 - mean over groups of (2 sum p t + s) / (sum p + sum t + s); a group: an image or the batch."""
    n = x.shape[0]
    groups = [[i] for i in range(n)] if reduction == "image" else [list(range(n))]
    scores = []
    for images in groups:
        intersection = total = 0.0
        for i in images:
            for v, w in zip(x[i].ravel().tolist(), t[i].ravel().tolist()):
                p = loop_sigmoid(v)
                intersection += p * w
                total += p + w
        scores.append((2 * intersection + smooth) / (total + smooth))
    return 1 - sum(scores) / len(scores)


def loop_bce(x, t):
    """The textbook formula, -[t log p + (1 - t) log(1 - p)], averaged: fine for moderate logits."""
    terms = []
    for v, w in zip(x.ravel().tolist(), t.ravel().tolist()):
        p = loop_sigmoid(v)
        terms.append(-(w * math.log(p) + (1 - w) * math.log(1 - p)))
    return sum(terms) / len(terms)


def make_batch(rng, shape=(3, 2, 3, 4), dtype=np.float64, soft=False):
    """Logits and targets; the targets of image 1 are all zero (an image with no nerve)."""
    x = random_array(rng, shape, dtype) * 2
    t = rng.random(shape) if soft else (rng.random(shape) > 0.6)
    t = t.astype(dtype)
    t[1] = 0
    return x, t


def dice_bce_loop(x, t, smooth=1.0, reduction="image", dice_weight=0.5, bce_weight=0.5):
    return dice_weight * loop_dice_loss(x, t, smooth, reduction) + bce_weight * loop_bce(x, t)


# --- forward against the loops ----------------------------------------------------------

@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("smooth", [1.0, 1e-3])
@pytest.mark.parametrize("reduction", ["image", "batch"])
def test_dice_loss_matches_loop(rng, reduction, smooth, soft):
    x, t = make_batch(rng, soft=soft)
    loss, _ = dice_loss_forward(x, t, smooth=smooth, reduction=reduction)
    assert loss.shape == () and loss.dtype == np.float64
    assert abs(float(loss) - loop_dice_loss(x, t, smooth, reduction)) < 1e-10


def test_dice_loss_reductions_differ_and_image_is_per_image_mean(rng):
    x, t = make_batch(rng)
    per_image = [1 - loop_dice_loss(x[i:i + 1], t[i:i + 1]) for i in range(len(x))]
    image, _ = dice_loss_forward(x, t, reduction="image")
    batch, _ = dice_loss_forward(x, t, reduction="batch")
    assert abs(float(image) - (1 - np.mean(per_image))) < 1e-12
    assert abs(float(image) - float(batch)) > 1e-3


@pytest.mark.parametrize("soft", [False, True])
def test_bce_matches_naive_loop(rng, soft):
    x, t = make_batch(rng, soft=soft)
    loss, _ = bce_with_logits_forward(x, t)
    assert loss.shape == () and loss.dtype == np.float64
    assert abs(float(loss) - loop_bce(x, t)) < 1e-10


@pytest.mark.parametrize("reduction", ["image", "batch"])
def test_dice_bce_is_the_weighted_sum(rng, reduction):
    x, t = make_batch(rng)
    loss, _ = dice_bce_loss_forward(x, t, dice_weight=0.3, bce_weight=0.7, smooth=0.5,
                                    reduction=reduction)
    assert abs(float(loss) - dice_bce_loop(x, t, 0.5, reduction, 0.3, 0.7)) < 1e-10


def test_losses_table_names_the_three_pairs():
    assert LOSSES == {"dice": (dice_loss_forward, dice_loss_backward),
                      "bce": (bce_with_logits_forward, bce_with_logits_backward),
                      "dice+bce": (dice_bce_loss_forward, dice_bce_loss_backward)}


# --- gradients --------------------------------------------------------------------------

LOSS_OPTIONS = [
    ("dice", {"reduction": "image"}),
    ("dice", {"reduction": "batch", "smooth": 0.1}),
    ("bce", {}),
    ("dice+bce", {"reduction": "image"}),
    ("dice+bce", {"reduction": "batch", "dice_weight": 0.8, "bce_weight": 0.2}),
]


def bound(name, targets, options):
    """The loss as a gradcheck op of (logits, targets=None): targets bound, no gradient for them."""
    forward, backward = LOSSES[name]
    return (lambda x, _targets: forward(x, targets, **options)), backward


@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("name, options", LOSS_OPTIONS)
def test_loss_gradients_elementwise(rng, name, options, soft):
    x, t = make_batch(rng, soft=soft)
    forward, backward = bound(name, t, options)
    report = elementwise_check(forward, backward, [x, None], ["logits", "targets"], rtol=1e-6)
    report.raise_if_failed()


@pytest.mark.parametrize("name, options", LOSS_OPTIONS)
def test_loss_gradients_directional(rng, name, options):
    x, t = make_batch(rng, shape=(4, 1, 8, 8))
    forward, backward = bound(name, t, options)
    report = directional_check(forward, backward, [x, None], ["logits", "targets"], rtol=1e-6)
    report.raise_if_failed()


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_backward_scales_with_dloss(rng, name):
    forward, backward = LOSSES[name]
    x, t = make_batch(rng)
    _, cache = forward(x, t)
    once, no_target_grad = backward(1.0, cache)
    assert no_target_grad is None
    np.testing.assert_allclose(backward(2.5, cache)[0], 2.5 * once, rtol=1e-14)
    np.testing.assert_allclose(backward(np.array(2.5), cache)[0], 2.5 * once, rtol=1e-14)


# --- dtypes and the extremes ------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(LOSSES))
def test_float32_stays_float32_and_agrees_with_float64(rng, name):
    forward, backward = LOSSES[name]
    x, t = make_batch(rng)
    loss64, cache64 = forward(x, t)
    loss32, cache32 = forward(x.astype(np.float32), t.astype(np.float32))
    assert isinstance(loss32, np.ndarray) and loss32.shape == () and loss32.dtype == np.float32
    d32 = backward(1.0, cache32)[0]
    assert d32.dtype == np.float32
    assert backward(np.float64(1.0), cache32)[0].dtype == np.float32     # a NumPy scalar too
    assert abs(float(loss32) - float(loss64)) < 1e-6
    np.testing.assert_allclose(d32, backward(1.0, cache64)[0], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_huge_logits_give_finite_loss_and_gradients(rng, name, dtype):
    forward, backward = LOSSES[name]
    x, t = make_batch(rng, dtype=dtype)
    x = np.where(rng.random(x.shape) > 0.5, 1000, -1000).astype(dtype)
    with np.errstate(over="raise", divide="raise", invalid="raise"):     # underflow to 0 is fine
        loss, cache = forward(x, t)
        dx, _ = backward(1.0, cache)
    assert loss.dtype == dtype and dx.dtype == dtype
    assert np.isfinite(float(loss)) and np.all(np.isfinite(dx))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dice_loss_of_perfect_and_opposite_predictions(rng, dtype):
    _, t = make_batch(rng, shape=(3, 1, 16, 16), dtype=dtype)
    perfect = np.where(t > 0.5, 1000, -1000).astype(dtype)
    for reduction in ("image", "batch"):
        assert float(dice_loss_forward(perfect, t, reduction=reduction)[0]) < 1e-6
        # Opposite: no overlap, so dice_g = s / (S_g + s) with S_g >= 100 in each image here.
        assert float(dice_loss_forward(-perfect, t, reduction=reduction)[0]) > 0.99


def test_bce_of_perfect_and_opposite_predictions(rng):
    _, t = make_batch(rng)
    perfect = np.where(t > 0.5, 1000.0, -1000.0)
    assert float(bce_with_logits_forward(perfect, t)[0]) == 0.0
    assert float(bce_with_logits_forward(-perfect, t)[0]) == pytest.approx(1000.0, rel=1e-12)


def test_dice_gradient_pushes_towards_the_targets(rng):
    x, t = make_batch(rng)
    dx, _ = dice_loss_backward(1.0, dice_loss_forward(x, t)[1])
    assert np.all(dx[t == 1] < 0) and np.all(dx[t == 0] > 0)


# --- metrics ----------------------------------------------------------------------------

def masks(*images):
    """A batch (N, 2, 3) of 0/1 float masks from N strings of 6 characters, '#' for foreground."""
    return np.array([[float(c == "#") for c in s] for s in images]).reshape(len(images), 2, 3)


# image:        both empty | pred empty | partial overlap | identical | target empty
PRED = masks("......", "......", "###...", ".##.#.", "#.....")
TARGET = masks("......", "##....", "#..#..", ".##.#.", "......")
# partial: |P| = 3, |T| = 2, |P∩T| = 1, |P∪T| = 4: Dice 2/5, IoU 1/4.
EXPECTED_DICE = [1.0, 0.0, 0.4, 1.0, 0.0]
EXPECTED_IOU = [1.0, 0.0, 0.25, 1.0, 0.0]


def test_dice_and_iou_of_hand_worked_masks():
    dice = dice_per_image(PRED, TARGET)
    assert isinstance(dice, np.ndarray) and dice.shape == (5,) and dice.dtype == np.float64
    np.testing.assert_allclose(dice, EXPECTED_DICE, rtol=0, atol=1e-15)
    np.testing.assert_allclose(iou_per_image(PRED, TARGET), EXPECTED_IOU, rtol=0, atol=1e-15)
    assert isinstance(mean_dice(PRED, TARGET), float)
    assert mean_dice(PRED, TARGET) == pytest.approx(0.48, abs=1e-15)
    assert mean_iou(PRED, TARGET) == pytest.approx(0.45, abs=1e-15)


def test_metrics_take_n_h_w_and_n_c_h_w():
    pred, target = PRED * 0.9, TARGET                         # probabilities
    expected = dice_per_image(pred, target)
    np.testing.assert_array_equal(dice_per_image(pred[:, None], target[:, None]), expected)
    np.testing.assert_array_equal(iou_per_image(pred[:, None], target[:, None]),
                                  iou_per_image(pred, target))
    # Two channels: one image's score counts the pixels of both.
    two = dice_per_image(np.stack([pred[2:3], pred[3:4]], axis=1),
                         np.stack([target[2:3], target[3:4]], axis=1))
    assert two.shape == (1,) and two[0] == pytest.approx(2 * (1 + 3) / (3 + 3 + 2 + 3))


def test_threshold_is_strict_and_adjustable():
    target = masks("##....")
    pred = masks("##....") * 0.5                              # exactly the threshold: background
    assert mean_dice(pred, target) == 0.0
    assert mean_dice(pred + 1e-6, target) == 1.0
    assert mean_dice(pred, target, threshold=0.4) == 1.0
    logits = np.where(target > 0, 3.0, -3.0)                  # threshold 0 reads logits
    assert mean_dice(logits, target, threshold=0.0) == 1.0


def test_targets_of_any_dtype_are_binarised_at_one_half():
    expected = dice_per_image(PRED, TARGET)
    for target in (TARGET.astype(bool), TARGET.astype(np.uint8) * 255, TARGET * 0.9):
        np.testing.assert_array_equal(dice_per_image(PRED, target), expected)
    np.testing.assert_array_equal(dice_per_image(PRED.astype(bool), TARGET), expected)
    assert mean_dice(PRED, TARGET * 0.4) == pytest.approx((1 + 1 + 0 + 0 + 0) / 5)


# --- bad input --------------------------------------------------------------------------

def raises(error, message):
    return pytest.raises(error, match=re.escape(message))


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_forward_refuses_bad_input(rng, name):
    forward, _ = LOSSES[name]
    op = forward.__name__
    x, t = make_batch(rng)
    with raises(TypeError, f"{op}: logits must be a NumPy or CuPy array, got list"):
        forward(x.tolist(), t)
    with raises(TypeError, f"{op}: logits must have a floating-point dtype (float32 or float64), "
                           f"got int64"):
        forward(x.astype(np.int64), t)
    with raises(TypeError, f"{op}: targets must have a floating-point dtype (float32 or float64), "
                           f"got bool"):
        forward(x, t > 0.5)
    with raises(TypeError, f"{op}: targets has dtype float32 but logits has dtype float64"):
        forward(x, t.astype(np.float32))
    with raises(ValueError, f"{op}: logits and targets must have the same shape, got "
                            f"logits.shape=(3, 2, 3, 4), targets.shape=(3, 1, 3, 4)"):
        forward(x, t[:, :1])
    with raises(ValueError, f"{op}: logits must be a non-empty batch (N, ...) such as "
                            f"(N, C, H, W), got logits.shape=(0, 2, 3, 4)"):
        forward(x[:0], t[:0])
    with raises(ValueError, "got logits.shape=(5,)"):
        forward(x.ravel()[:5], t.ravel()[:5])
    with raises(ValueError, f"{op}: targets must lie in [0, 1], got values from 0.0 to 255.0"):
        forward(x, t * 255)
    with raises(ValueError, f"{op}: targets must lie in [0, 1], got values from -1.0 to 0.0"):
        forward(x, t - 1)
    t_nan = t.copy()
    t_nan[0, 0, 0, 0] = np.nan
    with raises(ValueError, f"{op}: targets must lie in [0, 1]"):
        forward(x, t_nan)


def test_dice_options_are_checked(rng):
    x, t = make_batch(rng)
    for f in (dice_loss_forward, dice_bce_loss_forward):
        op = f.__name__
        with raises(ValueError, f"{op}: reduction must be one of ('image', 'batch'), got 'mean'"):
            f(x, t, reduction="mean")
        with raises(ValueError, f"{op}: smooth must be a finite number > 0, got 0.0"):
            f(x, t, smooth=0)
        with raises(TypeError, f"{op}: smooth must be a real number, got str"):
            f(x, t, smooth="1")
    op = "dice_bce_loss_forward"
    with raises(ValueError, f"{op}: dice_weight must be a finite number >= 0, got -0.5"):
        dice_bce_loss_forward(x, t, dice_weight=-0.5)
    with raises(ValueError, f"{op}: bce_weight must be a finite number >= 0, got nan"):
        dice_bce_loss_forward(x, t, bce_weight=float("nan"))
    with raises(TypeError, f"{op}: bce_weight must be a real number, got NoneType"):
        dice_bce_loss_forward(x, t, bce_weight=None)
    with raises(ValueError, f"{op}: dice_weight and bce_weight are both 0; the loss would be 0"):
        dice_bce_loss_forward(x, t, dice_weight=0, bce_weight=0.0)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_backward_refuses_bad_dloss(rng, name):
    forward, backward = LOSSES[name]
    _, cache = forward(*make_batch(rng))
    op = backward.__name__
    with raises(TypeError, f"{op}: dloss must be a real number, got str"):
        backward("1", cache)
    with raises(ValueError, f"{op}: dloss must be a number or a 0-d array (the loss is a "
                            f"scalar), got dloss.shape=(1,)"):
        backward(np.ones(1), cache)
    with raises(TypeError, f"{op}: dloss has dtype float32 but the forward pass ran in float64; "
                           f"pass a Python float or cast it explicitly"):
        backward(np.array(1.0, dtype=np.float32), cache)


@pytest.mark.parametrize("metric", [dice_per_image, iou_per_image])
def test_metrics_refuse_bad_input(metric):
    op = metric.__name__
    with raises(TypeError, f"{op}: pred must be a NumPy or CuPy array, got list"):
        metric(PRED.tolist(), TARGET)
    with raises(TypeError, f"{op}: target must be a NumPy or CuPy array, got NoneType"):
        metric(PRED, None)
    with raises(TypeError, f"{op}: target must have a bool, integer or float dtype, got complex128"):
        metric(PRED, TARGET.astype(complex))
    with raises(ValueError, f"{op}: pred and target must have the same shape, got "
                            f"pred.shape=(5, 2, 3), target.shape=(5, 1, 2, 3)"):
        metric(PRED, TARGET[:, None])
    with raises(ValueError, f"{op}: pred must be a non-empty batch (N, H, W) or (N, C, H, W), "
                            f"got pred.shape=(6,)"):
        metric(PRED[0].ravel(), TARGET[0].ravel())
    with raises(ValueError, "got pred.shape=(0, 2, 3)"):
        metric(PRED[:0], TARGET[:0])
    with raises(TypeError, f"{op}: threshold must be a real number, got str"):
        metric(PRED, TARGET, threshold="0.5")
    with raises(ValueError, f"{op}: threshold must be finite, got nan"):
        metric(PRED, TARGET, threshold=float("nan"))
    for mean in (mean_dice, mean_iou):
        with raises(ValueError, "pred and target must have the same shape"):
            mean(PRED, TARGET[:1])


# --- on a GPU ---------------------------------------------------------------------------

@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_and_metrics_on_gpu_match_numpy(rng, name, dtype):
    import cupy

    forward, backward = LOSSES[name]
    x, t = make_batch(rng, shape=(4, 1, 16, 16), dtype=dtype)
    loss, cache = forward(x, t)
    loss_gpu, cache_gpu = forward(to_device(x, "cuda"), to_device(t, "cuda"))
    dx_gpu, _ = backward(1.0, cache_gpu)
    assert isinstance(loss_gpu, cupy.ndarray) and loss_gpu.dtype == dtype
    assert isinstance(dx_gpu, cupy.ndarray) and dx_gpu.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert abs(float(loss_gpu) - float(loss)) < tol
    np.testing.assert_allclose(asnumpy(dx_gpu), backward(1.0, cache)[0], rtol=tol, atol=tol)
    p = 1 / (1 + np.exp(-x))
    for metric in (dice_per_image, iou_per_image):
        np.testing.assert_array_equal(metric(to_device(p, "cuda"), to_device(t, "cuda")),
                                      metric(p, t))


def test_modules_import_only_what_their_layer_allows():
    # DESIGN.md: losses and metrics sit above ops and backend and below nn/model/train.
    for module in (losses, metrics):
        source = open(module.__file__).read()
        assert not re.search(r"from \.(nn|model|train|cli|data)\b|import torch", source)
