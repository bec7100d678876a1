"""``unet-scratch bench``: the command's options and the functions that run it.

The command line (:mod:`unet_from_scratch.cli.command`) builds one argument parser for every
command; it calls :func:`add_parser` to add this one, passes its arguments through
:func:`insert_default_command` first (``bench`` alone, or with options only, means
``bench train``), and runs ``args.run(args)``: :func:`run_train` or :func:`run_ops`, each
returning the exit status.  A ``ValueError`` they raise (a :class:`UsageError` for a GPU that
is not there or a size that does not fit) becomes one line on stderr and exit status 2.
"""

from .. import backend, losses
from ..cli.arguments import UsageError, non_negative_int, positive_int
from ..model import UNet
from .environment import cupy_float32_compute_type, import_torch, prepare_environment
from .ops import run_ops_benchmark
from .report import (format_ops_configuration, format_ops_header, format_ratio_lines,
                     format_torch_missing_note, format_train_configuration, format_train_header,
                     format_train_row, format_train_title)
from .steps import run_train_benchmark, train_configurations

def insert_default_command(argv):
    """``argv`` with "train" inserted after "bench" when "bench" is the first word and nothing
    follows it, or an option does (other than -h/--help): ``bench --repeats 3`` means
    ``bench train --repeats 3``.  Returns a new list; any other ``argv`` comes back as it was."""
    argv = list(argv)
    if argv[:1] == ["bench"] and (len(argv) == 1 or (argv[1].startswith("-")
                                                     and argv[1] not in ("-h", "--help"))):
        argv.insert(1, "train")
    return argv


def add_parser(commands):
    """Add ``bench`` and its sub-commands ``train`` and ``ops`` to ``commands``, the
    ``argparse`` sub-parsers of the command line; each sub-command sets ``run``."""
    bench = commands.add_parser(
        "bench", help="time a training step (and PyTorch's, when installed)",
        description="Benchmarks of unet_from_scratch, compared with PyTorch when installed. "
                    "Without a command (or with options only), runs 'train'.")
    subcommands = bench.add_subparsers(dest="bench_command", metavar="COMMAND")
    subcommands.required = True

    train = subcommands.add_parser(
        "train", help="time one training step of the U-Net (the default)",
        description="Time one training step (forward, loss, backward, Adam) of the U-Net, and of "
                    "the same network in PyTorch when installed (median after warm-up).")
    train.add_argument("--batch", type=positive_int, default=None,
                       help="batch size (default 8; with --device cuda, 32)")
    train.add_argument("--size", type=positive_int, default=None,
                       help="image height and width (default 96; with --device cuda and neither "
                            "--batch nor --size, both 128 and 96)")
    train.add_argument("--base-channels", type=positive_int, default=32,
                       help="channels of the first level (default 32)")
    train.add_argument("--depth", type=positive_int, default=4,
                       help="number of poolings (default 4)")
    train.add_argument("--loss", choices=sorted(losses.LOSSES), default="dice",
                       help="loss, with its defaults (default dice)")
    train.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate (default 1e-3)")
    train.add_argument("--repeats", type=positive_int, default=5,
                       help="timed steps; the median is reported (default 5)")
    train.add_argument("--warmup", type=positive_int, default=2,
                       help="untimed steps before the timed ones; the first gives the loss "
                            "column (default 2)")
    train.add_argument("--threads", type=positive_int, default=None,
                       help="threads for PyTorch (default: as many as NumPy's BLAS uses, if "
                            "known); NumPy's BLAS keeps its own setting")
    train.add_argument("--device", choices=list(backend.DEVICES), default="cpu",
                       help="cpu (NumPy) or cuda (CuPy, and PyTorch on the GPU when it can) "
                            "(default cpu)")
    train.set_defaults(run=run_train)

    ops = subcommands.add_parser(
        "ops", help="time forward and forward+backward of the ops at U-Net shapes",
        description="Time forward and forward+backward of conv2d, conv_transpose2d and max_pool2d "
                    "at U-Net shapes (median after warm-up, CPU).")
    ops.add_argument("--batch", type=positive_int, default=8, help="batch size (default 8)")
    ops.add_argument("--repeats", type=positive_int, default=5,
                     help="timed runs per measurement; the median is reported (default 5)")
    ops.add_argument("--warmup", type=non_negative_int, default=1,
                     help="untimed runs before the timed ones (default 1)")
    ops.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                     help="floating-point type of the data (default float32)")
    ops.add_argument("--threads", type=positive_int, default=None,
                     help="threads for PyTorch (default: as many as NumPy's BLAS uses, if known); "
                          "NumPy's BLAS keeps its own setting")
    ops.set_defaults(run=run_ops)
    return bench


def run_train(args):
    """``bench train``: check the device and the sizes, set up the environment, print the
    configuration, then for each ``(batch, size)`` a table and the ratios against the goal."""
    if args.device == "cuda" and not backend.gpu_available():
        raise UsageError("--device cuda needs a usable GPU with CuPy, and gpu_available() is "
                         "False (is CuPy installed, e.g. pip install -e '.[cuda12]', and is a "
                         "driver present?)")
    configurations = train_configurations(args.device, args.batch, args.size)
    for _, size in configurations:
        try:
            UNet(base_channels=1, depth=args.depth).output_size(size, size)
        except ValueError as error:
            raise UsageError(f"--size {size} does not fit: {error}") from None

    torch = import_torch()
    info = prepare_environment(args.device, args.threads, torch)
    parameters = UNet(base_channels=args.base_channels, depth=args.depth,
                      padding="same").num_parameters()
    print("\n".join(format_train_configuration(info, configurations, args.base_channels,
                                               args.depth, parameters, args.loss, args.lr,
                                               args.repeats, args.warmup)))
    print(flush=True)
    for batch, size in configurations:
        print(format_train_title(batch, size))
        print(format_train_header(), flush=True)
        rows = run_train_benchmark(batch=batch, size=size, base_channels=args.base_channels,
                                   depth=args.depth, loss=args.loss, lr=args.lr,
                                   repeats=args.repeats, warmup=args.warmup, device=args.device)
        for line in [format_train_row(row) for row in rows] + format_ratio_lines(rows, args.device):
            print(line)
        print(flush=True)
    if args.device == "cuda":
        # What CuPy's products really used, now that they have run (TF32 would say so here).
        print(f"CuPy float32 products ran with {cupy_float32_compute_type()}")
        if torch is None or not torch.cuda.is_available():
            print("PyTorch with CUDA is not importable here, so it was not timed and the ratio "
                  "to it is left out.")
    elif torch is None:
        print("\n".join(format_torch_missing_note()))
    return 0


def run_ops(args):
    """``bench ops``: set PyTorch's threads, print the configuration, then the table row by row."""
    torch = import_torch()
    info = prepare_environment("cpu", args.threads, torch)
    print("\n".join(format_ops_configuration(info, args.batch, args.repeats, args.warmup,
                                             args.dtype)))
    print(flush=True)
    print(format_ops_header(), flush=True)
    run_ops_benchmark(batch=args.batch, repeats=args.repeats, warmup=args.warmup,
                      dtype=args.dtype, verbose=True)
    if torch is None:
        print()
        print("\n".join(format_torch_missing_note()))
    return 0
