"""Write a set of synthetic ultrasound nerve images to disk, as PNGs or one .npz.

    python data_scripts/make_synthetic_ultrasound.py --n 200 --size 96 --seed 0 --out data/synthetic
    python data_scripts/make_synthetic_ultrasound.py --n 200 --format npz --out data/synthetic
    python data_scripts/make_synthetic_ultrasound.py --n 8 --size 128 \
        --preview lessons/figures/synthetic_examples.png

PNG format: ``OUT/images/0000.png`` and ``OUT/masks/0000.png`` (8-bit grayscale; masks 0 and 255),
one pair per image, matching names. npz format: ``OUT/synthetic_ultrasound.npz`` holding
``images`` and ``masks``, float32 arrays of shape (N, H, W) (images in [0, 1], masks 0 and 1).
The script prints what it wrote and the Otsu threshold baseline's mean Dice (Kaggle convention:
per image ``2|P∩T| / (|P|+|T|)``, 1 when both are empty; mean over images).
"""

import argparse
import os
import sys

import numpy as np

try:
    import unet_from_scratch  # noqa: F401  (installed, e.g. `pip install -e .`)
except ImportError:  # run from a checkout: the package sits one folder up
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from unet_from_scratch.data import make_synthetic_ultrasound, otsu_baseline  # noqa: E402
from unet_from_scratch.metrics import dice_per_image  # noqa: E402
from unet_from_scratch.viz import plot_examples  # noqa: E402


def parse_args(argv=None):
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200, help="number of images (default 200)")
    parser.add_argument("--size", type=int, nargs="+", default=[96],
                        help="image size: one int for a square, or H W (default 96)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--empty-fraction", type=float, default=0.59,
                        help="share of images without a nerve (default 0.59, as in Kaggle's set)")
    parser.add_argument("--out", help="output folder (nothing is written without it, "
                                      "except a --preview)")
    parser.add_argument("--format", choices=("png", "npz"), default="png",
                        help="PNG files in images/ and masks/, or one .npz (default png)")
    parser.add_argument("--preview", metavar="PATH.png",
                        help="also save a grid of the first 8 images with the nerve outlined")
    args = parser.parse_args(argv)
    if len(args.size) not in (1, 2):
        parser.error(f"--size takes one or two ints, got {len(args.size)}")
    if args.out is None and args.preview is None:
        parser.error("give --out DIR, --preview PATH.png, or both")
    return args


def print_otsu_baseline(images, masks, has_nerve):
    """Print the mean Dice of per-image Otsu thresholding, with the better of the two
    polarities (bright or dark pixels as the nerve) for the whole set."""
    dice = dice_per_image(otsu_baseline(images, masks), masks)
    on_nerves = f"{dice[has_nerve].mean():.3f}" if has_nerve.any() else "n/a"
    print(f"Otsu threshold baseline (the better polarity): mean Dice {dice.mean():.3f} "
          f"(Kaggle convention), {on_nerves} on the images with a nerve")


def write_pngs(images, masks, out):
    """Write ``out/images/NNNN.png`` and ``out/masks/NNNN.png``, 8-bit; return the file count."""
    from skimage.io import imsave

    digits = max(4, len(str(len(images) - 1)))
    for folder in ("images", "masks"):
        os.makedirs(os.path.join(out, folder), exist_ok=True)
    for i, (image, mask) in enumerate(zip(images, masks)):
        name = f"{i:0{digits}d}.png"
        imsave(os.path.join(out, "images", name), np.round(image * 255).astype(np.uint8),
               check_contrast=False)
        imsave(os.path.join(out, "masks", name), (mask > 0.5).astype(np.uint8) * 255,
               check_contrast=False)
    return 2 * len(images)


def write_npz(images, masks, out):
    """Write ``out/synthetic_ultrasound.npz`` (compressed) and return its path."""
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "synthetic_ultrasound.npz")
    np.savez_compressed(path, images=images, masks=masks)
    return path


def main(argv=None):
    """Draw the set, write it, print a summary with the Otsu baseline; return 0."""
    args = parse_args(argv)
    size = tuple(args.size) if len(args.size) == 2 else args.size[0]
    try:
        images, masks = make_synthetic_ultrasound(args.n, size, args.seed, args.empty_fraction)
    except (ValueError, TypeError) as error:
        sys.exit(f"make_synthetic_ultrasound.py: {error}")
    if args.out is not None:
        if args.format == "png":
            count = write_pngs(images, masks, args.out)
            print(f"wrote {count} PNG files to {os.path.join(args.out, 'images')} and "
                  f"{os.path.join(args.out, 'masks')}")
        else:
            print(f"wrote {write_npz(images, masks, args.out)}")
    n, height, width = images.shape
    has_nerve = masks.any(axis=(1, 2))
    print(f"{n} images of {height} x {width}, seed {args.seed}; "
          f"{n - has_nerve.sum()} without a nerve ({np.mean(~has_nerve) if n else 0:.0%})")
    if n:
        print_otsu_baseline(images, masks, has_nerve)
    if args.preview is not None and n:
        plot_examples(images, masks, args.preview, n=min(8, n))
        print(f"wrote preview {args.preview}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
