"""Where the DCASE Task 2 data sets of 2020-2025 are published: the registry :func:`fetch_dcase` reads.

One row per file the organisers published: the year, the part ("dev":
development data; "additional_train": the additional training data of the
evaluation machine types, 2020's ``eval_data_train``; "eval_test": the
evaluation test data; "ground_truth": the evaluation data list that labels
the evaluation test clips), the machine type (None for a file of all of
them), the file name, the Zenodo record, the MD5 and the size. The archives
are on Zenodo; the evaluation data lists are in the official baseline's
GitHub repository, pinned to one commit.

Where each value comes from (docs/datasets.md says the same):

- record ids and file names: the official baseline's download scripts
  (github.com/nttcslab/dcase2023_task2_baseline_ae, ``tools/data_download_20XX.sh``
  and ``datasets/download_path_*.yaml``), cross-checked for 2020-2022 with
  those years' baseline READMEs;
- MD5s: known for 2020 and 2023 only, from the soundata library's DCASE
  2020 and 2023 Task 2 loaders, which copy them from the Zenodo records.
  The MD5s of 2021, 2022, 2024 and 2025 and the size of every archive were
  looked for again (public loaders, download scripts and mirrors of these
  records) and not found: no source gave them as the Zenodo records'
  values (a table of record 4740355, MIMII DUE, lists files of the same
  names as 2021's, but that is another record, so its values are not used).
  Those archives are checked by the size the server announces, and their
  MD5 is recorded on first download (see :func:`fetch_dcase`);
- evaluation data lists (2020-2025): ``datasets/eval_data_list_<year>.csv``
  of github.com/nttcslab/dcase2023_task2_baseline_ae at commit
  9b64dc42276a64f65b7cbf2761d3c9ec525cff94; size and MD5 computed from
  those blobs.
"""

from dataclasses import dataclass

__all__ = [
    "ARCHIVES",
    "SPLITS",
    "Archive",
    "archives_for",
]

#: The splits of :func:`fetch_dcase`, and the parts of the registry each fetches.
SPLITS = {"dev": ("dev",), "eval": ("additional_train", "eval_test", "ground_truth")}

_ZENODO_FILE = "https://zenodo.org/records/{record}/files/{filename}?download=1"

# The official baseline's repository, at the commit the evaluation data lists are taken from.
_BASELINE_FILE = (
    "https://raw.githubusercontent.com/nttcslab/dcase2023_task2_baseline_ae/"
    "9b64dc42276a64f65b7cbf2761d3c9ec525cff94/datasets/{filename}"
)


@dataclass(frozen=True)
class Archive:
    """One published file: an archive of one machine type's clips, or an evaluation data list.

    ``record`` is the Zenodo record of an archive; a file published
    elsewhere has ``record=None`` and its URL in ``source_url``.
    """

    year: int
    part: str
    machine_type: str | None
    filename: str
    record: int | None
    md5: str | None = None
    size: int | None = None
    source_url: str | None = None

    @property
    def url(self):
        """Where the file is downloaded from: ``source_url``, else the Zenodo record's download URL."""
        if self.source_url is not None:
            return self.source_url
        return _ZENODO_FILE.format(record=self.record, filename=self.filename)

    @property
    def is_archive(self):
        """Whether the file is an archive to extract (else it is used as it is)."""
        return self.part != "ground_truth"


