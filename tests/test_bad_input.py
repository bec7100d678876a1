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


def test_weight_wrong_ndim():
    with raises(ValueError, "conv2d_forward: w must be 4-D (N, C, H, W), got 2-D"):
        ops.conv2d_forward(X, np.zeros((32, 3), np.float32))


@pytest.mark.parametrize("forward, args", [
    (ops.conv2d_forward, (X.astype(np.int64), W)),
    (ops.max_pool2d_forward, (X.astype(np.uint8),)),
    (ops.relu_forward, (X.astype(np.int32),)),
    (ops.sigmoid_forward, (X.astype(bool),)),
])
def test_non_float_dtype(forward, args):
    with pytest.raises(TypeError, match=rf"{forward.__name__}: x must have a floating-point dtype "
                                        r"\(float32 or float64\), got (int|uint|bool)"):
        forward(*args)


def test_not_an_array():
    with raises(TypeError, "relu_forward: x must be a NumPy or CuPy array, got list"):
        ops.relu_forward([1.0, -1.0])


def test_mixed_dtypes_are_refused_not_upcast():
    with raises(TypeError, "conv2d_forward: w has dtype float64 but x has dtype float32; "
                           "cast one of them explicitly"):
        ops.conv2d_forward(X, np.zeros((4, 3, 3, 3)))
    with raises(TypeError, "conv2d_forward: b has dtype float64 but x has dtype float32"):
        ops.conv2d_forward(X, np.zeros((4, 3, 3, 3), np.float32), np.zeros(4))


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


@pytest.mark.parametrize("forward, args, name", [
    (ops.conv2d_forward, (X, np.zeros((4, 3, 3, 3), np.float32)), "stride"),
    (ops.conv_transpose2d_forward, (X, np.zeros((3, 4, 2, 2), np.float32)), "stride"),
    (ops.max_pool2d_forward, (X, 2), "stride"),
])
def test_stride_below_one(forward, args, name):
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
    with raises(ValueError, "concat_forward: expected at least 2 arrays, got 1"):
        ops.concat_forward(a)
    with raises(TypeError, "concat_forward: xs[1] has dtype float64 but xs[0] has dtype float32"):
        ops.concat_forward(a, np.zeros((2, 1, 8, 8)))


def test_center_crop_larger_than_input():
    with raises(ValueError, "center_crop_forward: size (100, 50) is larger than the input's spatial "
                            "size (96, 96) (x.shape=(8, 3, 96, 96))"):
        ops.center_crop_forward(X, (100, 50))
