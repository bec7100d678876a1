"""The Kaggle nerve competition's submission format: run-length encoded masks in a CSV file.

A submission has the header ``img,pixels`` and one row per test image: the image's number and
its predicted mask, run-length encoded. The encoding, as the competition defines it:

- the pixels of an H x W mask are numbered from 1 to H * W **top to bottom, then left to
  right**: pixel (row r, column c), counted from 0, has the number ``c * H + r + 1``
  (column-major order, ``mask.T.flatten()``, NumPy's ``order="F"``);
- each run of consecutive foreground pixels in that order is written as two numbers, its first
  pixel's number and its length, and the runs follow each other in increasing order:
  ``"start length start length ..."``, separated by single spaces;
- an empty mask (no nerve: 59 % of the training images) is the empty string.

A run may continue from the bottom of one column into the top of the next: the numbering
runs straight on.

The scoring is the mean over images of the Dice coefficient with both-empty = 1
(:func:`unet_from_scratch.metrics.mean_dice`). Because an empty prediction for an image
without a nerve scores a full 1 while any stray pixels score 0, a common trick on this set is
to drop predicted masks that are too small to be a nerve: :func:`remove_small_masks`.

The test images are 420 x 580; a network trained at a smaller size predicts at that size, so
the predictions are brought back to 420 x 580 before encoding: :func:`masks_for_submission`.
"""

import numbers
import os
import re

import numpy as np

from .backend import asnumpy
from .checks import check_height_width, is_int
from .data.kaggle import KAGGLE_SIZE

HEADER = "img,pixels"
_INTEGER = re.compile(r"[0-9]+")


def rle_encode(mask):
    """Run-length encode one binary mask in the competition's format.

    Inputs:
        mask: array of shape (H, W), bool or numbers that are all 0 or 1 (threshold
            probabilities first: ``probabilities > 0.5``).
    Returns:
        str: ``"start length start length ..."`` with pixels numbered from 1, top to bottom
        then left to right; ``""`` for an empty mask.
    """
    mask = _check_mask("rle_encode", mask)
    # A 0 before and after the pixels makes every run start with a 0 -> 1 step and end with a
    # 1 -> 0 step, so the steps' positions are, alternately, each run's first pixel (already
    # 1-based, thanks to the leading 0) and the pixel just after its last one.
    pixels = np.concatenate([[0], mask.ravel(order="F"), [0]]).astype(np.int8)
    steps = np.flatnonzero(np.diff(pixels)) + 1
    starts, ends = steps[0::2], steps[1::2]
    runs = np.stack([starts, ends - starts], axis=1).ravel()
    return " ".join(map(str, runs.tolist()))


def rle_decode(text, shape):
    """Decode one run-length encoded mask (the inverse of :func:`rle_encode`).

    Inputs:
        text: str of ``"start length ..."`` pairs, positive integers separated by whitespace,
            starts from 1, runs in increasing order and not overlapping (runs that touch
            are accepted); ``""`` (or only whitespace) for an empty mask.
        shape: ``(H, W)``, the mask's size (420 x 580 for the competition).
    Returns:
        uint8 array of shape (H, W), 1 on the runs and 0 elsewhere.
    Raises:
        ValueError naming the problem: a value that is not a positive integer, an odd number
        of values, a run that starts at 0 or ends past pixel H * W, a run of length 0, runs
        out of order or overlapping.
    """
    op = "rle_decode"
    if not isinstance(text, str):
        raise TypeError(f"{op}: text must be a str, got {type(text).__name__}")
    height, width = check_height_width(op, "shape", shape)
    size = height * width
    tokens = text.split()
    bad = [token for token in tokens if not _INTEGER.fullmatch(token) or len(token) > 18]
    if bad:
        raise ValueError(f"{op}: expected non-negative integers separated by spaces, got "
                         f"{bad[0]!r} in {_shorten(text)!r}")
    if len(tokens) % 2:
        raise ValueError(f"{op}: expected pairs of 'start length', got an odd number of values "
                         f"({len(tokens)}) in {_shorten(text)!r}")
    runs = np.array([int(token) for token in tokens], dtype=np.int64).reshape(-1, 2)
    starts, lengths = runs[:, 0], runs[:, 1]
    ends = starts + lengths  # one past each run's last pixel, 1-based
    _check_runs(op, starts, lengths, ends, size, shape)
    # Mark +1 where a run starts and -1 just after it ends; the running sum is the mask. The
    # starts are distinct (runs are increasing) and so are the ends, so plain indexing
    # suffices; a run ending where the next starts puts -1 and +1 in one cell via two
    # separate statements, which is right.
    steps = np.zeros(size + 1, dtype=np.int64)
    steps[starts - 1] += 1
    steps[ends - 1] -= 1
    return np.cumsum(steps[:-1]).astype(np.uint8).reshape((height, width), order="F")


