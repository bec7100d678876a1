"""The jobs behind ``unet-scratch train``, ``predict`` and ``evaluate``.

Each ``run_*`` function takes the parsed command-line arguments (see ``cli.build_parser``),
prints what it does and returns an exit status.  A problem the user can fix (a missing
file, a size that does not fit, no GPU) is raised as a ``UsageError`` -- or as the
``ValueError`` of the function that found it -- and the command line prints it as one
line, without a traceback.
"""

import argparse
import csv
import os
import time
import zipfile

import numpy as np

from . import metrics, train
from .backend import gpu_available
from .data.folders import load_image_folder
from .data.images import read_image, resize, write_mask
from .data.isbi import load_isbi2012
from .data.kaggle import load_kaggle_nerve, split_by_subject
from .data.npz import load_prepared
from .data.augment import Augmenter
from .data.patches import cut_patches
from .data.synthetic import make_synthetic_ultrasound, otsu_baseline
from .model import UNet
from .submission import rle_encode, write_encoded_submission


class UsageError(ValueError):
    """A mistake in the command's arguments or files, reported as one line."""


# The options that define a training run: kept in the checkpoint so --resume repeats them.
RUN_OPTIONS = ("data", "size", "train_images", "val_images", "val_fraction", "patch", "augment",
               "base_channels", "depth", "padding", "batch_norm", "loss", "lr", "batch", "seed")

DATA_KINDS = ("kaggle", "isbi2012", "folder")
STRUCTURES = {"synthetic": "nerve", "kaggle": "nerve", "isbi2012": "membrane"}   # what masks mark
ISBI_VAL_SLICES = 5          # the last slices of the stack validate, the rest train


def check_device(device):
    if device == "cuda" and not gpu_available():
        raise UsageError("--device cuda needs a CUDA GPU and CuPy (e.g. pip install -e "
                         "\".[cuda12]\" or \".[cuda13]\"); none is usable here. Leave out "
                         "--device to run on the CPU.")


# --- data ----------------------------------------------------------------------------------

def parse_data(source):
    """``"synthetic"``, ``"kaggle:PATH"``, ``"isbi2012:PATH"``, ``"folder:PATH"`` or
    ``"FILE.npz"`` -> ``(kind, path)``."""
    if source == "synthetic":
        return "synthetic", None
    if source.endswith(".npz") and ":" not in source.split(os.sep)[0]:
        return "npz", source
    kind, colon, path = source.partition(":")
    if not colon or kind not in DATA_KINDS or not path:
        raise UsageError(f"--data must be synthetic, kaggle:PATH, isbi2012:PATH, folder:PATH "
                         f"or FILE.npz, got {source!r}")
    return kind, path


def data_sets(args, log=print):
    """``(train_set, val_set)`` for ``args.data``, each ``(images, masks)`` of (N, H, W)."""
    kind, path = parse_data(args.data)
    if kind == "synthetic":
        size = args.size[0] if args.size else 64
        return synthetic_sets(size, args.train_images, args.val_images, args.seed)
    if kind == "npz":
        return load_prepared(path)
    if kind == "isbi2012":
        images, masks = load_isbi2012(path, log=log)
        if len(images) <= ISBI_VAL_SLICES:
            raise UsageError(f"--data {args.data}: {len(images)} slices; need more than "
                             f"{ISBI_VAL_SLICES} (the last {ISBI_VAL_SLICES} validate)")
        split = len(images) - ISBI_VAL_SLICES
        return (images[:split], masks[:split]), (images[split:], masks[split:])
    size = pair(args.size)
    if kind == "kaggle":
        images, masks, subjects, _ = load_kaggle_nerve(path, size=size or (96, 128), log=log)
    else:
        images, masks, _ = load_image_folder(path, size=size, log=log)
        subjects = np.arange(len(images))            # each image its own "subject"
    train_index, val_index = split_by_subject(subjects, args.val_fraction, args.seed)
    return (images[train_index], masks[train_index]), (images[val_index], masks[val_index])


