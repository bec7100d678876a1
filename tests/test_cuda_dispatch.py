"""The GPU path switch, the kernel loader and the dispatch of the ops -- all on the CPU.

* the switch: ``UNET_SCRATCH_GPU_PATH``, :func:`backend.set_gpu_path`, :func:`backend.gpu_path_set`;
* the one rule, :func:`backend.compute_path`, and the path each cache records;
* NumPy arrays never reach :mod:`unet_from_scratch.cuda.kernels`, whatever the switch says;
* the loader knows every ``.cu`` file, and every kernel it asks for is in the sources;
* the dispatch itself, on the CPU: the ops are told to take the kernel path on NumPy arrays,
  and :mod:`cuda.kernels` is handed the kernels compiled with g++ through the shim of
  ``tests/cuda_shim`` instead of CuPy's.  That runs the real wrapper code -- argument order,
  32-bit int scalars, dtypes, contiguity, output shapes, the caches the backward passes read --
  and checks every op, and a whole training step, against the NumPy path.
  What it cannot check is CuPy itself: NVRTC compiling the sources, and a real launch.
"""

import importlib
import re
import subprocess

import numpy as np
import pytest

from unet_from_scratch import backend, losses, ops, optim, train
from unet_from_scratch.model import UNet
from unet_from_scratch.nn import Parameter
from unet_from_scratch.cuda import kernels as cuda_kernels
from conftest import distinct_values, random_array
from test_cuda_sources import KERNEL, SOURCES, cpu_kernels, find_tool  # noqa: F401  (cpu_kernels: a fixture)

IM2COL = importlib.import_module("unet_from_scratch.ops.im2col")
RTOL = {np.float32: 1e-5, np.float64: 1e-12}


@pytest.fixture(autouse=True)
def default_switch(monkeypatch):
    """Every test starts with the switch unset and no environment variable."""
    monkeypatch.delenv(backend.GPU_PATH_VARIABLE, raising=False)
    monkeypatch.setattr(backend, "_gpu_path", None)


# --- the switch -----------------------------------------------------------------------------

def test_gpu_path_defaults_to_kernels():
    assert backend.GPU_PATHS == ("kernels", "cupy")
    assert backend.gpu_path() == "kernels"


@pytest.mark.parametrize("value, expected", [("cupy", "cupy"), ("kernels", "kernels"), ("", "kernels")])
def test_gpu_path_follows_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("UNET_SCRATCH_GPU_PATH", value)
    assert backend.gpu_path() == expected


def test_unknown_gpu_path_in_the_environment_is_refused(monkeypatch):
    monkeypatch.setenv("UNET_SCRATCH_GPU_PATH", "cuda")
    with pytest.raises(ValueError, match=r"UNET_SCRATCH_GPU_PATH must be one of \('kernels', 'cupy'\), got 'cuda'"):
        backend.gpu_path()


def test_set_gpu_path_overrides_the_environment_until_reset(monkeypatch):
    monkeypatch.setenv("UNET_SCRATCH_GPU_PATH", "cupy")
    backend.set_gpu_path("kernels")
    assert backend.gpu_path() == "kernels"
    backend.set_gpu_path(None)
    assert backend.gpu_path() == "cupy"


@pytest.mark.parametrize("name", ["numpy", "Kernels", "", 1])
def test_set_gpu_path_refuses_unknown_names(name):
    with pytest.raises(ValueError, match=r"set_gpu_path: name must be one of \('kernels', 'cupy'\).*"
                                         r"UNET_SCRATCH_GPU_PATH"):
        backend.set_gpu_path(name)
    assert backend.gpu_path() == "kernels"


