"""Repeated and bit-reproducible runs: ``skasd evaluate --seeds S ...`` and ``--deterministic``."""

import contextlib
import copy
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..utils._files import replaced_atomically, write_text_atomically
from ._common import CLIError, printer
from ._output import claimed_out


@contextlib.contextmanager
def deterministic_torch():
    """The settings under which a run gives the same bits on a given machine and software stack.

    Floating-point sums depend on the order of their terms, which depends on
    how many threads share them: one thread for torch and for the BLAS,
    torch's deterministic algorithms (an error, not a silent variant, where
    an operation has none), cuDNN without autotuning, and the cuBLAS
    workspace setting that its deterministic mode needs. The previous
    settings are restored afterwards.
    """
    import torch
    from threadpoolctl import threadpool_limits

    previous = (
        torch.get_num_threads(),
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
        os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    )
    os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        threads, algorithms, benchmark, cudnn_deterministic, workspace = previous
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(algorithms)
        torch.backends.cudnn.benchmark = benchmark
        torch.backends.cudnn.deterministic = cudnn_deterministic
        if workspace is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        else:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = workspace


def check_seeds(args):
    """Refuse what a several-seed run cannot do, before any work."""
    if len(set(args.seeds)) != len(args.seeds):
        raise CLIError(f"--seeds lists a seed twice: {' '.join(map(str, args.seeds))}.")
    if args.save:
        raise CLIError("--save keeps the models of one run; with --seeds, rerun the chosen seed with --random-state "
                       "and --save.")


def summarize_seeds(results):
    """Mean and standard deviation over seeds of every value of the score tables, and of the official score.

    Parameters
    ----------
    results : dict
        ``{seed: (table, official)}`` from :func:`run_evaluate`.

    Returns
    -------
    summary : pandas.DataFrame
        One row per machine type and section: ``machine``, ``section``, then
        ``<value>_mean`` and ``<value>_std`` for each value column.
    official : tuple of float
        Mean and standard deviation of the official score.

    The standard deviation is the sample one (``ddof=1``), 0 for one seed.
    """
    tables = [table.assign(seed=seed) for seed, (table, _) in results.items()]
    stacked = pd.concat(tables, ignore_index=True)
    values = [c for c in tables[0].columns if c not in ("machine", "section", "seed")]
    grouped = stacked.groupby(["machine", "section"], sort=False)[values]
    ddof = 1 if len(results) > 1 else 0
    summary = pd.concat([grouped.mean().add_suffix("_mean"), grouped.std(ddof=ddof).add_suffix("_std")], axis=1)
    summary = summary[[f"{v}_{s}" for v in values for s in ("mean", "std")]].reset_index()
    officials = np.array([official for _, official in results.values()])
    return summary, (float(officials.mean()), float(officials.std(ddof=ddof)))


def run_seeds(args, run_evaluate):
    """``skasd evaluate --seeds``: one full run per seed into ``<out>/seed_<s>/``, then their summary."""
    check_seeds(args)
    with claimed_out(args.out, overwrite=args.overwrite):
        return _run_seeds(args, run_evaluate)


def _run_seeds(args, run_evaluate):
    from ._output import markdown

    say = printer(args.verbose)
    out = Path(args.out)
    results = {}
    for seed in args.seeds:
        run_args = copy.copy(args)
        run_args.random_state, run_args.out = seed, str(out / f"seed_{seed}")
        say(f"=== seed {seed} ({len(results) + 1} of {len(args.seeds)}) -> {run_args.out}/")
        result = run_evaluate(run_args)
        if result is None:
            say("The clips are unlabelled: no score tables to summarise over seeds.")
            return None
        results[seed] = result
    summary, (mean, std) = summarize_seeds(results)
    seeds = " ".join(map(str, args.seeds))
    with replaced_atomically(out / "seeds.csv") as partial:
        summary.to_csv(partial, index=False)
    line = f"Official score over seeds {seeds}: {mean:.4f} ± {std:.4f} (mean ± sample standard deviation)"
    per_seed = ", ".join(f"{seed}: {official:.4f}" for seed, (_, official) in results.items())
    write_text_atomically(out / "seeds.md", markdown(summary) + f"\n\n{line}\n\nPer seed: {per_seed}\n")
    print(f"{line}; per seed: {per_seed}", flush=True)
    return summary, (mean, std)
