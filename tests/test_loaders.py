"""Real-data loaders: the Kaggle nerve set, ISBI 2012, image folders, prepared .npz, scripts.

Every test writes its own small files into ``tmp_path`` in the exact format of the data set
(Kaggle's ``{subject}_{n}.tif`` / ``{subject}_{n}_mask.tif``, ISBI's multi-page TIF stacks and
PNG slices, ``images/`` + ``masks/`` folders), with tifffile and Pillow, independently of the
code under test. The tests on ``shared/data/isbi2012/`` (in the checkout, e.g. a link to the
shared copy) skip where that copy is absent.
Every refusal is tested, and its message must name the offending file.
"""

import importlib.util
import os
import shutil

import numpy as np
import pytest
import tifffile
from PIL import Image

from unet_from_scratch.data.folders import load_image_folder
from unet_from_scratch.data.isbi import load_isbi2012
from unet_from_scratch.data.kaggle import load_kaggle_nerve, load_kaggle_test, split_by_subject
from unet_from_scratch.data.npz import load_prepared, save_prepared

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_ISBI_IN_REPO = os.path.join("shared", "data", "isbi2012")
SHARED_ISBI = os.path.join(REPO, SHARED_ISBI_IN_REPO)
KAGGLE_SHAPE = (42, 58)  # the Kaggle scans' 420 x 580, ten times smaller
SUBJECTS = (1, 2, 10)    # 10 after 2: numeric order, not the names' alphabetical order


def quiet(_):
    """A ``log`` that drops the report."""


def pixels(rng, shape):
    """Random 8-bit greyscale pixels."""
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


def box_mask(shape, top=10, left=12, height=12, width=16):
    """A 0/255 uint8 mask with one rectangle of foreground."""
    mask = np.zeros(shape, dtype=np.uint8)
    mask[top:top + height, left:left + width] = 255
    return mask


def write_kaggle_train(folder, subjects=SUBJECTS, frames=(1, 2), shape=KAGGLE_SHAPE, seed=0):
    """Kaggle's train/ layout; frame 1 of each subject has a nerve, the others are empty.
    Returns {stem: (image, mask)} of what was written (uint8)."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    written = {}
    for subject in subjects:
        for n in frames:
            image = pixels(rng, shape)
            mask = box_mask(shape) if n == 1 else np.zeros(shape, dtype=np.uint8)
            tifffile.imwrite(os.path.join(folder, f"{subject}_{n}.tif"), image)
            tifffile.imwrite(os.path.join(folder, f"{subject}_{n}_mask.tif"), mask)
            written[f"{subject}_{n}"] = (image, mask)
    return written


def write_kaggle_test(folder, ids=(1, 2, 10), shape=KAGGLE_SHAPE):
    """Kaggle's test/ layout: ``{n}.tif`` without masks. Returns {id: image}."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(1)
    written = {}
    for n in ids:
        written[n] = pixels(rng, shape)
        tifffile.imwrite(os.path.join(folder, f"{n}.tif"), written[n])
    return written


