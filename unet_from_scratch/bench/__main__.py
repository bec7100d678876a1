"""``python -m unet_from_scratch.bench ...``: the same as ``unet-scratch bench ...``."""

import sys

from ..cli.command import main

sys.exit(main(["bench", *sys.argv[1:]]))
