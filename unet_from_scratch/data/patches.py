"""Cutting large images into training patches.

A U-Net is fully convolutional: trained on 128 x 128 patches, it segments a whole
512 x 512 slice. Training on patches is what makes the ISBI 2012 slices fit a laptop
CPU's time and memory.
"""

import numpy as np


def cut_patches(images, masks, size):
    """Cut every image (and its mask) into non-overlapping ``size`` x ``size`` patches.

    Inputs:
        images, masks: arrays of shape (N, H, W), the same shape.
        size: the patch side, an int with 1 <= size <= min(H, W).
    Returns:
        (patches, mask_patches): arrays of shape (N * (H // size) * (W // size), size, size),
        image by image, row by row. A border narrower than ``size`` on the right or at the
        bottom is left out.
    """
    images, masks = np.asarray(images), np.asarray(masks)
    if images.ndim != 3 or images.shape != masks.shape:
        raise ValueError(f"cut_patches: images and masks must be (N, H, W) arrays of one shape, "
                         f"got images.shape={images.shape}, masks.shape={masks.shape}")
    n, height, width = images.shape
    if not isinstance(size, (int, np.integer)) or not 1 <= size <= min(height, width):
        raise ValueError(f"cut_patches: size must be an int from 1 to min(H, W) = "
                         f"{min(height, width)}, got {size!r}")
    rows, columns = height // size, width // size
    return tuple(_tile(array[:, :rows * size, :columns * size], rows, columns, size)
                 for array in (images, masks))


def _tile(array, rows, columns, size):
    """(N, rows*size, columns*size) -> (N*rows*columns, size, size), without copying pixels
    one by one: a reshape splits each axis into (tile index, offset), a transpose brings the
    two tile indices next to the image index."""
    n = array.shape[0]
    tiles = array.reshape(n, rows, size, columns, size).transpose(0, 1, 3, 2, 4)
    return np.ascontiguousarray(tiles).reshape(n * rows * columns, size, size)
