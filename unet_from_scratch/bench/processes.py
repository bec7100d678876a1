"""``bench train`` on a CPU: each contender timed in a process of its own.

Timing ours and PyTorch's in one process misleads on a small machine: NumPy's BLAS threads
and PyTorch's OpenMP threads keep spinning for a moment after each call, and whichever runs
second can find the cores still busy; what one library did to the memory allocator and the
caches is still there for the other.  So each measurement here is a fresh Python process
that builds one contender's network, takes its warm-up steps, times a block of steps and
measures its peak memory (:func:`.steps.measure`), and prints one JSON line.  The processes
alternate, ours then PyTorch's, ``runs`` pairs per configuration, and each pair gives one
ratio: the median over the pairs is the result and their smallest and largest its spread.

The configurations a CPU user runs (:data:`CPU_CONFIGURATIONS`): the network and batch of the
main job (the synthetic training run), of the ISBI 2012 run and of ``UNet()``'s defaults.
"""

import json
import os
import statistics
import subprocess
import sys
import time
from collections import namedtuple

from .report import format_cells, format_header, format_ratio
from .steps import CPU_LABEL, GOALS, TORCH_LABELS

Configuration = namedtuple("Configuration", "name base_channels depth batch size")
Configuration.__doc__ = "A network (``UNet(base_channels, depth)``, padding 'same') and its batch."

CPU_CONFIGURATIONS = (
    Configuration("the main job's", 8, 3, 8, 64),
    Configuration("the ISBI run's", 16, 4, 16, 128),
    Configuration("the default", 32, 4, 8, 96),
)

# Peak memory of a step: ours at most this many times PyTorch's.
MEMORY_GOAL = 2.0

# Under each run's times, "cpu ms": the CPU time of the process per timed step (all its
# threads), which shows threads that spin while waiting for each other: about the wall time
# times the cores that worked.  "load": the 1-minute load average when ours started.
COLUMNS_NOTE = ("cpu ms: CPU time per step of all the process's threads (spinning included); "
                "load: 1-minute load average as ours started")

METHOD = ("each contender in a process of its own (warm-up, then a block of timed steps), "
          "ours and PyTorch's processes alternating, {runs} pair(s) per configuration; "
          "ratio = median over the pairs of ours/PyTorch, spread = their smallest and largest")

RUN_COLUMNS = [("run", 3), ("ours ms", 8), ("cpu ms", 8), ("PyTorch ms", 10), ("cpu ms", 8),
               ("ratio", 6), ("ours MiB", 8), ("PyTorch MiB", 11), ("load", 5),
               ("loss ours", 9), ("PyTorch", 9)]
SUMMARY_COLUMNS = [("configuration", 66), ("ours ms", 8), ("PyTorch ms", 10), ("ratio", 6),
                   ("spread", 11), ("ours MiB", 8), ("PyTorch MiB", 11)]


def configuration_text(config):
    """``the ISBI run's: UNet(base_channels=16, depth=4), 16 x 1 x 128 x 128``."""
    return (f"{config.name}: UNet(base_channels={config.base_channels}, depth={config.depth}), "
            f"{config.batch} x 1 x {config.size} x {config.size}")


def measure_in_child(contender, config, repeats, warmup, loss, lr, threads=None):
    """Run one contender ("ours" or "torch") of ``config`` in a new Python process and return
    its row (a dict of :func:`.steps.train_row`).  ``threads``: PyTorch's CPU threads."""
    spec = {"contender": contender, "config": list(config), "repeats": repeats,
            "warmup": warmup, "loss": loss, "lr": lr, "threads": threads}
    done = subprocess.run([sys.executable, "-m", "unet_from_scratch.bench.processes",
                           json.dumps(spec)], capture_output=True, text=True)
    rows = [line[4:] for line in done.stdout.splitlines() if line.startswith("ROW ")]
    if done.returncode != 0 or not rows:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"bench: the {contender} process for {configuration_text(config)} "
                           f"failed (exit status {done.returncode}): {last}")
    return json.loads(rows[-1])


def child_main(spec):
    """In the child: take the steps ``spec`` (a dict, see :func:`measure_in_child`) asks for and
    print the row as one line "ROW <json>".  Ours never imports torch."""
    from .memory import ours_peak_memory, torch_peak_memory
    from .steps import make_batch, make_ours_step, make_torch_step, measure
    from .timer import perf_counter_timer
    config = Configuration(*spec["config"])
    x, t = make_batch(config.batch, config.size)
    if spec["contender"] == "ours":
        make_step, name, peak_memory = make_ours_step, CPU_LABEL, ours_peak_memory
    else:
        from .environment import import_torch, set_torch_threads
        set_torch_threads(import_torch(), spec["threads"])
        make_step, name, peak_memory = make_torch_step, TORCH_LABELS["cpu"], torch_peak_memory
    step = make_step(config.base_channels, config.depth, x, t, "cpu", spec["loss"], spec["lr"])
    cpu_ms = []

    def step_with_cpu_time():
        start = time.process_time()
        value = step()
        cpu_ms.append(1000 * (time.process_time() - start))
        return value

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    row = measure(name, step_with_cpu_time, config.batch, "cpu", perf_counter_timer,
                  peak_memory, spec["repeats"], spec["warmup"])
    # The timed steps are the calls after the first one and the warmup - 1 untimed ones.
    timed = cpu_ms[spec["warmup"]:spec["warmup"] + spec["repeats"]]
    row.update(cpu_ms=statistics.median(timed), load=load)
    print("ROW " + json.dumps(row), flush=True)


