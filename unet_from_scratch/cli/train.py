"""``unet-scratch train``: train a U-Net, print each epoch next to a threshold baseline, keep
checkpoints, and draw the learning curves and predictions."""

import os
import time

import numpy as np

from .. import metrics, train
from ..data.patches import cut_patches
from ..model import UNet, check_input_size
from .arguments import UsageError
from .data import (SCALED_BY, STRUCTURES, absolute_source, check_device, data_sets, known_size, otsu_dice,
                   parse_data, training_augmenter)
from .outputs import OutputFolder, check_folder

# The options that define a training run: kept in the checkpoint so --resume repeats them
# (where it runs -- --device, --quiet, --out -- is not part of the run).
RUN_OPTIONS = ("data", "size", "train_images", "val_images", "val_fraction", "patch", "augment",
               "base_channels", "depth", "padding", "batch_norm", "loss", "lr", "batch", "seed",
               "epochs")


def run_train(args):
    """Check the options, sizes and output folder, read the data, train, summarize."""
    check_device(args.device)
    args.out = args.out or os.path.join("runs", parse_data(args.data)[0])
    check_folder("--out", args.out)
    checkpoint = os.path.join(args.out, "checkpoint.npz")
    resume = resume_path(args, checkpoint)
    if resume is None and not args.force:
        refuse_an_earlier_run(args.out, checkpoint)
    if resume is not None:
        done = restore_run_options(args, resume)
        if done >= args.epochs:
            print(f"nothing to do: {resume} already has {done} of {args.epochs} epochs "
                  f"(ask for more with --epochs)")
            return 0
    check_sizes(args, known_size(args))       # before any data or network exists
    start = time.perf_counter()
    train_set, val_set = data_sets(args, log=lambda line: print(f"reading   {line}"))
    check_sizes(args, train_set[0].shape[1:])
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
    run_info.update(data=absolute_source(args.data), input_size=input_size, scaled_by=SCALED_BY)
    try:
        with OutputFolder(args.out):     # removed again if the run ends before writing to it
            history = train.fit(model, train_set, val_set, epochs=args.epochs,
                                batch_size=args.batch, lr=args.lr, loss=args.loss,
                                seed=args.seed, device=args.device,
                                augment=training_augmenter(args.data) if args.augment else None,
                                checkpoint=checkpoint, resume=resume, progress=not args.quiet,
                                log=log, run_info=run_info)
            summarize(args, checkpoint, history, val_set, baseline)
    except KeyboardInterrupt:
        report_interrupt(args.out, checkpoint)
        return 130
    print(f"{time.perf_counter() - start:.0f} s in all")
    return 0


def refuse_an_earlier_run(out, checkpoint):
    """An --out folder holding an earlier run's checkpoints is kept: continue that run with
    --resume, or replace it with --force."""
    earlier = [path for path in (checkpoint, train.last_checkpoint_path(checkpoint))
               if os.path.exists(path)]
    if earlier:
        raise UsageError(f"--out {out}: holds an earlier run ({os.path.basename(earlier[0])}); "
                         f"continue it with --resume, or give --force to start afresh")


def check_sizes(args, size):
    """Refuse training images of ``size`` (H, W) -- or --patch -- that the network of
    --depth and --padding does not take, naming the smallest or nearest that fit.  Needs
    no network, so it runs before one is built; a None ``size`` is not known yet."""
    if args.patch:
        check_input_size("--patch", "side", args.patch, args.depth, args.padding)
        if size is not None and args.patch > min(size):
            raise UsageError(f"--patch {args.patch}: larger than the training images "
                             f"({size[0]}x{size[1]})")
    elif size is not None:
        for name, length in zip(("height", "width"), size):
            check_input_size("--size", name, int(length), args.depth, args.padding)


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
    probabilities = train.predict_at_input_size(model, images, train.input_size_of(meta),
                                                args.batch, args.device, not args.quiet,
                                                "validation")
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
    if os.path.isdir(path):
        raise UsageError(f"--resume: {path}: is a folder, not a checkpoint file")
    if not os.path.isfile(path):
        raise UsageError(f"--resume: {path}: no such checkpoint (train into {args.out} first, "
                         f"or pass --resume PATH)")
    return path


def restore_run_options(args, path):
    """Take every option of the run being resumed from its checkpoint, except those given
    again on the command line; return the number of epochs it has done."""
    meta = train.load_checkpoint(path)[2]
    if "epoch" not in meta:
        raise UsageError(f"--resume: {path} was not written by 'unet-scratch train'")
    saved = meta.get("run", {})
    if isinstance(saved.get("size"), int):        # written before --size took two numbers
        saved["size"] = [saved["size"]]
    given = getattr(args, "given", set())
    restored = [name for name in RUN_OPTIONS if name in saved and name not in given]
    changed = [f"{name}={saved[name]!r}" for name in restored if saved[name] != getattr(args, name)]
    overridden = [f"{name}={getattr(args, name)!r}" for name in RUN_OPTIONS
                  if name in saved and name in given and saved[name] != getattr(args, name)]
    for name in restored:
        setattr(args, name, saved[name])
    if changed:
        print(f"resuming with the run's own options: {', '.join(changed)}")
    if overridden:
        print(f"resuming with these options from the command line: {', '.join(overridden)}")
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
    from .. import viz         # matplotlib is imported only when figures are drawn
    viz.plot_history(history, os.path.join(out, "curves.png"), baseline_dice=baseline,
                     title=title)
    viz.plot_predictions(images, masks, probabilities, os.path.join(out, "predictions.png"),
                         structure=structure)
