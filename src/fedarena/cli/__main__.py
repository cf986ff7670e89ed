"""``python -m fedarena.cli``: the ``fedarena`` command."""

import sys

from fedarena.cli import main

sys.exit(main())
