"""Bad input on the command line, as a table: each case must exit non-zero with one line on
stderr that names the thing (an option, a file), no traceback, and nothing written."""

import json
import os

import numpy as np
import pytest
from skimage import io as skio

from unet_from_scratch import train
from unet_from_scratch.cli import command as cli
from unet_from_scratch.cli import data as cli_data
from unet_from_scratch.model import UNet

TINY = ["--size", "32", "--train-images", "16", "--val-images", "4", "--base-channels", "4",
        "--depth", "2", "--quiet"]

# (argv, what the one line must contain); names in braces are files of the `place` fixture
CASES = [
    (["train", "--epochs", "0"], "--epochs"),
    (["train", "--batch", "-1"], "--batch"),
    (["train", "--lr", "0"], "--lr"),
    (["train", "--lr", "nan"], "--lr"),
    (["train", "--lr", "-1"], "--lr"),
    (["train", "--seed", "-5"], "--seed: must be an int >= 0, got -5"),
    (["train", "--size", "0"], "--size"),
    (["train", "--size", "32", "48"], "--size: synthetic images are square"),
    (["train", *TINY, "--size", "30"], "an input height of 30 does not fit"),
    (["train", *TINY, "--depth", "10"], "the smallest that fits is 1024"),
    (["train", *TINY, "--padding", "valid", "--size", "62"], "the nearest that fits is 60"),
    (["train", "--val-fraction", "0"], "--val-fraction"),
    (["train", "--val-fraction", "1"], "--val-fraction"),
    (["train", "--data", "nothing:x"], "--data"),
    (["train", *TINY, "--data", "folder:missing"], "missing"),
    (["train", *TINY, "--data", "missing.npz"], "missing.npz: no such file"),
    (["train", *TINY, "--data", "folder:{one}"], "the validation split is empty"),
    (["train", *TINY, "--out", "{file}"], "--out {file}: is a file"),
    (["train", *TINY, "--out", "{file}/sub"], "--out {file}/sub: cannot create it"),
    (["train", *TINY, "--out", "fresh", "--resume"], "no such checkpoint"),
    (["train", *TINY, "--out", "{run}"], "holds an earlier run (checkpoint.last.npz)"),
    (["evaluate", "{ckpt}", "--csv", "{file}"], "--csv {file}: exists; give --force"),
    (["train", *TINY, "--resume", "{nan}"], "holds a diverged model"),
    (["train", *TINY, "--resume", "{png}"], "is not a readable unet_from_scratch checkpoint"),
    (["train", *TINY, "--resume", "{folder}"], "is a folder, not a checkpoint file"),
    (["train", *TINY, "--patch", "30"], "--patch: with depth 2"),
    (["train", *TINY, "--patch", "64"], "--patch 64: larger than the training images"),
    (["train", "--padding", "full"], "--padding"),
    (["train", "--loss", "l2"], "--loss"),
    (["train", "--device", "tpu"], "--device"),
    (["train", "--device", "cuda"], "--device cuda needs a CUDA GPU"),
    (["predict", "missing.npz", "{png}", "--out", "o"], "missing.npz: no such file"),
    (["predict", "{folder}", "{png}", "--out", "o"], "{folder}: is a folder"),
    (["predict", "{png}", "{png}", "--out", "o"], "{png} is not a readable"),
    (["predict", "{listmeta}", "{png}", "--out", "o"], "its meta must be a JSON object"),
    (["predict", "{nan}", "{png}", "--out", "o"], "holds a diverged model"),
    (["predict", "{ckpt}", "{png}", "--out", "o", "--threshold", "1.5"], "--threshold"),
    (["predict", "{ckpt}", "{png}", "--out", "o", "--threshold", "nan"], "--threshold"),
    (["predict", "{ckpt}", "{png}", "--out", "o", "--min-pixels", "-1"], "--min-pixels"),
    (["predict", "{ckpt}", "gone.png", "--out", "o"], "gone.png: no such file"),
    (["predict", "{ckpt}", "{folder}", "--out", "o"], "{folder}: is a folder"),
    (["predict", "{ckpt}", "{png}", "--out", "{file}"], "--out {file}: is a file"),
    (["predict", "{ckpt}", "{png}", "--out", "o", "--submission", "{folder}"],
     "--submission {folder}: is a folder"),
    (["predict", "{ckpt}", "{png}", "--out", "o", "--submission", "s.csv"],
     "named like Kaggle's test set"),
    (["predict", "{ckpt}", "{png}", "--out", "{masks}"], "give --force to replace them"),
    (["predict", "{ckpt}", "{png}", "{png}", "--out", "o"], "the same mask file"),
    (["evaluate", "{ckpt}", "--batch", "0"], "--batch"),
    (["evaluate", "{ckpt}", "--csv", "{folder}"], "--csv {folder}: is a folder"),
    (["evaluate", "{ckpt}", "--csv", "{file}/x.csv"], "--csv {file}/x.csv: cannot create it"),
    (["evaluate", "{ckpt}", "--data", "missing.npz"], "missing.npz: no such file"),
    (["evaluate", "{ckpt}", "--data", "{folder}/x.npz"], "x.npz: no such file"),
    (["evaluate", "{nan}"], "holds a diverged model"),
    (["evaluate", "{ckpt}", "--data", "{ints}"], "evaluation images must be floating-point"),
    (["gradcheck", "--eps", "0"], "--eps"),
    (["gradcheck", "--eps", "-1"], "--eps"),
    (["gradcheck", "--rtol", "-1"], "--rtol"),
    (["gradcheck", "--atol", "nan"], "--atol"),
    (["gradcheck", "--seed", "-1"], "--seed"),
    (["gradcheck", "--network-depth", "0"], "--network-depth"),
    (["augment-preview", "--out", "name"], "--out name: give a .png file name"),
    (["augment-preview", "--out", "{file}/x.png"], "--out {file}/x.png: cannot create it"),
    (["augment-preview", "--n", "0"], "--n"),
    (["augment-preview", "--seed", "-2"], "--seed"),
]


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """A folder of files for the cases: a checkpoint, broken ones, an image, a data folder."""
    root = tmp_path_factory.mktemp("bad_input")
    files = {"ckpt": root / "ckpt.npz", "nan": root / "nan.npz", "listmeta": root / "list.npz",
             "png": root / "scan.png", "file": root / "plain.txt", "folder": root / "a_folder",
             "one": root / "one", "masks": root / "masks", "ints": root / "ints.npz",
             "run": root / "earlier_run"}
    model = UNet(base_channels=4, depth=2)
    meta = {"epoch": 1, "best_val_dice": 0.5, "history": {}, "input_size": [32, 32],
            "run": {"data": "synthetic", "seed": 0, "val_images": 4, "size": [32]}}
    train.save_checkpoint(str(files["ckpt"]), model, None, meta)
    with np.load(files["ckpt"]) as stored:
        arrays = dict(stored)
    np.savez(files["listmeta"], **{**arrays, "meta": np.array(json.dumps([1, 2]))})
    arrays["model/head.bias"] = np.full_like(arrays["model/head.bias"], np.nan)
    np.savez(files["nan"], **arrays)
    skio.imsave(files["png"], np.zeros((32, 32), np.uint8), check_contrast=False)
    files["file"].write_text("not a folder")
    files["run"].mkdir()
    train.save_checkpoint(str(files["run"] / "checkpoint.last.npz"), model, None, meta)
    files["folder"].mkdir()
    for sub in ("images", "masks"):
        (files["one"] / sub).mkdir(parents=True)
        skio.imsave(files["one"] / sub / "0.png", np.zeros((32, 32), np.uint8),
                    check_contrast=False)
    files["masks"].mkdir()
    skio.imsave(files["masks"] / "scan_mask.png", np.zeros((32, 32), np.uint8),
                check_contrast=False)
    np.savez(files["ints"], images=np.zeros((2, 32, 32), np.uint8),
             masks=np.zeros((2, 32, 32), np.float32))
    return root, {name: str(path) for name, path in files.items()}


def snapshot(root):
    """Every file and folder under ``root`` with its size and modification time."""
    entries = []
    for folder, subfolders, names in os.walk(root):
        for name in subfolders + names:
            status = os.stat(os.path.join(folder, name))
            entries.append((os.path.join(folder, name), status.st_size, status.st_mtime_ns))
    return sorted(entries)


def test_there_are_at_least_forty_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize("argv, expected", CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_bad_input_is_one_line_non_zero_and_writes_nothing(argv, expected, place, capsys,
                                                           monkeypatch):
    root, files = place
    monkeypatch.chdir(root)
    monkeypatch.setattr(cli_data, "gpu_available", lambda: False)
    argv = [a.format(**files) for a in argv]
    before = snapshot(root)
    try:
        status = cli.main(argv)
    except SystemExit as stop:                 # argparse's own refusals
        status = stop.code
    _, err = capsys.readouterr()
    assert status not in (0, None), err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert expected.format(**files) in lines[0], lines[0]
    assert snapshot(root) == before, "something was written"
