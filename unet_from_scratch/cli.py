"""The command line: ``unet-scratch`` (also ``python -m unet_from_scratch``).

    unet-scratch train            train a U-Net on synthetic ultrasound (the main job)
    unet-scratch predict          segment image files with a checkpoint
    unet-scratch evaluate         mean Dice and IoU of a checkpoint, per-image CSV
    unet-scratch gradcheck        check every op's backward and a whole U-Net's gradient
    unet-scratch bench            time a training step (and PyTorch's, when installed)

The jobs behind train, predict and evaluate are in ``jobs.py``.
"""

import argparse
import sys
import time

import numpy as np

from . import __version__, jobs, ops
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
    checks = op_checks(rng)
    print(f"{args.method} gradient check of every op\n", flush=True)
    failed = []
    start = time.perf_counter()
    for index, (title, forward, backward, inputs, names) in enumerate(checks, 1):
        report = check(forward, backward, inputs, names, seed=args.seed,
                       **_step_and_tolerances(args, eps=1e-5, rtol=1e-6, atol=0.0))
        print(f"[{index}/{len(checks)}] {title}\n{report}\n", flush=True)
        if not report.passed:
            failed.append(title)
    elapsed = time.perf_counter() - start
    if failed:
        print(f"{len(failed)} of {len(checks)} ops FAILED: {', '.join(failed)} ({elapsed:.1f} s)")
        return False
    print(f"all {len(checks)} ops passed ({elapsed:.1f} s)")
    return True


def run_network_check(args):
    """Print the whole-network check (see netcheck.py), one line per parameter; True if it passed."""
    from . import netcheck
    from .gradcheck import DEFAULT_RTOL, MODULE_ATOL, MODULE_EPS
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


def run_bench(args):
    from . import bench
    return bench.main(args.bench_args, prog="unet-scratch bench")


def positive_int(text):
    """argparse type: an int >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an int >= 1, got {value}")
    return value


def non_negative_int(text):
    """argparse type: an int >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an int >= 0, got {value}")
    return value


def build_parser():
    parser = argparse.ArgumentParser(
        prog="unet-scratch",
        description="A U-Net written from scratch in NumPy and CuPy, for teaching.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    gradcheck = commands.add_parser(
        "gradcheck", help="check every op's backward pass, and a whole U-Net's, against "
                          "finite differences",
        description="Check each op's backward pass against central differences, then the "
                    "gradient of a small float64 U-Net through the dice+bce loss, one line per "
                    "parameter. Exit status 1 if any check fails.")
    gradcheck.add_argument("--only", choices=["ops", "network"],
                           help="run only the per-op checks or only the whole-network check "
                                "(default: both)")
    gradcheck.add_argument("--method", choices=["elementwise", "directional"], default="elementwise",
                           help="for the ops: perturb every element, or one random direction per "
                                "input (default: %(default)s; the network is always checked "
                                "along directions)")
    gradcheck.add_argument("--rtol", type=float,
                           help="relative tolerance (default: 1e-6)")
    gradcheck.add_argument("--atol", type=float,
                           help="absolute allowance on top of the rounding floor "
                                "(default: 0 for the ops, 1e-8 for the network)")
    gradcheck.add_argument("--eps", type=float,
                           help="finite-difference step (default: 1e-5 for the ops, 1e-6 for "
                                "the network)")
    gradcheck.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    network = gradcheck.add_argument_group(
        "the network", "a UNet(base_channels=4) in float64 on one 1x1x32x32 input (with "
                       "--padding valid the smallest size above 32 that fits: 44 at depth 2, 92 at "
                       "depth 3), random binary targets, dice+bce loss")
    network.add_argument("--network-depth", type=positive_int, default=2, metavar="DEPTH",
                         help="number of poolings (default: %(default)s)")
    network.add_argument("--padding", choices=["same", "valid"], default="same",
                         help="3x3 convolutions' padding (default: %(default)s)")
    network.add_argument("--batch-norm", action="store_true",
                         help="batch norm after each 3x3 convolution")
    gradcheck.set_defaults(run=run_gradcheck)

    add_train_parser(commands)
    add_predict_parser(commands)
    add_evaluate_parser(commands)
    add_augment_preview_parser(commands)
    add_lessons_parser(commands)

    # bench has its own parser (unet_from_scratch/bench.py): everything after "bench" goes to it
    bench = commands.add_parser(
        "bench", help="time a training step and the ops; see 'unet-scratch bench --help'",
        add_help=False)
    bench.set_defaults(run=run_bench)
    return parser


