"""``python -m reparam.cli``: the command line, as ``reparam``."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
