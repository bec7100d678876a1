"""The command line works as README says."""

import subprocess
import sys

import pytest

from unet_from_scratch import __version__, nn
from unet_from_scratch.cli.command import main
from unet_from_scratch.model import UNet


def test_gradcheck_command_checks_every_op(capsys):
    assert main(["gradcheck"]) == 0
    out = capsys.readouterr().out
    assert "all 10 ops passed" in out
    for op in ["conv2d", "conv_transpose2d", "max_pool2d", "concat", "center_crop", "relu", "sigmoid",
               "bias_add"]:
        assert op in out
    assert "FAILED" not in out


def test_gradcheck_directional(capsys):
    assert main(["gradcheck", "--method", "directional", "--seed", "3"]) == 0
    assert "directional gradient check in float64" in capsys.readouterr().out


def test_gradcheck_reports_failure(capsys):
    """A step of 1 makes central differences wrong wherever the op is curved (sigmoid) or
    has a kink within the step (relu, max pooling): the command names those ops and
    exits 1.  The convolutions are linear in each input, so they still pass."""
    assert main(["gradcheck", "--only", "ops", "--eps", "1"]) == 1
    summary = capsys.readouterr().out.splitlines()[-1]
    assert summary.startswith("4 of 10 ops FAILED: max_pool2d 2x2, ")
    assert "relu" in summary and "sigmoid" in summary and "conv2d" not in summary


def network_lines(out):
    """The report's tensor lines by name: {"head.weight": "head.weight  (1, 4, 1, 1) ... pass"}."""
    return {line.split()[0]: line.strip() for line in out.splitlines()
            if line.startswith("  ") and line.rstrip().endswith(("pass", "pass*", "FAIL"))}


def test_gradcheck_reports_the_whole_network_per_parameter(capsys):
    assert main(["gradcheck", "--only", "network"]) == 0
    out = capsys.readouterr().out
    assert "all 10 ops passed" not in out                  # --only network: no op checks
    assert "through the dice+bce loss" in out and "x (1, 1, 32, 32)" in out
    model = UNet(base_channels=4, depth=2)
    names = ["x"] + [name for name, _ in model.named_parameters()] + ["(all)"]
    lines = network_lines(out)
    assert list(lines) == names                            # every parameter, in order
    assert all(line.endswith("pass") or line.endswith("pass*") for line in lines.values())
    assert "encoders.0.0  (Conv2d)" in out and "ups.1  (ConvTranspose2d)" in out
    assert out.splitlines()[-1].startswith("network check passed: all 28 checks: 26 parameter "
                                           "tensors with 7,397 values")


def test_gradcheck_network_options(capsys):
    assert main(["gradcheck", "--only", "network", "--network-depth", "3", "--batch-norm",
                 "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "depth=3, padding='same', batch_norm=True" in out and "x (1, 1, 32, 32)" in out
    assert "decoders.2.4  (BatchNorm2d)" in out and "network check passed" in out
    assert main(["gradcheck", "--only", "network", "--padding", "valid"]) == 0
    out = capsys.readouterr().out           # valid: the smallest input >= 32 that fits
    assert "padding='valid'" in out and "x (1, 1, 44, 44), binary targets (1, 1, 4, 4)" in out


def test_gradcheck_network_catches_a_wrong_backward(capsys, monkeypatch):
    """Scale the up-convolutions' input gradient by 1.001: every tensor below the shallower
    up-convolution (ups.1) fails, those above it (ups.1, decoders.1, head) still pass."""
    correct = nn.ConvTranspose2d.backward
    monkeypatch.setattr(nn.ConvTranspose2d, "backward", lambda self, dy: 1.001 * correct(self, dy))
    assert main(["gradcheck"]) == 1
    out = capsys.readouterr().out
    assert "all 10 ops passed" in out                      # the ops themselves are right
    lines = network_lines(out)
    for name in ["x", "encoders.0.0.weight", "bottleneck.0.2.weight", "ups.0.weight",
                 "decoders.0.2.bias", "(all)"]:
        assert lines[name].endswith("FAIL"), lines[name]
    for name in ["ups.1.weight", "ups.1.bias", "decoders.1.0.weight", "head.weight", "head.bias"]:
        assert lines[name].endswith("pass"), lines[name]
    assert "network check FAILED: 20 of 28 checks" in out
    assert out.splitlines()[-1] == "gradcheck FAILED: network"


def test_python_dash_m_and_version():
    result = subprocess.run([sys.executable, "-m", "unet_from_scratch", "--version"],
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == f"unet-scratch {__version__}"


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_bench_help_and_unknown_arguments(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "ops", "--help"])
    assert exit_info.value.code == 0
    assert "usage: unet-scratch bench ops" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["gradcheck", "--bogus"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