def test_gpu_path_set_restores_the_previous_value(monkeypatch):
    monkeypatch.setenv("UNET_SCRATCH_GPU_PATH", "cupy")
    with backend.gpu_path_set("kernels"):
        assert backend.gpu_path() == "kernels"
        with backend.gpu_path_set("cupy"):
            assert backend.gpu_path() == "cupy"
        assert backend.gpu_path() == "kernels"
    assert backend._gpu_path is None and backend.gpu_path() == "cupy"
    backend.set_gpu_path("kernels")
    with pytest.raises(RuntimeError):
        with backend.gpu_path_set("cupy"):
            raise RuntimeError("inside")
    assert backend.gpu_path() == "kernels"
    with pytest.raises(ValueError, match="set_gpu_path"):
        with backend.gpu_path_set("torch"):
            pass
    assert backend.gpu_path() == "kernels"


def test_compute_path_is_numpy_for_numpy_arrays_whatever_the_switch(monkeypatch):
    monkeypatch.setenv("UNET_SCRATCH_GPU_PATH", "not even valid")    # never read for NumPy
    assert backend.compute_path(np.zeros(3)) == "numpy"


def test_every_cache_records_the_path_that_made_it(monkeypatch):
    """Each backward follows its forward's tag: with the rule switched to "kernels" after the
    forward passes, the backward passes of NumPy caches still never touch a kernel."""
    rng = np.random.default_rng(0)
    x = random_array(rng, (2, 3, 4, 4))
    pairs = [(ops.relu_forward(x), ops.relu_backward), (ops.sigmoid_forward(x), ops.sigmoid_backward),
             (ops.max_pool2d_forward(x, 2), ops.max_pool2d_backward),
             (ops.bias_add_forward(x, random_array(rng, (3,))), ops.bias_add_backward),
             (ops.conv2d_forward(x, random_array(rng, (2, 3, 3, 3)), random_array(rng, (2,))),
              ops.conv2d_backward),
             (ops.conv_transpose2d_forward(x, random_array(rng, (3, 2, 2, 2)), random_array(rng, (2,)),
                                           stride=2), ops.conv_transpose2d_backward)]
    assert [cache.path for (_, cache), _ in pairs] == ["numpy"] * len(pairs)
    monkeypatch.setattr(backend, "compute_path", lambda x: "kernels")
    for name in ("im2col", "col2im", "relu_backward", "sigmoid_backward", "max_pool2d_backward",
                 "bias_gradient"):
        monkeypatch.setattr(cuda_kernels, name, lambda *a: pytest.fail("a NumPy cache reached a kernel"))
    for (y, cache), backward in pairs:
        backward(np.ones_like(y), cache)


# --- NumPy arrays never reach the kernels -----------------------------------------------------

def run_every_op(dtype=np.float64, seed=0):
    """Forward and backward of every op with a dispatch point, the losses, and one training
    step of a small U-Net, on NumPy arrays."""
    rng = np.random.default_rng(seed)
    x = random_array(rng, (2, 3, 9, 8), dtype)
    y, cache = ops.conv2d_forward(x, random_array(rng, (4, 3, 3, 3), dtype), random_array(rng, (4,), dtype),
                                  padding=1)
    ops.conv2d_backward(y, cache)
    y, cache = ops.conv_transpose2d_forward(x, random_array(rng, (3, 2, 2, 2), dtype), stride=2)
    ops.conv_transpose2d_backward(y, cache)
    y, cache = ops.max_pool2d_forward(distinct_values(rng, (2, 3, 8, 9), dtype), 2)
    ops.max_pool2d_backward(y, cache)
    for forward, backward in [(ops.relu_forward, ops.relu_backward), (ops.sigmoid_forward, ops.sigmoid_backward)]:
        y, cache = forward(x)
        backward(y, cache)
    targets = (rng.random(x.shape) < 0.3).astype(dtype)
    for forward, backward in losses.LOSSES.values():
        _, cache = forward(x, targets)
        backward(1.0, cache)
    images = rng.standard_normal((2, 1, 16, 16)).astype(np.float32)
    masks = (images > 0.5).astype(np.float32)
    model = UNet(base_channels=4, depth=2, seed=0)
    return train.train_step(model, optim.Adam(model.parameters()), *losses.LOSSES["dice+bce"], images, masks)


