"""The U-Net (Ronneberger, Fischer and Brox, 2015), forward and backward written out.

Shapes for the default network (``base_channels`` = 32, ``depth`` = 4, ``padding="same"``)
on a (n, 1, 96, 96) batch:

    encoder level 0   two 3x3 convs + ReLU   (n, 32, 96, 96)  --skip 0-->
    max pool 2x2                             (n, 32, 48, 48)
    encoder level 1                          (n, 64, 48, 48)  --skip 1-->
    ...                                       ...
    encoder level 3                          (n, 256, 12, 12) --skip 3-->
    max pool                                 (n, 256, 6, 6)
    bottleneck        two 3x3 convs          (n, 512, 6, 6)
    decoder level 3   2x2 up-conv, stride 2  (n, 256, 12, 12), concat skip 3 -> (n, 512, 12, 12),
                      two 3x3 convs          (n, 256, 12, 12)
    ...                                       ...
    decoder level 0                          (n, 32, 96, 96)
    head              1x1 conv               (n, 1, 96, 96): logits

With ``padding="valid"`` (the paper's network) every 3x3 convolution loses a
border of one pixel, the output is smaller than the input, and each skip is
center-cropped to the decoder's size before the concatenation.
"""

import numpy as np

from . import nn, ops
from .backend import to_device
from .checks import check_bool, check_int, check_number

PADDINGS = ("same", "valid")


def output_length(size, depth, padding):
    """Output length along one axis of a U-Net of ``depth`` and ``padding`` for an input of
    ``size``, or None if it does not fit (a pooling would meet an odd length, or a feature
    map would vanish).  Needs no network: sizes can be checked before one is built."""
    loss = 0 if padding == "same" else 4     # two valid 3x3 convs per block
    for _ in range(depth):
        size -= loss
        if size < 2 or size % 2:
            return None
        size //= 2
    size -= loss
    if size < 1:
        return None
    for _ in range(depth):
        size = 2 * size - loss
        if size < 1:
            return None
    return size


def fitting_sizes(depth, padding):
    """``(first, period)``: the input lengths a U-Net takes are ``first + k * period``.

    Each encoder level maps a length s to (s - loss) / 2 (loss = 4 for "valid", 0 for
    "same"), so the lengths that reach the bottleneck with b pixels are
    ``s = 2**depth b + loss (2**depth - 1)``; the first is the smallest b whose decoder
    output is not empty (a few tries, whatever the depth).
    """
    loss = 4 if padding == "valid" else 0
    period = 2 ** depth
    bottom = 1
    while output_length(period * bottom + loss * (period - 1), depth, padding) is None:
        bottom += 1
    return period * bottom + loss * (period - 1), period


def check_input_size(op, name, size, depth, padding):
    """Refuse an input ``size`` (one axis) that a U-Net of ``depth`` and ``padding`` does not
    take, naming the nearest sizes that fit (the smallest, when ``size`` is below it)."""
    if output_length(size, depth, padding) is not None:
        return
    first, period = fitting_sizes(depth, padding)
    if size < first:
        hint = f"the smallest that fits is {first}"
    else:
        below = first + (size - first) // period * period
        nearest = below if size - below <= below + period - size else below + period
        hint = f"the nearest that fits is {nearest}"
    raise ValueError(f"{op}: with depth {depth} and padding '{padding}', an input {name} of "
                     f"{size} does not fit (each pooling needs an even size); {hint}")


