"""im2col against its definition, and col2im as its adjoint."""

import numpy as np
import pytest

from unet_from_scratch.ops.im2col import col2im, im2col
from conftest import random_array


@pytest.mark.parametrize("kernel, stride, padding", [((3, 3), (1, 1), (1, 1)), ((2, 3), (2, 1), (0, 2)),
                                                     ((4, 2), (3, 2), (2, 1))])
def test_im2col_follows_its_definition(rng, kernel, stride, padding):
    x = random_array(rng, (2, 3, 7, 6))
    cols = im2col(x, kernel, stride, padding)
    x_padded = np.zeros((2, 3, 7 + 2 * padding[0], 6 + 2 * padding[1]))
    x_padded[:, :, padding[0]:padding[0] + 7, padding[1]:padding[1] + 6] = x
    c, k_h, k_w, n, h_out, w_out = cols.shape
    assert (c, k_h, k_w, n) == (3,) + kernel + (2,)
    for index in np.ndindex(cols.shape):
        ch, i, j, img, y, x_ = index
        assert cols[index] == x_padded[img, ch, stride[0] * y + i, stride[1] * x_ + j]


@pytest.mark.parametrize("kernel, stride, padding", [((3, 3), (1, 1), (1, 1)), ((3, 3), (2, 2), (0, 0)),
                                                     ((2, 4), (1, 3), (1, 2))])
def test_col2im_is_the_adjoint_of_im2col(rng, kernel, stride, padding):
    """<im2col(x), c> == <x, col2im(c)> for every x and c: col2im is im2col's transpose."""
    x = random_array(rng, (2, 3, 8, 7))
    cols_shape = im2col(x, kernel, stride, padding).shape
    c = random_array(rng, cols_shape)
    left = (im2col(x, kernel, stride, padding) * c).sum()
    right = (x * col2im(c, x.shape, stride, padding)).sum()
    np.testing.assert_allclose(left, right, rtol=1e-12)