@pytest.mark.parametrize("path", ["kernels", "cupy", None])
def test_numpy_arrays_never_touch_cuda_kernels(monkeypatch, path):
    def refuse(*args, **kwargs):
        raise AssertionError("a NumPy array reached cuda.kernels")

    functions = [name for name, value in vars(cuda_kernels).items()
                 if callable(value) and getattr(value, "__module__", None) == cuda_kernels.__name__]
    assert {"kernel", "launch", "module", "im2col", "col2im", "max_pool2d_forward", "relu_backward",
            "sigmoid_forward", "dice_partial_sums"} <= set(functions)
    for name in functions:
        monkeypatch.setattr(cuda_kernels, name, refuse)
    if path is not None:
        monkeypatch.setenv("UNET_SCRATCH_GPU_PATH", path)
    with backend.gpu_path_set(path):
        assert np.isfinite(run_every_op())


# --- the loader -------------------------------------------------------------------------------

def test_the_loader_knows_every_cuda_file():
    assert sorted(cuda_kernels.KERNELS) == sorted(source.name for source in SOURCES)
    assert cuda_kernels.CUDA_DIR.is_dir()
    for file in cuda_kernels.KERNELS:
        assert cuda_kernels.source(file) == (cuda_kernels.CUDA_DIR / file).read_text()


@pytest.mark.parametrize("file", sorted(cuda_kernels.KERNELS))
def test_every_kernel_the_loader_asks_for_is_in_the_source(file):
    defined = {name: parameters for name, parameters in KERNEL.findall(cuda_kernels.source(file))}
    for name in cuda_kernels.KERNELS[file]:
        for suffix, element in (("f32", "float"), ("f64", "double")):
            assert f"{name}_{suffix}" in defined, f"{name}_{suffix} is not an extern \"C\" kernel of {file}"
            # 32-bit int sizes, as launch() passes them, numbers of the element type (Adam's
            # hyperparameters), and pointers of the element type
            parameters = [" ".join(p.split()) for p in defined[f"{name}_{suffix}"].split(",")]
            scalars = [p for p in parameters if "*" not in p]
            assert scalars and all(p.split()[0] in ("int", element) for p in scalars), parameters
            pointers = [re.sub(r"\b(const|__restrict__)\b|\*", " ", p).split()[0] for p in parameters if "*" in p]
            assert set(pointers) <= {element, "int"}, parameters
            assert ("int" in pointers) == (name == "max_pool2d_forward" or name == "max_pool2d_backward")


@pytest.mark.parametrize("file", sorted(cuda_kernels.KERNELS))
def test_nvcc_accepts_the_loaders_compile_options(file, tmp_path):
    """CuPy compiles with NVRTC, which is not here; nvcc shares its front end."""
    nvcc = find_tool("nvcc")
    if nvcc is None:
        pytest.skip("nvcc not found on PATH or in /usr/local/cuda/bin")
    result = subprocess.run([nvcc, "--ptx", "-arch=sm_80", *cuda_kernels.COMPILE_OPTIONS, "-o",
                             str(tmp_path / "out.ptx"), str(cuda_kernels.CUDA_DIR / file)],
                            capture_output=True, text=True)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


@pytest.mark.parametrize("dtype", [np.float16, np.int32, np.complex64])
def test_kernel_refuses_other_dtypes(dtype):
    with pytest.raises(ValueError, match=r"cuda.kernels.kernel: the CUDA kernels exist for float32 and "
                                         r"float64 only, got .* for relu_forward"):
        cuda_kernels.kernel("elementwise.cu", "relu_forward", dtype)


def test_kernel_refuses_unknown_names():
    with pytest.raises(ValueError, match="no kernel 'relu_forward' in 'im2col.cu'"):
        cuda_kernels.kernel("im2col.cu", "relu_forward", np.float32)


