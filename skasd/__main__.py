"""``python -m skasd``: the same as the ``skasd`` command."""

import sys

from skasd.cli import main

sys.exit(main())
