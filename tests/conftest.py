from hypothesis import settings

# Timings on a loaded 2-core CI machine vary: judge properties, not speed.
settings.register_profile("skasd", deadline=None)
settings.load_profile("skasd")


def pytest_configure(config):
    """Model files are signed with a per-user key: the tests use a key of their own, never the user's."""
    import os
    import tempfile

    os.environ["SKASD_CONFIG"] = tempfile.mkdtemp(prefix="skasd-test-config-")