@pytest.mark.parametrize("total, blocks", [(1, 1), (256, 1), (257, 2), (10**12, cuda_kernels.MAX_BLOCKS)])
def test_launch_size_and_arguments(total, blocks):
    calls = []
    array = np.zeros(2)
    cuda_kernels.launch(lambda grid, block, args: calls.append((grid, block, args)), total, (array, 3, np.int64(4)))
    (grid, block, args), = calls
    assert grid == (blocks,) and block == (cuda_kernels.BLOCK,)
    assert args[0] is array
    assert [type(a) for a in args[1:]] == [np.int32, np.int32] and list(args[1:]) == [3, 4]


def test_launch_refuses_what_32_bit_indices_cannot_reach():
    """An array of 2**31 elements (a broadcast view: no memory) or a size past INT_MAX is
    refused by name before anything runs; 2**31 - 1 is still accepted."""
    def fail(*args):
        pytest.fail("launched")
    huge = np.broadcast_to(np.zeros(1, np.float32), (2**31,))
    for args in [(huge, 1), (np.zeros(2), 2**31)]:
        with pytest.raises(ValueError, match=r"cuda.kernels: .* 2,147,483,648 elements; the CUDA kernels "
                                             r"index with 32-bit ints, so at most 2,147,483,647"):
            cuda_kernels.launch(fail, 4, args)
    calls = []
    cuda_kernels.launch(lambda *a: calls.append(a), 1, (np.broadcast_to(np.zeros(1), (2**31 - 1,)), 2**31 - 1))
    assert len(calls) == 1


def test_launch_of_nothing_launches_nothing():
    cuda_kernels.launch(lambda *a: pytest.fail("launched"), 0, ())


# --- the dispatch, run on the CPU through the shim ----------------------------------------------

class ShimRawKernel:
    """Stands in for a ``cupy.RawKernel``: ``kernel((grid,), (block,), args)`` runs the
    shim-compiled kernel, after checking that every argument has its parameter's type: an
    array for a pointer (the shim then checks its dtype and contiguity), ``numpy.int32`` for
    an ``int``, ``numpy.float32`` / ``numpy.float64`` for a ``float`` / ``double``."""

    def __init__(self, cpu_kernel, launches):
        self.cpu_kernel, self.launches = cpu_kernel, launches

    def __call__(self, grid, block, args):
        assert isinstance(grid, tuple) and isinstance(block, tuple) and isinstance(args, tuple)
        scalar_types = {"int": np.int32, "float": np.float32, "double": np.float64}
        for value, (name, kind) in zip(args, self.cpu_kernel.parameters):
            expected = np.ndarray if isinstance(kind, np.dtype) else scalar_types[kind]
            assert type(value) is expected, f"{self.cpu_kernel.name}: {name} is a {type(value)}, not {expected}"
        self.launches.append(self.cpu_kernel.name)
        self.cpu_kernel(grid[0], block[0], *args)


@pytest.fixture
def shim_kernel_path(monkeypatch, cpu_kernels):  # noqa: F811
    """Send the ops down the kernel path on NumPy arrays, with the shim's kernels.

    Yields the names of the kernels launched, in order.  Only the lookup of a compiled
    kernel (``_function``) and the one rule, ``backend.compute_path``, are replaced: ``kernel``,
    ``launch`` and the wrappers are the real ones, and every op, loss and optimizer follows the
    rule from that one place.
    """
    launches = []
    monkeypatch.setattr(cuda_kernels, "_function",
                        lambda file, full_name: ShimRawKernel(cpu_kernels[full_name], launches))
    monkeypatch.setattr(backend, "compute_path", lambda x: "kernels")
    monkeypatch.setattr(IM2COL, "CHUNK_BYTES", 2000)     # several chunks per batch: out= buffers reused
    return launches


def numpy_path(function, *args, **kwargs):
    """``function`` run on the NumPy path (outside the shim fixture's patching)."""
    saved = backend.compute_path
    try:
        backend.compute_path = lambda x: "numpy"
        return function(*args, **kwargs)
    finally:
        backend.compute_path = saved


