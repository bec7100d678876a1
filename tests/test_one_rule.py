"""One rule for how an image goes through a checkpoint's model (predict, evaluate and fit's
validation), and one rule for image values (any finite floats; integers and NaN refused)."""

import csv
import os

import numpy as np
import pytest
from skimage import io as skio

from unet_from_scratch import metrics, train
from unet_from_scratch.cli import command as cli
from unet_from_scratch.data.augment import brightness_contrast
from unet_from_scratch.data.images import resize
from unet_from_scratch.data.synthetic import make_synthetic_ultrasound
from unet_from_scratch.model import UNet

TINY = ["--size", "32", "--train-images", "16", "--val-images", "4", "--base-channels", "4",
        "--depth", "2", "--batch", "8", "--quiet"]


def eight_bit(images):
    """Images as an 8-bit file holds them, read back to [0, 1]: exactly what read_image gives."""
    return np.round(images * 255).astype(np.uint8).astype(np.float32) / 255


def write_pngs(folder, images):
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i, image in enumerate(images):
        paths.append(os.path.join(folder, f"scan{i}.png"))
        skio.imsave(paths[-1], np.round(image * 255).astype(np.uint8), check_contrast=False)
    return paths


def read_masks(folder, count):
    return np.stack([skio.imread(os.path.join(folder, f"scan{i}_mask.png")) > 0
                     for i in range(count)])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert cli.main(["train", *TINY, "--epochs", "3", "--lr", "0.01", "--out", str(out)]) == 0
    return str(out / "checkpoint.npz")


def test_evaluate_scores_exactly_the_masks_predict_writes(checkpoint, tmp_path, capsys):
    """Images of another size than the model was trained at, small: trained at 32, images of 48x40."""
    images, masks = make_synthetic_ultrasound(6, (48, 40), seed=11, empty_fraction=0.3)
    images = eight_bit(images)
    paths = write_pngs(str(tmp_path / "scans"), images)
    assert cli.main(["predict", checkpoint, *paths, "--out", str(tmp_path / "masks")]) == 0
    written = read_masks(str(tmp_path / "masks"), len(paths))
    expected = metrics.dice_per_image(written.astype(np.float32), masks)
    np.savez(tmp_path / "set.npz", images=images, masks=masks)
    assert cli.main(["evaluate", checkpoint, "--data", str(tmp_path / "set.npz"),
                     "--csv", str(tmp_path / "scores.csv")]) == 0
    with open(tmp_path / "scores.csv") as f:
        scored = np.array([float(row["dice"]) for row in csv.DictReader(f)])
    np.testing.assert_allclose(scored, expected, atol=1e-6)
    capsys.readouterr()


def test_fit_validates_images_of_another_size_by_the_same_rule(tmp_path):
    """With input_size given, fit's validation Dice of 48x40 images is that of the images
    resized to 32x32, predicted and resized back; the checkpoint records that size."""
    model = UNet(base_channels=4, depth=2)
    val = make_synthetic_ultrasound(4, (48, 40), seed=3)
    path = str(tmp_path / "c.npz")
    history = train.fit(model, make_synthetic_ultrasound(8, 32, seed=2), val, epochs=1,
                        progress=False, log=lambda line: None, input_size=(32, 32),
                        checkpoint=path)
    probabilities = [train.predict(model, resize(image, (32, 32))[None])[0]
                     for image in val[0]]
    back = np.stack([resize(p, (48, 40)) for p in probabilities])
    assert history["val_dice"][0] == pytest.approx(float(metrics.mean_dice(back, val[1])))
    assert train.load_checkpoint(path)[2]["input_size"] == [32, 32]


def test_after_training_on_patches_fit_validates_whole_images_and_records_their_size(tmp_path):
    model = UNet(base_channels=4, depth=2)
    val = make_synthetic_ultrasound(2, 64, seed=3)
    path = str(tmp_path / "c.npz")
    history = train.fit(model, make_synthetic_ultrasound(8, 32, seed=2), val, epochs=1,
                        progress=False, log=lambda line: None, checkpoint=path)
    whole = train.predict(model, val[0])
    assert history["val_dice"][0] == pytest.approx(float(metrics.mean_dice(whole, val[1])))
    assert train.load_checkpoint(path)[2]["input_size"] == [64, 64]


def test_standardized_training_predicts_files_as_it_predicts_the_arrays(tmp_path, capsys):
    images, masks = make_synthetic_ultrasound(16, 32, seed=4)
    images = eight_bit(images)
    path = str(tmp_path / "std.npz")
    model = UNet(base_channels=4, depth=2)
    train.fit(model, (images[:12], masks[:12]), (images[12:], masks[12:]), epochs=2, lr=0.01,
              standardize=True, checkpoint=path, progress=False, log=lambda line: None)
    loaded, _, meta = train.load_checkpoint(path)
    scaling = meta["input_scaling"]["standardize"]
    assert scaling["mean"] == pytest.approx(float(images[:12].mean()), rel=1e-5)
    assert scaling["std"] == pytest.approx(float(images[:12].std()), rel=1e-5)
    probabilities = train.predict(loaded, images)
    # the model saw standardized values: the raw [0, 1] values alone predict otherwise
    raw = UNet(base_channels=4, depth=2)
    raw.load_state_dict(loaded.state_dict())
    assert np.abs(train.predict(raw, images) - probabilities).max() > 0.05
    threshold = round(float(np.median(probabilities)), 4)     # masks about half full
    from_arrays = probabilities > threshold
    paths = write_pngs(str(tmp_path / "scans"), images)
    assert cli.main(["predict", path, *paths, "--out", str(tmp_path / "masks"),
                     "--threshold", str(threshold)]) == 0
    out = capsys.readouterr().out
    assert "trained on arrays scaled by the caller" in out and "standardized" in out
    np.testing.assert_array_equal(read_masks(str(tmp_path / "masks"), len(paths)), from_arrays)


def test_fit_accepts_any_finite_float_scale_and_augments_it():
    images, masks = make_synthetic_ultrasound(8, 32, seed=5)
    standardized = (images - images.mean()) / images.std()
    history = train.fit(UNet(base_channels=4, depth=2), (standardized, masks),
                        (standardized[:2], masks[:2]), epochs=1, progress=False,
                        log=lambda line: None, augment=lambda i, m, rng: (i, m))
    assert np.isfinite(history["loss"][0])
    shifted = brightness_contrast(standardized[:2], brightness=0.1)
    assert shifted.min() < 0 and shifted.max() > 1           # not clipped to [0, 1]
    np.testing.assert_array_equal(brightness_contrast(standardized[:2]), standardized[:2])


@pytest.mark.parametrize("images, error, message", [
    (np.zeros((2, 32, 32), np.uint8), TypeError, r"predict: images must be floating-point, "
                                                 r"got uint8 \(divide by 255"),
    (np.full((2, 32, 32), np.nan, np.float32), ValueError, "predict: images contain NaN"),
    (np.full((2, 32, 32), np.inf, np.float32), ValueError, "predict: images contain NaN or "
                                                           "infinite values"),
])
def test_predict_refuses_integer_and_non_finite_images(images, error, message):
    with pytest.raises(error, match=message):
        train.predict(UNet(base_channels=4, depth=2), images)
