"""The backend: NumPy on the CPU, CuPy on a GPU, and no surprises on a machine without one."""

import builtins

import numpy as np
import pytest

from unet_from_scratch import backend


def test_numpy_arrays_use_numpy():
    x = np.zeros(3)
    assert backend.get_array_module(x) is np
    assert backend.get_array_module(None, 1.0, x) is np
    assert backend.device_of(x) == "cpu"


def test_to_device_cpu_and_asnumpy_keep_numpy_arrays():
    x = np.arange(4.0)
    assert backend.to_device(x, "cpu") is x
    assert backend.asnumpy(x) is x
    np.testing.assert_array_equal(backend.asnumpy([1.0, 2.0]), [1.0, 2.0])


def test_to_device_rejects_unknown_device():
    with pytest.raises(ValueError, match=r"to_device: device must be one of \('cpu', 'cuda'\), got 'gpu'"):
        backend.to_device(np.zeros(2), "gpu")


def test_without_cupy_there_is_no_gpu_and_no_exception(monkeypatch):
    """Simulate a machine where ``import cupy`` fails."""
    real_import = builtins.__import__

    def no_cupy(name, *args, **kwargs):
        if name == "cupy" or name.startswith("cupy."):
            raise ImportError("No module named 'cupy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cupy)
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_cupy_import_tried", False)
    assert backend.gpu_available() is False
    assert backend.get_array_module(np.zeros(2)) is np
    with pytest.raises(RuntimeError, match="to_device: device 'cuda' was asked for, but no usable GPU"):
        backend.to_device(np.zeros(2), "cuda")


def test_broken_driver_means_no_gpu(monkeypatch):
    """CuPy imports, but asking the driver for devices fails: False, not an exception."""

    class BrokenRuntime:
        @staticmethod
        def getDeviceCount():
            raise RuntimeError("cudaErrorInsufficientDriver")

    class FakeCupy:
        class cuda:
            runtime = BrokenRuntime

        class ndarray:
            pass

    monkeypatch.setattr(backend, "_cupy", FakeCupy)
    monkeypatch.setattr(backend, "_cupy_import_tried", True)
    assert backend.gpu_available() is False


def test_no_device_means_no_gpu(monkeypatch):
    class FakeCupy:
        class cuda:
            class runtime:
                @staticmethod
                def getDeviceCount():
                    return 0

        class ndarray:
            pass

    monkeypatch.setattr(backend, "_cupy", FakeCupy)
    monkeypatch.setattr(backend, "_cupy_import_tried", True)
    assert backend.gpu_available() is False
