"""Data sets and their files: synthetic ultrasound, the Kaggle nerve set, ISBI 2012 EM slices,
folders of images and masks, prepared .npz files, training patches and augmentation."""

from .augment import Augmenter
from .baselines import otsu_baseline, otsu_masks
from .folders import load_image_folder
from .images import read_image, read_mask, resize, write_mask
from .isbi import load_isbi2012
from .kaggle import load_kaggle_nerve, load_kaggle_test, split_by_subject
from .npz import load_prepared, save_prepared
from .patches import cut_patches
from .synthetic import make_synthetic_ultrasound

__all__ = ["Augmenter", "cut_patches", "load_image_folder", "load_isbi2012", "load_kaggle_nerve",
           "load_kaggle_test", "load_prepared", "make_synthetic_ultrasound", "otsu_baseline",
           "otsu_masks", "read_image", "read_mask", "resize", "save_prepared", "split_by_subject",
           "write_mask"]
