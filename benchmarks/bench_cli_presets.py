"""The command line's named pipelines: official score and wall time of each, on the valve split and in the demo.

Each row runs the command as a user would, in a fresh process
(``python -m skasd ...``), and times the whole command (reading the clips
included):

- ``skasd evaluate --data ../shared/data/dcase2023t2_dev_valve_test
  --split valve-standard --pipeline NAME --no-plots`` for every preset
  (fit on the 35 normal clips of the standard split, score the other 165;
  ``--random-state 0``);
- ``skasd demo`` with its default pipelines (the README's main job, plots
  included), then ``skasd demo --no-plots --pipelines`` with the log-mel
  Mahalanobis and SoundNet presets, for their scores on the demo's data.

Writes the "## Command-line presets" section of docs/benchmarks.md.

    .venv/bin/python benchmarks/bench_cli_presets.py
"""

import importlib.util
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("skasd") is None:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import write_section  # noqa: E402

from skasd.pipelines import PRESETS  # noqa: E402

VALVE = ROOT.parent / "shared" / "data" / "dcase2023t2_dev_valve_test"
SECTION_TITLE = "## Command-line presets"
OFFICIAL = re.compile(r"^Official score \([^)]*\): ([0-9.]+)$", re.MULTILINE)
PER_PIPELINE = re.compile(r"^  (\S+)\s+([0-9.]+)$", re.MULTILINE)


def skasd(*args, out):
    """Run ``python -m skasd ARGS --out OUT``; its stdout and wall time."""
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "skasd", *args, "--out", str(out)], capture_output=True, text=True, check=True
    )
    return completed.stdout, time.perf_counter() - started


def main():
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in PRESETS:
            stdout, seconds = skasd(
                "evaluate", "--data", str(VALVE), "--split", "valve-standard", "--pipeline", name, "--no-plots",
                "--random-state", "0", out=Path(tmp) / name,
            )
            official = float(OFFICIAL.findall(stdout)[-1])
            rows.append((name, official, seconds))
            print(f"valve {name}: {official:.4f} in {seconds:.0f} s", flush=True)
        demo_stdout, demo_seconds = skasd("demo", out=Path(tmp) / "demo")
        extra_stdout, _ = skasd(
            "demo", "--no-plots", "--pipelines", "logmel-mahalanobis", "soundnet-density", out=Path(tmp) / "extra"
        )
    demo = dict(PER_PIPELINE.findall(demo_stdout)) | dict(PER_PIPELINE.findall(extra_stdout))
    demo = sorted(((name, float(score)) for name, score in demo.items()), key=lambda item: -item[1])
    print(f"demo: {demo_seconds:.0f} s; {demo}", flush=True)
    lines = [
        SECTION_TITLE,
        "",
        f"`benchmarks/bench_cli_presets.py`, {date.today().isoformat()}, {os.cpu_count()} CPU cores, "
        f"{platform.machine()}. Every row is the whole command in a fresh process, reading the clips included. "
        "Valve: `skasd evaluate --data ../shared/data/dcase2023t2_dev_valve_test --split valve-standard "
        "--pipeline NAME --no-plots --random-state 0` (fit on 35 normal clips, score 165; official DCASE 2023 "
        "score, one seed).",
        "",
        "| preset | valve: official | valve: wall time (s) |",
        "|---|---:|---:|",
        *(f"| `{name}` | {official:.4f} | {seconds:.0f} |" for name, official, seconds in rows),
        "",
        f"`skasd demo` (the README's main job, default pipelines, plots included): {demo_seconds:.0f} s. Official "
        "scores on the demo's generated data (with `--pipelines logmel-mahalanobis soundnet-density` for the two "
        "presets the default leaves out): " + ", ".join(f"`{name}` {score:.4f}" for name, score in demo) + ".",
    ]
    section = "\n".join(lines) + "\n"
    print(section)
    write_section(section)


if __name__ == "__main__":
    main()
