"""The benchmarks' text: the configuration headers, the two tables and the lines under them.

Every table here is made by :func:`format_cells` from a list of ``(title, width)`` columns:
text columns to the left, numbers to the right, two spaces between columns.

    the ops table        :data:`OPS_COLUMNS`, one row per op case (``bench ops``)
    the training table   :data:`TRAIN_COLUMNS`, one row per contender, CPU and GPU alike
                         (``bench train``)
"""

import numpy as np

from .environment import format_cuda_environment, format_environment
from .memory import DESCRIPTIONS as MEMORY_DESCRIPTIONS
from .steps import CPU_LABEL, GOALS, GPU_PATH_LABELS, TORCH_LABELS, ours_gpu_paths
from .timer import DESCRIPTIONS as TIMER_DESCRIPTIONS

# The ops table: (title, width) of each column; the first two hold text.
OPS_COLUMNS = [
    ("op", 24),
    ("shape (C x H x W)", 23),
    ("ours fwd", 10),
    ("ours f+b", 10),
    ("torch fwd", 10),
    ("torch f+b", 10),
    ("f+b ours/torch", 15),
    ("fwd max|diff|", 14),
]

# The training table: (title, width) of each column; the first holds text.
TRAIN_COLUMNS = [
    ("", 20),
    ("ms/step", 9),
    ("images/s", 9),
    ("peak MiB", 9),
    ("/ PyTorch", 10),
    ("loss, step 1", 13),
]

# The width of the name in the lines of ratios under the training table.
RATIO_NAME_WIDTH = 40


def format_cells(cells, columns, text_columns=1):
    """Pad each cell to its column's width: the first ``text_columns`` to the left, numbers to
    the right."""
    return "  ".join(cell.ljust(width) if i < text_columns else cell.rjust(width)
                     for i, (cell, (_, width)) in enumerate(zip(cells, columns)))


def format_header(columns, text_columns=1):
    """A table's header line and a rule under it."""
    line = format_cells([title for title, _ in columns], columns, text_columns)
    return line + "\n" + "-" * len(line)


def format_ratio(ratio):
    """A ratio as "1.42x", or "-" when there is none."""
    return "-" if ratio is None else f"{ratio:.2f}x"


# ----------------------------------------------------------------------------- bench ops

def format_ms(value):
    """A time in milliseconds, or "-" when there is none."""
    return "-" if value is None else f"{value:.2f}"


def format_shape(shape):
    """``(n, c, h, w)`` -> "c x h x w" without the batch, which the configuration states."""
    return "x".join(str(s) for s in shape[1:])


def format_ops_header():
    """The ops table's header line and a rule under it."""
    return format_header(OPS_COLUMNS, text_columns=2)


def format_ops_row(row):
    """One row of the ops table, from a dict of :func:`.ops.run_ops_benchmark`."""
    shape = f"{format_shape(row['input_shape'])} -> {format_shape(row['output_shape'])}"
    diff = "-" if row["max_abs_diff_fwd"] is None else f"{row['max_abs_diff_fwd']:.1e}"
    return format_cells([
        row["label"], shape,
        format_ms(row["ours_fwd_ms"]), format_ms(row["ours_fwd_bwd_ms"]),
        format_ms(row["torch_fwd_ms"]), format_ms(row["torch_fwd_bwd_ms"]),
        format_ratio(row["ratio_fwd_bwd"]), diff,
    ], OPS_COLUMNS, text_columns=2)


def format_ops_configuration(info, batch, repeats, warmup, dtype):
    """The lines above the ops table: the environment (a dict of
    :func:`.environment.prepare_environment`), the sizes and the timing method."""
    return ["unet_from_scratch ops benchmark (CPU)", *format_environment(info),
            f"  batch        {batch}",
            f"  dtype        {np.dtype(dtype).name}",
            f"  timing       median of {repeats} runs after {warmup} warm-up run(s), "
            f"{TIMER_DESCRIPTIONS['cpu']}, in ms"]


# ----------------------------------------------------------------------------- bench train

def format_train_header():
    """The training table's header line and a rule under it."""
    return format_header(TRAIN_COLUMNS)