def remove_small_masks(masks, min_pixels):
    """Empty every mask with fewer than ``min_pixels`` foreground pixels (whole-mask removal).

    On the nerve set, 59 % of the images have no nerve and score 1 only if nothing at all is
    predicted, while a real nerve covers a few thousand pixels of a 420 x 580 image; so small
    predicted masks are more likely false alarms than small nerves, and the Kaggle solutions
    dropped them whole (not blob by blob).

    Inputs:
        masks: array of shape (N, H, W) (or (N, 1, H, W)), bool or 0/1 numbers.
        min_pixels: an int >= 0; 0 keeps every mask.
    Returns:
        a new array of the same shape and dtype: mask i is kept as it is if it has at least
        ``min_pixels`` foreground pixels, else all zero. The input is not modified.
    """
    op = "remove_small_masks"
    masks = _check_masks(op, masks)
    if not is_int(min_pixels) or min_pixels < 0:
        raise ValueError(f"{op}: min_pixels must be an int >= 0, got {min_pixels!r}")
    counts = (masks != 0).reshape(len(masks), -1).sum(axis=1)
    kept = masks.copy()
    kept[counts < min_pixels] = 0
    return kept


def masks_for_submission(probabilities, shape=KAGGLE_SIZE, threshold=0.5, min_pixels=0):
    """Turn the network's probabilities into the binary masks a submission encodes.

    The probabilities are resized to ``shape`` (bilinear, :func:`unet_from_scratch.data.resize`)
    *before* thresholding, so the upsampled outline is smooth rather than blocky; then
    ``p > threshold`` (strictly, as in :mod:`unet_from_scratch.metrics`), then
    :func:`remove_small_masks` with ``min_pixels`` counted at the new size.

    Inputs:
        probabilities: array of shape (N, H, W) or (N, 1, H, W), values in [0, 1], NumPy or CuPy.
        shape: ``(H', W')`` of the masks to encode; 420 x 580 for the competition.
        threshold: a number in [0, 1).
        min_pixels: an int >= 0.
    Returns:
        uint8 array of shape (N, H', W'), values 0 and 1.
    """
    from .data.images import resize  # here, not at the top: data sits on its own layer

    op = "masks_for_submission"
    probabilities = np.asarray(asnumpy(probabilities))
    if probabilities.ndim == 4 and probabilities.shape[1] == 1:
        probabilities = probabilities[:, 0]
    if probabilities.ndim != 3 or probabilities.size == 0 or probabilities.dtype.kind not in "uif":
        raise ValueError(f"{op}: probabilities must be a non-empty real array of shape (N, H, W) "
                         f"or (N, 1, H, W), got shape {probabilities.shape} and dtype "
                         f"{probabilities.dtype}")
    height, width = check_height_width(op, "shape", shape)
    if not isinstance(threshold, numbers.Real) or isinstance(threshold, bool) \
            or not 0 <= threshold < 1:
        raise ValueError(f"{op}: threshold must be a number in [0, 1), got {threshold!r}")
    if probabilities.shape[1:] != (height, width):
        probabilities = resize(probabilities, (height, width), order=1)
    masks = (probabilities > threshold).astype(np.uint8)
    return remove_small_masks(masks, min_pixels)


def write_submission(path, ids, masks):
    """Write a submission CSV: the header ``img,pixels``, then one row ``id,rle`` per image.

    The rows are sorted by image number (as integers: 2 before 10). An image without a nerve
    gets an empty second field (``"7,"``).

    Inputs:
        path: the file to write (its folder is created if missing).
        ids: the images' numbers, N distinct ints >= 0 (or strings of digits, such as the
            test files' names without ``.tif``).
        masks: array of shape (N, H, W) (or (N, 1, H, W)), bool or 0/1 numbers, in the order
            of ``ids``; 420 x 580 for the competition.
    Returns:
        path, as given.
    """
    op = "write_submission"
    masks = _check_masks(op, masks)
    if masks.ndim == 4:
        masks = masks[:, 0]
    if len(ids) != len(masks):
        raise ValueError(f"{op}: expected one id per mask, got {len(ids)} ids and "
                         f"{len(masks)} masks")
    return write_encoded_submission(path, ids, [rle_encode(mask) for mask in masks])


def write_encoded_submission(path, ids, encoded):
    """:func:`write_submission` for masks already run-length encoded (``rle_encode``), so
    that thousands of 420 x 580 masks need not be held in memory at once."""
    op = "write_submission"
    image_ids = _check_ids(op, ids)
    if len(image_ids) != len(encoded):
        raise ValueError(f"{op}: expected one id per mask, got {len(image_ids)} ids and "
                         f"{len(encoded)} masks")
    lines = [HEADER]
    for i in np.argsort(image_ids, kind="stable"):
        lines.append(f"{image_ids[i]},{encoded[i]}")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w", newline="\n") as file:
        file.write("\n".join(lines) + "\n")
    return path


