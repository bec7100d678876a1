"""Input checks shared by the ops.

Every message names the op, what was expected and what was given, e.g.
``conv2d_forward: x has 3 channels but w expects 1 (x.shape=(8, 3, 96, 96), w.shape=(32, 1, 3, 3))``.
A wrong *type* (not an array, not a float dtype, mixed dtypes) raises ``TypeError``;
a wrong *value* (shape, size, stride) raises ``ValueError``.
"""

import numbers

import numpy as np

from ..backend import get_array_module, is_array


def check_array(op, name, x, ndim=None):
    """Check that ``x`` is a floating-point NumPy/CuPy array with ``ndim`` dimensions (any if None)."""
    if not is_array(x):
        raise TypeError(f"{op}: {name} must be a NumPy or CuPy array, got {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{op}: {name} must have a floating-point dtype (float32 or float64), "
                        f"got {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        layout = {4: " (N, C, H, W)", 1: " (C,)"}.get(ndim, "")
        raise ValueError(f"{op}: {name} must be {ndim}-D{layout}, got {x.ndim}-D "
                         f"({name}.shape={tuple(x.shape)})")


def check_same_dtype_and_device(op, x, x_name="x", **others):
    """Check that every array in ``others`` has ``x``'s dtype and lives on the same device.

    Mixed dtypes would make NumPy upcast float32 to float64 silently, and mixed
    devices would copy behind the caller's back; both are refused instead.
    """
    xp = get_array_module(x)
    for name, a in others.items():
        if a is None:
            continue
        if get_array_module(a) is not xp:
            raise TypeError(f"{op}: {x_name} and {name} must be on the same device, got "
                            f"{x_name} on {xp.__name__} and {name} on {get_array_module(a).__name__}")
        if a.dtype != x.dtype:
            raise TypeError(f"{op}: {name} has dtype {a.dtype} but {x_name} has dtype {x.dtype}; "
                            f"cast one of them explicitly")


def check_bias(op, b, channels):
    """Check an optional bias: ``None`` or a float array of shape ``(channels,)``."""
    if b is None:
        return
    check_array(op, "b", b, 1)
    if b.shape[0] != channels:
        raise ValueError(f"{op}: b must have shape ({channels},), got b.shape={tuple(b.shape)}")


def pair(op, name, value, minimum):
    """Return ``value`` as a pair of ints ``(vertical, horizontal)``, each at least ``minimum``.

    Accepts an int or a pair of ints, as PyTorch does for kernel sizes, strides and padding.
    """
    if isinstance(value, numbers.Integral):
        values = (value, value)
    else:
        values = tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(values) != 2 or not all(isinstance(v, numbers.Integral) for v in values):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if min(values) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return int(values[0]), int(values[1])


def output_size(op, size, kernel, stride, padding, axis_name):
    """Output length of a sliding window: ``floor((size + 2 padding - kernel) / stride) + 1``.

    Raises when the kernel does not fit in the padded input.
    """
    if kernel > size + 2 * padding:
        raise ValueError(f"{op}: kernel {axis_name} {kernel} is larger than the padded input "
                         f"{axis_name} {size} + 2*{padding} = {size + 2 * padding}")
    return (size + 2 * padding - kernel) // stride + 1