def write_isbi_stacks(folder, n=4, shape=(32, 32)):
    """The challenge's train-volume.tif and train-labels.tif (labels: 255 cell, 0 membrane)."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(2)
    volume = pixels(rng, (n,) + shape)
    labels = np.where(rng.random((n,) + shape) < 0.78, 255, 0).astype(np.uint8)
    tifffile.imwrite(os.path.join(folder, "train-volume.tif"), volume, photometric="minisblack")
    tifffile.imwrite(os.path.join(folder, "train-labels.tif"), labels, photometric="minisblack")
    return volume, labels


def write_isbi_slices(folder, n=12, shape=(16, 16)):
    """image/N.png and label/N.png, N = 0..n-1. Returns the (n, H, W) volume and labels."""
    rng = np.random.default_rng(3)
    volume = pixels(rng, (n,) + shape)
    labels = np.where(rng.random((n,) + shape) < 0.78, 255, 0).astype(np.uint8)
    for sub in ("image", "label"):
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
    for i in range(n):
        Image.fromarray(volume[i]).save(os.path.join(folder, "image", f"{i}.png"))
        Image.fromarray(labels[i]).save(os.path.join(folder, "label", f"{i}.png"))
    return volume, labels


def write_image_folder(folder, shape=(20, 24)):
    """images/ + masks/: a.jpg with a.png, b.png with b.png, c.tif with c.tif (c empty).
    Returns {stem: (image, mask)} (uint8; a.jpg's pixels as written, before compression)."""
    rng = np.random.default_rng(4)
    for sub in ("images", "masks"):
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
    written = {}
    for stem, image_ext, mask_ext in (("a", ".jpg", ".png"), ("b", ".png", ".png"),
                                      ("c", ".tif", ".tif")):
        image = pixels(rng, shape)
        mask = box_mask(shape, 4, 4, 6, 8) if stem != "c" else np.zeros(shape, np.uint8)
        Image.fromarray(image).save(os.path.join(folder, "images", stem + image_ext))
        Image.fromarray(mask).save(os.path.join(folder, "masks", stem + mask_ext))
        written[stem] = (image, mask)
    return written


def load_script(name):
    """Import data_scripts/<name>.py as a module."""
    spec = importlib.util.spec_from_file_location(f"{name}_script",
                                                  os.path.join(REPO, "data_scripts", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_binary(masks):
    assert masks.dtype == np.float32
    assert set(np.unique(masks).tolist()) <= {0.0, 1.0}


# --------------------------------------------------------------------------------------------
# Kaggle nerve: train/ and test/.
# --------------------------------------------------------------------------------------------

def test_kaggle_reads_every_pair_at_its_own_size(tmp_path):
    written = write_kaggle_train(tmp_path)
    images, masks, subjects, names = load_kaggle_nerve(tmp_path, size=None, log=quiet)
    assert images.shape == masks.shape == (6, 42, 58)
    assert images.dtype == np.float32
    assert names.tolist() == ["1_1", "1_2", "2_1", "2_2", "10_1", "10_2"]
    assert subjects.tolist() == [1, 1, 2, 2, 10, 10] and subjects.dtype == np.int64
    for image, mask, name in zip(images, masks, names):
        np.testing.assert_allclose(image, written[name][0] / 255, atol=1e-6)
        np.testing.assert_array_equal(mask, written[name][1] / 255)


@pytest.mark.parametrize("size", [(21, 29), (96, 128)])
def test_kaggle_resizes_images_and_keeps_masks_binary(tmp_path, size):
    write_kaggle_train(tmp_path)
    images, masks, _, _ = load_kaggle_nerve(tmp_path, size=size, log=quiet)
    assert images.shape == masks.shape == (6,) + size
    assert images.min() >= 0 and images.max() <= 1
    assert_binary(masks)
    # the box covers 12 x 16 of 42 x 58 pixels; resizing keeps about that share
    share = masks[0].mean()
    assert abs(share - 12 * 16 / (42 * 58)) < 0.03
    assert not masks[1].any()


def test_kaggle_default_size_is_96_by_128(tmp_path):
    write_kaggle_train(tmp_path, subjects=(1,), frames=(1,))
    images, masks, _, _ = load_kaggle_nerve(tmp_path, log=quiet)
    assert images.shape == masks.shape == (1, 96, 128)


def test_kaggle_report_counts_sizes_and_empty_masks(tmp_path):
    write_kaggle_train(tmp_path)
    (tmp_path / "notes.txt").write_text("not an image")
    lines = []
    load_kaggle_nerve(tmp_path, size=(21, 29), log=lines.append)
    assert len(lines) == 1
    text = lines[0]
    for part in ("load_kaggle_nerve", "6 image/mask pairs", "3 subjects", "42 x 58",
                 "21 x 29", "3 of 6 masks empty (50%)", "notes.txt"):
        assert part in text, (part, text)


def test_kaggle_report_counts_masks_that_vanish_in_the_resize(tmp_path):
    tifffile.imwrite(tmp_path / "1_1.tif", np.zeros(KAGGLE_SHAPE, np.uint8))
    tifffile.imwrite(tmp_path / "1_1_mask.tif", box_mask(KAGGLE_SHAPE, 20, 20, 1, 1))
    lines = []
    _, masks, _, _ = load_kaggle_nerve(tmp_path, size=(6, 8), log=lines.append)
    assert not masks.any()
    assert "1 of them only because" in lines[0]


def test_kaggle_test_folder_sorted_numerically(tmp_path):
    written = write_kaggle_test(tmp_path)
    lines = []
    images, ids = load_kaggle_test(tmp_path, size=None, log=lines.append)
    assert ids.tolist() == [1, 2, 10] and ids.dtype == np.int64
    for image, n in zip(images, ids):
        np.testing.assert_allclose(image, written[n] / 255, atol=1e-6)
    assert "3 images" in lines[0] and "42 x 58" in lines[0]
    resized, _ = load_kaggle_test(tmp_path, size=(21, 29), log=quiet)
    assert resized.shape == (3, 21, 29) and resized.dtype == np.float32


def test_kaggle_refuses_an_image_without_its_mask(tmp_path):
    write_kaggle_train(tmp_path)
    os.remove(tmp_path / "2_1_mask.tif")
    with pytest.raises(ValueError, match=r"load_kaggle_nerve: .*2_1\.tif has no mask.*2_1_mask"):
        load_kaggle_nerve(tmp_path, log=quiet)


def test_kaggle_refuses_a_mask_without_its_image(tmp_path):
    write_kaggle_train(tmp_path)
    os.remove(tmp_path / "10_2.tif")
    with pytest.raises(ValueError, match=r"load_kaggle_nerve: mask .*10_2_mask\.tif has no image"):
        load_kaggle_nerve(tmp_path, log=quiet)


def test_kaggle_refuses_image_and_mask_of_different_sizes(tmp_path):
    write_kaggle_train(tmp_path)
    tifffile.imwrite(tmp_path / "2_2_mask.tif", np.zeros((40, 58), np.uint8))
    with pytest.raises(ValueError, match=r"load_kaggle_nerve: image .*2_2\.tif is 42 x 58 but "
                                         r"its mask .*2_2_mask\.tif is 40 x 58"):
        load_kaggle_nerve(tmp_path, log=quiet)


def test_kaggle_refuses_a_non_binary_mask_checked_before_resizing(tmp_path):
    write_kaggle_train(tmp_path)
    mask = box_mask(KAGGLE_SHAPE)
    mask[0, 0] = 128
    tifffile.imwrite(tmp_path / "1_2_mask.tif", mask)
    with pytest.raises(ValueError, match=r"load_kaggle_nerve: read_mask: .*1_2_mask\.tif: "
                                         r"not a binary mask.*128"):
        load_kaggle_nerve(tmp_path, size=(21, 29), log=quiet)


def test_kaggle_refuses_an_unreadable_file(tmp_path):
    write_kaggle_train(tmp_path)
    (tmp_path / "2_1.tif").write_bytes(b"not a tif at all")
    with pytest.raises(ValueError, match=r"load_kaggle_nerve: read_image: .*2_1\.tif: cannot read"):
        load_kaggle_nerve(tmp_path, log=quiet)


def test_kaggle_refuses_images_of_different_sizes_without_a_size(tmp_path):
    write_kaggle_train(tmp_path)
    tifffile.imwrite(tmp_path / "2_2.tif", np.zeros((40, 50), np.uint8))
    tifffile.imwrite(tmp_path / "2_2_mask.tif", np.zeros((40, 50), np.uint8))
    with pytest.raises(ValueError, match=r"load_kaggle_nerve: image .*2_2\.tif is 40 x 50 but "
                                         r".*1_1\.tif is 42 x 58"):
        load_kaggle_nerve(tmp_path, size=None, log=quiet)
    images, _, _, _ = load_kaggle_nerve(tmp_path, size=(21, 29), log=quiet)
    assert images.shape == (6, 21, 29)


def test_kaggle_refuses_an_empty_or_missing_folder(tmp_path):
    with pytest.raises(ValueError, match=r"load_kaggle_nerve: .*empty_one: the Kaggle train "
                                         r"folder is empty"):
        os.makedirs(tmp_path / "empty_one")
        load_kaggle_nerve(tmp_path / "empty_one", log=quiet)
    with pytest.raises(ValueError, match=r"load_kaggle_nerve: .*nowhere: no such"):
        load_kaggle_nerve(tmp_path / "nowhere", log=quiet)
    with pytest.raises(ValueError, match=r"load_kaggle_test: .*empty_one: the Kaggle test "
                                         r"folder is empty"):
        load_kaggle_test(tmp_path / "empty_one", log=quiet)


def test_kaggle_refuses_a_folder_without_matching_names(tmp_path):
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "scan_a.png")
    with pytest.raises(ValueError, match=r"load_kaggle_nerve: .*no files named "
                                         r"\{subject\}_\{n\}\.tif.*scan_a\.png"):
        load_kaggle_nerve(tmp_path, log=quiet)


def test_kaggle_test_refuses_a_train_folder_and_unreadable_files(tmp_path):
    write_kaggle_train(tmp_path / "train")
    with pytest.raises(ValueError, match=r"load_kaggle_test: .*train: no files named \{n\}\.tif"
                                         r".*1_1\.tif.*train folder"):
        load_kaggle_test(tmp_path / "train", log=quiet)
    write_kaggle_test(tmp_path / "test")
    (tmp_path / "test" / "2.tif").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"load_kaggle_test: read_image: .*2\.tif: cannot read"):
        load_kaggle_test(tmp_path / "test", log=quiet)


def test_kaggle_refuses_a_bad_size(tmp_path):
    write_kaggle_train(tmp_path)
    with pytest.raises(ValueError, match=r"load_kaggle_nerve: size must be None or a pair"):
        load_kaggle_nerve(tmp_path, size=(0, 10), log=quiet)


# --------------------------------------------------------------------------------------------
# split_by_subject.
# --------------------------------------------------------------------------------------------

def test_split_by_subject_keeps_each_subject_on_one_side():
    subjects = np.repeat(np.arange(1, 48), 5)  # 47 subjects, like the Kaggle set
    train, val = split_by_subject(subjects, val_fraction=0.2, seed=0)
    assert not set(subjects[train]) & set(subjects[val])
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(subjects.size))
    assert len(np.unique(subjects[val])) == round(0.2 * 47)
    assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)


