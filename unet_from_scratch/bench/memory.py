"""Peak memory of one training step, ours and PyTorch's, on a CPU and on a GPU.

Peak memory is the largest amount of memory a step holds *on top of* what was allocated
before it (weights, gradients and Adam's moments, which persist from step to step, and the
batch): activations, caches and temporaries.

    ours, CPU         ``tracemalloc`` (NumPy reports its arrays to it), over a second step, so
                      that the caches our layers keep from the previous step until the next
                      forward pass replaces them are counted, as they are in training; the
                      convolutions' scratch buffers, kept between steps, are freed before
                      that step (:func:`~unet_from_scratch.ops.im2col.release_scratch`) so
                      that they count too
    PyTorch, CPU      its allocator does not report to ``tracemalloc``; the allocation events
                      of ``torch.profiler`` (``profile_memory=True``), summed in time order:
                      the same quantity
    ours, GPU         how much CuPy's memory pool grows in one step, from empty
    PyTorch, GPU      ``torch.cuda.max_memory_allocated``
"""

import contextlib
import os
import sys
import tracemalloc

from ..ops.im2col import release_scratch

# What each device's measurement is, for the benchmark's header.
DESCRIPTIONS = {
    "cpu": "ours: tracemalloc; PyTorch: torch.profiler allocation events",
    "cuda": "ours: growth of CuPy's memory pool; PyTorch: max_memory_allocated",
}


def ours_peak_memory(step, device):
    """Peak bytes our ``step()`` holds on top of what was allocated before it ("cpu" or "cuda")."""
    if device == "cuda":
        cupy = sys.modules["cupy"]
        pool = cupy.get_default_memory_pool()
        cupy.cuda.Device().synchronize()
        pool.free_all_blocks()
        before = pool.total_bytes()
        step()
        cupy.cuda.Device().synchronize()
        return pool.total_bytes() - before
    tracemalloc.start()
    try:
        step()
        release_scratch()      # allocated again in the measured step, so that they count
        tracemalloc.reset_peak()
        step()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def free_ours_gpu_memory():
    """Give CuPy's pool's cached blocks back, so that the next contender starts alike."""
    sys.modules["cupy"].get_default_memory_pool().free_all_blocks()


def free_torch_gpu_memory():
    """Give PyTorch's cached GPU blocks back, so that what runs next starts alike."""
    import torch                # only called after PyTorch was timed: it is loaded already
    torch.cuda.empty_cache()


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

    The CPU figure comes from the event tree of ``torch.profiler``, which is not a stable
    API; when it cannot be read, the answer is None rather than a failure.
    """
    import torch                # only called while PyTorch is being timed: it is loaded already
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
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
