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


def db_averaged_over_batch(dy):
    """The wrong db that averages dy over the images of the batch instead of summing."""
    return dy.sum(axis=(0, 2, 3)) / dy.shape[0]


def dw_transposed(dw):
    """The wrong dw of im2col's formula multiplied the other way round, cols @ dy_matrix.T
    (shape (c_I k_h k_w, c_O)), and reshaped to w's shape; and, where c_I == c_O, dw with its
    two channel axes swapped."""
    c_out, c_in = dw.shape[:2]
    wrongs = [dw.reshape(c_out, -1).T.reshape(dw.shape)]
    if c_in == c_out:
        wrongs.append(dw.transpose(1, 0, 2, 3))
    return wrongs


def transposed_conv_flipped_kernel(x, w, stride):
    """The wrong transposed convolution that scatters the kernel rotated by 180 degrees."""
    return reference.conv_transpose2d_forward(x, w[:, :, ::-1, ::-1].copy(), None, stride, 0)[0]


def bias_corrected_moments(m, v, t, beta1, beta2):
    """The bias-corrected m_hat and v_hat, which a wrong Adam step returns as the new m and v
    (the next step then corrects them a second time)."""
    return m / (1 - beta1 ** t), v / (1 - beta2 ** t)


def rle_start_end(mask, inclusive):
    """The wrong run-length encoding "start end ...": the run's last pixel (``inclusive``) or
    the pixel after it, instead of its length."""
    pixels = np.concatenate([[0], mask.T.ravel().astype(int), [0]])
    changes = np.flatnonzero(np.diff(pixels))
    starts, ends = changes[0::2] + 1, changes[1::2] + 1         # 1-based; end: the pixel after
    return " ".join(f"{s} {e - 1 if inclusive else e}" for s, e in zip(starts, ends))


def rle_uint8_wraparound(mask):
    """The wrong run-length encoding that takes np.diff of the uint8 mask: a fall from 1 to 0
    wraps around to 255 instead of -1, so no run ever ends and the pairs of starts and ends
    are empty -- "" for every mask."""
    pixels = np.pad(mask.T.ravel(), 1)                           # still uint8
    changes = np.diff(pixels)
    starts, ends = np.flatnonzero(changes == 1), np.flatnonzero(changes == -1)
    return " ".join(f"{s + 1} {e - s}" for s, e in zip(starts, ends))


def soft_dice_without_smoothing(logits, targets):
    """The wrong (loss, dlogits) of the soft Dice loss without the smoothing term 1 (batch
    sums): 1 - 2 sum p t / (sum p + sum t) and its gradient."""
    p = 1 / (1 + np.exp(-logits))
    intersection, total = np.sum(p * targets), np.sum(p) + np.sum(targets)
    if total == 0:
        return np.nan, np.full(logits.shape, np.nan)
    dp = -(2 * targets * total - 2 * intersection) / total ** 2
    return 1 - 2 * intersection / total, dp * p * (1 - p)


def skip_backward_one_branch(d_joined, d_down):
    """The wrong encoder gradients of a skip connection that keep only one of the two paths
    the encoder's map feeds: only the skip's (cropped back), or only the pooling path's."""
    channels = d_down.shape[1]
    return [_uncropped(d_joined[:, :channels], d_down.shape), d_down.copy()]


def skip_backward_overwriting(d_joined, d_down):
    """The wrong encoder gradient that writes the skip's gradient over the pooling path's in
    the middle (``=``) instead of adding it."""
    channels = d_down.shape[1]
    h, w = d_down.shape[2:]
    h_o, w_o = d_joined.shape[2:]
    top, left = (h - h_o) // 2, (w - w_o) // 2
    wrong = d_down.copy()
    wrong[:, :, top:top + h_o, left:left + w_o] = d_joined[:, :channels]
    return wrong


def skip_backward_at_corner(d_joined, d_down):
    """The wrong encoder gradient that puts the skip's gradient back at the top-left corner
    instead of where the center crop took it from."""
    channels = d_down.shape[1]
    wrong = d_down.copy()
    wrong[:, :, :d_joined.shape[2], :d_joined.shape[3]] += d_joined[:, :channels]
    return wrong


def _uncropped(d_cropped, shape):
    """``d_cropped`` put back in the middle of zeros of ``shape`` (top = (h - h_O) // 2)."""
    full = np.zeros(shape)
    top, left = (shape[2] - d_cropped.shape[2]) // 2, (shape[3] - d_cropped.shape[3]) // 2
    full[:, :, top:top + d_cropped.shape[2], left:left + d_cropped.shape[3]] = d_cropped
    return full


