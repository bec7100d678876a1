"""Data sets: synthetic ultrasound nerve images (and, later, the Kaggle nerve set and ISBI 2012)."""

from .synthetic import make_synthetic_ultrasound, otsu_baseline

__all__ = ["make_synthetic_ultrasound", "otsu_baseline"]
