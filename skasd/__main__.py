"""``python -m skasd``: the same as the ``skasd`` command."""

from skasd.cli import run

run()