class UNet(nn.Module):
    """U-Net for binary (or multi-channel) segmentation; returns logits.

    Inputs:
        in_channels: channels of the input images (1 for ultrasound and EM).
        out_channels: channels of the output logits.
        base_channels: channels of the first level; each level doubles them.
        depth: number of poolings (levels below the first); the bottleneck has
            base_channels * 2**depth channels.
        padding: "same" (zero padding, output size = input size) or "valid"
            (no padding, as in the paper; output smaller than the input).
        batch_norm: a BatchNorm2d after every 3x3 convolution (whose bias is then dropped).
        dropout: probability of the Dropout after the bottleneck (0: none).
        seed: seeds the He initialisation of every weight (and the dropout masks).
    """

    def __init__(self, in_channels=1, out_channels=1, base_channels=32, depth=4, padding="same",
                 batch_norm=False, dropout=0.0, seed=0):
        super().__init__()
        in_channels, out_channels, base_channels, depth = (
            check_int("UNet", name, value) for name, value in (
                ("in_channels", in_channels), ("out_channels", out_channels),
                ("base_channels", base_channels), ("depth", depth)))
        seed = check_int("UNet", "seed", seed, minimum=0)
        batch_norm = check_bool("UNet", "batch_norm", batch_norm)   # plain types: config is JSON
        dropout = check_number("UNet", "dropout", dropout)
        if padding not in PADDINGS:
            raise ValueError(f"UNet: padding must be one of {PADDINGS}, got {padding!r}")
        if depth < 1 or base_channels < 1 or in_channels < 1 or out_channels < 1:
            raise ValueError(f"UNet: depth, base_channels, in_channels and out_channels must be "
                             f">= 1, got {depth}, {base_channels}, {in_channels}, {out_channels}")
        if not 0 <= dropout < 1:
            raise ValueError(f"UNet: dropout must be in [0, 1), got {dropout}")
        self.config = dict(in_channels=in_channels, out_channels=out_channels,
                           base_channels=base_channels, depth=depth, padding=padding,
                           batch_norm=batch_norm, dropout=dropout, seed=seed)
        rng = np.random.default_rng(seed)
        conv_padding = 1 if padding == "same" else 0
        widths = [base_channels * 2 ** level for level in range(depth + 1)]

        def double_conv(c_in, c_out):
            layers = []
            for a, b in ((c_in, c_out), (c_out, c_out)):
                layers.append(nn.Conv2d(a, b, 3, padding=conv_padding, bias=not batch_norm, rng=rng))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(b))
                layers.append(nn.ReLU())
            return nn.Sequential(*layers)

        self.encoders = nn.ModuleList()
        self.pools = nn.ModuleList()
        channels = in_channels
        for level in range(depth):
            self.encoders.append(double_conv(channels, widths[level]))
            self.pools.append(nn.MaxPool2d(2))
            channels = widths[level]
        bottleneck = [double_conv(channels, widths[depth])]
        if dropout > 0:
            bottleneck.append(nn.Dropout(dropout, rng=rng))
        self.bottleneck = nn.Sequential(*bottleneck)
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for level in reversed(range(depth)):          # decoders[0] is the deepest level
            self.ups.append(nn.ConvTranspose2d(widths[level + 1], widths[level], 2, stride=2, rng=rng))
            self.decoders.append(double_conv(2 * widths[level], widths[level]))
        self.head = nn.Conv2d(widths[0], out_channels, 1, rng=rng)

    # --- sizes ---

    def output_size(self, height, width):
        """The (height, width) of the logits for an input of (height, width); raises a
        ValueError naming the nearest size that fits when the input does not."""
        return tuple(self._check_axis(size, name) for size, name in ((height, "height"),
                                                                     (width, "width")))

    def output_length(self, size):
        """Output length along one axis for input length ``size``, or None if it does not fit
        (a pooling would meet an odd length, or a feature map would vanish)."""
        return output_length(size, self.config["depth"], self.config["padding"])

    def _check_axis(self, size, name):
        check_input_size("UNet", name, size, self.config["depth"], self.config["padding"])
        return self.output_length(size)

    # --- the two passes ---

    def forward(self, x, trace=None):
        """Logits for a batch: (n, in_channels, H, W) -> (n, out_channels, H_out, W_out).

        With a list as ``trace``, each block appends (name, output shape, parameter count).
        """
        if x.ndim != 4 or x.shape[1] != self.config["in_channels"]:
            raise ValueError(f"UNet.forward: x must be (N, {self.config['in_channels']}, H, W), "
                             f"got x.shape={tuple(x.shape)}")
        self.output_size(*x.shape[2:])
        self._crop_caches, self._concat_caches = [], []
        skips = []
        h = x
        for level, (encoder, pool) in enumerate(zip(self.encoders, self.pools)):
            h = _traced(trace, f"encoders.{level}", encoder, h)
            skips.append(h)                       # kept for the decoder's concatenation
            h = _traced(trace, f"pools.{level}", pool, h)
        h = _traced(trace, "bottleneck", self.bottleneck, h)
        for index, (up, decoder, skip) in enumerate(zip(self.ups, self.decoders, reversed(skips))):
            h = _traced(trace, f"ups.{index}", up, h)
            if skip.shape[2:] != h.shape[2:]:     # padding="valid": crop the skip to fit
                skip, crop_cache = ops.center_crop_forward(skip, h.shape[2:])
            else:
                crop_cache = None
            self._crop_caches.append(crop_cache)
            h, concat_cache = ops.concat_forward(skip, h)
            self._concat_caches.append(concat_cache)
            h = _traced(trace, f"decoders.{index}", decoder, h)
        return _traced(trace, "head", self.head, h)

    def backward(self, dy):
        """The gradient of the input; every parameter's gradient is added to its ``.grad``.

        The forward pass in reverse: at each concatenation the gradient splits in two --
        one part continues down through the up-convolution, the other travels back along
        the skip connection and joins the encoder's gradient at the same level.
        """
        depth = self.config["depth"]
        self._forward_cache("_concat_caches")
        dh = self.head.backward(dy)
        skip_grads = [None] * depth                # indexed like the decoders
        for index in reversed(range(depth)):      # the last decoder applied comes first
            dh = self.decoders[index].backward(dh)
            d_skip, dh = ops.concat_backward(dh, self._concat_caches[index])
            if self._crop_caches[index] is not None:
                d_skip = ops.center_crop_backward(d_skip, self._crop_caches[index])
            skip_grads[index] = d_skip
            dh = self.ups[index].backward(dh)
        dh = self.bottleneck.backward(dh)
        for level in reversed(range(depth)):      # deepest encoder first
            dh = self.pools[level].backward(dh)
            dh += skip_grads[depth - 1 - level]   # the skip path joins the encoder's gradient
            dh = self.encoders[level].backward(dh)
        return dh

    # --- a readable table ---

    def summary(self, height=96, width=96, batch=1):
        """A table of the blocks, their output shapes and parameter counts, as a string
        (computed by running a forward pass on zeros of the given size)."""
        rows = []
        was_training = self.training
        self.eval()                  # no batch-norm statistics are updated by the zeros
        try:
            zeros = np.zeros((batch, self.config["in_channels"], height, width), self.dtype)
            self.forward(to_device(zeros, self.device), trace=rows)
        finally:
            self.train(was_training)
        lines = [f"UNet({', '.join(f'{k}={v!r}' for k, v in self.config.items())})",
                 f"{'block':<14} {'output shape':<22} {'parameters':>12}"]
        lines += [f"{name:<14} {str(shape):<22} {count:>12,}" for name, shape, count in rows]
        lines.append(f"{'total':<14} {'':<22} {self.num_parameters():>12,}")
        return "\n".join(lines)


def _traced(trace, name, module, x):
    """``module(x)``, noting the block's name, output shape and parameter count in ``trace``."""
    y = module(x)
    if trace is not None:
        trace.append((name, tuple(y.shape), module.num_parameters()))
    return y
