"""What a benchmark runs with: versions, threads, processor, GPU, TF32 -- set once, then described.

Numbers without their machine mean nothing, so every benchmark prints these lines above its
table.  :func:`prepare_environment` is called once per run, before anything is timed: on a GPU
it turns TF32 off (:func:`disable_tf32`, the one place that touches those switches), it gives
PyTorch its CPU threads (:func:`set_torch_threads`), and it returns a dict that
:func:`format_environment` and :func:`format_cuda_environment` turn into the header's lines.

PyTorch is never imported here at module level: the functions that need it take the torch
module as an argument (None when PyTorch is not installed), from :func:`import_torch`.
"""

import importlib.util
import os
import platform
import sys

import numpy as np

try:
    import threadpoolctl
except ImportError:                   # optional: without it NumPy's BLAS threads are unknown
    threadpoolctl = None


def import_torch():
    """The torch module when PyTorch is installed, else None.

    Called only when a comparison with PyTorch is about to run: the package never needs
    PyTorch, and importing it takes seconds, so a run without it must not pay for it.
    """
    if importlib.util.find_spec("torch") is None:
        return None
    try:
        import torch
    except ImportError:             # installed but broken (a missing shared library): no comparison
        return None
    return torch


# ----------------------------------------------------------------------------- threads

def numpy_blas_info():
    """The BLAS library behind NumPy, as ``threadpoolctl`` reports it, or None when unknown.

    Returns a dict with (at least) "internal_api" (e.g. "openblas"), "version"
    and "num_threads".  Other libraries' pools (PyTorch's OpenMP, SciPy's BLAS)
    are skipped when they can be told apart: a BLAS bundled with NumPy is preferred.
    """
    if threadpoolctl is None:
        return _openblas_info()
    blas_pools = [p for p in threadpoolctl.threadpool_info() if p.get("user_api") == "blas"]
    if not blas_pools:
        return _openblas_info()
    for pool in blas_pools:
        if "numpy" in (pool.get("filepath") or ""):     # e.g. .../numpy.libs/libscipy_openblas.so
            return pool
    return blas_pools[0]


def _openblas_info():
    """Without threadpoolctl: the OpenBLAS that the convolutions control themselves
    (:data:`unet_from_scratch.ops.threads.BLAS_CONTROL`), or None."""
    from ..ops import threads
    if threads.BLAS_CONTROL is None:
        return None
    return {"internal_api": "openblas", "version": "", "num_threads": threads.BLAS_CONTROL.get()}


def set_torch_threads(torch, threads=None):
    """Set PyTorch's CPU threads; return ``(threads, why)`` (``(None, "")`` when ``torch`` is None).

    ``threads`` (from ``--threads``) wins when given; otherwise PyTorch gets as many threads
    as NumPy's BLAS uses, when that is known, so that the comparison is fair; otherwise
    PyTorch keeps its default.
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
        why = "PyTorch's default; NumPy's BLAS threads unknown"
    return torch.get_num_threads(), why


# ----------------------------------------------------------------------------- the GPU

def disable_tf32(torch=None):
    """Turn TF32 off on both sides, so that float32 products are float32 products.

    CuPy uses TF32 for float32 matrix products only when the environment variable
    ``CUPY_TF32`` is 1 (its documented default is 0), and reads it at the first float32
    product of the process: it is set to "0" here, before any.  PyTorch (``torch``, the
    module, when it takes part): ``allow_tf32`` off for matrix products and for cuDNN.
    Returns the value ``CUPY_TF32`` had (None when unset), for the header.
    """
    before = os.environ.get("CUPY_TF32")
    os.environ["CUPY_TF32"] = "0"
    if torch is not None:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    return before


def gpu_name():
    """The name of CuPy's current GPU, or "unknown"."""
    try:
        cupy = sys.modules["cupy"]
        name = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"]
        return name.decode() if isinstance(name, bytes) else str(name)
    except Exception:
        return "unknown"


def cupy_float32_compute_type():
    """The compute type CuPy's float32 matrix products use, e.g. "COMPUTE_TYPE_DEFAULT"
    (TF32 would read "COMPUTE_TYPE_TF32"), or "unknown".  Reads a private CuPy module, so any
    failure gives "unknown"."""
    try:
        from cupy._core import _routines_linalg as linalg
        return str(linalg.compute_type_to_str(linalg.get_compute_type(np.float32)))
    except Exception:
        return "unknown"


