"""The CUDA kernels of ``cuda/*.cu``, loaded by CuPy and called from the ops, the losses and
the optimizer.

The callers come here only when :func:`unet_from_scratch.backend.compute_path` says
"kernels": for CuPy arrays on the "kernels" GPU path.  Each function below takes the
arrays, allocates the outputs, and launches one kernel; the math lives in the ``.cu``
files, whose comments say which thread computes what.

A short guide to what happens on a GPU, for a reader new to CUDA:

* **Compiling.**  A ``.cu`` file is C++ with a few extensions.  CuPy hands its text to
  NVRTC, NVIDIA's run-time compiler, the first time a kernel of that file is asked for
  (:func:`module`), and keeps the result: one ``cupy.RawModule`` per file, compiled once
  per process (CuPy also caches the binary on disk across processes).
* **Looking up.**  Every kernel exists twice, for float (``im2col_f32``) and double
  (``im2col_f64``); :func:`kernel` picks the one for the arrays' dtype by its plain C name
  (the ``extern "C"`` in the sources keeps C++ from decorating the names).
* **Launching.**  A launch starts ``grid`` blocks of ``block`` threads each
  (:func:`launch`).  The kernels loop "grid-stride" -- thread t handles elements t,
  t + T, t + 2T, ... where T is the number of threads -- so any launch size computes every
  element exactly once; the launch only decides how many threads share the work.
* **Arguments.**  A kernel receives raw pointers and numbers, nothing else: a CuPy array
  is passed as the address of its first element, so it must be C-contiguous and of the
  element type the kernel expects (float, double, or int for the pooling's argmax), and
  every number must have the C type of its parameter -- ``int`` (32-bit) here, hence
  ``numpy.int32``.  Nothing checks this on the GPU side: a wrong type would be read as
  garbage, so the functions below make their arrays contiguous and of the right dtype.
* **32-bit indices.**  The kernels find coordinates by integer division, which a GPU
  does many times faster on 32-bit numbers than on 64-bit ones, so every size and index
  in them is an ``int``.  :func:`launch` refuses, with a ``ValueError``, any array of
  2**31 elements or more (8 GiB of float32), rather than let an index wrap around.
* **Asynchrony.**  A launch returns at once and the GPU runs the kernel later, in order
  with everything else on the same CuPy stream; reading a result (``.get()``, ``float()``)
  waits for it.

All of this needs a GPU; the module imports CuPy only when a kernel is first compiled.
"""

import functools
from pathlib import Path

import numpy as np

from ..backend import get_array_module

CUDA_DIR = Path(__file__).resolve().parent          # the .cu files lie beside this module

# The C names of the kernels, without the _f32/_f64 suffix, and the file each lives in.
KERNELS = {
    "im2col.cu": ("im2col", "col2im"),
    "pool.cu": ("max_pool2d_forward", "max_pool2d_backward"),
    "elementwise.cu": ("relu_forward", "relu_backward", "sigmoid_forward", "sigmoid_backward",
                       "bias_grad_partial", "dice_partial_sums"),
    "optim.cu": ("adam_update",),
}
SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}
ARGMAX_DTYPE = np.dtype(np.int32)     # the pooling kernels' `int* argmax`
COMPILE_OPTIONS = ("-std=c++14",)

INT_MAX = 2**31 - 1         # the largest C int: no array handed to a kernel may be longer
BLOCK = 256                 # threads per block: a common choice, a multiple of the 32-thread warp
MAX_BLOCKS = 65535 * 4      # enough blocks to fill any current GPU many times over
BIAS_LANES = 256            # threads that share one channel plane in bias_grad_partial
DICE_CHUNK = 256            # elements each thread of dice_partial_sums adds up


# --- loading and launching -----------------------------------------------------------------

def source(file):
    """The text of ``cuda/<file>``, e.g. ``source("im2col.cu")``."""
    return (CUDA_DIR / file).read_text()


@functools.lru_cache(maxsize=None)
def module(file):
    """The ``cupy.RawModule`` of ``cuda/<file>``, built once per process.

    Building it only reads the source; NVRTC compiles it when the first kernel is looked up.
    (Written with one GPU per process in mind; CuPy loads a kernel on the device that is
    current when it is first used.)
    """
    import cupy
    return cupy.RawModule(code=source(file), options=COMPILE_OPTIONS)


