"""The repository's conftest.py: real-data tests skip without ../shared and never skip with it."""

import shutil
from pathlib import Path

import pytest

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"

TESTS = '''
import pytest

def test_reads_samples(dcase_samples):
    assert dcase_samples.name == "dcase2023t2_dev_samples"

def test_skips_itself(valve_test):
    pytest.skip("a reason of its own")

def test_without_real_data():
    pass
'''

MODULE = '''
def load():
    """Read the clips.

    >>> "../shared/data/dcase2023t2_dev_samples".endswith("samples")
    True
    """
'''


@pytest.fixture
def repository(pytester):
    """A made-up repository ``repo/`` with this project's conftest.py, in a folder without ``shared/``."""
    repo = pytester.mkdir("repo")
    shutil.copy(CONFTEST, repo / "conftest.py")
    (repo / "test_real.py").write_text(TESTS)
    (repo / "module.py").write_text(MODULE)
    return repo


def _run(pytester, repo):
    return pytester.runpytest_subprocess(str(repo), "--doctest-modules", "-rs", "-p", "no:cacheprovider")


def test_without_shared_the_real_data_tests_skip_and_say_how_to_get_the_clips(pytester, repository):
    result = _run(pytester, repository)
    result.assert_outcomes(passed=1, skipped=3)
    assert result.ret == pytest.ExitCode.OK
    missing = pytester.path / "shared" / "data" / "dcase2023t2_dev_samples"
    result.stdout.fnmatch_lines([f"*needs the real DCASE 2023 clips in {missing}, which is absent*docs/installing.md*"])


def test_with_shared_a_missing_folder_fails(pytester, repository):
    (pytester.path / "shared" / "data").mkdir(parents=True)
    result = _run(pytester, repository)
    result.assert_outcomes(passed=1, errors=3)
    missing = pytester.path / "shared" / "data" / "dcase2023t2_dev_samples"
    result.stdout.fnmatch_lines([f"*is beside the repository, so the real-data tests must run, but {missing} is missing*"])


def test_with_shared_a_skipped_real_data_test_fails_the_run(pytester, repository):
    for name in ("dcase2023t2_dev_samples", "dcase2023t2_dev_valve_test"):
        (pytester.path / "shared" / "data" / name).mkdir(parents=True)
    result = _run(pytester, repository)
    result.assert_outcomes(passed=3, skipped=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*is beside the repository, but these real-data tests were skipped: "
                                 "*test_real.py::test_skips_itself"])
