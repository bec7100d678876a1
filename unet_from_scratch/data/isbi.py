"""The ISBI 2012 EM segmentation challenge: 30 slices of a fly's nerve cord and their labels.

"Segmentation of neuronal structures in EM stacks" (Cardona et al., 2010; Arganda-Carreras et
al., 2015), the data set of the U-Net paper: 30 serial-section transmission electron microscopy
slices of 512 x 512 pixels, 8-bit greyscale, and a label per slice,

    255 = cell interior,  0 = membrane (the boundaries between cells, about 22 % of the pixels).

Two layouts are read:

    PATH/train-volume.tif, PATH/train-labels.tif     the challenge's multi-page TIF stacks
    PATH/image/N.png,      PATH/label/N.png          one slice per file, N = 0, 1, ... (stack
                                                     order, sorted numerically; TIF also read)

The U-Net paper predicts the membranes; ``foreground="membrane"`` (the default) makes the mask
1 on the membranes (label 0), ``foreground="cell"`` 1 on the cell interiors (label 255).

Every error is a ``ValueError`` that names the function and the file.
"""

import os
import re
from collections import Counter

import numpy as np
import tifffile

from ._loading import add_once, list_folder, read_pairs, refuse_unpaired, report, some_names
from .images import MASK_FOREGROUND_VALUES, to_unit_range

VOLUME, LABELS = "train-volume.tif", "train-labels.tif"
SLICE_NAME = re.compile(r"^(\d+)\.(png|tiff?)$", re.IGNORECASE)
FOREGROUNDS = ("membrane", "cell")


def load_isbi2012(path, foreground="membrane", log=print):
    """Read the ISBI 2012 training slices and their labels.

    Inputs:
        path: a folder with ``train-volume.tif`` and ``train-labels.tif`` (multi-page TIF
            stacks), or with ``image/`` and ``label/`` holding ``N.png`` slices (as in
            ``shared/data/isbi2012/``). The stacks win when both are there.
        foreground: "membrane" (mask 1 where the label is 0) or "cell" (1 where it is 255).
        log: a function that takes the report (one line of text), ``print`` by default;
            None for silence.
    Returns:
        images: float32 (N, H, W) in [0, 1], (30, 512, 512) for the challenge's set.
        masks: float32 (N, H, W) of 0 and 1.
        In stack order (slice 0 first).
    Raises:
        ValueError naming the file: neither layout found, a stack without its labels (or a
        slice without its label, or a label without its slice), a file that cannot be read,
        images and labels of different sizes, labels with values other than 0 and 255 (or 0
        and 1), slices of different sizes.
    """
    op = "load_isbi2012"
    if foreground not in FOREGROUNDS:
        raise ValueError(f"{op}: foreground must be 'membrane' or 'cell', got {foreground!r}")
    if not os.path.isdir(path):
        list_folder(op, path, "ISBI 2012 folder")  # refuses a missing path or a file
    names = sorted(name for name in os.listdir(path) if not name.startswith("."))
    if not names:
        raise ValueError(f"{op}: {path}: the ISBI 2012 folder is empty")
    volume, labels = os.path.join(path, VOLUME), os.path.join(path, LABELS)
    if os.path.isfile(volume) or os.path.isfile(labels):
        images, cells, info = _read_stacks(op, volume, labels)
        source = f"{path} ({VOLUME}, {LABELS})"
    elif os.path.isdir(os.path.join(path, "image")) or os.path.isdir(os.path.join(path, "label")):
        images, cells, info = _read_slices(op, path)
        source = f"{path} (image/, label/)"
    else:
        raise ValueError(f"{op}: {path}: expected {VOLUME} and {LABELS}, or folders image/ "
                         f"and label/ of N.png slices; found {some_names(names)}")
    masks = cells if foreground == "cell" else 1 - cells
    if log is not None:
        log(report(op, source, len(images), info, None, masks, what="slices and labels",
                   extra=f", foreground = {foreground}"))
    return images, masks


# --------------------------------------------------------------------------------------------
# Helpers.
# --------------------------------------------------------------------------------------------

