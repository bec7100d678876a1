"""The fast kernels: one file per op, each a forward/backward pair on NumPy or CuPy arrays.

    y, cache = <op>_forward(inputs..., options...)
    grads = <op>_backward(dy, cache)        # gradients in the order of the forward's inputs

Every op has a loop definition with the same name and signature in
:mod:`unet_from_scratch.reference`, and the tests tie the two together.
"""

from .batch_norm2d import batch_norm2d_backward, batch_norm2d_forward
from .bias_add import bias_add_backward, bias_add_forward
from .center_crop import center_crop_backward, center_crop_forward, center_crop_offsets
from .concat import concat_backward, concat_forward
from .conv2d import conv2d_backward, conv2d_forward
from .conv_transpose2d import conv_transpose2d_backward, conv_transpose2d_forward
from .dropout import dropout_backward, dropout_forward
from .im2col import col2im, im2col
from .max_pool2d import max_pool2d_backward, max_pool2d_forward
from .relu import relu_backward, relu_forward
from .sigmoid import sigmoid_backward, sigmoid_forward

__all__ = [
    "batch_norm2d_forward", "batch_norm2d_backward",
    "bias_add_forward", "bias_add_backward",
    "center_crop_forward", "center_crop_backward", "center_crop_offsets",
    "concat_forward", "concat_backward",
    "conv2d_forward", "conv2d_backward",
    "conv_transpose2d_forward", "conv_transpose2d_backward",
    "dropout_forward", "dropout_backward",
    "im2col", "col2im",
    "max_pool2d_forward", "max_pool2d_backward",
    "relu_forward", "relu_backward",
    "sigmoid_forward", "sigmoid_backward",
]
