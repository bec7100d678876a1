"""The benchmarks run and report their numbers (smoke tests: speed is shown by the script, not
tested), the training step they time in PyTorch is the same computation as ours, and torch is
imported only when a comparison with it runs."""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from unet_from_scratch import backend, losses, optim
from unet_from_scratch.bench import environment, ops, processes, report, steps
from unet_from_scratch.bench.command import insert_default_command
from unet_from_scratch.cli.command import main
from unet_from_scratch.model import UNet
from unet_from_scratch.train import train_step

ROOT = Path(__file__).resolve().parents[1]
TORCH_INSTALLED = importlib.util.find_spec("torch") is not None


def test_ops_benchmark_smoke():
    rows = ops.run_ops_benchmark(batch=1, repeats=1, warmup=0)
    assert [row["op"] for row in rows] == [case[0] for case in ops.OPS_CASES]
    for row in rows:
        assert row["ours_fwd_ms"] > 0 and row["ours_fwd_bwd_ms"] > 0
        if TORCH_INSTALLED:
            assert row["max_abs_diff_fwd"] < 1e-3      # the two compute the same thing
        else:
            assert row["torch_fwd_bwd_ms"] is None and row["ratio_fwd_bwd"] is None
    assert rows[3]["output_shape"] == (1, 512, 12, 12)
    assert "ours f+b" in report.format_ops_header()
    assert report.format_ops_row(rows[0]).startswith("conv2d 3x3 p1")


def test_train_benchmark_smoke():
    rows = steps.run_train_benchmark(batch=2, size=32, base_channels=4, depth=2, repeats=2,
                                     warmup=1, with_torch=False)
    assert len(rows) == 1
    row = rows[0]
    assert row["name"] == "ours (NumPy)" and row["ratio"] is None
    assert 0 < row["min_ms"] <= row["ms"] <= row["max_ms"]
    assert row["images_per_s"] > 0 and row["peak_bytes"] > 0
    assert 0 < row["first_loss"] < 1
    assert report.format_train_row(row).startswith("ours (NumPy)")


def test_train_benchmark_with_pytorch_gives_each_row_its_ratio():
    pytest.importorskip("torch")
    rows = steps.run_train_benchmark(batch=2, size=32, base_channels=4, depth=2, repeats=2,
                                     warmup=1)
    assert [row["name"] for row in rows] == ["ours (NumPy)", "PyTorch (cpu)"]
    assert rows[0]["ratio"] == pytest.approx(rows[0]["ms"] / rows[1]["ms"])
    assert rows[1]["ratio"] == 1.0
    np.testing.assert_allclose(rows[0]["first_loss"], rows[1]["first_loss"], rtol=1e-5)


