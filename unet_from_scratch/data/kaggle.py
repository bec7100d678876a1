"""The Kaggle "Ultrasound Nerve Segmentation" set (2016): read it, split it by subject.

The competition's unzipped ``train/`` folder holds 5,635 ultrasound scans of the neck and their
masks of the brachial plexus, named

    {subject}_{n}.tif         the scan: 420 x 580, 8-bit greyscale
    {subject}_{n}_mask.tif    its mask: 420 x 580, 0 (background) and 255 (nerve)

for 47 subjects with about 120 frames each; 59 % of the masks are empty. The ``test/`` folder
holds 5,508 scans ``{n}.tif`` without masks (what a submission predicts).

Frames of one subject come from one scanning session and are near duplicates, so a random
split of the frames puts almost the same image on both sides and the validation score flatters
the model. :func:`split_by_subject` keeps every subject on one side.

Resizing: the default size, 96 x 128 (H x W), keeps the scans' aspect (420 / 580 = 0.724,
96 / 128 = 0.75) and is small enough for a CPU. Images are resized bilinearly, anti-aliased
when they shrink; masks are resized the same way and thresholded at 0.5, so they stay 0/1
(a very small nerve can vanish; the report counts such masks).

Every error is a ``ValueError`` that names the function and the file.
"""

import numbers
import os
import re

import numpy as np

from ._loading import (add_once, check_size, list_folder, read_images, read_pairs,
                       refuse_unpaired, report, some_names)

KAGGLE_SIZE = (420, 580)
DEFAULT_SIZE = (96, 128)

IMAGE_NAME = re.compile(r"^(\d+)_(\d+)\.tiff?$", re.IGNORECASE)
MASK_NAME = re.compile(r"^(\d+)_(\d+)_mask\.tiff?$", re.IGNORECASE)
TEST_NAME = re.compile(r"^(\d+)\.tiff?$", re.IGNORECASE)


def load_kaggle_nerve(train_dir, size=DEFAULT_SIZE, log=print):
    """Read the competition's ``train/`` folder: every scan with its mask.

    Inputs:
        train_dir: the folder of ``{subject}_{n}.tif`` and ``{subject}_{n}_mask.tif`` files
            (other files are ignored and listed in the report).
        size: ``(H, W)`` to resize to (96 x 128 by default), or None to keep 420 x 580.
        log: a function that takes the report (one line of text), e.g. ``print`` (the
            default) or ``logging.info``; None for silence.
    Returns:
        images: float32 (N, H, W) in [0, 1].
        masks: float32 (N, H, W) of 0 and 1 (1 on the nerve).
        subjects: int64 (N,), the subject of each frame.
        names: str (N,), the file's stem, ``"{subject}_{n}"``.
        Ordered by subject, then frame number (numerically: 1_2 before 1_10).
    Raises:
        ValueError naming the file: a missing or empty folder, no file named as above, a scan
        without its mask (or a mask without its scan), a file that cannot be read, an image
        and mask of different sizes, a mask with values other than 0 and 255 (or 0 and 1) in
        the file, images of different sizes when ``size`` is None.
    """
    op = "load_kaggle_nerve"
    size = check_size(op, size)
    names = list_folder(op, train_dir, "Kaggle train folder")
    images, masks, ignored = {}, {}, []
    for name in names:
        image, mask = IMAGE_NAME.match(name), MASK_NAME.match(name)
        if image:
            add_once(op, train_dir, images, (int(image[1]), int(image[2])), name)
        elif mask:
            add_once(op, train_dir, masks, (int(mask[1]), int(mask[2])), name)
        else:
            ignored.append(name)
    if not images and not masks:
        raise ValueError(f"{op}: {train_dir}: no files named {{subject}}_{{n}}.tif and "
                         f"{{subject}}_{{n}}_mask.tif (e.g. 1_1.tif, 1_1_mask.tif) among its "
                         f"{len(names)} files: {some_names(names)}")
    refuse_unpaired(op, [os.path.join(train_dir, images[key])
                         for key in sorted(set(images) - set(masks))],
                    [os.path.join(train_dir, masks[key])
                     for key in sorted(set(masks) - set(images))],
                    lambda image: f"{os.path.splitext(os.path.basename(image))[0]}_mask.tif "
                                  f"beside it")
    keys = sorted(images)
    pairs = [(os.path.join(train_dir, images[key]), os.path.join(train_dir, masks[key]))
             for key in keys]
    image_array, mask_array, info = read_pairs(op, pairs, size)
    subjects = np.array([subject for subject, _ in keys], dtype=np.int64)
    stems = np.array([f"{subject}_{n}" for subject, n in keys], dtype=str)
    if log is not None:
        info["ignored"] = ignored
        log(report(op, train_dir, len(keys), info, size, mask_array,
                   extra=f" ({len(np.unique(subjects))} subjects)"))
    return image_array, mask_array, subjects, stems


