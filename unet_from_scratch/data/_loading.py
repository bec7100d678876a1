"""What the real-data loaders share: list a folder, read image/mask pairs, resize, report.

Used by :mod:`.kaggle`, :mod:`.isbi` and :mod:`.folders`. Each pair is read with
:func:`~.images.read_image` and :func:`~.images.read_mask`, so a mask is checked on the file's
own values (0 and one of 1, 255, 65535) *before* any resizing; resizing comes after and is
the only place where a mask is thresholded.

Every error is a ``ValueError`` that starts with the calling loader's name (``op``) and names
the file; an error of ``read_image``/``read_mask`` keeps its own text after that prefix.
"""

import os
import re
from collections import Counter

import numpy as np

from ..checks import is_int
from .images import read_image, read_mask, resize

IMAGE_EXTENSIONS = (".png", ".tif", ".tiff", ".jpg", ".jpeg")


def check_size(op, size):
    """``None`` (keep the files' size) or a pair of ints >= 1, returned as a tuple ``(H, W)``."""
    if size is None:
        return None
    sides = tuple(np.atleast_1d(size)) if np.ndim(size) <= 1 else ()
    if len(sides) != 2 or not all(is_int(s) and s >= 1 for s in sides):
        raise ValueError(f"{op}: size must be None or a pair (H, W) of ints >= 1, got {size!r}")
    return int(sides[0]), int(sides[1])


def list_folder(op, path, what="folder"):
    """The names of the visible files in ``path`` in natural order (see :func:`natural_key`);
    refuses a missing path, a file, and a folder without files."""
    if not os.path.exists(path):
        raise ValueError(f"{op}: {path}: no such {what}")
    if not os.path.isdir(path):
        raise ValueError(f"{op}: {path}: not a folder (expected the {what})")
    names = sorted((name for name in os.listdir(path)
                    if not name.startswith(".") and os.path.isfile(os.path.join(path, name))),
                   key=natural_key)
    if not names:
        raise ValueError(f"{op}: {path}: the {what} is empty (no files in it)")
    return names


