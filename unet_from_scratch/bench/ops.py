"""``bench ops``: forward and forward+backward of the ops a U-Net spends its time in, at the
shapes a U-Net on 96x96 images meets (NCHW, on the CPU), ours and PyTorch's.

"fwd" is the forward pass alone; "fwd+bwd" is one forward pass followed by the backward pass
with a fixed upstream gradient ``dy`` -- what one training step costs for that op.  The
backward computes every gradient (``dx``, and ``dw``, ``db`` for the convolutions), for us
and for PyTorch alike, even for the first layer where a network would not need ``dx``.

The data are random, drawn from ``numpy.random.default_rng(0)``; the weights are scaled as in
He initialisation, so that outputs are of order 1.
"""

import statistics

import numpy as np

from ..ops import (conv2d_backward, conv2d_forward, conv_transpose2d_backward,
                   conv_transpose2d_forward, max_pool2d_backward, max_pool2d_forward)
from .environment import import_torch
from .report import format_ops_row
from .timer import perf_counter_timer, time_steps

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


def median_ms(fn, repeats, warmup):
    """The median time of ``fn()`` in ms, over ``repeats`` runs after ``warmup`` untimed ones."""
    return statistics.median(time_steps(fn, repeats, warmup, perf_counter_timer))


def benchmark_case(op, c_in, c_out, size, batch, dtype, repeats, warmup, rng, with_torch=False):
    """Time one case with our ops, and with PyTorch's when ``with_torch`` (the caller has
    checked that PyTorch is installed); return its row as a dict (see :func:`run_ops_benchmark`)."""
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
    row["ours_fwd_ms"] = median_ms(ours_fwd, repeats, warmup)
    row["ours_fwd_bwd_ms"] = median_ms(ours_fwd_bwd, repeats, warmup)
    if not with_torch:
        return row

    from . import twin              # imports torch: only now that a comparison runs
    tensors = twin.torch_inputs(inputs)
    y_t = twin.torch_forward(op, tensors)
    row["max_abs_diff_fwd"] = float(np.max(np.abs(y - y_t.detach().numpy())))
    row["torch_fwd_ms"] = median_ms(lambda: twin.torch_forward(op, tensors), repeats, warmup)
    row["torch_fwd_bwd_ms"] = median_ms(lambda: twin.torch_forward_backward(op, tensors),
                                        repeats, warmup)
    row["ratio_fwd_bwd"] = row["ours_fwd_bwd_ms"] / row["torch_fwd_bwd_ms"]
    return row


def run_ops_benchmark(batch=8, repeats=5, warmup=1, dtype="float32", with_torch=True,
                      verbose=False):
    """Benchmark every case in ``OPS_CASES``; return the rows, one dict per case.

    Each row has "op", "label", "input_shape", "output_shape", the median times
    in milliseconds "ours_fwd_ms", "ours_fwd_bwd_ms", "torch_fwd_ms",
    "torch_fwd_bwd_ms", the ratio "ratio_fwd_bwd" (ours / PyTorch) and
    "max_abs_diff_fwd"; the PyTorch entries are None when PyTorch is not installed
    (or ``with_torch`` is False).  PyTorch runs with its current number of threads
    (see :func:`.environment.set_torch_threads`).  With ``verbose`` each row is printed
    as soon as it is measured.
    """
    if repeats < 1:
        raise ValueError(f"run_ops_benchmark: repeats must be >= 1, got {repeats}")
    if warmup < 0:
        raise ValueError(f"run_ops_benchmark: warmup must be >= 0, got {warmup}")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"run_ops_benchmark: dtype must be float32 or float64, got {dtype}")
    with_torch = with_torch and import_torch() is not None
    rng = np.random.default_rng(0)
    rows = []
    for op, c_in, c_out, size in OPS_CASES:
        row = benchmark_case(op, c_in, c_out, size, batch, dtype, repeats, warmup, rng,
                             with_torch)
        rows.append(row)
        if verbose:
            print(format_ops_row(row), flush=True)
    return rows