def assert_same(actual, expected, dtype, exact=True):
    for a, e in zip(actual, expected):
        if e is None:
            assert a is None
            continue
        assert a.dtype == dtype and a.shape == e.shape
        if exact:
            np.testing.assert_array_equal(a, e)
        else:
            np.testing.assert_allclose(a, e, rtol=RTOL[dtype], atol=RTOL[dtype])


def forward_backward(forward, backward, inputs, seed=7):
    y, cache = forward(*inputs)
    dy = random_array(np.random.default_rng(seed), y.shape, y.dtype)
    grads = backward(dy, cache)
    return [y, *(grads if isinstance(grads, tuple) else (grads,))], cache


CONV_CASES = [  # x shape, w shape, stride, padding
    ((5, 3, 9, 8), (4, 3, 3, 3), 1, 1),
    ((3, 2, 7, 6), (3, 2, 3, 2), (2, 1), (1, 0)),
    ((2, 3, 8, 8), (2, 3, 1, 1), 1, 0),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, w_shape, stride, padding", CONV_CASES)
def test_conv2d_on_the_kernel_path(shim_kernel_path, rng, dtype, x_shape, w_shape, stride, padding):
    inputs = [random_array(rng, x_shape, dtype), random_array(rng, w_shape, dtype),
              random_array(rng, w_shape[:1], dtype)]
    forward = lambda *a: ops.conv2d_forward(*a, stride=stride, padding=padding)     # noqa: E731
    expected, _ = numpy_path(forward_backward, forward, ops.conv2d_backward, inputs)
    actual, _ = forward_backward(forward, ops.conv2d_backward, inputs)
    suffix = "f32" if dtype == np.float32 else "f64"
    assert {f"im2col_{suffix}", f"bias_grad_partial_{suffix}"} <= set(shim_kernel_path)
    # with stride 1 and no more output than input channels, dx is a convolution of dy (an
    # im2col); otherwise col2im folds it back
    assert (f"col2im_{suffix}" in shim_kernel_path) == (stride != 1 or w_shape[0] > w_shape[1])
    assert_same(actual[:3], expected[:3], dtype)  # same gathers, same matrix products: same bits
    assert_same(actual[3:], expected[3:], dtype, exact=False)   # db: the sum in another order


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_transpose2d_and_non_contiguous_input_on_the_kernel_path(shim_kernel_path, rng, dtype):
    x = random_array(rng, (3, 4, 10, 6), dtype)[:, :, ::2]             # not contiguous
    inputs = [x, random_array(rng, (4, 3, 2, 2), dtype), random_array(rng, (3,), dtype)]
    forward = lambda *a: ops.conv_transpose2d_forward(*a, stride=2)   # noqa: E731
    expected, _ = numpy_path(forward_backward, forward, ops.conv_transpose2d_backward, inputs)
    actual, _ = forward_backward(forward, ops.conv_transpose2d_backward, inputs)
    assert_same(actual[:3], expected[:3], dtype)
    assert_same(actual[3:], expected[3:], dtype, exact=False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (3, 2, 40, 33), (1, 4, 1, 1)])
def test_bias_add_on_the_kernel_path(shim_kernel_path, rng, dtype, shape):
    """The bias gradient for planes smaller and larger than BIAS_LANES."""
    inputs = [random_array(rng, shape, dtype), random_array(rng, shape[1:2], dtype)]
    expected, _ = numpy_path(forward_backward, ops.bias_add_forward, ops.bias_add_backward, inputs)
    actual, _ = forward_backward(ops.bias_add_forward, ops.bias_add_backward, inputs)
    assert shim_kernel_path == [f"bias_grad_partial_{'f32' if dtype == np.float32 else 'f64'}"]
    assert_same(actual[:2], expected[:2], dtype)
    assert_same(actual[2:], expected[2:], dtype, exact=False)


