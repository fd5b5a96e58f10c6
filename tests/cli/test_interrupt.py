"""Ctrl-C during a run, in a subprocess as a user's shell sends it."""

import queue
import signal
import subprocess
import sys
import threading
import time

from skasd.datasets import make_machine_sounds

# A training that runs until interrupted: Ctrl-C lands inside torch, with its threads at work.
ENDLESS_TRAINING = """\
[[steps]]
estimator = "DenseAutoencoderScorer"
params = {max_epochs = 100000, batch_size = 8, verbose = 1}
"""


def test_ctrl_c_during_training_exits_130_with_one_line_and_leaves_nothing(tmp_path):
    make_machine_sounds(
        machine_types=("fan",), n_source_train=8, n_target_train=2, n_test_normal=2, n_test_anomalous=2,
        duration=0.5, random_state=0, out_dir=str(tmp_path / "data"),
    )
    (tmp_path / "endless.toml").write_text(ENDLESS_TRAINING)
    out = tmp_path / "run"
    command = [sys.executable, "-m", "skasd", "evaluate", "--data", str(tmp_path / "data"), "--pipeline",
               str(tmp_path / "endless.toml"), "--out", str(out), "--no-plots"]
    # The default SIGINT disposition, whatever the test runner's: Python then turns Ctrl-C into KeyboardInterrupt.
    # Standard error goes to a file, so that a full pipe never blocks the run; standard output is read by a
    # thread, so that a run that stops printing cannot keep the test waiting past its deadline.
    with open(tmp_path / "stderr.txt", "w") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    printed = queue.Queue()
    threading.Thread(target=lambda: [printed.put(line) for line in process.stdout], daemon=True).start()
    try:
        lines = []
        deadline = time.monotonic() + 120
        # Wait for the training's epoch lines: the signal must land inside torch, not before it starts.
        while not any(line.lstrip().startswith("2 ") for line in lines) and time.monotonic() < deadline:
            try:
                lines.append(printed.get(timeout=max(deadline - time.monotonic(), 0.01)))
            except queue.Empty:
                break
        assert process.poll() is None, "".join(lines) + (tmp_path / "stderr.txt").read_text()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    finally:
        process.kill()
    err = (tmp_path / "stderr.txt").read_text()
    assert process.returncode == 130, err
    assert err.splitlines()[-1] == "skasd: interrupted" and "Traceback" not in err, err
    # The lock and the temporary files are gone; no result was written.
    assert sorted(p.name for p in out.iterdir()) == []
