"""Training: ``fit`` a U-Net on arrays; ``predict`` and the checkpoints live in
``prediction`` and ``checkpoints`` and are re-exported here.

A data set is a pair of arrays ``(images, masks)``: images (N, H, W) or (N, 1, H, W)
of finite floating-point values in any scale ([0, 1], standardized, ...; integer arrays
are refused: divide 8-bit images by 255), masks of the same shape with values 0 and 1.
"""

import contextlib
import os
import time

import numpy as np

from . import losses, ops, optim
from .backend import asnumpy, get_array_module, to_device
from .checkpoints import load_checkpoint, save_checkpoint
from .data.npz import remove_stale_temporaries
from .checks import check_bool, check_count, check_height_width, check_int, check_positive
from .prediction import (as_batch_array, as_image_batch, evaluate_dice, input_size_of, predict,
                         predict_at_input_size)
from .progress import ProgressBar, progress_stream

__all__ = ["fit", "train_step", "predict", "evaluate_dice", "predict_at_input_size",
           "input_size_of", "save_checkpoint", "load_checkpoint", "last_checkpoint_path",
           "check_data_set", "crop_to", "ProgressBar", "progress_stream", "as_batch_array",
           "TrainingDiverged"]

OPTIMIZERS = {"adam": optim.Adam, "sgd": optim.SGD}


class TrainingDiverged(ValueError):
    """The loss or a gradient became NaN or infinite: ``fit`` stopped."""


# --- data ----------------------------------------------------------------------------------

def check_data_set(data, name, op="fit"):
    """A data set ``(images, masks)`` as float32 (N, 1, H, W) arrays, after checking the
    pair, shapes, values (:func:`checks.check_images`) and masks; ``op`` and ``name``
    ("train", "val", ...) make the error messages."""
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        got = type(data).__name__ if not hasattr(data, "shape") else f"an array of shape {data.shape}"
        raise TypeError(f"{op}: the {name} set must be a pair (images, masks), got {got}")
    images = as_image_batch(data[0], f"{name} images", op)
    masks = as_batch_array(data[1], f"{name} masks", op)
    if images.shape != masks.shape:
        raise ValueError(f"{op}: {name} images and masks differ in shape: {images.shape} vs "
                         f"{masks.shape}")
    if len(images) == 0:
        raise ValueError(f"{op}: the {name} set is empty (shape {images.shape})")
    if not np.isin(masks, (0, 1)).all():
        raise ValueError(f"{op}: {name} masks must hold only 0 and 1 (found values such as "
                         f"{np.setdiff1d(np.unique(masks), (0, 1))[:3].tolist()})")
    return images, masks.astype(np.float32, copy=False)


def crop_to(array, size):
    """Center-crop (N, C, H, W) to ``size`` = (h, w) -- the valid U-Net's output size, to
    which ``fit`` crops the training masks (the network predicts the middle of its input).
    A view, cropped by the same rule as :func:`ops.center_crop_forward`."""
    top, left = ops.center_crop_offsets(array.shape[2:], size)
    return array[:, :, top:top + size[0], left:left + size[1]]


def standardization(images):
    """{"mean", "std"} of a training set, for ``fit(standardize=True)``."""
    std = float(images.std())
    return {"mean": float(images.mean()), "std": std if std > 0 else 1.0}


# --- training ---------------------------------------------------------------------------

SYNC_EVERY = 16      # on a GPU, read the steps' losses and finiteness flags back this often


