"""Training: ``fit`` a U-Net on arrays, ``predict`` probabilities, save and load checkpoints.

A data set is a pair of arrays ``(images, masks)``: images (N, H, W) or (N, 1, H, W)
with values in [0, 1], masks of the same shape with values 0 and 1.

Checkpoints are ``.npz`` files, read with ``allow_pickle=False``:

    model/<dotted name>      the state dict (parameters and buffers)
    optimizer/<key>          the optimizer's state (see ``optim``)
    config                   JSON: the model's constructor arguments, so a checkpoint
                             alone rebuilds the model
    meta                     JSON: epoch, history, loss, optimizer name and settings

They are written to a temporary file in the same folder and renamed over the old
one, so an interrupted run never leaves a half-written checkpoint.
"""

import json
import os
import sys
import time
import zipfile

import numpy as np

from . import losses, metrics, ops, optim, tiling
from .backend import asnumpy, to_device
from .checks import check_count
from .data.npz import write_npz_atomically
from .model import UNet

OPTIMIZERS = {"adam": optim.Adam, "sgd": optim.SGD}


# --- data ----------------------------------------------------------------------------------

def as_batch_array(array, name, op="fit"):
    """(N, H, W) or (N, 1, H, W) -> float32 (N, 1, H, W); refuses anything else."""
    array = np.asarray(array)
    if array.ndim == 3:
        array = array[:, None]
    if array.ndim != 4 or array.shape[1] != 1:
        raise ValueError(f"{op}: {name} must be (N, H, W) or (N, 1, H, W), got shape {array.shape}")
    return array.astype(np.float32, copy=False)


def check_data_set(images, masks, name, op="fit"):
    """A data set as float32 (N, 1, H, W) arrays, after checking shapes, values and masks;
    ``op`` and ``name`` ("train", "val", ...) make the error messages."""
    images = as_batch_array(images, f"{name} images", op)
    masks = as_batch_array(masks, f"{name} masks", op)
    if images.shape != masks.shape:
        raise ValueError(f"{op}: {name} images and masks differ in shape: {images.shape} vs "
                         f"{masks.shape}")
    if len(images) == 0:
        raise ValueError(f"{op}: the {name} set is empty (shape {images.shape})")
    if not np.isfinite(images).all():
        raise ValueError(f"{op}: {name} images contain NaN or infinite values")
    if images.min() < 0 or images.max() > 1:
        raise ValueError(f"{op}: {name} images must have values in [0, 1], got values from "
                         f"{images.min():g} to {images.max():g} (divide 8-bit images by 255)")
    if not np.isin(masks, (0, 1)).all():
        raise ValueError(f"{op}: {name} masks must hold only 0 and 1 (found values such as "
                         f"{np.setdiff1d(np.unique(masks), (0, 1))[:3].tolist()})")
    return images, masks


def crop_to(array, size):
    """Center-crop (N, C, H, W) to ``size`` = (h, w) -- the valid U-Net's output size, to
    which ``fit`` crops the training masks (the network predicts the middle of its input).
    A view, cropped by the same rule as :func:`ops.center_crop_forward`."""
    top, left = ops.center_crop_offsets(array.shape[2:], size)
    return array[:, :, top:top + size[0], left:left + size[1]]


# --- checkpoints ---------------------------------------------------------------------------

def save_checkpoint(path, model, optimizer, meta):
    """Write model, optimizer and ``meta`` to ``path`` atomically (temporary file, then rename)."""
    arrays = {f"model/{k}": asnumpy(v) for k, v in model.state_dict().items()}
    optimizer_state = optimizer.state_dict() if optimizer is not None else {}
    arrays.update({f"optimizer/{k}": np.asarray(asnumpy(v)) for k, v in optimizer_state.items()})
    arrays["config"] = np.array(json.dumps(model.config))
    arrays["meta"] = np.array(json.dumps(meta))
    write_npz_atomically(path, arrays)


def load_checkpoint(path, device="cpu"):
    """Rebuild the model of a checkpoint; return ``(model, optimizer_state, meta)``."""
    if not os.path.isfile(path):
        raise ValueError(f"load_checkpoint: {path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as data:
            config = json.loads(str(data["config"]))
            meta = json.loads(str(data["meta"]))
            state = {k[len("model/"):]: data[k] for k in data.files if k.startswith("model/")}
            optimizer_state = {k[len("optimizer/"):]: data[k] for k in data.files
                               if k.startswith("optimizer/")}
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile) as error:
        raise ValueError(f"load_checkpoint: {path} is not a readable unet_from_scratch "
                         f"checkpoint ({error})") from None
    try:
        model = UNet(**config)
        model.load_state_dict(state)
    except (TypeError, KeyError, ValueError) as error:
        raise ValueError(f"load_checkpoint: {path} does not hold the UNet its config describes "
                         f"({error})") from None
    return model.to(device=device), optimizer_state, meta


# --- progress ------------------------------------------------------------------------------

