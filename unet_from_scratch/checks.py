"""The validators every layer shares: arrays, dtypes, shapes, integers, counts, numbers.

Every message names the op (or the function, or the option), what was expected and what
was given, e.g.
``conv2d_forward: x has 3 channels but w expects 1 (x.shape=(8, 3, 96, 96), w.shape=(32, 1, 3, 3))``.
A wrong *type* (not an array, not float32/float64, mixed dtypes, a string for a number)
raises ``TypeError``; a wrong *value* (shape, size, stride, a count below 1) raises
``ValueError``.  The exceptions are :func:`check_count` and :func:`check_height_width`, which
raise ``ValueError`` for anything that is not a count or an (H, W) pair, type included.

The number checks return the value converted (a Python ``int`` or ``float``), so that a
NumPy scalar never slips into arithmetic with float32 arrays and upcasts them.
"""

import math
import numbers

import numpy as np

from .backend import get_array_module, is_array

FLOAT_DTYPES = (np.float32, np.float64)
IMAGE_LAYOUT = "(N, C, H, W)"


def check_array(op, name, x, ndim=None, layout=""):
    """Check that ``x`` is a float32/float64 NumPy or CuPy array with ``ndim`` dimensions
    (any number if None); ``layout`` names the axes in the message, e.g. "(N, C, H, W)"."""
    if not is_array(x):
        raise TypeError(f"{op}: {name} must be a NumPy or CuPy array, got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: {name} must have a floating-point dtype (float32 or float64), "
                        f"got {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        layout = f" {layout}" if layout else ""
        raise ValueError(f"{op}: {name} must be {ndim}-D{layout}, got {x.ndim}-D "
                         f"({name}.shape={tuple(x.shape)})")


def check_image(op, name, x):
    """Check a batch of images: a float array laid out (N, C, H, W)."""
    check_array(op, name, x, 4, IMAGE_LAYOUT)


def check_same_dtype_and_device(op, x, x_name="x", **others):
    """Check that every array in ``others`` (None is skipped) has ``x``'s dtype and device.

    Mixed dtypes would make NumPy upcast float32 to float64 silently, and mixed
    devices would copy behind the caller's back; both are refused instead.
    The arrays must already have passed :func:`check_array`.
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


def check_same_shape_batch(op, x, x_name, other, other_name, layout):
    """Check that ``x`` and ``other`` have one shape and hold a non-empty batch on axis 0
    (at least 2-D); ``layout`` names the accepted shapes in the message, e.g.
    "(N, H, W) or (N, C, H, W)".  Without this, NumPy would broadcast mismatched shapes."""
    if tuple(x.shape) != tuple(other.shape):
        raise ValueError(f"{op}: {x_name} and {other_name} must have the same shape, got "
                         f"{x_name}.shape={tuple(x.shape)}, {other_name}.shape={tuple(other.shape)}")
    if x.ndim < 2 or x.size == 0:
        raise ValueError(f"{op}: {x_name} must be a non-empty batch {layout}, "
                         f"got {x_name}.shape={tuple(x.shape)}")


def check_bias(op, b, channels):
    """Check an optional bias: ``None`` or a float array of shape ``(channels,)``."""
    if b is None:
        return
    check_array(op, "b", b, 1, "(C,)")
    if b.shape[0] != channels:
        raise ValueError(f"{op}: b must have shape ({channels},), got b.shape={tuple(b.shape)}")


def check_kernel(op, w, layout):
    """Check convolution weights: a 4-D float array in ``layout`` with a kernel of at least 1x1."""
    check_array(op, "w", w, 4, layout)
    if min(w.shape) < 1:
        raise ValueError(f"{op}: w must have no empty axis, got w.shape={tuple(w.shape)} "
                         f"(laid out {layout})")


def check_upstream(op, dy, shape, dtype):
    """Check the upstream gradient of a backward pass: an array of the forward output's shape and dtype.

    Without this, NumPy would broadcast a wrongly shaped ``dy`` or upcast a float64 one silently.
    """
    check_array(op, "dy", dy)
    if tuple(dy.shape) != tuple(shape):
        raise ValueError(f"{op}: dy must have the forward output's shape {tuple(shape)}, "
                         f"got dy.shape={tuple(dy.shape)}")
    if dy.dtype != dtype:
        raise TypeError(f"{op}: dy has dtype {dy.dtype} but the forward pass ran in {dtype}; "
                        f"cast it explicitly")


def pair(op, name, value, minimum):
    """Return ``value`` as a pair of ints ``(vertical, horizontal)``, each at least ``minimum``.

    Accepts an int or a pair of ints, as PyTorch does for kernel sizes, strides and padding.
    """
    if is_int(value):
        values = (value, value)
    else:
        values = tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(values) != 2 or not all(is_int(v) for v in values):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if min(values) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return int(values[0]), int(values[1])


def check_kernel_fits(op, input_size, kernel, padding):
    """Check, per axis, that a ``kernel`` (pair) fits inside the ``input_size`` (pair) plus padding."""
    for axis_name, size, k, p in zip(("height", "width"), input_size, kernel, padding):
        if k > size + 2 * p:
            raise ValueError(f"{op}: kernel {axis_name} {k} is larger than the padded input "
                             f"{axis_name} {size} + 2*{p} = {size + 2 * p}")


# --- numbers --------------------------------------------------------------------------------

def is_int(value):
    """An integer (Python or NumPy), but not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def is_real(value):
    """A real number (Python or NumPy, integers included), but not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_int(op, name, value, minimum=None):
    """``value`` as a plain ``int``; a float, a bool or anything else raises ``TypeError``, and
    a value below ``minimum`` (when given) ``ValueError``."""
    if not is_int(value):
        raise TypeError(f"{op}: {name} must be an int, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{op}: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_height_width(op, name, value):
    """``(H, W)``, a tuple or list of two ints >= 1 (an image's size), as a tuple of ints."""
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(is_int(side) and side >= 1 for side in value)):
        raise ValueError(f"{op}: {name} must be (H, W), two ints >= 1, got {value!r}")
    return int(value[0]), int(value[1])


def check_count(op, name, value):
    """A count: an int >= 1 (epochs, a batch size, panels), returned as a plain ``int``.
    Anything else -- 0, 2.5, True, "3" -- raises ``ValueError``."""
    if not is_int(value) or value < 1:
        raise ValueError(f"{op}: {name} must be an int >= 1, got {value!r}")
    return int(value)


def check_number(op, name, value):
    """A real number (Python or NumPy; not a bool) as a Python ``float``; ``TypeError`` otherwise.
    NaN and infinities pass: the callers that need a finite value say so in their bounds."""
    if not is_real(value):
        raise TypeError(f"{op}: {name} must be a real number, got {type(value).__name__}")
    return float(value)


def check_finite(op, name, value):
    """A finite real number (a threshold, a brightness shift) as a ``float``."""
    value = check_number(op, name, value)
    if not math.isfinite(value):
        raise ValueError(f"{op}: {name} must be a finite number, got {value!r}")
    return value


def check_positive(op, name, value):
    """A finite real number > 0 (a learning rate, a smoothing term, a scale) as a ``float``."""
    value = check_number(op, name, value)
    if not 0 < value < math.inf:             # written so that NaN fails too
        raise ValueError(f"{op}: {name} must be a finite number > 0, got {value!r}")
    return value


def check_non_negative(op, name, value):
    """A finite real number >= 0 (a weight decay, a momentum, a loss weight) as a ``float``."""
    value = check_number(op, name, value)
    if not 0 <= value < math.inf:
        raise ValueError(f"{op}: {name} must be a finite number >= 0, got {value!r}")
    return value


def check_probability(op, name, value):
    """A finite real number in [0, 1] (a threshold on probabilities) as a ``float``."""
    value = check_number(op, name, value)
    if not 0 <= value <= 1:                  # written so that NaN fails too
        raise ValueError(f"{op}: {name} must be a number in [0, 1], got {value!r}")
    return value


def check_bool(op, name, value):
    """A bool (Python or NumPy) as a plain ``bool``; ``TypeError`` for anything else, so that
    ``batch_norm='no'`` is not read as True."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{op}: {name} must be True or False, got {value!r}")
    return bool(value)


def check_cache(op, cache, cache_type):
    """Check that a backward pass got the cache its forward returned (a ``cache_type``
    namedtuple), e.g. ``conv2d_backward: cache must be what conv2d_forward returned, got None``."""
    if not isinstance(cache, cache_type):
        forward = op.replace("_backward", "_forward")
        got = "None" if cache is None else type(cache).__name__
        raise TypeError(f"{op}: cache must be what {forward} returned, got {got}")


# --- images ---------------------------------------------------------------------------------

def check_images(op, name, images):
    """The one rule for image values (``fit``, ``predict``, ``evaluate``): any finite
    floating-point images are accepted -- [0, 1], 0..255 as floats, standardized ones --
    while integer and bool arrays (whose scale is ambiguous) and NaN or infinite values
    are refused.  ``images`` must already be a NumPy array."""
    if images.dtype.kind in "biu":
        hint = (f"divide by {np.iinfo(images.dtype).max} for values in [0, 1]"
                if images.dtype.kind == "u" else "convert them to floats in the scale you want")
        raise TypeError(f"{op}: {name} must be floating-point, got {images.dtype} ({hint}, "
                        f"e.g. images.astype(np.float32) / 255 for 8-bit images)")
    if images.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be floating-point numbers, got {images.dtype}")
    if images.size and not np.isfinite(images).all():
        bad = int(np.size(images) - np.count_nonzero(np.isfinite(images)))
        raise ValueError(f"{op}: {name} contain NaN or infinite values ({bad} of them)")
    largest = float(np.finfo(np.float32).max)      # the network computes in float32
    if images.size and images.dtype.itemsize > 4 and np.abs(images).max() > largest:
        raise ValueError(f"{op}: {name} hold values beyond float32's range (up to "
                         f"{np.abs(images).max():.3g}; the network computes in float32): "
                         f"scale them first")


def check_all_finite(op, what, arrays):
    """Refuse a dict of arrays (a state dict) holding any NaN or infinity; the message
    names the first offending arrays."""
    bad = [name for name, value in arrays.items()
           if np.asarray(value).dtype.kind == "f" and not np.isfinite(value).all()]
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise ValueError(f"{op}: {what} non-finite values (NaN or inf) in {shown}")
