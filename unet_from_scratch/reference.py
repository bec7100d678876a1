"""The definitions: every op as plain Python loops that read like the math.

These are slow -- use small sizes only.  They are the tests' oracle and the
lessons' first step: the fast kernels in :mod:`unet_from_scratch.ops` have
the same names and signatures and must give the same numbers.

Each op is a pair, ``y, cache = <op>_forward(...)`` and
``grads = <op>_backward(dy, cache)``, on NumPy arrays in NCHW layout.  The
backward passes are written as the chain rule applied to the forward's sum,
term by term: wherever the forward does ``y[...] += a * b``, the backward does
``da += dy[...] * b`` and ``db += dy[...] * a``.

Notation: n images, c channels, height h and width w; kernel k_h x k_w;
stride s_h, s_w; zero padding p_h, p_w.
"""

import math
import numbers

import numpy as np


def _pair(value):
    return (value, value) if isinstance(value, numbers.Integral) else tuple(value)


# --- convolution ---------------------------------------------------------------------------

def conv2d_forward(x, w, b=None, stride=1, padding=0):
    """y[n, o, i, j] = b[o] + sum_{c, p, q} w[o, c, p, q] * x_pad[n, c, s_h i + p, s_w j + q].

    x: (n, c_I, h_I, w_I), w: (c_O, c_I, k_h, k_w), b: (c_O,) or None.
    Returns y: (n, c_O, h_O, w_O) with h_O = (h_I + 2 p_h - k_h) // s_h + 1, and the cache.
    """
    (s_h, s_w), (p_h, p_w) = _pair(stride), _pair(padding)
    n_images, c_in, h_in, w_in = x.shape
    c_out, _, k_h, k_w = w.shape
    h_out = (h_in + 2 * p_h - k_h) // s_h + 1
    w_out = (w_in + 2 * p_w - k_w) // s_w + 1
    y = np.zeros((n_images, c_out, h_out, w_out), dtype=x.dtype)
    for n in range(n_images):
        for o in range(c_out):
            for i in range(h_out):
                for j in range(w_out):
                    total = b[o] if b is not None else 0.0
                    for c in range(c_in):
                        for p in range(k_h):
                            for q in range(k_w):
                                row = s_h * i + p - p_h      # position in the unpadded input
                                col = s_w * j + q - p_w
                                if 0 <= row < h_in and 0 <= col < w_in:   # outside: zero padding
                                    total += w[o, c, p, q] * x[n, c, row, col]
                    y[n, o, i, j] = total
    return y, (x, w, b, (s_h, s_w), (p_h, p_w))


def conv2d_backward(dy, cache):
    """dx, dw, db of :func:`conv2d_forward`, by the chain rule on each term of its sum."""
    x, w, b, (s_h, s_w), (p_h, p_w) = cache
    n_images, c_in, h_in, w_in = x.shape
    c_out, _, k_h, k_w = w.shape
    _, _, h_out, w_out = dy.shape
    dx, dw = np.zeros_like(x), np.zeros_like(w)
    db = np.zeros_like(b) if b is not None else None
    for n in range(n_images):
        for o in range(c_out):
            for i in range(h_out):
                for j in range(w_out):
                    g = dy[n, o, i, j]
                    if db is not None:
                        db[o] += g
                    for c in range(c_in):
                        for p in range(k_h):
                            for q in range(k_w):
                                row = s_h * i + p - p_h
                                col = s_w * j + q - p_w
                                if 0 <= row < h_in and 0 <= col < w_in:
                                    dw[o, c, p, q] += g * x[n, c, row, col]
                                    dx[n, c, row, col] += g * w[o, c, p, q]
    return dx, dw, db