def test_importing_the_benchmarks_and_running_without_pytorch_do_not_import_torch():
    code = ("import sys\n"
            "import unet_from_scratch.bench, unet_from_scratch.bench.command\n"
            "import unet_from_scratch.cli.command\n"
            "assert 'torch' not in sys.modules, 'imported by importing'\n"
            "from unet_from_scratch.bench import run_train_benchmark\n"
            "run_train_benchmark(batch=1, size=16, base_channels=2, depth=1, repeats=1, warmup=1,\n"
            "                    with_torch=False)\n"
            "assert 'torch' not in sys.modules, 'imported by the run'\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


def test_default_command_is_train():
    assert insert_default_command(["bench"]) == ["bench", "train"]
    assert insert_default_command(["bench", "--repeats", "3"]) == ["bench", "train", "--repeats",
                                                                   "3"]
    for argv in (["bench", "ops"], ["bench", "-h"], ["bench", "--help"], ["train", "--epochs", "1"],
                 []):
        assert insert_default_command(argv) == argv


def test_train_command_prints_configuration_and_table(capsys):
    status = main(["bench", "--batch", "2", "--size", "32", "--base-channels", "4", "--depth", "2",
                   "--repeats", "1", "--warmup", "1", "--method", "blocks"])
    assert status == 0
    out = capsys.readouterr().out
    assert "training-step benchmark (cpu)" in out
    assert "UNet(base_channels=4, depth=2, padding='same'), 7,397 parameters" in out
    assert "2 x 1 x 32 x 32 float32" in out and "numpy" in out and "cpu cores" in out
    assert "ms/step" in out and "images/s" in out and "peak MiB" in out and "/ PyTorch" in out
    assert "goal         ours (NumPy) within 1.5x of PyTorch's time per step" in out
    assert "ours (NumPy)" in out
    assert ("PyTorch (cpu)" in out) == TORCH_INSTALLED
    assert ("goal: at most 1.5x" in out) == TORCH_INSTALLED
    assert "issue" not in out.lower()


def test_ops_command_prints_configuration_and_table(capsys):
    assert main(["bench", "ops", "--batch", "1", "--repeats", "1", "--warmup", "0"]) == 0
    out = capsys.readouterr().out
    assert "ops benchmark (CPU)" in out and "median of 1 runs after 0 warm-up run(s)" in out
    assert "max_pool2d 2x2" in out and "f+b ours/torch" in out
    assert ("PyTorch is not installed" in out) != TORCH_INSTALLED


def test_train_command_refuses_a_size_that_does_not_fit_and_a_missing_gpu(capsys):
    assert main(["bench", "train", "--size", "30", "--depth", "2"]) == 2
    assert "--size 30 does not fit" in capsys.readouterr().err
    if not backend.gpu_available():
        assert main(["bench", "--device", "cuda"]) == 2
        err = capsys.readouterr().err
        assert "gpu_available() is False" in err and "Traceback" not in err


def test_cuda_train_command_refuses_cleanly_without_a_gpu(capsys):
    if backend.gpu_available():
        pytest.skip("a GPU is here: the refusal cannot be seen")
    for argv in (["bench", "train", "--device", "cuda"],
                 ["bench", "--device", "cuda", "--batch", "4", "--size", "64"]):
        assert main(argv) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert "--device cuda needs a usable GPU" in captured.err
        assert len(captured.err.strip().splitlines()) == 1
        assert "Traceback" not in captured.err


def test_train_configurations():
    # The CPU keeps its one default; on the GPU both sizes unless one is asked for.
    assert steps.train_configurations("cpu") == [(8, 96)]
    assert steps.train_configurations("cpu", batch=2, size=32) == [(2, 32)]
    assert steps.train_configurations("cuda") == [(32, 128), (32, 96)]
    assert steps.train_configurations("cuda", batch=16) == [(16, 128)]
    assert steps.train_configurations("cuda", size=64) == [(32, 64)]
    assert steps.train_configurations("cuda", batch=8, size=96) == [(8, 96)]


def test_ours_gpu_paths_put_the_kernels_first():
    paths = steps.ours_gpu_paths()
    assert [path for _, path in paths] == ["kernels", "cupy"]
    assert [label for label, _ in paths] == ["ours (CUDA kernels)", "ours (plain CuPy)"]
    assert steps.ours_contenders("cuda") == paths
    assert steps.ours_contenders("cpu") == [("ours (NumPy)", None)]


def test_disable_tf32_sets_cupy_tf32_to_zero(monkeypatch):
    torch = environment.import_torch()
    monkeypatch.setenv("CUPY_TF32", "1")
    saved = None
    if torch is not None:
        saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    try:
        assert environment.disable_tf32(torch) == "1"
        assert os.environ["CUPY_TF32"] == "0"
        if torch is not None:
            assert torch.backends.cuda.matmul.allow_tf32 is False
            assert torch.backends.cudnn.allow_tf32 is False
    finally:
        if saved is not None:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
    monkeypatch.delenv("CUPY_TF32")
    assert environment.disable_tf32() is None


FAKE_CUDA_INFO = {
    "python": "3.11.7", "numpy": "2.4.6", "blas": None, "torch": "2.8.0+cu128",
    "torch_threads": 8, "torch_threads_why": "set to match NumPy's BLAS",
    "machine": "AMD EPYC, x86_64, Linux", "cpu_count": 16, "device": "cuda",
    "gpu": "NVIDIA H100 80GB HBM3", "cupy": "13.6.0", "cuda_runtime": "12.8", "cuda_driver": "12.9",
    "cupy_tf32": "0", "cupy_tf32_before": None, "cupy_compute_type": "COMPUTE_TYPE_DEFAULT",
    "nvidia_tf32_override": None, "torch_cuda": "12.8", "cudnn": "91002",
    "torch_tf32_matmul": False, "torch_tf32_cudnn": False,
}


def test_cuda_header_states_the_tf32_settings_and_versions():
    text = "\n".join(environment.format_cuda_environment(FAKE_CUDA_INFO))
    assert "NVIDIA H100 80GB HBM3" in text and "runtime 12.8" in text and "driver 12.9" in text
    assert "cupy         13.6.0" in text
    assert "CUPY_TF32=0 (was unset)" in text and "COMPUTE_TYPE_DEFAULT" in text
    assert "NVIDIA_TF32_OVERRIDE=unset" in text
    assert "2.8.0+cu128, CUDA 12.8, cuDNN 91002" in text
    assert "torch.backends.cuda.matmul.allow_tf32=False" in text
    assert "torch.backends.cudnn.allow_tf32=False" in text

    overridden = dict(FAKE_CUDA_INFO, cupy_tf32_before="1", torch_cuda=None, cudnn=None,
                      torch_tf32_matmul=None, torch_tf32_cudnn=None, torch="2.8.0+cpu")
    text = "\n".join(environment.format_cuda_environment(overridden))
    assert "CUPY_TF32=0 (was '1', set to 0 here)" in text
    assert "2.8.0+cpu, no CUDA: not timed" in text and "allow_tf32" not in text
    no_torch = dict(overridden, torch=None)
    assert "torch gpu    not installed" in "\n".join(environment.format_cuda_environment(no_torch))


def test_cuda_configuration_states_paths_timing_and_the_goal():
    text = "\n".join(report.format_train_configuration(
        FAKE_CUDA_INFO, [(32, 128), (32, 96)], 32, 4, 7759521, "dice", 1e-3, 10, 2))
    assert "training-step benchmark (cuda)" in text and "NVIDIA H100 80GB HBM3" in text
    assert "batches      32 x 1 x 128 x 128, 32 x 1 x 96 x 96 float32" in text
    assert "ours (CUDA kernels): gpu_path 'kernels', ours (plain CuPy): gpu_path 'cupy'" in text
    assert "median of 10 steps after 2 warm-up step(s)" in text and "CUDA events" in text
    assert "growth of CuPy's memory pool" in text
    assert "goal         ours (CUDA kernels) at PyTorch's speed: at most 1x" in text
    assert "issue" not in text.lower()


def fake_row(name, ms, ratio=None):
    row = steps.train_row(name, 32, 0.9, [ms], None)
    row["ratio"] = ratio
    return row


def test_ratio_lines_against_the_goals():
    rows = [fake_row("ours (CUDA kernels)", 18.0, 0.9), fake_row("ours (plain CuPy)", 72.0, 3.6),
            fake_row("PyTorch (cuDNN)", 20.0, 1.0)]
    lines = report.format_ratio_lines(rows, "cuda")
    assert len(lines) == 2
    assert "ours (CUDA kernels) / PyTorch" in lines[0] and "0.90x" in lines[0]
    assert "goal: at most 1x" in lines[0] and lines[0].endswith(" met")
    assert "plain CuPy / ours (CUDA kernels)" in lines[1] and "4.00x" in lines[1]
    assert "goal" not in lines[1] and "met" not in lines[1]          # information, no target
    slow = [fake_row("ours (CUDA kernels)", 30.0, 1.5), fake_row("PyTorch (cuDNN)", 20.0, 1.0)]
    assert report.format_ratio_lines(slow, "cuda")[0].endswith("NOT met")
    assert len(report.format_ratio_lines(rows[:2], "cuda")) == 1     # no PyTorch: one ratio
    row_text = report.format_train_row(rows[0])
    assert row_text.startswith("ours (CUDA kernels)") and "0.90x" in row_text
    assert "/ PyTorch" in report.format_train_header()

    cpu = [fake_row("ours (NumPy)", 1361.2, 1.42), fake_row("PyTorch (cpu)", 957.8, 1.0)]
    line, = report.format_ratio_lines(cpu, "cpu")
    assert "ours (NumPy) / PyTorch" in line and "1.42x" in line
    assert "goal: at most 1.5x" in line and line.endswith(" met")
    cpu_slow = [fake_row("ours (NumPy)", 1600.0, 1.67), fake_row("PyTorch (cpu)", 957.8, 1.0)]
    assert report.format_ratio_lines(cpu_slow, "cpu")[0].endswith("NOT met")
    assert report.format_ratio_lines(cpu[:1], "cpu") == []


def test_ci_gpu_script_says_no_gpu_in_one_line_and_exits_3():
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    if backend.gpu_available():
        pytest.skip("a GPU is here: the script would run the GPU checks")
    script = ROOT / ".ci" / "gpu"
    assert os.access(script, os.X_OK), ".ci/gpu should be executable"
    env = dict(os.environ, PYTHON=sys.executable)
    done = subprocess.run([bash, str(script)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 3, done.stdout + done.stderr
    output = (done.stdout + done.stderr).strip()
    assert len(output.splitlines()) == 1 and "no usable GPU" in output
    assert "Traceback" not in output


def test_torch_losses_equal_ours():
    torch = pytest.importorskip("torch")
    from unet_from_scratch.bench import twin
    assert set(twin.TORCH_LOSSES) == set(losses.LOSSES)
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((3, 1, 8, 8))
    targets = (rng.random((3, 1, 8, 8)) < 0.3).astype(np.float64)
    for name, (forward, _) in losses.LOSSES.items():
        ours, _ = forward(logits, targets)
        theirs = twin.TORCH_LOSSES[name](torch.from_numpy(logits), torch.from_numpy(targets))
        np.testing.assert_allclose(float(ours), float(theirs), rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("loss", ["dice", "dice+bce"])
def test_training_step_matches_pytorch(loss):
    """One step (forward, loss, backward, Adam) from the same weights on the same batch gives
    the same loss, the same gradients and the same updated weights in both."""
    torch = pytest.importorskip("torch")
    from unet_from_scratch.bench import twin
    model = UNet(base_channels=4, depth=2, seed=7)
    theirs = twin.torch_unet(base_channels=4, depth=2)
    twin.copy_weights_to_torch(model, theirs)
    x, t = steps.make_batch(2, 32, seed=3)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    their_optimizer = torch.optim.Adam(theirs.parameters(), lr=1e-3)

    loss_forward, loss_backward = losses.LOSSES[loss]
    ours_loss = train_step(model, optimizer, loss_forward, loss_backward, x, t)
    their_loss = twin.torch_training_step(theirs, their_optimizer, loss, torch.from_numpy(x),
                                          torch.from_numpy(t))
    assert ours_loss.dtype == np.float32 and ours_loss.shape == ()
    np.testing.assert_allclose(float(ours_loss), float(their_loss), rtol=1e-5)
    their_parameters = dict(theirs.named_parameters())
    for name, parameter in model.named_parameters():
        their_parameter = their_parameters[name]
        scale = float(np.abs(parameter.grad).max())
        np.testing.assert_allclose(parameter.grad, their_parameter.grad.numpy(), rtol=1e-4,
                                   atol=1e-5 * scale, err_msg=f"gradient of {name}")
        np.testing.assert_allclose(parameter.data, their_parameter.detach().numpy(), rtol=1e-4,
                                   atol=1e-5, err_msg=f"{name} after the step")


def test_twin_crops_skips_as_ours_with_valid_padding():
    """With padding "valid" the skip connections are cropped by the package's center-crop
    rule, in the twin as in ours: the outputs are equal."""
    torch = pytest.importorskip("torch")
    from unet_from_scratch.bench import twin
    ours = UNet(base_channels=2, depth=2, padding="valid", seed=1)
    theirs = twin.torch_unet(base_channels=2, depth=2, padding="valid")
    twin.copy_weights_to_torch(ours, theirs)
    x = np.random.default_rng(0).standard_normal((1, 1, 44, 44)).astype(np.float32)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours(x), expected, rtol=1e-4, atol=1e-5)


def test_train_command_in_processes_prints_each_run_the_ratio_and_the_summary(capsys):
    """The CPU default: each contender in processes of its own, alternating."""
    status = main(["bench", "--batch", "2", "--size", "32", "--base-channels", "4", "--depth", "2",
                   "--repeats", "1", "--warmup", "1", "--runs", "1"])
    assert status == 0
    out = capsys.readouterr().out
    assert "each contender in a process of its own" in out and "1 pair(s)" in out
    assert "as asked: UNet(base_channels=4, depth=2), 2 x 1 x 32 x 32" in out
    assert "Summary (medians over the runs)" in out
    run_line = next(line for line in out.splitlines() if line.startswith("1 "))
    if TORCH_INSTALLED:
        assert "ours / PyTorch (time): median" in out and "spread" in out
        assert "ours / PyTorch (peak memory)" in out
        losses_shown = run_line.split()[-2:]
        np.testing.assert_allclose(*map(float, losses_shown), rtol=1e-5)   # the same step
    else:
        assert "PyTorch is not installed" in out


def test_cpu_default_is_the_three_configurations_users_run():
    from unet_from_scratch.bench.command import cpu_configurations
    from argparse import Namespace
    nothing = Namespace(batch=None, size=None, base_channels=None, depth=None)
    assert [tuple(config)[1:] for config in cpu_configurations(nothing)] == [
        (8, 3, 8, 64), (16, 4, 16, 128), (32, 4, 8, 96)]
    one = cpu_configurations(Namespace(batch=None, size=64, base_channels=None, depth=3))
    assert [tuple(config)[1:] for config in one] == [(32, 3, 8, 64)]


def fake_process_row(ms, peak, cpu_ms=None):
    return dict(steps.train_row("x", 8, 0.9, [ms], peak), cpu_ms=cpu_ms, load=0.5)


def test_process_results_give_the_median_ratio_its_spread_and_memory_against_the_goals():
    config = processes.CPU_CONFIGURATIONS[0]
    runs = [(fake_process_row(70.0, 30 * 2**20, 130), fake_process_row(35.0, 20 * 2**20), 2.0),
            (fake_process_row(60.0, 30 * 2**20), fake_process_row(40.0, 20 * 2**20), 1.5),
            (fake_process_row(90.0, 32 * 2**20), fake_process_row(45.0, 20 * 2**20), 2.0)]
    result = processes.summarize(config, runs)
    assert (result["ratio"], result["min_ratio"], result["max_ratio"]) == (2.0, 1.5, 2.0)
    assert result["ours_ms"] == 70.0 and result["torch_ms"] == 40.0
    time_line, memory_line = processes.format_verdict(result)
    assert "median 2.00x over 3 run(s), spread 1.50-2.00x" in time_line
    assert time_line.endswith("NOT met")
    assert "30 / 20 MiB = 1.50x" in memory_line and memory_line.endswith(" met")
    row = processes.format_run(0, runs[0])
    assert row.split()[:6] == ["1", "70.0", "130", "35.0", "-", "2.00x"]
    summary = "\n".join(processes.format_summary([result]))
    assert "the main job's: UNet(base_channels=8, depth=3), 8 x 1 x 64 x 64" in summary
    assert "1.50-2.00x" in summary

    alone = processes.summarize(config, [(fake_process_row(70.0, 1), None, None)])
    assert alone["ratio"] is None and processes.format_verdict(alone) == []
    assert processes.format_run(0, (fake_process_row(70.0, 1), None, None)).split()[3] == "-"


def test_a_failing_child_process_is_reported_in_one_line():
    config = processes.Configuration("broken", 4, 2, 2, 30)      # 30 does not fit depth 2
    with pytest.raises(RuntimeError, match="the ours process for broken: .* failed"):
        processes.measure_in_child("ours", config, 1, 1, "dice", 1e-3)
