"""The jobs behind ``unet-scratch train``, ``predict`` and ``evaluate``.

Each ``run_*`` function takes the parsed command-line arguments (see ``cli.build_parser``),
prints what it does and returns an exit status.  A problem the user can fix (a missing
file, a size that does not fit, no GPU) is raised as a ``UsageError`` -- or as the
``ValueError`` of the function that found it -- and the command line prints it as one
line, without a traceback.
"""

import csv
import os
import time

import numpy as np

from . import metrics, train
from .backend import gpu_available
from .data.images import read_image, resize, write_mask
from .data.synthetic import make_synthetic_ultrasound, otsu_baseline
from .model import UNet


class UsageError(ValueError):
    """A mistake in the command's arguments or files, reported as one line."""


# The options that define a training run: kept in the checkpoint so --resume repeats them.
RUN_OPTIONS = ("size", "train_images", "val_images", "base_channels", "depth", "batch_norm",
               "loss", "lr", "batch", "seed")


def check_device(device):
    if device == "cuda" and not gpu_available():
        raise UsageError("--device cuda needs a CUDA GPU and CuPy (e.g. pip install -e "
                         "\".[cuda12]\" or \".[cuda13]\"); none is usable here. Leave out "
                         "--device to run on the CPU.")


def synthetic_sets(size, train_images, val_images, seed):
    """Training and validation sets of synthetic ultrasound, drawn with different seeds."""
    return (make_synthetic_ultrasound(train_images, size, seed=2 * seed),
            synthetic_val_set(size, val_images, seed))


def synthetic_val_set(size, val_images, seed):
    return make_synthetic_ultrasound(val_images, size, seed=2 * seed + 1)


def otsu_dice(images, masks):
    """Mean Dice of the intensity-threshold baseline (Otsu, better polarity for the set)."""
    return float(metrics.mean_dice(otsu_baseline(images, masks), masks))


# --- train ---------------------------------------------------------------------------------

def run_train(args):
    check_device(args.device)
    checkpoint = os.path.join(args.out, "checkpoint.npz")
    resume = resume_path(args, checkpoint)
    os.makedirs(args.out, exist_ok=True)
    if resume is not None:
        done = restore_run_options(args, resume)
        if done >= args.epochs:
            print(f"nothing to do: {resume} already has {done} of {args.epochs} epochs "
                  f"(ask for more with --epochs)")
            return 0
    start = time.perf_counter()
    train_set, val_set = synthetic_sets(args.size, args.train_images, args.val_images, args.seed)
    baseline = otsu_dice(*val_set)
    model = UNet(base_channels=args.base_channels, depth=args.depth,
                 batch_norm=args.batch_norm, seed=args.seed)
    print(f"data      synthetic ultrasound, {args.train_images} training and {args.val_images} "
          f"validation images of {args.size}x{args.size}, "
          f"{np.mean(val_set[1].max(axis=(1, 2)) == 0):.0%} of the validation masks empty")
    print(f"model     UNet(base_channels={args.base_channels}, depth={args.depth}, "
          f"batch_norm={args.batch_norm}): {model.num_parameters():,} parameters")
    print(f"training  {args.epochs} epochs, batch {args.batch}, Adam lr {args.lr}, "
          f"loss {args.loss}, seed {args.seed}, device {args.device}")
    print(f"baseline  Otsu threshold: validation Dice {baseline:.4f}\n", flush=True)

    def log(line):
        print(f"{line}   (Otsu {baseline:.4f})", flush=True)

    run_info = {name: getattr(args, name) for name in RUN_OPTIONS}
    try:
        history = train.fit(model, train_set, val_set, epochs=args.epochs, batch_size=args.batch,
                            lr=args.lr, loss=args.loss, seed=args.seed, device=args.device,
                            checkpoint=checkpoint, resume=resume, progress=not args.quiet,
                            log=log, run_info=run_info)
    except KeyboardInterrupt:
        report_interrupt(args.out, checkpoint)
        return 130
    summarize(args, checkpoint, history, val_set, baseline)
    print(f"{time.perf_counter() - start:.0f} s in all")
    return 0


def summarize(args, checkpoint, history, val_set, baseline):
    """Score the best checkpoint on the validation set, draw the figures, print the result.

    (A run resumed into a new folder has a best checkpoint there only once it improves on
    the resumed run's best; until then the last one stands in.)
    """
    path = checkpoint if os.path.isfile(checkpoint) else train.last_checkpoint_path(checkpoint)
    model, _, meta = train.load_checkpoint(path, args.device)
    images, masks = val_set
    probabilities = train.predict(model, images, device=args.device)
    write_figures(args.out, history, baseline, images, masks, probabilities)
    dice = metrics.dice_per_image(probabilities, masks)
    has_nerve = masks.max(axis=(1, 2)) > 0
    on_nerves = (f"{dice[has_nerve].mean():.4f} on the {has_nerve.sum()} images with a nerve"
                 if has_nerve.any() else "no validation image has a nerve")
    print(f"\nbest validation Dice {dice.mean():.4f} (epoch {meta['epoch']}); {on_nerves}")
    print(f"baselines: Otsu threshold {baseline:.4f}; predicting no nerve anywhere "
          f"{np.mean(~has_nerve):.4f} (an empty image predicted empty scores 1)")
    print(f"wrote {path} (best epoch), {train.last_checkpoint_path(checkpoint)} (last), "
          f"curves.png and predictions.png in {args.out}")


def resume_path(args, checkpoint):
    """The checkpoint to resume from: --resume PATH, or the output folder's last one."""
    if args.resume is None:
        return None
    path = args.resume or train.last_checkpoint_path(checkpoint)
    if not os.path.isfile(path):
        raise UsageError(f"--resume: {path}: no such checkpoint (train into {args.out} first, "
                         f"or pass --resume PATH)")
    return path


