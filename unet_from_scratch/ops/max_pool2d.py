"""2-D max pooling.

Notation:

    x  (n, c, h_I, w_I)    input
    y  (n, c, h_O, w_O)    output
    h_O = floor((h_I - k_h) / s_h) + 1,   w_O likewise

    y[n, c, i, j] = max_{p, q} x[n, c, s_h i + p, s_w j + q]

Sizes that do not divide are floored, as in PyTorch: the last rows/columns
that do not fill a whole window are ignored (and get a zero gradient).
There is no padding.

Backward routes each ``dy[n, c, i, j]`` to exactly one input pixel: the
window's maximum.  **Ties** go to the *first* maximum in row-major order
within the window, so the gradient is never split or duplicated.  Where
windows overlap (stride < kernel), one pixel can be the maximum of several
windows and receives the sum of their gradients.  (A NaN in ``x`` makes its
window's maximum NaN, as in PyTorch; the gradient then goes to the window's
last pixel.)

Like ``im2col``, both passes loop over the k_h*k_w positions inside a window,
each step one strided slice of the whole batch -- never over pixels.
The loop definition is :func:`unet_from_scratch.reference.max_pool2d_forward`.

On CuPy arrays (GPU path "kernels") each pass is one CUDA kernel from ``cuda/pool.cu``:
the forward one thread per window, writing the maximum and its index; the backward a
*gather*, one thread per input pixel.  That forward stores the argmax as int32 (the
kernel's ``int*``) where the NumPy code stores uint8 (int64 for windows of more than 256
positions).  The cache says which path made it (``cache.path``), and the backward takes
the same path, so it always reads the layout its own forward wrote, whatever the switch
says in between.
"""

from collections import namedtuple

import numpy as np

from .. import backend
from ..backend import get_array_module
from ..checks import check_cache, check_image, check_kernel_fits, check_upstream, pair
from ..cuda import kernels
from .im2col import output_size

PoolCache = namedtuple("PoolCache", "path x_shape dtype argmax kernel_size stride")
PoolCache.__doc__ = """What :func:`max_pool2d_backward` needs: the path taken, the input's
shape and dtype, each window's argmax and the window geometry."""


def max_pool2d_forward(x, kernel_size=2, stride=None):
    """Max over each ``kernel_size`` window, windows ``stride`` apart.

    Inputs:
        x: (n, c, h_I, w_I) float array.
        kernel_size: int or pair, >= 1.
        stride: int or pair, >= 1; defaults to ``kernel_size`` (PyTorch's default).
    Returns:
        y: (n, c, h_O, w_O) array of ``x``'s dtype.
        cache: a :class:`PoolCache`: the path taken, the input's shape and dtype, the
            argmax of each window (its index in row-major order, 0 <= index < k_h k_w;
            uint8 or int64, or int32 on the kernel path) and the window geometry.
    """
    op = "max_pool2d_forward"
    check_image(op, "x", x)
    kernel_size = pair(op, "kernel_size", kernel_size, 1)
    stride = kernel_size if stride is None else pair(op, "stride", stride, 1)
    check_kernel_fits(op, x.shape[2:], kernel_size, (0, 0))
    xp = get_array_module(x)
    h_out = output_size(x.shape[2], kernel_size[0], stride[0], 0)
    w_out = output_size(x.shape[3], kernel_size[1], stride[1], 0)
    path = backend.compute_path(x)
    if path == "kernels":
        y, argmax = kernels.max_pool2d_forward(x, kernel_size, stride, (h_out, w_out))
        return y, PoolCache(path, x.shape, x.dtype, argmax, kernel_size, stride)

    y = _window_position(x, 0, 0, stride, (h_out, w_out)).copy()
    for p, q in _positions(kernel_size)[1:]:
        xp.maximum(y, _window_position(x, p, q, stride, (h_out, w_out)), out=y)
    argmax = _first_argmax(x, y, kernel_size, stride)
    return y, PoolCache(path, x.shape, x.dtype, argmax, kernel_size, stride)


def max_pool2d_backward(dy, cache):
    """Gradient of :func:`max_pool2d_forward`.

    Inputs:
        dy: (n, c, h_O, w_O) upstream gradient.
        cache: from :func:`max_pool2d_forward`.
    Returns:
        dx: (n, c, h_I, w_I), zero except at each window's (first) maximum.

    For each kernel position ``(p, q)``, the windows whose maximum sat there send
    their ``dy`` to pixel ``(s_h i + p, s_w j + q)``: one strided slice per kernel
    position, as in ``col2im``, so overlapping windows add up and no pixel loop is needed.
    """
    check_cache("max_pool2d_backward", cache, PoolCache)
    path, x_shape, dtype, argmax, kernel_size, stride = cache
    check_upstream("max_pool2d_backward", dy, argmax.shape, dtype)
    if path == "kernels":
        return kernels.max_pool2d_backward(dy, argmax, x_shape, kernel_size, stride)
    xp = get_array_module(dy)
    dx = xp.zeros(x_shape, dtype=dy.dtype)
    for index, (p, q) in enumerate(_positions(kernel_size)):
        pixels = _window_position(dx, p, q, stride, dy.shape[2:])    # a view into dx
        # dy where this position won, 0 elsewhere: a multiplication by the mask is several
        # times faster than xp.where in NumPy (a NaN or inf in dy would spread to the
        # window's other pixels, since inf * 0 = NaN; by then training has diverged anyway)
        pixels += dy * (argmax == index)
    return dx


def _positions(kernel_size):
    """The positions (p, q) inside a window, in row-major order."""
    return [(p, q) for p in range(kernel_size[0]) for q in range(kernel_size[1])]


def _window_position(x, p, q, stride, out_size):
    """The strided view ``x[:, :, s_h i + p, s_w j + q]`` over all windows (i, j): (n, c, h_O, w_O)."""
    (s_h, s_w), (h_out, w_out) = stride, out_size
    return x[:, :, p:p + s_h * h_out:s_h, q:q + s_w * w_out:s_w]


def _first_argmax(x, y, kernel_size, stride):
    """Index (in row-major order within the window) of the first maximum of each window.

    x: (n, c, h_I, w_I); y: (n, c, h_O, w_O), the maxima.
    The index of the first maximum is the number of positions *before* it, that
    is, the length of the run of leading positions that are not the maximum.
    (An ``argmax`` over a stacked window axis gives the same answer, but needs a
    k_h*k_w times larger array and is many times slower in NumPy.)
    """
    xp = get_array_module(x)
    positions = _positions(kernel_size)
    argmax = xp.zeros(y.shape, dtype=_index_dtype(len(positions)))
    before_first_max = xp.ones(y.shape, dtype=bool)
    for p, q in positions[:-1]:
        before_first_max &= _window_position(x, p, q, stride, y.shape[2:]) != y
        argmax += before_first_max
    return argmax


def _index_dtype(positions):
    """The smallest dtype that can hold a window index."""
    return np.uint8 if positions <= 256 else np.int64