def conv_transpose2d_forward(x, w, b=None, stride=1, padding=0):
    """y[n, o, s_h i + p - p_h, s_w j + q - p_w] += w[c, o, p, q] * x[n, c, i, j], plus b[o].

    Every input pixel spreads a kernel-weighted copy of itself onto the output:
    the adjoint of :func:`conv2d_forward`.
    x: (n, c_I, h_I, w_I), w: (c_I, c_O, k_h, k_w), b: (c_O,) or None.
    Returns y: (n, c_O, h_O, w_O) with h_O = (h_I - 1) s_h - 2 p_h + k_h, and the cache.
    """
    (s_h, s_w), (p_h, p_w) = _pair(stride), _pair(padding)
    n_images, c_in, h_in, w_in = x.shape
    _, c_out, k_h, k_w = w.shape
    h_out = (h_in - 1) * s_h - 2 * p_h + k_h
    w_out = (w_in - 1) * s_w - 2 * p_w + k_w
    y = np.zeros((n_images, c_out, h_out, w_out), dtype=x.dtype)
    for n in range(n_images):
        for c in range(c_in):
            for i in range(h_in):
                for j in range(w_in):
                    for o in range(c_out):
                        for p in range(k_h):
                            for q in range(k_w):
                                row = s_h * i + p - p_h
                                col = s_w * j + q - p_w
                                if 0 <= row < h_out and 0 <= col < w_out:   # else cropped away
                                    y[n, o, row, col] += w[c, o, p, q] * x[n, c, i, j]
    if b is not None:
        for o in range(c_out):
            y[:, o] += b[o]
    return y, (x, w, b, (s_h, s_w), (p_h, p_w))


def conv_transpose2d_backward(dy, cache):
    """dx, dw, db of :func:`conv_transpose2d_forward`, term by term."""
    x, w, b, (s_h, s_w), (p_h, p_w) = cache
    n_images, c_in, h_in, w_in = x.shape
    _, c_out, k_h, k_w = w.shape
    _, _, h_out, w_out = dy.shape
    dx, dw = np.zeros_like(x), np.zeros_like(w)
    for n in range(n_images):
        for c in range(c_in):
            for i in range(h_in):
                for j in range(w_in):
                    for o in range(c_out):
                        for p in range(k_h):
                            for q in range(k_w):
                                row = s_h * i + p - p_h
                                col = s_w * j + q - p_w
                                if 0 <= row < h_out and 0 <= col < w_out:
                                    g = dy[n, o, row, col]
                                    dx[n, c, i, j] += g * w[c, o, p, q]
                                    dw[c, o, p, q] += g * x[n, c, i, j]
    db = None
    if b is not None:
        db = np.zeros_like(b)
        for o in range(c_out):
            db[o] = dy[:, o].sum()
    return dx, dw, db


# --- pooling -------------------------------------------------------------------------------

def max_pool2d_forward(x, kernel_size=2, stride=None):
    """y[n, c, i, j] = max_{p, q} x[n, c, s_h i + p, s_w j + q], windows scanned row by row.

    x: (n, c, h_I, w_I). h_O = (h_I - k_h) // s_h + 1 (leftover rows are ignored).
    The cache remembers where each maximum was: the first one met in row-major
    order, so ties send the gradient to the earliest position.
    """
    k_h, k_w = _pair(kernel_size)
    s_h, s_w = (k_h, k_w) if stride is None else _pair(stride)
    n_images, channels, h_in, w_in = x.shape
    h_out = (h_in - k_h) // s_h + 1
    w_out = (w_in - k_w) // s_w + 1
    y = np.zeros((n_images, channels, h_out, w_out), dtype=x.dtype)
    winner = {}
    for n in range(n_images):
        for c in range(channels):
            for i in range(h_out):
                for j in range(w_out):
                    best_at = (s_h * i, s_w * j)          # start with the window's first pixel
                    best = x[n, c, s_h * i, s_w * j]
                    for p in range(k_h):
                        for q in range(k_w):
                            value = x[n, c, s_h * i + p, s_w * j + q]
                            if value > best:          # strictly greater: the first maximum wins
                                best, best_at = value, (s_h * i + p, s_w * j + q)
                    y[n, c, i, j] = best
                    winner[n, c, i, j] = best_at
    return y, (x.shape, winner)


