"""``unet-scratch predict`` (mask files, and a Kaggle submission) and ``unet-scratch evaluate``
(mean Dice and IoU of a checkpoint on a data set, with a per-image CSV)."""

import csv
import os
import zipfile

import numpy as np

from .. import metrics, train
from ..data.images import read_image, write_mask
from ..submission import rle_encode, write_encoded_submission
from .arguments import UsageError
from .data import (SCALED_BY, STRUCTURES, DataOptions, check_device, data_sets, otsu_dice,
                   parse_data, synthetic_val_set)
from .outputs import OutputFolder, check_file, check_folder


def run_predict(args):
    """Binary mask PNGs, one per input image, at the input's size (and a submission CSV).

    Everything is checked before anything is written: the checkpoint, every image (one
    error lists every bad file), the output folder, and that no mask file (nor the
    submission) exists already unless --force."""
    check_device(args.device)
    model, _, meta = train.load_checkpoint(args.checkpoint, args.device)
    structure = STRUCTURES.get(parse_data(meta.get("run", {}).get("data", "synthetic"))[0],
                               "foreground")
    if args.submission:
        check_file("--submission", args.submission, args.force)
    ids = submission_ids(args.images) if args.submission else None
    outputs = mask_paths(args.images, args.out)
    check_folder("--out", args.out)
    existing = [path for path in outputs if os.path.exists(path)]
    if existing and not args.force:
        raise UsageError(f"{len(existing)} mask file(s) exist already, e.g. "
                         f"{', '.join(existing[:3])}; give --force to replace them")
    images = read_images(args.images)
    print_scaling_note(args.checkpoint, meta)
    probabilities = train.predict_at_input_size(model, images, train.input_size_of(meta),
                                                device=args.device, progress=True)
    encoded = []
    with OutputFolder(args.out):
        for path, output, image, p in zip(args.images, outputs, images, probabilities):
            mask = p > args.threshold
            if mask.sum() < args.min_pixels:     # too small to be real: predict none
                mask[:] = False
            write_mask(output, mask)
            encoded.append(rle_encode(mask) if args.submission else None)
            print(f"{path}: {image.shape[0]}x{image.shape[1]}, {int(mask.sum())} pixels of "
                  f"{structure} -> {output}")
    if args.submission:
        write_encoded_submission(args.submission, ids, encoded)
        print(f"submission of {len(ids)} images (run-length encoded, Kaggle's format) in "
              f"{args.submission}")
    return 0


def mask_paths(images, out):
    """``out/<stem>_mask.png`` for each image; two images of one stem are refused."""
    names = [os.path.splitext(os.path.basename(path))[0] + "_mask.png" for path in images]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UsageError(f"predict: two images would write the same mask file {repeated[0]}; "
                         f"give them different names")
    return [os.path.join(out, name) for name in names]


def read_images(paths):
    """Every image file as a float32 (H, W) array in [0, 1]; one error for all bad files."""
    images, bad = [], []
    for path in paths:
        try:
            images.append(read_image(path))
        except ValueError as error:
            bad.append(str(error).replace("read_image: ", "", 1))
    if bad:
        raise UsageError(f"{len(bad)} of {len(paths)} images cannot be used, nothing "
                         f"was written: {'; '.join(bad)}")
    return images


def print_scaling_note(checkpoint, meta):
    """Say how image files are scaled when the checkpoint was trained on arrays the caller
    scaled (fit from Python): files are read to [0, 1], then any recorded standardization."""
    scaling = meta.get("input_scaling")
    if not isinstance(scaling, dict) or scaling.get("scaled_by") == SCALED_BY:
        return
    then = " and then standardized as in training" if scaling.get("standardize") else ""
    print(f"note: {checkpoint} was trained on arrays scaled by {scaling.get('scaled_by')}; "
          f"image files are read to [0, 1] (8-bit values divided by 255){then}")


def submission_ids(paths):
    """The Kaggle test images' ids, from their names ``{n}.tif``."""
    stems = [os.path.splitext(os.path.basename(path))[0] for path in paths]
    wrong = [stem for stem in stems if not stem.isdigit()]
    if wrong:
        raise UsageError(f"predict --submission: the images must be named like Kaggle's test "
                         f"set, {{n}}.tif, so that n is the image's id; got {wrong[0]!r}")
    return [int(stem) for stem in stems]


def run_evaluate(args):
    """Mean Dice and IoU of a checkpoint on a data set, with a per-image CSV; the images go
    through the model by the same rule as in ``predict`` (``train.predict_at_input_size``)."""
    check_device(args.device)
    csv_path = args.csv or os.path.splitext(args.checkpoint)[0] + "_evaluation.csv"
    check_file("--csv", csv_path, args.force)
    model, _, meta = train.load_checkpoint(args.checkpoint, args.device)
    images, masks, source = evaluation_set(args, meta)
    if parse_data(args.data or meta.get("run", {}).get("data", "synthetic"))[0] != "npz":
        print_scaling_note(args.checkpoint, meta)
    images, masks = train.check_data_set((images, masks), "evaluation", "evaluate")
    images, masks = images[:, 0], masks[:, 0]
    probabilities = train.predict_at_input_size(model, images, train.input_size_of(meta),
                                                args.batch, args.device, progress=True,
                                                label="evaluate")
    dice = metrics.dice_per_image(probabilities, masks)
    iou = metrics.iou_per_image(probabilities, masks)
    print(f"{source}: {len(images)} images, {np.mean(masks.max(axis=(1, 2)) == 0):.0%} "
          f"with an empty mask")
    print(f"mean Dice {dice.mean():.4f}   mean IoU {iou.mean():.4f}   "
          f"(Otsu threshold baseline: Dice {otsu_dice(images, masks):.4f})")
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
    options = DataOptions.from_run(run, data=source)
    if kind == "synthetic":
        if "seed" not in run:
            raise UsageError(f"evaluate: {args.checkpoint} does not say which synthetic data it "
                             f"was trained on; pass --data")
        size = options.size[0] if isinstance(options.size, list) else options.size
        images, masks = synthetic_val_set(size or 64, options.val_images, options.seed)
        return images, masks, f"synthetic validation set (seed {options.seed})"
    _, (images, masks) = data_sets(options, log=lambda line: print(f"reading   {line}"))
    return images, masks, f"validation part of {source}"


def read_npz_set(path):
    """(images, masks, path) from an .npz: arrays "images" and "masks", or the validation
    arrays "val_images" and "val_masks" of a prepared data set."""
    if os.path.isdir(path):
        raise UsageError(f"evaluate: {path}: is a folder, not an .npz file")
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
