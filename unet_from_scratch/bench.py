"""Benchmarks: how fast are our NumPy ops on the CPU, and how do they compare with PyTorch?

Run it from the repository root:

    python -m unet_from_scratch.bench ops
    python -m unet_from_scratch.bench ops --repeats 10 --dtype float64

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
* Everything runs on the CPU.  NumPy's matrix products use its BLAS library
  with as many threads as that library chose (set ``OMP_NUM_THREADS`` or
  ``OPENBLAS_NUM_THREADS`` before starting Python to change it); PyTorch is
  given the same number of threads when it can be found out (with
  ``threadpoolctl``), so the comparison is fair.

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
import os
import statistics
import sys
import time

import numpy as np

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


def print_configuration(batch, repeats, warmup, dtype, torch_threads, torch_threads_why):
    """Print what the numbers were measured with: versions, threads, sizes, timing method."""
    print("unet_from_scratch ops benchmark (CPU)")
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
    print(f"  cpu cores    {os.cpu_count()} (os.cpu_count())")
    print(f"  batch        {batch}")
    print(f"  dtype        {np.dtype(dtype).name}")
    print(f"  timing       median of {repeats} runs after {warmup} warm-up run(s), "
          f"time.perf_counter, in ms")
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


def positive_int(text):
    """argparse type: an int >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def non_negative_int(text):
    """argparse type: an int >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def build_parser(prog="python -m unet_from_scratch.bench"):
    """The argument parser: one subcommand per benchmark (only ``ops`` for now)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="CPU benchmarks of unet_from_scratch, compared with PyTorch when installed.")
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
    """Entry point: ``main(["ops", "--repeats", "5"])``; returns the exit status."""
    args = build_parser(prog).parse_args(argv)
    if args.command == "ops":
        return run_ops_command(args)
    raise AssertionError(f"unhandled command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())
