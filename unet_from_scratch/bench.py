"""Benchmarks: how fast is our NumPy U-Net on the CPU, and how does it compare with PyTorch?

Run it from the repository root:

    python -m unet_from_scratch.bench                  # = bench train: one training step
    python -m unet_from_scratch.bench train --repeats 10 --batch 4
    python -m unet_from_scratch.bench ops

``train`` (the default) times one **training step** of the U-Net -- forward,
loss (soft Dice by default), backward, Adam update -- of the default network
(``UNet()``: base 32, depth 4, padding "same", 7,759,521 parameters) on a
batch of 8 x 1 x 96 x 96 float32 images.  When PyTorch is importable, an
identical PyTorch U-Net (:func:`torch_unet`) holding the same weights takes the
same step on the same batch, with the same loss written in torch ops and
``torch.optim.Adam`` with the same learning rate, in the same run.  The table
gives the median time per step, images per second, the peak memory of one step
and the ratio ours/PyTorch, and the loss of the first step of each -- equal up
to rounding, a check that the two compute the same thing.

Peak memory is the largest amount of memory a step holds *on top of* what was
allocated before it (weights, gradients and Adam's moments when they persist,
the batch): activations, caches and temporaries.  Ours is measured with
``tracemalloc`` (NumPy reports its arrays to it) during extra, untimed steps;
it includes the caches our layers keep from the previous step until the next
forward pass replaces them.  PyTorch's CPU allocator does not report to
``tracemalloc``, so its number comes from the allocation events of
``torch.profiler`` (``profile_memory=True``) during one extra step, summed in
time order: the same quantity.  Both keep their gradients from step to step
and zero them in place.  On a GPU: PyTorch's ``max_memory_allocated``, and for
us the growth of CuPy's memory pool.

``train --device cuda`` times the same step on the GPU, by default at two batches,
32 x 1 x 128 x 128 and 32 x 1 x 96 x 96 (``--batch`` or ``--size`` picks one instead):
ours on the hand-written CUDA kernels (``backend.gpu_path_set("kernels")``), ours as
the plain NumPy-style code on CuPy arrays (``gpu_path_set("cupy")``), and PyTorch
(cuDNN) on the same GPU when it has CUDA.  TF32 is off on both sides (``CUPY_TF32=0``;
PyTorch's ``allow_tf32`` off for matrix products and cuDNN), and the header prints
these settings with the GPU, CUDA, cuDNN, CuPy and PyTorch versions.  Each step is
timed between two CUDA events, the median of ``--repeats``; the ratios ours (kernels)
/ PyTorch and plain CuPy / ours (kernels) are printed under each table next to the
issue's targets (at most 2x; at least 3x).

``ops`` times the ops the U-Net spends its time in, at the shapes a U-Net on
96x96 images meets (batch 8, NCHW):

    conv2d 3x3, padding 1       1->32 at 96x96, 32->32 at 96x96, 64->64 at 48x48, 256->512 at 12x12
    conv_transpose2d 2x2, s 2   512->256, 12x12 -> 24x24
    max_pool2d 2x2              32 channels, 96x96 -> 48x48

What the numbers mean:

* Each time is the **median** wall-clock time (``time.perf_counter``) of
  ``--repeats`` runs, after ``--warmup`` runs that are not counted (the first
  run pays for allocating memory and waking up thread pools).  Timings on a
  small shared machine move by tens of percent from run to run: compare the
  ratio over a few runs, not one number.  The median,
  not the mean, so that one run disturbed by the operating system does not
  move the result.
* "fwd" is the forward pass alone; "fwd+bwd" is one forward pass followed by
  the backward pass with a fixed upstream gradient ``dy`` -- what one training
  step costs for that op.  The backward computes every gradient (``dx``, and
  ``dw``, ``db`` for the convolutions), for us and for PyTorch alike, even for
  the first layer where a network would not need ``dx``.
* ``ops`` runs on the CPU (``train`` too, unless ``--device cuda``).  NumPy's
  matrix products use its BLAS library with as many threads as that library
  chose (set ``OMP_NUM_THREADS`` or ``OPENBLAS_NUM_THREADS`` before starting
  Python to change it); PyTorch is given the same number of threads when it
  can be found out (with ``threadpoolctl``), so the comparison is fair.

PyTorch is **optional**.  When it is installed, the same ops are timed with
``torch.nn.functional`` and autograd in the same run, the table shows the
ratio ours/PyTorch (2.0x means we take twice as long), and the last column is
the largest absolute difference between our forward output and PyTorch's --
a sanity check that the two compute the same thing (in float32 expect about
1e-6 to 1e-5, the rounding of sums of a few thousand products).
Without PyTorch those columns say "-".

The data are random, drawn from ``numpy.random.default_rng(0)``; the weights
are scaled as in He initialisation, so that outputs are of order 1.
"""

import argparse
import contextlib
import os
import platform
import statistics
import sys
import time
import tracemalloc

import numpy as np

from . import backend, losses, optim
from .cli import non_negative_int, positive_int   # the argparse types of every command
from .model import UNet
from .ops import (conv2d_backward, conv2d_forward, conv_transpose2d_backward,
                  conv_transpose2d_forward, max_pool2d_backward, max_pool2d_forward)

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    torch = None

try:
    import threadpoolctl
except ImportError:
    threadpoolctl = None


# The benchmarked cases: (op, input channels, output channels, input height = width).
OPS_CASES = [
    ("conv2d", 1, 32, 96),
    ("conv2d", 32, 32, 96),
    ("conv2d", 64, 64, 48),
    ("conv2d", 256, 512, 12),
    ("conv_transpose2d", 512, 256, 12),
    ("max_pool2d", 32, 32, 96),
]

OP_LABELS = {
    "conv2d": "conv2d 3x3 p1",
    "conv_transpose2d": "conv_transpose2d 2x2 s2",
    "max_pool2d": "max_pool2d 2x2",
}

# The table: (title, width) of each column.
COLUMNS = [
    ("op", 24),
    ("shape (C x H x W)", 23),
    ("ours fwd", 10),
    ("ours f+b", 10),
    ("torch fwd", 10),
    ("torch f+b", 10),
    ("f+b ours/torch", 15),
    ("fwd max|diff|", 14),
]


# ----------------------------------------------------------------------------- timing