def add_train_parser(commands):
    from .losses import LOSSES
    train = commands.add_parser(
        "train", help="train a U-Net (on synthetic ultrasound: a minute on a laptop CPU)",
        description="Train a U-Net on synthetic ultrasound or on real data. Prints the loss and "
                    "the validation Dice of each epoch next to an Otsu-threshold baseline, and "
                    "writes a checkpoint, learning curves and predictions to --out.")
    data = train.add_argument_group("data")
    data.add_argument("--data", default="synthetic", metavar="SOURCE",
                      help="synthetic (default); kaggle:PATH, the Kaggle nerve set's train/ "
                           "folder (split by subject); isbi2012:PATH, the ISBI 2012 stacks or "
                           "PNG slices (the last 5 slices validate); folder:PATH, with images/ "
                           "and masks/; or a FILE.npz from data_scripts/prepare_*.py")
    data.add_argument("--size", type=positive_int, nargs="+", metavar="PX",
                      help="synthetic: the image side (default 64); kaggle: H W to resize to "
                           "(default 96 128); folder: H W to resize to (default: as they are)")
    data.add_argument("--train-images", type=positive_int, default=400, metavar="N",
                      help="synthetic: training images (default: %(default)s)")
    data.add_argument("--val-images", type=positive_int, default=100, metavar="N",
                      help="synthetic: validation images (default: %(default)s)")
    data.add_argument("--val-fraction", type=float, default=0.2, metavar="F",
                      help="kaggle, folder: the share of images that validate "
                           "(default: %(default)s)")
    data.add_argument("--patch", type=positive_int, metavar="PX",
                      help="train on non-overlapping PX x PX patches of the training images "
                           "(validation stays whole); e.g. 128 for the 512 x 512 EM slices")
    data.add_argument("--augment", action="store_true",
                      help="flips, rotations, shifts, scaling, brightness/contrast and elastic "
                           "deformation of the training batches")
    model = train.add_argument_group("model")
    model.add_argument("--base-channels", type=positive_int, default=8, metavar="C",
                       help="channels of the first level, doubled at each level "
                            "(default: %(default)s; the usual U-Net has 32 or 64)")
    model.add_argument("--depth", type=positive_int, default=3,
                       help="number of poolings (default: %(default)s)")
    model.add_argument("--padding", choices=["same", "valid"], default="same",
                       help="same: output size = input size; valid: the paper's unpadded "
                            "convolutions, trained on masks cropped to the output "
                            "(default: %(default)s)")
    model.add_argument("--batch-norm", action="store_true", help="batch norm after each conv")
    run = train.add_argument_group("training")
    run.add_argument("--epochs", type=positive_int, default=12,
                     help="total epochs (default: %(default)s)")
    run.add_argument("--batch", type=positive_int, default=8,
                     help="batch size (default: %(default)s)")
    run.add_argument("--lr", type=float, default=2e-3,
                     help="Adam's learning rate (default: %(default)s)")
    run.add_argument("--loss", choices=sorted(LOSSES), default="dice+bce",
                     help="loss (default: %(default)s)")
    run.add_argument("--seed", type=int, default=0, help="seeds data, weights and shuffling "
                                                         "(default: %(default)s)")
    run.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                     help="where to train (default: %(default)s)")
    run.add_argument("--out", metavar="DIR",
                     help="output folder (default: runs/ and the data's kind, e.g. "
                          "runs/synthetic)")
    run.add_argument("--resume", nargs="?", const="", metavar="CHECKPOINT",
                     help="continue an interrupted run (default: DIR/checkpoint.last.npz)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(run=jobs.run_train)


def add_predict_parser(commands):
    predict = commands.add_parser(
        "predict", help="segment images (PNG, TIF, JPG) with a trained checkpoint",
        description="Write one binary mask PNG (0/255) per image, at the image's size: each "
                    "image is resized to the size the network was trained at, and the "
                    "probabilities back to the image's size before the threshold.")
    predict.add_argument("checkpoint", help="a checkpoint written by 'unet-scratch train'")
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    predict.add_argument("--out", required=True, metavar="DIR", help="folder for the masks")
    predict.add_argument("--threshold", type=float, default=0.5,
                         help="probability above which a pixel is foreground (default: %(default)s)")
    predict.add_argument("--min-pixels", type=non_negative_int, default=0, metavar="N",
                         help="predict nothing where fewer than N pixels are found "
                              "(default: %(default)s)")
    predict.add_argument("--submission", metavar="FILE.csv",
                         help="also write the masks run-length encoded in the Kaggle "
                              "competition's format (images named {n}.tif)")
    predict.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    predict.set_defaults(run=jobs.run_predict)


def add_evaluate_parser(commands):
    evaluate = commands.add_parser(
        "evaluate", help="mean Dice and IoU of a checkpoint, with a per-image CSV",
        description="Score a checkpoint on a data set (Kaggle convention: an image whose true "
                    "and predicted masks are both empty scores 1).")
    evaluate.add_argument("checkpoint", help="a checkpoint written by 'unet-scratch train'")
    evaluate.add_argument("--data", metavar="SOURCE",
                          help="the validation part of a source as in 'train --data' "
                               "(synthetic, kaggle:PATH, isbi2012:PATH, folder:PATH, a prepared "
                               "FILE.npz), or an .npz with arrays 'images' and 'masks' "
                               "(default: the data the checkpoint was trained on)")
    evaluate.add_argument("--csv", metavar="PATH", help="per-image scores "
                          "(default: next to the checkpoint, *_evaluation.csv)")
    evaluate.add_argument("--batch", type=positive_int, default=8)
    evaluate.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    evaluate.set_defaults(run=jobs.run_evaluate)


def add_augment_preview_parser(commands):
    preview = commands.add_parser(
        "augment-preview", help="draw an image and its augmented versions (PNG)",
        description="Draw one training image with a mask and augmented versions of it, as "
                    "'train --augment' makes them.")
    preview.add_argument("--data", default="synthetic", metavar="SOURCE",
                         help="as in 'train --data' (default: %(default)s)")
    preview.add_argument("--n", type=positive_int, default=8,
                         help="panels, the original included (default: %(default)s)")
    preview.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    preview.add_argument("--out", default="augmentation.png", metavar="FILE.png",
                         help="(default: %(default)s)")
    preview.set_defaults(run=jobs.run_augment_preview)


def add_lessons_parser(commands):
    lessons = commands.add_parser(
        "lessons", help="write the student versions of the lesson notebooks",
        description="Write a copy of every lesson notebook in which each solution (between "
                    "'### BEGIN SOLUTION' and '### END SOLUTION') is replaced by "
                    "'raise NotImplementedError(\"exercise\")', and the outputs are cleared.")
    lessons.add_argument("--student", required=True, metavar="OUT_DIR",
                         help="the folder to write the student notebooks into")
    lessons.add_argument("--from", dest="lessons_dir", default=None, metavar="DIR",
                         help="the instructor notebooks (default: the lessons/ folder of this "
                              "checkout)")
    lessons.set_defaults(run=run_lessons)


def run_lessons(args):
    from . import lessons
    written = lessons.write_student_lessons(args.student, args.lessons_dir)
    print(f"wrote {len(written)} student notebooks to {args.student}")
    return 0


def main(argv=None):
    parser = build_parser()
    args, extra_args = parser.parse_known_args(argv)
    if args.command == "bench":
        args.bench_args = extra_args
    elif extra_args:
        parser.error(f"unrecognized arguments: {' '.join(extra_args)}")
    try:
        return args.run(args)
    except (ValueError, OSError) as error:    # bad input, or a file that cannot be written
        if args.command == "bench":             # bench reports its own errors
            raise
        print(f"unet-scratch {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
