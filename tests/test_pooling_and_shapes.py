"""Max pooling's documented behaviour (ties, floors, overlaps) and concat/crop round trips,
checked against small examples worked out by hand."""

import numpy as np
import pytest

from unet_from_scratch import ops
from conftest import distinct_values, random_array


def test_max_pool_tie_goes_to_first_maximum_in_row_major_order():
    x = np.array([[[[1.0, 5.0, 2.0, 2.0],
                    [5.0, 0.0, 2.0, 2.0],
                    [7.0, 7.0, 3.0, 1.0],
                    [7.0, 7.0, 1.0, 3.0]]]])
    y, cache = ops.max_pool2d_forward(x, 2, 2)
    np.testing.assert_array_equal(y, [[[[5.0, 2.0], [7.0, 3.0]]]])
    dx = ops.max_pool2d_backward(np.array([[[[10.0, 20.0], [30.0, 40.0]]]]), cache)
    expected = np.array([[[[0.0, 10.0, 20.0, 0.0],      # 5 at (0,1) beats the 5 at (1,0)
                           [0.0, 0.0, 0.0, 0.0],        # the four 2s: the top-left one wins
                           [30.0, 0.0, 40.0, 0.0],      # the four 7s: the top-left one wins
                           [0.0, 0.0, 0.0, 0.0]]]])     # 3 at (2,2) beats the 3 at (3,3)
    np.testing.assert_array_equal(dx, expected)
    assert dx.sum() == 100.0                            # never split, never duplicated


def test_max_pool_overlapping_windows_sum_their_gradients():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 9.0                                 # the centre is the max of all 4 windows
    y, cache = ops.max_pool2d_forward(x, kernel_size=2, stride=1)
    np.testing.assert_array_equal(y, np.full((1, 1, 2, 2), 9.0))
    dx = ops.max_pool2d_backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), cache)
    expected = np.zeros((1, 1, 3, 3))
    expected[0, 0, 1, 1] = 10.0
    np.testing.assert_array_equal(dx, expected)


def test_max_pool_floors_sizes_that_do_not_divide(rng):
    x = distinct_values(rng, (2, 3, 7, 9))
    y, cache = ops.max_pool2d_forward(x, 2)
    assert y.shape == (2, 3, 3, 4)                      # floor(7/2), floor(9/2), like PyTorch
    np.testing.assert_array_equal(y, x[:, :, :6, :8].reshape(2, 3, 3, 2, 4, 2).max(axis=(3, 5)))
    dx = ops.max_pool2d_backward(np.ones_like(y), cache)
    assert not dx[:, :, 6, :].any() and not dx[:, :, :, 8].any()   # ignored row and column
    assert dx.sum() == y.size


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_keeps_dtype(rng, dtype):
    y, cache = ops.max_pool2d_forward(random_array(rng, (1, 2, 4, 4), dtype), 2)
    assert y.dtype == dtype
    assert ops.max_pool2d_backward(y, cache).dtype == dtype


def test_concat_round_trip(rng):
    a, b = random_array(rng, (2, 3, 4, 5)), random_array(rng, (2, 2, 4, 5))
    y, cache = ops.concat_forward(a, b)
    assert y.shape == (2, 5, 4, 5)
    da, db = ops.concat_backward(y, cache)
    np.testing.assert_array_equal(da, a)
    np.testing.assert_array_equal(db, b)


def test_center_crop_round_trip_and_offsets():
    x = np.arange(2 * 7 * 6, dtype=np.float64).reshape(1, 2, 7, 6)
    y, cache = ops.center_crop_forward(x, (4, 3))
    # (7 - 4) // 2 = 1 row off the top, (6 - 3) // 2 = 1 column off the left
    np.testing.assert_array_equal(y, x[:, :, 1:5, 1:4])
    dx = ops.center_crop_backward(y, cache)
    assert dx.shape == x.shape
    np.testing.assert_array_equal(dx[:, :, 1:5, 1:4], y)
    assert dx.sum() == y.sum()                          # zeros everywhere else
    y_same, _ = ops.center_crop_forward(x, (7, 6))
    np.testing.assert_array_equal(y_same, x)


def test_center_crop_matches_the_paper_unet_sizes(rng):
    """In the paper's first level a 64x64 feature map is cropped from 568 to 392 (88 per side)."""
    x = random_array(rng, (1, 1, 568, 568), np.float32)
    y, _ = ops.center_crop_forward(x, 392)
    np.testing.assert_array_equal(y, x[:, :, 88:480, 88:480])


