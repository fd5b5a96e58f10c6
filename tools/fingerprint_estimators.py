"""Fingerprints of what every command-line preset computes, to show a refactoring changed nothing.

Each preset (at the CPU-sized settings of tests/cli/test_cli.py: tiny networks,
one or two epochs) is fitted per machine type and section on a small
generated data set with ``random_state=0``, then the test clips are passed
through it. The script prints, per preset, the SHA-256 of the embeddings
(every step but the scorer, or the one step where it embeds too, all models
in turn) and of the anomaly scores, as float32 bytes. Run it before and
after a change that should not change behaviour; the two outputs must be
identical.

    .venv/bin/python tools/fingerprint_estimators.py > before.txt
    ... change ...
    .venv/bin/python tools/fingerprint_estimators.py | diff before.txt -
"""

import hashlib
import importlib.util
import warnings
from pathlib import Path

import numpy as np

from skasd._config import build_pipeline
from skasd.datasets import make_machine_sounds
from skasd.pipelines import PRESETS, fit_models, score_models

ROOT = Path(__file__).resolve().parents[1]


def _test_cli():
    """tests/cli/test_cli.py as a module: its TINY settings (seconds per preset) and tiny()."""
    spec = importlib.util.spec_from_file_location("skasd_test_cli", ROOT / "tests" / "cli" / "test_cli.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def digest(array):
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.float32).tobytes()).hexdigest()[:16]


def main():
    data = make_machine_sounds(
        machine_types=("fan", "gearbox"), n_sections=2, n_source_train=16, n_target_train=4, n_test_normal=4,
        n_test_anomalous=4, duration=0.5, random_state=0,
    )
    frame = data.frame
    train = (frame["split"] == "train").to_numpy()
    tiny = _test_cli().tiny
    for name in PRESETS:
        config = tiny(PRESETS[name])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            models = fit_models(
                lambda config=config: build_pipeline(
                    config, context={"sample_rate": 16000, "random_state": 0, "verbose": 0}
                ),
                data.data[train], frame[train], shared_embedding=config.get("shared_embedding", "none"),
                y=config.get("y"),
            )
            anomaly_score, _ = score_models(models, data.data[~train], frame[~train])
            # Every step but the scorer; a one-step pipeline whose step embeds too (ConfidentPairSCAN): that step.
            embedders = [model[:-1] if len(model) > 1 else model[0] for _, model in sorted(models.items())]
            embeddings = [step.transform(data.data[~train]) for step in embedders if hasattr(step, "transform")]
        embedding_digest = digest(np.concatenate([e.ravel() for e in embeddings])) if embeddings else "-"
        print(f"{name:24s} embeddings {embedding_digest}  scores {digest(anomaly_score)}", flush=True)


if __name__ == "__main__":
    main()
