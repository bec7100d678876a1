"""unet_from_scratch: a U-Net written from scratch in NumPy and CuPy, for teaching.

Layers, bottom to top (nothing imports anything above it; no import cycle):

    backend     NumPy or CuPy: get_array_module, to_device, asnumpy, gpu_available; the GPU
                path switch (gpu_path, set_gpu_path, gpu_path_set) and compute_path, the one
                rule that says which code an op runs
    checks      the validators every layer shares, and their messages
    reference   the definitions, as plain Python loops
    cuda        the CUDA kernels (.cu) and their loader, for the ops, the losses and Adam
    ops         the fast kernels, one file per op, forward/backward pairs
    gradcheck   finite-difference checks (elementwise, directional, whole modules) and the
                table of op cases
    nn, model   Modules with explicit forward/backward; the UNet
    losses      soft Dice and binary cross-entropy on logits
    metrics     Dice and IoU on hard masks (Kaggle convention: both empty -> 1)
    optim       SGD and Adam
    data        synthetic ultrasound, the real data sets, image files, augmentation
    train       fit (prediction: predict and the one rule for images of any size;
                checkpoints: save and load, never non-finite; progress: the bar and its
                ETA; tiling: the valid network's overlap-tile prediction; submission: the
                Kaggle run-length encoding)
    teaching    the lessons' exercise checkers and the student-version generator
    cli, bench, netcheck, viz
                the command line (``unet-scratch``), the benchmarks, the network gradient
                report and the figures

A first run::

    from unet_from_scratch import UNet, fit, predict
    from unet_from_scratch.data import make_synthetic_ultrasound
    model = UNet(base_channels=8, depth=3)
    history = fit(model, make_synthetic_ultrasound(400, 64, seed=0),
                  make_synthetic_ultrasound(100, 64, seed=1), epochs=12, lr=2e-3)
"""

import importlib

# The public names and the modules that define them.  They are imported on first use
# (PEP 562), so that ``import unet_from_scratch`` -- and so the start of the ``unet-scratch``
# command, whose main() catches Ctrl-C -- does not first spend a second importing NumPy,
# scikit-image and every layer before any of our code can answer a Ctrl-C in one line.
_SUBMODULES = ("losses", "metrics", "nn", "ops", "optim", "reference")
_DEFINED_IN = {
    "backend": ("asnumpy", "get_array_module", "gpu_available", "gpu_path", "gpu_path_set",
                "set_gpu_path", "to_device"),
    "gradcheck": ("GradCheckReport", "directional_check", "elementwise_check", "module_check"),
    "metrics": ("dice_per_image", "iou_per_image", "mean_dice", "mean_iou"),
    "model": ("UNet",),
    "optim": ("SGD", "Adam"),
    "train": ("fit", "load_checkpoint", "predict", "save_checkpoint"),
}
_MODULE_OF = {name: module for module, names in _DEFINED_IN.items() for name in names}

__version__ = "0.2.0"

__all__ = [
    "losses", "metrics", "nn", "ops", "optim", "reference",
    "asnumpy", "get_array_module", "gpu_available", "to_device",
    "gpu_path", "gpu_path_set", "set_gpu_path",
    "GradCheckReport", "directional_check", "elementwise_check", "module_check",
    "dice_per_image", "iou_per_image", "mean_dice", "mean_iou",
    "UNet", "SGD", "Adam",
    "fit", "load_checkpoint", "predict", "save_checkpoint",
    "__version__",
]


def __getattr__(name):
    """Import a public name's module on first use (see ``_DEFINED_IN``)."""
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _MODULE_OF:
        value = getattr(importlib.import_module(f".{_MODULE_OF[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
