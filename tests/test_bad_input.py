"""Bad input raises an error that names the op, what was expected and what was given."""

import re

import numpy as np
import pytest

from unet_from_scratch import ops

X = np.zeros((8, 3, 96, 96), dtype=np.float32)
W = np.zeros((32, 1, 3, 3), dtype=np.float32)


def raises(error, message):
    return pytest.raises(error, match=re.escape(message))


def test_conv2d_channel_mismatch():
    with raises(ValueError, "conv2d_forward: x has 3 channels but w expects 1 "
                            "(x.shape=(8, 3, 96, 96), w.shape=(32, 1, 3, 3))"):
        ops.conv2d_forward(X, W)


def test_conv_transpose2d_channel_mismatch():
    with raises(ValueError, "conv_transpose2d_forward: x has 3 channels but w expects 32"):
        ops.conv_transpose2d_forward(X, W)


@pytest.mark.parametrize("forward, args", [
    (ops.conv2d_forward, (X[0], W)),
    (ops.conv_transpose2d_forward, (X[0], np.zeros((3, 1, 2, 2), np.float32))),
    (ops.max_pool2d_forward, (X[0],)),
    (ops.center_crop_forward, (X[0], 2)),
    (ops.bias_add_forward, (X[0], np.zeros(3, np.float32))),
])
def test_wrong_ndim(forward, args):
    with raises(ValueError, f"{forward.__name__}: x must be 4-D (N, C, H, W), got 3-D "
                            f"(x.shape=(3, 96, 96))"):
        forward(*args)


def test_weight_wrong_ndim_names_its_layout():
    with raises(ValueError, "conv2d_forward: w must be 4-D (c_out, c_in, k_h, k_w), got 2-D "
                            "(w.shape=(32, 3))"):
        ops.conv2d_forward(X, np.zeros((32, 3), np.float32))
    with raises(ValueError, "conv_transpose2d_forward: w must be 4-D (c_in, c_out, k_h, k_w), got 3-D"):
        ops.conv_transpose2d_forward(X, np.zeros((3, 4, 2), np.float32))


def test_empty_kernel():
    with raises(ValueError, "conv2d_forward: w must have no empty axis, got w.shape=(4, 3, 0, 3)"):
        ops.conv2d_forward(X, np.zeros((4, 3, 0, 3), np.float32))


@pytest.mark.parametrize("forward, args, name", [
    (ops.conv2d_forward, (X.astype(np.int64), W), "x"),
    (ops.conv2d_forward, (X, W.astype(np.int64)), "w"),
    (ops.conv_transpose2d_forward, (X.astype(np.int32), np.zeros((3, 2, 2, 2))), "x"),
    (ops.max_pool2d_forward, (X.astype(np.uint8),), "x"),
    (ops.relu_forward, (X.astype(np.int32),), "x"),
    (ops.sigmoid_forward, (X.astype(bool),), "x"),
    (ops.concat_forward, (X, X.astype(np.int16)), r"xs\[1\]"),
    (ops.center_crop_forward, (X.astype(np.int64), 2), "x"),
    (ops.bias_add_forward, (X.astype(np.int64), np.zeros(3)), "x"),
    (ops.sigmoid_forward, (X.astype(np.float16),), "x"),
])
def test_non_float_dtype(forward, args, name):
    with pytest.raises(TypeError, match=rf"{forward.__name__}: {name} must have a floating-point "
                                        r"dtype \(float32 or float64\), got (int|uint|bool|float16)"):
        forward(*args)


def test_not_an_array():
    with raises(TypeError, "relu_forward: x must be a NumPy or CuPy array, got list"):
        ops.relu_forward([1.0, -1.0])
    with raises(TypeError, "conv2d_forward: b must be a NumPy or CuPy array, got list"):
        ops.conv2d_forward(X, np.zeros((4, 3, 3, 3), np.float32), [0.0, 0.0, 0.0, 0.0])
    with raises(TypeError, "bias_add_forward: b must be a NumPy or CuPy array, got None"):
        ops.bias_add_forward(X, None)


def test_mixed_dtypes_are_refused_not_upcast():
    with raises(TypeError, "conv2d_forward: w has dtype float64 but x has dtype float32; "
                           "cast one of them explicitly"):
        ops.conv2d_forward(X, np.zeros((4, 3, 3, 3)))
    with raises(TypeError, "conv2d_forward: b has dtype float64 but x has dtype float32"):
        ops.conv2d_forward(X, np.zeros((4, 3, 3, 3), np.float32), np.zeros(4))
    with raises(TypeError, "conv_transpose2d_forward: w has dtype float64 but x has dtype float32"):
        ops.conv_transpose2d_forward(X, np.zeros((3, 4, 2, 2)))
    with raises(TypeError, "bias_add_forward: b has dtype float64 but x has dtype float32"):
        ops.bias_add_forward(X, np.zeros(3))


def test_bias_of_wrong_size():
    with raises(ValueError, "conv2d_forward: b must have shape (4,), got b.shape=(3,)"):
        ops.conv2d_forward(X, np.zeros((4, 3, 3, 3), np.float32), np.zeros(3, np.float32))
    with raises(ValueError, "conv_transpose2d_forward: b must have shape (5,), got b.shape=(3,)"):
        ops.conv_transpose2d_forward(X, np.zeros((3, 5, 2, 2), np.float32), np.zeros(3, np.float32))


