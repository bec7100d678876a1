"""Image files in and out: read_image, read_mask, write_mask and resize.

Every test writes its own files into ``tmp_path``: with Pillow (PNG, JPG, GIF) and tifffile
(TIF), independently of the functions under test.
"""

import numpy as np
import pytest
import tifffile
from PIL import Image

from unet_from_scratch.data import read_image, read_mask, resize, write_mask


def ramp(height=12, width=20):
    """A grey ramp in [0, 1]: (H, W) float64, every value distinct along a row."""
    return np.linspace(0, 1, height * width).reshape(height, width)


def disc(height=12, width=20):
    """A 0/1 mask with a disc in it: (H, W) bool."""
    y, x = np.mgrid[:height, :width]
    return (y - height / 2) ** 2 + (x - width / 2) ** 2 < 16


# --------------------------------------------------------------------------------------------
# read_image: every dtype and layout to float32 (H, W) in [0, 1].
# --------------------------------------------------------------------------------------------

def test_uint8_png_reads_divided_by_255(tmp_path):
    pixels = np.round(ramp() * 255).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "x.png")
    image = read_image(tmp_path / "x.png")
    assert image.dtype == np.float32 and image.shape == (12, 20)
    np.testing.assert_allclose(image, pixels / 255, atol=1e-6)
    assert image.min() == 0 and image.max() == 1


def test_uint16_png_and_tif_read_divided_by_65535(tmp_path):
    pixels = np.round(ramp() * 65535).astype(np.uint16)
    Image.fromarray(pixels).save(tmp_path / "x.png")
    tifffile.imwrite(tmp_path / "x.tif", pixels)
    for name in ("x.png", "x.tif"):
        image = read_image(tmp_path / name)
        assert image.dtype == np.float32 and image.shape == (12, 20), name
        np.testing.assert_allclose(image, pixels / 65535, atol=1e-6, err_msg=name)


def test_8_and_16_bit_copies_of_one_image_read_alike(tmp_path):
    Image.fromarray(np.round(ramp() * 255).astype(np.uint8)).save(tmp_path / "8.png")
    tifffile.imwrite(tmp_path / "16.tif", np.round(ramp() * 65535).astype(np.uint16))
    np.testing.assert_allclose(read_image(tmp_path / "8.png"), read_image(tmp_path / "16.tif"),
                               atol=1 / 255)


def test_rgb_and_rgba_become_grey_and_alpha_is_dropped(tmp_path):
    grey = np.round(ramp() * 255).astype(np.uint8)
    rgb = np.stack([grey] * 3, axis=-1)
    rgba = np.concatenate([rgb, np.full_like(grey, 7)[..., None]], axis=-1)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    for name in ("rgb.png", "rgba.png"):
        image = read_image(tmp_path / name)
        assert image.dtype == np.float32 and image.shape == (12, 20), name
        np.testing.assert_allclose(image, grey / 255, atol=1e-5, err_msg=name)
    pure_red = np.zeros((4, 5, 3), np.uint8)
    pure_red[..., 0] = 255
    Image.fromarray(pure_red).save(tmp_path / "red.png")
    np.testing.assert_allclose(read_image(tmp_path / "red.png"), 0.2125, atol=1e-4)


def test_jpg_reads_to_the_unit_range(tmp_path):
    pixels = np.round(ramp(32, 48) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "x.jpg", quality=95)
    image = read_image(tmp_path / "x.jpg")
    assert image.dtype == np.float32 and image.shape == (32, 48)
    assert 0 <= image.min() and image.max() <= 1
    np.testing.assert_allclose(image, pixels / 255, atol=0.05)  # lossy, but close


def test_float_tif_in_range_is_kept_and_out_of_range_is_stretched(tmp_path):
    tifffile.imwrite(tmp_path / "unit.tif", ramp().astype(np.float32))
    np.testing.assert_allclose(read_image(tmp_path / "unit.tif"), ramp(), atol=1e-6)
    tifffile.imwrite(tmp_path / "wide.tif", (ramp() * 300 - 50).astype(np.float32))
    np.testing.assert_allclose(read_image(tmp_path / "wide.tif"), ramp(), atol=1e-5)


