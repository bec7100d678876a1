"""The PyTorch twin: the same U-Net, the same losses, the same training step and the same ops,
written in torch, for the benchmarks to compare against.

This is the one module of the package that imports torch, and nothing imports it until a
comparison is about to run (:func:`.environment.import_torch` finds PyTorch first): the
package never needs PyTorch, and importing torch takes seconds and hundreds of MiB.

    torch_dice_loss, torch_bce_loss, torch_dice_bce_loss    losses.LOSSES in torch ops
    torch_unet                  the module equivalent to ``UNet(...)``, state dict by position
    copy_weights_to_torch       our weights into it, so that both start alike
    torch_training_step         forward, loss, backward, Adam, with autograd
    torch_inputs, torch_forward, torch_forward_backward     the ops that ``bench ops`` times
"""

import numpy as np
import torch
import torch.nn.functional as F

from .. import backend
from ..ops import center_crop_offsets


# ----------------------------------------------------------------------------- losses

# The twins of losses.LOSSES, with the same defaults (smooth 1, per-image Dice, weights 0.5).

def torch_dice_loss(logits, targets, smooth=1.0):
    """:func:`losses.dice_loss_forward` in torch ops, ``p = sigmoid(logits)``:

        loss = 1 - mean_n (2 sum p t + s) / (sum p + sum t + s)

    the sums over each image's C, H, W.  logits, targets: (n, c, h, w); returns a 0-d tensor."""
    groups = logits.shape[0]
    p = torch.sigmoid(logits).reshape(groups, -1)
    t = targets.reshape(groups, -1)
    dice = (2 * (p * t).sum(dim=1) + smooth) / (p.sum(dim=1) + t.sum(dim=1) + smooth)
    return 1 - dice.mean()


def torch_bce_loss(logits, targets):
    """:func:`losses.bce_with_logits_forward` in torch: the mean over all elements."""
    return F.binary_cross_entropy_with_logits(logits, targets)


def torch_dice_bce_loss(logits, targets):
    """:func:`losses.dice_bce_loss_forward` with its default weights 0.5 and 0.5."""
    return 0.5 * torch_dice_loss(logits, targets) + 0.5 * torch_bce_loss(logits, targets)


TORCH_LOSSES = {"dice": torch_dice_loss, "bce": torch_bce_loss, "dice+bce": torch_dice_bce_loss}


# ----------------------------------------------------------------------------- the network

def torch_unet(base_channels=32, depth=4, padding="same", batch_norm=False, in_channels=1,
               out_channels=1):
    """The PyTorch module equivalent to ``UNet(...)`` with the same arguments (no dropout).

    Its modules are registered in the order of ours, so its ``state_dict()`` lists the same
    entries, shape for shape, position by position (see :func:`copy_weights_to_torch`).
    With padding "valid" each skip connection is cropped to the upsampled map's size by
    :func:`unet_from_scratch.ops.center_crop_offsets`, the rule our network uses.
    """
    tnn = torch.nn
    pad = 1 if padding == "same" else 0

    def double_conv(a, b):
        layers = []
        for c_in, c_out in ((a, b), (b, b)):
            layers.append(tnn.Conv2d(c_in, c_out, 3, padding=pad, bias=not batch_norm))
            if batch_norm:
                layers.append(tnn.BatchNorm2d(c_out))
            layers.append(tnn.ReLU())
        return tnn.Sequential(*layers)

    class TorchUNet(tnn.Module):
        def __init__(self):
            super().__init__()
            widths = [base_channels * 2 ** level for level in range(depth + 1)]
            self.encoders = tnn.ModuleList()
            self.pools = tnn.ModuleList()
            channels = in_channels
            for level in range(depth):
                self.encoders.append(double_conv(channels, widths[level]))
                self.pools.append(tnn.MaxPool2d(2))
                channels = widths[level]
            self.bottleneck = tnn.Sequential(double_conv(channels, widths[depth]))
            self.ups, self.decoders = tnn.ModuleList(), tnn.ModuleList()
            for level in reversed(range(depth)):
                self.ups.append(tnn.ConvTranspose2d(widths[level + 1], widths[level], 2, stride=2))
                self.decoders.append(double_conv(2 * widths[level], widths[level]))
            self.head = tnn.Conv2d(widths[0], out_channels, 1)

        def forward(self, x):
            skips = []
            for encoder, pool in zip(self.encoders, self.pools):
                x = encoder(x)
                skips.append(x)
                x = pool(x)
            x = self.bottleneck(x)
            for up, decoder, skip in zip(self.ups, self.decoders, reversed(skips)):
                x = up(x)
                height, width = x.shape[2:]
                top, left = center_crop_offsets(skip.shape[2:], (height, width))
                skip = skip[:, :, top:top + height, left:left + width]
                x = decoder(torch.cat([skip, x], dim=1))
            return self.head(x)

    return TorchUNet()


