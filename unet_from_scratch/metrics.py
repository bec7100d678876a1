"""Scores of hard masks: per-image Dice and IoU, and their means over a data set.

Both inputs are binarised first, with a strict comparison:

    P = pred > threshold        (threshold 0.5 by default: a probability of exactly 0.5,
                                 sigmoid(0), is background)
    T = target > 0.5            (masks of 0/1, True/False or 0/255 all work)

and then, per image (over every axis but the batch axis 0),

    Dice = 2 |P ∩ T| / (|P| + |T|)       IoU = |P ∩ T| / |P ∪ T|

with the Kaggle nerve competition's convention that an image whose prediction and
target are both empty scores 1 (a correct "no nerve here"), for Dice and IoU alike.
The data set's score is the plain mean over images.

``pred`` and ``target`` have one shape, ``(N, H, W)``, ``(N, 1, H, W)`` or ``(N, C, H, W)``,
any real dtype (bool, integer or float), NumPy or CuPy (both on the same device).  The
per-pixel work stays on that device; only the N per-image counts come back to the host,
so the results are NumPy arrays and Python floats.
"""

import numpy as np

from .backend import asnumpy, get_array_module, is_array
from .checks import check_number, check_same_shape_batch

TARGET_THRESHOLD = 0.5


def dice_per_image(pred, target, threshold=0.5):
    """Dice of each image's hard masks: ``2|P∩T| / (|P|+|T|)``, and 1 where both are empty.

    Inputs:
        pred: probabilities (or a binary mask) of shape (N, ...), e.g. (N, H, W) or (N, 1, H, W).
        target: masks of the same shape.
        threshold: a pixel is foreground where ``pred > threshold`` (strictly).
    Returns:
        NumPy float64 array of shape (N,), values in [0, 1].
    """
    overlap, predicted, true = _counts("dice_per_image", pred, target, threshold)
    total = predicted + true
    return np.where(total == 0, 1.0, 2 * overlap / np.maximum(total, 1))


def iou_per_image(pred, target, threshold=0.5):
    """IoU (Jaccard index) of each image's hard masks: ``|P∩T| / |P∪T|``, 1 where both are empty.

    Inputs and returns: as for :func:`dice_per_image`.
    """
    overlap, predicted, true = _counts("iou_per_image", pred, target, threshold)
    union = predicted + true - overlap
    return np.where(union == 0, 1.0, overlap / np.maximum(union, 1))


def mean_dice(pred, target, threshold=0.5):
    """Mean over images of :func:`dice_per_image` (the Kaggle score), a Python float."""
    return float(dice_per_image(pred, target, threshold).mean())


def mean_iou(pred, target, threshold=0.5):
    """Mean over images of :func:`iou_per_image`, a Python float."""
    return float(iou_per_image(pred, target, threshold).mean())


def _counts(op, pred, target, threshold):
    """Per image ``|P∩T|``, ``|P|`` and ``|T|``, as NumPy int64 arrays of shape (N,)."""
    _check_inputs(op, pred, target, threshold)
    xp = get_array_module(pred)
    n = pred.shape[0]
    predicted_mask = (pred > threshold).reshape(n, -1)
    true_mask = (target > TARGET_THRESHOLD).reshape(n, -1)
    counts = xp.stack([(predicted_mask & true_mask).sum(axis=1),
                       predicted_mask.sum(axis=1), true_mask.sum(axis=1)])
    overlap, predicted, true = asnumpy(counts).astype(np.int64)
    return overlap, predicted, true


def _check_inputs(op, pred, target, threshold):
    """Real arrays of one shape, on one device, batch first and non-empty; a finite threshold."""
    for name, a in (("pred", pred), ("target", target)):
        if not is_array(a):
            raise TypeError(f"{op}: {name} must be a NumPy or CuPy array, got {type(a).__name__}")
        if a.dtype.kind not in "biuf":
            raise TypeError(f"{op}: {name} must have a bool, integer or float dtype, got {a.dtype}")
    if get_array_module(pred) is not get_array_module(target):
        raise TypeError(f"{op}: pred and target must be on the same device, got pred on "
                        f"{get_array_module(pred).__name__} and target on "
                        f"{get_array_module(target).__name__}")
    check_same_shape_batch(op, pred, "pred", target, "target",
                           layout="(N, H, W) or (N, C, H, W)")
    threshold = check_number(op, "threshold", threshold)
    if not abs(threshold) < float("inf"):
        raise ValueError(f"{op}: threshold must be finite, got {threshold!r}")