def pair(size):
    """--size as (H, W): one number for a square, two for H and W, None when not given."""
    if not size:
        return None
    if len(size) > 2:
        raise UsageError(f"--size takes one or two numbers, got {len(size)}")
    return (size[0], size[-1])


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
    args.out = args.out or os.path.join("runs", parse_data(args.data)[0])
    checkpoint = os.path.join(args.out, "checkpoint.npz")
    resume = resume_path(args, checkpoint)
    if resume is not None:
        done = restore_run_options(args, resume)
        if done >= args.epochs:
            print(f"nothing to do: {resume} already has {done} of {args.epochs} epochs "
                  f"(ask for more with --epochs)")
            return 0
    start = time.perf_counter()
    train_set, val_set = data_sets(args, log=lambda line: print(f"reading   {line}"))
    model = UNet(base_channels=args.base_channels, depth=args.depth, padding=args.padding,
                 batch_norm=args.batch_norm, seed=args.seed)
    input_size = list(train_set[0].shape[1:])     # before patches: what predict resizes to
    if args.patch:
        margin = args.patch - model.output_size(args.patch, args.patch)[0]   # 0 for "same"
        train_set = cut_patches(*train_set, args.patch, margin)
    baseline = otsu_dice(*val_set)
    print_run(args, model, train_set, val_set, baseline)

    def log(line):
        print(f"{line}   (Otsu {baseline:.4f})", flush=True)

    run_info = {name: getattr(args, name) for name in RUN_OPTIONS}
    run_info["input_size"] = input_size
    # Depth runs down from the probe in ultrasound: a rotated scan is one no scanner makes.
    rotate = parse_data(args.data)[0] not in ("synthetic", "kaggle")
    os.makedirs(args.out, exist_ok=True)
    try:
        history = train.fit(model, train_set, val_set, epochs=args.epochs, batch_size=args.batch,
                            lr=args.lr, loss=args.loss, seed=args.seed, device=args.device,
                            augment=Augmenter(rotate=rotate) if args.augment else None,
                            checkpoint=checkpoint, resume=resume, progress=not args.quiet,
                            log=log, run_info=run_info)
    except KeyboardInterrupt:
        report_interrupt(args.out, checkpoint)
        return 130
    summarize(args, checkpoint, history, val_set, baseline)
    print(f"{time.perf_counter() - start:.0f} s in all")
    return 0


def print_run(args, model, train_set, val_set, baseline):
    """The run's settings, before the first epoch."""
    (train_images, _), (val_images, val_masks) = train_set, val_set
    kind = parse_data(args.data)[0]
    source = "synthetic ultrasound" if kind == "synthetic" else args.data
    patches = f" ({args.patch} x {args.patch} patches)" if args.patch else ""
    print(f"data      {source}: {len(train_images)} training images of "
          f"{train_images.shape[1]}x{train_images.shape[2]}{patches}, {len(val_images)} "
          f"validation images of {val_images.shape[1]}x{val_images.shape[2]}, "
          f"{np.mean(val_masks.max(axis=(1, 2)) == 0):.0%} of them with an empty mask")
    print(f"model     UNet(base_channels={args.base_channels}, depth={args.depth}, "
          f"padding={args.padding!r}, batch_norm={args.batch_norm}): "
          f"{model.num_parameters():,} parameters")
    print(f"training  {args.epochs} epochs, batch {args.batch}, Adam lr {args.lr}, "
          f"loss {args.loss}, {'augmented, ' if args.augment else ''}seed {args.seed}, "
          f"device {args.device}")
    print(f"baseline  Otsu threshold: validation Dice {baseline:.4f}\n", flush=True)


