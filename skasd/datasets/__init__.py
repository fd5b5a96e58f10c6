"""Loaders, generators and writers for DCASE Task 2 style data sets."""

from ._dcase import clip_length, load_dcase, longest_clip, save_dcase
from ._extra_classes import make_extra_classes
from ._fetch import fetch_dcase, get_data_home
from ._frame import FRAME_COLUMNS, first_normals_split
from ._generator import make_machine_sounds
from ._ground_truth import read_ground_truth
from ._names import parse_dcase_filename
from ._package import check_submission_package, write_submission_package
from ._submission import write_dcase_submission
from ._supplemental import load_dcase_supplemental

__all__ = [
    "FRAME_COLUMNS",
    "check_submission_package",
    "clip_length",
    "fetch_dcase",
    "first_normals_split",
    "get_data_home",
    "load_dcase",
    "load_dcase_supplemental",
    "longest_clip",
    "make_extra_classes",
    "make_machine_sounds",
    "parse_dcase_filename",
    "read_ground_truth",
    "save_dcase",
    "write_dcase_submission",
    "write_submission_package",
]
