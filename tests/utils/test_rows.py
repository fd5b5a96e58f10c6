import numpy as np
import pytest

from skasd.utils._rows import take_rows


@pytest.mark.parametrize("mask", [[0, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 1], [1, 0, 0, 0, 0, 0]])
def test_a_contiguous_block_is_a_view_of_the_same_rows(mask, tmp_path):
    X = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32, shape=(6, 3))
    X[:] = np.arange(18).reshape(6, 3)
    rows = np.array(mask, dtype=bool)
    selected = take_rows(X, rows)
    assert np.shares_memory(selected, X)
    np.testing.assert_array_equal(selected, np.asarray(X)[rows])


@pytest.mark.parametrize("mask", [[1, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 1]])
def test_other_masks_give_the_rows_fancy_indexing_gives(mask):
    X = np.arange(18).reshape(6, 3)
    rows = np.array(mask, dtype=bool)
    selected = take_rows(X, rows)
    assert selected.shape == (rows.sum(), 3)
    np.testing.assert_array_equal(selected, X[rows])