def test_split_by_subject_is_deterministic_by_seed():
    subjects = np.repeat(np.arange(20), 3)
    first = split_by_subject(subjects, 0.25, seed=7)
    again = split_by_subject(subjects, 0.25, seed=7)
    other = split_by_subject(subjects, 0.25, seed=8)
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])
    from_generator = split_by_subject(subjects, 0.25, seed=np.random.default_rng(7))
    assert len(from_generator[1]) == len(first[1])


def test_split_by_subject_edge_cases():
    subjects = np.array([3, 3, 5, 5, 9])
    train, val = split_by_subject(subjects, 0.0)
    assert val.size == 0 and train.tolist() == [0, 1, 2, 3, 4]
    train, val = split_by_subject(subjects, 0.01)  # rounds to 0 subjects, but asked for some
    assert len(np.unique(subjects[val])) == 1
    train, val = split_by_subject(subjects, 0.99)  # never every subject
    assert len(np.unique(subjects[train])) == 1
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match="split_by_subject: val_fraction"):
            split_by_subject(subjects, bad)
    with pytest.raises(ValueError, match="split_by_subject: seed"):
        split_by_subject(subjects, 0.2, seed=-1)
    with pytest.raises(ValueError, match="split_by_subject: subjects"):
        split_by_subject(np.array([[1, 2]]), 0.2)