def summarize(args, checkpoint, history, val_set, baseline):
    """Score the best checkpoint on the validation set, draw the figures, print the result.

    (A run resumed into a new folder has a best checkpoint there only once it improves on
    the resumed run's best; until then the last one stands in.)
    """
    path = checkpoint if os.path.isfile(checkpoint) else train.last_checkpoint_path(checkpoint)
    model, _, meta = train.load_checkpoint(path, args.device)
    images, masks = val_set
    probabilities = train.predict(model, images, device=args.device)
    kind = parse_data(args.data)[0]
    title = "U-Net on synthetic ultrasound" if kind == "synthetic" else f"U-Net on {args.data}"
    structure = STRUCTURES.get(kind, "mask")
    write_figures(args.out, title, structure, history, baseline, images, masks, probabilities)
    dice = metrics.dice_per_image(probabilities, masks)
    has_mask = masks.max(axis=(1, 2)) > 0
    what = f"a {structure}" if structure != "mask" else "a non-empty mask"
    on_masks = (f"{dice[has_mask].mean():.4f} on the {has_mask.sum()} images with {what}"
                if has_mask.any() else f"no validation image has {what}")
    print(f"\nbest validation Dice {dice.mean():.4f} (epoch {meta['epoch']}); {on_masks}")
    print(f"baselines: Otsu threshold {baseline:.4f}; predicting nothing anywhere "
          f"{np.mean(~has_mask):.4f} (an empty image predicted empty scores 1)")
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
    if isinstance(saved.get("size"), int):        # written before --size took two numbers
        saved["size"] = [saved["size"]]
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


def write_figures(out, title, structure, history, baseline, images, masks, probabilities):
    """Learning curves and the predictions on validation images, as PNGs in ``out``."""
    from . import viz          # matplotlib is imported only when figures are drawn
    viz.plot_history(history, os.path.join(out, "curves.png"), baseline_dice=baseline,
                     title=title)
    viz.plot_predictions(images, masks, probabilities, os.path.join(out, "predictions.png"),
                         structure=structure)


# --- predict -------------------------------------------------------------------------------

def run_predict(args):
    """Binary mask PNGs, one per input image, at the input's size (and a submission CSV)."""
    check_device(args.device)
    model, _, meta = train.load_checkpoint(args.checkpoint, args.device)
    run = meta.get("run", {})
    # the size of the training data (before any patches): each image is brought to it
    network_size = tuple(run.get("input_size") or meta.get("image_size") or (96, 96))
    structure = STRUCTURES.get(parse_data(run.get("data", "synthetic"))[0], "foreground")
    ids = submission_ids(args.images) if args.submission else None
    names = [os.path.splitext(os.path.basename(path))[0] + "_mask.png" for path in args.images]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UsageError(f"predict: two images would write the same mask file {repeated[0]}; "
                         f"give them different names")
    for path in args.images:             # a missing file stops the run before anything is written
        if not os.path.isfile(path):
            raise UsageError(f"predict: {path}: no such file")
    os.makedirs(args.out, exist_ok=True)
    encoded = []
    for path, name in zip(args.images, names):
        image = read_image(path)
        probabilities = train.predict(model, resize(image, network_size)[None],
                                      device=args.device)[0]
        mask = resize(probabilities, image.shape) > args.threshold
        if mask.sum() < args.min_pixels:     # too small to be real: predict none
            mask[:] = False
        write_mask(os.path.join(args.out, name), mask)
        if args.submission:
            encoded.append(rle_encode(mask))
        print(f"{path}: {image.shape[0]}x{image.shape[1]}, {int(mask.sum())} pixels of "
              f"{structure} -> {os.path.join(args.out, name)}")
    if args.submission:
        write_encoded_submission(args.submission, ids, encoded)
        print(f"submission of {len(ids)} images (run-length encoded, Kaggle's format) in "
              f"{args.submission}")
    return 0