def median_time(fn, repeats, warmup):
    """Call ``fn()`` ``warmup`` times untimed, then ``repeats`` times; return the median (s).

    Each contender is timed in a block of its own rather than alternating with
    the other: NumPy's BLAS threads and PyTorch's OpenMP threads keep spinning
    for a moment after each call, and alternating them makes each steal the
    other's cores (PyTorch then measured twice as slow here).
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# ----------------------------------------------------------------------------- threads

def numpy_blas_info():
    """The BLAS library behind NumPy, as ``threadpoolctl`` reports it, or None when unknown.

    Returns a dict with (at least) "internal_api" (e.g. "openblas"), "version"
    and "num_threads".  Other libraries' pools (PyTorch's OpenMP, SciPy's BLAS)
    are skipped when they can be told apart: a BLAS bundled with NumPy is preferred.
    """
    if threadpoolctl is None:
        return None
    blas_pools = [p for p in threadpoolctl.threadpool_info() if p.get("user_api") == "blas"]
    if not blas_pools:
        return None
    for pool in blas_pools:
        if "numpy" in (pool.get("filepath") or ""):     # e.g. .../numpy.libs/libscipy_openblas.so
            return pool
    return blas_pools[0]


def setup_torch_threads(threads=None):
    """Set PyTorch's CPU threads; return ``(threads, why)`` (``(None, "")`` without torch).

    ``threads`` (from ``--threads``) wins when given; otherwise PyTorch gets as
    many threads as NumPy's BLAS uses, when that is known; otherwise PyTorch
    keeps its default.
    """
    if torch is None:
        return None, ""
    blas = numpy_blas_info()
    if threads is not None:
        torch.set_num_threads(threads)
        why = "set by --threads"
    elif blas is not None:
        torch.set_num_threads(blas["num_threads"])
        why = "set to match NumPy's BLAS"
    else:
        why = "PyTorch's default; NumPy's BLAS threads unknown without threadpoolctl"
    return torch.get_num_threads(), why


# ----------------------------------------------------------------------------- data

def make_inputs(op, c_in, c_out, size, batch, dtype, rng):
    """Random inputs for one case, as NumPy arrays of ``dtype``.

    Returns a dict with "x" (batch, c_in, size, size), "w" and "b" for the
    convolutions (None for pooling; weights in PyTorch's layout), and "dy", the
    fixed upstream gradient, of the output's shape.
    """
    x = rng.standard_normal((batch, c_in, size, size)).astype(dtype)
    if op == "conv2d":
        w = rng.standard_normal((c_out, c_in, 3, 3)) * np.sqrt(2.0 / (c_in * 9))
        out_size = size
    elif op == "conv_transpose2d":
        w = rng.standard_normal((c_in, c_out, 2, 2)) * np.sqrt(2.0 / c_in)
        out_size = 2 * size
    elif op == "max_pool2d":
        w = None
        out_size = size // 2
    else:
        raise ValueError(f"make_inputs: unknown op {op!r}")
    if w is None:
        b = None
    else:
        w = w.astype(dtype)
        b = (0.1 * rng.standard_normal(c_out)).astype(dtype)
    dy = rng.standard_normal((batch, c_out, out_size, out_size)).astype(dtype)
    return {"x": x, "w": w, "b": b, "dy": dy}


# ----------------------------------------------------------------------------- the two contenders

def ours_forward(op, inputs):
    """Our forward pass for ``op``: returns ``(y, cache)``."""
    x, w, b = inputs["x"], inputs["w"], inputs["b"]
    if op == "conv2d":
        return conv2d_forward(x, w, b, stride=1, padding=1)
    if op == "conv_transpose2d":
        return conv_transpose2d_forward(x, w, b, stride=2, padding=0)
    return max_pool2d_forward(x, kernel_size=2, stride=2)


def ours_backward(op, dy, cache):
    """Our backward pass for ``op``: the gradients with respect to every input."""
    if op == "conv2d":
        return conv2d_backward(dy, cache)
    if op == "conv_transpose2d":
        return conv_transpose2d_backward(dy, cache)
    return max_pool2d_backward(dy, cache)


def torch_leaves(inputs):
    """PyTorch tensors for ``x``, ``w``, ``b`` (sharing NumPy's memory) that require gradients."""
    leaves = {}
    for name in ("x", "w", "b"):
        a = inputs[name]
        leaves[name] = None if a is None else torch.from_numpy(a).requires_grad_(True)
    return leaves


def torch_forward(op, leaves):
    """PyTorch's forward pass for ``op`` (autograd records the graph, as in training)."""
    x, w, b = leaves["x"], leaves["w"], leaves["b"]
    if op == "conv2d":
        return F.conv2d(x, w, b, stride=1, padding=1)
    if op == "conv_transpose2d":
        return F.conv_transpose2d(x, w, b, stride=2, padding=0)
    return F.max_pool2d(x, kernel_size=2, stride=2)


def torch_forward_backward(op, leaves, dy):
    """One PyTorch forward pass and its backward with upstream gradient ``dy``."""
    for leaf in leaves.values():
        if leaf is not None:
            leaf.grad = None          # start afresh, as our backward does, instead of accumulating
    y = torch_forward(op, leaves)
    y.backward(dy)


# ----------------------------------------------------------------------------- one row

def benchmark_case(op, c_in, c_out, size, batch, dtype, repeats, warmup, rng):
    """Time one case with our ops (and PyTorch's, when installed); return its row as a dict."""
    inputs = make_inputs(op, c_in, c_out, size, batch, dtype, rng)
    dy = inputs["dy"]

    def ours_fwd():
        ours_forward(op, inputs)

    def ours_fwd_bwd():
        _, cache = ours_forward(op, inputs)
        ours_backward(op, dy, cache)

    y, _ = ours_forward(op, inputs)
    row = {
        "op": op,
        "label": OP_LABELS[op],
        "input_shape": inputs["x"].shape,
        "output_shape": y.shape,
        "torch_fwd_ms": None,
        "torch_fwd_bwd_ms": None,
        "ratio_fwd_bwd": None,
        "max_abs_diff_fwd": None,
    }
    row["ours_fwd_ms"] = 1000 * median_time(ours_fwd, repeats, warmup)
    row["ours_fwd_bwd_ms"] = 1000 * median_time(ours_fwd_bwd, repeats, warmup)
    if torch is None:
        return row

    leaves = torch_leaves(inputs)
    dy_t = torch.from_numpy(dy)
    y_t = torch_forward(op, leaves)
    row["max_abs_diff_fwd"] = float(np.max(np.abs(y - y_t.detach().numpy())))
    row["torch_fwd_ms"] = 1000 * median_time(lambda: torch_forward(op, leaves), repeats, warmup)
    row["torch_fwd_bwd_ms"] = 1000 * median_time(lambda: torch_forward_backward(op, leaves, dy_t),
                                                 repeats, warmup)
    row["ratio_fwd_bwd"] = row["ours_fwd_bwd_ms"] / row["torch_fwd_bwd_ms"]
    return row


def run_ops_benchmark(batch=8, repeats=5, warmup=1, dtype="float32", verbose=False):
    """Benchmark every case in ``OPS_CASES``; return the rows, one dict per case.

    Each row has "op", "label", "input_shape", "output_shape", the median times
    in milliseconds "ours_fwd_ms", "ours_fwd_bwd_ms", "torch_fwd_ms",
    "torch_fwd_bwd_ms", the ratio "ratio_fwd_bwd" (ours / PyTorch) and
    "max_abs_diff_fwd"; the PyTorch entries are None when PyTorch is not installed.
    PyTorch runs with its current number of threads (see :func:`setup_torch_threads`).
    With ``verbose`` each row is printed as soon as it is measured.
    """
    if repeats < 1:
        raise ValueError(f"run_ops_benchmark: repeats must be >= 1, got {repeats}")
    if warmup < 0:
        raise ValueError(f"run_ops_benchmark: warmup must be >= 0, got {warmup}")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"run_ops_benchmark: dtype must be float32 or float64, got {dtype}")
    rng = np.random.default_rng(0)
    rows = []
    for op, c_in, c_out, size in OPS_CASES:
        row = benchmark_case(op, c_in, c_out, size, batch, dtype, repeats, warmup, rng)
        rows.append(row)
        if verbose:
            print(format_row(row), flush=True)
    return rows


# ----------------------------------------------------------------------------- the training step

# The PyTorch twins of losses.LOSSES, with the same defaults (smooth 1, per-image Dice,
# weights 0.5).

def torch_dice_loss(logits, targets, smooth=1.0):
    """:func:`losses.dice_loss_forward` in torch ops, ``p = sigmoid(logits)``:

        loss = 1 - mean_n (2 sum p t + s) / (sum p + sum t + s)

    the sums over each image's C, H, W."""
    groups = logits.shape[0]
    p = torch.sigmoid(logits).reshape(groups, -1)
    t = targets.reshape(groups, -1)
    dice = (2 * (p * t).sum(dim=1) + smooth) / (p.sum(dim=1) + t.sum(dim=1) + smooth)
    return 1 - dice.mean()


def torch_bce_loss(logits, targets):
    """:func:`losses.bce_with_logits_forward` in torch: the mean over all elements."""
    return F.binary_cross_entropy_with_logits(logits, targets)


def torch_dice_bce_loss(logits, targets):
    """:func:`losses.dice_bce_loss_forward` with its default weights 0.5 and 0.5."""
    return 0.5 * torch_dice_loss(logits, targets) + 0.5 * torch_bce_loss(logits, targets)


TORCH_LOSSES = {"dice": torch_dice_loss, "bce": torch_bce_loss, "dice+bce": torch_dice_bce_loss}


def torch_unet(base_channels=32, depth=4, padding="same", batch_norm=False, in_channels=1,
               out_channels=1):
    """The PyTorch module equivalent to ``UNet(...)`` with the same arguments (no dropout).

    Its modules are registered in the order of ours, so its ``state_dict()`` lists the same
    entries, shape for shape, position by position (see :func:`copy_weights_to_torch`).
    Raises RuntimeError when PyTorch is not installed.
    """
    if torch is None:
        raise RuntimeError("torch_unet: PyTorch is not installed (pip install torch)")
    tnn = torch.nn
    pad = 1 if padding == "same" else 0

    def double_conv(a, b):
        layers = []
        for c_in, c_out in ((a, b), (b, b)):
            layers.append(tnn.Conv2d(c_in, c_out, 3, padding=pad, bias=not batch_norm))
            if batch_norm:
                layers.append(tnn.BatchNorm2d(c_out))
            layers.append(tnn.ReLU())
        return tnn.Sequential(*layers)

    class TorchUNet(tnn.Module):
        def __init__(self):
            super().__init__()
            widths = [base_channels * 2 ** level for level in range(depth + 1)]
            self.encoders = tnn.ModuleList()
            self.pools = tnn.ModuleList()
            channels = in_channels
            for level in range(depth):
                self.encoders.append(double_conv(channels, widths[level]))
                self.pools.append(tnn.MaxPool2d(2))
                channels = widths[level]
            self.bottleneck = tnn.Sequential(double_conv(channels, widths[depth]))
            self.ups, self.decoders = tnn.ModuleList(), tnn.ModuleList()
            for level in reversed(range(depth)):
                self.ups.append(tnn.ConvTranspose2d(widths[level + 1], widths[level], 2, stride=2))
                self.decoders.append(double_conv(2 * widths[level], widths[level]))
            self.head = tnn.Conv2d(widths[0], out_channels, 1)

        def forward(self, x):
            skips = []
            for encoder, pool in zip(self.encoders, self.pools):
                x = encoder(x)
                skips.append(x)
                x = pool(x)
            x = self.bottleneck(x)
            for up, decoder, skip in zip(self.ups, self.decoders, reversed(skips)):
                x = up(x)
                top = (skip.shape[2] - x.shape[2]) // 2          # padding="valid": center crop
                left = (skip.shape[3] - x.shape[3]) // 2
                skip = skip[:, :, top:top + x.shape[2], left:left + x.shape[3]]
                x = decoder(torch.cat([skip, x], dim=1))
            return self.head(x)

    return TorchUNet()


def copy_weights_to_torch(model, torch_model):
    """Copy our model's ``state_dict()`` into ``torch_model``'s, position by position, in place.

    Raises ValueError when the two differ in length or in a shape.
    """
    ours = list(model.state_dict().items())
    theirs = list(torch_model.state_dict().items())
    if len(ours) != len(theirs):
        raise ValueError(f"copy_weights_to_torch: our state has {len(ours)} entries but the "
                         f"PyTorch module's has {len(theirs)}")
    with torch.no_grad():
        for (name, array), (their_name, tensor) in zip(ours, theirs):
            if tuple(array.shape) != tuple(tensor.shape):
                raise ValueError(f"copy_weights_to_torch: {name} has shape {tuple(array.shape)} "
                                 f"but PyTorch's {their_name} has shape {tuple(tensor.shape)}")
            tensor.copy_(torch.from_numpy(np.ascontiguousarray(backend.asnumpy(array))))


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


def ours_training_step(model, optimizer, loss, x, t):
    """One training step of our U-Net: zero the gradients, forward, ``loss`` (a key of
    ``losses.LOSSES``), backward, ``optimizer.step()``.  Returns the loss, a 0-d array."""
    loss_forward, loss_backward = losses.LOSSES[loss]
    optimizer.zero_grad()
    value, cache = loss_forward(model(x), t)
    dlogits, _ = loss_backward(1.0, cache)
    model.backward(dlogits)
    optimizer.step()
    return value


def torch_training_step(model, optimizer, loss, x, t):
    """The same step in PyTorch, with autograd.  Returns the loss, a 0-d tensor.

    The gradients are zeroed in place (``set_to_none=False``) as ours are, so that both
    keep them from step to step and do the same work.
    """
    optimizer.zero_grad(set_to_none=False)
    value = TORCH_LOSSES[loss](model(x), t)
    value.backward()
    optimizer.step()
    return value.detach()


def synchronize(device):
    """Wait for the GPU's queued work (CuPy's and PyTorch's); nothing to wait for on the CPU."""
    if device != "cuda":
        return
    cupy = sys.modules.get("cupy")
    if cupy is not None:
        cupy.cuda.Device().synchronize()
    if torch is not None and torch.cuda.is_available():
        torch.cuda.synchronize()


def ours_peak_memory(step, device):
    """Peak bytes our ``step()`` holds on top of what was allocated before the steps began.

    CPU: ``tracemalloc`` traces two steps and reports the peak of the second, so that the
    caches the first step's layers keep until the next forward pass count, as they do in
    training.  GPU: how much CuPy's memory pool grows in one step, from empty.
    """
    if device == "cuda":
        pool = sys.modules["cupy"].get_default_memory_pool()
        synchronize(device)
        pool.free_all_blocks()
        before = pool.total_bytes()
        step()
        synchronize(device)
        return pool.total_bytes() - before
    tracemalloc.start()
    try:
        step()
        tracemalloc.reset_peak()
        step()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@contextlib.contextmanager
def quiet_stderr():
    """Send file descriptor 2 to /dev/null for a while: PyTorch's profiler logs from C++
    (a line per start and stop, a warning about blocks allocated before it started)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def torch_peak_memory(step, device):
    """Peak bytes PyTorch's ``step()`` allocates on top of what was allocated before it, or None.

    GPU: ``torch.cuda.max_memory_allocated``.  CPU: the allocation and free events that
    ``torch.profiler`` records with ``profile_memory=True``, summed in time order.  That
    event tree is not a stable API; when it cannot be read, the answer is None.
    """
    if device == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        synchronize(device)
        return torch.cuda.max_memory_allocated() - before
    try:
        from torch.profiler import ProfilerActivity, profile
        with quiet_stderr(), profile(activities=[ProfilerActivity.CPU],
                                     profile_memory=True) as prof:
            step()
        events, sizes = list(prof.profiler.kineto_results.experimental_event_tree()), []
        while events:
            event = events.pop()
            events.extend(event.children)
            size = getattr(event.extra_fields, "alloc_size", None)
            if size is not None:
                sizes.append((event.start_time_ns, size))
    except Exception:                 # another PyTorch version: no memory figure, no failure
        return None
    live = peak = 0
    for _, size in sorted(sizes):
        live += size
        peak = max(peak, live)
    return peak


def time_steps(step, repeats, warmup, device):
    """Run ``step()`` once for its loss, ``warmup`` - 1 more times untimed, then ``repeats``
    timed times; return ``(first loss as a float, list of times in ms)``."""
    first_loss = float(step())                     # also waits for a GPU
    for _ in range(warmup - 1):
        step()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        synchronize(device)
        times.append(1000 * (time.perf_counter() - start))
    return first_loss, times


def train_row(name, batch, first_loss, times, peak_bytes):
    """One row of the training table, as a dict."""
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


def run_train_benchmark(batch=8, size=96, base_channels=32, depth=4, loss="dice", lr=1e-3,
                        repeats=5, warmup=2, device="cpu", with_torch=True, verbose=False):
    """Time one training step of ``UNet(base_channels=..., depth=...)`` (padding "same") and,
    when PyTorch is importable and ``with_torch``, of the same network in PyTorch.

    Both start from the same weights and take their steps on the same batch (float32, from
    :func:`make_batch`), with Adam at learning rate ``lr``.  ``device`` is "cpu" or "cuda"
    (the caller checks that a GPU is there).  Returns a list of one or two rows, ours first:
    dicts with "name", "ms" (median time per step), "min_ms", "max_ms", "images_per_s",
    "peak_bytes" (see :func:`ours_peak_memory`, :func:`torch_peak_memory`; None when not
    measured), "first_loss" (the loss of the first step, from the same weights for both)
    and "ratio" (our median time / this row's; None on our row).
    With ``verbose`` each row is printed as soon as it is measured.
    """
    check_train_options("run_train_benchmark", repeats, warmup, loss)
    model = UNet(base_channels=base_channels, depth=depth, padding="same", seed=0)
    model.output_size(size, size)                  # a size that does not fit fails here, clearly
    x, t = make_batch(batch, size)
    torch_model = None
    if with_torch and torch is not None:
        torch_model = torch_unet(base_channels, depth, "same")
        copy_weights_to_torch(model, torch_model)  # before any step: the same start for both

    model.to(device=device)
    x_ours, t_ours = backend.to_device(x, device), backend.to_device(t, device)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    step = lambda: ours_training_step(model, optimizer, loss, x_ours, t_ours)   # noqa: E731
    first_loss, times = time_steps(step, repeats, warmup, device)
    name = "ours (NumPy)" if device == "cpu" else "ours (CuPy)"
    rows = [train_row(name, batch, first_loss, times, ours_peak_memory(step, device))]
    if verbose:
        print(format_train_row(rows[0]), flush=True)
    if torch_model is None:
        return rows

    del model, optimizer, step, x_ours, t_ours     # free our caches before PyTorch runs
    torch_device = "cuda" if device == "cuda" and torch.cuda.is_available() else "cpu"
    if torch_device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False     # true float32 products, as CuPy's
        torch.backends.cudnn.allow_tf32 = False
    torch_model.to(torch_device)
    x_torch, t_torch = torch.from_numpy(x).to(torch_device), torch.from_numpy(t).to(torch_device)
    torch_optimizer = torch.optim.Adam(torch_model.parameters(), lr=lr)
    step = lambda: torch_training_step(torch_model, torch_optimizer, loss,   # noqa: E731
                                       x_torch, t_torch)
    first_loss, times = time_steps(step, repeats, warmup, torch_device)
    rows.append(train_row(f"PyTorch ({torch_device})", batch, first_loss, times,
                          torch_peak_memory(step, torch_device)))
    rows[1]["ratio"] = rows[0]["ms"] / rows[1]["ms"]
    if verbose:
        print(format_train_row(rows[1]), flush=True)
    return rows


# ----------------------------------------------------------------------------- training step, GPU

# ``bench train --device cuda`` without --batch and --size times both of these (batch, size).
CUDA_TRAIN_CONFIGS = ((32, 128), (32, 96))
CPU_TRAIN_DEFAULT = (8, 96)

# Our two GPU paths (backend.GPU_PATHS): the hand-written CUDA kernels, and the NumPy-style
# code run as it is on CuPy arrays.
GPU_PATH_LABELS = {"kernels": "ours (CUDA kernels)", "cupy": "ours (plain CuPy)"}
TORCH_GPU_LABEL = "PyTorch (cuDNN)"

# The targets of issue 5 for the training step on one H100 (fp32, TF32 off).
TARGET_VS_TORCH = 2.0          # ours (kernels) at most 2x PyTorch's time
TARGET_VS_PLAIN_CUPY = 3.0     # ours (kernels) at least 3x faster than plain CuPy


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
    """Our GPU paths to time, as ``[(label, path name or None)]``: "kernels" then "cupy".

    When the backend has no switch (``backend.gpu_path_set``), one row, "ours (CuPy)", runs
    whatever the ops dispatch to.
    """
    if not hasattr(backend, "gpu_path_set"):
        return [("ours (CuPy)", None)]
    return [(GPU_PATH_LABELS.get(path, f"ours ({path})"), path)
            for path in sorted(backend.GPU_PATHS, key=lambda p: p != "kernels")]


def torch_on_gpu():
    """True when PyTorch is importable and sees a CUDA device."""
    return torch is not None and torch.cuda.is_available()


def disable_tf32():
    """Turn TF32 off on both sides, so that float32 products are float32 products.

    CuPy uses TF32 for float32 matrix products only when the environment variable
    ``CUPY_TF32`` is 1 (its documented default is 0), and reads it at the first float32
    product of the process: it is set to "0" here, before any.  PyTorch: ``allow_tf32``
    off for matrix products and for cuDNN.  Returns the value ``CUPY_TF32`` had (None
    when unset), for the header.
    """
    before = os.environ.get("CUPY_TF32")
    os.environ["CUPY_TF32"] = "0"
    if torch is not None:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    return before


def cupy_float32_compute_type():
    """The compute type CuPy's float32 matrix products use, e.g. "COMPUTE_TYPE_DEFAULT"
    (TF32 would read "COMPUTE_TYPE_TF32"), or "unknown".  Reads a private CuPy module, so any
    failure gives "unknown"."""
    try:
        from cupy._core import _routines_linalg as linalg
        return str(linalg.compute_type_to_str(linalg.get_compute_type(np.float32)))
    except Exception:
        return "unknown"


def cuda_versions(version):
    """A CUDA version number as text: 12040 -> "12.4"."""
    return f"{version // 1000}.{version % 1000 // 10}"


def cuda_environment(cupy_tf32_before):
    """What the GPU numbers are measured with, as a dict (see :func:`format_cuda_environment`)."""
    cupy = sys.modules["cupy"]
    info = {"gpu": gpu_name(), "cupy": cupy.__version__, "cuda_runtime": "unknown",
            "cuda_driver": "unknown", "cupy_tf32": os.environ.get("CUPY_TF32"),
            "cupy_tf32_before": cupy_tf32_before,
            "cupy_compute_type": cupy_float32_compute_type(),
            "nvidia_tf32_override": os.environ.get("NVIDIA_TF32_OVERRIDE"),
            "torch": None if torch is None else torch.__version__,
            "torch_cuda": None, "cudnn": None, "torch_tf32_matmul": None, "torch_tf32_cudnn": None}
    try:
        info["cuda_runtime"] = cuda_versions(cupy.cuda.runtime.runtimeGetVersion())
        info["cuda_driver"] = cuda_versions(cupy.cuda.runtime.driverGetVersion())
    except Exception:
        pass
    if torch_on_gpu():
        info["torch_cuda"] = torch.version.cuda
        info["cudnn"] = str(torch.backends.cudnn.version())
        info["torch_tf32_matmul"] = torch.backends.cuda.matmul.allow_tf32
        info["torch_tf32_cudnn"] = torch.backends.cudnn.allow_tf32
    return info


def format_cuda_environment(info):
    """The GPU lines of the benchmark's header, from the dict of :func:`cuda_environment`."""
    if info["cupy_tf32_before"] in (None, "0"):
        was = "unset" if info["cupy_tf32_before"] is None else "0"
        cupy_tf32 = f"CUPY_TF32={info['cupy_tf32']} (was {was})"
    else:
        cupy_tf32 = (f"CUPY_TF32={info['cupy_tf32']} (was {info['cupy_tf32_before']!r}, "
                     f"set to 0 here)")
    override = info["nvidia_tf32_override"]
    lines = [
        f"  gpu          {info['gpu']}",
        f"  cuda         runtime {info['cuda_runtime']} (CuPy's), driver {info['cuda_driver']}",
        f"  cupy         {info['cupy']}",
        f"  TF32 cupy    {cupy_tf32}, float32 products: {info['cupy_compute_type']}; "
        f"NVIDIA_TF32_OVERRIDE={'unset' if override is None else override}",
    ]
    if info["torch_cuda"] is None:
        on_gpu = ("not installed" if info["torch"] is None
                  else f"{info['torch']}, no CUDA: not timed")
        lines.append(f"  torch gpu    {on_gpu}")
    else:
        lines.append(f"  torch gpu    {info['torch']}, CUDA {info['torch_cuda']}, "
                     f"cuDNN {info['cudnn']}")
        lines.append(f"  TF32 torch   torch.backends.cuda.matmul.allow_tf32="
                     f"{info['torch_tf32_matmul']}, "
                     f"torch.backends.cudnn.allow_tf32={info['torch_tf32_cudnn']}")
    return lines


def cupy_event_timer(step):
    """Run ``step()`` between two CUDA events on CuPy's current stream; return its loss and ms."""
    cupy = sys.modules["cupy"]
    start, end = cupy.cuda.Event(), cupy.cuda.Event()
    start.record()
    value = step()
    end.record()
    end.synchronize()
    return value, cupy.cuda.get_elapsed_time(start, end)


def torch_event_timer(step):
    """Run ``step()`` between two ``torch.cuda.Event``s on PyTorch's current stream; return its
    loss and ms."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    value = step()
    end.record()
    end.synchronize()
    return value, start.elapsed_time(end)


def time_gpu_steps(step, repeats, warmup, timer):
    """Run ``step()`` once for its loss, ``warmup`` - 1 more times untimed, then ``repeats``
    times each between two CUDA events (``timer``); return ``(first loss, times in ms)``.

    An event is recorded on the stream before the step is queued and one after; the time
    between them is the GPU's time for the step, gaps included where Python was slower to
    queue work than the GPU to do it.
    """
    first_loss = float(step())                     # float() waits for the GPU
    for _ in range(warmup - 1):
        step()
    times = [timer(step)[1] for _ in range(repeats)]
    return first_loss, times


def free_gpu_memory():
    """Give the memory pools' cached blocks back, so that the next contender starts alike."""
    sys.modules["cupy"].get_default_memory_pool().free_all_blocks()
    if torch_on_gpu():
        torch.cuda.empty_cache()


def run_cuda_train_benchmark(batch=32, size=128, base_channels=32, depth=4, loss="dice", lr=1e-3,
                             repeats=5, warmup=2, with_torch=True, verbose=False):
    """Time one training step of ``UNet(base_channels=..., depth=...)`` on the GPU: ours on each
    of our GPU paths (:func:`ours_gpu_paths`), and PyTorch's (cuDNN) when it has CUDA.

    The caller checks that a GPU is there and calls :func:`disable_tf32` first.  Every
    contender starts from the same weights and takes its steps on the same batch.  Returns
    the rows (dicts as from :func:`train_row`, "ratio" = this row's time / PyTorch's, None
    without PyTorch), ours first, in the order of :func:`ours_gpu_paths`.
    """
    check_train_options("run_cuda_train_benchmark", repeats, warmup, loss)
    x, t = make_batch(batch, size)
    rows = []
    for label, path in ours_gpu_paths():
        switch = contextlib.nullcontext() if path is None else backend.gpu_path_set(path)
        with switch:
            model = UNet(base_channels=base_channels, depth=depth, padding="same", seed=0)
            model.to(device="cuda")
            x_gpu, t_gpu = backend.to_device(x, "cuda"), backend.to_device(t, "cuda")
            optimizer = optim.Adam(model.parameters(), lr=lr)
            step = lambda: ours_training_step(model, optimizer, loss, x_gpu, t_gpu)  # noqa: E731
            first_loss, times = time_gpu_steps(step, repeats, warmup, cupy_event_timer)
            rows.append(train_row(label, batch, first_loss, times, ours_peak_memory(step, "cuda")))
        del model, optimizer, step, x_gpu, t_gpu
        free_gpu_memory()
        if verbose:
            print(format_cuda_train_row(rows[-1]), flush=True)

    if with_torch and torch_on_gpu():
        torch_model = torch_unet(base_channels, depth, "same")
        copy_weights_to_torch(UNet(base_channels=base_channels, depth=depth, padding="same",
                                   seed=0), torch_model)
        torch_model.to("cuda")
        x_torch, t_torch = torch.from_numpy(x).to("cuda"), torch.from_numpy(t).to("cuda")
        torch_optimizer = torch.optim.Adam(torch_model.parameters(), lr=lr)
        step = lambda: torch_training_step(torch_model, torch_optimizer, loss,  # noqa: E731
                                           x_torch, t_torch)
        first_loss, times = time_gpu_steps(step, repeats, warmup, torch_event_timer)
        rows.append(train_row(TORCH_GPU_LABEL, batch, first_loss, times,
                              torch_peak_memory(step, "cuda")))
        del torch_model, torch_optimizer, step, x_torch, t_torch
        free_gpu_memory()
        for row in rows:
            row["ratio"] = row["ms"] / rows[-1]["ms"]
        if verbose:
            print(format_cuda_train_row(rows[-1]), flush=True)
    return rows


def format_cuda_ratios(rows):
    """The lines that hold our kernel path against PyTorch and against plain CuPy, with the
    issue's targets; a ratio whose rows are missing is left out."""
    by_name = {row["name"]: row for row in rows}
    kernels = by_name.get(GPU_PATH_LABELS["kernels"])
    plain = by_name.get(GPU_PATH_LABELS["cupy"])
    theirs = by_name.get(TORCH_GPU_LABEL)
    lines = []
    if kernels is not None and theirs is not None:
        ratio = kernels["ms"] / theirs["ms"]
        met = "met" if ratio <= TARGET_VS_TORCH else "NOT met"
        lines.append(f"  ours (CUDA kernels) / PyTorch (time)     {ratio:6.2f}x   "
                     f"target: at most {TARGET_VS_TORCH:g}x   {met}")
    if kernels is not None and plain is not None:
        ratio = plain["ms"] / kernels["ms"]
        met = "met" if ratio >= TARGET_VS_PLAIN_CUPY else "NOT met"
        lines.append(f"  plain CuPy / ours (CUDA kernels) (time)  {ratio:6.2f}x   "
                     f"target: at least {TARGET_VS_PLAIN_CUPY:g}x  {met}")
    return lines


# ----------------------------------------------------------------------------- printing

def plural(count, noun):
    """``plural(1, "thread")`` -> "1 thread"; ``plural(2, "thread")`` -> "2 threads"."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def format_ms(value):
    """A time in milliseconds, or "-" when there is none."""
    return "-" if value is None else f"{value:.2f}"


def format_shape(shape):
    """``(n, c, h, w)`` -> "c x h x w" without the batch, which the configuration states."""
    return "x".join(str(s) for s in shape[1:])


def format_cells(cells):
    """Pad each cell to its column's width: text columns to the left, numbers to the right."""
    parts = []
    for i, (cell, (_, width)) in enumerate(zip(cells, COLUMNS)):
        parts.append(cell.ljust(width) if i < 2 else cell.rjust(width))
    return "  ".join(parts)


def format_header():
    """The table's header line and a rule under it."""
    line = format_cells([title for title, _ in COLUMNS])
    return line + "\n" + "-" * len(line)


def format_row(row):
    """One row of the table as text."""
    shape = f"{format_shape(row['input_shape'])} -> {format_shape(row['output_shape'])}"
    ratio = "-" if row["ratio_fwd_bwd"] is None else f"{row['ratio_fwd_bwd']:.2f}x"
    diff = "-" if row["max_abs_diff_fwd"] is None else f"{row['max_abs_diff_fwd']:.1e}"
    return format_cells([
        row["label"], shape,
        format_ms(row["ours_fwd_ms"]), format_ms(row["ours_fwd_bwd_ms"]),
        format_ms(row["torch_fwd_ms"]), format_ms(row["torch_fwd_bwd_ms"]),
        ratio, diff,
    ])


def cpu_name():
    """The processor's model name (from /proc/cpuinfo on Linux), or what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def print_environment(title, torch_threads, torch_threads_why):
    """Print the title and what every benchmark runs with: versions, BLAS, threads, machine."""
    print(title)
    print(f"  python       {sys.version.split()[0]}")
    print(f"  numpy        {np.__version__}")
    blas = numpy_blas_info()
    if blas is not None:
        name = blas.get("internal_api", "?")
        version = blas.get("version") or ""
        arch = f", {blas['architecture']}" if blas.get("architecture") else ""
        print(f"  numpy BLAS   {name} {version}{arch}, {plural(blas['num_threads'], 'thread')}")
    if torch is None:
        print("  torch        not installed")
    else:
        threads = plural(torch_threads, "thread")
        print(f"  torch        {torch.__version__}, {threads} ({torch_threads_why})")
    print(f"  machine      {cpu_name()}, {platform.machine()}, {platform.system()}")
    print(f"  cpu cores    {os.cpu_count()} (os.cpu_count())")


def print_configuration(batch, repeats, warmup, dtype, torch_threads, torch_threads_why):
    """Print what the op numbers were measured with: versions, threads, sizes, timing method."""
    print_environment("unet_from_scratch ops benchmark (CPU)", torch_threads, torch_threads_why)
    print(f"  batch        {batch}")
    print(f"  dtype        {np.dtype(dtype).name}")
    print(f"  timing       median of {repeats} runs after {warmup} warm-up run(s), "
          f"time.perf_counter, in ms")
    print(flush=True)


def gpu_name():
    """The name of CuPy's current GPU, or "unknown"."""
    try:
        cupy = sys.modules["cupy"]
        name = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"]
        return name.decode() if isinstance(name, bytes) else str(name)
    except Exception:
        return "unknown"


def print_train_configuration(args, torch_threads, torch_threads_why):
    """Print what the training-step numbers were measured with (on the CPU; on a GPU see
    :func:`print_cuda_train_configuration`)."""
    print_environment(f"unet_from_scratch training-step benchmark ({args.device})",
                      torch_threads, torch_threads_why)
    model = UNet(base_channels=args.base_channels, depth=args.depth, padding="same")
    print(f"  model        UNet(base_channels={args.base_channels}, depth={args.depth}, "
          f"padding='same'), {model.num_parameters():,} parameters")
    print(f"  batch        {args.batch} x 1 x {args.size} x {args.size} float32 images, masks of "
          f"the same shape (random disks)")
    print(f"  step         forward, {args.loss} loss (as losses.LOSSES[{args.loss!r}], defaults), "
          f"backward, Adam (lr {args.lr:g})")
    print(f"  timing       median of {args.repeats} steps after {args.warmup} warm-up step(s), "
          f"time.perf_counter{', synchronised' if args.device == 'cuda' else ''}")
    if args.device == "cuda":
        memory = "ours: growth of CuPy's memory pool; PyTorch: max_memory_allocated"
    else:
        memory = "ours: tracemalloc; PyTorch: torch.profiler allocation events"
    print(f"  peak memory  the most one step holds on top of weights, gradients, Adam state and "
          f"batch ({memory}), MiB")
    print(flush=True)


# The training table: (title, width) of each column.
TRAIN_COLUMNS = [
    ("", 14),
    ("ms/step", 9),
    ("images/s", 9),
    ("peak MiB", 9),
    ("ours/torch", 11),
    ("loss, step 1", 13),
]


def format_train_cells(cells, columns=TRAIN_COLUMNS):
    """Pad each cell to its column's width: the name to the left, numbers to the right."""
    return "  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                     for i, (cell, (_, width)) in enumerate(zip(cells, columns)))


def format_train_header():
    """The training table's header line and a rule under it."""
    line = format_train_cells([title for title, _ in TRAIN_COLUMNS])
    return line + "\n" + "-" * len(line)


def format_train_row(row):
    """One row of the training table as text."""
    peak = "-" if row["peak_bytes"] is None else f"{row['peak_bytes'] / 2**20:.0f}"
    ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}x"
    return format_train_cells([row["name"], f"{row['ms']:.1f}", f"{row['images_per_s']:.2f}",
                               peak, ratio, f"{row['first_loss']:.6f}"])


# The GPU training table: (title, width) of each column.
CUDA_TRAIN_COLUMNS = [
    ("", 20),
    ("ms/step", 9),
    ("images/s", 9),
    ("peak MiB", 9),
    ("/ PyTorch", 10),
    ("loss, step 1", 13),
]


def format_cuda_train_header():
    """The GPU training table's header line and a rule under it."""
    line = format_train_cells([title for title, _ in CUDA_TRAIN_COLUMNS], CUDA_TRAIN_COLUMNS)
    return line + "\n" + "-" * len(line)


def format_cuda_train_row(row):
    """One row of the GPU training table as text."""
    peak = "-" if row["peak_bytes"] is None else f"{row['peak_bytes'] / 2**20:.0f}"
    ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}x"
    return format_train_cells([row["name"], f"{row['ms']:.1f}", f"{row['images_per_s']:.1f}",
                               peak, ratio, f"{row['first_loss']:.6f}"], CUDA_TRAIN_COLUMNS)


