"""Center crop: fitting the encoder's feature map to the decoder's in the
paper's valid-padding U-Net.

    x  (n, c, h_I, w_I)
    y  (n, c, h_O, w_O),  h_O <= h_I, w_O <= w_I
    top = floor((h_I - h_O) / 2),  left = floor((w_I - w_O) / 2)
    y[n, c, i, j] = x[n, c, top + i, left + j]

When the difference is odd, the extra row/column is dropped at the bottom/right.
Backward pads the gradient back with zeros: the cropped-away border did not
affect the output.
"""

from ..backend import get_array_module
from ..checks import check_cache, check_image, check_upstream, pair


def center_crop_forward(x, size):
    """Crop the central ``size`` = (h_O, w_O) region of ``x``.

    Inputs:
        x: (n, c, h_I, w_I) float array.
        size: int or pair (h_O, w_O), 1 <= h_O <= h_I, 1 <= w_O <= w_I.
    Returns:
        y: (n, c, h_O, w_O) array (a copy).
        cache: the input's and output's shapes, the dtype and the crop offsets.
    """
    op = "center_crop_forward"
    check_image(op, "x", x)
    h_out, w_out = pair(op, "size", size, 1)
    h_in, w_in = x.shape[2:]
    if h_out > h_in or w_out > w_in:
        raise ValueError(f"{op}: size {(h_out, w_out)} is larger than the input's spatial size "
                         f"{(h_in, w_in)} (x.shape={tuple(x.shape)})")
    top, left = center_crop_offsets((h_in, w_in), (h_out, w_out))
    y = x[:, :, top:top + h_out, left:left + w_out].copy()
    return y, (x.shape, y.shape, y.dtype, top, left)


def center_crop_offsets(input_size, output_size):
    """``(top, left)``: where the central ``output_size`` (h_O, w_O) window of an
    ``input_size`` (h_I, w_I) image starts -- ``floor((h_I - h_O) / 2)``, ``floor((w_I - w_O) / 2)``.

    The one rule for every center crop in the package: this op, the training masks of a
    valid network, and the PyTorch twin of the benchmarks.
    """
    (h_in, w_in), (h_out, w_out) = input_size, output_size
    return (h_in - h_out) // 2, (w_in - w_out) // 2


def center_crop_backward(dy, cache):
    """Place ``dy`` back in the middle of a zero array of the input's shape.

    Inputs:
        dy: (n, c, h_O, w_O) upstream gradient.
        cache: from :func:`center_crop_forward`.
    Returns:
        dx: (n, c, h_I, w_I).
    """
    check_cache("center_crop_backward", cache, tuple)
    x_shape, y_shape, dtype, top, left = cache
    check_upstream("center_crop_backward", dy, y_shape, dtype)
    xp = get_array_module(dy)
    h_out, w_out = y_shape[2:]
    dx = xp.zeros(x_shape, dtype=dy.dtype)
    dx[:, :, top:top + h_out, left:left + w_out] = dy
    return dx
