"""Files written whole or not at all: a temporary name beside the target, then one atomic rename over it."""

import contextlib
import os
import secrets
from pathlib import Path

__all__ = ["replaced_atomically", "write_text_atomically"]


@contextlib.contextmanager
def replaced_atomically(path):
    """Yield a temporary path beside ``path``; once the block has written it, it is moved over ``path``.

    If the block fails (a full disk, an interrupt), ``path`` keeps what it
    held before, or stays absent, and the temporary file is removed: a reader
    never sees half a file, and a failed run leaves no partial one.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from skasd.utils._files import replaced_atomically
    >>> target = Path(tempfile.mkdtemp()) / "scores.csv"
    >>> with replaced_atomically(target) as partial:
    ...     _ = partial.write_text("a,1\\n")
    >>> target.read_text()
    'a,1\\n'
    """
    path = Path(path)
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_text_atomically(path, text):
    """``Path(path).write_text(text)``, whole or not at all (see :func:`replaced_atomically`)."""
    with replaced_atomically(path) as partial:
        partial.write_text(text)
    return Path(path)