def print_cuda_train_configuration(args, configurations, info, torch_threads, torch_threads_why):
    """Print what the GPU training-step numbers are measured with, before any of them."""
    print_environment("unet_from_scratch training-step benchmark (cuda)",
                      torch_threads, torch_threads_why)
    for line in format_cuda_environment(info):
        print(line)
    model = UNet(base_channels=args.base_channels, depth=args.depth, padding="same")
    print(f"  model        UNet(base_channels={args.base_channels}, depth={args.depth}, "
          f"padding='same'), {model.num_parameters():,} parameters")
    sizes = ", ".join(f"{batch} x 1 x {size} x {size}" for batch, size in configurations)
    print(f"  batches      {sizes} float32 images, masks of the same shape (random disks)")
    print(f"  step         forward, {args.loss} loss (as losses.LOSSES[{args.loss!r}], defaults), "
          f"backward, Adam (lr {args.lr:g})")
    paths = ours_gpu_paths()
    if paths[0][1] is None:
        print("  ours         one row: this backend has no gpu_path_set switch")
    else:
        print(f"  ours         {', '.join(f'{label}: gpu_path {path!r}' for label, path in paths)}")
    print(f"  timing       median of {args.repeats} steps after {args.warmup} warm-up step(s); "
          f"each step between two CUDA events (cupy.cuda.Event for ours, torch.cuda.Event for "
          f"PyTorch)")
    print("  peak memory  the most one step holds on top of weights, gradients, Adam state and "
          "batch (ours: growth of CuPy's memory pool; PyTorch: max_memory_allocated), MiB")
    print(f"  targets      (issue 5, one H100) ours (CUDA kernels) within {TARGET_VS_TORCH:g}x of "
          f"PyTorch's time; at least {TARGET_VS_PLAIN_CUPY:g}x faster than plain CuPy")
    print(flush=True)