def copy_weights_to_torch(model, torch_model):
    """Copy our model's ``state_dict()`` into ``torch_model``'s, position by position, in place.

    Raises ValueError when the two differ in length or in a shape.
    """
    ours = list(model.state_dict().items())
    theirs = list(torch_model.state_dict().items())
    if len(ours) != len(theirs):
        raise ValueError(f"copy_weights_to_torch: our state has {len(ours)} entries but the "
                         f"PyTorch module's has {len(theirs)}")
    with torch.no_grad():
        for (name, array), (their_name, tensor) in zip(ours, theirs):
            if tuple(array.shape) != tuple(tensor.shape):
                raise ValueError(f"copy_weights_to_torch: {name} has shape {tuple(array.shape)} "
                                 f"but PyTorch's {their_name} has shape {tuple(tensor.shape)}")
            tensor.copy_(torch.from_numpy(np.ascontiguousarray(backend.asnumpy(array))))


def torch_training_step(model, optimizer, loss, x, t):
    """One training step in PyTorch, with autograd: forward, ``loss`` (a key of
    :data:`TORCH_LOSSES`), backward, ``optimizer.step()``.  Returns the loss, a 0-d tensor.

    The gradients are zeroed in place (``set_to_none=False``) as ours are, so that both
    keep them from step to step and do the same work.
    """
    optimizer.zero_grad(set_to_none=False)
    value = TORCH_LOSSES[loss](model(x), t)
    value.backward()
    optimizer.step()
    return value.detach()


# ----------------------------------------------------------------------------- the ops

def torch_inputs(inputs):
    """PyTorch tensors sharing the memory of the NumPy arrays of :func:`.ops.make_inputs`:
    "x", "w", "b" as leaves that require gradients (None stays None: pooling has no
    weights), and "dy", the upstream gradient."""
    tensors = {}
    for name in ("x", "w", "b"):
        a = inputs[name]
        tensors[name] = None if a is None else torch.from_numpy(a).requires_grad_(True)
    tensors["dy"] = torch.from_numpy(inputs["dy"])
    return tensors


def torch_forward(op, tensors):
    """PyTorch's forward pass for ``op`` (autograd records the graph, as in training), with the
    arguments of :func:`.ops.ours_forward`."""
    x, w, b = tensors["x"], tensors["w"], tensors["b"]
    if op == "conv2d":
        return F.conv2d(x, w, b, stride=1, padding=1)
    if op == "conv_transpose2d":
        return F.conv_transpose2d(x, w, b, stride=2, padding=0)
    return F.max_pool2d(x, kernel_size=2, stride=2)


def torch_forward_backward(op, tensors):
    """One PyTorch forward pass and its backward with the upstream gradient ``tensors["dy"]``."""
    for name in ("x", "w", "b"):
        if tensors[name] is not None:
            tensors[name].grad = None  # start afresh, as our backward does, instead of accumulating
    y = torch_forward(op, tensors)
    y.backward(tensors["dy"])
