"""The benchmarks run and report their numbers (smoke tests: speed is shown by the script, not
tested), and the training step they time in PyTorch is the same computation as ours."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from unet_from_scratch import bench, losses, optim
from unet_from_scratch.model import UNet


def test_ops_benchmark_smoke():
    rows = bench.run_ops_benchmark(batch=1, repeats=1, warmup=0)
    assert [row["op"] for row in rows] == [case[0] for case in bench.OPS_CASES]
    for row in rows:
        assert row["ours_fwd_ms"] > 0 and row["ours_fwd_bwd_ms"] > 0
        if bench.torch is None:
            assert row["torch_fwd_bwd_ms"] is None and row["ratio_fwd_bwd"] is None
        else:
            assert row["max_abs_diff_fwd"] < 1e-3      # the two compute the same thing
    assert rows[3]["output_shape"] == (1, 512, 12, 12)
    assert "ours f+b" in bench.format_header()
    assert bench.format_row(rows[0]).startswith("conv2d 3x3 p1")


def test_train_benchmark_smoke():
    rows = bench.run_train_benchmark(batch=2, size=32, base_channels=4, depth=2, repeats=2,
                                     warmup=1, with_torch=False)
    assert len(rows) == 1
    row = rows[0]
    assert row["name"] == "ours (NumPy)" and row["ratio"] is None
    assert 0 < row["min_ms"] <= row["ms"] <= row["max_ms"]
    assert row["images_per_s"] > 0 and row["peak_bytes"] > 0
    assert 0 < row["first_loss"] < 1
    assert bench.format_train_row(row).startswith("ours (NumPy)")


def test_train_command_prints_configuration_and_table(capsys):
    status = bench.main(["--batch", "2", "--size", "32", "--base-channels", "4", "--depth", "2",
                         "--repeats", "1", "--warmup", "1"])
    assert status == 0
    out = capsys.readouterr().out
    assert "training-step benchmark (cpu)" in out
    assert "UNet(base_channels=4, depth=2, padding='same'), 7,397 parameters" in out
    assert "2 x 1 x 32 x 32 float32" in out and "numpy" in out and "cpu cores" in out
    assert "ms/step" in out and "images/s" in out and "peak MiB" in out and "ours/torch" in out
    assert "ours (NumPy)" in out
    assert ("PyTorch (cpu)" in out) == (bench.torch is not None)


def test_train_command_refuses_a_size_that_does_not_fit_and_a_missing_gpu(capsys):
    assert bench.main(["train", "--size", "30", "--depth", "2"]) == 2
    assert "--size 30 does not fit" in capsys.readouterr().err
    if not bench.backend.gpu_available():
        assert bench.main(["--device", "cuda"]) == 2
        err = capsys.readouterr().err
        assert "gpu_available() is False" in err and "Traceback" not in err


def test_cuda_train_command_refuses_cleanly_without_a_gpu(capsys):
    if bench.backend.gpu_available():
        pytest.skip("a GPU is here: the refusal cannot be seen")
    for argv in (["train", "--device", "cuda"],
                 ["--device", "cuda", "--batch", "4", "--size", "64"]):
        assert bench.main(argv) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert "--device cuda needs a usable GPU" in captured.err
        assert "Traceback" not in captured.err


def test_train_configurations():
    # The CPU keeps its one default; on the GPU both issue sizes unless one is asked for.
    assert bench.train_configurations("cpu") == [(8, 96)]
    assert bench.train_configurations("cpu", batch=2, size=32) == [(2, 32)]
    assert bench.train_configurations("cuda") == [(32, 128), (32, 96)]
    assert bench.train_configurations("cuda", batch=16) == [(16, 128)]
    assert bench.train_configurations("cuda", size=64) == [(32, 64)]
    assert bench.train_configurations("cuda", batch=8, size=96) == [(8, 96)]


def test_ours_gpu_paths_put_the_kernels_first():
    if not hasattr(bench.backend, "gpu_path_set"):
        assert bench.ours_gpu_paths() == [("ours (CuPy)", None)]
        return
    paths = bench.ours_gpu_paths()
    assert [path for _, path in paths] == ["kernels", "cupy"]
    assert [label for label, _ in paths] == ["ours (CUDA kernels)", "ours (plain CuPy)"]


def test_disable_tf32_sets_cupy_tf32_to_zero(monkeypatch):
    monkeypatch.setenv("CUPY_TF32", "1")
    saved = None
    if bench.torch is not None:
        saved = (bench.torch.backends.cuda.matmul.allow_tf32, bench.torch.backends.cudnn.allow_tf32)
    try:
        assert bench.disable_tf32() == "1"
        assert os.environ["CUPY_TF32"] == "0"
        if bench.torch is not None:
            assert bench.torch.backends.cuda.matmul.allow_tf32 is False
            assert bench.torch.backends.cudnn.allow_tf32 is False
    finally:
        if saved is not None:
            (bench.torch.backends.cuda.matmul.allow_tf32,
             bench.torch.backends.cudnn.allow_tf32) = saved
    monkeypatch.delenv("CUPY_TF32")
    assert bench.disable_tf32() is None


FAKE_CUDA_INFO = {
    "gpu": "NVIDIA H100 80GB HBM3", "cupy": "13.6.0", "cuda_runtime": "12.8", "cuda_driver": "12.9",
    "cupy_tf32": "0", "cupy_tf32_before": None, "cupy_compute_type": "COMPUTE_TYPE_DEFAULT",
    "nvidia_tf32_override": None, "torch": "2.8.0+cu128", "torch_cuda": "12.8", "cudnn": "91002",
    "torch_tf32_matmul": False, "torch_tf32_cudnn": False,
}


def test_cuda_header_states_the_tf32_settings_and_versions():
    text = "\n".join(bench.format_cuda_environment(FAKE_CUDA_INFO))
    assert "NVIDIA H100 80GB HBM3" in text and "runtime 12.8" in text and "driver 12.9" in text
    assert "cupy         13.6.0" in text
    assert "CUPY_TF32=0 (was unset)" in text and "COMPUTE_TYPE_DEFAULT" in text
    assert "NVIDIA_TF32_OVERRIDE=unset" in text
    assert "2.8.0+cu128, CUDA 12.8, cuDNN 91002" in text
    assert "torch.backends.cuda.matmul.allow_tf32=False" in text
    assert "torch.backends.cudnn.allow_tf32=False" in text

    overridden = dict(FAKE_CUDA_INFO, cupy_tf32_before="1", torch_cuda=None, cudnn=None,
                      torch_tf32_matmul=None, torch_tf32_cudnn=None, torch="2.8.0+cpu")
    text = "\n".join(bench.format_cuda_environment(overridden))
    assert "CUPY_TF32=0 (was '1', set to 0 here)" in text
    assert "2.8.0+cpu, no CUDA: not timed" in text and "allow_tf32" not in text
    no_torch = dict(overridden, torch=None)
    assert "torch gpu    not installed" in "\n".join(bench.format_cuda_environment(no_torch))


def fake_row(name, ms, ratio=None):
    row = bench.train_row(name, 32, 0.9, [ms], None)
    row["ratio"] = ratio
    return row


def test_cuda_ratios_against_the_targets():
    rows = [fake_row("ours (CUDA kernels)", 30.0, 1.5), fake_row("ours (plain CuPy)", 120.0, 6.0),
            fake_row("PyTorch (cuDNN)", 20.0, 1.0)]
    lines = bench.format_cuda_ratios(rows)
    assert len(lines) == 2
    assert "ours (CUDA kernels) / PyTorch" in lines[0] and "1.50x" in lines[0]
    assert "at most 2x" in lines[0] and lines[0].endswith(" met")
    assert "plain CuPy / ours (CUDA kernels)" in lines[1] and "4.00x" in lines[1]
    assert "at least 3x" in lines[1] and lines[1].endswith(" met")
    slow = [fake_row("ours (CUDA kernels)", 50.0, 2.5), fake_row("ours (plain CuPy)", 100.0, 5.0),
            fake_row("PyTorch (cuDNN)", 20.0, 1.0)]
    assert all(line.endswith("NOT met") for line in bench.format_cuda_ratios(slow))
    assert len(bench.format_cuda_ratios(rows[:2])) == 1          # no PyTorch: one ratio
    row_text = bench.format_cuda_train_row(rows[0])
    assert row_text.startswith("ours (CUDA kernels)") and "1.50x" in row_text
    assert "/ PyTorch" in bench.format_cuda_train_header()


def test_ci_gpu_script_says_no_gpu_in_one_line_and_exits_3():
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    if bench.backend.gpu_available():
        pytest.skip("a GPU is here: the script would run the GPU checks")
    root = Path(__file__).resolve().parents[1]
    script = root / ".ci" / "gpu"
    assert os.access(script, os.X_OK), ".ci/gpu should be executable"
    env = dict(os.environ, PYTHON=sys.executable)
    done = subprocess.run([bash, str(script)], cwd=root, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 3, done.stdout + done.stderr
    output = (done.stdout + done.stderr).strip()
    assert len(output.splitlines()) == 1 and "no usable GPU" in output
    assert "Traceback" not in output


def test_torch_losses_equal_ours():
    torch = pytest.importorskip("torch")
    assert set(bench.TORCH_LOSSES) == set(losses.LOSSES)
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((3, 1, 8, 8))
    targets = (rng.random((3, 1, 8, 8)) < 0.3).astype(np.float64)
    for name, (forward, _) in losses.LOSSES.items():
        ours, _ = forward(logits, targets)
        theirs = bench.TORCH_LOSSES[name](torch.from_numpy(logits), torch.from_numpy(targets))
        np.testing.assert_allclose(float(ours), float(theirs), rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("loss", ["dice", "dice+bce"])
def test_training_step_matches_pytorch(loss):
    """One step (forward, loss, backward, Adam) from the same weights on the same batch gives
    the same loss, the same gradients and the same updated weights in both."""
    torch = pytest.importorskip("torch")
    model = UNet(base_channels=4, depth=2, seed=7)
    theirs = bench.torch_unet(base_channels=4, depth=2)
    bench.copy_weights_to_torch(model, theirs)
    x, t = bench.make_batch(2, 32, seed=3)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    their_optimizer = torch.optim.Adam(theirs.parameters(), lr=1e-3)

    ours_loss = bench.ours_training_step(model, optimizer, loss, x, t)
    their_loss = bench.torch_training_step(theirs, their_optimizer, loss, torch.from_numpy(x),
                                           torch.from_numpy(t))
    assert ours_loss.dtype == np.float32
    np.testing.assert_allclose(float(ours_loss), float(their_loss), rtol=1e-5)
    their_parameters = dict(theirs.named_parameters())
    for name, parameter in model.named_parameters():
        their_parameter = their_parameters[name]
        scale = float(np.abs(parameter.grad).max())
        np.testing.assert_allclose(parameter.grad, their_parameter.grad.numpy(), rtol=1e-4,
                                   atol=1e-5 * scale, err_msg=f"gradient of {name}")
        np.testing.assert_allclose(parameter.data, their_parameter.detach().numpy(), rtol=1e-4,
                                   atol=1e-5, err_msg=f"{name} after the step")
