"""``skasd monitor``: score the clips that appear in a folder, as they appear."""

import sys
import time
from collections import deque
from pathlib import Path

from ._common import CLIError


class WindowAlarm:
    """A decision over the last ``window`` clips of each machine type and section, as on-device monitors decide.

    One anomalous clip is often a passing noise; ``min_anomalous`` of the
    last ``window`` decisions raise the alarm. ``window=1,
    min_anomalous=1`` is the clip's own decision.
    """

    def __init__(self, window, min_anomalous):
        if not 1 <= min_anomalous <= window:
            raise CLIError(f"--min-anomalous must be between 1 and --window ({window}); got {min_anomalous}.")
        self.window, self.min_anomalous = window, min_anomalous
        self._recent = {}

    def update(self, key, decision):
        """Add one clip's decision (1 anomalous) for ``key``; whether the alarm is raised now (0 or 1)."""
        recent = self._recent.setdefault(key, deque(maxlen=self.window))
        recent.append(int(decision))
        return int(sum(recent) >= self.min_anomalous)


def _audio_in(folder):
    from ..datasets._names import AUDIO_SUFFIXES

    # Regular files only: a FIFO named like audio would block the read.
    return {p for p in Path(folder).rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()}


def run_monitor(args, *, sleep=time.sleep):
    """Poll ``args.folder`` and print ``file, score, decision, alarm`` for each new clip; returns the clips scored.

    A file is scored once its size has stayed the same over one polling
    interval (a recorder may still be writing it); a file that cannot be
    read then is retried at the next polls and reported after three tries,
    and tried again if its size changes later (a recorder that paused).
    The clips already there are those found before the models are loaded,
    so that a clip that arrives while they load is scored.
    """
    from ._score import load_for_scoring, score_files

    folder = Path(args.folder)
    if not folder.is_dir():
        raise CLIError(f"folder {str(folder)!r} to monitor does not exist or is not a folder.")
    alarm = WindowAlarm(args.window, args.min_anomalous)
    seen = set() if args.include_existing else _audio_in(folder)
    saved = load_for_scoring(args.model, args.trust)
    # skipped: the size at which a clip was given up, to try it again once the size changes.
    sizes, failures, skipped, scored = {}, {}, {}, 0
    if args.verbose:
        existing = "" if args.include_existing else f"; the {len(seen)} clip(s) already there are left alone"
        print(f"Monitoring {folder}/ every {args.interval:g} s (Ctrl-C stops){existing}.", flush=True)
    print("file\tscore\tdecision\talarm", flush=True)
    try:
        while args.max_clips is None or scored < args.max_clips:
            ready = []
            for path in sorted(_audio_in(folder) - seen):
                try:
                    size = path.stat().st_size
                except FileNotFoundError:  # moved away since it was listed
                    continue
                if sizes.get(path) != size:
                    failures.pop(path, None)
                elif skipped.get(path) != size:
                    ready.append(path)
                sizes[path] = size
            for path in ready[: None if args.max_clips is None else args.max_clips - scored]:
                try:
                    row = next(score_files(saved, [str(path)], args.machine, args.section).itertuples(index=False))
                except ValueError as exc:  # not readable yet, or not audio
                    failures[path] = failures.get(path, 0) + 1
                    if failures[path] >= 3:
                        skipped[path] = sizes[path]
                        print(f"skasd: warning: {path} skipped until its size changes: {' '.join(str(exc).split())}",
                              file=sys.stderr, flush=True)
                    continue
                seen.add(path)
                scored += 1
                raised = alarm.update((row.machine, row.section), row.decision)
                print(f"{row.file}\t{float(row.score)!r}\t{int(row.decision)}\t{raised}", flush=True)
            if args.max_clips is None or scored < args.max_clips:
                sleep(args.interval)
    except KeyboardInterrupt:
        pass
    if args.verbose:
        print(f"Stopped after {scored} clip(s).", flush=True)
    return scored
