"""The intensity-threshold baseline: what a U-Net has to beat.

Otsu's method picks, per image, the threshold that best splits its grey values into two
classes; a pixel is then foreground on the bright side ("bright") or on the dark side
("dark").  On ultrasound neither side is the nerve, which is the point of the comparison:
the nerve is found by its texture, not its brightness.
"""

import numpy as np
from skimage.filters import threshold_otsu

from ..metrics import mean_dice


def otsu_masks(images, polarity="bright"):
    """Threshold each image at its own Otsu threshold (``skimage.filters.threshold_otsu``).

    Inputs:
        images: array of shape (N, H, W).
        polarity: "bright" predicts the pixels above the threshold, "dark" those at or below.
    Returns:
        masks of shape (N, H, W), the images' dtype, values 0 and 1.
    """
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"otsu_masks: images must be 3-D (N, H, W), "
                         f"got images.shape={images.shape}")
    if polarity not in ("bright", "dark"):
        raise ValueError(f"otsu_masks: polarity must be 'bright' or 'dark', got {polarity!r}")
    dtype = images.dtype if images.dtype.kind == "f" else np.float32
    masks = np.zeros(images.shape, dtype=dtype)
    for i, image in enumerate(images):
        if image.min() == image.max():
            continue  # a flat image has no threshold; predict nothing
        above = image > threshold_otsu(image)
        masks[i] = above if polarity == "bright" else ~above
    return masks


def otsu_baseline(images, masks=None):
    """The intensity-threshold baseline: per-image Otsu masks with one polarity for the set.

    With ``masks`` given, both polarities are tried and the one with the higher mean Dice
    (Kaggle convention) is kept: an optimistic baseline, since it peeks at the labels once for
    the whole set. Without ``masks``, "bright" is used: on these images the dark pixels are
    mostly the attenuated depths, so "bright" is the better of two poor choices.

    Inputs:
        images: array of shape (N, H, W); masks: None or an array of the same shape.
    Returns:
        the predicted masks, shape (N, H, W), values 0 and 1.
    """
    if masks is None:
        return otsu_masks(images, "bright")
    masks = np.asarray(masks)
    if masks.shape != np.shape(images):
        raise ValueError(f"otsu_baseline: masks must have the images' shape {np.shape(images)}, "
                         f"got masks.shape={masks.shape}")
    candidates = [otsu_masks(images, polarity) for polarity in ("bright", "dark")]
    return max(candidates, key=lambda pred: mean_dice(pred, masks))