def test_planar_rgb_tif_is_read_as_colour(tmp_path):
    grey = np.round(ramp() * 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "planar.tif", np.stack([grey] * 3),
                     photometric="rgb", planarconfig="separate")
    np.testing.assert_allclose(read_image(tmp_path / "planar.tif"), grey / 255, atol=1e-5)


@pytest.mark.parametrize("pages", [3, 5])
def test_tif_stack_is_refused(tmp_path, pages):
    # 3 pages is the trap: skimage.io.imread alone would read them as one RGB image.
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, np.zeros((pages, 12, 20), np.uint8), photometric="minisblack")
    with pytest.raises(ValueError,
                       match=rf"read_image: .*stack\.tif: a TIF stack of {pages} pages"):
        read_image(path)
    with pytest.raises(ValueError, match="read_mask: .*stack of"):
        read_mask(path)


def test_animated_gif_is_refused(tmp_path):
    frames = [Image.fromarray(np.full((12, 20), v, np.uint8)) for v in (0, 128, 255)]
    frames[0].save(tmp_path / "movie.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(ValueError, match=r"read_image: .*movie\.gif: holds a stack of 3 images"):
        read_image(tmp_path / "movie.gif")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"read_image: .*nothing\.png: no such file"):
        read_image(tmp_path / "nothing.png")
    with pytest.raises(ValueError, match=r"read_mask: .*nothing\.png: no such file"):
        read_mask(str(tmp_path / "nothing.png"))


# imageio tries each of its plugins on a file nobody recognises, and importing its legacy DICOM
# plugin warns that the plugin is deprecated: not ours to fix.
@pytest.mark.filterwarnings("ignore:The legacy `DICOM` plugin:DeprecationWarning")
@pytest.mark.parametrize("name", ["x.png", "x.tif", "x.jpg"])
def test_corrupt_file_is_named_with_the_reason(tmp_path, name):
    (tmp_path / name).write_bytes(b"this is not an image" * 10)
    with pytest.raises(ValueError, match=rf"read_image: .*{name}: cannot read it as an image"):
        read_image(tmp_path / name)


def test_truncated_png_is_refused(tmp_path):
    Image.fromarray(np.round(ramp(64, 64) * 255).astype(np.uint8)).save(tmp_path / "whole.png")
    data = (tmp_path / "whole.png").read_bytes()
    (tmp_path / "half.png").write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match=r"read_image: .*half\.png: cannot read it"):
        read_image(tmp_path / "half.png")


# --------------------------------------------------------------------------------------------
# read_mask and write_mask.
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("as_type", [bool, np.uint8, np.float32, np.float64, np.int64])
def test_write_mask_then_read_mask_round_trip(tmp_path, as_type):
    mask = disc().astype(as_type)
    path = write_mask(tmp_path / "masks" / "m.png", mask)  # the folder does not exist yet
    assert path == tmp_path / "masks" / "m.png"
    stored = np.asarray(Image.open(path))
    assert stored.dtype == np.uint8 and set(np.unique(stored)) == {0, 255}
    back = read_mask(path)
    assert back.dtype == np.float32 and back.shape == mask.shape
    np.testing.assert_array_equal(back, disc())


def test_write_mask_as_tif_round_trips(tmp_path):
    write_mask(tmp_path / "m.tif", disc())
    np.testing.assert_array_equal(read_mask(tmp_path / "m.tif"), disc())


@pytest.mark.parametrize("foreground, dtype", [(255, np.uint8), (1, np.uint8),
                                               (65535, np.uint16), (True, bool)])
def test_read_mask_accepts_each_binary_convention(tmp_path, foreground, dtype):
    Image.fromarray(np.where(disc(), foreground, 0).astype(dtype)).save(tmp_path / "m.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png"), disc())


def test_read_mask_accepts_empty_and_grey_stored_as_rgb(tmp_path):
    Image.fromarray(np.zeros((12, 20), np.uint8)).save(tmp_path / "empty.png")
    assert not read_mask(tmp_path / "empty.png").any()
    rgb = np.stack([disc().astype(np.uint8) * 255] * 3, axis=-1)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "rgb.png"), disc())


