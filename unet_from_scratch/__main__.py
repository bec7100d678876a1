"""``python -m unet_from_scratch``: the same as the ``unet-scratch`` command."""

import sys

from .cli.command import main

sys.exit(main())
