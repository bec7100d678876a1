"""A prepared data set: one compressed ``.npz`` with a training and a validation split.

What ``data_scripts/prepare_kaggle_nerve.py`` and ``data_scripts/prepare_isbi2012.py`` write
and what training reads. The file holds four arrays, all float32:

    train_images (N, H, W) in [0, 1]     train_masks (N, H, W) of 0 and 1
    val_images   (M, H, W) in [0, 1]     val_masks   (M, H, W) of 0 and 1   (M may be 0)

and any extras a script adds (the Kaggle script: ``train_subjects``, ``val_subjects``,
``train_names``, ``val_names``). Nothing in it needs pickle: it is read with
``allow_pickle=False``, so opening a file from elsewhere cannot run code.
"""

import os
import zipfile

import numpy as np

PREPARED_ARRAYS = ("train_images", "train_masks", "val_images", "val_masks")


def save_prepared(path, train, val, **extra):
    """Write a prepared data set to ``path`` (compressed .npz), atomically.

    Inputs:
        path: the file to write (its folder is created); a temporary file is written beside it
            and renamed, so a reader never sees half a file.
        train, val: pairs ``(images, masks)`` of arrays of shape (N, H, W) and (M, H, W).
        extra: more arrays to store (no object arrays: they would need pickle).
    Returns:
        path, as given.
    """
    arrays = {}
    for split, (images, masks) in (("train", train), ("val", val)):
        images, masks = np.asarray(images), np.asarray(masks)
        if images.ndim != 3 or images.shape != masks.shape:
            raise ValueError(f"save_prepared: {split} images and masks must be (N, H, W) arrays "
                             f"of one shape, got images.shape={images.shape}, "
                             f"masks.shape={masks.shape}")
        arrays[f"{split}_images"], arrays[f"{split}_masks"] = images, masks
    if arrays["train_images"].shape[1:] != arrays["val_images"].shape[1:]:
        raise ValueError(f"save_prepared: train and val images must have one size, got "
                         f"{arrays['train_images'].shape} and {arrays['val_images'].shape}")
    for name, value in extra.items():
        value = np.asarray(value)
        if value.dtype == object:
            raise TypeError(f"save_prepared: extra array {name!r} has dtype object, which would "
                            f"need pickle; give numbers or strings")
        arrays[name] = value
    write_npz_atomically(path, arrays, compressed=True)
    return path


def write_npz_atomically(path, arrays, compressed=False):
    """``np.savez(path, **arrays)``, but never leaving a half-written file at ``path``.

    The arrays go to a temporary file beside ``path`` (same folder, so the same disk),
    which is flushed to disk and then renamed over ``path``: a rename within one file
    system is atomic, so a reader -- or a run interrupted by Ctrl-C or a power cut -- sees
    the old file or the new one, never a mixture. The folder is created if missing.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    remove_stale_temporaries(path)
    temporary = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp.npz")
    try:
        with open(temporary, "wb") as f:
            (np.savez_compressed if compressed else np.savez)(f, **arrays)
            f.flush()
            os.fsync(f.fileno())         # on disk before the rename, even if the power fails
        os.replace(temporary, path)      # atomic: readers see the old file or the new one
    finally:
        if os.path.exists(temporary):    # interrupted before the rename: drop the half file
            os.remove(temporary)


def remove_stale_temporaries(path):
    """Remove the temporary files of ``path`` left by writers that were killed (SIGKILL, a
    power cut) before they could clean up: ``.<name>.<pid>.tmp.npz`` whose process is gone."""
    folder, name = os.path.split(os.path.abspath(path))
    prefix, suffix = f".{name}.", ".tmp.npz"
    for entry in os.listdir(folder):
        pid = entry[len(prefix):-len(suffix)]
        if entry.startswith(prefix) and entry.endswith(suffix) and pid.isdigit() \
                and int(pid) != os.getpid() and not _process_exists(int(pid)):
            try:
                os.remove(os.path.join(folder, entry))
            except FileNotFoundError:      # another process removed it first
                pass


def _process_exists(pid):
    """Whether process ``pid`` runs (POSIX: signal 0 tests without sending anything; elsewhere,
    where ``os.kill`` would end the process, every writer is taken to be alive)."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:           # it exists, and belongs to someone else
        return True
    return True


def load_prepared(path):
    """Read a prepared data set: ``(train_images, train_masks), (val_images, val_masks)``.

    Inputs:
        path: a ``.npz`` written by :func:`save_prepared` (or any .npz with the four arrays).
    Returns:
        (train_images, train_masks), (val_images, val_masks): arrays as stored, shapes
        (N, H, W) and (M, H, W) with one (H, W); M may be 0.
    Raises:
        ValueError naming the file: missing, not a readable .npz, an array missing (the
        message lists the ones there), arrays of the wrong shape or a non-float dtype.
    """
    op = "load_prepared"
    if not os.path.isfile(path):
        raise ValueError(f"{op}: {path}: no such file")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as error:
        raise ValueError(f"{op}: {path}: not a readable .npz file ({error})") from None
    if not hasattr(data, "files"):
        raise ValueError(f"{op}: {path}: holds a single array (.npy), not an .npz archive "
                         f"of {', '.join(PREPARED_ARRAYS)}")
    with data:
        found = list(data.files)
        missing = [name for name in PREPARED_ARRAYS if name not in found]
        if missing:
            raise ValueError(f"{op}: {path}: missing array(s) {', '.join(missing)}; expected "
                             f"{', '.join(PREPARED_ARRAYS)} (as data_scripts/prepare_*.py "
                             f"write them), found {', '.join(found) or 'none'}")
        try:
            arrays = {name: data[name] for name in PREPARED_ARRAYS}
        except (OSError, EOFError, ValueError, zipfile.BadZipFile) as error:
            raise ValueError(f"{op}: {path}: an array cannot be read ({error})") from None
    for split in ("train", "val"):
        images, masks = arrays[f"{split}_images"], arrays[f"{split}_masks"]
        if images.ndim != 3 or images.shape != masks.shape:
            raise ValueError(f"{op}: {path}: {split}_images and {split}_masks must be "
                             f"(N, H, W) arrays of one shape, got {images.shape} and "
                             f"{masks.shape}")
        if images.dtype.kind != "f" or masks.dtype.kind != "f":
            raise ValueError(f"{op}: {path}: {split}_images and {split}_masks must be float "
                             f"arrays, got {images.dtype} and {masks.dtype}")
    if arrays["train_images"].shape[1:] != arrays["val_images"].shape[1:]:
        raise ValueError(f"{op}: {path}: train and val images differ in size: "
                         f"{arrays['train_images'].shape} and {arrays['val_images'].shape}")
    return ((arrays["train_images"], arrays["train_masks"]),
            (arrays["val_images"], arrays["val_masks"]))
