"""``unet-scratch`` (also ``python -m unet_from_scratch``): parse the arguments, run the command.

    unet-scratch train            train a U-Net on synthetic ultrasound (the main job)
    unet-scratch predict          segment image files with a checkpoint
    unet-scratch evaluate         mean Dice and IoU of a checkpoint, per-image CSV
    unet-scratch gradcheck        check every op's backward and a whole U-Net's gradient
    unet-scratch bench            time a training step (and PyTorch's, when installed)
    unet-scratch augment-preview  draw augmented training images
    unet-scratch lessons          write the student versions of the lessons

A mistake the user can fix -- a bad value, a missing file, an unwritable folder -- is printed
as one line on stderr with exit status 2, never as a traceback; so is a mistake in the
arguments themselves (argparse's usage text is left to ``--help``).  Ctrl-C exits with 130
and one line, also while the command line is still starting (importing NumPy and the rest).
"""

import sys


def main(argv=None):
    """Run ``unet-scratch`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    command = "unet-scratch"
    try:
        from ..bench import command as bench_command      # imported here, so that Ctrl-C
        from .arguments import given_options              # while importing is caught too
        from .parser import build_parser
        argv = bench_command.insert_default_command(list(sys.argv[1:] if argv is None else argv))
        args = build_parser().parse_args(argv)
        command = f"unet-scratch {args.command}"
        args.given = given_options(build_parser(), argv)
        return args.run(args)
    except (ValueError, TypeError, OSError) as error:   # bad input, or an unwritable file
        print(f"{command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
