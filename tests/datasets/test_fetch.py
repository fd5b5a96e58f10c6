"""fetch_dcase and skasd fetch, against archives the tests make, served from 127.0.0.1 (no internet)."""

import hashlib
import http.server
import io
import re
import tarfile
import threading
import wave
import zipfile
from pathlib import Path

import numpy as np
import pytest

from skasd.cli import main
from skasd.datasets import _fetch, fetch_dcase, load_dcase
from skasd.datasets._download import ArchiveError, download, safe_extract
from skasd.datasets._registry import ARCHIVES, SPLITS, Archive, archives_for

CLIPS = {
    "train": [f"section_00_source_train_normal_{i:04d}_v1pat_00_v2pat_00.wav" for i in range(3)],
    "test": [f"section_00_source_test_{kind}_{i:04d}_v1pat_00_v2pat_00.wav" for i, kind in enumerate(["normal", "anomaly"])],
}


def _wav(seed, n_samples=1600):
    samples = (np.random.default_rng(seed).uniform(-0.5, 0.5, n_samples) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(16000)
        file.writeframes(samples.tobytes())
    return buffer.getvalue()


def _zip(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _dev_archive(machine="valve", prefix=""):
    members = {}
    for seed, (folder, names) in enumerate(CLIPS.items()):
        for index, name in enumerate(names):
            members[f"{prefix}{machine}/{folder}/{name}"] = _wav(10 * seed + index)
    members[f"{prefix}{machine}/attributes_00.csv"] = b"file_name,d1p,d1v\n"
    return _zip(members)


class _Mirror(http.server.ThreadingHTTPServer):
    """Serves ``files`` (name -> bytes) with Range and HEAD; ``cut`` (name -> n) breaks one GET off after n bytes."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files, self.cut, self.requests = {}, {}, []

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/mirror"


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _body(self):
        name = self.path.rsplit("/", 1)[-1]
        return name, self.server.files.get(name)

    def do_HEAD(self):
        name, body = self._body()
        self.server.requests.append(("HEAD", name, None))
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()

    def do_GET(self):
        name, body = self._body()
        wanted = self.headers.get("Range")
        self.server.requests.append(("GET", name, wanted))
        if body is None:
            self.send_error(404)
            return
        start = int(re.fullmatch(r"bytes=(\d+)-", wanted).group(1)) if wanted else 0
        self.send_response(206 if wanted else 200)
        if wanted:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        cut = self.server.cut.pop(name, None)
        self.wfile.write(body[start:cut])
        if cut is not None:
            self.wfile.flush()
            self.close_connection = True


@pytest.fixture
def mirror():
    server = _Mirror()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _registry(monkeypatch, archives):
    """Make fetch_dcase fetch ``archives`` (Archive objects) whatever the year and split."""
    monkeypatch.setattr(_fetch, "archives_for", lambda year, split, machine_types=None: list(archives))


def _serve(mirror, monkeypatch, data, *, filename="dev_valve.zip", machine="valve", md5=True):
    mirror.files[filename] = data
    archive = Archive(2023, "dev", machine, filename, 0, md5=hashlib.md5(data).hexdigest() if md5 else None)
    _registry(monkeypatch, [archive])
    return archive


def _files_under(folder):
    return sorted(str(path.relative_to(folder)) for path in Path(folder).rglob("*") if path.is_file())


def test_fetch_gives_the_layout_load_dcase_reads_and_a_second_call_downloads_nothing(tmp_path, mirror, monkeypatch):
    _serve(mirror, monkeypatch, _dev_archive(prefix="dev_data/"))
    root = fetch_dcase(2023, data_home=tmp_path, base_url=mirror.url, verbose=0)
    assert root == tmp_path / "dcase2023t2" / "dev"
    frame = load_dcase(root, verbose=0).frame
    assert sorted(frame["path"].map(lambda p: Path(p).name)) == sorted(CLIPS["train"] + CLIPS["test"])
    assert (root / "valve" / "attributes_00.csv").is_file()
    assert not list((tmp_path / "downloads").rglob("*.zip")), "the archive is removed once extracted"
    n_requests = len(mirror.requests)
    assert fetch_dcase(2023, data_home=tmp_path, base_url=mirror.url, verbose=0) == root
    assert len(mirror.requests) == n_requests


def test_data_home_defaults_to_the_environment_variable(tmp_path, mirror, monkeypatch):
    _serve(mirror, monkeypatch, _dev_archive())
    monkeypatch.setenv("SKASD_DATA", str(tmp_path / "from_env"))
    root = fetch_dcase(2023, base_url=mirror.url, verbose=0)
    assert root == tmp_path / "from_env" / "dcase2023t2" / "dev" and (root / "valve" / "train").is_dir()


def test_a_download_cut_mid_file_resumes_where_it_stopped(tmp_path, mirror, monkeypatch):
    data = _dev_archive()
    _serve(mirror, monkeypatch, data)
    mirror.cut["dev_valve.zip"] = len(data) // 3
    with pytest.raises(ConnectionError, match=r"dev_valve\.zip.*resume"):
        fetch_dcase(2023, data_home=tmp_path, base_url=mirror.url, verbose=0)
    part = tmp_path / "downloads" / "dcase2023t2" / "dev_valve.zip.part"
    assert part.stat().st_size == len(data) // 3
    assert not (tmp_path / "dcase2023t2" / "dev" / "valve").exists()
    root = fetch_dcase(2023, data_home=tmp_path, base_url=mirror.url, verbose=0)
    assert ("GET", "dev_valve.zip", f"bytes={len(data) // 3}-") in mirror.requests
    assert len(load_dcase(root, verbose=0).frame) == 5


def test_a_checksum_mismatch_removes_the_file_and_extracts_nothing(tmp_path, mirror, monkeypatch):
    data = _dev_archive()
    mirror.files["dev_valve.zip"] = data
    _registry(monkeypatch, [Archive(2023, "dev", "valve", "dev_valve.zip", 0, md5="0" * 32)])
    with pytest.raises(ArchiveError, match=r"dev_valve\.zip from http://127\.0\.0\.1.* has MD5 .*not the 0{32}.*removed"):
        fetch_dcase(2023, data_home=tmp_path, base_url=mirror.url, verbose=0)
    assert _files_under(tmp_path / "downloads") == []
    assert _files_under(tmp_path / "dcase2023t2" / "dev") == []


def test_a_corrupt_archive_is_refused_and_nothing_is_left_half_extracted(tmp_path, mirror, monkeypatch):
    data = bytearray(_dev_archive())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)  # the published MD5 is of these bytes: a bad upload
    _serve(mirror, monkeypatch, bytes(data))
    with pytest.raises(ArchiveError, match=r"dev_valve\.zip is corrupt"):
        fetch_dcase(2023, data_home=tmp_path, base_url=mirror.url, verbose=0)
    assert _files_under(tmp_path / "dcase2023t2" / "dev") == []
    assert not list((tmp_path / "downloads").rglob("staging-*"))


@pytest.mark.parametrize(
    ("member", "reason"),
    [("../outside.wav", "has '..' in its path"), ("/tmp/absolute.wav", "has an absolute path"),
     ("valve/train/../../../up.wav", "has '..' in its path")],
)
def test_a_member_that_would_land_outside_the_folder_is_refused(tmp_path, mirror, monkeypatch, member, reason):
    data = _zip({"valve/train/" + CLIPS["train"][0]: _wav(0), member: b"x"})
    _serve(mirror, monkeypatch, data)
    with pytest.raises(ArchiveError, match=re.escape(f"its member {member!r} {reason}")):
        fetch_dcase(2023, data_home=tmp_path, base_url=mirror.url, verbose=0)
    assert _files_under(tmp_path / "dcase2023t2" / "dev") == []
    assert not (tmp_path / "outside.wav").exists() and not (tmp_path.parent / "outside.wav").exists()


def test_links_in_a_tar_archive_are_refused(tmp_path):
    path = tmp_path / "links.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        link = tarfile.TarInfo("valve/train/link.wav")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
    with pytest.raises(ArchiveError, match=r"'valve/train/link\.wav' is a link"):
        safe_extract(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_interrupted_extraction_leaves_nothing_and_the_next_call_completes(tmp_path, mirror, monkeypatch):
    _serve(mirror, monkeypatch, _dev_archive())
    real_extract = zipfile.ZipFile._extract_member
    calls = []

    def interrupted(self, *args, **kwargs):
        calls.append(args[0])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_extract(self, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "_extract_member", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch_dcase(2023, data_home=tmp_path, base_url=mirror.url, verbose=0, keep_archives=True)
    assert _files_under(tmp_path / "dcase2023t2" / "dev") == []
    assert not list((tmp_path / "downloads").rglob("staging-*"))
    monkeypatch.setattr(zipfile.ZipFile, "_extract_member", real_extract)
    n_gets = sum(method == "GET" for method, *_ in mirror.requests)
    root = fetch_dcase(2023, data_home=tmp_path, base_url=mirror.url, verbose=0)
    assert len(load_dcase(root, verbose=0).frame) == 5
    assert sum(method == "GET" for method, *_ in mirror.requests) == n_gets, "the kept archive is used again"


def test_no_network_names_the_url_and_the_ways_around(tmp_path, monkeypatch):
    _registry(monkeypatch, [Archive(2023, "dev", "valve", "dev_valve.zip", 0)])
    with pytest.raises(ConnectionError, match=r"Could not reach http://127\.0\.0\.1:9/dev_valve\.zip .*base_url=.*by hand"):
        fetch_dcase(2023, data_home=tmp_path, base_url="http://127.0.0.1:9", verbose=0)


def test_an_archive_downloaded_by_hand_is_checked_and_used(tmp_path, monkeypatch):
    data = _dev_archive()
    _registry(monkeypatch, [Archive(2023, "dev", "valve", "dev_valve.zip", 0, md5=hashlib.md5(data).hexdigest())])
    downloads = tmp_path / "downloads" / "dcase2023t2"
    downloads.mkdir(parents=True)
    (downloads / "dev_valve.zip").write_bytes(data)
    root = fetch_dcase(2023, data_home=tmp_path, base_url="http://127.0.0.1:9", verbose=0)
    assert len(load_dcase(root, verbose=0).frame) == 5


def test_too_little_disk_space_is_said_before_downloading(tmp_path, mirror, monkeypatch):
    data = _dev_archive()
    _serve(mirror, monkeypatch, data)

    class Usage:
        free = len(data)  # the archive fits, the archive and its clips do not

    monkeypatch.setattr(_fetch.shutil, "disk_usage", lambda path: Usage)
    with pytest.raises(OSError, match=r"Not enough disk space in .*\['dev_valve\.zip'\].*pass data_home="):
        fetch_dcase(2023, data_home=tmp_path, base_url=mirror.url, verbose=0)
    assert [method for method, *_ in mirror.requests] == ["HEAD"]


def test_without_download_if_missing_missing_data_is_an_error(tmp_path, mirror, monkeypatch):
    _serve(mirror, monkeypatch, _dev_archive())
    with pytest.raises(OSError, match=r"\['dev_valve\.zip'\] are missing, and download_if_missing=False"):
        fetch_dcase(2023, data_home=tmp_path, base_url=mirror.url, download_if_missing=False, verbose=0)
    assert mirror.requests == []


def test_an_archive_without_a_pinned_md5_warns_and_records_the_md5(tmp_path, mirror, monkeypatch):
    data = _dev_archive()
    _serve(mirror, monkeypatch, data, md5=False)
    with pytest.warns(UserWarning, match=r"no MD5 of dev_valve\.zip"):
        fetch_dcase(2023, data_home=tmp_path, base_url=mirror.url, verbose=0)
    record = (tmp_path / "dcase2023t2" / ".fetched" / "dev_valve.zip.json").read_text()
    assert hashlib.md5(data).hexdigest() in record


def test_download_replaces_a_partial_file_when_the_server_ignores_range(tmp_path, mirror):
    data = b"0123456789" * 1000
    mirror.files["plain.bin"] = data
    (tmp_path / "plain.bin.part").write_bytes(b"garbage")

    class NoRange(_Handler):
        def do_GET(self):
            del self.headers["Range"]
            super().do_GET()

    mirror.RequestHandlerClass = NoRange
    path = download(f"{mirror.url}/plain.bin", tmp_path / "plain.bin", size=len(data), verbose=0)
    assert path.read_bytes() == data


def test_the_command_line_prints_the_folder(tmp_path, mirror, monkeypatch, capsys):
    _serve(mirror, monkeypatch, _dev_archive())
    assert main(["fetch", "2023", "--data-home", str(tmp_path), "--base-url", mirror.url, "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "dcase2023t2" / "dev")
    assert main(["fetch", "2023", "--data-home", str(tmp_path / "other"), "--base-url", "http://127.0.0.1:9",
                 "--quiet"]) == 2
    assert re.fullmatch(r"skasd: error: Could not reach http://127\.0\.0\.1:9/dev_valve\.zip .*\n", capsys.readouterr().err)


# -- the registry ------------------------------------------------------------


def test_unknown_year_split_and_machine_type_list_the_valid_ones():
    with pytest.raises(ValueError, match=r"year 2019 .* years are \[2020, 2021, 2022, 2023, 2024, 2025\]"):
        archives_for(2019, "dev")
    with pytest.raises(ValueError, match=r"Unknown split 'test'; the splits are \['dev', 'eval'\]"):
        archives_for(2023, "test")
    with pytest.raises(ValueError, match=r"\['bandsaw'\] for DCASE 2023 split 'dev'; its machine types are \['bearing', 'fan', 'gearbox', 'slider', 'ToyCar', 'ToyTrain', 'valve'\]"):
        archives_for(2023, "dev", ["bandsaw"])


def test_the_registry_has_every_machine_type_of_every_split_once():
    expected_dev = {2020: 6, 2021: 7, 2022: 7, 2023: 7, 2024: 7, 2025: 7}
    for year, n_dev in expected_dev.items():
        dev = archives_for(year, "dev")
        assert len({a.machine_type for a in dev}) == len(dev) == n_dev
        evaluation = archives_for(year, "eval")
        for part in SPLITS["eval"]:
            machines = [a.machine_type for a in evaluation if a.part == part]
            assert len(set(machines)) == len(machines) and machines
        assert {a.machine_type for a in evaluation if a.part == "additional_train"} == {
            a.machine_type for a in evaluation if a.part == "eval_test"
        }
    for archive in ARCHIVES:
        assert archive.md5 is None or re.fullmatch(r"[0-9a-f]{32}", archive.md5)
        if archive.is_archive:
            assert archive.url == f"https://zenodo.org/records/{archive.record}/files/{archive.filename}?download=1"
            assert (archive.md5 is not None) == (archive.year in (2020, 2023))


def test_each_year_has_one_evaluation_data_list_pinned_to_one_commit_with_its_size_and_md5():
    lists = [a for a in ARCHIVES if a.part == "ground_truth"]
    assert sorted(a.year for a in lists) == [2020, 2021, 2022, 2023, 2024, 2025]
    for archive in lists:
        assert archive.url == (
            "https://raw.githubusercontent.com/nttcslab/dcase2023_task2_baseline_ae/"
            f"9b64dc42276a64f65b7cbf2761d3c9ec525cff94/datasets/eval_data_list_{archive.year}.csv"
        )
        assert archive.record is None and archive.machine_type is None and not archive.is_archive
        assert re.fullmatch(r"[0-9a-f]{32}", archive.md5) and archive.size > 0
        # Every subset of the evaluation machine types gets the list of them all; the development set never does.
        assert archive in archives_for(archive.year, "eval", archives_for(archive.year, "eval")[0].machine_type)
        assert archive not in archives_for(archive.year, "dev")


# -- the evaluation data list -------------------------------------------------

GROUND_TRUTH = b"""bandsaw
section_00_0000.wav,section_00_source_test_normal_0000_vel_15.wav
section_00_0001.wav,section_00_target_test_anomaly_0001_vel_12.wav
"""


def _serve_evaluation_set(mirror, monkeypatch, ground_truth=GROUND_TRUTH, md5=None):
    train = {f"bandsaw/train/section_00_source_train_normal_{i:04d}_vel_15.wav": _wav(i) for i in range(3)}
    test = {f"bandsaw/test/section_00_{i:04d}.wav": _wav(10 + i) for i in range(2)}
    train, test = _zip(train), _zip(test)
    mirror.files.update({
        "eval_data_bandsaw_train.zip": train, "eval_data_bandsaw_test.zip": test,
        "eval_data_list_2023.csv": ground_truth,
    })
    _registry(monkeypatch, [
        Archive(2023, "additional_train", "bandsaw", "eval_data_bandsaw_train.zip", 0,
                md5=hashlib.md5(train).hexdigest()),
        Archive(2023, "eval_test", "bandsaw", "eval_data_bandsaw_test.zip", 0, md5=hashlib.md5(test).hexdigest()),
        Archive(2023, "ground_truth", None, "eval_data_list_2023.csv", None, size=len(ground_truth),
                md5=md5 or hashlib.md5(ground_truth).hexdigest(), source_url="https://example.invalid/list.csv"),
    ])


def test_the_eval_split_holds_the_years_evaluation_data_list_which_labels_its_test_clips(tmp_path, mirror, monkeypatch):
    _serve_evaluation_set(mirror, monkeypatch)
    root = fetch_dcase(2023, split="eval", data_home=tmp_path, base_url=mirror.url, verbose=0)
    listed = root / "eval_data_list_2023.csv"
    assert listed.read_bytes() == GROUND_TRUTH
    assert not (tmp_path / "downloads" / "dcase2023t2" / "eval_data_list_2023.csv").exists()
    frame = load_dcase(root, split="test", ground_truth=listed, verbose=0).frame.sort_values("path")
    assert frame[["domain", "label"]].values.tolist() == [["source", 0], ["target", 1]]
    n_requests = len(mirror.requests)
    assert fetch_dcase(2023, split="eval", data_home=tmp_path, base_url=mirror.url, verbose=0) == root
    assert len(mirror.requests) == n_requests
    # Its size is in the registry: the server is not asked for it.
    assert ("HEAD", "eval_data_list_2023.csv", None) not in mirror.requests


def test_skasd_evaluate_scores_a_fetched_evaluation_set_with_its_list(tmp_path, mirror, monkeypatch, capsys):
    _serve_evaluation_set(mirror, monkeypatch)
    assert main(["fetch", "2023", "--split", "eval", "--data-home", str(tmp_path), "--base-url", mirror.url,
                 "--quiet"]) == 0
    root = Path(capsys.readouterr().out.strip())
    status = main(["evaluate", "--data", str(root), "--pipeline", "logmel-knn", "--ground-truth",
                   str(root / "eval_data_list_2023.csv"), "--out", str(tmp_path / "run"), "--no-plots", "--quiet"])
    assert status == 0
    assert "Official score (harmonic mean of all AUCs and pAUCs):" in capsys.readouterr().out


def test_an_evaluation_data_list_with_another_md5_is_removed_and_not_put_in_place(tmp_path, mirror, monkeypatch):
    _serve_evaluation_set(mirror, monkeypatch, md5="0" * 32)
    with pytest.raises(ArchiveError, match=r"eval_data_list_2023\.csv from .* has MD5 .*not the 0{32}"):
        fetch_dcase(2023, split="eval", data_home=tmp_path, base_url=mirror.url, verbose=0)
    root = tmp_path / "dcase2023t2" / "eval"
    assert not (root / "eval_data_list_2023.csv").exists()
    assert not (tmp_path / "dcase2023t2" / ".fetched" / "eval_data_list_2023.csv.json").exists()
    assert _files_under(tmp_path / "downloads") == []


def test_a_size_in_the_registry_sets_the_disk_space_check_without_asking_the_server(tmp_path, mirror, monkeypatch):
    data = _dev_archive()
    mirror.files["dev_valve.zip"] = data
    _registry(monkeypatch, [Archive(2023, "dev", "valve", "dev_valve.zip", 0, size=10**12)])

    class Usage:
        free = 10**12  # the archive fits, the archive and its clips do not

    monkeypatch.setattr(_fetch.shutil, "disk_usage", lambda path: Usage)
    with pytest.raises(OSError, match=r"need about 2000\.0 GB .* 1000\.0 GB are free"):
        fetch_dcase(2023, data_home=tmp_path, base_url=mirror.url, verbose=0)
    assert mirror.requests == []
