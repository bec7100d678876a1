"""Data sets: synthetic ultrasound nerve images (and, later, the Kaggle nerve set and ISBI 2012),
and image files in and out (one image or mask per file)."""

from .images import read_image, read_mask, resize, write_mask
from .synthetic import make_synthetic_ultrasound, otsu_baseline

__all__ = ["make_synthetic_ultrasound", "otsu_baseline",
           "read_image", "read_mask", "resize", "write_mask"]
