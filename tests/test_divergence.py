"""A run whose loss or gradients turn non-finite stops at once; no checkpoint with NaN or inf
is written, and none is loaded -- by fit, predict, evaluate or train --resume."""

import os

import numpy as np
import pytest

from unet_from_scratch import train
from unet_from_scratch.cli import command as cli
from unet_from_scratch.data.synthetic import make_synthetic_ultrasound
from unet_from_scratch.model import UNet

TINY = ["--size", "32", "--train-images", "16", "--val-images", "4", "--base-channels", "4",
        "--depth", "2", "--batch", "8", "--quiet"]


def data(n, seed):
    return make_synthetic_ultrasound(n, 32, seed=seed)


def quiet_fit(model, **options):
    return train.fit(model, data(16, 1), data(4, 2), batch_size=4, progress=False,
                     log=lambda line: None, **options)


def test_a_huge_learning_rate_stops_at_the_first_bad_step_naming_epoch_and_step(tmp_path):
    checkpoint = str(tmp_path / "run.npz")
    with pytest.raises(train.TrainingDiverged,
                       match=r"fit: training diverged at epoch 1, step \d of 4: .*smaller "
                             r"learning rate than lr=1e\+06"):
        quiet_fit(UNet(base_channels=4, depth=2), lr=1e6, epochs=3, checkpoint=checkpoint)
    assert os.listdir(tmp_path) == []                # nothing of the bad epoch was saved


def test_the_step_reported_is_the_first_bad_one_even_when_read_back_late(monkeypatch):
    """On a GPU the losses are read back in groups; the first bad step must still be named.
    Here the group is the whole epoch (as on a GPU) and step 3's loss is NaN."""
    real_step, calls = train.train_step, []

    def nan_at_step_3(*args):
        value = real_step(*args)
        calls.append(1)
        return np.float64(np.nan) if len(calls) == 3 else value

    monkeypatch.setattr(train, "train_step", nan_at_step_3)
    monkeypatch.setattr(train, "get_array_module", lambda x: _DeferredNumpy)
    with pytest.raises(train.TrainingDiverged, match=r"epoch 1, step 3 of 4: the loss is nan"):
        quiet_fit(UNet(base_channels=4, depth=2), epochs=1)


class _DeferredNumpy:
    """NumPy under another name, so that fit treats the steps as on a device (read late)."""
    stack, asarray, isfinite, sum, float64 = (np.stack, np.asarray, np.isfinite, np.sum,
                                              np.float64)


def test_a_non_finite_gradient_stops_the_run_even_with_a_finite_loss(monkeypatch):
    real_finite = train.gradients_finite
    monkeypatch.setattr(train, "gradients_finite",
                        lambda model: np.bool_(False) if model.training else real_finite(model))
    with pytest.raises(train.TrainingDiverged, match=r"step 1 of 4: a gradient is not finite"):
        quiet_fit(UNet(base_channels=4, depth=2), epochs=1)


def test_the_last_good_checkpoint_stays_intact_when_a_later_epoch_diverges(tmp_path,
                                                                         monkeypatch):
    checkpoint = str(tmp_path / "run.npz")
    quiet_fit(UNet(base_channels=4, depth=2), epochs=1, checkpoint=checkpoint)
    last = train.last_checkpoint_path(checkpoint)
    before = open(last, "rb").read()
    real_step, calls = train.train_step, []

    def inf_at_step_2(*args):
        calls.append(1)
        return np.float32(np.inf) if len(calls) == 2 else real_step(*args)

    monkeypatch.setattr(train, "train_step", inf_at_step_2)
    with pytest.raises(train.TrainingDiverged, match="epoch 2, step 2 of 4: the loss is inf"):
        quiet_fit(UNet(base_channels=4, depth=2), epochs=2, checkpoint=checkpoint, resume=last)
    assert open(last, "rb").read() == before
    train.load_checkpoint(last)                       # and it still loads


def nan_checkpoint(path):
    """A checkpoint file whose weights hold a NaN, written around save_checkpoint's guard."""
    model = UNet(base_channels=4, depth=2)
    train.save_checkpoint(path, model, None, {"epoch": 1, "best_val_dice": 0.5,
                                              "history": {}, "run": {}})
    with np.load(path) as stored:
        arrays = dict(stored)
    arrays["model/head.weight"] = np.full_like(arrays["model/head.weight"], np.nan)
    np.savez(path, **arrays)
    return path


def test_save_checkpoint_refuses_non_finite_values_and_keeps_the_old_file(tmp_path):
    path = str(tmp_path / "c.npz")
    model = UNet(base_channels=4, depth=2)
    train.save_checkpoint(path, model, None, {"epoch": 1})
    before = open(path, "rb").read()
    model.head.weight.data[0, 0, 0, 0] = np.inf
    with pytest.raises(ValueError, match=r"save_checkpoint: refusing to write .*c.npz: "
                                         r"non-finite values \(NaN or inf\) in model/head.weight"):
        train.save_checkpoint(path, model, None, {"epoch": 2})
    assert open(path, "rb").read() == before


def test_load_checkpoint_refuses_non_finite_weights(tmp_path):
    path = nan_checkpoint(str(tmp_path / "nan.npz"))
    with pytest.raises(ValueError, match=r"load_checkpoint: .*nan.npz holds a diverged model: "
                                         r"non-finite values \(NaN or inf\) in head.weight"):
        train.load_checkpoint(path)


@pytest.mark.parametrize("argv", [
    ["predict", "{ckpt}", "{image}", "--out", "{tmp}/masks"],
    ["evaluate", "{ckpt}", "--data", "synthetic"],
    ["train", *TINY, "--epochs", "3", "--out", "{tmp}", "--resume", "{ckpt}"],
])
def test_the_command_line_refuses_a_diverged_checkpoint(argv, tmp_path, capsys):
    from skimage import io as skio
    image = str(tmp_path / "scan.png")
    skio.imsave(image, np.zeros((32, 32), np.uint8), check_contrast=False)
    ckpt = nan_checkpoint(str(tmp_path / "nan.npz"))
    argv = [a.format(ckpt=ckpt, image=image, tmp=tmp_path) for a in argv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "holds a diverged model" in err and len(err.strip().splitlines()) == 1
    assert not os.path.exists(tmp_path / "masks")


def test_train_with_a_huge_learning_rate_exits_non_zero_in_one_line_and_leaves_nothing(
        tmp_path, capsys):
    out = tmp_path / "huge"
    status = cli.main(["train", *TINY, "--epochs", "3", "--lr", "1e6", "--out", str(out)])
    _, err = capsys.readouterr()
    assert status == 2
    assert err.startswith("unet-scratch train: fit: training diverged at epoch 1, step ")
    assert "smaller learning rate" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()                  # the empty output folder was removed again
