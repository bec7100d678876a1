"""``bench train``: one training step of the U-Net -- forward, loss, backward, Adam update --
timed for each contender, on a CPU or a GPU, by one code path.

    device   ours                                        PyTorch (when installed)
    cpu      "ours (NumPy)"                              "PyTorch (cpu)"
    cuda     "ours (CUDA kernels)", "ours (plain CuPy)"  "PyTorch (cuDNN)", when it has CUDA

Ours is :func:`unet_from_scratch.train.train_step`, the step that ``fit`` takes; on a GPU it
runs once on each of our GPU paths: the hand-written CUDA kernels
(``backend.gpu_path_set("kernels")``) and the NumPy-style code run as it is on CuPy arrays
(``gpu_path_set("cupy")``).  PyTorch's is :func:`.twin.torch_training_step` on the same
network (:func:`.twin.torch_unet`).  Every contender starts from the same weights
(``UNet(seed=0)``, copied into PyTorch's network) and takes its steps on the same batch
(:func:`make_batch`), with Adam at the same learning rate, so that the loss of the first step
is the same for all, up to rounding -- a check that they compute the same thing.

Each contender is timed in a block of its own (see :func:`.timer.time_steps`): its first step
gives the loss column, ``warmup - 1`` more are not timed, then ``repeats`` are, each through
the device's timer; then one or two more, untimed, measure its peak memory (:mod:`.memory`).
"""

import contextlib
import statistics

import numpy as np

from .. import backend, losses, optim
from ..model import UNet
from ..train import train_step
from .environment import disable_tf32, import_torch
from .memory import (free_ours_gpu_memory, free_torch_gpu_memory, ours_peak_memory,
                     torch_peak_memory)
from .timer import cupy_event_timer, perf_counter_timer, time_steps, torch_event_timer

# The (batch, size) that ``bench train`` times by default: one on the CPU; on a GPU both of
# CUDA_TRAIN_CONFIGS unless --batch or --size picks one.
CPU_TRAIN_DEFAULT = (8, 96)
CUDA_TRAIN_CONFIGS = ((32, 128), (32, 96))

# The rows' names.
CPU_LABEL = "ours (NumPy)"
GPU_PATH_LABELS = {"kernels": "ours (CUDA kernels)", "cupy": "ours (plain CuPy)"}
TORCH_LABELS = {"cpu": "PyTorch (cpu)", "cuda": "PyTorch (cuDNN)"}

# The project's goals for the training step: our time per step at most this many times
# PyTorch's (float32, TF32 off on a GPU), with ours on the CPU and on the CUDA kernels.
GOALS = {"cpu": 1.5, "cuda": 1.0}


def train_configurations(device, batch=None, size=None):
    """The ``(batch, size)`` pairs ``bench train`` times, from ``--device``, ``--batch`` and
    ``--size``.

    On the CPU one pair, 8 x 96 unless given.  On "cuda" with neither given, both of
    ``CUDA_TRAIN_CONFIGS`` (32 x 128 and 32 x 96); with either given, one pair, the other
    taken from the first of them.
    """
    if device == "cuda":
        if batch is None and size is None:
            return list(CUDA_TRAIN_CONFIGS)
        default_batch, default_size = CUDA_TRAIN_CONFIGS[0]
    else:
        default_batch, default_size = CPU_TRAIN_DEFAULT
    return [(default_batch if batch is None else batch, default_size if size is None else size)]


def ours_gpu_paths():
    """Our GPU paths to time, as ``[(label, path name)]``: "kernels" first, then "cupy"."""
    return [(GPU_PATH_LABELS.get(path, f"ours ({path})"), path)
            for path in sorted(backend.GPU_PATHS, key=lambda p: p != "kernels")]


def ours_contenders(device):
    """Our rows on ``device``, as ``[(label, GPU path or None)]``."""
    if device == "cuda":
        return ours_gpu_paths()
    return [(CPU_LABEL, None)]


