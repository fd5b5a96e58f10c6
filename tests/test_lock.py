"""The lock (requirements/lock.txt) agrees with pyproject.toml, and run.py installs from it."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "lock.txt"
BUILD_IN = ROOT / "requirements" / "build.in"
NO_DEPS = ROOT / "requirements" / "no-deps.txt"
REFRESH = "uv pip compile pyproject.toml requirements/build.in --extra test --universal --python-version 3.10 " \
          "--generate-hashes --output-file requirements/lock.txt"
# One locked release: "name==version ; marker \", its hashes, then uv's "# via" lines.
_ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)==(?P<version>\S+)(?: ; (?P<marker>[^\\]+?))? \\$")


def _lock_entries(path):
    """{name: [(version, marker, hashes, via)]} of a requirements file written by uv pip compile."""
    entries = {}
    current = None
    for line in path.read_text().splitlines():
        match = _ENTRY.match(line)
        if match:
            current = {"version": Version(match["version"]), "marker": match["marker"], "hashes": [], "via": []}
            entries.setdefault(canonicalize_name(match["name"]), []).append(current)
        elif current is not None and line.strip().startswith("--hash=sha256:"):
            current["hashes"].append(line.strip().removeprefix("--hash=sha256:").rstrip(" \\"))
        elif current is not None and line.strip().startswith("# via"):
            current["via"].append(line.strip().removeprefix("# via").strip())
        elif current is not None and line.startswith("    #   "):
            current["via"].append(line.strip().removeprefix("#").strip())
    return entries


def _declared():
    """pyproject.toml's requirements: dependencies, every extra, the build system, as Requirement objects."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    texts = list(project["project"]["dependencies"])
    for extra in project["project"]["optional-dependencies"].values():
        texts += extra
    texts += project["build-system"]["requires"]
    return [Requirement(text) for text in texts]


def test_every_declared_requirement_is_locked_within_its_range():
    locked = _lock_entries(LOCK)
    assert len(locked) > 50, "the lock could not be parsed"
    for requirement in _declared():
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement} is declared in pyproject.toml but not locked: refresh the lock ({REFRESH})"
        for entry in locked[name]:
            assert requirement.specifier.contains(entry["version"], prereleases=True), (
                f"the lock pins {name}=={entry['version']}, outside pyproject.toml's {requirement}: "
                f"refresh the lock ({REFRESH})"
            )


def test_every_direct_dependency_of_the_lock_is_declared():
    declared = {canonicalize_name(requirement.name) for requirement in _declared()}
    for name, entries in _lock_entries(LOCK).items():
        for entry in entries:
            direct = any("skasd (pyproject.toml)" in via or "requirements/build.in" in via for via in entry["via"])
            assert not direct or name in declared, (
                f"the lock holds {name} as a direct dependency, which pyproject.toml no longer declares: "
                f"refresh the lock ({REFRESH})"
            )


def test_every_locked_release_is_pinned_with_hashes():
    for path in (LOCK, NO_DEPS):
        entries = _lock_entries(path)
        assert entries, f"nothing parsed in {path}"
        for name, releases in entries.items():
            for entry in releases:
                assert entry["hashes"], f"{path.name}: {name}=={entry['version']} has no hash"
                assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in entry["hashes"]), name


def test_the_build_requirements_are_those_of_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    build_in = [line for line in BUILD_IN.read_text().splitlines() if line and not line.startswith("#")]
    assert build_in == project["build-system"]["requires"]


def test_the_lock_says_how_it_was_made():
    assert f"#    {REFRESH}\n" in LOCK.read_text()


def test_torch_and_torchaudio_are_locked_as_one_pair():
    # torchaudio 2.11.1 is built against torch's CUDA 13.2 ABI; with torch 2.11 it does not import.
    locked = _lock_entries(LOCK)
    assert {str(entry["version"]) for entry in locked["torchaudio"]} == {"2.11.1"}
    assert all(entry["version"] >= Version("2.14") for entry in locked["torch"])


def test_the_running_environment_is_the_locked_one():
    # run.py installs the lock; the versions imported here must be the locked ones. In an
    # environment of one's own (pyproject.toml's ranges) there is nothing to compare.
    if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        pytest.skip(f"not run.py's environment ({ROOT / '.venv'}): installed from pyproject.toml's ranges")
    from importlib.metadata import version

    from packaging.markers import Marker

    for name in ("torch", "torchaudio", "skorch", "scikit-learn", "numpy"):
        releases = [entry for entry in _lock_entries(LOCK)[canonicalize_name(name)]
                    if entry["marker"] is None or Marker(entry["marker"]).evaluate()]
        assert len(releases) == 1, name
        installed = Version(version(name))
        assert Version(installed.base_version) == releases[0]["version"], (name, installed)


def _run_py():
    spec = importlib.util.spec_from_file_location("run_py", ROOT / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_failing_install_step_shows_its_command_and_last_lines(capsys):
    run_py = _run_py()
    lines = "; ".join(f"print('line {i}')" for i in range(50))
    command = [sys.executable, "-c", f"{lines}; import sys; sys.exit(3)"]
    with pytest.raises(run_py.SetupError) as error:
        run_py._step(2, 4, "Installing something", command)
    assert capsys.readouterr().out == "[2/4] Installing something\n"
    message = str(error.value)
    assert message.startswith(f"this step failed (exit status 3):\n  {subprocess.list2cmdline(command)}\n")
    shown = [line for line in message.splitlines() if line.startswith("line ")]
    assert shown == [f"line {i}" for i in range(50 - run_py.TAIL_LINES, 50)]


def test_a_failing_set_up_exits_non_zero_with_one_message(monkeypatch, capsys):
    run_py = _run_py()

    def fail():
        raise run_py.SetupError("this step failed (exit status 1)")

    monkeypatch.setattr(run_py, "_ensure_environment", fail)
    assert run_py.main(["test"]) == 1
    assert capsys.readouterr().err == "run.py: this step failed (exit status 1)\n"
