"""The data behind ``--data``: synthetic ultrasound, kaggle:PATH, isbi2012:PATH, folder:PATH
or a prepared FILE.npz, split into a training and a validation set as ``train`` does.

``train`` reads its options from the command line; ``evaluate`` and ``augment-preview`` rebuild
the same sets from what a checkpoint recorded, as a :class:`DataOptions`.
"""

import os
from dataclasses import dataclass, fields

import numpy as np

from .. import metrics
from ..backend import gpu_available
from ..data.folders import load_image_folder
from ..data.isbi import load_isbi2012
from ..data.kaggle import load_kaggle_nerve, split_by_subject
from ..data.npz import load_prepared
from ..data.augment import Augmenter
from ..data.baselines import otsu_baseline
from ..data.synthetic import make_synthetic_ultrasound
from .arguments import UsageError

DATA_KINDS = ("kaggle", "isbi2012", "folder")
STRUCTURES = {"synthetic": "nerve", "kaggle": "nerve", "isbi2012": "membrane"}   # what masks mark
ISBI_VAL_SLICES = 5             # the last slices of the stack validate, the rest train
# How the command line's loaders scale images, recorded in a checkpoint's input scaling.
SCALED_BY = "the loaders: image files read to [0, 1] (read_image)"


@dataclass
class DataOptions:
    """The options that say which data a run trained on, with ``train``'s defaults (for a
    checkpoint that does not record them, such as one written by ``fit`` directly)."""
    data: str = "synthetic"
    size: list = None                # one or two numbers, or None: the source's default
    train_images: int = 400          # synthetic only
    val_images: int = 100            # synthetic only
    val_fraction: float = 0.2        # kaggle and folder
    seed: int = 0

    @classmethod
    def from_run(cls, run, **overrides):
        """The options a checkpoint's ``meta["run"]`` records, then ``overrides``."""
        known = {field.name for field in fields(cls)}
        return cls(**{**{k: v for k, v in run.items() if k in known}, **overrides})


def check_device(device):
    """Refuse ``--device cuda`` up front on a machine without a usable GPU."""
    if device == "cuda" and not gpu_available():
        raise UsageError("--device cuda needs a CUDA GPU and CuPy (e.g. pip install -e "
                         "\".[cuda12]\" or \".[cuda13]\"); none is usable here. Leave out "
                         "--device to run on the CPU.")


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


def training_augmenter(source):
    """The augmentation ``train --augment`` applies to data from ``source`` (and
    ``augment-preview`` shows): all of it, except the 90-degree rotations for ultrasound
    (synthetic and kaggle), whose depth runs down from the probe -- a rotated scan is one no
    scanner makes."""
    return Augmenter(rotate=parse_data(source)[0] not in ("synthetic", "kaggle"))


def data_sets(options, log=print):
    """``(train_set, val_set)`` for a :class:`DataOptions` (or anything with its attributes,
    such as the parsed ``train`` arguments), each set ``(images, masks)`` of (N, H, W)."""
    kind, path = parse_data(options.data)
    if kind == "synthetic":
        return synthetic_sets(synthetic_size(options.size), options.train_images,
                              options.val_images, options.seed)
    if kind == "npz":
        train_set, val_set = load_prepared(path)
        if len(val_set[0]) == 0:
            raise UsageError(f"--data {options.data}: the file holds no validation images "
                             f"(val_images is empty); prepare it with a validation split")
        return train_set, val_set
    if kind == "isbi2012":
        images, masks = load_isbi2012(path, log=log)
        if len(images) <= ISBI_VAL_SLICES:
            raise UsageError(f"--data {options.data}: {len(images)} slices; need more than "
                             f"{ISBI_VAL_SLICES} (the last {ISBI_VAL_SLICES} validate)")
        split = len(images) - ISBI_VAL_SLICES
        return (images[:split], masks[:split]), (images[split:], masks[split:])
    size = size_pair(options.size)
    if kind == "kaggle":
        images, masks, subjects, _ = load_kaggle_nerve(path, size=size or (96, 128), log=log)
    else:
        images, masks, _ = load_image_folder(path, size=size, log=log)
        subjects = np.arange(len(images))            # each image its own "subject"
    train_index, val_index = split_by_subject(subjects, options.val_fraction, options.seed)
    for split, index in (("validation", val_index), ("training", train_index)):
        if len(index) == 0:
            raise UsageError(f"--data {options.data}: the {split} split is empty ({len(images)} "
                             f"images, --val-fraction {options.val_fraction}); each split "
                             f"needs at least one image")
    return (images[train_index], masks[train_index]), (images[val_index], masks[val_index])


def synthetic_size(size):
    """--size for synthetic data: one number, the side of the square images (default 64)."""
    if not size:
        return 64
    if len(size) != 1:
        raise UsageError(f"--size: synthetic images are square: give one number, got "
                         f"{' '.join(map(str, size))}")
    return size[0]


def known_size(options):
    """(H, W) of the training images as the options fix them before any file is read, or
    None where only the files tell (a folder without --size, ISBI, an .npz)."""
    kind = parse_data(options.data)[0]
    if kind == "synthetic":
        side = synthetic_size(options.size)
        return side, side
    if kind in ("kaggle", "folder"):
        return size_pair(options.size) or ((96, 128) if kind == "kaggle" else None)
    return None


def absolute_source(source):
    """``--data`` with its path made absolute, so that a checkpoint names its data from
    anywhere (``folder:data/x`` -> ``folder:/home/.../data/x``)."""
    kind, path = parse_data(source)
    if path is None:
        return source
    path = os.path.abspath(path)
    return path if kind == "npz" else f"{kind}:{path}"


def size_pair(size):
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
