"""Refusing delegation: while a checker runs the student's function, the package's own
implementation of what the exercise asks for may not be used.

A student's ``my_conv2d`` that only calls ``ops.conv2d_forward`` would pass every comparison,
since the checker compares with that very implementation.  So the checker watches the calls
the student's function makes (``sys.setprofile``, for the length of that one call) and fails
when any of them runs code of the exercise's own implementation: a whole module of the package
(``ops/conv2d.py``, where the convolution lives, including ``nn.Conv2d``'s way into it) or a
single function (``reference.conv2d_forward``).  The code is recognised by its code object or
its file, so a renamed reference, a copy made with ``types.FunctionType`` or a call through
another part of the package is caught as well.  Helpers a lesson hands out (``ops.im2col`` and
``ops.col2im`` in the convolution's backward) live in other modules and stay allowed.
"""

import sys
from contextlib import contextmanager
from pathlib import Path

from .. import losses, metrics, model, nn, ops, optim, reference, submission, tiling
from ..gradcheck import finite_differences
from ..ops import (batch_norm2d, center_crop, concat, conv2d, conv_transpose2d,   # the modules
                   dropout, max_pool2d)

PACKAGE = Path(__file__).resolve().parents[1]
im2col = sys.modules[ops.col2im.__module__]     # the module: ops.im2col names the function

_BATCH_NORM = [reference.batch_norm2d_forward, reference.batch_norm2d_backward,
               nn.BatchNorm2d.forward, nn.BatchNorm2d.backward]
_DROPOUT = [reference.dropout_forward, reference.dropout_backward, nn.Dropout.forward,
            nn.Dropout.backward]
_CONV = [reference.conv2d_forward, reference.conv2d_backward,
         reference.conv_transpose2d_forward, reference.conv_transpose2d_backward]

# check -> (what the exercise asks the student to write, modules, functions, allowed helpers)
FORBIDDEN = {
    "check_dice_coefficient": ("the Dice coefficient", [metrics], [], ""),
    "check_conv2d_forward": ("the convolution", [conv2d, conv_transpose2d], _CONV,
                             "ops.im2col and ops.col2im"),
    "check_conv2d_backward": ("the convolution's backward pass", [conv2d, conv_transpose2d], _CONV,
                              "ops.im2col and ops.col2im"),
    "check_numerical_gradient": ("the central differences", [finite_differences], [], ""),
    "check_max_pool2d_backward": ("the pooling backward pass", [max_pool2d],
                                  [reference.max_pool2d_forward, reference.max_pool2d_backward], ""),
    "check_conv_transpose2d_forward": ("the transposed convolution", [conv2d, conv_transpose2d],
                                       _CONV, "ops.im2col and ops.col2im"),
    "check_center_crop": ("the center crop", [center_crop],
                          [reference.center_crop_forward, reference.center_crop_backward], ""),
    "check_skip_backward": ("the skip connection's backward pass", [center_crop, concat],
                            [reference.center_crop_forward, reference.center_crop_backward], ""),
    "check_unet_output_size": ("the output size", [model], [], ""),
    "check_unet_backward": ("the network's backward pass", [], [model.UNet.backward],
                            "the blocks' own backward methods (model.encoders[0].backward, ...)"),
    "check_soft_dice_loss": ("the soft Dice loss and its gradient", [losses], [], ""),
    "check_adam_step": ("the Adam step", [optim], [], ""),
    "check_he_normal_init": ("the He initialisation", [], [nn.he_normal], ""),
    "check_batch_norm_forward": ("batch normalisation", [batch_norm2d], _BATCH_NORM, ""),
    "check_batch_norm_backward": ("batch normalisation's backward pass", [batch_norm2d],
                                  _BATCH_NORM, ""),
    "check_dropout_forward": ("dropout", [dropout], _DROPOUT, ""),
    "check_dropout_backward": ("dropout's backward pass", [dropout], _DROPOUT, ""),
    "check_contributing_windows": ("the windows a col2im thread gathers", [im2col], [], ""),
    "check_rle_encode": ("the run-length encoding", [submission], [], ""),
    "check_tile_plan": ("the overlap-tile plan", [tiling], [], ""),
}


class Watch:
    """The package code a check forbids, and the first forbidden call seen (``used``)."""

    def __init__(self, check):
        self.what, modules, functions, self.helpers = FORBIDDEN[check]
        self.files = {module.__file__ for module in modules}
        self.codes = {function.__code__ for function in functions}
        self.used = None

    def _profile(self, frame, event, arg):
        if event == "call" and self.used is None:
            code = frame.f_code
            if code in self.codes or code.co_filename in self.files:
                self.used = code

    @contextmanager
    def watching(self):
        """Watch every Python call made inside the block."""
        previous = sys.getprofile()
        sys.setprofile(self._profile)
        try:
            yield self
        finally:
            sys.setprofile(previous)

    def message(self, check, case):
        """The failure of a check whose student function called forbidden code."""
        code = self.used
        try:
            where = Path(code.co_filename).resolve().relative_to(PACKAGE.parent).as_posix()
        except ValueError:
            where = code.co_filename
        name = getattr(code, "co_qualname", code.co_name)
        allowed = f" The lesson's helpers ({self.helpers}) are allowed." if self.helpers else ""
        return (f"{check}: for {case} your function calls the package's own {name} (in {where}). "
                f"This exercise asks you to write {self.what} yourself, with NumPy: calling the "
                f"package's implementation earns no points.{allowed}")
