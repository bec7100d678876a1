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
                                         r"= 4, got 5"):
        cut_patches(images, images, 5)
    with pytest.raises(ValueError, match="cut_patches: images and masks must be"):
        cut_patches(images, images[:, :2], 2)
