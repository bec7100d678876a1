"""Checkpoints: save and load a model with its optimizer state and what its run was.

Checkpoints are ``.npz`` files, read with ``allow_pickle=False``:

    model/<dotted name>      the state dict (parameters and buffers)
    optimizer/<key>          the optimizer's state (see ``optim``)
    config                   JSON: the model's constructor arguments, so a checkpoint
                             alone rebuilds the model
    meta                     JSON: epoch, history, loss, optimizer name and settings,
                             the input size and input scaling (see ``prediction``)

They are written to a temporary file in the same folder and renamed over the old
one, so an interrupted run never leaves a half-written checkpoint.  No checkpoint with a
NaN or an infinity is ever written, and none is loaded: a diverged model predicts
nothing useful, silently.
"""

import json
import os
import zipfile

import numpy as np

from .backend import asnumpy
from .checks import check_all_finite
from .data.npz import write_npz_atomically
from .model import UNet

ZIP_MAGIC = b"PK"


def save_checkpoint(path, model, optimizer, meta):
    """Write model, optimizer and ``meta`` (a JSON-serialisable dict) to ``path`` atomically
    (temporary file, then rename).  Refuses non-finite weights or optimizer state, leaving
    any earlier file at ``path`` as it was."""
    arrays = {f"model/{k}": asnumpy(v) for k, v in model.state_dict().items()}
    optimizer_state = optimizer.state_dict() if optimizer is not None else {}
    arrays.update({f"optimizer/{k}": np.asarray(asnumpy(v)) for k, v in optimizer_state.items()})
    check_all_finite("save_checkpoint", f"refusing to write {path}:", arrays)
    scaling = getattr(model, "input_scaling", None)
    if scaling is not None and "input_scaling" not in meta:
        meta = {**meta, "input_scaling": scaling}
    arrays["config"] = np.array(json.dumps(model.config))
    arrays["meta"] = np.array(json.dumps(meta))
    write_npz_atomically(path, arrays)


def load_checkpoint(path, device="cpu"):
    """Rebuild the model of a checkpoint; return ``(model, optimizer_state, meta)``.

    The model carries the checkpoint's ``meta["input_scaling"]`` (if any) as
    ``model.input_scaling``, which ``predict`` applies.  Refuses, with a ValueError naming
    the file: a missing file or a folder, a file that is not a checkpoint, a config or
    meta that is not a JSON object, and weights with NaN or infinities."""
    op = "load_checkpoint"
    _check_is_checkpoint_file(op, path)
    try:
        with np.load(path, allow_pickle=False) as data:
            config = json.loads(str(data["config"]))
            meta = json.loads(str(data["meta"]))
            state = {k[len("model/"):]: data[k] for k in data.files if k.startswith("model/")}
            optimizer_state = {k[len("optimizer/"):]: data[k] for k in data.files
                               if k.startswith("optimizer/")}
    except (OSError, EOFError, KeyError, ValueError, TypeError, AttributeError,
            zipfile.BadZipFile) as error:
        raise ValueError(f"{op}: {path} is not a readable unet_from_scratch checkpoint "
                         f"({error})") from None
    for name, value in (("config", config), ("meta", meta)):
        if not isinstance(value, dict):
            raise ValueError(f"{op}: {path}: its {name} must be a JSON object, got "
                             f"{type(value).__name__}; not a unet_from_scratch checkpoint")
    check_all_finite(op, f"{path} holds a diverged model:", {**state, **optimizer_state})
    try:
        model = UNet(**config)
        model.load_state_dict(state)
    except (TypeError, KeyError, ValueError) as error:
        raise ValueError(f"{op}: {path} does not hold the UNet its config describes "
                         f"({error})") from None
    model.input_scaling = meta.get("input_scaling")
    return model.to(device=device), optimizer_state, meta


def _check_is_checkpoint_file(op, path):
    """A file that exists and starts like an .npz (a zip archive)."""
    if os.path.isdir(path):
        raise ValueError(f"{op}: {path}: is a folder, not a checkpoint file")
    if not os.path.isfile(path):
        raise ValueError(f"{op}: {path}: no such file")
    with open(path, "rb") as f:
        start = f.read(len(ZIP_MAGIC))
    if start != ZIP_MAGIC:
        raise ValueError(f"{op}: {path} is not a readable unet_from_scratch checkpoint (not an "
                         f".npz archive; a checkpoint is written by 'unet-scratch train' or "
                         f"save_checkpoint)")
