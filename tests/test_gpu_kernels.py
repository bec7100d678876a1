"""On a GPU (marked ``gpu``; skipped cleanly elsewhere): the CUDA kernel path of the ops.

* every ``.cu`` file compiles under NVRTC (CuPy's RawModule) and every kernel loads with
  :data:`cuda.kernels.BLOCK` threads per block;
* every op with a kernel gives NumPy's numbers on both GPU paths ("kernels" and "cupy"),
  float32 to 1e-5 and float64 to 1e-12 relative, and really takes the path asked for;
* the gradient checks pass in float64 on the kernel path, op by op and for a whole U-Net;
* one training step of a small U-Net (Adam, Dice + BCE) on the GPU matches the CPU's;
* two runs of the kernel path give the same bits.
"""

import importlib

import numpy as np
import pytest

from unet_from_scratch import losses, ops, optim, train
from unet_from_scratch.backend import asnumpy, get_array_module, gpu_path_set, to_device
from unet_from_scratch.gradcheck import elementwise_check, module_check
from unet_from_scratch.model import UNet
from unet_from_scratch.cuda import kernels as cuda_kernels
from conftest import distinct_values, random_array

pytestmark = pytest.mark.gpu

TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}
IM2COL = importlib.import_module("unet_from_scratch.ops.im2col")


@pytest.fixture(params=["kernels", "cupy"])
def path(request):
    with gpu_path_set(request.param):
        yield request.param


# --- compiling -------------------------------------------------------------------------------

@pytest.mark.parametrize("file", sorted(cuda_kernels.KERNELS))
def test_every_kernel_compiles_and_loads(file):
    for name in cuda_kernels.KERNELS[file]:
        for dtype in (np.float32, np.float64):
            kernel = cuda_kernels.kernel(file, name, dtype)
            assert kernel.max_threads_per_block >= cuda_kernels.BLOCK, (name, kernel.max_threads_per_block)


# --- the ops against NumPy, on both GPU paths ---------------------------------------------------

def run_on_both(forward, backward, inputs, seed=7):
    """Forward and backward on NumPy and on CuPy copies; both results as NumPy arrays, and
    the GPU forward's cache."""
    results = []
    for device in ("cpu", "cuda"):
        on_device = [None if a is None else to_device(a, device) for a in inputs]
        y, cache = forward(*on_device)
        assert get_array_module(y) is get_array_module(on_device[0])
        dy = to_device(random_array(np.random.default_rng(seed), y.shape, y.dtype), device)
        grads = backward(dy, cache)
        grads = grads if isinstance(grads, tuple) else (grads,)
        results.append([asnumpy(y)] + [None if g is None else asnumpy(g) for g in grads])
    return results[0], results[1], cache