def print_torch_missing_note():
    """Explain the "-" columns when PyTorch is not installed."""
    print()
    print('PyTorch is not installed, so its columns say "-". It is optional: the package and this')
    print("benchmark never need it. To compare against it, install it with: pip install torch")


# ----------------------------------------------------------------------------- command line

def run_ops_command(args):
    """``bench ops``: configure threads, print the configuration, then the table row by row."""
    torch_threads, why = setup_torch_threads(args.threads)
    print_configuration(args.batch, args.repeats, args.warmup, args.dtype, torch_threads, why)
    print(format_header(), flush=True)
    run_ops_benchmark(batch=args.batch, repeats=args.repeats, warmup=args.warmup,
                      dtype=args.dtype, verbose=True)
    if torch is None:
        print_torch_missing_note()
    return 0


def run_train_command(args):
    """``bench train``: check the device and sizes, print the configuration, then the table."""
    if args.device == "cuda" and not backend.gpu_available():
        print("bench: --device cuda needs a usable GPU with CuPy, and gpu_available() is False "
              "(is CuPy installed, e.g. pip install -e '.[cuda12]', and is a driver present?)",
              file=sys.stderr)
        return 2
    configurations = train_configurations(args.device, args.batch, args.size)
    for _, size in configurations:
        try:
            UNet(base_channels=1, depth=args.depth).output_size(size, size)
        except ValueError as error:
            print(f"bench: --size {size} does not fit: {error}", file=sys.stderr)
            return 2
    if args.device == "cuda":
        return run_cuda_train_command(args, configurations)
    (args.batch, args.size), = configurations
    torch_threads, why = setup_torch_threads(args.threads)
    print_train_configuration(args, torch_threads, why)
    print(format_train_header(), flush=True)
    run_train_benchmark(batch=args.batch, size=args.size, base_channels=args.base_channels,
                        depth=args.depth, loss=args.loss, lr=args.lr, repeats=args.repeats,
                        warmup=args.warmup, device=args.device, verbose=True)
    if torch is None:
        print_torch_missing_note()
    return 0


