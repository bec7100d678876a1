"""The competition's run-length encoding: hand-worked examples, the column-major order, round
trips on random masks of odd shapes, the refusals, small-mask removal and the CSV file."""

import numpy as np
import pytest

from unet_from_scratch.submission import (masks_for_submission, read_submission,
                                          remove_small_masks, rle_decode, rle_encode,
                                          write_submission)


def test_a_hand_worked_3_by_2_mask():
    # mask        pixel numbers (top to bottom, then left to right, from 1)
    #   1 0          1 4
    #   1 1          2 5
    #   0 1          3 6
    # Foreground pixels in number order: 1, 2, then 5, 6 -> runs (1, 2) and (5, 2).
    mask = np.array([[1, 0], [1, 1], [0, 1]])
    assert rle_encode(mask) == "1 2 5 2"
    np.testing.assert_array_equal(rle_decode("1 2 5 2", (3, 2)), mask)


def test_a_run_continues_from_one_column_into_the_next():
    # mask        numbers
    #   0 1          1 4
    #   0 0          2 5
    #   1 0          3 6
    # Pixel 3 (bottom of column 0) and pixel 4 (top of column 1) are consecutive: one run.
    mask = np.array([[0, 1], [0, 0], [1, 0]])
    assert rle_encode(mask) == "3 2"
    np.testing.assert_array_equal(rle_decode("3 2", (3, 2)), mask)


def test_full_and_single_pixel_masks():
    assert rle_encode(np.ones((3, 2))) == "1 6"
    last = np.zeros((4, 5), dtype=bool)
    last[3, 4] = True  # bottom-right: the last pixel, number 20
    assert rle_encode(last) == "20 1"
    first_of_second_column = np.zeros((4, 5))
    first_of_second_column[0, 1] = 1  # row 0, column 1: number 1 * 4 + 0 + 1 = 5
    assert rle_encode(first_of_second_column) == "5 1"


def test_column_major_order_horizontal_and_vertical_lines():
    height, width = 7, 9
    horizontal = np.zeros((height, width), dtype=np.uint8)
    horizontal[2, 1:8] = 1  # row 2, columns 1..7: one pixel in each of 7 columns
    expected = " ".join(f"{c * height + 2 + 1} 1" for c in range(1, 8))
    assert rle_encode(horizontal) == expected
    vertical = np.zeros((height, width), dtype=np.uint8)
    vertical[1:6, 4] = 1  # column 4, rows 1..5: five consecutive numbers
    assert rle_encode(vertical) == f"{4 * height + 2} 5"


def test_empty_masks():
    assert rle_encode(np.zeros((420, 580), dtype=np.uint8)) == ""
    for text in ("", "   ", "\n"):
        decoded = rle_decode(text, (5, 3))
        assert decoded.dtype == np.uint8 and decoded.shape == (5, 3) and not decoded.any()


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1), (5, 3), (13, 17), (420, 580)])
@pytest.mark.parametrize("density", [0.02, 0.5, 0.98])
def test_round_trip_on_random_masks(rng, shape, density):
    mask = (rng.random(shape) < density).astype(np.float32)
    text = rle_encode(mask)
    decoded = rle_decode(text, shape)
    assert decoded.dtype == np.uint8 and decoded.shape == shape
    np.testing.assert_array_equal(decoded, mask)
    # The runs are increasing, separated by at least one background pixel, lengths >= 1.
    if text:
        runs = np.array(text.split(), dtype=np.int64).reshape(-1, 2)
        assert (runs[:, 1] >= 1).all()
        assert (runs[1:, 0] > runs[:-1, 0] + runs[:-1, 1]).all()


def test_encoding_matches_a_plain_loop(rng):
    """An independent definition: walk the pixels in column-major order, one by one."""
    mask = rng.random((11, 6)) < 0.4
    runs, number = [], 0
    for column in range(mask.shape[1]):
        for row in range(mask.shape[0]):
            number += 1
            if mask[row, column]:
                if runs and runs[-1][0] + runs[-1][1] == number:
                    runs[-1][1] += 1
                else:
                    runs.append([number, 1])
    assert rle_encode(mask) == " ".join(f"{s} {n}" for s, n in runs)


def test_decoding_accepts_touching_runs_and_extra_whitespace():
    np.testing.assert_array_equal(rle_decode(" 1 2\t3 1 \n", (2, 2)), [[1, 1], [1, 0]])


@pytest.mark.parametrize("text, message", [
    ("1 2 5", r"rle_decode: expected pairs of 'start length', got an odd number of values \(3\)"),
    ("1 2.5", r"rle_decode: expected non-negative integers separated by spaces, got '2.5'"),
    ("-1 2", r"rle_decode: expected non-negative integers .* got '-1'"),
    ("1 x", r"rle_decode: expected non-negative integers .* got 'x'"),
    ("1,2", r"rle_decode: expected non-negative integers .* got '1,2'"),
    ("0 2", r"rle_decode: run 1 starts at pixel 0; pixels are numbered from 1"),
    ("3 0", r"rle_decode: run 1 \(start 3\) has length 0; lengths must be >= 1"),
    ("5 2", r"rle_decode: run 1 \(start 5, length 2\) ends at pixel 6, past the last pixel 5 "
            r"of a 5 x 1 mask"),
    ("1 3 2 1", r"rle_decode: run 2 starts at pixel 2, before run 1 ends \(start 1, length 3\)"),
    ("4 1 1 1", r"rle_decode: run 2 starts at pixel 1, before run 1 ends"),
])
def test_decoding_refuses_bad_text(text, message):
    with pytest.raises(ValueError, match=message):
        rle_decode(text, (5, 1))


