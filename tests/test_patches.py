"""cut_patches: the patches are the image's blocks, in order, with masks alongside."""

import numpy as np
import pytest

from unet_from_scratch.data.patches import cut_patches


def test_patches_are_the_blocks_row_by_row():
    images = np.arange(2 * 5 * 7, dtype=np.float32).reshape(2, 5, 7)
    masks = (images % 3 == 0).astype(np.float32)
    patches, mask_patches = cut_patches(images, masks, 2)
    assert patches.shape == (2 * 2 * 3, 2, 2)                 # the odd row and column are dropped
    expected = [images[i, r:r + 2, c:c + 2] for i in range(2) for r in (0, 2) for c in (0, 2, 4)]
    np.testing.assert_array_equal(patches, np.stack(expected))
    np.testing.assert_array_equal(mask_patches, patches % 3 == 0)


def test_bad_sizes_are_refused():
    images = np.zeros((1, 4, 6), np.float32)
    with pytest.raises(ValueError, match=r"cut_patches: size must be an int from 1 to min\(H, W\) "
                                         r"\+ margin = 4, got 5"):
        cut_patches(images, images, 5)
    with pytest.raises(ValueError, match=r"cut_patches: margin must be an even int >= 0, got 3"):
        cut_patches(images, images, 4, margin=3)
    with pytest.raises(ValueError, match="cut_patches: images and masks must be"):
        cut_patches(images, images[:, :2], 2)


def test_with_a_margin_the_central_parts_tile_the_mask_each_pixel_once():
    """For a valid network (input 12, output 12 - 8 = 4): the patches' centres, where fit
    trains, put every pixel of the image (bar a narrow border) in exactly one target."""
    rng = np.random.default_rng(0)
    images = rng.random((2, 18, 21)).astype(np.float32)
    masks = (images > 0.5).astype(np.float32)
    patches, mask_patches = cut_patches(images, masks, 12, margin=8)
    rows, columns = 18 // 4, 21 // 4
    assert patches.shape == (2 * rows * columns, 12, 12)
    centres = mask_patches[:, 4:8, 4:8].reshape(2, rows, columns, 4, 4)
    rebuilt = centres.transpose(0, 1, 3, 2, 4).reshape(2, rows * 4, columns * 4)
    np.testing.assert_array_equal(rebuilt, masks[:, :rows * 4, :columns * 4])
    # and each patch holds the mirror-padded image around its centre
    padded = np.pad(images[1], 4, mode="reflect")
    np.testing.assert_array_equal(patches[rows * columns + columns + 2], padded[4:16, 8:20])
