"""``python -m unet_from_scratch``: the same as the ``unet-scratch`` command."""

import sys

from .cli import main

sys.exit(main())
