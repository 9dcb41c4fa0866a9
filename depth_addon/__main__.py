"""``python -m depth_addon`` — see :mod:`depth_addon.cli`."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
