"""On a GPU (marked ``gpu``; skipped cleanly elsewhere): the same ops on CuPy arrays give NumPy's numbers,
and the gradient checks pass in float64 on the device."""

import numpy as np
import pytest

from unet_from_scratch import ops
from unet_from_scratch.backend import asnumpy, get_array_module, to_device
from unet_from_scratch.gradcheck import directional_check, elementwise_check
from conftest import distinct_values, random_array

pytestmark = pytest.mark.gpu

TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}


def run_on_both(forward, backward, inputs):
    """Forward and backward on NumPy and on CuPy copies; return both results as NumPy arrays."""
    results = []
    for device in ("cpu", "cuda"):
        on_device = [None if a is None else to_device(a, device) for a in inputs]
        y, cache = forward(*on_device)
        assert get_array_module(y) is get_array_module(on_device[0])
        dy = to_device(random_array(np.random.default_rng(7), y.shape, y.dtype), device)
        grads = backward(dy, cache)
        grads = grads if isinstance(grads, tuple) else (grads,)
        assert all(g is None or get_array_module(g) is get_array_module(on_device[0]) for g in grads)
        results.append([asnumpy(y)] + [None if g is None else asnumpy(g) for g in grads])
    return results


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op, make_inputs", [
    ("conv2d", lambda rng, dt: [random_array(rng, (2, 3, 9, 8), dt), random_array(rng, (4, 3, 3, 3), dt),
                                random_array(rng, (4,), dt)]),
    ("conv_transpose2d", lambda rng, dt: [random_array(rng, (2, 4, 5, 6), dt),
                                          random_array(rng, (4, 3, 2, 2), dt), random_array(rng, (3,), dt)]),
    ("max_pool2d", lambda rng, dt: [distinct_values(rng, (2, 3, 8, 9), dt)]),
    ("relu", lambda rng, dt: [random_array(rng, (2, 3, 4, 4), dt)]),
    ("sigmoid", lambda rng, dt: [random_array(rng, (2, 3, 4, 4), dt) * 10]),
    ("concat", lambda rng, dt: [random_array(rng, (2, 3, 4, 4), dt), random_array(rng, (2, 2, 4, 4), dt)]),
    ("center_crop", lambda rng, dt: [random_array(rng, (2, 3, 7, 6), dt)]),
    ("bias_add", lambda rng, dt: [random_array(rng, (2, 3, 4, 4), dt), random_array(rng, (3,), dt)]),
])
def test_gpu_matches_cpu(rng, op, make_inputs, dtype):
    options = {"conv2d": {"padding": 1}, "conv_transpose2d": {"stride": 2},
               "center_crop": {"size": 4}}.get(op, {})
    forward = getattr(ops, f"{op}_forward")
    backward = getattr(ops, f"{op}_backward")
    cpu, gpu = run_on_both(lambda *a: forward(*a, **options), backward, make_inputs(rng, dtype))
    for expected, actual in zip(cpu, gpu):
        if expected is not None:
            assert actual.dtype == dtype
            np.testing.assert_allclose(actual, expected, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


def test_gradcheck_on_gpu(rng):
    x = to_device(random_array(rng, (2, 2, 6, 6)), "cuda")
    w = to_device(random_array(rng, (3, 2, 3, 3)), "cuda")
    b = to_device(random_array(rng, (3,)), "cuda")
    report = elementwise_check(lambda x, w, b: ops.conv2d_forward(x, w, b, stride=2, padding=1),
                               ops.conv2d_backward, [x, w, b], ["x", "w", "b"])
    report.raise_if_failed()


def test_directional_check_and_non_contiguous_inputs_on_gpu(rng):
    x = to_device(random_array(rng, (2, 3, 12, 9)), "cuda")[:, :, ::2, :]      # not contiguous
    w = to_device(random_array(rng, (4, 3, 3, 3)), "cuda")
    report = directional_check(lambda x, w: ops.conv2d_forward(x, w, padding=1),
                               lambda dy, cache: ops.conv2d_backward(dy, cache)[:2], [x, w], ["x", "w"])
    report.raise_if_failed()
    y, _ = ops.conv2d_forward(x, w, padding=1)
    y_cpu, _ = ops.conv2d_forward(asnumpy(x), asnumpy(w), padding=1)
    np.testing.assert_allclose(asnumpy(y), y_cpu, rtol=1e-12, atol=1e-12)


def test_max_pool_ties_on_gpu():
    x = to_device(np.array([[[[1.0, 5.0], [5.0, 0.0]]]]), "cuda")
    y, cache = ops.max_pool2d_forward(x, 2)
    dx = ops.max_pool2d_backward(to_device(np.array([[[[7.0]]]]), "cuda"), cache)
    np.testing.assert_array_equal(asnumpy(dx), [[[[0.0, 7.0], [0.0, 0.0]]]])


def test_training_on_the_gpu_matches_the_cpu_and_resumes(tmp_path):
    """Two tiny epochs of fit on each device: the same losses (to float32 rounding), a
    checkpoint that resumes on the GPU, and predict/summary on the model's device."""
    from unet_from_scratch import UNet, fit, load_checkpoint, predict
    from unet_from_scratch.data import make_synthetic_ultrasound

    train_set = make_synthetic_ultrasound(8, 32, seed=1)
    val_set = make_synthetic_ultrasound(4, 32, seed=2)
    histories = {}
    for device in ("cpu", "cuda"):
        model = UNet(base_channels=4, depth=2, seed=0)
        histories[device] = fit(model, train_set, val_set, epochs=2, batch_size=4, device=device,
                                checkpoint=str(tmp_path / f"{device}.npz"), progress=False,
                                log=lambda line: None)
    np.testing.assert_allclose(histories["cuda"]["loss"], histories["cpu"]["loss"], rtol=1e-4)
    assert "(1, 4, 32, 32)" in model.summary(32, 32)
    probabilities = predict(model, val_set[0])                 # the model is on the GPU
    assert isinstance(probabilities, np.ndarray) and probabilities.shape == (4, 32, 32)
    resumed = UNet(base_channels=4, depth=2, seed=0)
    history = fit(resumed, train_set, val_set, epochs=3, batch_size=4, device="cuda",
                  resume=str(tmp_path / "cuda.last.npz"), progress=False, log=lambda line: None)
    assert history["epoch"] == [1, 2, 3]
    assert load_checkpoint(str(tmp_path / "cuda.npz"), "cuda")[0].config == resumed.config
