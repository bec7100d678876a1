"""The CUDA C sources in ``unet_from_scratch/cuda``, checked without a GPU.

Two checks, both in the ordinary test run:

* every ``.cu`` file compiles to PTX with ``nvcc`` (skipped where nvcc is absent);
* every kernel, compiled with g++ on the CPU through ``tests/cuda_shim/shim.h`` (which turns
  ``__global__`` and friends into plain C++ and plays a launch as a loop over blocks and
  threads), computes what the NumPy op computes -- bit for bit where the kernel adds in the
  same order as NumPy (im2col, col2im, pooling, ReLU), and to 1e-6 (float32) or 1e-12
  (float64) relative where a sum or an ``exp`` may round differently.

The launches are deliberately smaller than the work (3 blocks of 32 threads, or a single
thread), so each thread runs its grid-stride loop several times, and sometimes larger (more
threads than elements), with a guard zone after every output to catch a stray write.
What this cannot see: anything about running in parallel on a real GPU (the kernels
are written so that no two threads write the same memory, which is what makes the
sequential run faithful), and the GPU's own ``exp``.
"""

import ctypes
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from unet_from_scratch import ops, optim
from unet_from_scratch.nn import Parameter
from unet_from_scratch.losses import dice_loss_forward
from unet_from_scratch.ops.im2col import output_size
from conftest import distinct_values, random_array

ROOT = Path(__file__).resolve().parent.parent
CUDA_DIR = ROOT / "unet_from_scratch" / "cuda"
SHIM = Path(__file__).resolve().parent / "cuda_shim" / "shim.h"
SOURCES = sorted(CUDA_DIR.glob("*.cu"))

DTYPES = [np.float32, np.float64]
RTOL = {np.float32: 1e-6, np.float64: 1e-12}
SUFFIX = {np.float32: "f32", np.float64: "f64"}
LAUNCHES = [(3, 32), (1, 1), (40, 64)]        # (blocks, threads per block)
GUARD = 8                                       # elements after each output that must stay untouched

KERNEL = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)', re.S)
POINTEE = {"float": np.float32, "double": np.float64, "int": np.int32}


def find_tool(name):
    """The path of ``name`` on PATH or in /usr/local/cuda/bin, or None."""
    return shutil.which(name) or shutil.which(name, path="/usr/local/cuda/bin")


# --- nvcc -------------------------------------------------------------------------------

def test_there_are_cuda_sources():
    assert SOURCES, f"no .cu files in {CUDA_DIR}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_cuda_source_compiles_with_nvcc(source, tmp_path):
    nvcc = find_tool("nvcc")
    if nvcc is None:
        pytest.skip("nvcc not found on PATH or in /usr/local/cuda/bin")
    result = subprocess.run([nvcc, "--ptx", "-arch=sm_80", "-o", str(tmp_path / "out.ptx"), str(source)],
                            capture_output=True, text=True)
    assert result.returncode == 0, f"nvcc failed on {source.name}:\n{result.stderr}"
    ptx = (tmp_path / "out.ptx").read_text()
    for name, _ in KERNEL.findall(source.read_text()):
        assert f".entry {name}(" in ptx, f"kernel {name} missing from the PTX of {source.name}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_every_kernel_has_float_and_double(source):
    names = [name for name, _ in KERNEL.findall(source.read_text())]
    assert names, f"no extern \"C\" __global__ kernels in {source.name}"
    stems = {name.rsplit("_", 1)[0] for name in names}
    assert sorted(names) == sorted(f"{stem}_{s}" for stem in stems for s in ("f32", "f64"))


# --- the kernels on the CPU ---------------------------------------------------------------

def parse_parameters(text):
    """``[(name, kind)]`` for a kernel's parameter list; kind is a NumPy dtype for a pointer
    (the element type), or "long long" / "int" / ... for a scalar."""
    parameters = []
    for declaration in text.split(","):
        words = declaration.replace("*", " * ").split()
        name = words[-1]
        base = [w for w in words[:-1] if w not in ("const", "__restrict__", "*")]
        if "*" in words:
            parameters.append((name, np.dtype(POINTEE[" ".join(base)])))
        else:
            parameters.append((name, " ".join(base)))
    return parameters


