"""Concatenation along channels: how a U-Net joins the skip connection.

    xs[k]  (n, c_k, h, w)           inputs, same n, h, w and dtype
    y      (n, c_0 + c_1 + ..., h, w)

Backward splits ``dy`` along channels: each input gets back the slice it
contributed, so the gradient of the decoder input flows partly into the
up-convolution and partly down the skip path to the encoder.
"""

from ..backend import get_array_module
from ..checks import check_cache, check_image, check_same_dtype_and_device, check_upstream


def concat_forward(*xs):
    """Concatenate ``xs`` along the channel axis.

    Inputs:
        *xs: two or more (n, c_k, h, w) float arrays of one dtype and equal n, h, w.
    Returns:
        y: (n, sum c_k, h, w) array.
        cache: the output's shape and dtype and the channel counts, for :func:`concat_backward`.
    """
    op = "concat_forward"
    if len(xs) < 2:
        raise ValueError(f"{op}: expected at least 2 arrays, got {len(xs)}")
    for k, x in enumerate(xs):
        check_image(op, f"xs[{k}]", x)
        check_same_dtype_and_device(op, xs[0], "xs[0]", **{f"xs[{k}]": x})
        if x.shape[0] != xs[0].shape[0] or x.shape[2:] != xs[0].shape[2:]:
            raise ValueError(f"{op}: every input must have the batch size and spatial size of "
                             f"xs[0] (n={xs[0].shape[0]}, h, w={tuple(xs[0].shape[2:])}), "
                             f"got xs[{k}].shape={tuple(x.shape)} "
                             f"(xs[0].shape={tuple(xs[0].shape)}); center-crop first?")
    xp = get_array_module(*xs)
    y = xp.concatenate(xs, axis=1)
    return y, (y.shape, y.dtype, tuple(x.shape[1] for x in xs))


def concat_backward(dy, cache):
    """Split ``dy`` back into the inputs' channel blocks.

    Inputs:
        dy: (n, sum c_k, h, w) upstream gradient.
        cache: from :func:`concat_forward`.
    Returns:
        A tuple of (n, c_k, h, w) gradients, one per input, in input order.  They are
        copies, not views of ``dy``: a caller may add to them in place.
    """
    check_cache("concat_backward", cache, tuple)
    y_shape, dtype, channels = cache
    check_upstream("concat_backward", dy, y_shape, dtype)
    grads, start = [], 0
    for c in channels:
        grads.append(dy[:, start:start + c].copy())
        start += c
    return tuple(grads)