def test_sigmoid_is_stable_for_large_inputs():
    for dtype in (np.float32, np.float64):
        x = np.array([-1e4, -100.0, 0.0, 100.0, 1e4], dtype=dtype)
        with np.errstate(over="raise", invalid="raise", divide="raise"):   # overflow would raise
            y, _ = ops.sigmoid_forward(x)
        assert y.dtype == dtype
        np.testing.assert_array_equal(y[[0, 2, 4]], np.array([0.0, 0.5, 1.0], dtype=dtype))
        assert 0 < y[1] < 1e-40 or (dtype == np.float32 and y[1] == 0)


def test_conv_transpose_is_the_adjoint_of_conv(rng):
    """<conv(x), y> == <x, conv_transpose(y)> with the same kernel, stride and padding.

    Sizes with (h + 2p - k) divisible by the stride, so that the transposed
    convolution gives back exactly x's size (else PyTorch needs output_padding).
    """
    x = random_array(rng, (2, 3, 9, 7))
    w = random_array(rng, (4, 3, 3, 3))                 # conv: 3 -> 4 channels
    conv_x, _ = ops.conv2d_forward(x, w, stride=2, padding=1)
    y = random_array(rng, conv_x.shape)
    convt_y, _ = ops.conv_transpose2d_forward(y, w, stride=2, padding=1)
    assert convt_y.shape == x.shape
    np.testing.assert_allclose((conv_x * y).sum(), (x * convt_y).sum(), rtol=1e-12)


def test_unet_shapes(rng):
    """The shapes of one U-Net level, same padding: 96 -> pool 48 -> up 96, concat 32 + 32."""
    x = random_array(rng, (2, 1, 96, 96), np.float32)
    w = random_array(rng, (32, 1, 3, 3), np.float32)
    h, _ = ops.conv2d_forward(x, w, padding=1)
    p, _ = ops.max_pool2d_forward(h, 2)
    up, _ = ops.conv_transpose2d_forward(p, random_array(rng, (32, 32, 2, 2), np.float32), stride=2)
    y, _ = ops.concat_forward(h, up)
    assert (h.shape, p.shape, up.shape, y.shape) == (
        (2, 32, 96, 96), (2, 32, 48, 48), (2, 32, 96, 96), (2, 64, 96, 96))
    assert y.dtype == np.float32


@pytest.mark.parametrize("op, inputs", [
    ("conv2d", lambda r: [random_array(r, (2, 3, 5, 5)), random_array(r, (4, 3, 3, 3)),
                          random_array(r, (4,))]),
    ("conv_transpose2d", lambda r: [random_array(r, (2, 3, 4, 4)), random_array(r, (3, 2, 2, 2)),
                                    random_array(r, (2,))]),
    ("max_pool2d", lambda r: [distinct_values(r, (2, 3, 6, 6))]),
    ("concat", lambda r: [random_array(r, (2, 3, 4, 4)), random_array(r, (2, 1, 4, 4))]),
    ("center_crop", lambda r: [random_array(r, (2, 3, 6, 6)), 4]),
    ("relu", lambda r: [random_array(r, (2, 3, 4, 4))]),
    ("sigmoid", lambda r: [random_array(r, (2, 3, 4, 4))]),
    ("bias_add", lambda r: [random_array(r, (2, 3, 4, 4)), random_array(r, (3,))]),
])
def test_outputs_and_gradients_do_not_alias_their_inputs(rng, op, inputs):
    """Callers accumulate gradients in place (``dx_total += dx``) and may reuse dy: no output or
    gradient may share memory with an input, with dy, or with another gradient."""
    args = inputs(rng)
    y, cache = getattr(ops, f"{op}_forward")(*args)
    dy = random_array(rng, y.shape)
    grads = getattr(ops, f"{op}_backward")(dy, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    arrays = [a for a in args if isinstance(a, np.ndarray)]
    for g in grads:
        assert not np.shares_memory(g, dy)
        assert not any(np.shares_memory(g, a) for a in arrays)
    assert not any(np.shares_memory(y, a) for a in arrays)
    for i, g in enumerate(grads):
        assert not any(np.shares_memory(g, h) for h in grads[i + 1:])


@pytest.mark.parametrize("forward, backward, w_shape, out_shape", [
    (ops.conv2d_forward, ops.conv2d_backward, (4, 3, 3, 3), (0, 4, 6, 6)),
    (ops.conv_transpose2d_forward, ops.conv_transpose2d_backward, (3, 4, 3, 3), (0, 4, 10, 10)),
])
def test_convolutions_take_an_empty_batch(rng, forward, backward, w_shape, out_shape):
    """N = 0 gives an empty output, zero weight gradients and the bias's zero gradient."""
    x = np.zeros((0, 3, 8, 8), np.float32)
    y, cache = forward(x, random_array(rng, w_shape, np.float32), np.ones(4, np.float32))
    assert y.shape == out_shape and y.dtype == np.float32
    dx, dw, db = backward(np.zeros(out_shape, np.float32), cache)
    assert dx.shape == x.shape and not dw.any() and not db.any()