def test_kernel_larger_than_padded_input():
    x = np.zeros((1, 1, 4, 8), np.float32)
    with raises(ValueError, "conv2d_forward: kernel height 7 is larger than the padded input "
                            "height 4 + 2*1 = 6"):
        ops.conv2d_forward(x, np.zeros((1, 1, 7, 7), np.float32), padding=1)
    with raises(ValueError, "max_pool2d_forward: kernel width 9 is larger than the padded input "
                            "width 8 + 2*0 = 8"):
        ops.max_pool2d_forward(x, (2, 9))


@pytest.mark.parametrize("forward, args", [
    (ops.conv2d_forward, (X, np.zeros((4, 3, 3, 3), np.float32))),
    (ops.conv_transpose2d_forward, (X, np.zeros((3, 4, 2, 2), np.float32))),
    (ops.max_pool2d_forward, (X, 2)),
])
def test_stride_below_one(forward, args):
    with raises(ValueError, f"{forward.__name__}: stride must be >= 1, got 0"):
        forward(*args, stride=0)


def test_bad_padding_and_kernel_size():
    with raises(ValueError, "conv2d_forward: padding must be >= 0, got (1, -1)"):
        ops.conv2d_forward(X, np.zeros((4, 3, 3, 3), np.float32), padding=(1, -1))
    with raises(TypeError, "max_pool2d_forward: kernel_size must be an int or a pair of ints, "
                           "got 2.5"):
        ops.max_pool2d_forward(X, 2.5)
    with raises(ValueError, "max_pool2d_forward: kernel_size must be >= 1, got 0"):
        ops.max_pool2d_forward(X, 0)
    with raises(TypeError, "conv2d_forward: stride must be an int or a pair of ints, got True"):
        ops.conv2d_forward(X, np.zeros((4, 3, 3, 3), np.float32), stride=True)
    y, _ = ops.max_pool2d_forward(X, np.int64(2), (np.int32(2), 2))     # NumPy ints are ints
    assert y.shape == (8, 3, 48, 48)


def test_conv_transpose_output_must_be_positive():
    x = np.zeros((1, 1, 1, 1), np.float32)
    with raises(ValueError, "conv_transpose2d_forward: output height (size-1)*stride - 2*padding "
                            "+ kernel = (1-1)*1 - 2*1 + 2 = 0 is not positive"):
        ops.conv_transpose2d_forward(x, np.zeros((1, 1, 2, 2), np.float32), padding=1)


def test_concat_mismatched_spatial_sizes():
    a, b = np.zeros((2, 3, 8, 8), np.float32), np.zeros((2, 4, 6, 6), np.float32)
    with raises(ValueError, "concat_forward: every input must have the batch size and spatial size "
                            "of xs[0] (n=2, h, w=(8, 8)), got xs[1].shape=(2, 4, 6, 6)"):
        ops.concat_forward(a, b)
    with raises(ValueError, "concat_forward: every input must have the batch size and spatial size "
                            "of xs[0] (n=2, h, w=(8, 8)), got xs[1].shape=(3, 4, 8, 8)"):
        ops.concat_forward(a, np.zeros((3, 4, 8, 8), np.float32))
    with raises(ValueError, "concat_forward: xs[1] must be 4-D (N, C, H, W), got 3-D"):
        ops.concat_forward(a, np.zeros((4, 8, 8), np.float32))
    with raises(ValueError, "concat_forward: expected at least 2 arrays, got 1"):
        ops.concat_forward(a)
    with raises(TypeError, "concat_forward: xs[1] has dtype float64 but xs[0] has dtype float32"):
        ops.concat_forward(a, np.zeros((2, 1, 8, 8)))


def test_center_crop_larger_than_input():
    with raises(ValueError, "center_crop_forward: size (100, 50) is larger than the input's spatial "
                            "size (96, 96) (x.shape=(8, 3, 96, 96))"):
        ops.center_crop_forward(X, (100, 50))


def _forward_for_backward_checks():
    """One small forward pass of every op in float32, with its backward: (name, y, backward, cache)."""
    x = np.ones((2, 3, 6, 6), np.float32)
    cases = []
    for name, forward, args in [
        ("conv2d", ops.conv2d_forward, (x, np.ones((4, 3, 3, 3), np.float32), np.ones(4, np.float32))),
        ("conv_transpose2d", ops.conv_transpose2d_forward, (x, np.ones((3, 2, 2, 2), np.float32))),
        ("max_pool2d", ops.max_pool2d_forward, (x,)),
        ("concat", ops.concat_forward, (x, x)),
        ("center_crop", ops.center_crop_forward, (x, 4)),
        ("relu", ops.relu_forward, (x,)),
        ("sigmoid", ops.sigmoid_forward, (x,)),
        ("bias_add", ops.bias_add_forward, (x, np.ones(3, np.float32))),
    ]:
        y, cache = forward(*args)
        cases.append((name, y, getattr(ops, f"{name}_backward"), cache))
    return cases


@pytest.mark.parametrize("name, y, backward, cache", _forward_for_backward_checks(),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_backward_refuses_a_bad_upstream_gradient(name, y, backward, cache):
    """A dy of the wrong shape would broadcast, and a float64 one would upcast, silently."""
    with raises(ValueError, f"{name}_backward: dy must have the forward output's shape {y.shape}, "
                            f"got dy.shape={y[:1].shape}"):
        backward(y[:1].copy(), cache)
    with raises(TypeError, f"{name}_backward: dy has dtype float64 but the forward pass ran in "
                           f"float32; cast it explicitly"):
        backward(y.astype(np.float64), cache)