def test_read_mask_refuses_non_binary_values_naming_some(tmp_path):
    pixels = np.where(disc(), 255, 0).astype(np.uint8)
    pixels[0, :3] = (17, 128, 200)
    Image.fromarray(pixels).save(tmp_path / "grey.png")
    with pytest.raises(ValueError, match=r"read_mask: .*grey\.png: not a binary mask.*"
                                         r"17, 128, 200"):
        read_mask(tmp_path / "grey.png")
    Image.fromarray(np.where(disc(), 128, 0).astype(np.uint8)).save(tmp_path / "half.png")
    with pytest.raises(ValueError, match=r"read_mask: .*half\.png: not a binary mask.*128"):
        read_mask(tmp_path / "half.png")


def test_read_mask_refuses_a_colour_mask(tmp_path):
    rgb = np.zeros((12, 20, 3), np.uint8)
    rgb[disc(), 0] = 255
    Image.fromarray(rgb).save(tmp_path / "red.png")
    with pytest.raises(ValueError, match=r"read_mask: .*red\.png: a colour mask"):
        read_mask(tmp_path / "red.png")


def test_write_mask_refuses_bad_masks(tmp_path):
    with pytest.raises(ValueError, match=r"write_mask: mask must be a non-empty 2-D array.*"
                                         r"\(1, 12, 20\)"):
        write_mask(tmp_path / "m.png", disc()[None])
    with pytest.raises(ValueError, match=r"write_mask: mask must hold only 0 and 1.*0\.3"):
        write_mask(tmp_path / "m.png", np.where(disc(), 0.3, 0.0))
    with pytest.raises(ValueError, match=r"write_mask: .*m\.jpg: a mask needs a lossless"):
        write_mask(tmp_path / "m.jpg", disc())
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------------------------
# resize.
# --------------------------------------------------------------------------------------------

def test_resize_shapes_dtype_and_range():
    image = ramp(40, 60).astype(np.float64)
    small = resize(image, (20, 30))
    assert small.dtype == np.float32 and small.shape == (20, 30)
    assert 0 <= small.min() and small.max() <= 1
    big = resize(small, (40, 60))
    assert big.shape == (40, 60)
    np.testing.assert_allclose(big, image, atol=0.05)
    stack = resize(np.stack([image, 1 - image]), (20, 30))
    assert stack.shape == (2, 20, 30)
    np.testing.assert_allclose(stack[0], small, atol=1e-6)


def test_resize_keeps_the_range_of_uint8_values():
    image = np.full((10, 10), 200, np.uint8)
    np.testing.assert_allclose(resize(image, (5, 5)), 200, atol=1e-3)


def test_resize_order_0_keeps_a_mask_binary():
    mask = disc(24, 40)
    for shape in ((12, 20), (48, 80)):
        resized = resize(mask, shape, order=0)
        assert set(np.unique(resized)) == {0.0, 1.0}


def test_resize_anti_aliases_when_shrinking():
    checkerboard = (np.indices((64, 64)).sum(axis=0) % 2).astype(np.float32)
    # Without a blur, sampling every other pixel would give a constant 0 or 1 image.
    np.testing.assert_allclose(resize(checkerboard, (16, 16)), 0.5, atol=0.05)


def test_resize_refuses_bad_arguments():
    with pytest.raises(ValueError, match=r"resize: image must be a non-empty \(H, W\).*"
                                         r"\(1, 2, 3, 4\)"):
        resize(np.zeros((1, 2, 3, 4)), (2, 2))
    with pytest.raises(ValueError, match=r"resize: shape must be a pair \(H, W\) of ints"):
        resize(np.zeros((4, 4)), (2, 0))
    with pytest.raises(ValueError, match=r"resize: shape must be a pair"):
        resize(np.zeros((4, 4)), 2)
    with pytest.raises(ValueError, match=r"resize: order must be an int from 0 to 5, got 7"):
        resize(np.zeros((4, 4)), (2, 2), order=7)
