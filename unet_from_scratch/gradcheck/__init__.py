"""Finite-difference gradient checks, and the table of op cases they run on.

    finite_differences   elementwise_check, directional_check and module_check: does a
                         backward pass compute the gradient of its forward?  (The math,
                         the tolerances and the report are explained there.)
    cases                OP_CASES, one small check per op, which ``unet-scratch gradcheck``
                         prints and the tests run on both the fast ops and the loop reference
"""

from .cases import OP_CASES, GradCase, case_functions
from .finite_differences import (DEFAULT_ATOL, DEFAULT_EPS, DEFAULT_RTOL, FLOAT64_EPS, MODULE_ATOL,
                                 MODULE_EPS, GradCheckEntry, GradCheckReport, directional_check,
                                 elementwise_check, module_check)

__all__ = [
    "OP_CASES", "GradCase", "case_functions",
    "DEFAULT_ATOL", "DEFAULT_EPS", "DEFAULT_RTOL", "FLOAT64_EPS", "MODULE_ATOL", "MODULE_EPS",
    "GradCheckEntry", "GradCheckReport", "directional_check", "elementwise_check", "module_check",
]