def run_cuda_train_command(args, configurations):
    """``bench train --device cuda``: TF32 off, the configuration, then a table and the ratios
    against the targets for each ``(batch, size)`` of ``configurations``."""
    cupy_tf32_before = disable_tf32()
    torch_threads, why = setup_torch_threads(args.threads)
    print_cuda_train_configuration(args, configurations, cuda_environment(cupy_tf32_before),
                                   torch_threads, why)
    for batch, size in configurations:
        print(f"batch {batch} x 1 x {size} x {size}")
        print(format_cuda_train_header(), flush=True)
        rows = run_cuda_train_benchmark(batch=batch, size=size, base_channels=args.base_channels,
                                        depth=args.depth, loss=args.loss, lr=args.lr,
                                        repeats=args.repeats, warmup=args.warmup, verbose=True)
        for line in format_cuda_ratios(rows):
            print(line)
        print(flush=True)
    # What CuPy's products really used, now that they have run (TF32 would say so here).
    print(f"CuPy float32 products ran with {cupy_float32_compute_type()}")
    if not torch_on_gpu():
        print("PyTorch with CUDA is not importable here, so it was not timed and the ratio to it "
              "is left out.")
    return 0


COMMANDS = ("train", "ops")


def build_parser(prog="python -m unet_from_scratch.bench"):
    """The argument parser: one subcommand per benchmark, ``train`` and ``ops``."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Benchmarks of unet_from_scratch, compared with PyTorch when installed. "
                    "Without a command (or with options only), runs 'train'.")
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = subcommands.add_parser(
        "train", help="time one training step of the U-Net (the default)",
        description="Time one training step (forward, loss, backward, Adam) of the U-Net, and of "
                    "the same network in PyTorch when installed (median after warm-up).")
    train.add_argument("--batch", type=positive_int, default=None,
                       help="batch size (default 8; with --device cuda, 32)")
    train.add_argument("--size", type=positive_int, default=None,
                       help="image height and width (default 96; with --device cuda and neither "
                            "--batch nor --size, both 128 and 96)")
    train.add_argument("--base-channels", type=positive_int, default=32,
                       help="channels of the first level (default 32)")
    train.add_argument("--depth", type=positive_int, default=4,
                       help="number of poolings (default 4)")
    train.add_argument("--loss", choices=sorted(losses.LOSSES), default="dice",
                       help="loss, with its defaults (default dice)")
    train.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate (default 1e-3)")
    train.add_argument("--repeats", type=positive_int, default=5,
                       help="timed steps; the median is reported (default 5)")
    train.add_argument("--warmup", type=positive_int, default=2,
                       help="untimed steps before the timed ones; the first gives the loss "
                            "column (default 2)")
    train.add_argument("--threads", type=positive_int, default=None,
                       help="threads for PyTorch (default: as many as NumPy's BLAS uses, if "
                            "known); NumPy's BLAS keeps its own setting")
    train.add_argument("--device", choices=list(backend.DEVICES), default="cpu",
                       help="cpu (NumPy) or cuda (CuPy, and PyTorch on the GPU when it can) "
                            "(default cpu)")

    ops = subcommands.add_parser(
        "ops", help="time forward and forward+backward of the ops at U-Net shapes",
        description="Time forward and forward+backward of conv2d, conv_transpose2d and max_pool2d "
                    "at U-Net shapes (median after warm-up, CPU).")
    ops.add_argument("--batch", type=positive_int, default=8, help="batch size (default 8)")
    ops.add_argument("--repeats", type=positive_int, default=5,
                     help="timed runs per measurement; the median is reported (default 5)")
    ops.add_argument("--warmup", type=non_negative_int, default=1,
                     help="untimed runs before the timed ones (default 1)")
    ops.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                     help="floating-point type of the data (default float32)")
    ops.add_argument("--threads", type=positive_int, default=None,
                     help="threads for PyTorch (default: as many as NumPy's BLAS uses, if known); "
                          "NumPy's BLAS keeps its own setting")
    return parser


def main(argv=None, prog="python -m unet_from_scratch.bench"):
    """Entry point: ``main(["ops", "--repeats", "5"])``; returns the exit status.

    No command, or options only (``main(["--repeats", "3"])``), means ``train``.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv.insert(0, "train")
    args = build_parser(prog).parse_args(argv)
    if args.command == "train":
        return run_train_command(args)
    if args.command == "ops":
        return run_ops_command(args)
    raise AssertionError(f"unhandled command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())