# (year, part, machine type, file name, Zenodo record, MD5 or None)
_ROWS = [
    (2020, "dev", "ToyCar", "dev_data_ToyCar.zip", 3678171, "4dec75ca8d9f666aa9e4c1894a740501"),
    (2020, "dev", "ToyConveyor", "dev_data_ToyConveyor.zip", 3678171, "03b6aa1bfd09a39d53af0ba39f71fa91"),
    (2020, "dev", "fan", "dev_data_fan.zip", 3678171, "649bdfc06263ae7a838963f43b6641e6"),
    (2020, "dev", "valve", "dev_data_valve.zip", 3678171, "34d2672f55bb041589ef79c10dc89934"),
    (2020, "dev", "slider", "dev_data_slider.zip", 3678171, "da24a757719f0d94d5aa2d646bbfdc86"),
    (2020, "dev", "pump", "dev_data_pump.zip", 3678171, "90e7091ef722b7238a7f1009365779cd"),
    (2020, "additional_train", "ToyCar", "eval_data_train_ToyCar.zip", 3727685, "a5d4ccd498af70b04dd74b644b820006"),
    (2020, "additional_train", "ToyConveyor", "eval_data_train_ToyConveyor.zip", 3727685, "0e808ac0b761e9fb13d5e0c65caff00d"),
    (2020, "additional_train", "fan", "eval_data_train_fan.zip", 3727685, "567798854130c8019df8b664c095ed1e"),
    (2020, "additional_train", "valve", "eval_data_train_valve.zip", 3727685, "057cdd560caffb8305449541afd28c6d"),
    (2020, "additional_train", "slider", "eval_data_train_slider.zip", 3727685, "f84f186f4295fc23754abcdd1b0580a7"),
    (2020, "additional_train", "pump", "eval_data_train_pump.zip", 3727685, "4e33ae9c0db5cc88437675f5e317caee"),
    (2020, "eval_test", "ToyCar", "eval_data_test_ToyCar.zip", 3841772, "bea2bdd612f616be8f2b8eb087b32c7c"),
    (2020, "eval_test", "ToyConveyor", "eval_data_test_ToyConveyor.zip", 3841772, "ccfcc9847c7d3404d7ee9d6d9e0b2ba2"),
    (2020, "eval_test", "fan", "eval_data_test_fan.zip", 3841772, "1eb9356a768cadfd0f2e59a5c57e578b"),
    (2020, "eval_test", "valve", "eval_data_test_valve.zip", 3841772, "f69c551d2088691050d20cccca9d631c"),
    (2020, "eval_test", "slider", "eval_data_test_slider.zip", 3841772, "0193c769073840332ce3aad84b1ccaa2"),
    (2020, "eval_test", "pump", "eval_data_test_pump.zip", 3841772, "23a8f8f924be218c69df67fe07360348"),
    (2021, "dev", "fan", "dev_data_fan.zip", 4562016, None),
    (2021, "dev", "gearbox", "dev_data_gearbox.zip", 4562016, None),
    (2021, "dev", "pump", "dev_data_pump.zip", 4562016, None),
    (2021, "dev", "slider", "dev_data_slider.zip", 4562016, None),
    (2021, "dev", "ToyCar", "dev_data_ToyCar.zip", 4562016, None),
    (2021, "dev", "ToyTrain", "dev_data_ToyTrain.zip", 4562016, None),
    (2021, "dev", "valve", "dev_data_valve.zip", 4562016, None),
    (2021, "additional_train", "fan", "eval_data_fan_train.zip", 4660992, None),
    (2021, "additional_train", "gearbox", "eval_data_gearbox_train.zip", 4660992, None),
    (2021, "additional_train", "pump", "eval_data_pump_train.zip", 4660992, None),
    (2021, "additional_train", "slider", "eval_data_slider_train.zip", 4660992, None),
    (2021, "additional_train", "ToyCar", "eval_data_ToyCar_train.zip", 4660992, None),
    (2021, "additional_train", "ToyTrain", "eval_data_ToyTrain_train.zip", 4660992, None),
    (2021, "additional_train", "valve", "eval_data_valve_train.zip", 4660992, None),
    (2021, "eval_test", "fan", "eval_data_fan_test.zip", 4884786, None),
    (2021, "eval_test", "gearbox", "eval_data_gearbox_test.zip", 4884786, None),
    (2021, "eval_test", "pump", "eval_data_pump_test.zip", 4884786, None),
    (2021, "eval_test", "slider", "eval_data_slider_test.zip", 4884786, None),
    (2021, "eval_test", "ToyCar", "eval_data_ToyCar_test.zip", 4884786, None),
    (2021, "eval_test", "ToyTrain", "eval_data_ToyTrain_test.zip", 4884786, None),
    (2021, "eval_test", "valve", "eval_data_valve_test.zip", 4884786, None),
    (2022, "dev", "bearing", "dev_bearing.zip", 6355122, None),
    (2022, "dev", "fan", "dev_fan.zip", 6355122, None),
    (2022, "dev", "gearbox", "dev_gearbox.zip", 6355122, None),
    (2022, "dev", "slider", "dev_slider.zip", 6355122, None),
    (2022, "dev", "ToyCar", "dev_ToyCar.zip", 6355122, None),
    (2022, "dev", "ToyTrain", "dev_ToyTrain.zip", 6355122, None),
    (2022, "dev", "valve", "dev_valve.zip", 6355122, None),
    (2022, "additional_train", "bearing", "eval_data_bearing_train.zip", 6462969, None),
    (2022, "additional_train", "fan", "eval_data_fan_train.zip", 6462969, None),
    (2022, "additional_train", "gearbox", "eval_data_gearbox_train.zip", 6462969, None),
    (2022, "additional_train", "slider", "eval_data_slider_train.zip", 6462969, None),
    (2022, "additional_train", "ToyCar", "eval_data_ToyCar_train.zip", 6462969, None),
    (2022, "additional_train", "ToyTrain", "eval_data_ToyTrain_train.zip", 6462969, None),
    (2022, "additional_train", "valve", "eval_data_valve_train.zip", 6462969, None),
    (2022, "eval_test", "bearing", "eval_data_bearing_test.zip", 6586456, None),
    (2022, "eval_test", "fan", "eval_data_fan_test.zip", 6586456, None),
    (2022, "eval_test", "gearbox", "eval_data_gearbox_test.zip", 6586456, None),
    (2022, "eval_test", "slider", "eval_data_slider_test.zip", 6586456, None),
    (2022, "eval_test", "ToyCar", "eval_data_ToyCar_test.zip", 6586456, None),
    (2022, "eval_test", "ToyTrain", "eval_data_ToyTrain_test.zip", 6586456, None),
    (2022, "eval_test", "valve", "eval_data_valve_test.zip", 6586456, None),
    (2023, "dev", "bearing", "dev_bearing.zip", 7882613, "8a813bc8d8f156b5395bfccdfac7673c"),
    (2023, "dev", "fan", "dev_fan.zip", 7882613, "9348591e96fb0ad499a1e33b082562fc"),
    (2023, "dev", "gearbox", "dev_gearbox.zip", 7882613, "b6e55f6a31faa0fc8569ec0afdd53ccf"),
    (2023, "dev", "slider", "dev_slider.zip", 7882613, "b3f8dee36b4718c36d659a4fd1c4afe0"),
    (2023, "dev", "ToyCar", "dev_ToyCar.zip", 7882613, "4e3bf15f4101ed4ed4f1fecde2e2b2a3"),
    (2023, "dev", "ToyTrain", "dev_ToyTrain.zip", 7882613, "6b02a6c65eebb3b8b1ae59a6b25bb897"),
    (2023, "dev", "valve", "dev_valve.zip", 7882613, "b2051a2022eadb53cd97581120811cae"),
    (2023, "additional_train", "bandsaw", "eval_data_bandsaw_train.zip", 7830345, "9274dfe63de028743823f1123f8b4b47"),
    (2023, "additional_train", "grinder", "eval_data_grinder_train.zip", 7830345, "17569c1f9df23621a0dbabc430684a35"),
    (2023, "additional_train", "shaker", "eval_data_shaker_train.zip", 7830345, "35f821b5645b731fb5a1750e33b95fc3"),
    (2023, "additional_train", "ToyDrone", "eval_data_ToyDrone_train.zip", 7830345, "7fea367d1384a1521ae24f72203238de"),
    (2023, "additional_train", "ToyNscale", "eval_data_ToyNscale_train.zip", 7830345, "9332822f3e47afd984c01f2ecb5ca3af"),
    (2023, "additional_train", "ToyTank", "eval_data_ToyTank_train.zip", 7830345, "b1fd3ab7de7561290df2d477de1c9d33"),
    (2023, "additional_train", "Vacuum", "eval_data_Vacuum_train.zip", 7830345, "1c8de33d9a8c7850a1f7aaddb97d87be"),
    (2023, "eval_test", "bandsaw", "eval_data_bandsaw_test.zip", 7860847, "2a8e8f39f6584ab366a8f4da52d4d7a6"),
    (2023, "eval_test", "grinder", "eval_data_grinder_test.zip", 7860847, "631b3e1608b6077772829a6e68c82c77"),
    (2023, "eval_test", "shaker", "eval_data_shaker_test.zip", 7860847, "ba98c98caa96051ec80e24e44b8fca56"),
    (2023, "eval_test", "ToyDrone", "eval_data_ToyDrone_test.zip", 7860847, "fdae7b8d1f4cadb2bea88bc93e2367db"),
    (2023, "eval_test", "ToyNscale", "eval_data_ToyNscale_test.zip", 7860847, "62f5f5043d8fb3a305b1c2e1025872de"),
    (2023, "eval_test", "ToyTank", "eval_data_ToyTank_test.zip", 7860847, "f5639bf58c47169c622751f19c6fc321"),
    (2023, "eval_test", "Vacuum", "eval_data_Vacuum_test.zip", 7860847, "a32524fd8c45b574a560685b38acc4e1"),
    (2024, "dev", "bearing", "dev_bearing.zip", 10902294, None),
    (2024, "dev", "fan", "dev_fan.zip", 10902294, None),
    (2024, "dev", "gearbox", "dev_gearbox.zip", 10902294, None),
    (2024, "dev", "slider", "dev_slider.zip", 10902294, None),
    (2024, "dev", "ToyCar", "dev_ToyCar.zip", 10902294, None),
    (2024, "dev", "ToyTrain", "dev_ToyTrain.zip", 10902294, None),
    (2024, "dev", "valve", "dev_valve.zip", 10902294, None),
    (2024, "additional_train", "3DPrinter", "eval_data_3DPrinter_train_r2.zip", 11259435, None),
    (2024, "additional_train", "AirCompressor", "eval_data_AirCompressor_train.zip", 11259435, None),
    (2024, "additional_train", "Scanner", "eval_data_Scanner_train.zip", 11259435, None),
    (2024, "additional_train", "ToyCircuit", "eval_data_ToyCircuit_train.zip", 11259435, None),
    (2024, "additional_train", "HoveringDrone", "eval_data_HoveringDrone_train.zip", 11259435, None),
    (2024, "additional_train", "HairDryer", "eval_data_HairDryer_train.zip", 11259435, None),
    (2024, "additional_train", "ToothBrush", "eval_data_ToothBrush_train.zip", 11259435, None),
    (2024, "additional_train", "RoboticArm", "eval_data_RoboticArm_train_r2.zip", 11259435, None),
    (2024, "additional_train", "BrushlessMotor", "eval_data_BrushlessMotor_train.zip", 11259435, None),
    (2024, "eval_test", "3DPrinter", "eval_data_3DPrinter_test.zip", 11363076, None),
    (2024, "eval_test", "AirCompressor", "eval_data_AirCompressor_test.zip", 11363076, None),
    (2024, "eval_test", "Scanner", "eval_data_Scanner_test.zip", 11363076, None),
    (2024, "eval_test", "ToyCircuit", "eval_data_ToyCircuit_test.zip", 11363076, None),
    (2024, "eval_test", "HoveringDrone", "eval_data_HoveringDrone_test.zip", 11363076, None),
    (2024, "eval_test", "HairDryer", "eval_data_HairDryer_test.zip", 11363076, None),
    (2024, "eval_test", "ToothBrush", "eval_data_ToothBrush_test.zip", 11363076, None),
    (2024, "eval_test", "RoboticArm", "eval_data_RoboticArm_test.zip", 11363076, None),
    (2024, "eval_test", "BrushlessMotor", "eval_data_BrushlessMotor_test.zip", 11363076, None),
    (2025, "dev", "ToyCar", "dev_ToyCar.zip", 15097779, None),
    (2025, "dev", "ToyTrain", "dev_ToyTrain.zip", 15097779, None),
    (2025, "dev", "bearing", "dev_bearing.zip", 15097779, None),
    (2025, "dev", "fan", "dev_fan.zip", 15097779, None),
    (2025, "dev", "gearbox", "dev_gearbox.zip", 15097779, None),
    (2025, "dev", "slider", "dev_slider.zip", 15097779, None),
    (2025, "dev", "valve", "dev_valve.zip", 15097779, None),
    (2025, "additional_train", "ToyRCCar", "eval_data_ToyRCCar_train.zip", 15392814, None),
    (2025, "additional_train", "ToyPet", "eval_data_ToyPet_train.zip", 15392814, None),
    (2025, "additional_train", "HomeCamera", "eval_data_HomeCamera_train.zip", 15392814, None),
    (2025, "additional_train", "AutoTrash", "eval_data_AutoTrash_train.zip", 15392814, None),
    (2025, "additional_train", "Polisher", "eval_data_Polisher_train.zip", 15392814, None),
    (2025, "additional_train", "ScrewFeeder", "eval_data_ScrewFeeder_train.zip", 15392814, None),
    (2025, "additional_train", "BandSealer", "eval_data_BandSealer_train.zip", 15392814, None),
    (2025, "additional_train", "CoffeeGrinder", "eval_data_CoffeeGrinder_train.zip", 15392814, None),
    (2025, "eval_test", "ToyRCCar", "eval_data_ToyRCCar_test.zip", 15519362, None),
    (2025, "eval_test", "ToyPet", "eval_data_ToyPet_test.zip", 15519362, None),
    (2025, "eval_test", "HomeCamera", "eval_data_HomeCamera_test.zip", 15519362, None),
    (2025, "eval_test", "AutoTrash", "eval_data_AutoTrash_test.zip", 15519362, None),
    (2025, "eval_test", "Polisher", "eval_data_Polisher_test.zip", 15519362, None),
    (2025, "eval_test", "ScrewFeeder", "eval_data_ScrewFeeder_test.zip", 15519362, None),
    (2025, "eval_test", "BandSealer", "eval_data_BandSealer_test.zip", 15519362, None),
    (2025, "eval_test", "CoffeeGrinder", "eval_data_CoffeeGrinder_test.zip", 15519362, None),
]

