"""Prepare the Kaggle ultrasound nerve set: resize, split by subject, write one .npz.

    python data_scripts/prepare_kaggle_nerve.py ~/data/ultrasound-nerve-segmentation/train
    python data_scripts/prepare_kaggle_nerve.py PATH --size 96 128 --val-fraction 0.2 --seed 0 \
        --out kaggle_nerve_96x128.npz

PATH is the competition's unzipped ``train/`` folder (``{subject}_{n}.tif`` and
``{subject}_{n}_mask.tif``), or the folder above it that holds ``train/``. The script does not
download anything: see data_scripts/README.md for where the data comes from.

Every scan is resized to --size (H W, default 96 128, the scans' 420 x 580 aspect, near enough)
with its mask (thresholded at 0.5 after resizing, so it stays 0/1). A random --val-fraction of
the *subjects* (not the frames; frames of one subject are near duplicates) goes to validation,
drawn with --seed. The .npz holds float32 ``train_images``, ``train_masks``, ``val_images``,
``val_masks`` of shape (N, H, W), and ``train_subjects``, ``val_subjects`` (int) and
``train_names``, ``val_names`` (the file stems); ``unet_from_scratch.data.npz.load_prepared``
reads it.
"""

import argparse
import os
import sys

import numpy as np

try:
    import unet_from_scratch  # noqa: F401  (installed, e.g. `pip install -e .`)
except ImportError:  # run from a checkout: the package sits one folder up
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from unet_from_scratch.data.kaggle import load_kaggle_nerve, split_by_subject  # noqa: E402
from unet_from_scratch.data.npz import save_prepared  # noqa: E402


def parse_args(argv=None):
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("path", help="the unzipped train/ folder (or the folder holding it)")
    parser.add_argument("--size", type=int, nargs=2, default=[96, 128], metavar=("H", "W"),
                        help="resize to H x W (default 96 128)")
    parser.add_argument("--val-fraction", type=float, default=0.2,
                        help="share of the subjects kept for validation (default 0.2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    parser.add_argument("--out", metavar="FILE.npz",
                        help="the file to write (default kaggle_nerve_HxW.npz here)")
    return parser.parse_args(argv)


def main(argv=None):
    """Read, split and write; print what was read and written; return 0."""
    args = parse_args(argv)
    path = args.path
    if not any(name.lower().endswith((".tif", ".tiff")) for name in _listing(path)) \
            and os.path.isdir(os.path.join(path, "train")):
        path = os.path.join(path, "train")
        print(f"reading {path}")
    out = args.out or f"kaggle_nerve_{args.size[0]}x{args.size[1]}.npz"
    try:
        images, masks, subjects, names = load_kaggle_nerve(path, tuple(args.size))
        train, val = split_by_subject(subjects, args.val_fraction, args.seed)
    except (ValueError, TypeError) as error:
        sys.exit(f"prepare_kaggle_nerve.py: {error}")
    for split, index in (("train", train), ("val", val)):
        empty = float(np.mean(~masks[index].any(axis=(1, 2)))) if index.size else 0.0
        chosen = np.unique(subjects[index])
        print(f"{split}: {index.size} frames of {chosen.size} "
              f"subject{'' if chosen.size == 1 else 's'} ({', '.join(map(str, chosen))}); "
              f"{empty:.0%} empty masks")
    save_prepared(out, (images[train], masks[train]), (images[val], masks[val]),
                  train_subjects=subjects[train], val_subjects=subjects[val],
                  train_names=names[train], val_names=names[val])
    print(f"wrote {out} ({os.path.getsize(out) / 2**20:.1f} MiB): train_images, train_masks "
          f"{images[train].shape}, val_images, val_masks {images[val].shape}, float32; "
          f"split by subject with seed {args.seed}")
    return 0


def _listing(path):
    """The names in ``path``, or none when it is not a folder (the loader then says why)."""
    return os.listdir(path) if os.path.isdir(path) else []


if __name__ == "__main__":
    sys.exit(main())
