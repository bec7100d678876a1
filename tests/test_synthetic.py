"""Synthetic ultrasound nerve images: determinism, shapes, the share of empty masks, the
nerve's size, any image size, the Otsu baseline, and the script that writes a set to disk."""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
from skimage.io import imread
from skimage.measure import label

from unet_from_scratch.data import make_synthetic_ultrasound, otsu_baseline
from unet_from_scratch.data.baselines import otsu_masks

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "data_scripts", "make_synthetic_ultrasound.py")


def dice_per_image(pred, target):
    """Kaggle's Dice per image: ``2|P∩T| / (|P|+|T|)``, and 1 where both are empty."""
    pred, target = pred > 0.5, target > 0.5
    overlap = (pred & target).sum(axis=(1, 2))
    total = pred.sum(axis=(1, 2)) + target.sum(axis=(1, 2))
    return np.where(total == 0, 1.0, 2 * overlap / np.maximum(total, 1))


def has_nerve(masks):
    return masks.reshape(len(masks), -1).any(axis=1)


def load_script():
    spec = importlib.util.spec_from_file_location("make_synthetic_ultrasound_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- determinism ------------------------------------------------------------------------------

def test_same_seed_gives_identical_arrays():
    a = make_synthetic_ultrasound(4, 48, seed=3)
    b = make_synthetic_ultrasound(4, 48, seed=3)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_different_seeds_give_different_images():
    a, _ = make_synthetic_ultrasound(2, 48, seed=0)
    b, _ = make_synthetic_ultrasound(2, 48, seed=1)
    assert not np.array_equal(a[0], b[0]) and not np.array_equal(a[1], b[1])


def test_image_i_does_not_depend_on_n():
    small = make_synthetic_ultrasound(3, 40, seed=7)
    large = make_synthetic_ultrasound(8, 40, seed=7)
    np.testing.assert_array_equal(small[0], large[0][:3])
    np.testing.assert_array_equal(small[1], large[1][:3])


def test_a_generator_works_as_a_seed():
    a = make_synthetic_ultrasound(2, 32, seed=np.random.default_rng(5))
    b = make_synthetic_ultrasound(2, 32, seed=np.random.default_rng(5))
    np.testing.assert_array_equal(a[0], b[0])


def test_empty_fraction_only_adds_or_removes_the_nerve():
    """Each element has its own random stream: an image that has no nerve under either
    setting is the same picture under both."""
    x_some, m_some = make_synthetic_ultrasound(20, 40, seed=2, empty_fraction=0.5)
    x_none, m_none = make_synthetic_ultrasound(20, 40, seed=2, empty_fraction=1.0)
    assert not has_nerve(m_none).any()
    empty = ~has_nerve(m_some)
    assert 0 < empty.sum() < 20
    np.testing.assert_array_equal(x_some[empty], x_none[empty])


# --- shapes, dtypes, values -------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shapes_dtypes_and_ranges(dtype):
    images, masks = make_synthetic_ultrasound(6, (40, 56), seed=0, dtype=dtype)
    assert images.shape == masks.shape == (6, 40, 56)
    assert images.dtype == masks.dtype == dtype
    assert images.min() >= 0 and images.max() <= 1
    assert set(np.unique(masks)) <= {0.0, 1.0}
    assert images.std() > 0.1  # a picture, not a flat field


def test_zero_images():
    images, masks = make_synthetic_ultrasound(0, 32)
    assert images.shape == masks.shape == (0, 32, 32)


@pytest.mark.parametrize("size", [32, (64, 96), (420, 580)])
def test_any_size(size):
    images, masks = make_synthetic_ultrasound(1, size, seed=1, empty_fraction=0.0)
    shape = (size, size) if isinstance(size, int) else size
    assert images.shape == masks.shape == (1, *shape)
    assert masks.any()


@pytest.mark.parametrize("kwargs, error", [
    ({"n": -1}, ValueError),
    ({"size": 8}, ValueError),
    ({"size": (32, 32, 32)}, ValueError),
    ({"empty_fraction": 1.5}, ValueError),
    ({"seed": -3}, ValueError),
    ({"dtype": np.uint8}, TypeError),
])
def test_bad_arguments_raise(kwargs, error):
    arguments = {"n": 2, "size": 32, **kwargs}
    with pytest.raises(error, match="make_synthetic_ultrasound"):
        make_synthetic_ultrasound(**arguments)


# --- the content ------------------------------------------------------------------------------

def test_share_of_empty_masks_is_near_kaggles():
    _, masks = make_synthetic_ultrasound(300, 32, seed=0)
    empty = 1 - has_nerve(masks).mean()
    assert abs(empty - 0.59) <= 0.08, empty


def test_nerve_is_one_oval_of_reasonable_size():
    _, masks = make_synthetic_ultrasound(40, 64, seed=0, empty_fraction=0.0)
    share = masks.mean(axis=(1, 2))
    assert np.all(share > 0.01) and np.all(share < 0.08), (share.min(), share.max())
    for mask in masks:
        assert label(mask > 0.5).max() == 1  # one connected region
        assert not (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def test_otsu_baseline_scores_badly():
    images, masks = make_synthetic_ultrasound(100, 64, seed=0)
    dice = dice_per_image(otsu_baseline(images, masks), masks)
    nerve = has_nerve(masks)
    print(f"Otsu mean Dice on 100 images at 64 x 64: {dice.mean():.3f} (Kaggle convention), "
          f"{dice[nerve].mean():.3f} on the {nerve.sum()} images with a nerve")
    assert dice.mean() < 0.5
    assert dice[nerve].mean() < 0.3


def test_otsu_baseline_keeps_the_better_polarity():
    images, masks = make_synthetic_ultrasound(20, 48, seed=4)
    chosen = dice_per_image(otsu_baseline(images, masks), masks).mean()
    for polarity in ("bright", "dark"):
        assert chosen >= dice_per_image(otsu_masks(images, polarity), masks).mean()
    np.testing.assert_array_equal(otsu_baseline(images), otsu_masks(images, "bright"))
    bright, dark = otsu_masks(images, "bright"), otsu_masks(images, "dark")
    np.testing.assert_array_equal(bright + dark, np.ones_like(bright))


# --- the script -------------------------------------------------------------------------------

def test_script_writes_pngs(tmp_path, capsys):
    script = load_script()
    assert script.main(["--n", "5", "--size", "40", "48", "--seed", "1",
                        "--out", str(tmp_path), "--format", "png"]) == 0
    images, masks = make_synthetic_ultrasound(5, (40, 48), seed=1)
    names = sorted(os.listdir(tmp_path / "images"))
    assert names == sorted(os.listdir(tmp_path / "masks")) == [f"{i:04d}.png" for i in range(5)]
    for i, name in enumerate(names):
        image = imread(tmp_path / "images" / name)
        mask = imread(tmp_path / "masks" / name)
        assert image.dtype == mask.dtype == np.uint8 and image.shape == (40, 48)
        np.testing.assert_array_equal(image, np.round(images[i] * 255).astype(np.uint8))
        np.testing.assert_array_equal(mask, masks[i].astype(np.uint8) * 255)
    out = capsys.readouterr().out
    assert "5 images of 40 x 48" in out and "Otsu" in out


def test_script_writes_npz_and_a_preview_as_a_command(tmp_path):
    """Run from the repository root as README shows, in a fresh interpreter."""
    preview = tmp_path / "figures" / "preview.png"
    result = subprocess.run(
        [sys.executable, SCRIPT, "--n", "6", "--size", "48", "--seed", "2", "--out",
         str(tmp_path), "--format", "npz", "--preview", str(preview)],
        cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    with np.load(tmp_path / "synthetic_ultrasound.npz", allow_pickle=False) as saved:
        images, masks = make_synthetic_ultrasound(6, 48, seed=2)
        np.testing.assert_array_equal(saved["images"], images)
        np.testing.assert_array_equal(saved["masks"], masks)
    picture = imread(preview)
    assert picture.ndim == 3 and picture.shape[1] > picture.shape[0]
    assert "without a nerve" in result.stdout and "mean Dice" in result.stdout


def test_script_needs_somewhere_to_write():
    with pytest.raises(SystemExit):
        load_script().main(["--n", "2"])