def max_pool2d_backward(dy, cache):
    """dx: each dy[n, c, i, j] goes to the one input pixel that was its window's maximum."""
    x_shape, winner = cache
    dx = np.zeros(x_shape, dtype=dy.dtype)
    for (n, c, i, j), (row, col) in winner.items():
        dx[n, c, row, col] += dy[n, c, i, j]
    return dx


# --- joining and cropping ------------------------------------------------------------------

def concat_forward(*xs):
    """y[n, offset_k + c, i, j] = xs[k][n, c, i, j]: the inputs stacked along channels."""
    n_images, _, height, width = xs[0].shape
    channels = [x.shape[1] for x in xs]
    y = np.zeros((n_images, sum(channels), height, width), dtype=xs[0].dtype)
    offset = 0
    for x in xs:
        for c in range(x.shape[1]):
            y[:, offset + c] = x[:, c]
        offset += x.shape[1]
    return y, channels


def concat_backward(dy, cache):
    """Each input gets back the channels it contributed."""
    channels = cache
    grads, offset = [], 0
    for count in channels:
        dx = np.zeros((dy.shape[0], count) + dy.shape[2:], dtype=dy.dtype)
        for c in range(count):
            dx[:, c] = dy[:, offset + c]
        grads.append(dx)
        offset += count
    return tuple(grads)


def center_crop_forward(x, size):
    """y[n, c, i, j] = x[n, c, top + i, left + j], top = (h_I - h_O) // 2, left likewise."""
    h_out, w_out = _pair(size)
    _, _, h_in, w_in = x.shape
    top, left = (h_in - h_out) // 2, (w_in - w_out) // 2
    y = np.zeros(x.shape[:2] + (h_out, w_out), dtype=x.dtype)
    for i in range(h_out):
        for j in range(w_out):
            y[:, :, i, j] = x[:, :, top + i, left + j]
    return y, (x.shape, top, left)


def center_crop_backward(dy, cache):
    """dx is dy placed back at (top, left), zero on the cropped border."""
    x_shape, top, left = cache
    dx = np.zeros(x_shape, dtype=dy.dtype)
    for i in range(dy.shape[2]):
        for j in range(dy.shape[3]):
            dx[:, :, top + i, left + j] = dy[:, :, i, j]
    return dx


# --- elementwise ---------------------------------------------------------------------------

def relu_forward(x):
    """y = x where x > 0, else 0."""
    y = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        y[index] = x[index] if x[index] > 0 else 0.0
    return y, x


def relu_backward(dy, cache):
    """dx = dy where x > 0, else 0 (the derivative at 0 is taken as 0)."""
    x = cache
    dx = np.zeros_like(dy)
    for index in np.ndindex(dy.shape):
        dx[index] = dy[index] if x[index] > 0 else 0.0
    return dx


def sigmoid_forward(x):
    """y = 1 / (1 + exp(-x)), computed as exp(x) / (1 + exp(x)) for x < 0 so exp never overflows."""
    y = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        v = float(x[index])
        y[index] = 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))
    return y, y


def sigmoid_backward(dy, cache):
    """dx = dy * y * (1 - y)."""
    y = cache
    dx = np.zeros_like(dy)
    for index in np.ndindex(dy.shape):
        dx[index] = dy[index] * y[index] * (1 - y[index])
    return dx


def bias_add_forward(x, b):
    """y[n, c, i, j] = x[n, c, i, j] + b[c]."""
    y = np.array(x, copy=True)
    for c in range(x.shape[1]):
        y[:, c] += b[c]
    return y, None


def bias_add_backward(dy, cache):
    """dx = dy; db[c] = sum over n, i, j of dy[n, c, i, j]."""
    db = np.zeros(dy.shape[1], dtype=dy.dtype)
    for c in range(dy.shape[1]):
        db[c] = dy[:, c].sum()
    return dy.copy(), db


# --- normalisation and dropout -------------------------------------------------------------