def test_im2col_out_buffer_and_col2im_on_the_kernel_path(shim_kernel_path, rng):
    x = random_array(rng, (2, 3, 6, 5), np.float32)
    buffer = np.full(2 * 3 * 9 * 6 * 5 + 4, np.nan, np.float32)
    out = IM2COL.buffer_view(buffer, (3, 3, 3, 2, 6, 5))
    cols = ops.im2col(x, (3, 3), (1, 1), (1, 1), out=out)
    assert cols is out and np.isnan(buffer[-4:]).all()
    np.testing.assert_array_equal(cols, numpy_path(ops.im2col, x, (3, 3), (1, 1), (1, 1)))
    with pytest.raises(ValueError, match="im2col: out must have shape"):
        ops.im2col(x, (3, 3), (1, 1), (1, 1), out=out[:, :2])
    back = ops.col2im(cols, x.shape, (1, 1), (1, 1))
    assert back.flags.c_contiguous
    np.testing.assert_array_equal(back, numpy_path(ops.col2im, cols, x.shape, (1, 1), (1, 1)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, kernel, stride", [((2, 3, 8, 9), 2, None), ((1, 2, 7, 7), 3, 2),
                                                   ((3, 1, 5, 6), (2, 3), (1, 2))])
def test_max_pool2d_on_the_kernel_path(shim_kernel_path, rng, dtype, shape, kernel, stride):
    inputs = [distinct_values(rng, shape, dtype)]
    forward = lambda x: ops.max_pool2d_forward(x, kernel, stride)     # noqa: E731
    expected, numpy_cache = numpy_path(forward_backward, forward, ops.max_pool2d_backward, inputs)
    actual, cache = forward_backward(forward, ops.max_pool2d_backward, inputs)
    assert cache.path == "kernels" and numpy_cache.path == "numpy"
    assert cache.argmax.dtype == np.int32 and numpy_cache.argmax.dtype == np.uint8
    np.testing.assert_array_equal(cache.argmax, numpy_cache.argmax)
    assert_same(actual, expected, dtype)
    # A cache from the NumPy forward still goes to the NumPy backward, and vice versa.
    dy = random_array(rng, actual[0].shape, dtype)
    np.testing.assert_array_equal(ops.max_pool2d_backward(dy, numpy_cache),
                                  numpy_path(ops.max_pool2d_backward, dy, cache))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_and_sigmoid_on_the_kernel_path(shim_kernel_path, rng, dtype):
    x = random_array(rng, (2, 3, 5, 4), dtype) * 10
    x.flat[::7] = 0
    expected, numpy_cache = numpy_path(forward_backward, ops.relu_forward, ops.relu_backward, [x])
    actual, cache = forward_backward(ops.relu_forward, ops.relu_backward, [x])
    assert cache.path == "kernels" and cache.mask is None and cache.output.dtype == dtype
    assert numpy_cache.path == "numpy" and numpy_cache.output is None and numpy_cache.mask.dtype == bool
    assert_same(actual, expected, dtype)
    dy = random_array(rng, x.shape, dtype)
    np.testing.assert_array_equal(ops.relu_backward(dy, numpy_cache), numpy_path(ops.relu_backward, dy, cache))

    expected, _ = numpy_path(forward_backward, ops.sigmoid_forward, ops.sigmoid_backward, [x[:, :, ::2]])
    actual, _ = forward_backward(ops.sigmoid_forward, ops.sigmoid_backward, [x[:, :, ::2]])
    assert_same(actual, expected, dtype, exact=False)
    assert "sigmoid_forward_" + ("f32" if dtype == np.float32 else "f64") in shim_kernel_path


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", sorted(losses.LOSSES))
@pytest.mark.parametrize("reduction", ["image", "batch"])
def test_losses_on_the_kernel_path(shim_kernel_path, monkeypatch, rng, dtype, loss, reduction):
    monkeypatch.setattr(cuda_kernels, "DICE_CHUNK", 7)       # several chunks per image
    logits = random_array(rng, (3, 1, 9, 7), dtype) * 3
    targets = (rng.random(logits.shape) < 0.3).astype(dtype)
    forward, backward = losses.LOSSES[loss]
    options = {} if loss == "bce" else {"reduction": reduction}
    run = lambda: forward_backward(lambda x, t: forward(x, t, **options),                    # noqa: E731
                                   lambda d, cache: backward(float(d), cache)[:1], [logits, targets])
    expected, _ = numpy_path(run)
    actual, _ = run()
    assert_same(actual, expected, dtype, exact=False)
    if loss != "bce":
        assert "dice_partial_sums_" + ("f32" if dtype == np.float32 else "f64") in shim_kernel_path


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_on_the_kernel_path(shim_kernel_path, rng, dtype):
    """Three steps with weight decay, one kernel launch per parameter per step."""
    shapes = [(3, 4), (5,), (2, 3, 3)]
    results = []
    for run in (numpy_path, lambda f, *a: f(*a)):
        params = [Parameter(random_array(np.random.default_rng(1), shape, dtype)) for shape in shapes]
        adam = optim.Adam(params, lr=0.01, weight_decay=0.05)
        gradients = np.random.default_rng(3)
        for _ in range(3):
            for p in params:
                p.grad[...] = random_array(gradients, p.data.shape, dtype)
            run(adam.step)
        results.append([p.data.copy() for p in params])
    assert shim_kernel_path == [f"adam_update_{'f32' if dtype == np.float32 else 'f64'}"] * 3 * len(shapes)
    for kernel_value, numpy_value in zip(*reversed(results)):
        np.testing.assert_allclose(kernel_value, numpy_value, rtol=RTOL[dtype], atol=RTOL[dtype])