def _read_stacks(op, volume, labels):
    """The two TIF stacks as float32 (N, H, W): images in [0, 1], labels 1 on the cells."""
    for present, missing in ((volume, labels), (labels, volume)):
        if os.path.isfile(present) and not os.path.isfile(missing):
            raise ValueError(f"{op}: {present} has no partner: expected {missing} beside it")
    pixels = _read_stack(op, volume)
    label_pixels = _read_stack(op, labels)
    if pixels.shape != label_pixels.shape:
        raise ValueError(f"{op}: {volume} holds {_describe(pixels)} but {labels} holds "
                         f"{_describe(label_pixels)}; expected the same number of slices of "
                         f"the same size")
    images = to_unit_range(op, volume, pixels).astype(np.float32)
    cells = _binary(op, labels, label_pixels)
    info = {"shapes": Counter({pixels.shape[1:]: len(pixels)}), "lost": 0}
    return images, cells, info


def _read_stack(op, path):
    """A multi-page greyscale TIF's pixels as stored, shape (N, H, W).

    A colour TIF (samples last, (H, W, 3)) is refused rather than read as H slices. A stack
    of 3 or 4 pages that tifffile stored as one planar RGB page (axes S, Y, X: what
    ``tifffile.imwrite`` does with a (3, H, W) array unless told ``photometric="minisblack"``)
    reads as those 3 or 4 slices.
    """
    try:
        with tifffile.TiffFile(path) as tif:
            if not tif.series:
                raise ValueError("no image in it")
            series = tif.series[0]
            axes, pixels = series.axes, series.asarray()
    except Exception as error:  # tifffile raises many kinds of errors on a bad file
        reason = str(error).splitlines()[0] if str(error) else "no reason given"
        raise ValueError(f"{op}: {path}: cannot read it as a TIF stack (corrupt, truncated or "
                         f"not a TIF file): {type(error).__name__}: {reason}") from error
    pixels = np.asarray(pixels)
    if axes.endswith("S"):
        raise ValueError(f"{op}: {path}: a colour TIF (axes {axes}, shape {pixels.shape}); "
                         f"expected a stack of greyscale slices (N, H, W)")
    if pixels.ndim == 2:
        pixels = pixels[None]
    if pixels.ndim != 3 or pixels.size == 0:
        raise ValueError(f"{op}: {path}: expected a stack of greyscale slices (N, H, W), got "
                         f"pixels of shape {pixels.shape} (axes {axes})")
    if pixels.dtype.kind not in "biuf":
        raise ValueError(f"{op}: {path}: unsupported pixel type {pixels.dtype}")
    return pixels


def _binary(op, path, pixels):
    """Labels as float32 0/1 (1 on the foreground value); the same rule as ``read_mask``:
    0 and one of 1, 255, 65535 (or bool), nothing thresholded."""
    if pixels.dtype == bool:
        return pixels.astype(np.float32)
    values = np.unique(pixels)
    foreground = values.max()
    offending = values[~np.isin(values, (0, foreground))]
    if foreground not in (0,) + MASK_FOREGROUND_VALUES:
        offending = np.append(offending, foreground)
    if offending.size:
        shown = ", ".join(str(v) for v in offending[:5].tolist())
        raise ValueError(f"{op}: {path}: not a binary label stack: expected 0 and one of the "
                         f"values {', '.join(map(str, MASK_FOREGROUND_VALUES))}, got "
                         f"{values.size} distinct values including {shown}")
    return (pixels > 0).astype(np.float32)


def _read_slices(op, path):
    """The ``image/N.png`` and ``label/N.png`` slices, paired by N and sorted numerically."""
    found = {}
    for folder in ("image", "label"):
        names = list_folder(op, os.path.join(path, folder), f"{folder}/ folder")
        found[folder] = {}
        for name in names:
            if SLICE_NAME.match(name):
                add_once(op, os.path.join(path, folder), found[folder],
                         int(SLICE_NAME.match(name)[1]), name)
        if not found[folder]:
            raise ValueError(f"{op}: {os.path.join(path, folder)}: no slices named N.png "
                             f"(0.png, 1.png, ...) among its {len(names)} files: "
                             f"{some_names(names)}")
    images, labels = found["image"], found["label"]
    refuse_unpaired(op, [os.path.join(path, "image", images[n])
                         for n in sorted(set(images) - set(labels))],
                    [os.path.join(path, "label", labels[n])
                     for n in sorted(set(labels) - set(images))],
                    lambda image: f"a label {os.path.join(path, 'label', os.path.basename(image))}")
    pairs = [(os.path.join(path, "image", images[n]), os.path.join(path, "label", labels[n]))
             for n in sorted(images)]
    return read_pairs(op, pairs)


def _describe(pixels):
    return f"{pixels.shape[0]} slices of {pixels.shape[1]} x {pixels.shape[2]}"