def kernel(file, name, dtype):
    """The kernel ``<name>_f32`` or ``<name>_f64`` of ``file`` for arrays of ``dtype``
    (a ``cupy.RawKernel``).  Other dtypes raise ``ValueError``."""
    dtype = np.dtype(dtype)
    if dtype not in SUFFIX:
        raise ValueError(f"cuda.kernels.kernel: the CUDA kernels exist for float32 and float64 "
                         f"only, got {dtype} for {name}")
    if name not in KERNELS.get(file, ()):
        raise ValueError(f"cuda.kernels.kernel: no kernel {name!r} in {file!r}; "
                         f"known: {KERNELS}")
    return _function(file, f"{name}_{SUFFIX[dtype]}")


@functools.lru_cache(maxsize=None)
def _function(file, full_name):
    return module(file).get_function(full_name)


def launch(kernel, total, args):
    """Run ``kernel`` with enough threads for ``total`` elements (fewer, if that would take
    more than ``MAX_BLOCKS`` blocks: the grid-stride loop covers the rest).

    ``args`` are the kernel's arguments in order: arrays (C-contiguous, of the kernel's
    element type), Python ints, which are passed as 32-bit C ``int``, and NumPy floating
    scalars of the kernel's element type.  An array or an int past :data:`INT_MAX` raises
    ``ValueError`` instead.
    """
    for arg in args:
        size = int(arg) if isinstance(arg, (int, np.integer)) else arg.size
        if size > INT_MAX:
            raise ValueError(f"cuda.kernels: {_name(kernel)} was given an array or size of {size:,} "
                             f"elements; the CUDA kernels index with 32-bit ints, so at most "
                             f"{INT_MAX:,} (2**31 - 1) -- use a smaller batch or image")
    if total == 0:
        return                      # a launch of 0 blocks is an error in CUDA
    blocks = min(-(-total // BLOCK), MAX_BLOCKS)
    args = tuple(np.int32(a) if isinstance(a, (int, np.integer)) else a for a in args)
    kernel((blocks,), (BLOCK,), args)


def _name(kernel):
    """A kernel's C name, for messages (``RawKernel.name``; any other callable's repr)."""
    return getattr(kernel, "name", repr(kernel))


def _contiguous(x):
    xp = get_array_module(x)
    return xp.ascontiguousarray(x)


# --- im2col / col2im (ops/im2col.py) -------------------------------------------------------

def im2col(x, cols, kernel_size, stride, padding):
    """Fill ``cols`` (c, k_h, k_w, n, h_O, w_O), C-contiguous, with the columns of ``x``
    (n, c, h, w): one thread per window position (c, n, h_O, w_O), each writing its
    k_h * k_w entries.  Returns ``cols``."""
    if not cols.flags.c_contiguous:
        raise ValueError("im2col: out must be C-contiguous for the CUDA kernel")
    x = _contiguous(x)
    n, c, h, w = x.shape
    h_out, w_out = cols.shape[4:]
    launch(kernel("im2col.cu", "im2col", x.dtype), c * n * h_out * w_out,
           (x, cols, n, c, h, w, *kernel_size, *stride, *padding, h_out, w_out))
    return cols


def col2im(cols, input_shape, stride, padding, out=None):
    """The image (n, c, h, w) = ``input_shape`` that sums the ``cols`` entries read from each
    pixel: one thread per pixel, gathering (no atomics).  Written into ``out`` when it is a
    C-contiguous array of that shape and dtype, else into a new C-contiguous array."""
    xp = get_array_module(cols)
    cols = _contiguous(cols)
    n, c, h, w = input_shape
    _, k_h, k_w, _, h_out, w_out = cols.shape
    usable = (out is not None and out.flags.c_contiguous and out.dtype == cols.dtype
              and tuple(out.shape) == (n, c, h, w))
    x = out if usable else xp.empty((n, c, h, w), dtype=cols.dtype)
    launch(kernel("im2col.cu", "col2im", cols.dtype), x.size,
           (cols, x, n, c, h, w, k_h, k_w, *stride, *padding, h_out, w_out))
    return x


# --- max pooling (ops/max_pool2d.py) -------------------------------------------------------

def max_pool2d_forward(x, kernel_size, stride, out_size):
    """``(y, argmax)``, both (n, c, h_O, w_O) with ``out_size = (h_O, w_O)``: the window
    maxima and the int32 row-major index of each window's first maximum."""
    xp = get_array_module(x)
    x = _contiguous(x)
    n, c, h, w = x.shape
    y = xp.empty((n, c, *out_size), dtype=x.dtype)
    argmax = xp.empty(y.shape, dtype=ARGMAX_DTYPE)
    launch(kernel("pool.cu", "max_pool2d_forward", x.dtype), y.size,
           (x, y, argmax, n, c, h, w, *kernel_size, *stride, *out_size))
    return y, argmax


def max_pool2d_backward(dy, argmax, x_shape, kernel_size, stride):
    """dx of ``x_shape``: each window's ``dy`` at its argmax, gathered per input pixel."""
    xp = get_array_module(dy)
    dy, argmax = _contiguous(dy), _contiguous(argmax)
    n, c, h, w = x_shape
    dx = xp.empty(x_shape, dtype=dy.dtype)
    launch(kernel("pool.cu", "max_pool2d_backward", dy.dtype), dx.size,
           (dy, argmax, dx, n, c, h, w, *kernel_size, *stride, *dy.shape[2:]))
    return dx


# --- elementwise (ops/relu.py, ops/sigmoid.py, ops/bias_add.py) and the Dice sums (losses.py) --

def _elementwise(name, *inputs):
    """A new array of ``inputs[0]``'s shape and dtype from the flat kernel ``name``, whose
    arguments are the inputs, the output and the number of elements."""
    xp = get_array_module(inputs[0])
    inputs = [_contiguous(a) for a in inputs]
    out = xp.empty(inputs[0].shape, dtype=inputs[0].dtype)
    launch(kernel("elementwise.cu", name, out.dtype), out.size, (*inputs, out, out.size))
    return out


def relu_forward(x):
    """``max(x, 0)``, NaN kept."""
    return _elementwise("relu_forward", x)


def relu_backward(dy, y):
    """``dy`` where the forward's output ``y`` is positive, else 0."""
    return _elementwise("relu_backward", dy, y)


def sigmoid_forward(x):
    """Stable ``1 / (1 + exp(-x))``."""
    return _elementwise("sigmoid_forward", x)


def sigmoid_backward(dy, y):
    """``dy * y * (1 - y)`` from the forward's output ``y``."""
    return _elementwise("sigmoid_backward", dy, y)


def bias_gradient(dy):
    """``dy.sum(axis=(0, 2, 3))`` for ``dy`` (n, c, h, w): the gradient of a per-channel bias,
    shape (c,).  Up to :data:`BIAS_LANES` threads per channel plane each add every
    lanes-th pixel; the (n, c, lanes) partial sums are then added up by CuPy."""
    xp = get_array_module(dy)
    dy = _contiguous(dy)
    n, c, h, w = dy.shape
    lanes = max(1, min(h * w, BIAS_LANES))
    partial = xp.empty((n, c, lanes), dtype=dy.dtype)
    launch(kernel("elementwise.cu", "bias_grad_partial", dy.dtype), partial.size,
           (dy, partial, n, c, h * w, lanes))
    return partial.sum(axis=(0, 2))


def dice_partial_sums(p, t):
    """Per row g of the (groups, m) arrays ``p`` and ``t``: ``(sum p*t, sum p, sum t)``, three
    arrays of shape (groups,).  Each thread adds one chunk of ``DICE_CHUNK`` elements of
    one row; the (groups, chunks, 3) partial sums are then added up by CuPy."""
    xp = get_array_module(p)
    p, t = _contiguous(p), _contiguous(t)
    groups, m = p.shape
    chunks = -(-m // DICE_CHUNK)
    partial = xp.empty((groups, chunks, 3), dtype=p.dtype)
    launch(kernel("elementwise.cu", "dice_partial_sums", p.dtype), groups * chunks,
           (p, t, partial, groups, m, DICE_CHUNK))
    sums = partial.sum(axis=1)
    return sums[:, 0], sums[:, 1], sums[:, 2]


# --- Adam (optim.py) ---------------------------------------------------------------------------

def adam_update(p, g, m, v, step_size, beta1, beta2, eps, sqrt_bias2, weight_decay):
    """One Adam update of the parameter ``p`` from its gradient ``g``, with its moments ``m``
    and ``v``: ``p``, ``m`` and ``v`` are updated in place (so they must be C-contiguous),
    one thread per element.  The numbers are Python floats: ``step_size = lr / (1 - beta1^t)``,
    ``sqrt_bias2 = sqrt(1 - beta2^t)``; they are passed in the arrays' precision, and
    ``1 - beta1``, ``1 - beta2`` are formed here, in double precision, as the NumPy path does."""
    for name, array in (("p", p), ("m", m), ("v", v)):
        if not array.flags.c_contiguous:
            raise ValueError(f"adam_update: {name} must be C-contiguous, as the kernel updates it in place")
    g = _contiguous(g)
    real = p.dtype.type
    launch(kernel("optim.cu", "adam_update", p.dtype), p.size,
           (p, g, m, v, p.size, real(step_size), real(beta1), real(1 - beta1), real(beta2),
            real(1 - beta2), real(eps), real(sqrt_bias2), real(weight_decay)))