def unet_backward_dropping(model, dy, dropped):
    """The wrong backward pass of a U-Net (after its forward pass) that drops, at every fork,
    the gradient of one path: "skip" (what comes back along the skip connections) or "down"
    (what comes up through the pooling).  Adds into the parameters' .grad; returns dx."""
    d = model.head.backward(dy)
    joined = []
    for index in reversed(range(len(model.decoders))):
        d = model.decoders[index].backward(d)
        joined.append(d)
        d = model.ups[index].backward(d[:, d.shape[1] // 2:])
    d = model.bottleneck.backward(d)
    for level in reversed(range(len(model.encoders))):
        d_down = model.pools[level].backward(d)
        d_joined = joined[level]                             # joined[0]: the top level
        d_skip = _uncropped(d_joined[:, :d_joined.shape[1] // 2], d_down.shape)
        d = model.encoders[level].backward(d_down if dropped == "skip" else d_skip)
    return d


# --- lesson 09: He initialisation, batch normalisation, dropout ----------------------------

def he_std_mistakes(shape):
    """{what went wrong: the standard deviation it gives} for the weights (c_O, c_I, k_h, k_w)
    of a convolution, whose He standard deviation is sqrt(2 / (c_I k_h k_w))."""
    c_out, c_in, k_h, k_w = shape
    fan_in, fan_out = c_in * k_h * k_w, c_out * k_h * k_w
    return {"used fan_out = c_O k_h k_w instead of fan_in = c_I k_h k_w": np.sqrt(2 / fan_out),
            "used sqrt(1 / fan_in), the LeCun/Xavier scale for layers without a ReLU: the ReLU "
            "zeroes half of the inputs, which He's factor 2 makes up for": np.sqrt(1 / fan_in),
            "used the variance 2 / fan_in as the standard deviation; take its square root":
                2 / fan_in,
            "took fan_in = c_I only; every output sums over c_I k_h k_w inputs, so fan_in = "
            "c_I k_h k_w": np.sqrt(2 / c_in)}


def batch_norm_over_axes(x, gamma, beta, eps):
    """The wrong training-mode y of batch norm with the statistics taken over other axes than
    (n, h, w): per image and channel, per image over the channels, over everything, over n."""
    return [_normalised(x, x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True),
                        gamma, beta, eps)
            for axes in ((2, 3), (1, 2, 3), (0, 1, 2, 3), (0,))]


def batch_norm_eps_outside(x, gamma, beta, mean, var, eps):
    """The wrong y = gamma (x - mean) / (sqrt(var) + eps) + beta; mean and var (c,)."""
    shape = (1, -1, 1, 1)
    x_hat = (x - mean.reshape(shape)) / (np.sqrt(var.reshape(shape)) + eps)
    return gamma.reshape(shape) * x_hat + beta.reshape(shape)


def batch_norm_unbiased(x, gamma, beta, eps):
    """The wrong training-mode y normalised with the unbiased variance (divided by M - 1)."""
    axes = (0, 2, 3)
    return _normalised(x, x.mean(axis=axes, keepdims=True),
                       x.var(axis=axes, ddof=1, keepdims=True), gamma, beta, eps)


def running_average_reversed(running, batch, momentum):
    """The wrong running average momentum old + (1 - momentum) new: momentum weighs the old
    value instead of the new one."""
    return momentum * running + (1 - momentum) * batch


def batch_norm_dx_mistakes(dy, x_hat, gamma, inv_std):
    """The wrong training-mode dx of batch norm: mean and variance taken for constants, and
    the compact formula with one of its two correction terms missing."""
    shape, axes = (1, -1, 1, 1), (0, 2, 3)
    scale = (gamma * inv_std).reshape(shape)
    mean_dy = dy.mean(axis=axes, keepdims=True)
    mean_dy_x_hat = (dy * x_hat).mean(axis=axes, keepdims=True)
    return {"constants": scale * dy, "without mean(dy)": scale * (dy - x_hat * mean_dy_x_hat),
            "without x_hat mean(dy x_hat)": scale * (dy - mean_dy)}


def dropout_with_keep_probability_p(x, draws, p):
    """The wrong dropout outputs that keep each value with probability p (dropping it with
    probability 1 - p), scaled by 1 / (1 - p) or by 1 / p."""
    keeps = [draws < p, draws >= 1 - p]
    return [x * keep / scale for keep in keeps for scale in (1 - p, p) if scale > 0]


def _normalised(x, mean, var, gamma, beta, eps):
    shape = (1, -1, 1, 1)
    return gamma.reshape(shape) * (x - mean) / np.sqrt(var + eps) + beta.reshape(shape)
