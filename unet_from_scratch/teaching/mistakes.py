"""The answers that common mistakes give, computed on purpose, so that a checker can recognise
a wrong answer and name the mistake instead of only counting wrong values."""

import numpy as np

from .. import ops, reference


def dx_with_unflipped_kernel(dy, w, x_shape, stride, padding):
    """The wrong dx that sends dy back through the kernel mirrored (w[..., ::-1, ::-1])."""
    mirrored = w[:, :, ::-1, ::-1].copy()
    _, cache = reference.conv2d_forward(np.zeros(x_shape), mirrored, None, stride, padding)
    return reference.conv2d_backward(dy, cache)[0]


def gradients_with_unpermuted_dy(dy, x, w, stride, padding):
    """The wrong (dx, dw) of im2col's formulas with dy reshaped to (c_O, -1) without first
    moving its channel axis to the front (for one image the two agree)."""
    c_out, c_in, k_h, k_w = w.shape
    cols = ops.im2col(x, (k_h, k_w), (stride, stride), (padding, padding))
    dy_matrix = dy.reshape(c_out, -1)
    dw = (dy_matrix @ cols.reshape(c_in * k_h * k_w, -1).T).reshape(w.shape)
    dcols = (w.reshape(c_out, -1).T @ dy_matrix).reshape(cols.shape)
    return ops.col2im(dcols, x.shape, (stride, stride), (padding, padding)), dw


def to_every_maximum(dy, x):
    """The wrong backward that gives each window's dy to all of its maxima (2 x 2, stride 2)."""
    dx = np.zeros_like(x)
    n, c, h_out, w_out = dy.shape
    for i in range(h_out):
        for j in range(w_out):
            window = x[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2]
            is_max = window == window.max(axis=(2, 3), keepdims=True)
            dx[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2] += is_max * dy[:, :, i:i + 1, j:j + 1]
    return dx


def to_last_maximum(dy, x):
    """The wrong backward that gives each window's dy to its LAST maximum (2 x 2, stride 2)."""
    dx = np.zeros_like(x)
    for m, c, i, j in np.ndindex(dy.shape):
        window = x[m, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2].ravel()
        last = 3 - int(np.argmax(window[::-1]))          # argmax finds the first; reversed: the last
        u, v = divmod(last, 2)
        dx[m, c, 2 * i + u, 2 * j + v] = dy[m, c, i, j]
    return dx


def shift_starts(encoding, offset):
    """An RLE string with every start moved by ``offset`` (-1: the 0-based starts mistake)."""
    numbers = [int(v) for v in encoding.split()]
    numbers[0::2] = [start + offset for start in numbers[0::2]]
    return " ".join(str(v) for v in numbers)


def transposed_conv_overwriting(x, w, stride):
    """The wrong transposed convolution that writes each contribution with ``=`` instead of
    adding it, so that where windows overlap only the last write survives: looping over the
    kernel positions, and looping over the input pixels."""
    n, c_in, h, wi = x.shape
    _, c_out, k_h, k_w = w.shape
    shape = (n, c_out, (h - 1) * stride + k_h, (wi - 1) * stride + k_w)
    by_kernel, by_pixel = np.zeros(shape), np.zeros(shape)
    for u in range(k_h):
        for v in range(k_w):
            by_kernel[:, :, u:u + stride * h:stride, v:v + stride * wi:stride] = \
                np.einsum("nchw,co->nohw", x, w[:, :, u, v])
    for i in range(h):
        for j in range(wi):
            by_pixel[:, :, i * stride:i * stride + k_h, j * stride:j * stride + k_w] = \
                np.einsum("nc,cokl->nokl", x[:, :, i, j], w)
    return by_kernel, by_pixel


def valid_size_without_bottom(size, depth):
    """The output side of a valid U-Net computed without the two convolutions at the bottom."""
    for _ in range(depth):
        size = (size - 4) // 2
    for _ in range(depth):
        size = 2 * size - 4
    return size
