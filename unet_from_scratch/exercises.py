"""The lessons' exercise checkers, importable as ``unet_from_scratch.exercises`` (the notebooks
import them from here).  They live in :mod:`unet_from_scratch.teaching`: the checkers of lessons
00-04 in ``exercises``, of lessons 05-08, 10 and 11 in ``exercises_network``, the overlap-tile
plan's in ``exercises_tiling``, of lesson 09 (He initialisation, batch norm, dropout) in
``exercises_normalization``."""

from .teaching.exercises import (check_conv2d_backward, check_conv2d_forward,
                                 check_conv_transpose2d_forward, check_dice_coefficient,
                                 check_max_pool2d_backward, check_numerical_gradient)
from .teaching.exercises_network import (check_adam_step, check_center_crop,
                                         check_contributing_windows, check_rle_encode,
                                         check_skip_backward, check_soft_dice_loss,
                                         check_unet_backward, check_unet_output_size)
from .teaching.exercises_normalization import (check_batch_norm_backward,
                                               check_batch_norm_forward, check_dropout_backward,
                                               check_dropout_forward, check_he_normal_init)
from .teaching.exercises_tiling import check_tile_plan
from .teaching.grading import ExerciseError

__all__ = [
    "ExerciseError", "check_adam_step", "check_batch_norm_backward", "check_batch_norm_forward",
    "check_center_crop", "check_contributing_windows", "check_conv2d_backward",
    "check_conv2d_forward", "check_conv_transpose2d_forward", "check_dice_coefficient",
    "check_dropout_backward", "check_dropout_forward", "check_he_normal_init",
    "check_max_pool2d_backward", "check_numerical_gradient",
    "check_rle_encode", "check_skip_backward", "check_soft_dice_loss", "check_tile_plan",
    "check_unet_backward", "check_unet_output_size",
]
