"""``unet-scratch`` (also ``python -m unet_from_scratch``): parse the arguments, run the command.

    unet-scratch train            train a U-Net on synthetic ultrasound (the main job)
    unet-scratch predict          segment image files with a checkpoint
    unet-scratch evaluate         mean Dice and IoU of a checkpoint, per-image CSV
    unet-scratch gradcheck        check every op's backward and a whole U-Net's gradient
    unet-scratch bench            time a training step (and PyTorch's, when installed)
    unet-scratch augment-preview  draw augmented training images
    unet-scratch lessons          write the student versions of the lessons

A mistake the user can fix -- a bad value, a missing file, an unwritable folder -- is printed
as one line on stderr with exit status 2, never as a traceback.
"""

import sys

from ..bench import command as bench_command
from .parser import build_parser


def main(argv=None):
    """Run ``unet-scratch`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    argv = bench_command.insert_default_command(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, OSError) as error:    # bad input, or a file that cannot be written
        print(f"unet-scratch {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