def assert_matches(cpu, gpu, dtype):
    for expected, actual in zip(cpu, gpu):
        if expected is None:
            assert actual is None
            continue
        assert actual.dtype == dtype and actual.shape == expected.shape
        np.testing.assert_allclose(actual, expected, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


CONV_CASES = [  # x shape, w shape, stride, padding
    ((2, 3, 9, 8), (4, 3, 3, 3), 1, 1),
    ((3, 2, 7, 6), (3, 2, 3, 2), (2, 1), (1, 0)),
    ((2, 3, 8, 8), (5, 3, 1, 1), 1, 0),
    ((2, 2, 5, 5), (2, 2, 5, 5), 1, 2),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, w_shape, stride, padding", CONV_CASES)
def test_conv2d_matches_numpy(path, rng, monkeypatch, dtype, x_shape, w_shape, stride, padding):
    monkeypatch.setattr(IM2COL, "GPU_CHUNK_BYTES", 3000)  # several chunks: the out= buffers are reused
    inputs = [random_array(rng, x_shape, dtype), random_array(rng, w_shape, dtype),
              random_array(rng, w_shape[:1], dtype)]
    cpu, gpu, _ = run_on_both(lambda *a: ops.conv2d_forward(*a, stride=stride, padding=padding),
                              ops.conv2d_backward, inputs)
    assert_matches(cpu, gpu, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("stride, kernel", [(2, 2), (1, 3), (2, 3)])
def test_conv_transpose2d_matches_numpy(path, rng, dtype, stride, kernel):
    inputs = [random_array(rng, (2, 4, 5, 6), dtype), random_array(rng, (4, 3, kernel, kernel), dtype),
              random_array(rng, (3,), dtype)]
    cpu, gpu, _ = run_on_both(lambda *a: ops.conv_transpose2d_forward(*a, stride=stride),
                              ops.conv_transpose2d_backward, inputs)
    assert_matches(cpu, gpu, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_im2col_and_col2im_match_numpy_with_non_contiguous_input(path, rng, dtype):
    x = random_array(rng, (2, 3, 14, 9), dtype)
    x_gpu = to_device(x, "cuda")[:, :, ::2]                    # not contiguous
    cols = ops.im2col(x_gpu, (3, 3), (2, 1), (1, 1))
    np.testing.assert_array_equal(asnumpy(cols), ops.im2col(x[:, :, ::2], (3, 3), (2, 1), (1, 1)))
    back = ops.col2im(cols, x_gpu.shape, (2, 1), (1, 1))
    np.testing.assert_array_equal(asnumpy(back), ops.col2im(asnumpy(cols), x_gpu.shape, (2, 1), (1, 1)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, kernel, stride", [((2, 3, 8, 9), 2, None), ((1, 2, 7, 7), 3, 2),
                                                   ((3, 1, 5, 6), (2, 3), (1, 2))])
def test_max_pool2d_matches_numpy(path, rng, dtype, shape, kernel, stride):
    cpu, gpu, cache = run_on_both(lambda x: ops.max_pool2d_forward(x, kernel, stride), ops.max_pool2d_backward,
                                  [distinct_values(rng, shape, dtype)])
    assert cache.path == path and cache.argmax.dtype == (np.int32 if path == "kernels" else np.uint8)
    assert_matches(cpu, gpu, dtype)


def test_max_pool2d_ties_go_to_the_first_maximum(path):
    x = to_device(np.array([[[[1.0, 5.0], [5.0, 0.0]]]]), "cuda")
    _, cache = ops.max_pool2d_forward(x, 2)
    dx = ops.max_pool2d_backward(to_device(np.array([[[[7.0]]]]), "cuda"), cache)
    np.testing.assert_array_equal(asnumpy(dx), [[[[0.0, 7.0], [0.0, 0.0]]]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_matches_numpy(path, rng, dtype):
    x = random_array(rng, (2, 3, 5, 4), dtype)
    x.flat[::7] = 0
    cpu, gpu, cache = run_on_both(ops.relu_forward, ops.relu_backward, [x])
    assert cache.path == path and (cache.mask is None) == (path == "kernels")
    assert_matches(cpu, gpu, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_matches_numpy(path, rng, dtype):
    x = np.concatenate([random_array(rng, (97,), dtype) * 10,
                        np.array([0, 1e-8, -1e-8, 30, -30, 80, -80, 1000, -1000], dtype)])
    cpu, gpu, _ = run_on_both(ops.sigmoid_forward, ops.sigmoid_backward, [x])
    assert_matches(cpu, gpu, dtype)
    assert gpu[0][-2] == 1 and gpu[0][-1] == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", sorted(losses.LOSSES))
@pytest.mark.parametrize("reduction", ["image", "batch"])
def test_losses_match_numpy(path, rng, dtype, loss, reduction):
    logits = random_array(rng, (3, 1, 40, 33), dtype) * 3
    targets = (rng.random(logits.shape) < 0.3).astype(dtype)
    forward, backward = losses.LOSSES[loss]
    options = {} if loss == "bce" else {"reduction": reduction}
    cpu, gpu, _ = run_on_both(lambda x, t: forward(x, t, **options),
                              lambda d, cache: backward(d, cache)[:1], [logits, targets])
    assert_matches(cpu, gpu, dtype)


# --- gradient checks in float64 on the kernel path -------------------------------------------------

GRADIENT_CASES = [
    ("conv2d", lambda rng: [random_array(rng, (2, 2, 6, 6)), random_array(rng, (3, 2, 3, 3)), random_array(rng, (3,))],
     lambda x, w, b: ops.conv2d_forward(x, w, b, stride=2, padding=1), ops.conv2d_backward),
    ("conv_transpose2d", lambda rng: [random_array(rng, (2, 3, 3, 4)), random_array(rng, (3, 2, 2, 2)),
                                      random_array(rng, (2,))],
     lambda x, w, b: ops.conv_transpose2d_forward(x, w, b, stride=2), ops.conv_transpose2d_backward),
    ("max_pool2d 3x3 stride 2", lambda rng: [distinct_values(rng, (2, 2, 7, 7))],
     lambda x: ops.max_pool2d_forward(x, 3, 2), ops.max_pool2d_backward),
    ("relu", lambda rng: [distinct_values(rng, (2, 3, 4, 4)) + 0.005], ops.relu_forward, ops.relu_backward),
    ("sigmoid", lambda rng: [random_array(rng, (2, 3, 4, 4)) * 4], ops.sigmoid_forward, ops.sigmoid_backward),
]


@pytest.mark.parametrize("name, make_inputs, forward, backward", GRADIENT_CASES, ids=[c[0] for c in GRADIENT_CASES])
def test_gradcheck_on_the_kernel_path(rng, name, make_inputs, forward, backward):
    inputs = [to_device(a, "cuda") for a in make_inputs(rng)]
    with gpu_path_set("kernels"):
        elementwise_check(forward, backward, inputs).raise_if_failed()


@pytest.mark.parametrize("loss", sorted(losses.LOSSES))
def test_loss_gradcheck_on_the_kernel_path(rng, loss):
    targets = to_device((rng.random((2, 1, 5, 6)) < 0.4).astype(np.float64), "cuda")
    forward, backward = losses.LOSSES[loss]
    with gpu_path_set("kernels"):
        elementwise_check(lambda x: forward(x, targets), lambda d, cache: backward(d, cache)[0],
                          [to_device(random_array(rng, (2, 1, 5, 6)) * 2, "cuda")], ["logits"]).raise_if_failed()


def test_unet_gradcheck_on_the_kernel_path(rng):
    model = UNet(base_channels=2, depth=2, seed=0).to(device="cuda", dtype=np.float64)
    x = to_device(random_array(rng, (2, 1, 16, 16)), "cuda")
    targets = to_device((rng.random((2, 1, 16, 16)) < 0.4).astype(np.float64), "cuda")
    forward, backward = losses.LOSSES["dice+bce"]
    with gpu_path_set("kernels"):
        report = module_check(model, x, loss=(lambda y: forward(y, targets),
                                              lambda d, cache: backward(d, cache)[0]))
    report.raise_if_failed()


# --- a whole training step ---------------------------------------------------------------------

def training_steps(device, steps=1, path="kernels"):
    """``steps`` Adam steps of UNet(base 4, depth 2) with Dice + BCE on 4 synthetic images;
    returns the losses and the final state dict (NumPy arrays)."""
    from unet_from_scratch.data import make_synthetic_ultrasound
    images, masks = make_synthetic_ultrasound(4, 32, seed=1)
    x, t = to_device(images[:, None], device), to_device(masks[:, None], device)
    model = UNet(base_channels=4, depth=2, seed=0).to(device=device)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    with gpu_path_set(path):
        values = [float(train.train_step(model, optimizer, *losses.LOSSES["dice+bce"], x, t))
                  for _ in range(steps)]
    return values, {name: asnumpy(value) for name, value in model.state_dict().items()}


@pytest.mark.parametrize("gpu_path", ["kernels", "cupy"])
def test_training_step_on_the_gpu_matches_the_cpu(gpu_path):
    cpu_losses, cpu_state = training_steps("cpu")
    gpu_losses, gpu_state = training_steps("cuda", path=gpu_path)
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-4)
    assert list(gpu_state) == list(cpu_state)
    for name in cpu_state:
        assert gpu_state[name].dtype == np.float32
        np.testing.assert_allclose(gpu_state[name], cpu_state[name], rtol=1e-4, atol=1e-6, err_msg=name)


def test_two_runs_of_the_kernel_path_give_the_same_bits():
    first_losses, first_state = training_steps("cuda", steps=3)
    second_losses, second_state = training_steps("cuda", steps=3)
    assert first_losses == second_losses
    for name in first_state:
        np.testing.assert_array_equal(second_state[name], first_state[name], err_msg=name)


def test_overlapping_col2im_and_pooling_give_the_same_bits_every_run(rng):
    """Where windows overlap, the gathers add in a fixed order: no run-to-run noise."""
    dcols = to_device(random_array(rng, (8, 3, 3, 16, 64, 64), np.float32), "cuda")
    x = to_device(distinct_values(rng, (16, 8, 64, 64), np.float32), "cuda")
    with gpu_path_set("kernels"):
        first = asnumpy(ops.col2im(dcols, (16, 8, 64, 64), (1, 1), (1, 1)))
        y, cache = ops.max_pool2d_forward(x, 3, 1)
        dy = to_device(random_array(rng, y.shape, np.float32), "cuda")
        pooled = asnumpy(ops.max_pool2d_backward(dy, cache))
        for _ in range(3):
            np.testing.assert_array_equal(asnumpy(ops.col2im(dcols, (16, 8, 64, 64), (1, 1), (1, 1))), first)
            np.testing.assert_array_equal(asnumpy(ops.max_pool2d_backward(dy, cache)), pooled)