def read_submission(path):
    """Read a submission CSV written by :func:`write_submission` (or by hand, in that format).

    Inputs:
        path: the CSV file: the header ``img,pixels``, then rows ``id,rle``.
    Returns:
        dict from each image number (int) to its run-length string (``""`` for an empty
        mask), in the file's order. Decode one with ``rle_decode(text, (420, 580))``.
    Raises:
        ValueError naming the file and line: a missing or different header, a row without
        exactly two fields, an id that is not an integer, an id given twice.
    """
    op = "read_submission"
    if not os.path.isfile(path):
        raise ValueError(f"{op}: {path}: no such file")
    with open(path, newline="") as file:
        lines = file.read().splitlines()
    if not lines or lines[0].strip() != HEADER:
        first = lines[0] if lines else ""
        raise ValueError(f"{op}: {path}: expected the header {HEADER!r} on line 1, got "
                         f"{_shorten(first)!r}")
    rows = {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != 2:
            raise ValueError(f"{op}: {path}, line {number}: expected 2 fields 'img,pixels', "
                             f"got {len(fields)} in {_shorten(line)!r}")
        image_id, text = fields[0].strip(), fields[1].strip()
        if not _INTEGER.fullmatch(image_id):
            raise ValueError(f"{op}: {path}, line {number}: expected an integer image id, "
                             f"got {image_id!r}")
        if int(image_id) in rows:
            raise ValueError(f"{op}: {path}, line {number}: image id {int(image_id)} appears "
                             f"twice")
        rows[int(image_id)] = text
    return rows


# --------------------------------------------------------------------------------------------
# Checks.
# --------------------------------------------------------------------------------------------

def _check_mask(op, mask):
    """One (H, W) mask as a NumPy bool array; refuses other shapes and non-binary values."""
    mask = np.asarray(asnumpy(mask))
    if mask.ndim != 2:
        raise ValueError(f"{op}: mask must be a 2-D array (H, W), got mask.shape={mask.shape}")
    _check_binary(op, "mask", mask)
    return mask != 0


def _check_masks(op, masks):
    """A stack (N, H, W) or (N, 1, H, W) of binary masks as a NumPy array (dtype kept)."""
    masks = np.asarray(asnumpy(masks))
    if masks.ndim not in (3, 4) or (masks.ndim == 4 and masks.shape[1] != 1):
        raise ValueError(f"{op}: masks must have shape (N, H, W) or (N, 1, H, W), got "
                         f"masks.shape={masks.shape}")
    _check_binary(op, "masks", masks)
    return masks


def _check_binary(op, name, a):
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{op}: {name} must have a bool or numeric dtype, got {a.dtype}")
    if a.dtype.kind != "b" and not ((a == 0) | (a == 1)).all():
        values = np.unique(a[(a != 0) & (a != 1)])[:3]
        raise ValueError(f"{op}: {name} must be binary (0 and 1, or bool), got other values "
                         f"such as {values.tolist()}; threshold probabilities first "
                         f"(p > 0.5), divide 0/255 masks by 255")


def _check_runs(op, starts, lengths, ends, size, shape):
    """Runs within pixels 1..size, of positive length, increasing and not overlapping."""
    if len(starts) == 0:
        return
    problems = [
        (starts < 1, lambda i: f"run {i + 1} starts at pixel {starts[i]}; pixels are numbered "
                               f"from 1"),
        (lengths < 1, lambda i: f"run {i + 1} (start {starts[i]}) has length {lengths[i]}; "
                                f"lengths must be >= 1"),
        (ends - 1 > size, lambda i: f"run {i + 1} (start {starts[i]}, length {lengths[i]}) "
                                    f"ends at pixel {ends[i] - 1}, past the last pixel {size} "
                                    f"of a {shape[0]} x {shape[1]} mask"),
    ]
    # Run i + 1 must start at or after the pixel just past run i's end.
    order = np.concatenate([[False], starts[1:] < ends[:-1]])
    problems.append((order, lambda i: f"run {i + 1} starts at pixel {starts[i]}, before run "
                                      f"{i} ends (start {starts[i - 1]}, length "
                                      f"{lengths[i - 1]}): runs must be increasing and not "
                                      f"overlap"))
    for failed, message in problems:
        if failed.any():
            raise ValueError(f"{op}: {message(int(np.argmax(failed)))}")


def _check_ids(op, ids):
    """The image numbers as a list of Python ints: integers >= 0 (or digit strings), distinct."""
    try:
        ids = list(ids)
    except TypeError:
        raise TypeError(f"{op}: ids must be a sequence of image numbers, got "
                        f"{type(ids).__name__}") from None
    image_ids = []
    for value in ids:
        if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            image_ids.append(int(value))
        elif is_int(value) and value >= 0:
            image_ids.append(int(value))
        else:
            raise ValueError(f"{op}: ids must be integers >= 0 (or strings of digits), got "
                             f"{value!r}")
    if len(set(image_ids)) != len(image_ids):
        seen, twice = set(), None
        for value in image_ids:
            if value in seen:
                twice = value
                break
            seen.add(value)
        raise ValueError(f"{op}: ids must be distinct, got {twice} twice")
    return image_ids


def _shorten(text, limit=60):
    return text if len(text) <= limit else text[:limit] + "..."
