"""One way to time a step, on a CPU and on a GPU alike.

A *timer* is a function ``timer(step) -> (value, ms)``: it runs ``step()`` once and returns
what the step returned and how long it took, in milliseconds.  There are three:

    perf_counter_timer    on a CPU: wall-clock time, ``time.perf_counter`` before and after
    cupy_event_timer      on a GPU, for our CuPy code: two ``cupy.cuda.Event``s
    torch_event_timer     on a GPU, for PyTorch: two ``torch.cuda.Event``s

and :func:`time_steps` runs any step through any of them.

Why events on a GPU: a call into CuPy or PyTorch only *queues* work on the GPU and returns at
once, so ``perf_counter`` around it would measure Python, not the GPU.  An event is recorded
on the stream before the step is queued and one after; the time between them is the GPU's
time for the step, gaps included where Python was slower to queue work than the GPU to do it.
"""

import sys
import time

# What each device's timer is, for the benchmark's header.
DESCRIPTIONS = {
    "cpu": "time.perf_counter",
    "cuda": "each step between two CUDA events (cupy.cuda.Event for ours, torch.cuda.Event "
            "for PyTorch)",
}


def perf_counter_timer(step):
    """Run ``step()``; return its value and the wall-clock time it took, in ms."""
    start = time.perf_counter()
    value = step()
    return value, 1000 * (time.perf_counter() - start)


def cupy_event_timer(step):
    """Run ``step()`` between two CUDA events on CuPy's current stream; return its value and
    the GPU's time between the events, in ms."""
    cupy = sys.modules["cupy"]                   # imported by the backend when a GPU is in use
    start, end = cupy.cuda.Event(), cupy.cuda.Event()
    start.record()
    value = step()
    end.record()
    end.synchronize()
    return value, cupy.cuda.get_elapsed_time(start, end)


def torch_event_timer(step):
    """Run ``step()`` between two ``torch.cuda.Event``s on PyTorch's current stream; return its
    value and the GPU's time between the events, in ms."""
    import torch                # only called while PyTorch is being timed: it is loaded already
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    value = step()
    end.record()
    end.synchronize()
    return value, start.elapsed_time(end)


def time_steps(step, repeats, warmup, timer):
    """Run ``step()`` ``warmup`` times untimed, then ``repeats`` times through ``timer``;
    return the ``repeats`` times, in ms.

    The warm-up runs pay for what only the first runs pay (allocating memory, waking up
    thread pools, compiling kernels); the caller reports the median of the times, so that
    one run disturbed by the operating system does not move the result.

    Each contender is timed in a block of its own rather than alternating with another:
    NumPy's BLAS threads and PyTorch's OpenMP threads keep spinning for a moment after each
    call, and alternating them makes each steal the other's cores (PyTorch then measured
    twice as slow here).
    """
    for _ in range(warmup):
        step()
    return [timer(step)[1] for _ in range(repeats)]
