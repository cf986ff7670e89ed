"""``python -m fedarena.cli``: the ``fedarena`` command."""

import sys

from fedarena.cli import main

if __name__ == "__main__":
    sys.exit(main())
