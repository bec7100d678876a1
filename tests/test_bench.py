"""The benchmarks run and report their numbers (smoke tests: speed is shown by the script, not
tested), and the training step they time in PyTorch is the same computation as ours."""

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