# --------------------------------------------------------------------------------------------
# ISBI 2012: TIF stacks, PNG slices, and the shared copy.
# --------------------------------------------------------------------------------------------

def test_isbi_stacks_membrane_and_cell_foreground(tmp_path):
    volume, labels = write_isbi_stacks(tmp_path)
    lines = []
    images, membranes = load_isbi2012(tmp_path, log=lines.append)
    assert images.shape == membranes.shape == (4, 32, 32) and images.dtype == np.float32
    np.testing.assert_allclose(images, volume / 255, atol=1e-6)
    np.testing.assert_array_equal(membranes, labels == 0)
    _, cells = load_isbi2012(tmp_path, foreground="cell", log=quiet)
    np.testing.assert_array_equal(cells, labels == 255)
    assert_binary(membranes)
    assert "4 slices" in lines[0] and "32 x 32" in lines[0] and "train-volume.tif" in lines[0]


def test_isbi_png_slices_sorted_numerically(tmp_path):
    volume, labels = write_isbi_slices(tmp_path)
    images, masks = load_isbi2012(tmp_path, log=quiet)
    assert images.shape == masks.shape == (12, 16, 16)
    # slice 10 comes after 9, not after 1
    np.testing.assert_allclose(images, volume / 255, atol=1e-6)
    np.testing.assert_array_equal(masks, labels == 0)


