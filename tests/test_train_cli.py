"""``unet-scratch train``, ``predict`` and ``evaluate`` on tiny settings, through ``cli.command.main``."""

import csv
import os

import numpy as np
import pytest
from skimage import io as skio

from unet_from_scratch import train
from unet_from_scratch.cli import command as cli
from conftest import ctrl_c_at_step, run_cli
from unet_from_scratch.cli import data as cli_data
from unet_from_scratch.data.synthetic import make_synthetic_ultrasound
from unet_from_scratch.model import UNet
from unet_from_scratch.submission import read_submission, rle_decode

TINY = ["--size", "32", "--train-images", "16", "--val-images", "8", "--base-channels", "4",
        "--depth", "2", "--batch", "8", "--quiet"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A checkpoint of two tiny epochs, shared by the predict and evaluate tests."""
    out = str(tmp_path_factory.mktemp("run"))
    assert cli.main(["train", *TINY, "--epochs", "2", "--out", out]) == 0
    return out


def test_train_prints_each_epoch_next_to_the_baseline_and_writes_its_files(tmp_path, capsys):
    status, out, _ = run_cli(["train", *TINY, "--epochs", "2", "--out", str(tmp_path)], capsys)
    assert status == 0
    assert "baseline  Otsu threshold: validation Dice 0." in out
    epochs = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert len(epochs) == 2 and all("val Dice" in e and "(Otsu 0." in e for e in epochs)
    assert "best validation Dice" in out and "predicting nothing anywhere" in out
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.last.npz", "checkpoint.npz",
                                            "curves.png", "predictions.png"]
    assert skio.imread(tmp_path / "curves.png").ndim == 3


def test_resume_continues_the_run_with_its_own_options(tmp_path, capsys):
    out = str(tmp_path)
    assert run_cli(["train", *TINY, "--epochs", "1", "--lr", "0.005", "--out", out], capsys)[0] == 0
    # the data and model options come from the checkpoint, not from these defaults
    status, text, _ = run_cli(["train", "--epochs", "2", "--out", out, "--resume", "--quiet"], capsys)
    assert status == 0
    assert "resuming with the run's own options:" in text and "lr=0.005" in text
    assert f"resumed from {os.path.join(out, 'checkpoint.last.npz')} after epoch 1" in text
    assert [line[:14] for line in text.splitlines() if line.startswith("epoch")] == \
        ["epoch   2/2  l"]
    status, text, _ = run_cli(["train", "--epochs", "2", "--out", out, "--resume"], capsys)
    assert status == 0 and "nothing to do" in text


def test_ctrl_c_during_training_says_how_to_resume(tmp_path, capsys, monkeypatch):
    ctrl_c_at_step(monkeypatch, 4)              # two batches per epoch: inside epoch 2
    status, out, _ = run_cli(["train", *TINY, "--epochs", "3", "--out", str(tmp_path)], capsys)
    assert status == 130
    assert "checkpoint.last.npz holds epoch 1, intact; continue with 'unet-scratch train " \
           f"--out {tmp_path} --resume'" in out
    monkeypatch.undo()
    status, out, _ = run_cli(["train", "--epochs", "3", "--out", str(tmp_path), "--resume",
                          "--quiet"], capsys)
    assert status == 0 and "after epoch 1" in out


@pytest.mark.parametrize("argv, message", [
    (["train", "--device", "cuda"], "unet-scratch train: --device cuda needs a CUDA GPU and "
                                    "CuPy"),
    (["train", "--resume"], "no such checkpoint"),
    (["train", "--size", "30"], "an input height of 30 does not fit"),
    (["evaluate", "missing.npz"], "missing.npz: no such file"),
    (["predict", "missing.npz", "x.png", "--out", "o"], "missing.npz: no such file"),
])
def test_usage_errors_are_one_line_without_traceback(argv, message, tmp_path, capsys,
                                                     monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli_data, "gpu_available", lambda: False)
    status, out, err = run_cli(argv + ["--quiet"] if argv[0] == "train" else argv, capsys)
    assert status == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_predict_writes_binary_masks_at_each_input_size(trained, tmp_path, capsys):
    images, _ = make_synthetic_ultrasound(2, (50, 70), seed=9)
    paths = []
    for i, (image, suffix) in enumerate(zip(images, [".png", ".tif"])):
        paths.append(str(tmp_path / f"scan{i}{suffix}"))
        skio.imsave(paths[-1], (image * 255).astype(np.uint8), check_contrast=False)
    out = tmp_path / "masks"
    status, text, _ = run_cli(["predict", os.path.join(trained, "checkpoint.npz"), *paths,
                           "--out", str(out)], capsys)
    assert status == 0 and text.count("pixels of nerve") == 2
    for i in range(2):
        mask = skio.imread(out / f"scan{i}_mask.png")
        assert mask.shape == (50, 70) and set(np.unique(mask)) <= {0, 255}


def test_predict_names_an_unreadable_image(trained, tmp_path, capsys):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG but not really")
    status, _, err = run_cli(["predict", os.path.join(trained, "checkpoint.npz"), str(broken),
                          "--out", str(tmp_path)], capsys)
    assert status == 2 and "broken.png" in err and "Traceback" not in err


def test_evaluate_on_the_runs_validation_set_writes_a_csv(trained, tmp_path, capsys):
    path = str(tmp_path / "scores.csv")
    status, out, _ = run_cli(["evaluate", os.path.join(trained, "checkpoint.npz"), "--csv", path],
                         capsys)
    assert status == 0
    assert "synthetic validation set (seed 0): 8 images" in out
    assert "mean Dice 0." in out and "mean IoU 0." in out and "Otsu threshold baseline" in out
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 and set(rows[0]) == {"image", "dice", "iou", "true_pixels",
                                               "predicted_pixels"}
    mean = np.mean([float(r["dice"]) for r in rows])
    assert f"mean Dice {mean:.4f}" in out


def test_evaluate_on_an_npz_and_its_bad_variants(trained, tmp_path, capsys):
    checkpoint = os.path.join(trained, "checkpoint.npz")
    images, masks = make_synthetic_ultrasound(4, 32, seed=3)
    np.savez(tmp_path / "good.npz", images=images, masks=masks)
    np.savez(tmp_path / "grey.npz", images=images, masks=masks * 0.5)
    np.savez(tmp_path / "short.npz", images=images, masks=masks[:, :16])
    np.savez(tmp_path / "nomasks.npz", images=images)
    status, out, _ = run_cli(["evaluate", checkpoint, "--data", str(tmp_path / "good.npz"),
                          "--csv", str(tmp_path / "s.csv")], capsys)
    assert status == 0 and "good.npz: 4 images" in out
    for name, message in [("grey", "masks must hold only 0 and 1"),
                          ("short", "images and masks differ in shape"),
                          ("nomasks", "is not an .npz with arrays 'images' and 'masks'")]:
        status, _, err = run_cli(["evaluate", checkpoint, "--data", str(tmp_path / f"{name}.npz")],
                             capsys)
        assert status == 2 and message in err, err


def test_resume_into_another_folder_finishes_with_its_summary(trained, tmp_path, capsys):
    last = os.path.join(trained, "checkpoint.last.npz")
    status, out, err = run_cli(["train", "--epochs", "3", "--out", str(tmp_path), "--resume", last,
                            "--quiet"], capsys)
    assert status == 0, err
    assert "after epoch 2" in out and "best validation Dice" in out
    assert os.path.isfile(tmp_path / "checkpoint.last.npz")


def test_a_truncated_checkpoint_is_one_line(trained, tmp_path, capsys):
    data = open(os.path.join(trained, "checkpoint.npz"), "rb").read()
    (tmp_path / "cut.npz").write_bytes(data[:len(data) // 2])
    status, _, err = run_cli(["evaluate", str(tmp_path / "cut.npz")], capsys)
    assert status == 2 and "cut.npz is not a readable unet_from_scratch checkpoint" in err
    assert len(err.strip().splitlines()) == 1


def test_an_output_folder_that_cannot_be_made_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    status, _, err = run_cli(["train", *TINY, "--epochs", "1", "--out", str(tmp_path / "file" / "x")],
                         capsys)
    assert status == 2 and "file/x" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv", [["train", "--batch", "0"], ["train", "--epochs", "-1"],
                                  ["train", "--val-images", "0"], ["evaluate", "c.npz",
                                                                   "--batch", "0"],
                                  ["gradcheck", "--network-depth", "0"]])
def test_counts_below_one_are_refused_by_the_parser(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert "must be an int >= 1" in capsys.readouterr().err


def test_predict_checks_every_image_before_writing_any(trained, tmp_path, capsys):
    images, _ = make_synthetic_ultrasound(1, 32, seed=9)
    good = str(tmp_path / "scan.png")
    skio.imsave(good, (images[0] * 255).astype(np.uint8), check_contrast=False)
    checkpoint = os.path.join(trained, "checkpoint.npz")
    out = tmp_path / "masks"
    status, _, err = run_cli(["predict", checkpoint, good, str(tmp_path / "gone.png"), "--out",
                          str(out)], capsys)
    assert status == 2 and "gone.png: no such file" in err and not out.exists()
    skio.imsave(str(tmp_path / "scan.tif"), (images[0] * 255).astype(np.uint8),
                check_contrast=False)
    status, _, err = run_cli(["predict", checkpoint, good, str(tmp_path / "scan.tif"), "--out",
                          str(out)], capsys)
    assert status == 2 and "two images would write the same mask file scan_mask.png" in err
    assert not out.exists()


def test_evaluate_a_valid_padding_checkpoint(tmp_path, capsys):
    model = UNet(base_channels=2, depth=2, padding="valid", seed=0)
    checkpoint = str(tmp_path / "valid.npz")
    train.save_checkpoint(checkpoint, model, None, {"epoch": 1})
    images, masks = make_synthetic_ultrasound(3, 44, seed=3)
    np.savez(tmp_path / "set.npz", images=images, masks=masks)
    status, out, err = run_cli(["evaluate", checkpoint, "--data", str(tmp_path / "set.npz"),
                            "--csv", str(tmp_path / "s.csv")], capsys)
    assert status == 0, err
    assert "set.npz: 3 images" in out and "Otsu threshold baseline: Dice" in out


# --- real data -----------------------------------------------------------------------------

def write_slices(folder, count, size=32):
    """An ISBI-like folder of PNG slices: image/N.png and label/N.png (255 = cell)."""
    images, masks = make_synthetic_ultrasound(count, size, seed=4, empty_fraction=0.0)
    for name in ("image", "label"):
        os.makedirs(folder / name)
    for i in range(count):
        skio.imsave(folder / "image" / f"{i}.png", (images[i] * 255).astype(np.uint8),
                    check_contrast=False)
        skio.imsave(folder / "label" / f"{i}.png", ((1 - masks[i]) * 255).astype(np.uint8),
                    check_contrast=False)


def test_train_on_isbi_slices_in_patches_then_evaluate_on_the_same_split(tmp_path, capsys):
    write_slices(tmp_path / "em", 7)
    out = str(tmp_path / "run")
    status, text, err = run_cli(["train", "--data", f"isbi2012:{tmp_path / 'em'}", "--patch", "16",
                             "--base-channels", "4", "--depth", "2", "--epochs", "1",
                             "--out", out, "--quiet"], capsys)
    assert status == 0, err
    assert "8 training images of 16x16 (16 x 16 patches)" \
        in text and "5 validation images of 32x32" in text
    status, text, err = run_cli(["evaluate", os.path.join(out, "checkpoint.npz"), "--csv",
                             str(tmp_path / "s.csv")], capsys)
    assert status == 0, err
    assert "validation part of isbi2012:" in text and ": 5 images" in text
    # predict brings images to the slices' size, 32, not to the patches' 16
    checkpoint = os.path.join(out, "checkpoint.npz")
    model, _, meta = train.load_checkpoint(checkpoint)
    assert meta["run"]["input_size"] == [32, 32] and meta["image_size"] == [16, 16]
    slice_path = str(tmp_path / "em" / "image" / "6.png")
    status, text, err = run_cli(["predict", checkpoint, slice_path, "--out", str(tmp_path / "m"),
                             "--threshold", "0.5"], capsys)
    assert status == 0, err
    assert "pixels of membrane" in text
    expected = train.predict(model, skio.imread(slice_path)[None] / 255.0)[0] > 0.5
    np.testing.assert_array_equal(skio.imread(tmp_path / "m" / "6_mask.png") > 0, expected)


def test_train_on_an_image_folder_and_on_a_prepared_npz(tmp_path, capsys):
    images, masks = make_synthetic_ultrasound(10, 32, seed=6)
    for name in ("images", "masks"):
        os.makedirs(tmp_path / "set" / name)
    for i in range(10):
        skio.imsave(tmp_path / "set" / "images" / f"s{i}.png",
                    (images[i] * 255).astype(np.uint8), check_contrast=False)
        skio.imsave(tmp_path / "set" / "masks" / f"s{i}.png",
                    (masks[i] * 255).astype(np.uint8), check_contrast=False)
    common = ["--base-channels", "4", "--depth", "2", "--epochs", "1", "--quiet"]
    status, text, err = run_cli(["train", "--data", f"folder:{tmp_path / 'set'}", "--val-fraction",
                             "0.3", "--out", str(tmp_path / "a"), *common], capsys)
    assert status == 0, err
    assert "7 training images of 32x32" in text and "3 validation images" in text
    np.savez(tmp_path / "prepared.npz", train_images=images[:6], train_masks=masks[:6],
             val_images=images[6:], val_masks=masks[6:])
    status, text, err = run_cli(["train", "--data", str(tmp_path / "prepared.npz"),
                             "--out", str(tmp_path / "b"), *common], capsys)
    assert status == 0, err
    assert "6 training images of 32x32" in text and "4 validation images" in text


@pytest.mark.parametrize("source", ["kaggle", "isbi2012:", "web:http://x", "data.csv"])
def test_unknown_data_sources_are_one_line(source, capsys):
    status, _, err = run_cli(["train", "--data", source, "--quiet"], capsys)
    assert status == 2 and "--data must be synthetic, kaggle:PATH, isbi2012:PATH" in err


def test_predict_writes_a_kaggle_submission(trained, tmp_path, capsys):
    images, _ = make_synthetic_ultrasound(2, (42, 58), seed=9)
    paths = []
    for number, image in zip((10, 2), images):
        paths.append(str(tmp_path / f"{number}.tif"))
        skio.imsave(paths[-1], (image * 255).astype(np.uint8), check_contrast=False)
    submission = tmp_path / "submission.csv"
    status, text, err = run_cli(["predict", os.path.join(trained, "checkpoint.npz"), *paths,
                             "--out", str(tmp_path / "masks"), "--submission", str(submission),
                             "--min-pixels", "100000"], capsys)
    assert status == 0, err
    assert submission.read_text().splitlines() == ["img,pixels", "2,", "10,"]   # all removed
    status, _, err = run_cli(["predict", os.path.join(trained, "checkpoint.npz"), *paths,
                          "--out", str(tmp_path / "masks"), "--submission", str(submission),
                          "--threshold", "0.3", "--force"], capsys)
    assert status == 0, err
    rows = read_submission(str(submission))
    assert sorted(rows) == [2, 10]
    for number in (2, 10):
        written = skio.imread(tmp_path / "masks" / f"{number}_mask.png") > 0
        np.testing.assert_array_equal(rle_decode(rows[number], (42, 58)), written)
    status, _, err = run_cli(["predict", os.path.join(trained, "checkpoint.npz"), paths[0],
                          str(tmp_path / "masks" / "10_mask.png"), "--out", str(tmp_path / "o"),
                          "--submission", str(submission), "--force"], capsys)
    assert status == 2 and "named like Kaggle's test set" in err


def test_predict_with_a_valid_padding_checkpoint(tmp_path, capsys):
    checkpoint = str(tmp_path / "valid.npz")
    train.save_checkpoint(checkpoint, UNet(base_channels=2, depth=2, padding="valid"), None,
                          {"epoch": 1, "image_size": [44, 44]})
    images, _ = make_synthetic_ultrasound(1, (50, 70), seed=9)
    skio.imsave(tmp_path / "scan.png", (images[0] * 255).astype(np.uint8), check_contrast=False)
    status, _, err = run_cli(["predict", checkpoint, str(tmp_path / "scan.png"), "--out",
                          str(tmp_path / "m")], capsys)
    assert status == 0, err
    assert skio.imread(tmp_path / "m" / "scan_mask.png").shape == (50, 70)


def test_augment_preview_draws_a_png(tmp_path, capsys):
    path = tmp_path / "aug.png"
    status, out, err = run_cli(["augment-preview", "--n", "4", "--out", str(path)], capsys)
    assert status == 0, err
    assert skio.imread(path).ndim == 3 and "the first panel is the original" in out


def write_kaggle_folder(folder, subjects=3, frames=3, size=(42, 58)):
    """Kaggle's naming: {subject}_{n}.tif and {subject}_{n}_mask.tif (0/255)."""
    os.makedirs(folder)
    images, masks = make_synthetic_ultrasound(subjects * frames, size, seed=8)
    for k in range(subjects * frames):
        stem = f"{k // frames + 1}_{k % frames + 1}"
        skio.imsave(folder / f"{stem}.tif", (images[k] * 255).astype(np.uint8),
                    check_contrast=False)
        skio.imsave(folder / f"{stem}_mask.tif", (masks[k] * 255).astype(np.uint8),
                    check_contrast=False)


def test_train_and_evaluate_on_kaggle_files_split_by_subject(tmp_path, capsys):
    write_kaggle_folder(tmp_path / "train")
    out = str(tmp_path / "run")
    status, text, err = run_cli(["train", "--data", f"kaggle:{tmp_path / 'train'}", "--size", "32",
                             "--val-fraction", "0.34", "--base-channels", "4", "--depth", "2",
                             "--epochs", "1", "--augment", "--out", out, "--quiet"], capsys)
    assert status == 0, err
    assert "6 training images of 32x32" in text and "3 validation images of 32x32" in text
    status, text, err = run_cli(["evaluate", os.path.join(out, "checkpoint.npz"), "--csv",
                             str(tmp_path / "s.csv")], capsys)
    assert status == 0, err
    assert ": 3 images" in text


def test_train_the_valid_network_on_overlapping_patches(tmp_path, capsys):
    write_slices(tmp_path / "em", 6, size=48)
    status, text, err = run_cli(["train", "--data", f"isbi2012:{tmp_path / 'em'}", "--padding",
                             "valid", "--patch", "44", "--base-channels", "2", "--depth", "2",
                             "--epochs", "1", "--out", str(tmp_path / "run"), "--quiet"], capsys)
    assert status == 0, err
    # output 4 of input 44: 48 // 4 = 12 steps per side, 144 patches from the one slice
    assert "144 training images of 44x44 (44 x 44 patches)" in text


def test_resume_a_checkpoint_written_before_size_took_two_numbers(tmp_path, capsys):
    out = str(tmp_path)
    assert run_cli(["train", *TINY, "--epochs", "1", "--out", out], capsys)[0] == 0
    last = os.path.join(out, "checkpoint.last.npz")
    model, optimizer_state, meta = train.load_checkpoint(last)
    meta["run"]["size"] = 32                                   # the old way: one int
    optimizer = __import__("unet_from_scratch").Adam(model.parameters())
    optimizer.load_state_dict(optimizer_state)
    train.save_checkpoint(last, model, optimizer, meta)
    status, text, err = run_cli(["train", "--epochs", "2", "--out", out, "--resume", "--quiet"],
                            capsys)
    assert status == 0, err
    assert "after epoch 1" in text