def test_bad_arguments_are_refused_naming_the_function():
    with pytest.raises(TypeError, match=r"rle_decode: text must be a str, got NoneType"):
        rle_decode(None, (2, 2))
    with pytest.raises(ValueError, match=r"rle_decode: shape must be \(H, W\), two ints >= 1, "
                                         r"got \(0, 3\)"):
        rle_decode("", (0, 3))
    with pytest.raises(ValueError, match=r"rle_encode: mask must be a 2-D array \(H, W\), "
                                         r"got mask.shape=\(1, 2, 2\)"):
        rle_encode(np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match=r"rle_encode: mask must be binary .* such as \[0.7\]"):
        rle_encode(np.array([[0, 0.7], [1, 0]]))
    with pytest.raises(ValueError, match=r"rle_encode: mask must be binary .* such as \[255\]"):
        rle_encode(np.array([[0, 255]], dtype=np.uint8))


def test_remove_small_masks_empties_whole_masks():
    masks = np.zeros((4, 6, 5), dtype=np.float32)
    masks[0, :2, :2] = 1            # 4 pixels: removed
    masks[1, :2, :3] = 1            # 6 pixels: kept (exactly min_pixels)
    masks[2, :3, :3] = 1            # two blobs, 9 + 1 pixels: kept whole, small blob too
    masks[2, 5, 4] = 1
    original = masks.copy()
    kept = remove_small_masks(masks, 6)
    assert kept.dtype == masks.dtype and kept.shape == masks.shape
    assert not kept[0].any() and not kept[3].any()
    np.testing.assert_array_equal(kept[1:3], masks[1:3])
    np.testing.assert_array_equal(masks, original)  # the input is left alone
    np.testing.assert_array_equal(remove_small_masks(masks, 0), masks)
    np.testing.assert_array_equal(remove_small_masks(masks[:, None] > 0, 5)[:, 0],
                                  kept > 0)  # (N, 1, H, W) and bool work too
    with pytest.raises(ValueError, match=r"remove_small_masks: min_pixels must be an int >= 0, "
                                         r"got -1"):
        remove_small_masks(masks, -1)
    with pytest.raises(ValueError, match=r"remove_small_masks: masks must have shape \(N, H, W\)"
                                         r" or \(N, 1, H, W\), got masks.shape=\(6, 5\)"):
        remove_small_masks(masks[0], 3)


def test_masks_for_submission_resizes_thresholds_and_removes(rng):
    probabilities = np.zeros((3, 1, 21, 29), dtype=np.float32)
    probabilities[0, 0, 5:15, 5:20] = 0.9   # a nerve
    probabilities[1, 0, 2, 2] = 0.9         # a stray pixel: removed
    masks = masks_for_submission(probabilities, shape=(42, 58), min_pixels=30)
    assert masks.shape == (3, 42, 58) and masks.dtype == np.uint8
    assert set(np.unique(masks)) <= {0, 1}
    assert 0.6 * 10 * 15 * 4 < masks[0].sum() < 1.4 * 10 * 15 * 4
    assert not masks[1].any() and not masks[2].any()
    same_size = masks_for_submission(probabilities[:, 0], shape=(21, 29))
    np.testing.assert_array_equal(same_size, probabilities[:, 0] > 0.5)


def test_write_and_read_a_submission(tmp_path, rng):
    ids = [10, 2, 1, 33]
    masks = (rng.random((4, 9, 7)) < 0.3).astype(np.uint8)
    masks[2] = 0
    path = tmp_path / "out" / "submission.csv"  # the folder does not exist yet
    assert write_submission(path, ids, masks) == path
    lines = path.read_text().splitlines()
    assert lines[0] == "img,pixels"
    assert [int(line.split(",")[0]) for line in lines[1:]] == [1, 2, 10, 33]  # sorted as ints
    assert lines[1] == "1,"  # image 1 has an empty mask
    rows = read_submission(path)
    assert list(rows) == [1, 2, 10, 33]
    for image_id, mask in zip(ids, masks):
        np.testing.assert_array_equal(rle_decode(rows[image_id], (9, 7)), mask)
    # Digit strings (file names without .tif) and (N, 1, H, W) work too.
    write_submission(path, ["10", "2", "1", "33"], masks[:, None])
    assert read_submission(path) == rows


def test_write_submission_refuses_bad_ids(tmp_path):
    masks = np.zeros((2, 3, 3))
    path = tmp_path / "s.csv"
    with pytest.raises(ValueError, match=r"write_submission: expected one id per mask, got 3 "
                                         r"ids and 2 masks"):
        write_submission(path, [1, 2, 3], masks)
    with pytest.raises(ValueError, match=r"write_submission: ids must be distinct, got 4 twice"):
        write_submission(path, [4, 4], masks)
    with pytest.raises(ValueError, match=r"write_submission: ids must be integers >= 0 .* "
                                         r"got 'a'"):
        write_submission(path, ["a", 1], masks)
    assert not path.exists()


@pytest.mark.parametrize("content, message", [
    ("", r"expected the header 'img,pixels' on line 1, got ''"),
    ("id,rle\n1,\n", r"expected the header 'img,pixels' on line 1, got 'id,rle'"),
    ("img,pixels\n1,1 2,3\n", r"line 2: expected 2 fields 'img,pixels', got 3"),
    ("img,pixels\n1,\nx,1 2\n", r"line 3: expected an integer image id, got 'x'"),
    ("img,pixels\n1,\n1,1 2\n", r"line 3: image id 1 appears twice"),
])
def test_read_submission_refuses_bad_files(tmp_path, content, message):
    path = tmp_path / "s.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=r"read_submission: .*s.csv.*" + message):
        read_submission(path)
    with pytest.raises(ValueError, match=r"read_submission: .*: no such file"):
        read_submission(tmp_path / "missing.csv")
