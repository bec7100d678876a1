"""Cutting large images into training patches.

A U-Net is fully convolutional: trained on 128 x 128 patches, it segments a whole
512 x 512 slice. Training on patches is what makes the ISBI 2012 slices fit a laptop
CPU's time and memory.
"""

import numpy as np


def cut_patches(images, masks, size, margin=0):
    """Cut every image (and its mask) into ``size`` x ``size`` patches.

    With ``margin`` = 0 (a padding="same" network) the patches do not overlap. A
    padding="valid" network sees ``size`` pixels but predicts only the central
    ``size - margin``; then the images and masks are first mirror-padded by ``margin / 2``
    and the patches step by ``size - margin``, so that the central parts -- the pixels
    ``fit`` trains on, after cropping each mask to the output -- tile the image, each
    pixel once (the overlap-tile strategy of the paper, used for training).

    Inputs:
        images, masks: arrays of shape (N, H, W), the same shape.
        size: the patch side, an int with margin < size <= min(H, W) + margin.
        margin: the network's border loss, input size minus output size (even), >= 0.
    Returns:
        (patches, mask_patches): arrays of shape (N * rows * columns, size, size), image by
        image, row by row, with rows = H // (size - margin), columns = W // (size - margin).
        A border narrower than a step on the right or at the bottom is left out.
    """
    images, masks = np.asarray(images), np.asarray(masks)
    if images.ndim != 3 or images.shape != masks.shape:
        raise ValueError(f"cut_patches: images and masks must be (N, H, W) arrays of one shape, "
                         f"got images.shape={images.shape}, masks.shape={masks.shape}")
    n, height, width = images.shape
    if not isinstance(margin, (int, np.integer)) or margin < 0 or margin % 2:
        raise ValueError(f"cut_patches: margin must be an even int >= 0, got {margin!r}")
    if not isinstance(size, (int, np.integer)) or not margin < size <= min(height,
                                                                            width) + margin:
        raise ValueError(f"cut_patches: size must be an int from {margin + 1} to min(H, W) + "
                         f"margin = {min(height, width) + margin}, got {size!r}")
    step = size - margin
    rows, columns = height // step, width // step
    return tuple(_windows(array, margin // 2, size, step, rows, columns)
                 for array in (images, masks))


def _windows(array, pad, size, step, rows, columns):
    """The (rows x columns) windows of side ``size`` at strides ``step`` of the array,
    mirror-padded by ``pad``: (N*rows*columns, size, size), copied once."""
    if pad:
        array = np.pad(array, ((0, 0), (pad, pad), (pad, pad)), mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(array, (size, size), axis=(1, 2))
    windows = windows[:, :rows * step:step, :columns * step:step][:, :rows, :columns]
    return np.ascontiguousarray(windows).reshape(-1, size, size)
