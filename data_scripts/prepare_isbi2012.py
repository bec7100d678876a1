"""Prepare the ISBI 2012 EM slices: split them into training and validation, write one .npz.

    python data_scripts/prepare_isbi2012.py ../shared/data/isbi2012 --out isbi2012.npz
    python data_scripts/prepare_isbi2012.py ~/data/isbi2012 --val 5 --foreground membrane

PATH holds the challenge's stacks ``train-volume.tif`` and ``train-labels.tif``, or folders
``image/`` and ``label/`` of ``N.png`` slices. The script does not download anything: see
data_scripts/README.md for where the data comes from.

The split is the common one for these 30 slices: the first N - --val slices (25) train, the
last --val (5) validate. Neighbouring slices are 50 nm apart and look alike, so a contiguous
block keeps validation apart from training better than a random pick would. The slices keep
their size (512 x 512). ``--foreground membrane`` (the default, as in the U-Net paper) makes
the masks 1 on the membranes; ``cell`` makes them 1 on the cell interiors. The .npz holds
float32 ``train_images``, ``train_masks``, ``val_images``, ``val_masks`` of shape (N, H, W),
``train_slices`` and ``val_slices`` (the slice numbers) and ``foreground``;
``unet_from_scratch.data.npz.load_prepared`` reads it.
"""

import argparse
import os
import sys

import numpy as np

try:
    import unet_from_scratch  # noqa: F401  (installed, e.g. `pip install -e .`)
except ImportError:  # run from a checkout: the package sits one folder up
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from unet_from_scratch.data.isbi import load_isbi2012  # noqa: E402
from unet_from_scratch.data.npz import save_prepared  # noqa: E402


def parse_args(argv=None):
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("path", help="folder with train-volume.tif and train-labels.tif, "
                                     "or with image/ and label/")
    parser.add_argument("--val", type=int, default=5,
                        help="how many of the last slices validate (default 5)")
    parser.add_argument("--foreground", choices=("membrane", "cell"), default="membrane",
                        help="what the masks mark with 1 (default membrane)")
    parser.add_argument("--out", metavar="FILE.npz", default="isbi2012.npz",
                        help="the file to write (default isbi2012.npz here)")
    args = parser.parse_args(argv)
    if args.val < 0:
        parser.error(f"--val must be >= 0, got {args.val}")
    return args


def main(argv=None):
    """Read, split and write; print what was read and written; return 0."""
    args = parse_args(argv)
    try:
        images, masks = load_isbi2012(args.path, args.foreground)
    except (ValueError, TypeError) as error:
        sys.exit(f"prepare_isbi2012.py: {error}")
    n = len(images)
    if args.val >= n:
        sys.exit(f"prepare_isbi2012.py: --val {args.val} leaves no slice to train on "
                 f"({n} slices read)")
    cut = n - args.val
    slices = np.arange(n)
    print(f"split: slices 0-{cut - 1} train ({cut}), "
          + (f"slices {cut}-{n - 1} validate ({args.val})" if args.val else "none validate")
          + " (the first N - val and the last val, the common split)")
    save_prepared(args.out, (images[:cut], masks[:cut]), (images[cut:], masks[cut:]),
                  train_slices=slices[:cut], val_slices=slices[cut:],
                  foreground=np.array(args.foreground))
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 2**20:.1f} MiB): train_images, "
          f"train_masks {images[:cut].shape}, val_images, val_masks {images[cut:].shape}, "
          f"float32, masks 1 on the {args.foreground}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