def run_configuration(config, runs, repeats, warmup, loss, lr, with_torch, threads=None,
                      on_run=None):
    """Time ``config`` in ``runs`` pairs of processes; return a dict: "config", "runs" (a
    list of ``(ours_row, torch_row or None, ratio or None)``), "ratio", "min_ratio",
    "max_ratio" (None without PyTorch), "ours_ms" and "torch_ms" (medians over the runs of
    each process's median), "ours_peak" and "torch_peak" (bytes, medians; None if unknown).
    ``on_run(index, run)`` is called after each pair, to print it as it comes."""
    done = []
    for index in range(runs):
        ours = measure_in_child("ours", config, repeats, warmup, loss, lr)
        theirs = (measure_in_child("torch", config, repeats, warmup, loss, lr, threads)
                  if with_torch else None)
        run = (ours, theirs, None if theirs is None else ours["ms"] / theirs["ms"])
        done.append(run)
        if on_run is not None:
            on_run(index, run)
    return summarize(config, done)


def median_or_none(values):
    values = [value for value in values if value is not None]
    return statistics.median(values) if values else None


def summarize(config, runs):
    """The dict of :func:`run_configuration` from its pairs ``runs``."""
    ratios = [ratio for _, _, ratio in runs if ratio is not None]
    theirs = [their for _, their, _ in runs if their is not None]
    return {"config": config, "runs": runs,
            "ratio": statistics.median(ratios) if ratios else None,
            "min_ratio": min(ratios) if ratios else None,
            "max_ratio": max(ratios) if ratios else None,
            "ours_ms": statistics.median(ours["ms"] for ours, _, _ in runs),
            "torch_ms": median_or_none(their["ms"] for their in theirs),
            "ours_peak": median_or_none(ours["peak_bytes"] for ours, _, _ in runs),
            "torch_peak": median_or_none(their["peak_bytes"] for their in theirs)}


def mib(value):
    return "-" if value is None else f"{value / 2**20:.0f}"


def format_run(index, run):
    """One line of a configuration's table: one pair of processes."""
    ours, theirs, ratio = run
    theirs = theirs or {}

    def number(row, key, text="{:.1f}"):
        return "-" if row.get(key) is None else text.format(row[key])

    return format_cells([
        str(index + 1), number(ours, "ms"), number(ours, "cpu_ms", "{:.0f}"),
        number(theirs, "ms"), number(theirs, "cpu_ms", "{:.0f}"), format_ratio(ratio),
        mib(ours["peak_bytes"]), mib(theirs.get("peak_bytes")), number(ours, "load"),
        number(ours, "first_loss", "{:.6f}"), number(theirs, "first_loss", "{:.6f}")],
        RUN_COLUMNS)


def format_run_header():
    return format_header(RUN_COLUMNS)


def format_spread(result):
    if result["ratio"] is None:
        return "-"
    return f"{result['min_ratio']:.2f}-{result['max_ratio']:.2f}x"


def format_verdict(result):
    """The lines under a configuration's table: the ratio with its spread against the goal,
    and the peak memory against its goal (nothing without PyTorch)."""
    if result["ratio"] is None:
        return []
    runs = len(result["runs"])
    met = "met" if result["ratio"] <= GOALS["cpu"] else "NOT met"
    lines = [f"  ours / PyTorch (time): median {result['ratio']:.2f}x over {runs} run(s), "
             f"spread {format_spread(result)}   goal: at most {GOALS['cpu']:g}x   {met}"]
    if result["ours_peak"] is not None and result["torch_peak"]:
        memory = result["ours_peak"] / result["torch_peak"]
        met = "met" if memory <= MEMORY_GOAL else "NOT met"
        lines.append(f"  ours / PyTorch (peak memory): {mib(result['ours_peak'])} / "
                     f"{mib(result['torch_peak'])} MiB = {memory:.2f}x   "
                     f"goal: at most {MEMORY_GOAL:g}x   {met}")
    return lines


def format_summary(results):
    """The table at the end: one line per configuration, medians over the runs."""
    lines = [format_header(SUMMARY_COLUMNS)]
    for result in results:
        torch_ms = result["torch_ms"]
        lines.append(format_cells([
            configuration_text(result["config"]), f"{result['ours_ms']:.1f}",
            "-" if torch_ms is None else f"{torch_ms:.1f}", format_ratio(result["ratio"]),
            format_spread(result), mib(result["ours_peak"]), mib(result["torch_peak"])],
            SUMMARY_COLUMNS))
    return lines


if __name__ == "__main__":
    child_main(json.loads(sys.argv[1]))