def submission_ids(paths):
    """The Kaggle test images' ids, from their names ``{n}.tif``."""
    stems = [os.path.splitext(os.path.basename(path))[0] for path in paths]
    wrong = [stem for stem in stems if not stem.isdigit()]
    if wrong:
        raise UsageError(f"predict --submission: the images must be named like Kaggle's test "
                         f"set, {{n}}.tif, so that n is the image's id; got {wrong[0]!r}")
    return [int(stem) for stem in stems]


# --- evaluate ------------------------------------------------------------------------------

def run_evaluate(args):
    """Mean Dice and IoU of a checkpoint on a data set, with a per-image CSV."""
    check_device(args.device)
    model, _, meta = train.load_checkpoint(args.checkpoint, args.device)
    images, masks, source = evaluation_set(args, meta)
    images, masks = train.check_data_set(images, masks, "evaluation", "evaluate")
    probabilities = train.predict(model, images, args.batch, args.device)   # (N, H, W)
    images, masks = images[:, 0], masks[:, 0]
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
    """(images, masks, description): the validation part of ``--data`` (by default the data
    the checkpoint was trained on, split as in training), or an .npz of "images" and "masks"."""
    run = meta.get("run", {})
    source = args.data or run.get("data", "synthetic")
    kind, path = parse_data(source)
    if kind == "npz":
        return read_npz_set(path)
    options = argparse.Namespace(**{**RUN_DEFAULTS, **run, "data": source})
    if kind == "synthetic":
        if "seed" not in run:
            raise UsageError(f"evaluate: {args.checkpoint} does not say which synthetic data it "
                             f"was trained on; pass --data")
        size = options.size[0] if isinstance(options.size, list) else options.size
        images, masks = synthetic_val_set(size or 64, options.val_images, options.seed)
        return images, masks, f"synthetic validation set (seed {options.seed})"
    _, (images, masks) = data_sets(options, log=lambda line: print(f"reading   {line}"))
    return images, masks, f"validation part of {source}"


# What a run's options are when its checkpoint does not say (it was written by fit directly).
RUN_DEFAULTS = {"size": None, "train_images": 400, "val_images": 100, "val_fraction": 0.2,
                "seed": 0}


def read_npz_set(path):
    """(images, masks, path) from an .npz: arrays "images" and "masks", or the validation
    arrays "val_images" and "val_masks" of a prepared data set."""
    if not os.path.isfile(path):
        raise UsageError(f"evaluate: {path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as data:
            prefix = "val_" if "val_images" in data.files else ""
            return data[prefix + "images"], data[prefix + "masks"], path
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile) as error:
        raise UsageError(f"evaluate: {path} is not an .npz with arrays 'images' and 'masks' "
                         f"(or 'val_images' and 'val_masks') ({error})") from None


def write_scores(path, predicted, masks, dice, iou):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "dice", "iou", "true_pixels", "predicted_pixels"])
        for i in range(len(dice)):
            writer.writerow([i, f"{dice[i]:.6f}", f"{iou[i]:.6f}", int(masks[i].sum()),
                             int(predicted[i].sum())])


# --- augment-preview -----------------------------------------------------------------------

def run_augment_preview(args):
    """A PNG of one training image and its augmented versions (the default Augmenter)."""
    from . import viz
    if args.data == "synthetic":
        images, masks = make_synthetic_ultrasound(1, 128, seed=args.seed, empty_fraction=0.0)
    else:
        options = argparse.Namespace(**{**RUN_DEFAULTS, "data": args.data, "seed": args.seed})
        (images, masks), _ = data_sets(options, log=lambda line: print(f"reading   {line}"))
        with_mask = np.flatnonzero(masks.max(axis=(1, 2)) > 0)
        images, masks = (images[with_mask], masks[with_mask]) if len(with_mask) else (images,
                                                                                    masks)
    viz.plot_augmentations(images[0], masks[0], Augmenter(), args.out, n=args.n, seed=args.seed)
    print(f"wrote {args.out}: the first panel is the original, the others augmented")
    return 0
