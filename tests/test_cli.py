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
    """Zero tolerances make the checks fail on rounding alone: the command says so and exits 1."""
    assert main(["gradcheck", "--rtol", "0", "--atol", "0"]) == 1
    assert "ops FAILED" in capsys.readouterr().out


def test_python_dash_m_and_version():
    result = subprocess.run([sys.executable, "-m", "unet_from_scratch", "--version"],
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == f"unet-scratch {__version__}"


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    assert "COMMAND" in capsys.readouterr().err
