"""im2col against its definition, and col2im as its adjoint."""

import importlib

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


IM2COL = importlib.import_module("unet_from_scratch.ops.im2col")
THREADS = importlib.import_module("unet_from_scratch.ops.threads")


@pytest.mark.parametrize("shape", [(3, 5, 9, 8), (5, 1, 9, 8), (1, 1, 9, 8), (2, 7, 6, 6)])
@pytest.mark.parametrize("threads", [2, 3])
def test_threaded_copies_give_the_same_bits_as_one_thread(rng, monkeypatch, shape, threads):
    """Split over channels (or over images, with one channel), im2col and col2im on several
    threads write exactly what one thread writes."""
    x = random_array(rng, shape, np.float32)
    geometry = ((3, 3), (1, 2), (1, 1))
    monkeypatch.setattr(THREADS, "THREADS", 1)
    cols_one = im2col(x, *geometry)
    back_one = col2im(cols_one, x.shape, *geometry[1:])
    monkeypatch.setattr(THREADS, "THREADS", threads)
    monkeypatch.setattr(IM2COL, "PARALLEL_ELEMENTS", 1)
    assert len(IM2COL.work_slices(shape[1], shape[0], cols_one.size)) == min(threads, max(shape[:2]))
    cols_many = im2col(x, *geometry)
    np.testing.assert_array_equal(cols_many, cols_one)
    np.testing.assert_array_equal(col2im(cols_many, x.shape, *geometry[1:]), back_one)


def test_work_slices_cover_everything_once(monkeypatch):
    monkeypatch.setattr(THREADS, "THREADS", 3)
    monkeypatch.setattr(IM2COL, "PARALLEL_ELEMENTS", 10)
    assert IM2COL.work_slices(7, 4, 9) == [(slice(0, 7), slice(0, 4))]          # too small
    assert IM2COL.work_slices(7, 4, 10) == [(slice(0, 2), slice(0, 4)), (slice(2, 4), slice(0, 4)),
                                            (slice(4, 7), slice(0, 4))]
    assert IM2COL.work_slices(1, 2, 10) == [(slice(0, 1), slice(0, 1)), (slice(0, 1), slice(1, 2))]
    assert IM2COL.work_slices(1, 1, 10) == [(slice(0, 1), slice(0, 1))]