def load_kaggle_test(test_dir, size=DEFAULT_SIZE, log=print):
    """Read the competition's ``test/`` folder: the scans ``{n}.tif``, without masks.

    Inputs:
        test_dir: the folder of ``{n}.tif`` files (other files are ignored and reported).
        size: ``(H, W)`` to resize to (96 x 128 by default), or None to keep 420 x 580.
            A submission is scored at 420 x 580: resize the predictions back before encoding.
        log: a function that takes the report, ``print`` by default; None for silence.
    Returns:
        images: float32 (N, H, W) in [0, 1].
        ids: int64 (N,), the ``n`` of each file, sorted numerically (1, 2, ..., 10, ...);
            the submission's ``img`` column.
    Raises:
        ValueError naming the file: a missing or empty folder, no file named ``{n}.tif``, a
        file that cannot be read, images of different sizes when ``size`` is None.
    """
    op = "load_kaggle_test"
    size = check_size(op, size)
    names = list_folder(op, test_dir, "Kaggle test folder")
    found = {}
    for name in names:
        if TEST_NAME.match(name):
            add_once(op, test_dir, found, int(TEST_NAME.match(name)[1]), name)
    if not found:
        hint = (" (they look like the train folder's {subject}_{n}.tif)"
                if any(IMAGE_NAME.match(name) for name in names) else "")
        raise ValueError(f"{op}: {test_dir}: no files named {{n}}.tif (e.g. 1.tif) among its "
                         f"{len(names)} files: {some_names(names)}{hint}")
    ids = np.array(sorted(found), dtype=np.int64)
    images, info = read_images(op, [os.path.join(test_dir, found[i]) for i in ids], size)
    if log is not None:
        info["ignored"] = [name for name in names if not TEST_NAME.match(name)]
        log(report(op, test_dir, len(ids), info, size, what="images"))
    return images, ids


def split_by_subject(subjects, val_fraction=0.2, seed=0):
    """Split frames into training and validation so that no subject is on both sides.

    ``round(val_fraction * S)`` of the S distinct subjects, drawn at random, go to validation
    (at least one when ``val_fraction > 0`` and there are two or more subjects; never all of
    them). The fraction counts subjects, not frames: the share of frames in validation is
    close to it when subjects have similar numbers of frames, as in the Kaggle set.

    Inputs:
        subjects: int array of shape (N,), the subject of each frame.
        val_fraction: a number in [0, 1).
        seed: an int >= 0 or a ``numpy.random.Generator``; the same seed gives the same split.
    Returns:
        train_index, val_index: int64 arrays of frame indices, each sorted, together 0..N-1.
    """
    op = "split_by_subject"
    subjects = np.asarray(subjects)
    if subjects.ndim != 1 or (subjects.size and subjects.dtype.kind not in "iu"):
        raise ValueError(f"{op}: subjects must be a 1-D array of ints, got shape "
                         f"{subjects.shape} and dtype {subjects.dtype}")
    if (not isinstance(val_fraction, numbers.Real) or isinstance(val_fraction, bool)
            or not 0 <= val_fraction < 1):
        raise ValueError(f"{op}: val_fraction must be a number in [0, 1), got {val_fraction!r}")
    if isinstance(seed, np.random.Generator):
        rng = seed
    elif isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and seed >= 0:
        rng = np.random.default_rng(int(seed))
    else:
        raise ValueError(f"{op}: seed must be an int >= 0 or a numpy.random.Generator, "
                         f"got {seed!r}")
    distinct = np.unique(subjects)
    count = int(round(val_fraction * distinct.size))
    if val_fraction > 0 and distinct.size >= 2:
        count = min(max(count, 1), distinct.size - 1)
    val_subjects = rng.permutation(distinct)[:count]
    in_val = np.isin(subjects, val_subjects)
    return np.flatnonzero(~in_val).astype(np.int64), np.flatnonzero(in_val).astype(np.int64)