class CpuKernel:
    """One kernel of a shim-compiled library: ``kernel(blocks, threads, *arguments)``."""

    SCALARS = {"long long": ctypes.c_longlong, "int": ctypes.c_int,
               "float": ctypes.c_float, "double": ctypes.c_double}

    def __init__(self, library, name, parameters):
        self.name, self.parameters = name, parameters
        self.function = getattr(library, f"shim_launch_{name}")
        self.function.restype = None
        self.function.argtypes = [ctypes.c_uint, ctypes.c_uint] + [
            ctypes.c_void_p if isinstance(kind, np.dtype) else self.SCALARS[kind] for _, kind in parameters]

    def __call__(self, blocks, threads, *arguments):
        assert len(arguments) == len(self.parameters), f"{self.name}: wrong number of arguments"
        converted = []
        for value, (name, kind) in zip(arguments, self.parameters):
            if isinstance(kind, np.dtype):
                assert isinstance(value, np.ndarray) and value.dtype == kind and value.flags.c_contiguous, \
                    f"{self.name}: {name} must be a C-contiguous {kind} array"
                converted.append(value.ctypes.data)
            else:
                converted.append(int(value) if kind in ("long long", "int") else float(value))
        self.function(blocks, threads, *converted)


def build_library(source, directory, gxx):
    """Compile ``source`` with the shim and one launcher per kernel into a shared library."""
    lines = [f'#include "{source}"']
    kernels = []
    for name, declaration in KERNEL.findall(source.read_text()):
        parameters = parse_parameters(declaration)
        kernels.append((name, parameters))
        arguments = ", ".join(n for n, _ in parameters)
        lines.append(f'extern "C" void shim_launch_{name}(unsigned int grid, unsigned int block, '
                     f'{" ".join(declaration.split())})\n'
                     f'{{ SHIM_LAUNCH(grid, block, {name}({arguments})); }}')
    wrapper = directory / f"{source.stem}_launch.cpp"
    wrapper.write_text("\n".join(lines) + "\n")
    library = directory / f"lib{source.stem}.so"
    command = [gxx, "-x", "c++", "-std=c++17", "-O1", "-fPIC", "-shared", "-Wall", "-Werror",
               "-include", str(SHIM), "-o", str(library), str(wrapper)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"g++ failed on {source.name} with the shim:\n{result.stderr}")
    loaded = ctypes.CDLL(str(library))
    return {name: CpuKernel(loaded, name, parameters) for name, parameters in kernels}


@pytest.fixture(scope="session")
def cpu_kernels(tmp_path_factory):
    """Every kernel of every .cu file, compiled once per session with g++ and the shim."""
    gxx = find_tool("g++")
    if gxx is None:
        pytest.skip("g++ not found: cannot run the CUDA sources on the CPU")
    directory = tmp_path_factory.mktemp("cuda_shim")
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        libraries = list(pool.map(lambda s: build_library(s, directory, gxx), SOURCES))
    return {name: kernel for library in libraries for name, kernel in library.items()}


def guarded_empty(shape, dtype, fill=np.nan):
    """An output array of ``shape`` filled with ``fill``, followed by a guard zone;
    returns (the whole buffer, a view of the output)."""
    size = int(np.prod(shape))
    buffer = np.full(size + GUARD, fill, dtype=dtype)
    return buffer, buffer[:size].reshape(shape)


def launch(cpu_kernels, name, dtype, launch_config, outputs, *arguments):
    """Run kernel ``name`` for ``dtype`` and check that nothing was written past the outputs."""
    buffers = [buffer for buffer, _ in outputs]
    before = [buffer[-GUARD:].copy() for buffer in buffers]
    blocks, threads = launch_config
    cpu_kernels[f"{name}_{SUFFIX[dtype]}"](blocks, threads, *arguments)
    for buffer, guard in zip(buffers, before):
        np.testing.assert_array_equal(buffer[-GUARD:], guard, err_msg=f"{name} wrote past its output")


