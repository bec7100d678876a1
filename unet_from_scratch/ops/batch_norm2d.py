"""Batch normalisation over the channels of an NCHW batch.

Notation:

    x  (n, c, h, w)          input;  M = n h w values per channel
    gamma, beta  (c,)        scale and shift
    mu[c]  = mean of x[:, c]                      (over n, h, w)
    var[c] = mean of (x[:, c] - mu[c])^2          (biased, as used for normalising)
    x_hat  = (x - mu) / sqrt(var + eps)
    y      = gamma x_hat + beta

In **training** the batch's own mu and var are used, and the running statistics
are updated as in PyTorch (``momentum`` is the weight of the *new* value, and the
running variance uses the unbiased batch variance ``var * M / (M - 1)``):

    running_mean = (1 - momentum) running_mean + momentum mu
    running_var  = (1 - momentum) running_var  + momentum var M / (M - 1)

In **evaluation** the running statistics replace mu and var, so y is a fixed
affine function of x.

Backward in training (mu and var depend on x, which couples the values of a channel):

    dbeta  = sum dy                 dgamma = sum dy x_hat          (sums over n, h, w)
    dx     = gamma / sqrt(var + eps) * (dy - dbeta / M - x_hat dgamma / M)

and in evaluation simply ``dx = dy gamma / sqrt(running_var + eps)``.
The loop definition is :func:`unet_from_scratch.reference.batch_norm2d_forward`.
"""

from ..backend import get_array_module
from ..checks import check_cache, check_array, check_image, check_same_dtype_and_device, check_upstream


def batch_norm2d_forward(x, gamma, beta, running_mean=None, running_var=None, training=True,
                         momentum=0.1, eps=1e-5):
    """Normalise each channel of ``x``, then scale by ``gamma`` and shift by ``beta``.

    Inputs:
        x: (n, c, h, w) float array.
        gamma, beta: (c,) arrays of ``x``'s dtype.
        running_mean, running_var: (c,) arrays, updated **in place** when ``training``;
            required when not training; may be None in training (no update).
        training: use the batch's statistics (True) or the running ones (False).
        momentum: weight of the new batch statistics in the running averages.
        eps: added to the variance for numerical safety.
    Returns:
        y: (n, c, h, w) array of ``x``'s dtype; cache for :func:`batch_norm2d_backward`.
    """
    op = "batch_norm2d_forward"
    _check_inputs(op, x, gamma, beta, running_mean, running_var, training)
    xp = get_array_module(x)
    shape = (1, -1, 1, 1)
    if training:
        count = x.shape[0] * x.shape[2] * x.shape[3]
        if count < 2:
            raise ValueError(f"{op}: training needs more than one value per channel to compute a "
                             f"variance, got x.shape={tuple(x.shape)}")
        mean = x.mean(axis=(0, 2, 3))
        var = ((x - mean.reshape(shape)) ** 2).mean(axis=(0, 2, 3))
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean
            running_var *= 1 - momentum
            running_var += momentum * var * (count / (count - 1))
    else:
        mean, var = running_mean, running_var
    inv_std = 1 / xp.sqrt(var + eps)
    x_hat = (x - mean.reshape(shape)) * inv_std.reshape(shape)
    y = gamma.reshape(shape) * x_hat + beta.reshape(shape)
    return y, (x_hat, gamma, inv_std, training)


def batch_norm2d_backward(dy, cache):
    """Gradients of :func:`batch_norm2d_forward`.

    Inputs:
        dy: (n, c, h, w) upstream gradient.
    Returns:
        dx: (n, c, h, w), dgamma: (c,), dbeta: (c,).  (The running statistics get none.)
    """
    check_cache("batch_norm2d_backward", cache, tuple)
    x_hat, gamma, inv_std, training = cache
    check_upstream("batch_norm2d_backward", dy, x_hat.shape, x_hat.dtype)
    shape = (1, -1, 1, 1)
    dbeta = dy.sum(axis=(0, 2, 3))
    dgamma = (dy * x_hat).sum(axis=(0, 2, 3))
    scale = (gamma * inv_std).reshape(shape)
    if not training:
        return dy * scale, dgamma, dbeta
    count = x_hat.shape[0] * x_hat.shape[2] * x_hat.shape[3]
    dx = scale * (dy - dbeta.reshape(shape) / count - x_hat * (dgamma.reshape(shape) / count))
    return dx, dgamma, dbeta


def _check_inputs(op, x, gamma, beta, running_mean, running_var, training):
    check_image(op, "x", x)
    channels = x.shape[1]
    named = {"gamma": gamma, "beta": beta, "running_mean": running_mean,
             "running_var": running_var}
    if not training and (running_mean is None or running_var is None):
        raise ValueError(f"{op}: evaluation (training=False) needs running_mean and running_var")
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}: give both running_mean and running_var, or neither")
    for name, a in named.items():
        if a is None and name in ("running_mean", "running_var"):
            continue
        check_array(op, name, a, 1, "(C,)")
        if a.shape[0] != channels:
            raise ValueError(f"{op}: {name} must have shape ({channels},) for x with {channels} "
                             f"channels, got {name}.shape={tuple(a.shape)}")
    check_same_dtype_and_device(op, x, **named)