def test_isbi_refuses_a_volume_without_labels(tmp_path):
    write_isbi_stacks(tmp_path)
    os.remove(tmp_path / "train-labels.tif")
    with pytest.raises(ValueError, match=r"load_isbi2012: .*train-volume\.tif has no partner: "
                                         r"expected .*train-labels\.tif"):
        load_isbi2012(tmp_path, log=quiet)


def test_isbi_refuses_stacks_of_different_shapes(tmp_path):
    write_isbi_stacks(tmp_path)
    tifffile.imwrite(tmp_path / "train-labels.tif", np.zeros((3, 32, 32), np.uint8),
                     photometric="minisblack")
    with pytest.raises(ValueError, match=r"load_isbi2012: .*train-volume\.tif holds 4 slices "
                                         r"of 32 x 32 but .*train-labels\.tif holds 3 slices"):
        load_isbi2012(tmp_path, log=quiet)


def test_isbi_refuses_non_binary_labels(tmp_path):
    _, labels = write_isbi_stacks(tmp_path)
    labels[1, 2, 3] = 77
    tifffile.imwrite(tmp_path / "train-labels.tif", labels, photometric="minisblack")
    with pytest.raises(ValueError, match=r"load_isbi2012: .*train-labels\.tif: not a binary "
                                         r"label stack.*77"):
        load_isbi2012(tmp_path, log=quiet)


def test_isbi_refuses_an_unreadable_stack(tmp_path):
    write_isbi_stacks(tmp_path)
    (tmp_path / "train-volume.tif").write_bytes(b"II*\x00 truncated")
    with pytest.raises(ValueError, match=r"load_isbi2012: .*train-volume\.tif: cannot read"):
        load_isbi2012(tmp_path, log=quiet)


def test_isbi_refuses_a_slice_without_label_and_a_label_without_slice(tmp_path):
    write_isbi_slices(tmp_path)
    os.remove(tmp_path / "label" / "10.png")
    with pytest.raises(ValueError, match=r"load_isbi2012: .*image.10\.png has no mask: expected "
                                         r"a label .*label.10\.png"):
        load_isbi2012(tmp_path, log=quiet)
    os.remove(tmp_path / "image" / "10.png")
    os.remove(tmp_path / "image" / "3.png")
    with pytest.raises(ValueError, match=r"load_isbi2012: mask .*label.3\.png has no image"):
        load_isbi2012(tmp_path, log=quiet)


