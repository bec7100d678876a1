"""Any data set kept as two folders of files: ``images/`` and ``masks/`` with matching names.

    PATH/images/a.jpg    PATH/masks/a.png
    PATH/images/b.png    PATH/masks/b.png
    ...

An image and its mask share a name up to the extension (the *stem*), so a JPG scan may have a
PNG mask. Files are PNG, TIF or JPG (``.png``, ``.tif``, ``.tiff``, ``.jpg``, ``.jpeg``);
other files are ignored and listed in the report. Masks must hold 0 and 255 (or 0 and 1) in
the file itself: a JPG mask almost never does, since compression blurs its edges into other
values, so keep masks in PNG or TIF. ``data_scripts/make_synthetic_ultrasound.py`` writes
this layout.

Every error is a ``ValueError`` that names the function and the file.
"""

import os

import numpy as np

from ._loading import (IMAGE_EXTENSIONS, check_size, list_folder, natural_key, read_pairs,
                       refuse_unpaired, report)


def load_image_folder(path, size=None, log=print):
    """Read every image in ``path/images/`` with its mask in ``path/masks/``.

    Inputs:
        path: the folder that holds ``images/`` and ``masks/``.
        size: None to keep the files' size (then all images must have one size), or
            ``(H, W)``: images are resized bilinearly (anti-aliased when they shrink), masks
            the same way and thresholded at 0.5 so that they stay 0/1.
        log: a function that takes the report (one line of text), ``print`` by default;
            None for silence.
    Returns:
        images: float32 (N, H, W) in [0, 1] (colour files become grey).
        masks: float32 (N, H, W) of 0 and 1.
        names: str (N,), the stems, in natural order ("2" before "10").
    Raises:
        ValueError naming the file: a missing folder or an empty one, no PNG/TIF/JPG files,
        an image without a mask or a mask without an image, two images (or masks) with one
        stem, a file that cannot be read, an image and mask of different sizes, a mask with
        values other than 0 and 255 (or 0 and 1), images of different sizes when ``size`` is
        None.
    """
    op = "load_image_folder"
    size = check_size(op, size)
    if not os.path.isdir(path):
        list_folder(op, path, "folder")  # refuses a missing path or a file
    for folder in ("images", "masks"):
        if not os.path.isdir(os.path.join(path, folder)):
            raise ValueError(f"{op}: {os.path.join(path, folder)}: no such folder; expected "
                             f"{path} to hold images/ and masks/ with matching file names")
    found, ignored = {}, []
    for folder in ("images", "masks"):
        where = os.path.join(path, folder)
        found[folder] = {}
        for name in list_folder(op, where, f"{folder}/ folder"):
            stem, extension = os.path.splitext(name)
            if extension.lower() not in IMAGE_EXTENSIONS:
                ignored.append(os.path.join(folder, name))
                continue
            if stem in found[folder]:
                raise ValueError(f"{op}: {os.path.join(where, name)} and "
                                 f"{os.path.join(where, found[folder][stem])} share the name "
                                 f"{stem!r}; expected one file per name in {folder}/")
            found[folder][stem] = name
        if not found[folder]:
            raise ValueError(f"{op}: {where}: no image files (expected "
                             f"{', '.join(IMAGE_EXTENSIONS)})")
    images, masks = found["images"], found["masks"]
    refuse_unpaired(op, [os.path.join(path, "images", images[stem])
                         for stem in sorted(set(images) - set(masks), key=natural_key)],
                    [os.path.join(path, "masks", masks[stem])
                     for stem in sorted(set(masks) - set(images), key=natural_key)],
                    lambda image: f"a mask named "
                                  f"{os.path.splitext(os.path.basename(image))[0]}.* "
                                  f"(PNG, TIF or JPG) in {os.path.join(path, 'masks')}")
    stems = sorted(images, key=natural_key)
    pairs = [(os.path.join(path, "images", images[stem]), os.path.join(path, "masks", masks[stem]))
             for stem in stems]
    image_array, mask_array, info = read_pairs(op, pairs, size)
    if log is not None:
        info["ignored"] = ignored
        log(report(op, path, len(stems), info, size, mask_array))
    return image_array, mask_array, np.array(stems, dtype=str)
