"""unet_from_scratch: a U-Net written from scratch in NumPy and CuPy, for teaching.

Layers, bottom to top (nothing imports anything above it):

    backend     NumPy or CuPy: get_array_module, to_device, asnumpy, gpu_available
    reference   the definitions, as plain Python loops
    ops         the fast kernels, one file per op, forward/backward pairs
    gradcheck   finite-difference checks (elementwise and directional)
    cli, bench  the command line (``unet-scratch``) and the op benchmark
"""

from . import ops, reference
from .backend import asnumpy, get_array_module, gpu_available, to_device
from .gradcheck import GradCheckReport, directional_check, elementwise_check

__version__ = "0.1.0"

__all__ = [
    "ops", "reference",
    "asnumpy", "get_array_module", "gpu_available", "to_device",
    "GradCheckReport", "directional_check", "elementwise_check",
    "__version__",
]
