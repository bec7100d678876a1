"""Small cases of bad input through the Python API: each gets the package's own one-line
error instead of a traceback from inside, or a value silently taken for another."""

import numpy as np
import pytest

from unet_from_scratch import nn, ops, train
from unet_from_scratch.cli import command as cli
from unet_from_scratch.cli import parser as cli_parser
from unet_from_scratch.data.synthetic import make_synthetic_ultrasound
from unet_from_scratch.model import UNet
from unet_from_scratch.progress import ProgressBar, format_eta


@pytest.mark.parametrize("options, error, message", [
    ({"batch_norm": "no"}, TypeError, "UNet: batch_norm must be True or False, got 'no'"),
    ({"batch_norm": 1}, TypeError, "UNet: batch_norm must be True or False"),
    ({"seed": -1}, ValueError, "UNet: seed must be an int >= 0, got -1"),
    ({"dropout": "0.5"}, TypeError, "UNet: dropout must be a real number"),
])
def test_unet_refuses_options_it_would_misread(options, error, message):
    with pytest.raises(error, match=message):
        UNet(base_channels=2, depth=1, **options)


def test_backward_before_forward_is_named():
    with pytest.raises(ValueError, match=r"ReLU.backward: call forward first"):
        nn.ReLU().backward(np.ones((1, 1, 2, 2), np.float32))
    with pytest.raises(ValueError, match=r"Conv2d.backward: call forward first"):
        nn.Conv2d(1, 1, 3).backward(np.ones((1, 1, 2, 2), np.float32))
    with pytest.raises(ValueError, match=r"UNet.backward: call forward first"):
        UNet(base_channels=2, depth=1).backward(np.ones((1, 1, 8, 8), np.float32))


@pytest.mark.parametrize("backward", [ops.conv2d_backward, ops.max_pool2d_backward,
                                      ops.relu_backward, ops.sigmoid_backward,
                                      ops.concat_backward, ops.conv_transpose2d_backward])
def test_an_op_backward_without_its_cache_is_named(backward):
    op = backward.__name__
    with pytest.raises(TypeError, match=rf"{op}: cache must be what "
                                        rf"{op.replace('backward', 'forward')} returned, got None"):
        backward(np.ones((1, 1, 2, 2), np.float32), None)


@pytest.mark.parametrize("train_set, val_set, message", [
    ("pair", None, r"fit: the val set must be a pair \(images, masks\), got NoneType"),
    ("images", "pair", r"fit: the train set must be a pair \(images, masks\), got an array "
                       r"of shape \(4, 32, 32\)"),
])
def test_fit_names_a_data_set_that_is_not_a_pair(train_set, val_set, message):
    pair = make_synthetic_ultrasound(4, 32, seed=1)
    given = {"pair": pair, "images": pair[0], None: None}
    with pytest.raises(TypeError, match=message):
        train.fit(UNet(base_channels=2, depth=1), given[train_set], given[val_set], epochs=1,
                  progress=False, log=lambda line: None)


@pytest.mark.parametrize("lr", [0, -1, float("nan"), float("inf")])
def test_fit_refuses_a_learning_rate_that_is_not_a_positive_number(lr):
    pair = make_synthetic_ultrasound(4, 32, seed=1)
    with pytest.raises(ValueError, match="fit: lr must be a finite number > 0"):
        train.fit(UNet(base_channels=2, depth=1), pair, pair, lr=lr, progress=False)


def test_ctrl_c_while_the_command_line_starts_is_one_line(monkeypatch, capsys):
    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_parser, "build_parser", interrupted)
    assert cli.main(["train"]) == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_the_progress_bar_shows_an_eta(monkeypatch):
    import io
    stream, clock = io.StringIO(), iter([0.0, 10.0])
    monkeypatch.setattr("unet_from_scratch.progress.time.perf_counter", lambda: next(clock))
    bar = ProgressBar(8, "epoch 1/2", stream)
    bar.update(2, 16, 0.5)                          # 2 of 8 steps in 10 s: 30 s left
    assert "2/8 loss 0.5000 2 img/s ETA 0:30" in stream.getvalue()
    assert format_eta(3600, 1, 3) == "2:00:00" and format_eta(0, 0, 3) == "?"


def test_a_short_prediction_draws_no_bar_but_a_long_one_does(monkeypatch):
    import io
    stream = io.StringIO()
    clock = iter([0.0, 1.0, 3.0])
    monkeypatch.setattr("unet_from_scratch.progress.time.perf_counter", lambda: next(clock))
    bar = ProgressBar(3, "predict", stream, delay=2.0)
    bar.update(1, 1)                                # 1 s: under the delay, nothing drawn
    assert stream.getvalue() == ""
    bar.update(2, 2)                                # 3 s: drawn, with an ETA
    assert "predict [" in stream.getvalue() and "ETA 0:02" in stream.getvalue()


def test_the_command_line_starts_without_importing_numpy_so_ctrl_c_is_caught_from_the_start():
    """Everything heavy is imported inside main(), where Ctrl-C is one line and status 130."""
    import subprocess
    import sys
    code = "import sys, unet_from_scratch.cli.command; print(sorted({'numpy', 'skimage'} & " \
           "set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
