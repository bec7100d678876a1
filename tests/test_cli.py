"""The command line works as README says."""

import subprocess
import sys

import pytest

from unet_from_scratch import __version__
from unet_from_scratch.cli import main


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
    assert main(["gradcheck", "--eps", "1"]) == 1
    summary = capsys.readouterr().out.splitlines()[-1]
    assert summary.startswith("4 of 10 ops FAILED: max_pool2d 2x2, ")
    assert "relu" in summary and "sigmoid" in summary and "conv2d" not in summary


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
