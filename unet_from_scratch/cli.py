"""The command line: ``unet-scratch`` (also ``python -m unet_from_scratch``).

    unet-scratch gradcheck        check every op's backward against finite differences
    unet-scratch bench ops        time the ops (and PyTorch's, when installed)
"""

import argparse
import sys
import time

import numpy as np

from . import __version__, ops
from .gradcheck import directional_check, elementwise_check


def op_checks(rng):
    """One gradient check per op, at small U-Net-like shapes: (title, forward, backward, inputs, names)."""
    def normal(*shape):
        return rng.standard_normal(shape)

    distinct = (rng.permutation(2 * 3 * 8 * 8) * 0.01).reshape(2, 3, 8, 8)   # no ties in a window
    return [
        ("conv2d 3x3, padding 1", lambda x, w, b: ops.conv2d_forward(x, w, b, padding=1),
         ops.conv2d_backward, [normal(2, 3, 8, 8), normal(4, 3, 3, 3), normal(4)], ["x", "w", "b"]),
        ("conv2d 3x3, stride 2, no padding", lambda x, w, b: ops.conv2d_forward(x, w, b, stride=2),
         ops.conv2d_backward, [normal(2, 3, 9, 9), normal(4, 3, 3, 3), normal(4)], ["x", "w", "b"]),
        ("conv_transpose2d 2x2, stride 2 (up-convolution)",
         lambda x, w, b: ops.conv_transpose2d_forward(x, w, b, stride=2),
         ops.conv_transpose2d_backward, [normal(2, 4, 4, 4), normal(4, 2, 2, 2), normal(2)],
         ["x", "w", "b"]),
        ("max_pool2d 2x2", lambda x: ops.max_pool2d_forward(x, 2), ops.max_pool2d_backward,
         [distinct], ["x"]),
        ("max_pool2d 3x3, stride 2 (overlapping)", lambda x: ops.max_pool2d_forward(x, 3, 2),
         ops.max_pool2d_backward, [distinct], ["x"]),
        ("concat along channels", ops.concat_forward, ops.concat_backward,
         [normal(2, 3, 4, 4), normal(2, 2, 4, 4)], ["a", "b"]),
        ("center_crop to 4x4", lambda x: ops.center_crop_forward(x, 4), ops.center_crop_backward,
         [normal(2, 2, 7, 6)], ["x"]),
        ("relu", ops.relu_forward, ops.relu_backward, [normal(2, 3, 4, 4)], ["x"]),
        ("sigmoid", ops.sigmoid_forward, ops.sigmoid_backward, [normal(2, 3, 4, 4) * 4], ["x"]),
        ("bias_add", ops.bias_add_forward, ops.bias_add_backward, [normal(2, 3, 4, 4), normal(3)],
         ["x", "b"]),
    ]


def run_gradcheck(args):
    """Print a gradient-check report for every op; exit status 1 if any check failed."""
    check = {"elementwise": elementwise_check, "directional": directional_check}[args.method]
    rng = np.random.default_rng(args.seed)
    checks = op_checks(rng)
    print(f"unet_from_scratch {__version__}: {args.method} gradient check of every op "
          f"(float64, seed {args.seed})\n", flush=True)
    failed = []
    start = time.perf_counter()
    for index, (title, forward, backward, inputs, names) in enumerate(checks, 1):
        report = check(forward, backward, inputs, names, eps=args.eps, rtol=args.rtol,
                       atol=args.atol, seed=args.seed)
        print(f"[{index}/{len(checks)}] {title}\n{report}\n", flush=True)
        if not report.passed:
            failed.append(title)
    elapsed = time.perf_counter() - start
    if failed:
        print(f"{len(failed)} of {len(checks)} ops FAILED: {', '.join(failed)} ({elapsed:.1f} s)")
        return 1
    print(f"all {len(checks)} ops passed ({elapsed:.1f} s)")
    return 0


def run_bench(args):
    from . import bench
    return bench.main(args.bench_args, prog="unet-scratch bench")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="unet-scratch",
        description="A U-Net written from scratch in NumPy and CuPy, for teaching.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    gradcheck = commands.add_parser(
        "gradcheck", help="check every op's backward pass against finite differences")
    gradcheck.add_argument("--method", choices=["elementwise", "directional"], default="elementwise",
                           help="perturb every element, or one random direction per input "
                                "(default: %(default)s)")
    gradcheck.add_argument("--rtol", type=float, default=1e-6,
                           help="relative tolerance (default: %(default)g)")
    gradcheck.add_argument("--atol", type=float, default=0.0,
                           help="absolute allowance on top of the rounding floor "
                                "(default: %(default)g)")
    gradcheck.add_argument("--eps", type=float, default=1e-5,
                           help="finite-difference step (default: %(default)g)")
    gradcheck.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    gradcheck.set_defaults(run=run_gradcheck)

    # bench has its own parser (unet_from_scratch/bench.py): everything after "bench" goes to it
    bench = commands.add_parser("bench", help="time the ops; see 'unet-scratch bench --help'",
                                add_help=False)
    bench.set_defaults(run=run_bench)
    return parser


def main(argv=None):
    parser = build_parser()
    args, extra_args = parser.parse_known_args(argv)
    if args.command == "bench":
        args.bench_args = extra_args
    elif extra_args:
        parser.error(f"unrecognized arguments: {' '.join(extra_args)}")
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
