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
from .environment import (cupy_float32_compute_type, format_environment, import_torch,
                          prepare_environment)
from .memory import DESCRIPTIONS as MEMORY_DESCRIPTIONS
from .ops import run_ops_benchmark
from .processes import (COLUMNS_NOTE, CPU_CONFIGURATIONS, MEMORY_GOAL, METHOD, Configuration,
                        configuration_text, format_run, format_run_header, format_summary,
                        format_verdict, run_configuration)
from .report import (format_goal, format_ops_configuration, format_ops_header,
                     format_ratio_lines, format_torch_missing_note, format_train_configuration,
                     format_train_header, format_train_row, format_train_title)
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
                    "the same network in PyTorch when installed (median after warm-up). On the "
                    "CPU without --batch, --size, --base-channels or --depth, three "
                    "configurations: the main job's (base 8, depth 3, 8 x 1 x 64 x 64), the "
                    "ISBI run's (base 16, depth 4, 16 x 1 x 128 x 128) and the default (base "
                    "32, depth 4, 8 x 1 x 96 x 96).")
    train.add_argument("--batch", type=positive_int, default=None,
                       help="batch size (default 8; with --device cuda, 32)")
    train.add_argument("--size", type=positive_int, default=None,
                       help="image height and width (default 96; with --device cuda and neither "
                            "--batch nor --size, both 128 and 96)")
    train.add_argument("--base-channels", type=positive_int, default=None,
                       help="channels of the first level (default 32)")
    train.add_argument("--depth", type=positive_int, default=None,
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
    train.add_argument("--method", choices=["processes", "blocks"], default="processes",
                       help="on the CPU: 'processes' (the default) times each contender in a "
                            "Python process of its own, ours and PyTorch's alternating, --runs "
                            "pairs; 'blocks' times both in this process, one block after the "
                            "other. On a GPU always 'blocks'")
    train.add_argument("--runs", type=positive_int, default=3,
                       help="with --method processes: pairs of processes per configuration; "
                            "the median of their ratios is reported, with the spread (default 3)")
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
    if args.device == "cpu":
        configurations = cpu_configurations(args)
    else:
        configurations = [Configuration("", args.base_channels or 32, args.depth or 4, batch,
                                        size)
                          for batch, size in train_configurations(args.device, args.batch,
                                                                  args.size)]
    for config in configurations:
        try:
            UNet(base_channels=1, depth=config.depth).output_size(config.size, config.size)
        except ValueError as error:
            raise UsageError(f"--size {config.size} does not fit: {error}") from None

    torch = import_torch()
    info = prepare_environment(args.device, args.threads, torch)
    if args.device == "cpu" and args.method == "processes":
        return run_train_in_processes(args, configurations, info, torch is not None)
    for config in configurations:
        run_train_in_blocks(args, config, info)
    if args.device == "cuda":
        # What CuPy's products really used, now that they have run (TF32 would say so here).
        print(f"CuPy float32 products ran with {cupy_float32_compute_type()}")
        if torch is None or not torch.cuda.is_available():
            print("PyTorch with CUDA is not importable here, so it was not timed and the ratio "
                  "to it is left out.")
    elif torch is None:
        print("\n".join(format_torch_missing_note()))
    return 0


def cpu_configurations(args):
    """The configurations ``bench train`` times on the CPU: the three of
    :data:`.processes.CPU_CONFIGURATIONS`, or, when --batch, --size, --base-channels or
    --depth is given, the one they describe (the others from ``UNet()`` and 8 x 96)."""
    asked = (args.batch, args.size, args.base_channels, args.depth)
    if all(value is None for value in asked):
        return list(CPU_CONFIGURATIONS)
    batch, size = train_configurations("cpu", args.batch, args.size)[0]
    return [Configuration("as asked", args.base_channels or 32, args.depth or 4, batch, size)]


def run_train_in_processes(args, configurations, info, with_torch):
    """``bench train`` on the CPU, each contender in processes of its own (:mod:`.processes`)."""
    lines = ["unet_from_scratch training-step benchmark (cpu)", *format_environment(info),
             f"  step         forward, {args.loss} loss (as losses.LOSSES[{args.loss!r}], "
             f"defaults), backward, Adam (lr {args.lr:g}); padding 'same'",
             f"  timing       in each process: median of {args.repeats} steps after "
             f"{args.warmup} warm-up step(s), time.perf_counter",
             f"  method       {METHOD.format(runs=args.runs)}",
             f"  columns      {COLUMNS_NOTE}",
             f"  peak memory  the most one step holds on top of weights, gradients, Adam state "
             f"and batch ({MEMORY_DESCRIPTIONS['cpu']}), MiB",
             f"  goal         {format_goal('cpu')}; peak memory at most {MEMORY_GOAL:g}x "
             f"PyTorch's"]
    print("\n".join(lines), flush=True)
    results = []
    for config in configurations:
        print()
        print(configuration_text(config))
        print(format_run_header(), flush=True)
        results.append(run_configuration(
            config, args.runs, args.repeats, args.warmup, args.loss, args.lr, with_torch,
            info["torch_threads"], on_run=lambda index, run: print(format_run(index, run),
                                                                   flush=True)))
        print("\n".join(format_verdict(results[-1])), flush=True)
    print()
    print("Summary (medians over the runs)")
    print("\n".join(format_summary(results)))
    if not with_torch:
        print()
        print("\n".join(format_torch_missing_note()))
    return 0


def run_train_in_blocks(args, config, info):
    """One configuration, every contender in this process, one block after another."""
    parameters = UNet(base_channels=config.base_channels, depth=config.depth,
                      padding="same").num_parameters()
    print("\n".join(format_train_configuration(info, [(config.batch, config.size)],
                                               config.base_channels, config.depth, parameters,
                                               args.loss, args.lr, args.repeats, args.warmup)))
    print(flush=True)
    print(format_train_title(config.batch, config.size))
    print(format_train_header(), flush=True)
    rows = run_train_benchmark(batch=config.batch, size=config.size,
                               base_channels=config.base_channels, depth=config.depth,
                               loss=args.loss, lr=args.lr, repeats=args.repeats,
                               warmup=args.warmup, device=args.device)
    for line in [format_train_row(row) for row in rows] + format_ratio_lines(rows, args.device):
        print(line)
    print(flush=True)


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