def test_adam_refuses_a_non_contiguous_parameter_on_the_kernel_path(shim_kernel_path):
    """The kernel updates a parameter in place through its address: a strided view is refused
    with a message, never sent down another path behind the caller's back."""
    strided = Parameter(np.zeros((6, 4), np.float32)[:, ::2])
    adam = optim.Adam([Parameter(np.zeros(3, np.float32)), strided])
    with pytest.raises(ValueError, match=r"Adam.step: parameter 1 \(shape \(6, 2\)\) is not "
                                         r"C-contiguous"):
        adam.step()


def test_grid_stride_loops_with_few_blocks(shim_kernel_path, monkeypatch, rng):
    """Two blocks of 256 threads for thousands of elements: every thread loops."""
    monkeypatch.setattr(cuda_kernels, "MAX_BLOCKS", 2)
    x, w = random_array(rng, (4, 3, 12, 11)), random_array(rng, (5, 3, 3, 3))
    forward = lambda x, w: ops.conv2d_forward(x, w, padding=1)      # noqa: E731
    expected, _ = numpy_path(forward_backward, forward, ops.conv2d_backward, [x, w])
    actual, _ = forward_backward(forward, ops.conv2d_backward, [x, w])
    assert_same(actual, expected, np.float64)


def test_a_training_step_on_the_kernel_path_matches_numpy(shim_kernel_path):
    images = np.random.default_rng(3).standard_normal((4, 1, 16, 16)).astype(np.float32)
    masks = (images > 0.5).astype(np.float32)
    results = []
    for run in (numpy_path, lambda f, *a: f(*a)):
        model = UNet(base_channels=4, depth=2, seed=0)
        loss = run(train.train_step, model, optim.Adam(model.parameters()), *losses.LOSSES["dice+bce"],
                   images, masks)
        results.append((loss, model.state_dict()))
    (loss_numpy, state_numpy), (loss_kernels, state_kernels) = results
    assert {name.rsplit("_", 1)[0] for name in shim_kernel_path} == {
        "im2col", "col2im", "max_pool2d_forward", "max_pool2d_backward", "relu_forward", "relu_backward",
        "sigmoid_forward", "sigmoid_backward", "bias_grad_partial", "dice_partial_sums", "adam_update"}
    np.testing.assert_allclose(loss_kernels, loss_numpy, rtol=1e-5)
    for name in state_numpy:
        np.testing.assert_allclose(state_kernels[name], state_numpy[name], rtol=1e-4, atol=1e-6, err_msg=name)
