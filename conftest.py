"""pytest set-up of the whole repository (tests/ and the doctests of skasd/): the real DCASE clips.

Some tests and doctests read real DCASE 2023 clips from ``../shared/data``
beside the repository (docs/installing.md, "The real clips"). A person who
clones the repository has no ``../shared``: there those tests skip, and the
reason names the missing folder and how to get it. Where ``../shared`` is
there (as in CI) they must run: a missing folder fails the test instead of
skipping it, and a real-data test skipped for any other reason fails the run.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
SHARED = ROOT.parent / "shared"
REAL_DATA = SHARED / "data"
# How the doctests of skasd/ name a real-clip folder (relative to the repository root).
_DOCTEST_FOLDER = re.compile(r"\.\./shared/data/([\w.-]+)")
# The test suite of conftest.py itself runs pytest on small made-up repositories.
pytest_plugins = ["pytester"]


def real_data_folder(name):
    """The folder ``../shared/data/<name>``; skip the test where ``../shared`` is absent.

    Fails the test (no skip) where ``../shared`` exists but the folder does not.
    """
    path = REAL_DATA / name
    if path.is_dir():
        return path
    if SHARED.is_dir():
        pytest.fail(
            f"{SHARED} is beside the repository, so the real-data tests must run, but {path} is missing.",
            pytrace=False,
        )
    pytest.skip(
        f"needs the real DCASE 2023 clips in {path}, which is absent: they are excerpts of the DCASE 2023 "
        "Task 2 development set (CC BY 4.0); docs/installing.md ('The real clips') says how to lay them out there"
    )


@pytest.fixture
def dcase_samples():
    """``../shared/data/dcase2023t2_dev_samples``: 4 real clips of each of the 7 development machine types."""
    return real_data_folder("dcase2023t2_dev_samples")


@pytest.fixture
def valve_test():
    """``../shared/data/dcase2023t2_dev_valve_test``: the 200 real clips of the valve test split."""
    return real_data_folder("dcase2023t2_dev_valve_test")


def _real_data_folders(item):
    """The real-clip folders an item needs: from its fixtures, or named in its doctest's source."""
    folders = [folder for fixture, folder in _FIXTURE_FOLDERS.items() if fixture in getattr(item, "fixturenames", ())]
    if isinstance(item, pytest.DoctestItem):
        source = "".join(example.source for example in item.dtest.examples)
        folders += _DOCTEST_FOLDER.findall(source)
    return folders


_FIXTURE_FOLDERS = {"dcase_samples": "dcase2023t2_dev_samples", "valve_test": "dcase2023t2_dev_valve_test"}
_REAL_DATA_TESTS = pytest.StashKey[set]()
_SKIPPED_TESTS = pytest.StashKey[list]()


def pytest_collection_modifyitems(config, items):
    config.stash[_REAL_DATA_TESTS] = {item.nodeid for item in items if _real_data_folders(item)}
    config.stash[_SKIPPED_TESTS] = []


def pytest_runtest_setup(item):
    # Doctests cannot ask for fixtures: the folders named in their source are checked here.
    if isinstance(item, pytest.DoctestItem):
        for name in _real_data_folders(item):
            real_data_folder(name)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.skipped and item.nodeid in item.config.stash.get(_REAL_DATA_TESTS, set()):
        item.config.stash[_SKIPPED_TESTS].append(item.nodeid)
    return report


def pytest_sessionfinish(session, exitstatus):
    """Fail the run where ``../shared`` is there but a real-data test was skipped."""
    skipped = session.config.stash.get(_SKIPPED_TESTS, [])
    if SHARED.is_dir() and skipped and session.exitstatus == pytest.ExitCode.OK:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"{SHARED} is beside the repository, but these real-data tests were skipped: {', '.join(skipped)}",
                red=True,
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