# im2col / col2im: (n, c, h, w), kernel, stride, padding
CONV_CASES = [
    ((1, 1, 5, 5), (3, 3), (1, 1), (1, 1)),
    ((3, 2, 7, 6), (3, 2), (2, 1), (1, 0)),
    ((2, 3, 8, 9), (2, 2), (2, 2), (0, 0)),      # the up-convolution's 2 x 2, stride 2
    ((1, 2, 9, 7), (3, 3), (2, 2), (1, 1)),
    ((3, 1, 6, 5), (1, 3), (1, 2), (0, 1)),
    ((2, 2, 5, 5), (5, 5), (1, 1), (2, 2)),      # every pixel in 25 windows
    ((1, 2, 9, 9), (2, 2), (3, 3), (0, 0)),      # stride > kernel: pixels in no window
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, kernel, stride, padding", CONV_CASES)
@pytest.mark.parametrize("launch_config", LAUNCHES[:1] + LAUNCHES[2:])
def test_im2col_and_col2im_kernels(cpu_kernels, rng, dtype, shape, kernel, stride, padding, launch_config):
    n, c, h, w = shape
    h_o, w_o = output_size(h, kernel[0], stride[0], padding[0]), output_size(w, kernel[1], stride[1], padding[1])
    geometry = (n, c, h, w, *kernel, *stride, *padding, h_o, w_o)
    x = random_array(rng, shape, dtype)
    cols = guarded_empty((c, *kernel, n, h_o, w_o), dtype)
    launch(cpu_kernels, "im2col", dtype, launch_config, [cols], x, cols[0], *geometry)
    np.testing.assert_array_equal(cols[1], ops.im2col(x, kernel, stride, padding))

    dcols = random_array(rng, cols[1].shape, dtype)
    dx = guarded_empty(shape, dtype)
    launch(cpu_kernels, "col2im", dtype, launch_config, [dx], dcols, dx[0], *geometry)
    # The gather adds in the order NumPy's col2im does: the same bits.
    np.testing.assert_array_equal(dx[1], ops.col2im(dcols, shape, stride, padding))


def test_col2im_single_thread_matches_many(cpu_kernels, rng):
    """One thread doing all the work and 96 threads sharing it give the same bits."""
    shape, kernel, stride, padding = CONV_CASES[1]
    n, c, h, w = shape
    h_o, w_o = output_size(h, kernel[0], stride[0], padding[0]), output_size(w, kernel[1], stride[1], padding[1])
    dcols = random_array(rng, (c, *kernel, n, h_o, w_o), np.float32)
    results = []
    for launch_config in LAUNCHES:
        dx = guarded_empty(shape, np.float32)
        launch(cpu_kernels, "col2im", np.float32, launch_config, [dx], dcols, dx[0],
               n, c, h, w, *kernel, *stride, *padding, h_o, w_o)
        results.append(dx[1])
    for result in results[1:]:
        np.testing.assert_array_equal(result, results[0])


# max pooling: (n, c, h, w), kernel, stride
POOL_CASES = [
    ((2, 3, 8, 9), (2, 2), (2, 2)),              # the U-Net's pooling, odd width floored
    ((1, 2, 7, 7), (3, 3), (2, 2)),              # overlapping windows
    ((3, 1, 5, 6), (2, 3), (1, 2)),              # non-square kernel and stride
    ((1, 1, 9, 8), (3, 3), (3, 3)),
    ((1, 2, 7, 7), (2, 2), (3, 3)),              # stride > kernel
    ((3, 2, 5, 5), (1, 1), (1, 1)),
]


def run_pool(cpu_kernels, x, dy, kernel, stride, dtype, launch_config):
    """The kernels' (y, argmax, dx) for input x and upstream gradient dy."""
    n, c, h, w = x.shape
    h_o, w_o = output_size(h, kernel[0], stride[0], 0), output_size(w, kernel[1], stride[1], 0)
    geometry = (n, c, h, w, *kernel, *stride, h_o, w_o)
    y = guarded_empty((n, c, h_o, w_o), dtype)
    argmax = guarded_empty((n, c, h_o, w_o), np.int32, fill=-1)
    launch(cpu_kernels, "max_pool2d_forward", dtype, launch_config, [y, argmax], x, y[0], argmax[0], *geometry)
    dx = guarded_empty(x.shape, dtype)
    dy = np.ascontiguousarray(dy if dy is not None else np.ones(y[1].shape, dtype))
    launch(cpu_kernels, "max_pool2d_backward", dtype, launch_config, [dx], dy, argmax[0], dx[0], *geometry)
    return y[1], argmax[1], dx[1]


def assert_pool_matches_numpy(cpu_kernels, x, kernel, stride, dtype, launch_config, rng):
    y_numpy, cache = ops.max_pool2d_forward(x, kernel, stride)
    dy = random_array(rng, y_numpy.shape, dtype)
    y, argmax, dx = run_pool(cpu_kernels, x, dy, kernel, stride, dtype, launch_config)
    np.testing.assert_array_equal(y, y_numpy)
    np.testing.assert_array_equal(argmax, cache.argmax)
    # The gather adds in the order NumPy's backward does: the same bits.
    np.testing.assert_array_equal(dx, ops.max_pool2d_backward(dy, cache))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, kernel, stride", POOL_CASES)
@pytest.mark.parametrize("launch_config", LAUNCHES[:1] + LAUNCHES[2:])
def test_max_pool_kernels_distinct_values(cpu_kernels, rng, dtype, shape, kernel, stride, launch_config):
    x = distinct_values(rng, shape, dtype)
    assert_pool_matches_numpy(cpu_kernels, x, kernel, stride, dtype, launch_config, rng)


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_kernels_ties_go_to_the_first_maximum(cpu_kernels, rng, dtype):
    x = np.array([[[[1, 3, 0, 0, 5],
                    [3, 2, 0, 0, 5],
                    [7, 7, 4, 9, 5],
                    [7, 7, 9, 1, 5]]]], dtype=dtype)
    y, argmax, dx = run_pool(cpu_kernels, x, None, (2, 2), (2, 2), dtype, LAUNCHES[0])
    np.testing.assert_array_equal(y, [[[[3, 0], [7, 9]]]])
    np.testing.assert_array_equal(argmax, [[[[1, 0], [0, 1]]]])   # the first of each tie
    expected_dx = np.zeros_like(x)
    expected_dx[0, 0, 0, 1] = expected_dx[0, 0, 0, 2] = expected_dx[0, 0, 2, 0] = expected_dx[0, 0, 2, 3] = 1
    np.testing.assert_array_equal(dx, expected_dx)
    assert_pool_matches_numpy(cpu_kernels, x, (2, 2), (2, 2), dtype, LAUNCHES[0], rng)
    # Overlapping windows on a constant image: each window's gradient goes to its top-left pixel.
    assert_pool_matches_numpy(cpu_kernels, np.full((3, 2, 6, 7), 0.5, dtype), (3, 2), (1, 2), dtype,
                              LAUNCHES[0], rng)
    # Ties on a coarse grid of values, many per window.
    coarse = rng.integers(0, 3, size=(2, 3, 7, 8)).astype(dtype)
    assert_pool_matches_numpy(cpu_kernels, coarse, (3, 3), (2, 2), dtype, LAUNCHES[0], rng)


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_kernels_nan_as_numpy(cpu_kernels, rng, dtype):
    """A NaN makes its window's maximum NaN and the argmax the window's last position, as in NumPy."""
    x = distinct_values(rng, (1, 2, 4, 6), dtype)
    x[0, 0, 0, 0] = x[0, 1, 3, 4] = np.nan
    assert_pool_matches_numpy(cpu_kernels, x, (2, 2), (2, 2), dtype, LAUNCHES[0], rng)


# elementwise ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1, 5, 3), (3, 4, 7, 6), (2, 5, 1, 1)])
@pytest.mark.parametrize("launch_config", LAUNCHES)
def test_relu_kernels(cpu_kernels, rng, dtype, shape, launch_config):
    x = random_array(rng, shape, dtype)
    x.flat[::5] = 0                                  # the derivative at 0 is 0
    x.flat[1] = np.nan                               # stays NaN, as with NumPy's maximum; gradient 0
    y_plain, relu_cache = ops.relu_forward(x)
    y2 = guarded_empty(shape, dtype)
    launch(cpu_kernels, "relu_forward", dtype, launch_config, [y2], x, y2[0], x.size)
    np.testing.assert_array_equal(y2[1], y_plain)

    dy = random_array(rng, shape, dtype)
    dx = guarded_empty(shape, dtype)
    launch(cpu_kernels, "relu_backward", dtype, launch_config, [dx], dy, np.ascontiguousarray(y_plain), dx[0], x.size)
    np.testing.assert_array_equal(dx[1], ops.relu_backward(dy, relu_cache))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1, 5, 3), (3, 4, 7, 6), (2, 5, 1, 1)])