def test_isbi_refuses_unreadable_slices_and_mismatched_sizes(tmp_path):
    write_isbi_slices(tmp_path)
    Image.fromarray(np.zeros((8, 16), np.uint8)).save(tmp_path / "label" / "4.png")
    with pytest.raises(ValueError, match=r"load_isbi2012: image .*image.4\.png is 16 x 16 but "
                                         r"its mask .*label.4\.png is 8 x 16"):
        load_isbi2012(tmp_path, log=quiet)
    (tmp_path / "image" / "4.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(ValueError, match=r"load_isbi2012: read_image: .*image.4\.png: cannot"):
        load_isbi2012(tmp_path, log=quiet)


def test_isbi_refuses_an_empty_or_unknown_folder(tmp_path):
    os.makedirs(tmp_path / "empty")
    with pytest.raises(ValueError, match=r"load_isbi2012: .*empty: the ISBI 2012 folder is empty"):
        load_isbi2012(tmp_path / "empty", log=quiet)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "volume.tif").write_bytes(b"")
    with pytest.raises(ValueError, match=r"load_isbi2012: .*other: expected train-volume\.tif "
                                         r"and train-labels\.tif.*volume\.tif"):
        load_isbi2012(tmp_path / "other", log=quiet)
    os.makedirs(tmp_path / "slices" / "image")
    os.makedirs(tmp_path / "slices" / "label")
    (tmp_path / "slices" / "image" / "readme.txt").write_text("x")
    (tmp_path / "slices" / "label" / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match=r"load_isbi2012: .*image: no slices named N\.png.*readme"):
        load_isbi2012(tmp_path / "slices", log=quiet)
    with pytest.raises(ValueError, match="load_isbi2012: foreground must be"):
        load_isbi2012(tmp_path / "slices", foreground="membranes", log=quiet)


def test_isbi_shared_copy():
    if not os.path.isdir(SHARED_ISBI):
        pytest.skip(f"no ISBI 2012 copy in this checkout's {SHARED_ISBI_IN_REPO}")
    lines = []
    images, masks = load_isbi2012(SHARED_ISBI, log=lines.append)
    assert images.shape == masks.shape == (30, 512, 512)
    assert images.dtype == masks.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 1
    assert_binary(masks)
    assert 0.15 < masks.mean() < 0.3  # membranes: about 22 % of the pixels
    label = np.asarray(Image.open(os.path.join(SHARED_ISBI, "label", "29.png")))
    np.testing.assert_array_equal(masks[29], label == 0)
    assert "30 slices" in lines[0]


# --------------------------------------------------------------------------------------------
# Image folders.
# --------------------------------------------------------------------------------------------

def test_image_folder_pairs_by_stem_across_extensions(tmp_path):
    written = write_image_folder(tmp_path)
    lines = []
    images, masks, names = load_image_folder(tmp_path, log=lines.append)
    assert names.tolist() == ["a", "b", "c"]
    assert images.shape == masks.shape == (3, 20, 24) and images.dtype == np.float32
    np.testing.assert_allclose(images[1], written["b"][0] / 255, atol=1e-6)
    np.testing.assert_allclose(images[0], written["a"][0] / 255, atol=0.2)  # JPG: lossy
    for mask, name in zip(masks, names):
        np.testing.assert_array_equal(mask, written[name][1] / 255)
    assert "3 image/mask pairs" in lines[0] and "1 of 3 masks empty (33%)" in lines[0]


def test_image_folder_sizes_must_agree_unless_resized(tmp_path):
    write_image_folder(tmp_path)
    Image.fromarray(np.zeros((30, 30), np.uint8)).save(tmp_path / "images" / "b.png")
    Image.fromarray(np.zeros((30, 30), np.uint8)).save(tmp_path / "masks" / "b.png")
    with pytest.raises(ValueError, match=r"load_image_folder: image .*b\.png is 30 x 30 but "
                                         r".*a\.jpg is 20 x 24.*size="):
        load_image_folder(tmp_path, log=quiet)
    images, masks, _ = load_image_folder(tmp_path, size=(10, 12), log=quiet)
    assert images.shape == masks.shape == (3, 10, 12)
    assert_binary(masks)


def test_image_folder_refuses_missing_and_extra_masks(tmp_path):
    write_image_folder(tmp_path)
    os.remove(tmp_path / "masks" / "b.png")
    with pytest.raises(ValueError, match=r"load_image_folder: .*images.b\.png has no mask: "
                                         r"expected a mask named b\.\*"):
        load_image_folder(tmp_path, log=quiet)
    os.remove(tmp_path / "images" / "b.png")
    Image.fromarray(np.zeros((20, 24), np.uint8)).save(tmp_path / "masks" / "d.png")
    with pytest.raises(ValueError, match=r"load_image_folder: mask .*masks.d\.png has no image"):
        load_image_folder(tmp_path, log=quiet)


