"""The command line keeps a run's options on --resume, checks every input and output of
predict before writing, writes augment-preview where it says, and stores absolute data paths."""

import os

import numpy as np
import pytest
from skimage import io as skio

from unet_from_scratch import train
from unet_from_scratch.cli import command as cli
from conftest import ctrl_c_at_step, run_cli
from unet_from_scratch.data.synthetic import make_synthetic_ultrasound

TINY = ["--size", "32", "--train-images", "16", "--val-images", "4", "--base-channels", "4",
        "--depth", "2", "--batch", "8", "--quiet"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert cli.main(["train", *TINY, "--epochs", "1", "--out", str(out)]) == 0
    return str(out / "checkpoint.npz")


def test_resume_restores_every_option_unless_given_again(tmp_path, capsys, monkeypatch):
    out = str(tmp_path)
    ctrl_c_at_step(monkeypatch, 5)              # two steps per epoch: inside epoch 3
    assert run_cli(["train", *TINY, "--epochs", "5", "--lr", "0.005", "--out", out], capsys)[0] == 130
    monkeypatch.undo()
    status, text, _ = run_cli(["train", "--out", out, "--resume", "--quiet"], capsys)
    assert status == 0
    assert "epochs=5" in text and "lr=0.005" in text          # not the defaults 12 and 0.002
    assert [line[:10] for line in text.splitlines() if line.startswith("epoch")] == \
        ["epoch   3/", "epoch   4/", "epoch   5/"]
    assert train.load_checkpoint(os.path.join(out, "checkpoint.last.npz"))[2]["epoch"] == 5
    # an option given again wins over the checkpoint's
    status, text, _ = run_cli(["train", "--out", out, "--resume", "--epochs", "6", "--quiet"], capsys)
    assert status == 0 and "from the command line: epochs=6" in text
    assert [line[:12] for line in text.splitlines() if line.startswith("epoch")] == ["epoch   6/6 "]


def scans(folder, count, size=32):
    images, _ = make_synthetic_ultrasound(count, size, seed=7)
    paths = []
    for i, image in enumerate(images):
        paths.append(str(folder / f"scan{i}.png"))
        skio.imsave(paths[-1], (image * 255).astype(np.uint8), check_contrast=False)
    return paths


def test_predict_refuses_to_replace_masks_without_force(checkpoint, tmp_path, capsys):
    paths = scans(tmp_path, 2)
    masks = tmp_path / "masks"
    masks.mkdir()
    truth = masks / "scan1_mask.png"
    skio.imsave(truth, np.full((32, 32), 255, np.uint8), check_contrast=False)
    before = truth.read_bytes()
    status, _, err = run_cli(["predict", checkpoint, *paths, "--out", str(masks)], capsys)
    assert status == 2 and "scan1_mask.png" in err and "--force" in err
    assert truth.read_bytes() == before and os.listdir(masks) == ["scan1_mask.png"]
    status, _, err = run_cli(["predict", checkpoint, *paths, "--out", str(masks), "--force"], capsys)
    assert status == 0 and sorted(os.listdir(masks)) == ["scan0_mask.png", "scan1_mask.png"]


def test_predict_lists_every_bad_image_and_writes_nothing(checkpoint, tmp_path, capsys):
    paths = scans(tmp_path, 3)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "folder.png").mkdir()
    argv = [paths[0], str(tmp_path / "broken.png"), paths[1], str(tmp_path / "folder.png"),
            str(tmp_path / "gone.png"), paths[2]]
    status, _, err = run_cli(["predict", checkpoint, *argv, "--out", str(tmp_path / "out")], capsys)
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert "3 of 6 images cannot be used" in err
    assert "broken.png: cannot read it" in err and "folder.png: is a folder" in err
    assert "gone.png: no such file" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("out, written", [("folder", "folder/augmentation.png"),
                                          ("fig.png", "fig.png")])
def test_augment_preview_writes_where_it_says(out, written, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()
    status, text, _ = run_cli(["augment-preview", "--n", "2", "--out", out], capsys)
    assert status == 0 and f"wrote {written}:" in text
    assert (tmp_path / written).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({"folder", written.split("/")[0]})


def test_a_folder_checkpoint_records_an_absolute_path_and_evaluates_from_elsewhere(
        tmp_path, capsys, monkeypatch):
    data = tmp_path / "data"
    images, masks = make_synthetic_ultrasound(10, 32, seed=3)
    for sub, arrays in (("images", images), ("masks", masks)):
        (data / sub).mkdir(parents=True)
        for i, a in enumerate(arrays):
            skio.imsave(data / sub / f"{i}.png", (a * 255).astype(np.uint8), check_contrast=False)
    monkeypatch.chdir(tmp_path)
    assert run_cli(["train", "--data", "folder:data", "--depth", "2", "--base-channels", "4",
                "--epochs", "1", "--out", "r", "--quiet", "--val-fraction", "0.3"], capsys)[0] == 0
    meta = train.load_checkpoint("r/checkpoint.npz")[2]
    assert meta["run"]["data"] == f"folder:{data}"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    status, text, err = run_cli(["evaluate", str(tmp_path / "r" / "checkpoint.npz")], capsys)
    assert status == 0, err
    assert "mean Dice" in text


def test_ctrl_c_in_the_first_epoch_leaves_no_empty_output_folder(tmp_path, capsys, monkeypatch):
    def ctrl_c(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "train_step", ctrl_c)
    out = tmp_path / "new" / "run"
    status, text, _ = run_cli(["train", *TINY, "--epochs", "2", "--out", str(out)], capsys)
    assert status == 130 and "no checkpoint was written" in text
    assert os.listdir(tmp_path) == []