def natural_key(name):
    """Sort key that orders the digits in a name as numbers: "2.png" before "10.png"."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower())
            for part in re.split(r"(\d+)", name) if part]


def some_names(names, count=3):
    """The first ``count`` names as text, with how many more there are."""
    names = list(names)
    shown = ", ".join(names[:count])
    return shown + (f" (and {len(names) - count} more)" if len(names) > count else "")


def refuse_unpaired(op, lonely_images, lonely_masks, expected_mask):
    """Refuse images without a mask and masks without an image, naming them.

    Inputs: ``lonely_images`` and ``lonely_masks``, lists of file paths; ``expected_mask``, a
    function from an image's path to the text that says which mask was looked for.
    """
    if lonely_images:
        first = lonely_images[0]
        message = f"{op}: {first} has no mask: expected {expected_mask(first)}"
        if len(lonely_images) > 1:
            message += (f"; {len(lonely_images)} images lack a mask: "
                        f"{some_names(map(os.path.basename, lonely_images))}")
        if lonely_masks:
            message += (f"; also {len(lonely_masks)} masks without an image: "
                        f"{some_names(map(os.path.basename, lonely_masks))}")
        raise ValueError(message)
    if lonely_masks:
        message = f"{op}: mask {lonely_masks[0]} has no image"
        if len(lonely_masks) > 1:
            message += (f"; {len(lonely_masks)} masks without an image: "
                        f"{some_names(map(os.path.basename, lonely_masks))}")
        raise ValueError(message)


def read_pairs(op, pairs, size=None):
    """Read image/mask file pairs into two float32 (N, H, W) arrays.

    Inputs:
        op: the loader's name, for messages.
        pairs: a list of ``(image_path, mask_path)``, in the order wanted.
        size: None to keep the files' size (then all must have one size), or ``(H, W)``:
            each image is resized bilinearly (anti-aliased when it shrinks) and each mask is
            resized the same way and thresholded at 0.5, so that it stays 0/1.
    Returns:
        images: float32 (N, H, W) in [0, 1]; masks: float32 (N, H, W) of 0 and 1;
        info: a dict with ``shapes`` (a Counter of the files' (H, W)) and ``lost`` (how many
        masks had foreground in the file but none after resizing: objects too small to survive).
    """
    return _read_all(op, pairs, size, with_masks=True)


def read_images(op, paths, size=None):
    """Read image files into a float32 (N, H, W) array; like :func:`read_pairs` without masks.

    Returns ``(images, info)``.
    """
    images, _, info = _read_all(op, [(path, None) for path in paths], size, with_masks=False)
    return images, info


def report(op, path, count, info, size, masks=None, what="image/mask pairs", extra=""):
    """A one-paragraph summary of what a loader read: counts, sizes, share of empty masks."""
    shapes = ", ".join(f"{h} x {w}" + (f" ({n})" if len(info["shapes"]) > 1 else "")
                       for (h, w), n in info["shapes"].most_common())
    text = f"{op}: {count} {what} from {path}{extra}; {shapes or 'no images'}"
    if size is not None:
        text += f", resized to {size[0]} x {size[1]}"
    if masks is not None and count:
        empty = int((~masks.reshape(count, -1).astype(bool).any(axis=1)).sum())
        text += f"; {empty} of {count} masks empty ({empty / count:.0%})"
        if info["lost"]:
            text += (f", {info['lost']} of them only because their few foreground pixels "
                     f"vanished in the resize")
        text += f"; foreground {masks.mean():.1%} of pixels"
    if info.get("ignored"):
        text += f"; ignored {len(info['ignored'])} other files: {some_names(info['ignored'])}"
    return text


# --------------------------------------------------------------------------------------------
# Helpers.
# --------------------------------------------------------------------------------------------

def _read_all(op, pairs, size, with_masks):
    """Read ``(image_path, mask_path or None)`` pairs; see :func:`read_pairs`."""
    n = len(pairs)
    shapes, lost = Counter(), 0
    images = masks = None
    first = None
    for i, (image_path, mask_path) in enumerate(pairs):
        image = _call(op, read_image, image_path)
        mask = _call(op, read_mask, mask_path) if with_masks else None
        if mask is not None and mask.shape != image.shape:
            raise ValueError(f"{op}: image {image_path} is {_shape(image)} but its mask "
                             f"{mask_path} is {_shape(mask)}; expected the same size")
        if first is None:
            first = (image_path, image.shape)
            out_shape = (n,) + (size if size is not None else image.shape)
            images = np.empty(out_shape, dtype=np.float32)
            masks = np.empty(out_shape, dtype=np.float32) if with_masks else None
        elif size is None and image.shape != first[1]:
            raise ValueError(f"{op}: image {image_path} is {_shape(image)} but {first[0]} is "
                             f"{first[1][0]} x {first[1][1]}; all images must have one size "
                             f"(or pass size=(H, W) to resize them)")
        shapes[image.shape] += 1
        if size is not None and image.shape != size:
            image = np.clip(resize(image, size, order=1), 0.0, 1.0)
            if mask is not None:
                resized = resize(mask, size, order=1) >= 0.5
                lost += bool(mask.any() and not resized.any())
                mask = resized
        images[i] = image
        if mask is not None:
            masks[i] = mask
    if images is None:
        images = np.empty((0,) + (size or (0, 0)), dtype=np.float32)
        masks = images.copy() if with_masks else None
    return images, masks, {"shapes": shapes, "lost": lost}


def _call(op, read, path):
    """``read(path)``, its ValueError prefixed with the loader's name."""
    try:
        return read(path)
    except ValueError as error:
        raise ValueError(f"{op}: {error}") from error


def _shape(array):
    return f"{array.shape[0]} x {array.shape[1]}"


def add_once(op, folder, table, key, name):
    """``table[key] = name``, refusing a second file with the same number (``1_1.tif`` and
    ``1_01.tif``), which would otherwise pair an image with the wrong mask."""
    if key in table:
        raise ValueError(f"{op}: {folder}: {table[key]} and {name} have the same number; "
                         f"keep one")
    table[key] = name
