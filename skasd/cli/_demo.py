"""``skasd demo``: a generated DCASE-like data set, a strong pipeline and two baselines."""

import argparse
import time

import pandas as pd

from ._common import DEMO_PIPELINES, printer
from ._output import (
    format_summary,
    format_table,
    markdown,
    prepare_out,
    write_run,
)
from ._pipelines import factory, fit_and_score

QUICK_DATA = dict(
    machine_types=("fan", "gearbox"), n_source_train=30, n_target_train=5, n_test_normal=10, n_test_anomalous=10,
    duration=1.0,
)


def run_demo(out_dir, random_state=0, n_jobs=None, verbose=1, *, quick=False, pipelines=DEMO_PIPELINES, plots=True):
    """Generate a DCASE-like data set, fit each pipeline per machine type, score, write and print the results.

    Returns ``(table, officials)``: the score tables of all pipelines in one
    frame (a ``pipeline`` column first) and ``{pipeline: official score}``.
    Writes, under ``out_dir``, ``scores.csv`` and ``scores.md`` (all
    pipelines) and per pipeline a folder with the challenge's submission
    files, its own score table and plots.
    """
    from ..datasets import make_machine_sounds
    from ..pipelines import preset_config

    say = printer(verbose)
    configs = {name: preset_config(name) for name in pipelines}
    out_dir = prepare_out(out_dir)
    started = time.perf_counter()
    say("Generating a DCASE-like data set (make_machine_sounds)" + (", quick sizes" if quick else "") + "...")
    data = make_machine_sounds(**(QUICK_DATA if quick else {}), random_state=random_state, n_jobs=n_jobs,
                               verbose=verbose)
    frame = data.frame
    counts = frame.groupby(["split", "domain"]).size().to_dict()
    say(
        f"  {len(frame)} clips of {data.data.shape[1] / data.sample_rate:g} s, "
        f"machine types {sorted(frame['machine'].unique())}; "
        + ", ".join(f"{split}/{domain}: {n}" for (split, domain), n in sorted(counts.items()))
        + f" ({time.perf_counter() - started:.0f} s)"
    )
    fit = (frame["split"] == "train").to_numpy()
    test = ~fit
    args = argparse.Namespace(random_state=random_state, n_jobs=n_jobs, device=None)
    tables, officials = [], {}
    for name in pipelines:
        role = {DEMO_PIPELINES[0]: " (strong default)"}.get(name, " (baseline)" if name in DEMO_PIPELINES else "")
        say("")
        say(f"== {name}{role}: {configs[name]['description']}")
        pipeline_started = time.perf_counter()
        make = factory(configs[name], f"preset {name!r}", data.sample_rate, args, verbose)
        _, anomaly_score, decision, embeddings, thresholds = fit_and_score(
            make, configs[name], data.data[fit], frame[fit], data.data[test], frame[test], say,
        )
        table, official = write_run(
            out_dir / name, frame[test].reset_index(drop=True), anomaly_score, decision, thresholds, embeddings,
            definition="2023", plots=plots, say=say,
        )
        say(f"  {name}: official score {official:.4f} ({time.perf_counter() - pipeline_started:.0f} s)")
        tables.append(table.assign(pipeline=name)[["pipeline", *table.columns]])
        officials[name] = official
    table = pd.concat(tables, ignore_index=True)
    table.to_csv(out_dir / "scores.csv", index=False)
    summary = pd.DataFrame({"pipeline": list(officials), "official score": list(officials.values())})
    (out_dir / "scores.md").write_text(
        "# skasd demo: official DCASE 2023 scores on generated data\n\n"
        + markdown(table) + "\n\n" + markdown(summary) + "\n"
    )
    say("")
    for name in pipelines:
        say(f"--- {name}")
        say(format_table(table[table["pipeline"] == name].drop(columns="pipeline"), officials[name]))
    say("")
    say(format_summary(officials))
    say("")
    elapsed = time.perf_counter() - started
    say(f"Score tables, submission files and plots written to {out_dir}/ ({elapsed:.0f} s in all).")
    return table, officials
