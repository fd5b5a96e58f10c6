"""Loaders, generators and writers for DCASE Task 2 style data sets."""

from ._dcase import load_dcase, longest_clip, parse_dcase_filename, save_dcase
from ._fetch import fetch_dcase, get_data_home
from ._frame import FRAME_COLUMNS, first_normals_split
from ._generator import make_machine_sounds
from ._submission import write_dcase_submission

__all__ = [
    "FRAME_COLUMNS",
    "fetch_dcase",
    "first_normals_split",
    "get_data_home",
    "load_dcase",
    "longest_clip",
    "make_machine_sounds",
    "parse_dcase_filename",
    "save_dcase",
    "write_dcase_submission",
]
