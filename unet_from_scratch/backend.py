"""The one place that knows NumPy from CuPy.

Every other module is written against an *array module* ``xp`` -- ``numpy`` on
the CPU, ``cupy`` on a GPU -- obtained from its inputs with
:func:`get_array_module`.  The same code then runs unchanged on both.

Nothing here moves data behind the caller's back: :func:`to_device` and
:func:`asnumpy` are the only ways across, and they are explicit.

CuPy is optional.  Importing this module never imports CuPy eagerly; it is
looked up the first time it is needed, and a machine without CuPy (or without
a driver, or without a device) simply has no GPU: :func:`gpu_available`
returns ``False`` and never raises.

On CuPy arrays the ops have two GPU paths, chosen by :func:`gpu_path`: "kernels" (the
hand-written CUDA kernels of the ``cuda`` package, the default) and "cupy" (the same
NumPy-style code as on the CPU, run by CuPy), so that the two can be compared.  NumPy
arrays always take the NumPy code, whatever the switch says.  :func:`compute_path` is the
one rule that applies this to an array.
"""

import contextlib
import os
import sys

import numpy as np

DEVICES = ("cpu", "cuda")
GPU_PATHS = ("kernels", "cupy")
GPU_PATH_VARIABLE = "UNET_SCRATCH_GPU_PATH"

_gpu_path = None        # set by set_gpu_path; None: follow the environment variable

_cupy = None
_cupy_import_tried = False


def _import_cupy():
    """Return the ``cupy`` module, or ``None`` when it cannot be imported."""
    global _cupy, _cupy_import_tried
    if not _cupy_import_tried:
        _cupy_import_tried = True
        try:
            import cupy
        except Exception:  # ImportError, or a broken CUDA install failing at import
            cupy = None
        _cupy = cupy
    return _cupy


def is_cupy_array(x):
    """True when ``x`` is a ``cupy.ndarray`` (False whenever CuPy is absent).

    Looks CuPy up among the modules already imported instead of importing it: if
    nobody has imported CuPy, no CuPy array can exist, and a NumPy-only run never
    pays for CuPy's slow import.
    """
    cupy = sys.modules.get("cupy")
    return cupy is not None and isinstance(x, cupy.ndarray)


def is_array(x):
    """True for a NumPy or CuPy ``ndarray``."""
    return isinstance(x, np.ndarray) or is_cupy_array(x)


def get_array_module(*arrays):
    """Return ``cupy`` if any argument is a CuPy array, else ``numpy``.

    ``None`` and Python scalars are ignored, so an optional bias can be passed
    along with the data: ``xp = get_array_module(x, w, b)``.
    """
    for a in arrays:
        if is_cupy_array(a):
            return sys.modules["cupy"]
    return np


def gpu_available():
    """True when CuPy imports and a CUDA device can run a kernel.

    Returns ``False`` -- never raises -- without CuPy, without a driver, or
    without a device.
    """
    cupy = _import_cupy()
    if cupy is None:
        return False
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return False
        # A tiny computation proves the driver, the runtime and the compiler work.
        return int((cupy.arange(3) + 1).sum()) == 6
    except Exception:
        return False


def to_device(x, device):
    """Copy ``x`` to ``device`` ("cpu" or "cuda"); return it unchanged if it is already there.

    Raises ``ValueError`` for an unknown device and ``RuntimeError`` when
    "cuda" is asked for on a machine without a usable GPU.
    """
    if device not in DEVICES:
        raise ValueError(f"to_device: device must be one of {DEVICES}, got {device!r}")
    if device == "cpu":
        return asnumpy(x)
    if is_cupy_array(x):
        return x
    if not gpu_available():
        raise RuntimeError("to_device: device 'cuda' was asked for, but no usable GPU was found "
                           "(is CuPy installed, e.g. pip install -e '.[cuda12]', and is a driver present?)")
    return _import_cupy().asarray(x)


def asnumpy(x):
    """Return ``x`` as a NumPy array (copying from the GPU when it is a CuPy array)."""
    if is_cupy_array(x):
        return x.get()
    return np.asarray(x)


def device_of(x):
    """Return "cuda" for a CuPy array, "cpu" otherwise."""
    return "cuda" if is_cupy_array(x) else "cpu"


# --- which code runs on CuPy arrays ---------------------------------------------------------

def gpu_path():
    """The GPU path the ops take on CuPy arrays: "kernels" or "cupy".

    The value given to :func:`set_gpu_path` (or :func:`gpu_path_set`) if any, else the
    environment variable ``UNET_SCRATCH_GPU_PATH``, read at every call; "kernels" when it
    is unset or empty.  An unknown name raises ``ValueError``.
    """
    if _gpu_path is not None:
        return _gpu_path
    name = os.environ.get(GPU_PATH_VARIABLE) or "kernels"
    if name not in GPU_PATHS:
        raise ValueError(f"{GPU_PATH_VARIABLE} must be one of {GPU_PATHS}, got {name!r}")
    return name


def set_gpu_path(name):
    """Choose the GPU path ("kernels" or "cupy") for the whole process; ``None`` goes back to
    following ``UNET_SCRATCH_GPU_PATH``.  An unknown name raises ``ValueError``."""
    global _gpu_path
    if name is not None and name not in GPU_PATHS:
        raise ValueError(f"set_gpu_path: name must be one of {GPU_PATHS} (or None to follow "
                         f"{GPU_PATH_VARIABLE}), got {name!r}")
    _gpu_path = name


@contextlib.contextmanager
def gpu_path_set(name):
    """``with gpu_path_set("cupy"): ...`` runs the block on that GPU path and restores the
    previous setting afterwards (also when the block raises)."""
    previous = _gpu_path
    set_gpu_path(name)
    try:
        yield
    finally:
        set_gpu_path(previous)


def compute_path(x):
    """Which code an op runs on ``x``: "numpy" for a NumPy array; for a CuPy array the GPU
    path, "kernels" (the CUDA kernels of ``cuda/``) or "cupy" (the NumPy-style code run by
    CuPy), as :func:`gpu_path` says at this call.

    This is the one rule: every op asks it once per forward pass and records the answer in
    its cache, so its backward pass takes the same path whatever the switch says by then.
    For a NumPy array the switch is not even read.  (The ops import ``backend`` itself and
    call ``backend.compute_path``, so that the tests can patch this one function.)
    """
    return gpu_path() if is_cupy_array(x) else "numpy"