# The evaluation data lists: (year, size in bytes, MD5), computed from the blobs at the pinned commit.
_GROUND_TRUTH_ROWS = [
    (2020, 338426, "f16aaa185df9906e588864aaf7cb58ea"),
    (2021, 626102, "83f04e2923ac9fc16fd3cfebf7f9c481"),
    (2022, 310255, "f598f7578942f60c71b699af19309d11"),
    (2023, 107791, "28944a1963ab8f35b0a5a0523e22a4d5"),
    (2024, 133013, "56f483d3de7806d278766c10def8ed50"),
    (2025, 125229, "ccbdf8b54426bbb404c4e2be10a522fc"),
]

ARCHIVES = tuple(Archive(*row) for row in _ROWS) + tuple(
    Archive(
        year, "ground_truth", None, f"eval_data_list_{year}.csv", None, md5=md5, size=size,
        source_url=_BASELINE_FILE.format(filename=f"eval_data_list_{year}.csv"),
    )
    for year, size, md5 in _GROUND_TRUTH_ROWS
)


def archives_for(year, split, machine_types=None):
    """The archives of one year's split, for all or some of its machine types.

    Parameters
    ----------
    year : int
        2020 to 2025.
    split : {"dev", "eval"}
        "dev": the development data (training and test clips with labels);
        "eval": the additional training data and the evaluation test data
        of the evaluation machine types, and the year's evaluation data
        list.
    machine_types : str, list of str or None, default=None
        None: all machine types of the split. A file of all machine types
        (the evaluation data list) is included whatever is chosen.

    Returns
    -------
    archives : list of Archive

    Raises
    ------
    ValueError
        For an unknown year, split or machine type; the message lists the
        valid ones.
    """
    years = sorted({archive.year for archive in ARCHIVES})
    if year not in years:
        raise ValueError(f"No DCASE Task 2 data of year {year!r} in skasd's registry; the years are {years}.")
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; the splits are {sorted(SPLITS)}.")
    chosen = [a for a in ARCHIVES if a.year == year and a.part in SPLITS[split]]
    available = sorted({a.machine_type for a in chosen if a.machine_type is not None}, key=str.lower)
    if machine_types is None:
        return chosen
    if isinstance(machine_types, str):
        machine_types = [machine_types]
    unknown = [m for m in machine_types if m not in available]
    if unknown:
        raise ValueError(
            f"Unknown machine type(s) {unknown} for DCASE {year} split {split!r}; its machine types are {available}."
        )
    return [a for a in chosen if a.machine_type is None or a.machine_type in set(machine_types)]