def make_batch(batch, size, seed=0):
    """A batch of images and masks: two float32 NumPy arrays of shape (batch, 1, size, size).

    The images are standard normal noise; each mask is a disk of random centre and of radius
    a tenth to a quarter of ``size``, so that the loss has a foreground to find.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 1, size, size)).astype(np.float32)
    rows, cols = np.mgrid[:size, :size]
    t = np.zeros((batch, 1, size, size), np.float32)
    for image in range(batch):
        centre_row, centre_col = rng.uniform(0, size, 2)
        radius = rng.uniform(0.1, 0.25) * size
        t[image, 0] = (rows - centre_row) ** 2 + (cols - centre_col) ** 2 <= radius ** 2
    return x, t


def train_row(name, batch, first_loss, times, peak_bytes):
    """One row of the training table, as a dict; "ratio" is filled in once PyTorch has run."""
    ms = statistics.median(times)
    return {"name": name, "ms": ms, "min_ms": min(times), "max_ms": max(times),
            "images_per_s": 1000 * batch / ms, "peak_bytes": peak_bytes,
            "first_loss": first_loss, "ratio": None}


def check_train_options(op, repeats, warmup, loss):
    """Refuse counts below 1 and an unknown loss, naming the benchmark ``op``."""
    if repeats < 1 or warmup < 1:
        raise ValueError(f"{op}: repeats and warmup must be >= 1, got {repeats} and {warmup}")
    if loss not in losses.LOSSES:
        raise ValueError(f"{op}: loss must be one of {sorted(losses.LOSSES)}, got {loss!r}")


def measure(name, step, batch, device, timer, peak_memory, repeats, warmup):
    """Time one contender's ``step()`` in a block of its own; return its row.

    ``timer`` is one of :mod:`.timer`'s, ``peak_memory`` :func:`.memory.ours_peak_memory` or
    :func:`.memory.torch_peak_memory`.
    """
    first_loss = float(step())                     # float() also waits for a GPU's step to end
    times = time_steps(step, repeats, warmup - 1, timer)
    return train_row(name, batch, first_loss, times, peak_memory(step, device))


def make_ours_step(base_channels, depth, x, t, device, loss, lr):
    """Our network (``UNet(seed=0)``) and Adam on ``device``; returns a function that takes
    one training step on the batch ``x``, ``t`` and returns its loss."""
    model = UNet(base_channels=base_channels, depth=depth, padding="same", seed=0)
    model.to(device=device)
    x_here, t_here = backend.to_device(x, device), backend.to_device(t, device)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    loss_forward, loss_backward = losses.LOSSES[loss]
    return lambda: train_step(model, optimizer, loss_forward, loss_backward, x_here, t_here)


def make_torch_step(base_channels, depth, x, t, device, loss, lr):
    """PyTorch's network with our ``UNet(seed=0)``'s weights, and ``torch.optim.Adam``, on
    ``device``; returns a function that takes one training step on ``x``, ``t``."""
    import torch
    from . import twin              # imports torch: only now that a comparison runs
    torch_model = twin.torch_unet(base_channels, depth, "same")
    twin.copy_weights_to_torch(UNet(base_channels=base_channels, depth=depth, padding="same",
                                    seed=0), torch_model)
    torch_model.to(device)
    x_here, t_here = torch.from_numpy(x).to(device), torch.from_numpy(t).to(device)
    optimizer = torch.optim.Adam(torch_model.parameters(), lr=lr)
    return lambda: twin.torch_training_step(torch_model, optimizer, loss, x_here, t_here)


def run_train_benchmark(batch=None, size=None, base_channels=32, depth=4, loss="dice", lr=1e-3,
                        repeats=5, warmup=2, device="cpu", with_torch=True):
    """Time one training step of ``UNet(base_channels=..., depth=...)`` (padding "same") for each
    contender on ``device`` ("cpu" or "cuda"; the caller checks that a GPU is there).

    ``batch`` and ``size`` default to the device's first configuration
    (:func:`train_configurations`).  PyTorch takes part when it is installed and
    ``with_torch``, on a GPU only when it has CUDA.  On a GPU, TF32 is turned off first
    (:func:`.environment.disable_tf32`).

    Returns the rows, ours first (:func:`ours_contenders`), then PyTorch's: dicts with
    "name", "ms" (median time per step), "min_ms", "max_ms", "images_per_s", "peak_bytes"
    (see :mod:`.memory`; None when not measured), "first_loss" (the loss of the first step,
    from the same weights for all) and "ratio" (this row's time / PyTorch's; None without
    PyTorch).
    """
    check_train_options("run_train_benchmark", repeats, warmup, loss)
    batch, size = train_configurations(device, batch, size)[0]
    UNet(base_channels=1, depth=depth).output_size(size, size)   # a size that does not fit: here
    torch = import_torch() if with_torch else None
    if device == "cuda":
        disable_tf32(torch)         # before the first float32 product of the process
    x, t = make_batch(batch, size)

    rows = []
    for label, gpu_path in ours_contenders(device):
        switch = contextlib.nullcontext() if gpu_path is None else backend.gpu_path_set(gpu_path)
        with switch:
            step = make_ours_step(base_channels, depth, x, t, device, loss, lr)
            timer = perf_counter_timer if device == "cpu" else cupy_event_timer
            rows.append(measure(label, step, batch, device, timer, ours_peak_memory, repeats,
                                warmup))
        del step                    # our model and its caches go before the next contender
        if device == "cuda":
            free_ours_gpu_memory()

    if torch is None or (device == "cuda" and not torch.cuda.is_available()):
        return rows
    step = make_torch_step(base_channels, depth, x, t, device, loss, lr)
    timer = perf_counter_timer if device == "cpu" else torch_event_timer
    rows.append(measure(TORCH_LABELS[device], step, batch, device, timer, torch_peak_memory,
                        repeats, warmup))
    del step
    if device == "cuda":
        free_torch_gpu_memory()
    for row in rows:
        row["ratio"] = row["ms"] / rows[-1]["ms"]
    return rows
