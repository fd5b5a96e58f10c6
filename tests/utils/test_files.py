"""Files written whole or not at all."""

import pytest

from skasd.utils._files import replaced_atomically, write_text_atomically


def test_a_failed_write_leaves_the_former_file_and_no_partial_one(tmp_path):
    target = write_text_atomically(tmp_path / "scores.csv", "former\n")
    with pytest.raises(OSError, match="No space left on device"):
        with replaced_atomically(target) as partial:
            partial.write_text("half a ta")
            raise OSError(28, "No space left on device")
    assert target.read_text() == "former\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.csv"]


def test_a_complete_write_replaces_the_file(tmp_path):
    target = tmp_path / "plots" / "roc.png"
    target.parent.mkdir()
    target.write_bytes(b"old image")
    with replaced_atomically(target) as partial:
        assert partial.parent == target.parent and partial.name.startswith(".roc.png.")
        partial.write_bytes(b"new image")
        assert target.read_bytes() == b"old image"  # nobody sees the new one half written
    assert target.read_bytes() == b"new image"
    assert sorted(p.name for p in target.parent.iterdir()) == ["roc.png"]