def format_train_row(row):
    """One row of the training table, from a dict of :func:`.steps.run_train_benchmark`."""
    peak = "-" if row["peak_bytes"] is None else f"{row['peak_bytes'] / 2**20:.0f}"
    return format_cells([row["name"], f"{row['ms']:.1f}", f"{row['images_per_s']:.2f}", peak,
                         format_ratio(row["ratio"]), f"{row['first_loss']:.6f}"], TRAIN_COLUMNS)


def format_train_title(batch, size):
    """The line above each training table: which batch it was measured on."""
    return f"batch {batch} x 1 x {size} x {size}"


def ours_label(device):
    """The name of our row that the goal is about: NumPy on the CPU, the kernels on a GPU."""
    return CPU_LABEL if device == "cpu" else GPU_PATH_LABELS["kernels"]


# The project's goals (steps.GOALS) in words.
GOAL_WORDS = {
    "cpu": "{ours} within {goal:g}x of PyTorch's time per step",
    "cuda": "{ours} at PyTorch's speed: at most {goal:g}x its time per step",
}


def format_goal(device):
    """The project's goal for the training step on ``device``, in words."""
    return GOAL_WORDS[device].format(ours=ours_label(device), goal=GOALS[device])


def format_train_configuration(info, configurations, base_channels, depth, parameters, loss,
                               lr, repeats, warmup):
    """The lines above the training tables: the environment (a dict of
    :func:`.environment.prepare_environment`, whose "device" says CPU or GPU), the model
    (with its number of ``parameters``), the batches of ``configurations`` ``[(batch, size)]``,
    the step, the timing and memory methods, and the goal."""
    device = info["device"]
    lines = [f"unet_from_scratch training-step benchmark ({device})", *format_environment(info)]
    if device == "cuda":
        lines += format_cuda_environment(info)
    sizes = ", ".join(f"{batch} x 1 x {size} x {size}" for batch, size in configurations)
    batches = "batches" if len(configurations) > 1 else "batch"
    lines += [
        f"  model        UNet(base_channels={base_channels}, depth={depth}, padding='same'), "
        f"{parameters:,} parameters",
        f"  {batches:<13}{sizes} float32 images, "
        f"masks of the same shape (random disks)",
        f"  step         forward, {loss} loss (as losses.LOSSES[{loss!r}], defaults), backward, "
        f"Adam (lr {lr:g})",
    ]
    if device == "cuda":
        paths = ", ".join(f"{label}: gpu_path {path!r}" for label, path in ours_gpu_paths())
        lines.append(f"  ours         {paths}")
    lines += [
        f"  timing       median of {repeats} steps after {warmup} warm-up step(s); "
        f"{TIMER_DESCRIPTIONS[device]}",
        f"  peak memory  the most one step holds on top of weights, gradients, Adam state and "
        f"batch ({MEMORY_DESCRIPTIONS[device]}), MiB",
        f"  goal         {format_goal(device)}",
    ]
    return lines


def format_ratio_lines(rows, device):
    """The lines under a training table: our time against PyTorch's, with the project's goal,
    and on a GPU plain CuPy's time against the kernels' (for information).  A ratio whose
    rows are missing is left out."""
    by_name = {row["name"]: row for row in rows}
    ours = by_name.get(ours_label(device))
    theirs = by_name.get(TORCH_LABELS[device])
    plain = by_name.get(GPU_PATH_LABELS["cupy"]) if device == "cuda" else None
    lines = []
    if ours is not None and theirs is not None:
        ratio = ours["ms"] / theirs["ms"]
        met = "met" if ratio <= GOALS[device] else "NOT met"
        name = f"{ours['name']} / PyTorch (time)"
        lines.append(f"  {name.ljust(RATIO_NAME_WIDTH)} {ratio:6.2f}x   "
                     f"goal: at most {GOALS[device]:g}x   {met}")
    if ours is not None and plain is not None:
        name = f"plain CuPy / {ours['name']} (time)"
        lines.append(f"  {name.ljust(RATIO_NAME_WIDTH)} {plain['ms'] / ours['ms']:6.2f}x")
    return lines


def format_torch_missing_note():
    """Why the PyTorch columns say "-" when PyTorch is not installed."""
    return [
        'PyTorch is not installed, so its columns say "-". It is optional: the package and this',
        "benchmark never need it. To compare against it, install it with: pip install torch",
    ]