@pytest.mark.parametrize("lanes", [1, 7, 1000])
def test_bias_grad_partial_kernel(cpu_kernels, rng, dtype, shape, lanes):
    n, c, h, w = shape
    dy = random_array(rng, shape, dtype)
    partial = guarded_empty((n, c, lanes), dtype)
    launch(cpu_kernels, "bias_grad_partial", dtype, LAUNCHES[0], [partial], dy, partial[0], n, c, h * w, lanes)
    # lane k of a plane holds the sum of its pixels k, k + lanes, ...
    planes = dy.reshape(n, c, h * w)
    for k in range(min(lanes, h * w)):
        np.testing.assert_allclose(partial[1][:, :, k], planes[:, :, k::lanes].sum(axis=2), rtol=RTOL[dtype])
    assert not partial[1][:, :, h * w:].any()                # lanes past the plane add nothing
    db = partial[1].sum(axis=(0, 2))
    _, db_numpy = ops.bias_add_backward(dy, ops.bias_add_forward(dy, np.zeros(c, dtype))[1])
    np.testing.assert_allclose(db, db_numpy, rtol=RTOL[dtype], atol=RTOL[dtype] * np.abs(dy).sum())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("launch_config", LAUNCHES)
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adam_update_kernel(cpu_kernels, rng, dtype, launch_config, weight_decay):
    """Three steps of the kernel against optim.Adam's NumPy steps, in place, guards intact."""
    shape = (5, 3, 7)
    start = random_array(rng, shape, dtype)
    parameter = Parameter(start.copy())
    adam = optim.Adam([parameter], lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=weight_decay)
    p, m, v = guarded_empty(shape, dtype), guarded_empty(shape, dtype, 0), guarded_empty(shape, dtype, 0)
    p[1][...] = start
    for t in (1, 2, 3):
        g = random_array(rng, shape, dtype)
        parameter.grad[...] = g
        adam.step()
        launch(cpu_kernels, "adam_update", dtype, launch_config, [p, m, v], p[1], g, m[1], v[1], g.size,
               0.01 / (1 - 0.8 ** t), 0.8, 1 - 0.8, 0.99, 1 - 0.99, 1e-6, np.sqrt(1 - 0.99 ** t), weight_decay)
        np.testing.assert_allclose(m[1], adam.state["exp_avg"][0], rtol=RTOL[dtype])
        np.testing.assert_allclose(v[1], adam.state["exp_avg_sq"][0], rtol=RTOL[dtype])
        np.testing.assert_allclose(p[1], parameter.data, rtol=RTOL[dtype], atol=RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("launch_config", LAUNCHES)
def test_sigmoid_kernels(cpu_kernels, rng, dtype, launch_config):
    x = np.concatenate([random_array(rng, (97,), dtype) * 10,
                        np.array([0, -0.0, 1e-8, -1e-8, 30, -30, 80, -80, 1000, -1000], dtype)])
    y_numpy, cache = ops.sigmoid_forward(x)
    y = guarded_empty(x.shape, dtype)
    launch(cpu_kernels, "sigmoid_forward", dtype, launch_config, [y], x, y[0], x.size)
    np.testing.assert_allclose(y[1], y_numpy, rtol=RTOL[dtype], atol=0)
    assert y[1][-2] == 1 and y[1][-1] == 0

    dy = random_array(rng, x.shape, dtype)
    dx = guarded_empty(x.shape, dtype)
    launch(cpu_kernels, "sigmoid_backward", dtype, launch_config, [dx], dy, y_numpy, dx[0], x.size)
    np.testing.assert_array_equal(dx[1], ops.sigmoid_backward(dy, cache))   # same products, same order


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1, 6, 5), (3, 2, 9, 7)])
@pytest.mark.parametrize("chunk", [1, 7, 64, 10000])
def test_dice_partial_sums_kernel(cpu_kernels, rng, dtype, shape, chunk):
    n = shape[0]
    m = int(np.prod(shape[1:]))
    logits = random_array(rng, shape, dtype) * 3
    targets = (rng.random(shape) < 0.3).astype(dtype)
    targets[0, 0, 0, :2] = 0.25                      # soft targets too
    p, _ = ops.sigmoid_forward(logits)
    chunks = -(-m // chunk)
    partial = guarded_empty((n, chunks, 3), dtype)
    launch(cpu_kernels, "dice_partial_sums", dtype, LAUNCHES[0], [partial], p, targets, partial[0], n, m, chunk)
    sums = partial[1].sum(axis=1)                    # (n, 3): sum p*t, sum p, sum t per image
    p64, t64 = p.reshape(n, m).astype(np.float64), targets.reshape(n, m).astype(np.float64)
    expected = np.stack([(p64 * t64).sum(axis=1), p64.sum(axis=1), t64.sum(axis=1)], axis=1)
    np.testing.assert_allclose(sums, expected, rtol=RTOL[dtype])

    # The loss finished from the sums is the package's soft Dice loss (smooth 1, per image).
    dice = (2 * sums[:, 0] + 1) / (sums[:, 1] + sums[:, 2] + 1)
    loss, _ = dice_loss_forward(logits, targets, smooth=1.0, reduction="image")
    np.testing.assert_allclose(1 - dice.mean(), loss, rtol=RTOL[dtype])
    # The whole batch as one group: n = 1, m = everything.
    whole = guarded_empty((-(-n * m // chunk), 3), dtype)
    launch(cpu_kernels, "dice_partial_sums", dtype, LAUNCHES[0], [whole], p, targets, whole[0], 1, n * m, chunk)
    np.testing.assert_allclose(whole[1].sum(axis=0), expected.sum(axis=0), rtol=RTOL[dtype])