def batch_norm2d_forward(x, gamma, beta, running_mean=None, running_var=None, training=True,
                         momentum=0.1, eps=1e-5):
    """y[n, c, i, j] = gamma[c] (x[n, c, i, j] - mu[c]) / sqrt(var[c] + eps) + beta[c].

    Training: mu, var are channel c's mean and (biased) variance over n, i, j, and the
    running statistics move towards them (unbiased variance); evaluation: the running ones.
    """
    n_images, channels, height, width = x.shape
    count = n_images * height * width
    y = np.zeros_like(x)
    mus, variances = [], []
    for c in range(channels):
        values = [float(x[n, c, i, j]) for n in range(n_images) for i in range(height)
                  for j in range(width)]
        if training:
            mu = sum(values) / count
            var = sum((v - mu) ** 2 for v in values) / count
            if running_mean is not None:
                running_mean[c] = (1 - momentum) * running_mean[c] + momentum * mu
                running_var[c] = (1 - momentum) * running_var[c] + momentum * var * count / (count - 1)
        else:
            mu, var = float(running_mean[c]), float(running_var[c])
        mus.append(mu)
        variances.append(var)
        for n in range(n_images):
            for i in range(height):
                for j in range(width):
                    x_hat = (x[n, c, i, j] - mu) / math.sqrt(var + eps)
                    y[n, c, i, j] = gamma[c] * x_hat + beta[c]
    return y, (x, gamma, mus, variances, eps, training)


def batch_norm2d_backward(dy, cache):
    """dx, dgamma, dbeta of :func:`batch_norm2d_forward`, from the chain rule through mu and var:

        dx_hat = dy gamma
        dvar   = sum dx_hat (x - mu) (-1/2) (var + eps)^(-3/2)
        dmu    = sum dx_hat (-1 / sqrt(var + eps))            (+ dvar * sum -2 (x - mu) / M, which is 0)
        dx     = dx_hat / sqrt(var + eps) + dvar 2 (x - mu) / M + dmu / M
    In evaluation mu and var are constants, so only the first term of dx remains.
    """
    x, gamma, mus, variances, eps, training = cache
    n_images, channels, height, width = x.shape
    count = n_images * height * width
    dx, dgamma, dbeta = np.zeros_like(x), np.zeros_like(gamma), np.zeros_like(gamma)
    for c in range(channels):
        mu, std = mus[c], math.sqrt(variances[c] + eps)
        pixels = [(n, i, j) for n in range(n_images) for i in range(height) for j in range(width)]
        dvar = dmu = 0.0
        for (n, i, j) in pixels:
            g = float(dy[n, c, i, j])
            dbeta[c] += g
            dgamma[c] += g * (x[n, c, i, j] - mu) / std
            dx_hat = g * gamma[c]
            dvar += dx_hat * (x[n, c, i, j] - mu) * -0.5 * std ** -3
            dmu += -dx_hat / std
        for (n, i, j) in pixels:
            dx_hat = dy[n, c, i, j] * gamma[c]
            dx[n, c, i, j] = dx_hat / std
            if training:
                dx[n, c, i, j] += dvar * 2 * (x[n, c, i, j] - mu) / count + dmu / count
    return dx, dgamma, dbeta


def dropout_forward(x, p, rng, training=True):
    """y = x * mask, mask = 1/(1-p) where a uniform draw is >= p, else 0 (identity if not training).

    Draws exactly as the fast op does (one ``rng.random(x.shape)``), so both drop the same values.
    """
    if not training or p == 0:
        return x.copy(), None
    draws = np.random.default_rng(rng).random(x.shape)
    mask = np.zeros_like(x)
    y = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        mask[index] = 1 / (1 - p) if draws[index] >= p else 0.0
        y[index] = x[index] * mask[index]
    return y, mask


def dropout_backward(dy, cache):
    """dx = dy * mask."""
    mask = cache
    if mask is None:
        return dy.copy()
    dx = np.zeros_like(dy)
    for index in np.ndindex(dy.shape):
        dx[index] = dy[index] * mask[index]
    return dx
