"""Shared fixtures and helpers for the test suite."""

import numpy as np
import pytest

from unet_from_scratch.backend import gpu_available

# Tolerances for "the fast op equals the loop definition", per dtype (rtol, atol).
TOLERANCE = {np.float32: (1e-5, 1e-5), np.float64: (1e-10, 1e-10)}


def pytest_collection_modifyitems(config, items):
    """Skip tests marked ``gpu`` cleanly on a machine without a usable GPU."""
    if gpu_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU with CuPy (gpu_available() is False)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def random_array(rng, shape, dtype=np.float64):
    """Standard-normal values of the given shape and dtype."""
    return rng.standard_normal(shape).astype(dtype)


def distinct_values(rng, shape, dtype=np.float64):
    """Values that are pairwise at least 0.01 apart, in random order.

    Max pooling's gradient jumps where two values of a window tie; keeping every
    value distinct by far more than the finite-difference step means a
    numerical gradient never sits on a tie.
    """
    size = int(np.prod(shape))
    return (rng.permutation(size) * 0.01 - size * 0.005).reshape(shape).astype(dtype)


def assert_close(actual, expected, dtype):
    """``actual`` has the given dtype and equals ``expected`` to that dtype's tolerance."""
    assert actual.dtype == dtype, f"dtype {actual.dtype}, expected {np.dtype(dtype)}"
    rtol, atol = TOLERANCE[np.dtype(dtype).type]
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


def run_cli(argv, capsys):
    """``unet-scratch`` with ``argv`` in this process: ``(exit status, stdout, stderr)``."""
    from unet_from_scratch.cli import command
    status = command.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def ctrl_c_at_step(monkeypatch, step):
    """Make ``train.train_step`` raise KeyboardInterrupt at its ``step``-th call (from 1), as
    a Ctrl-C would in the middle of training."""
    from unet_from_scratch import train
    real_step, calls = train.train_step, []

    def step_then_ctrl_c(*args):
        calls.append(1)
        if len(calls) == step:
            raise KeyboardInterrupt
        return real_step(*args)

    monkeypatch.setattr(train, "train_step", step_then_ctrl_c)
