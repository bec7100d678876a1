"""The argument parser of ``unet-scratch``: one sub-command per job, each with the function
that runs it (``set_defaults(run=...)``)."""

import argparse

from .. import __version__
from ..bench import command as bench_command
from ..losses import LOSSES
from .arguments import (non_negative_float, non_negative_int, open_fraction, positive_float,
                        positive_int, probability)
from .extras import run_augment_preview, run_lessons
from .gradcheck import run_gradcheck
from .predict import run_evaluate, run_predict
from .train import run_train


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose mistakes are one line on stderr (exit status 2): the
    command, the option and what is wrong, and where to read more."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser():
    parser = OneLineParser(
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
    gradcheck.add_argument("--rtol", type=non_negative_float,
                           help="relative tolerance (default: 1e-6)")
    gradcheck.add_argument("--atol", type=non_negative_float,
                           help="absolute allowance on top of the rounding floor "
                                "(default: 0 for the ops, 1e-8 for the network)")
    gradcheck.add_argument("--eps", type=positive_float,
                           help="finite-difference step (default: 1e-5 for the ops, 1e-6 for "
                                "the network)")
    gradcheck.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default: %(default)s)")
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

    bench_command.add_parser(commands)      # its options live with the benchmarks
    return parser


def add_train_parser(commands):
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
    data.add_argument("--val-fraction", type=open_fraction, default=0.2, metavar="F",
                      help="kaggle, folder: the share of images that validate "
                           "(default: %(default)s)")
    data.add_argument("--patch", type=positive_int, metavar="PX",
                      help="train on non-overlapping PX x PX patches of the training images "
                           "(validation stays whole); e.g. 128 for the 512 x 512 EM slices")
    data.add_argument("--augment", action="store_true",
                      help="flips, rotations (none for ultrasound), shifts, scaling, "
                           "brightness/contrast and elastic deformation of the training batches")
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
    run.add_argument("--lr", type=positive_float, default=2e-3,
                     help="Adam's learning rate (default: %(default)s)")
    run.add_argument("--loss", choices=sorted(LOSSES), default="dice+bce",
                     help="loss (default: %(default)s)")
    run.add_argument("--seed", type=non_negative_int, default=0, help="seeds data, weights and shuffling "
                                                         "(default: %(default)s)")
    run.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                     help="where to train (default: %(default)s)")
    run.add_argument("--out", metavar="DIR",
                     help="output folder (default: runs/ and the data's kind, e.g. "
                          "runs/synthetic)")
    run.add_argument("--resume", nargs="?", const="", metavar="CHECKPOINT",
                     help="continue an interrupted run (default: DIR/checkpoint.last.npz) "
                          "with its own options, except those given again here")
    run.add_argument("--force", action="store_true",
                     help="start afresh in an --out folder that holds an earlier run's "
                          "checkpoints, replacing them (without it, that is refused)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(run=run_train)


def add_predict_parser(commands):
    predict = commands.add_parser(
        "predict", help="segment images (PNG, TIF, JPG) with a trained checkpoint",
        description="Write one binary mask PNG (0/255) per image, at the image's size: each "
                    "image is resized to the size the network was trained at, and the "
                    "probabilities back to the image's size before the threshold.")
    predict.add_argument("checkpoint", help="a checkpoint written by 'unet-scratch train'")
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    predict.add_argument("--out", required=True, metavar="DIR", help="folder for the masks")
    predict.add_argument("--threshold", type=probability, default=0.5,
                         help="probability above which a pixel is foreground (default: %(default)s)")
    predict.add_argument("--min-pixels", type=non_negative_int, default=0, metavar="N",
                         help="predict nothing where fewer than N pixels are found "
                              "(default: %(default)s)")
    predict.add_argument("--submission", metavar="FILE.csv",
                         help="also write the masks run-length encoded in the Kaggle "
                              "competition's format (images named {n}.tif)")
    predict.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    predict.add_argument("--force", action="store_true",
                         help="replace mask files (and the submission) that already exist")
    predict.set_defaults(run=run_predict)


def add_evaluate_parser(commands):
    evaluate = commands.add_parser(
        "evaluate", help="mean Dice and IoU of a checkpoint, with a per-image CSV",
        description="Score a checkpoint on a data set (Kaggle convention: an image whose true "
                    "and predicted masks are both empty scores 1). The images go through the "
                    "network as in 'predict' (resized to the size it was trained at, and "
                    "back), so the scores are those of the masks 'predict' writes at its "
                    "default --threshold 0.5 and --min-pixels 0.")
    evaluate.add_argument("checkpoint", help="a checkpoint written by 'unet-scratch train'")
    evaluate.add_argument("--data", metavar="SOURCE",
                          help="the validation part of a source as in 'train --data' "
                               "(synthetic, kaggle:PATH, isbi2012:PATH, folder:PATH, a prepared "
                               "FILE.npz), or an .npz with arrays 'images' and 'masks' "
                               "(default: the data the checkpoint was trained on)")
    evaluate.add_argument("--csv", metavar="PATH", help="per-image scores "
                          "(default: next to the checkpoint, *_evaluation.csv)")
    evaluate.add_argument("--force", action="store_true",
                          help="replace the --csv file if it exists")
    evaluate.add_argument("--batch", type=positive_int, default=8)
    evaluate.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    evaluate.set_defaults(run=run_evaluate)


def add_augment_preview_parser(commands):
    preview = commands.add_parser(
        "augment-preview", help="draw an image and its augmented versions (PNG)",
        description="Draw one training image with a mask and augmented versions of it, as "
                    "'train --augment' makes them.")
    preview.add_argument("--data", default="synthetic", metavar="SOURCE",
                         help="as in 'train --data' (default: %(default)s)")
    preview.add_argument("--n", type=positive_int, default=8,
                         help="panels, the original included (default: %(default)s)")
    preview.add_argument("--seed", type=non_negative_int, default=0, help="(default: %(default)s)")
    preview.add_argument("--out", default="augmentation.png", metavar="FILE.png",
                         help="a .png file, or an existing folder to write augmentation.png "
                              "into (default: %(default)s)")
    preview.set_defaults(run=run_augment_preview)


def add_lessons_parser(commands):
    lessons = commands.add_parser(
        "lessons", help="write the student versions of the lesson notebooks",
        description="Write a copy of every lesson notebook as nbgrader's generate_assignment "
                    "makes it: each solution (between '### BEGIN SOLUTION' and '### END "
                    "SOLUTION') replaced by '# YOUR CODE HERE' and 'raise "
                    "NotImplementedError()', the hidden tests removed, the checker and text "
                    "cells locked, the outputs cleared. Needs no nbgrader.")
    lessons.add_argument("--student", required=True, metavar="OUT_DIR",
                         help="the folder to write the student notebooks into")
    lessons.add_argument("--from", dest="lessons_dir", default=None, metavar="DIR",
                         help="the instructor notebooks (default: the lessons/ folder of this "
                              "checkout)")
    lessons.add_argument("--force", action="store_true",
                         help="replace notebooks already in OUT_DIR (without it they are named "
                              "and nothing is written)")
    lessons.set_defaults(run=run_lessons)