def restore_run_options(args, path):
    """Take the data and model options of the run being resumed from its checkpoint;
    return the number of epochs it has done."""
    meta = train.load_checkpoint(path)[2]
    if "epoch" not in meta:
        raise UsageError(f"--resume: {path} was not written by 'unet-scratch train'")
    saved = meta.get("run", {})
    changed = [f"{name}={saved[name]!r}" for name in RUN_OPTIONS
               if name in saved and saved[name] != getattr(args, name)]
    for name in RUN_OPTIONS:
        if name in saved:
            setattr(args, name, saved[name])
    if changed:
        print(f"resuming with the run's own options: {', '.join(changed)}")
    return meta["epoch"]


def report_interrupt(out, checkpoint):
    last = train.last_checkpoint_path(checkpoint)
    if os.path.isfile(last):
        epoch = train.load_checkpoint(last)[2]["epoch"]
        print(f"\ninterrupted: {last} holds epoch {epoch}, intact; continue with "
              f"'unet-scratch train --out {out} --resume'")
    else:
        print("\ninterrupted before the first epoch ended: no checkpoint was written")


def write_figures(out, history, baseline, images, masks, probabilities):
    """Learning curves and the predictions on validation images, as PNGs in ``out``."""
    from . import viz          # matplotlib is imported only when figures are drawn
    viz.plot_history(history, os.path.join(out, "curves.png"), baseline_dice=baseline,
                     title="U-Net on synthetic ultrasound")
    viz.plot_predictions(images, masks, probabilities, os.path.join(out, "predictions.png"))


# --- predict -------------------------------------------------------------------------------

def run_predict(args):
    """Binary mask PNGs, one per input image, at the input's size."""
    check_device(args.device)
    model, _, meta = train.load_checkpoint(args.checkpoint, args.device)
    if model.config["padding"] != "same":
        raise UsageError("predict: this checkpoint is a padding='valid' network, whose output is "
                         "smaller than its input; only padding='same' networks are supported")
    network_size = tuple(meta.get("image_size") or (96, 96))
    names = [os.path.splitext(os.path.basename(path))[0] + "_mask.png" for path in args.images]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UsageError(f"predict: two images would write the same mask file {repeated[0]}; "
                         f"give them different names")
    images = [read_image(path) for path in args.images]    # every file readable before writing
    os.makedirs(args.out, exist_ok=True)
    for path, name, image in zip(args.images, names, images):
        probabilities = train.predict(model, resize(image, network_size)[None],
                                      device=args.device)[0]
        mask = resize(probabilities, image.shape) > args.threshold
        write_mask(os.path.join(args.out, name), mask)
        print(f"{path}: {image.shape[0]}x{image.shape[1]}, {int(mask.sum())} pixels of nerve "
              f"-> {os.path.join(args.out, name)}")
    return 0


# --- evaluate ------------------------------------------------------------------------------

def run_evaluate(args):
    """Mean Dice and IoU of a checkpoint on a data set, with a per-image CSV."""
    check_device(args.device)
    model, _, meta = train.load_checkpoint(args.checkpoint, args.device)
    images, masks, source = evaluation_set(args, meta)
    images, masks = train.check_data_set(images, masks, "evaluation", "evaluate")
    probabilities = train.predict(model, images, args.batch, args.device)
    images = train.crop_to(images, probabilities.shape[1:])[:, 0]   # padding="valid": the
    masks = train.crop_to(masks, probabilities.shape[1:])[:, 0]     # output's part of each
    dice = metrics.dice_per_image(probabilities, masks)
    iou = metrics.iou_per_image(probabilities, masks)
    print(f"{source}: {len(images)} images, {np.mean(masks.max(axis=(1, 2)) == 0):.0%} "
          f"with an empty mask")
    print(f"mean Dice {dice.mean():.4f}   mean IoU {iou.mean():.4f}   "
          f"(Otsu threshold baseline: Dice {otsu_dice(images, masks):.4f})")
    csv_path = args.csv or os.path.splitext(args.checkpoint)[0] + "_evaluation.csv"
    write_scores(csv_path, probabilities > 0.5, masks, dice, iou)
    print(f"per-image scores in {csv_path}")
    return 0


def evaluation_set(args, meta):
    """(images, masks, description): an .npz with arrays "images" and "masks", or the
    synthetic validation set of the checkpoint's run (drawn again from its seed)."""
    if args.data != "synthetic":
        return read_npz_set(args.data)
    run = meta.get("run", {})
    if not {"size", "val_images", "seed"} <= set(run):
        raise UsageError(f"evaluate: {args.checkpoint} does not say which synthetic data it "
                         f"was trained on; pass --data FILE.npz")
    images, masks = synthetic_val_set(run["size"], run["val_images"], run["seed"])
    return images, masks, f"synthetic validation set (seed {run['seed']})"


def read_npz_set(path):
    if not os.path.isfile(path):
        raise UsageError(f"evaluate: {path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as data:
            return data["images"], data["masks"], path
    except (OSError, KeyError, ValueError) as error:
        raise UsageError(f"evaluate: {path} is not an .npz with arrays 'images' and 'masks' "
                         f"({error})") from None


def write_scores(path, predicted, masks, dice, iou):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "dice", "iou", "true_pixels", "predicted_pixels"])
        for i in range(len(dice)):
            writer.writerow([i, f"{dice[i]:.6f}", f"{iou[i]:.6f}", int(masks[i].sum()),
                             int(predicted[i].sum())])