def test_image_folder_refuses_two_files_with_one_stem(tmp_path):
    write_image_folder(tmp_path)
    Image.fromarray(np.zeros((20, 24), np.uint8)).save(tmp_path / "images" / "a.png")
    with pytest.raises(ValueError, match=r"load_image_folder: .*a\.(png|jpg) and .*a\.(png|jpg) "
                                         r"share the name 'a'"):
        load_image_folder(tmp_path, log=quiet)


def test_image_folder_refuses_bad_masks_sizes_and_files(tmp_path):
    write_image_folder(tmp_path)
    Image.fromarray(box_mask((20, 24), 2, 2, 4, 4) // 2).save(tmp_path / "masks" / "b.png")
    with pytest.raises(ValueError, match=r"load_image_folder: read_mask: .*b\.png: not a binary"):
        load_image_folder(tmp_path, log=quiet)
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "masks" / "b.png")
    with pytest.raises(ValueError, match=r"load_image_folder: image .*b\.png is 20 x 24 but its "
                                         r"mask .*b\.png is 20 x 20"):
        load_image_folder(tmp_path, log=quiet)
    (tmp_path / "images" / "b.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"load_image_folder: read_image: .*b\.png: cannot read"):
        load_image_folder(tmp_path, log=quiet)


def test_image_folder_refuses_missing_or_empty_folders(tmp_path):
    with pytest.raises(ValueError, match=r"load_image_folder: .*nowhere: no such folder"):
        load_image_folder(tmp_path / "nowhere", log=quiet)
    os.makedirs(tmp_path / "images")
    with pytest.raises(ValueError, match=r"load_image_folder: .*masks: no such folder"):
        load_image_folder(tmp_path, log=quiet)
    os.makedirs(tmp_path / "masks")
    with pytest.raises(ValueError, match=r"load_image_folder: .*images: the images/ folder is "
                                         r"empty"):
        load_image_folder(tmp_path, log=quiet)
    (tmp_path / "images" / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match=r"load_image_folder: .*images: no image files"):
        load_image_folder(tmp_path, log=quiet)


# --------------------------------------------------------------------------------------------
# Prepared .npz and the scripts.
# --------------------------------------------------------------------------------------------

def test_prepared_npz_round_trip_and_refusals(tmp_path):
    rng = np.random.default_rng(5)
    train = (rng.random((3, 8, 8), dtype=np.float32), np.zeros((3, 8, 8), np.float32))
    val = (rng.random((0, 8, 8), dtype=np.float32), np.zeros((0, 8, 8), np.float32))
    path = save_prepared(tmp_path / "set.npz", train, val, names=np.array(["a", "b", "c"]))
    (ti, tm), (vi, vm) = load_prepared(path)
    np.testing.assert_array_equal(ti, train[0])
    assert vi.shape == vm.shape == (0, 8, 8)
    assert [p.name for p in tmp_path.iterdir()] == ["set.npz"]  # no temporary file left
    np.savez(tmp_path / "partial.npz", train_images=train[0], train_masks=train[1])
    with pytest.raises(ValueError, match=r"load_prepared: .*partial\.npz: missing array\(s\) "
                                         r"val_images, val_masks.*found train_images"):
        load_prepared(tmp_path / "partial.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(ValueError, match=r"load_prepared: .*junk\.npz: not a readable"):
        load_prepared(tmp_path / "junk.npz")
    with pytest.raises(ValueError, match=r"load_prepared: .*absent\.npz: no such file"):
        load_prepared(tmp_path / "absent.npz")


def test_prepare_kaggle_script_writes_a_subject_split(tmp_path, capsys):
    write_kaggle_train(tmp_path / "competition" / "train", subjects=(1, 2, 3, 4, 10))
    out = tmp_path / "kaggle.npz"
    script = load_script("prepare_kaggle_nerve")
    # the folder above train/ is accepted too
    assert script.main([str(tmp_path / "competition"), "--size", "21", "29",
                        "--val-fraction", "0.4", "--seed", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "load_kaggle_nerve: 10 image/mask pairs" in printed and f"wrote {out}" in printed
    (ti, tm), (vi, vm) = load_prepared(out)
    assert ti.shape == (6, 21, 29) and vi.shape == (4, 21, 29) and ti.dtype == np.float32
    assert_binary(tm)
    with np.load(out, allow_pickle=False) as data:
        train_subjects, val_subjects = data["train_subjects"], data["val_subjects"]
        assert len(data["train_names"]) == 6
    assert not set(train_subjects) & set(val_subjects)
    assert len(set(val_subjects)) == 2
    with pytest.raises(SystemExit, match=r"prepare_kaggle_nerve\.py: load_kaggle_nerve: .*empty"):
        os.makedirs(tmp_path / "nothing")
        script.main([str(tmp_path / "nothing"), "--out", str(out)])


def test_prepare_isbi_script_keeps_the_last_slices_for_validation(tmp_path, capsys):
    volume, labels = write_isbi_stacks(tmp_path / "isbi", n=6)
    out = tmp_path / "isbi.npz"
    script = load_script("prepare_isbi2012")
    assert script.main([str(tmp_path / "isbi"), "--val", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "slices 0-3 train (4), slices 4-5 validate (2)" in printed
    (ti, tm), (vi, vm) = load_prepared(out)
    np.testing.assert_allclose(vi, volume[4:] / 255, atol=1e-6)
    np.testing.assert_array_equal(tm, labels[:4] == 0)
    with np.load(out, allow_pickle=False) as data:
        assert data["val_slices"].tolist() == [4, 5] and str(data["foreground"]) == "membrane"
    with pytest.raises(SystemExit, match="leaves no slice to train on"):
        script.main([str(tmp_path / "isbi"), "--val", "6", "--out", str(out)])


@pytest.mark.filterwarnings("ignore:<tifffile.TiffWriter.write>:DeprecationWarning")
def test_isbi_three_page_stack_that_tifffile_stored_as_planar_rgb(tmp_path):
    # tifffile.imwrite stores a (3, H, W) array as one planar RGB page unless told otherwise;
    # it is still three slices
    volume = np.arange(3 * 8 * 8, dtype=np.uint8).reshape(3, 8, 8)
    tifffile.imwrite(tmp_path / "train-volume.tif", volume)
    tifffile.imwrite(tmp_path / "train-labels.tif", np.full((3, 8, 8), 255, np.uint8))
    images, masks = load_isbi2012(tmp_path, log=quiet)
    np.testing.assert_allclose(images, volume / 255, atol=1e-6)
    assert images.shape == (3, 8, 8) and not masks.any()


def test_isbi_refuses_a_colour_tif(tmp_path):
    write_isbi_stacks(tmp_path)
    tifffile.imwrite(tmp_path / "train-volume.tif", np.zeros((32, 32, 3), np.uint8),
                     photometric="rgb")
    with pytest.raises(ValueError, match=r"load_isbi2012: .*train-volume\.tif: a colour TIF"):
        load_isbi2012(tmp_path, log=quiet)


def test_two_files_with_one_number_are_refused_not_merged(tmp_path):
    """1_1.tif and 1_01.tif (or 3.png and 03.png) are the same frame to a number parser;
    taking one of them silently could pair an image with another image's mask."""
    folder = str(tmp_path / "train")
    write_kaggle_train(folder)
    shutil.copy(os.path.join(folder, "1_1.tif"), os.path.join(folder, "1_01.tif"))
    with pytest.raises(ValueError, match=r"load_kaggle_nerve: .*train: 1_0?1.tif and 1_0?1.tif "
                                         r"have the same number"):
        load_kaggle_nerve(folder, size=None, log=None)
    write_isbi_slices(str(tmp_path / "em"), n=6)
    labels = tmp_path / "em" / "label"
    shutil.copy(str(labels / "3.png"), str(labels / "03.png"))
    with pytest.raises(ValueError, match=r"load_isbi2012: .*label: 0?3.png and 0?3.png have the "
                                         r"same number"):
        load_isbi2012(str(tmp_path / "em"), log=None)