def fit(model, train, val, epochs=10, batch_size=8, lr=1e-3, loss="dice+bce", optimizer="adam",
        seed=0, device="cpu", augment=None, checkpoint=None, resume=None, progress=True,
        log=print, run_info=None, standardize=False, input_size=None):
    """Train ``model`` on ``train`` = (images, masks) and report the validation Dice each epoch.

    Inputs:
        model: a UNet (its parameters are updated in place, on ``device``).
        train, val: data sets ``(images, masks)``, images (N, H, W) or (N, 1, H, W) of finite
            floating-point values in any scale (integer arrays are refused), masks of 0 and 1.
            The training images must be a size the network takes; for a
            padding="valid" model their masks are center-cropped to its (smaller) output.
            The validation images may be any size: they go through the model by the rule of
            :func:`prediction.predict_at_input_size`, as ``unet-scratch predict`` and
            ``evaluate`` do (resized to ``input_size`` when given).
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
        progress: draw a progress bar with an ETA on stderr (when it is a terminal); ``log``
            prints one line per epoch.
        run_info: a JSON-serialisable dict stored in each checkpoint's meta under "run"
            (the command line keeps its options there, to resume; its "scaled_by" says
            how the images were scaled before fit, e.g. the loaders' [0, 1]).
        input_size: (H, W), the size at which the model sees whole images: validation
            images of another size are resized to it (and back).  Default:
            ``run_info["input_size"]`` if given, else none -- the validation images go
            through at their own size (whole images after training on patches).  The
            checkpoints record it, or the validation images' size, as ``input_size``, to
            which ``unet-scratch predict`` and ``evaluate`` bring image files.
        standardize: train on ``(x - mean) / std`` with the training images' mean and
            standard deviation; they are kept as ``model.input_scaling`` and in the
            checkpoints' meta, and ``predict`` applies them to what it is given.
    Returns:
        history: dict of lists "epoch", "loss", "val_dice", "seconds".
    Raises:
        TrainingDiverged (a ValueError) at the first step whose loss or gradients are NaN or
        infinite, naming the epoch and the step; nothing of that epoch is saved.  ``model``
        itself then holds the diverged weights: reload the last good checkpoint
        (``load_checkpoint``) to go on from it.

    Stopping on divergence without slowing a GPU down: ``train_step`` returns the loss as a
    0-d array on the device, and :func:`gradients_finite` a 0-d flag computed there (is the
    sum of every gradient finite? A NaN or an infinity anywhere makes it so).  Reading
    either back would make the host wait for the GPU at every step, so an epoch keeps them
    on the device and reads them back together every ``SYNC_EVERY`` steps (for the progress
    bar) and at the epoch's end, before any checkpoint -- then the first bad step is found
    among them.  On the CPU there is nothing to wait for, and they are read every step.
    ``save_checkpoint`` refuses non-finite values as a last guard.
    """
    settings = _check_settings(epochs, batch_size, lr, loss, optimizer, standardize, seed)
    train_images, train_masks = check_data_set(train, "train")
    val_images, val_masks = check_data_set(val, "val")
    model.to(device=device)
    out_size = model.output_size(*train_images.shape[2:])
    input_size = input_size or (run_info or {}).get("input_size")
    input_size = check_height_width("fit", "input_size", list(input_size)) if input_size else None
    train_images = _set_input_scaling(model, train_images, standardize, run_info)
    opt = OPTIMIZERS[optimizer](model.parameters(), lr=settings["lr"],
                                **({"momentum": 0.9} if optimizer == "sgd" else {}))
    history = {"epoch": [], "loss": [], "val_dice": [], "seconds": []}
    first_epoch, best = 1, -1.0
    if checkpoint is not None:          # a killed run's half-written files: the best one, too,
        for path in (checkpoint, last_checkpoint_path(checkpoint)):   # may not be saved again
            if os.path.isdir(os.path.dirname(os.path.abspath(path))):
                remove_stale_temporaries(path)
    if resume is not None:
        first_epoch, best, history = _resume(resume, model, opt, device, loss, log)
        log(f"resumed from {resume} after epoch {first_epoch - 1} (best val Dice {best:.4f})")

    for epoch in range(first_epoch, epochs + 1):
        start = time.perf_counter()
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(len(train_images))
        batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]

        def batch_on_device(index):
            images, masks = train_images[index], train_masks[index]
            if augment is not None:
                images, masks = augment(images, masks, rng)
            return to_device(images, device), to_device(crop_to(masks, out_size), device)

        mean_loss = _train_epoch(model, opt, losses.LOSSES[loss], batches, batch_on_device,
                                 f"epoch {epoch}/{epochs}", progress, epoch, settings["lr"])
        val_dice = evaluate_dice(model, val_images, val_masks, batch_size, device, input_size,
                                 progress)
        history["epoch"].append(epoch)
        history["loss"].append(mean_loss)
        history["val_dice"].append(val_dice)
        history["seconds"].append(time.perf_counter() - start)
        improved = val_dice > best
        best = max(best, val_dice)
        log(f"epoch {epoch:3d}/{epochs}  loss {mean_loss:.4f}  val Dice {val_dice:.4f}"
            f"{'  (best)' if improved else ''}  {history['seconds'][-1]:.1f} s")
        if checkpoint is not None:
            meta = {"epoch": epoch, "best_val_dice": best, "history": history, "loss": loss,
                    "optimizer": optimizer, "lr": settings["lr"], "seed": int(seed),
                    "batch_size": int(batch_size), "image_size": list(train_images.shape[2:]),
                    "input_size": list(input_size or val_images.shape[2:]),
                    "input_scaling": model.input_scaling,
                    "run": run_info or {}}
            save_checkpoint(last_checkpoint_path(checkpoint), model, opt, meta)
            if improved:
                save_checkpoint(checkpoint, model, opt, meta)
    return history