class ProgressBar:
    """A one-line text progress bar: ``epoch 3/10 [#######.....] 35/50 loss 0.412 31 img/s``."""

    def __init__(self, total, label, stream=sys.stderr, width=24):
        self.total, self.label, self.stream, self.width = total, label, stream, width
        self.start = time.perf_counter()
        self.enabled = stream is not None

    def update(self, done, images, loss):
        if not self.enabled:
            return
        filled = int(self.width * done / max(1, self.total))
        rate = images / max(1e-9, time.perf_counter() - self.start)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{self.total} loss {loss:.4f} "
                          f"{rate:.0f} img/s")
        self.stream.flush()

    def close(self):
        if self.enabled:
            self.stream.write("\r" + " " * 79 + "\r")
            self.stream.flush()


def progress_stream(progress):
    """stderr when a progress bar was asked for and someone is watching (a terminal);
    None in logs and pipes, where the redrawn line would only be noise."""
    return sys.stderr if progress and sys.stderr.isatty() else None


# --- training ------------------------------------------------------------------------------

def fit(model, train, val, epochs=10, batch_size=8, lr=1e-3, loss="dice+bce", optimizer="adam",
        seed=0, device="cpu", augment=None, checkpoint=None, resume=None, progress=True,
        log=print, run_info=None):
    """Train ``model`` on ``train`` = (images, masks) and report the validation Dice each epoch.

    Inputs:
        model: a UNet (its parameters are updated in place, on ``device``).
        train, val: data sets ``(images, masks)``, images (N, H, W) or (N, 1, H, W).
            The training images must be a size the network takes; for a
            padding="valid" model their masks are center-cropped to its (smaller) output.
            The validation images may be any size: ``predict`` scores them whole
            (overlap-tile for a valid model).
        epochs, batch_size, lr: as usual; ``loss`` one of ``losses.LOSSES`` ("dice",
            "bce", "dice+bce"); ``optimizer`` "adam" or "sgd" (momentum 0.9).
        seed: seeds the shuffling (and ``augment``'s generator).
        device: "cpu" or "cuda"; batches are copied there one at a time.
        augment: optional ``augment(images, masks, rng) -> (images, masks)`` applied to each
            training batch (NumPy, on the CPU), identically to images and masks.
        checkpoint: path of the best checkpoint (by validation Dice); the last epoch is
            saved beside it as ``<name>.last.npz``, for ``resume``.
        resume: path of a checkpoint to continue from (model, optimizer, epoch, history).
            The continued run equals an uninterrupted one, bit for bit, unless the model
            has dropout (the state of its random generator is not saved).
        progress: draw a progress bar on stderr (when it is a terminal); ``log`` prints one
            line per epoch.
        run_info: a JSON-serialisable dict stored in each checkpoint's meta under "run"
            (the command line keeps its data and model options there, to resume).
    Returns:
        history: dict of lists "epoch", "loss", "val_dice", "seconds".
    """
    check_count("fit", "epochs", epochs)
    check_count("fit", "batch_size", batch_size)
    train_images, train_masks = check_data_set(*train, "train")
    val_images, val_masks = check_data_set(*val, "val")
    if loss not in losses.LOSSES:
        raise ValueError(f"fit: loss must be one of {sorted(losses.LOSSES)}, got {loss!r}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"fit: optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
    loss_forward, loss_backward = losses.LOSSES[loss]
    model.to(device=device)
    out_size = model.output_size(*train_images.shape[2:])
    options = {"momentum": 0.9} if optimizer == "sgd" else {}
    opt = OPTIMIZERS[optimizer](model.parameters(), lr=lr, **options)
    history = {"epoch": [], "loss": [], "val_dice": [], "seconds": []}
    first_epoch, best = 1, -1.0
    if resume is not None:
        first_epoch, best, history = _resume(resume, model, opt, device, loss, log)
        log(f"resumed from {resume} after epoch {first_epoch - 1} (best val Dice {best:.4f})")

    for epoch in range(first_epoch, epochs + 1):
        start = time.perf_counter()
        model.train()
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(len(train_images))
        batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        bar = ProgressBar(len(batches), f"epoch {epoch}/{epochs}", progress_stream(progress))
        total, seen = 0.0, 0
        try:
            for step, index in enumerate(batches, 1):
                images, masks = train_images[index], train_masks[index]
                if augment is not None:
                    images, masks = augment(images, masks, rng)
                value = float(train_step(model, opt, loss_forward, loss_backward,
                                         to_device(images, device),
                                         to_device(crop_to(masks, out_size), device)))
                total += value * len(index)
                seen += len(index)
                bar.update(step, seen, total / seen)
        finally:
            bar.close()      # also on Ctrl-C, so the message after it starts on a clean line
        val_dice = evaluate_dice(model, val_images, val_masks, batch_size, device)
        history["epoch"].append(epoch)
        history["loss"].append(total / seen)
        history["val_dice"].append(val_dice)
        history["seconds"].append(time.perf_counter() - start)
        improved = val_dice > best
        best = max(best, val_dice)
        log(f"epoch {epoch:3d}/{epochs}  loss {total / seen:.4f}  val Dice {val_dice:.4f}"
            f"{'  (best)' if improved else ''}  {history['seconds'][-1]:.1f} s")
        if checkpoint is not None:
            meta = {"epoch": epoch, "best_val_dice": best, "history": history, "loss": loss,
                    "optimizer": optimizer, "lr": float(lr), "seed": int(seed),
                    "batch_size": int(batch_size), "image_size": list(train_images.shape[2:]),
                    "run": run_info or {}}
            save_checkpoint(last_checkpoint_path(checkpoint), model, opt, meta)
            if improved:
                save_checkpoint(checkpoint, model, opt, meta)
    return history


def train_step(model, optimizer, loss_forward, loss_backward, x, targets):
    """One step: forward, loss, backward, update.  Returns the batch's loss, a 0-d array on
    the model's device (``float(...)`` reads it; on a GPU that waits for the step to end).

    The loss's gradient with respect to itself is 1; ``loss_backward`` turns it into the
    gradient of the logits, which ``model.backward`` carries back to every parameter.
    """
    value, cache = loss_forward(model(x), targets)
    model.zero_grad()
    dlogits, _ = loss_backward(1.0, cache)
    model.backward(dlogits)
    optimizer.step()
    return value


def last_checkpoint_path(checkpoint):
    """Where ``fit`` keeps the last epoch beside the best: ``run.npz`` -> ``run.last.npz``."""
    root, ext = os.path.splitext(checkpoint)
    return f"{root}.last{ext or '.npz'}"


def _resume(path, model, opt, device, loss, log):
    saved, optimizer_state, meta = load_checkpoint(path, device)
    missing = [key for key in ("epoch", "best_val_dice", "history") if key not in meta]
    if missing:
        raise ValueError(f"fit: cannot resume from {path}: it was not written by fit "
                         f"(its meta lacks {missing})")
    if saved.config != model.config:
        differences = ", ".join(f"{k}={saved.config.get(k)!r} there but {v!r} here"
                                for k, v in model.config.items() if saved.config.get(k) != v)
        raise ValueError(f"fit: cannot resume from {path}: it holds a different U-Net "
                         f"({differences})")
    model.load_state_dict(saved.state_dict())
    opt.load_state_dict(optimizer_state)
    if meta.get("loss", loss) != loss:
        log(f"note: {path} was trained with loss {meta['loss']!r}; continuing with {loss!r}")
    return meta["epoch"] + 1, meta["best_val_dice"], meta["history"]


# --- prediction ----------------------------------------------------------------------------

def predict(model, images, batch_size=8, device=None, tile=None):
    """Probabilities (N, H, W), a float32 NumPy array at the input's size, for images
    (N, H, W) or (N, 1, H, W) of any size, in evaluation mode.

    Inputs:
        model: a UNet, either padding.
        images: (N, H, W) or (N, 1, H, W), values in [0, 1].
        batch_size: how many network inputs (images, or tiles) go through at a time.
        device: where the batches are copied (default: where the model is).
        tile: padding="valid" only: the input tile's size, an int or (height, width),
            rounded down to a size the network takes (default: chosen per image size, at
            most ``tiling.DEFAULT_MAX_TILE`` = 572, the paper's).  Ignored for "same".

    padding="valid" (the paper's network, whose output is smaller than its input):
    overlap-tile prediction (``tiling``) -- the image is mirror-padded by the margin the
    network loses, cut into tiles whose outputs tile the image, and the outputs are
    stitched.  Where the mirror-padded image is itself a size the network takes, this
    equals predicting it whole, to float rounding.

    padding="same": each image goes through whole; an image whose size the network does
    not take (it takes multiples of 2**depth) is first mirror-padded after its end (bottom
    and right) to the next size it takes, and the output is cropped back.
    """
    check_count("predict", "batch_size", batch_size)
    images = as_batch_array(images, "images", "predict")
    if len(images) == 0:
        raise ValueError(f"predict: no images (images.shape={images.shape})")
    if device is None:
        device = model.device
    model.eval()

    def run(x):
        probabilities, _ = ops.sigmoid_forward(model(to_device(x, device)))
        return asnumpy(probabilities)[:, 0]

    height, width = images.shape[2:]
    tiling.check_tile(tile)
    if model.config["padding"] == "valid":
        plans = tiling.plan(model, height, width, tile)
        return tiling.overlap_tile(run, images[:, 0], plans, batch_size)
    padding = ((0, 0), (0, 0)) + tiling.same_padding(model, height, width)
    if any(after for _, after in padding):
        images = np.pad(images, padding, mode="reflect")
    out = [run(images[start:start + batch_size]) for start in range(0, len(images), batch_size)]
    return np.concatenate(out)[:, :height, :width]


def evaluate_dice(model, images, masks, batch_size=8, device=None):
    """Mean per-image Dice (Kaggle convention) of the thresholded predictions, at the
    images' full size (a valid network predicts them by overlap-tile, see ``predict``)."""
    probabilities = predict(model, images, batch_size, device)
    masks = as_batch_array(masks, "masks", "evaluate_dice")[:, 0]
    if masks.shape != probabilities.shape:
        raise ValueError(f"evaluate_dice: masks must match the images, got masks of shape "
                         f"{masks.shape} for images of shape {probabilities.shape}")
    return float(metrics.mean_dice(probabilities, masks))
