"""``unet-scratch gradcheck``: every op's backward pass against finite differences (the cases
of :mod:`unet_from_scratch.gradcheck.cases`), then a whole small U-Net's gradient."""

import time

import numpy as np

from .. import __version__, netcheck
from ..gradcheck import (DEFAULT_ATOL, DEFAULT_EPS, DEFAULT_RTOL, MODULE_ATOL, MODULE_EPS, OP_CASES,
                         case_functions, directional_check, elementwise_check)


def run_gradcheck(args):
    """Print a gradient-check report for every op, then one for a whole small U-Net through the
    loss, layer by layer (``--only`` picks one of the two); exit status 1 if any check failed."""
    print(f"unet_from_scratch {__version__}: gradient checks in float64, seed {args.seed}\n",
          flush=True)
    failed = []
    if args.only != "network" and not run_op_checks(args):
        failed.append("ops")
    if args.only != "ops" and not run_network_check(args):
        failed.append("network")
    if args.only is None:
        print(f"\ngradcheck FAILED: {' and '.join(failed)}" if failed else
              "\ngradcheck passed: every op and the whole network")
    return 1 if failed else 0


def run_op_checks(args):
    """Print a gradient-check report for every op; True if all passed."""
    check = {"elementwise": elementwise_check, "directional": directional_check}[args.method]
    rng = np.random.default_rng(args.seed)
    print(f"{args.method} gradient check of every op\n", flush=True)
    failed = []
    start = time.perf_counter()
    for index, case in enumerate(OP_CASES, 1):
        forward, backward = case_functions(case)
        report = check(forward, backward, case.draw(rng), case.names, seed=args.seed,
                       **_step_and_tolerances(args, eps=DEFAULT_EPS, rtol=DEFAULT_RTOL,
                                              atol=DEFAULT_ATOL))
        print(f"[{index}/{len(OP_CASES)}] {case.title}\n{report}\n", flush=True)
        if not report.passed:
            failed.append(case.title)
    elapsed = time.perf_counter() - start
    if failed:
        print(f"{len(failed)} of {len(OP_CASES)} ops FAILED: {', '.join(failed)} ({elapsed:.1f} s)")
        return False
    print(f"all {len(OP_CASES)} ops passed ({elapsed:.1f} s)")
    return True


def run_network_check(args):
    """Print the whole-network check (see netcheck.py), one line per parameter; True if it passed."""
    if args.only is None:
        print()
    check = netcheck.check_unet(depth=args.network_depth, padding=args.padding,
                                batch_norm=args.batch_norm, seed=args.seed,
                                **_step_and_tolerances(args, eps=MODULE_EPS, rtol=DEFAULT_RTOL,
                                                       atol=MODULE_ATOL))
    print(netcheck.format_network_check(check), flush=True)
    return check.passed


def _step_and_tolerances(args, eps, rtol, atol):
    """--eps, --rtol and --atol where given, else the check's own defaults."""
    return dict(eps=eps if args.eps is None else args.eps,
                rtol=rtol if args.rtol is None else args.rtol,
                atol=atol if args.atol is None else args.atol)