def _check_settings(epochs, batch_size, lr, loss, optimizer, standardize, seed):
    check_int("fit", "seed", seed, minimum=0)
    check_count("fit", "epochs", epochs)
    check_count("fit", "batch_size", batch_size)
    check_bool("fit", "standardize", standardize)
    if loss not in losses.LOSSES:
        raise ValueError(f"fit: loss must be one of {sorted(losses.LOSSES)}, got {loss!r}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"fit: optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
    return {"lr": check_positive("fit", "lr", lr)}


def _set_input_scaling(model, train_images, standardize, run_info):
    """Record on the model how its inputs are scaled; the training images, standardized if asked."""
    statistics = standardization(train_images) if standardize else None
    model.input_scaling = {"scaled_by": (run_info or {}).get("scaled_by", "the caller"),
                           "standardize": statistics}
    if statistics is None:
        return train_images
    return (train_images - np.float32(statistics["mean"])) / np.float32(statistics["std"])


def _train_epoch(model, opt, loss_pair, batches, batch_on_device, label, progress, epoch, lr):
    """One epoch's steps; the mean loss over its images, after checking every step's loss
    and gradients were finite (see ``fit``'s docstring for when they are read back)."""
    model.train()
    bar = ProgressBar(len(batches), label, progress_stream(progress))
    pending, total, seen = [], 0.0, 0
    # NumPy's overflow warnings would only repeat, less clearly, what _read_steps reports;
    # the bar is closed also on Ctrl-C, so that the message after it starts on a clean line
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), contextlib.closing(bar):
        for step, index in enumerate(batches, 1):
            x, targets = batch_on_device(index)
            value = train_step(model, opt, *loss_pair, x, targets)
            pending.append((step, len(index), value, gradients_finite(model)))
            if get_array_module(value) is np or step % SYNC_EVERY == 0 or step == len(batches):
                total, seen = _read_steps(pending, total, seen, epoch, len(batches), lr)
                pending = []
                bar.update(step, seen, total / seen)
    return total / seen


def gradients_finite(model):
    """A 0-d boolean on the model's device: are all parameters' gradients finite?  (The sum
    of every gradient is NaN or infinite when any element is.)"""
    grads = [p.grad for p in model.parameters()]
    xp = get_array_module(grads[0])
    return xp.isfinite(sum(xp.sum(g, dtype=xp.float64) for g in grads))


def _read_steps(pending, total, seen, epoch, steps, lr):
    """Read the pending steps' losses and flags back in one transfer; add up the losses, or
    raise TrainingDiverged at the first bad step."""
    xp = get_array_module(pending[0][2])
    values = asnumpy(xp.stack([xp.asarray(v, dtype=xp.float64) for _, _, v, _ in pending]))
    flags = asnumpy(xp.stack([f for _, _, _, f in pending]))
    for (step, count, _, _), value, grads_ok in zip(pending, values, flags):
        if not (np.isfinite(value) and grads_ok):
            what = f"the loss is {value}" if not np.isfinite(value) else "a gradient is not finite"
            raise TrainingDiverged(
                f"fit: training diverged at epoch {epoch}, step {step} of {steps}: {what}; "
                f"nothing of this epoch was saved. Try a smaller learning rate than lr={lr:g}")
        total += float(value) * count
        seen += count
    return total, seen


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
