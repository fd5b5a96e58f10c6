"""The ``skasd`` command line (also ``python -m skasd``).

Commands:

- ``skasd demo``: generate a DCASE-like data set, fit a strong default
  pipeline and two baselines per machine type, print the official score
  table, write submission files, score tables and plots;
- ``skasd evaluate --data DIR --pipeline NAME|CONFIG --out DIR``: train on
  a DCASE folder's ``train`` split (or a standard split of its ``test``
  split), score the ``test`` split, write the challenge's submission files,
  the score table (when the clips are labelled) and plots; ``--save FILE``
  keeps the fitted models;
- ``skasd score --model FILE files...``: one anomaly score and decision
  per file, from saved models;
- ``skasd export --model FILE --out DIR``: saved models as a folder that
  torch and numpy alone score (``skasd score --model DIR``);
- ``skasd monitor FOLDER --model FILE``: the clips that appear in a folder,
  scored as they appear, with a moving-window alarm (monitoring);
- ``skasd pipelines``: the named pipelines, ``--show NAME`` as TOML;
- ``skasd package --label L --system RUN_DIR ... --out DIR``: the Task 2
  submission package of up to 4 runs, checked (``--check DIR`` only checks);
- ``skasd fetch YEAR [--split dev|eval]``: download a DCASE Task 2 data set
  into the layout ``evaluate`` reads, and print its folder.

Bad input gives one line, ``skasd: error: <message>``, on stderr and exit
status 2 (``--traceback`` shows the traceback instead). Ctrl-C gives
``skasd: interrupted`` and exit status 130, once the run's lock, temporary
files and folders are removed.
"""

import contextlib
import os
import sys
import warnings

import pandas as pd

from ..datasets import fetch_dcase
from ._common import CLIError
from ._demo import run_demo
from ._evaluate import run_evaluate
from ._export import run_export
from ._output import format_summary, format_table
from ._monitor import run_monitor
from ._package import run_package
from ._parser import build_parser
from ._pipelines import run_pipelines
from ._repeat import deterministic_torch, run_seeds
from ._score import run_score


#: The exit status after Ctrl-C: 128 + SIGINT, as shells report an interrupted command.
INTERRUPTED = 130


def run():
    """The ``skasd`` command: :func:`main`, then exit with its status."""
    status = main()
    if status == INTERRUPTED:
        # Worker threads (joblib's, torch's) may still be inside a torch call that Ctrl-C did not stop: a normal
        # interpreter exit would tear down the objects they use under them (glibc heap corruption, or C++
        # "terminate called without an active exception"). The run's files are cleaned up by now: leave at once.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


def main(argv=None):
    """Run the command line; returns the exit status (0, 2 for bad input, 130 after Ctrl-C)."""
    from .._config import ConfigError

    args = build_parser().parse_args(argv)
    args.verbose = 0 if getattr(args, "quiet", False) else 1
    try:
        with pd.option_context("display.width", 120), quiet_warnings(args):
            if args.command == "demo":
                table, officials = run_demo(
                    args.out, random_state=args.random_state, n_jobs=args.n_jobs, verbose=args.verbose,
                    quick=args.quick, pipelines=tuple(args.pipelines), plots=not args.no_plots,
                )
                if not args.verbose:
                    for name, official in officials.items():
                        print(f"--- {name}")
                        print(format_table(table[table["pipeline"] == name].drop(columns="pipeline"), official))
                    print(format_summary(officials))
            elif args.command == "evaluate":
                if args.deterministic:
                    args.n_jobs = 1  # worker processes would choose their own thread counts
                with deterministic_torch() if args.deterministic else contextlib.nullcontext():
                    if args.seeds:
                        run_seeds(args, run_evaluate)
                    else:
                        run_evaluate(args)
            elif args.command == "score":
                run_score(args)
            elif args.command == "export":
                run_export(args)
            elif args.command == "monitor":
                run_monitor(args)
            elif args.command == "package":
                if run_package(args):
                    return 2  # the checker's problems are printed, one per line
            elif args.command == "pipelines":
                run_pipelines(args)
            elif args.command == "fetch":
                try:
                    root = fetch_dcase(
                        args.year, split=args.split, machine_types=args.machine_types, data_home=args.data_home,
                        base_url=args.base_url, keep_archives=args.keep_archives, verbose=args.verbose,
                    )
                except OSError as exc:  # no network, no disk space: the message says what to do
                    raise CLIError(str(exc)) from exc
                print(root)
    except (CLIError, ConfigError, ValueError, OSError) as exc:
        if args.traceback:
            raise
        if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError) and exc.filename is not None:
            # A file skasd could not write or read (permissions, a full disk): which file and why.
            message = f"cannot write or read {str(exc.filename)!r}: {exc.strerror or exc}."
        else:
            message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"skasd: error: {message}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        if args.traceback:
            raise
        # The context managers above have run: the lock, the temporary files and folders are gone.
        print("skasd: interrupted", file=sys.stderr, flush=True)
        return INTERRUPTED
    return 0


@contextlib.contextmanager
def quiet_warnings(args):
    """With --quiet, the library's UserWarnings stay quiet too."""
    with warnings.catch_warnings():
        if not args.verbose:
            warnings.simplefilter("ignore", UserWarning)
        yield
