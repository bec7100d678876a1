"""``unet-scratch augment-preview`` (a figure of augmented training images) and
``unet-scratch lessons`` (the student versions of the lesson notebooks)."""

import os

import numpy as np

from ..data.synthetic import make_synthetic_ultrasound
from ..teaching import student
from .arguments import UsageError
from .data import DataOptions, data_sets, training_augmenter
from .outputs import check_file


def preview_path(out):
    """Where augment-preview writes: ``out`` itself when it is a .png file, ``out``/
    augmentation.png when it is an existing folder; anything else is refused."""
    if os.path.isdir(out):
        return os.path.join(out, "augmentation.png")
    if os.path.splitext(out)[1].lower() != ".png":
        raise UsageError(f"--out {out}: give a .png file name or an existing folder")
    return out


def run_augment_preview(args):
    """A PNG of one training image and its augmented versions, as ``train --augment`` draws them."""
    from .. import viz          # matplotlib is imported only when a figure is drawn
    path = preview_path(args.out)
    check_file("--out", path, force=True)
    if args.data == "synthetic":
        images, masks = make_synthetic_ultrasound(1, 128, seed=args.seed, empty_fraction=0.0)
    else:
        options = DataOptions(data=args.data, seed=args.seed)
        (images, masks), _ = data_sets(options, log=lambda line: print(f"reading   {line}"))
        with_mask = np.flatnonzero(masks.max(axis=(1, 2)) > 0)
        images, masks = (images[with_mask], masks[with_mask]) if len(with_mask) else (images,
                                                                                    masks)
    viz.plot_augmentations(images[0], masks[0], training_augmenter(args.data), path, n=args.n,
                           seed=args.seed)
    print(f"wrote {path}: the first panel is the original, the others augmented")
    return 0


def run_lessons(args):
    """Write the student version of every lesson notebook into ``--student``; notebooks
    already there are replaced only with ``--force``."""
    written = student.write_student_lessons(args.student, args.lessons_dir, force=args.force)
    print(f"wrote {len(written)} student notebooks to {args.student}")
    return 0