def cuda_version_text(version):
    """A CUDA version number as text: 12040 -> "12.4"."""
    return f"{version // 1000}.{version % 1000 // 10}"


def cuda_environment(cupy_tf32_before, torch=None):
    """The GPU half of :func:`prepare_environment`'s dict (see :func:`format_cuda_environment`)."""
    cupy = sys.modules["cupy"]
    info = {"gpu": gpu_name(), "cupy": cupy.__version__, "cuda_runtime": "unknown",
            "cuda_driver": "unknown", "cupy_tf32": os.environ.get("CUPY_TF32"),
            "cupy_tf32_before": cupy_tf32_before,
            "cupy_compute_type": cupy_float32_compute_type(),
            "nvidia_tf32_override": os.environ.get("NVIDIA_TF32_OVERRIDE"),
            "torch_cuda": None, "cudnn": None, "torch_tf32_matmul": None, "torch_tf32_cudnn": None}
    try:
        info["cuda_runtime"] = cuda_version_text(cupy.cuda.runtime.runtimeGetVersion())
        info["cuda_driver"] = cuda_version_text(cupy.cuda.runtime.driverGetVersion())
    except Exception:
        pass
    if torch is not None and torch.cuda.is_available():
        info["torch_cuda"] = torch.version.cuda
        info["cudnn"] = str(torch.backends.cudnn.version())
        info["torch_tf32_matmul"] = torch.backends.cuda.matmul.allow_tf32
        info["torch_tf32_cudnn"] = torch.backends.cudnn.allow_tf32
    return info


# ----------------------------------------------------------------------------- the whole

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


def prepare_environment(device="cpu", threads=None, torch=None):
    """Set what the benchmark runs with, then describe it; returns a dict.

    On "cuda", TF32 off first (:func:`disable_tf32`).  PyTorch's CPU threads from
    ``threads`` (:func:`set_torch_threads`).  The dict holds "python", "numpy", "blas"
    (:func:`numpy_blas_info`), "torch" (its version or None), "torch_threads",
    "torch_threads_why", "machine", "cpu_count", "device", and on "cuda" the keys of
    :func:`cuda_environment` too.
    """
    cupy_tf32_before = disable_tf32(torch) if device == "cuda" else None
    torch_threads, why = set_torch_threads(torch, threads)
    info = {"python": sys.version.split()[0], "numpy": np.__version__, "blas": numpy_blas_info(),
            "torch": None if torch is None else torch.__version__,
            "torch_threads": torch_threads, "torch_threads_why": why,
            "machine": f"{cpu_name()}, {platform.machine()}, {platform.system()}",
            "cpu_count": os.cpu_count(), "device": device}
    if device == "cuda":
        info.update(cuda_environment(cupy_tf32_before, torch))
    return info


def plural(count, noun):
    """``plural(1, "thread")`` -> "1 thread"; ``plural(2, "thread")`` -> "2 threads"."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def our_threads():
    """How our CPU path uses the cores, in words (see :mod:`unet_from_scratch.ops.threads`)."""
    from ..ops import threads
    if threads.THREADS == 1:
        return "1 thread"
    if threads.BLAS_CONTROL is None:
        return (f"{threads.THREADS} threads for copies; each matrix product on the BLAS "
                f"library's threads (its thread count cannot be set here)")
    return (f"{threads.THREADS} threads share each convolution's chunks of images, with "
            f"OpenBLAS on 1 thread meanwhile")


def format_environment(info):
    """The header's lines common to every benchmark: versions, BLAS, threads, machine."""
    lines = [f"  python       {info['python']}", f"  numpy        {info['numpy']}"]
    blas = info["blas"]
    if blas is not None:
        name = blas.get("internal_api", "?")
        version = blas.get("version") or ""
        arch = f", {blas['architecture']}" if blas.get("architecture") else ""
        lines.append(f"  numpy BLAS   {name} {version}{arch}, "
                     f"{plural(blas['num_threads'], 'thread')}")
    if info["torch"] is None:
        lines.append("  torch        not installed")
    else:
        lines.append(f"  torch        {info['torch']}, {plural(info['torch_threads'], 'thread')} "
                     f"({info['torch_threads_why']})")
    lines.append(f"  ours         {our_threads()}")
    lines.append(f"  machine      {info['machine']}")
    lines.append(f"  cpu cores    {info['cpu_count']} (os.cpu_count())")
    return lines


def format_cuda_environment(info):
    """The GPU lines of the header, from the dict of :func:`prepare_environment` on "cuda"."""
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
