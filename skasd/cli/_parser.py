"""The command line's arguments."""

import argparse
import math

from ._common import DEFAULT_PIPELINE, DEMO_PIPELINES, NAMED_SPLITS


def _seconds(text):
    """A positive, finite number of seconds (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive, finite number of seconds, got {text!r}")
    return value


def _supplemental_kind(text):
    """``MACHINE=KIND`` with KIND ``machine`` or ``noise`` (argparse type)."""
    machine, sep, kind = text.partition("=")
    if not sep or not machine or kind not in ("machine", "noise"):
        raise argparse.ArgumentTypeError(f"expected MACHINE=machine or MACHINE=noise, got {text!r}")
    return machine, kind


def _generated_classes(text):
    """``auto`` or a number of clips, 0 or more (argparse type)."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number of clips, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 'auto' or a number of clips, 0 or more, got {text!r}")
    return value


def build_parser():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quiet", action="store_true", help="print results only, no progress")
    common.add_argument("--traceback", action="store_true", help="show the traceback of errors (for bug reports)")
    work = argparse.ArgumentParser(add_help=False)
    work.add_argument("--random-state", type=int, default=0, metavar="SEED", help="seed of the models (default: %(default)s)")
    work.add_argument("--n-jobs", type=int, default=None, metavar="N", help="parallel jobs for reading audio and features")
    work.add_argument("--no-plots", action="store_true", help="write no plots")

    parser = argparse.ArgumentParser(
        prog="skasd", description="Anomalous sound detection for machine condition monitoring.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", parents=[common, work],
        help="generate a DCASE-like data set, fit a strong pipeline and two baselines, print the score table",
        description="Generate a DCASE-like data set, fit a strong default pipeline and two baselines per machine "
        "type, print the official score table and write submission files, score tables and plots.",
    )
    demo.add_argument("--out", default="skasd_demo_output", metavar="DIR", help="output folder (default: %(default)s)")
    demo.add_argument("--quick", action="store_true", help="a small data set (2 machine types, 1 s clips): seconds")
    demo.add_argument("--pipelines", nargs="+", default=list(DEMO_PIPELINES), metavar="NAME",
                      help="named pipelines to compare (default: %(default)s)")

    evaluate = commands.add_parser(
        "evaluate", parents=[common, work],
        help="fit on a DCASE folder's training clips, score its test clips, write submission files and scores",
        description="Fit one model per machine type and section on the train split of a DCASE-layout folder "
        "(2020-2025), score the test split, write the challenge's submission CSVs, the score table (labelled "
        "clips) and plots.",
    )
    evaluate.add_argument("--data", required=True, metavar="DIR", help="folder in the DCASE layout: <machine>/<train|test>/<files>")
    evaluate.add_argument("--machine-types", nargs="+", default=None, metavar="MACHINE",
                          help="machine types (folder names) to use; default: all")
    evaluate.add_argument("--pipeline", default=DEFAULT_PIPELINE, metavar="NAME|FILE",
                          help="a named pipeline (skasd pipelines) or a .toml/.yaml configuration file "
                          "(default: %(default)s)")
    evaluate.add_argument("--out", default="skasd_output", metavar="DIR", help="output folder (default: %(default)s)")
    chooser = evaluate.add_mutually_exclusive_group()
    chooser.add_argument("--split", choices=sorted(NAMED_SPLITS),
                         help="fit on the first normal clips of the test split instead of a train split: "
                         "valve-standard (source index < 30, target index < 5) or first-normals "
                         "(--n-source, --n-target); evaluate the rest")
    chooser.add_argument("--split-file", metavar="FILE",
                         help="fit on the clips this file lists (one per line, relative to --data or bare file "
                         "names), evaluate the other test clips")
    evaluate.add_argument("--n-source", type=int, default=30, metavar="N", help="with --split first-normals (default: 30)")
    evaluate.add_argument("--n-target", type=int, default=5, metavar="N", help="with --split first-normals (default: 5)")
    evaluate.add_argument("--sample-rate", type=int, default=None, metavar="HZ", help="resample clips to this rate (Hz)")
    evaluate.add_argument("--duration", type=_seconds, default=None, metavar="SECONDS",
                          help="pad or crop clips to this many seconds (default: the longest of the machine "
                          "types' most common lengths)")
    evaluate.add_argument("--supplemental-kind", type=_supplemental_kind, nargs="+", default=[],
                          metavar="MACHINE=KIND",
                          help="what a machine type's DCASE 2025 supplemental/ clips hold, 'machine' (clean machine "
                          "sound) or 'noise' (background alone), where their file names do not say it: noise clips "
                          "are mixed into the training clips of the embedders that take noise")
    evaluate.add_argument("--generated-classes", type=_generated_classes, default="auto", metavar="N",
                          help="generated clips of each of four further machine types (generated_fan, _pump, "
                          "_gearbox, _bearing) that join the training of a shared embedding that learns classes "
                          "(multibranch-kmeans, pseudo-label-iterator, ward-dap); they are not scored. 'auto' "
                          "(default): 30 where that embedding would see one machine type, else none; 0: never")
    evaluate.add_argument("--ground-truth", default=None, metavar="FILE",
                          help="the organisers' evaluation data list of the year: gives an evaluation set's test "
                          "clips their domain, label and attributes, so that it is scored")
    evaluate.add_argument("--definition", default="2023", choices=["2020", "2021", "2022", "2023", "2024", "2025"],
                          help="the DCASE year whose metric to report (default: %(default)s)")
    evaluate.add_argument("--threshold", default=None, choices=["percentile", "gamma"],
                          help="how the scorers set the decision threshold from the training clips' scores: their "
                               "90th percentile, or the 0.9 quantile of a fitted gamma distribution as the DCASE "
                               "baselines (default: the pipeline's own, 'percentile')")
    evaluate.add_argument("--device", default=None, metavar="DEVICE", help="torch device of the embedders (default: their own, 'auto')")
    evaluate.add_argument("--save", metavar="FILE", help="save the fitted models to FILE (for skasd score)")
    evaluate.add_argument("--overwrite", action="store_true",
                          help="replace the results of a former run in --out (refused otherwise)")
    evaluate.add_argument("--seeds", type=int, nargs="+", default=None, metavar="SEED",
                          help="one whole run per seed (instead of --random-state) into <out>/seed_<SEED>/, then "
                          "the mean and standard deviation of every score over the seeds (seeds.csv, seeds.md)")
    evaluate.add_argument("--deterministic", action="store_true",
                          help="bit-reproducible runs: one thread for torch and the BLAS, torch's deterministic "
                          "algorithms, features in this process (slower)")

    score = commands.add_parser(
        "score", parents=[common],
        help="score audio files with saved models: file, anomaly score, decision (1 anomalous) per line",
        description="Score audio files (or folders of them) with models saved by skasd evaluate --save; print "
        "'file<TAB>anomaly score<TAB>decision' per file, decision 1 for anomalous.",
    )
    score.add_argument("--model", required=True, metavar="FILE|DIR",
                       help="model file written by skasd evaluate --save, or a folder written by skasd export")
    score.add_argument("--trust", action="store_true",
                       help="load a model file this user did not save (it is unpickled: it can run code)")
    score.add_argument("--machine", default=None, help="machine type of the files (default: their <machine>/ folder)")
    score.add_argument("--section", default=None, help="section of the files (default: from DCASE file names)")
    score.add_argument("files", nargs="+", help="audio files or folders")

    export = commands.add_parser(
        "export", parents=[common],
        help="write saved models as a folder that torch and numpy alone score (skasd score --model FOLDER)",
        description="Export the models of a file written by skasd evaluate --save: the embedding step (features, "
        "or a trained network in evaluation mode; the autoencoder's log-mel windows and network) as TorchScript "
        "and the scorer's arrays in .npz (an ensemble's: each member's, and the fusion's means, scales and "
        "weights), per machine type and section, for monitoring without the training stack. Supported: every "
        "preset, and a TorchModuleEmbedder (docs/cli.md, skasd export).",
    )
    export.add_argument("--model", required=True, metavar="FILE", help="model file written by skasd evaluate --save")
    export.add_argument("--trust", action="store_true",
                        help="load a model file this user did not save (it is unpickled: it can run code)")
    export.add_argument("--out", required=True, metavar="DIR", help="the folder to write")

    monitor = commands.add_parser(
        "monitor", parents=[common],
        help="score the clips that appear in a folder, as they appear: file, score, decision, alarm per line",
        description="Watch a folder (polling) and score each new audio clip with models saved by skasd evaluate "
        "--save; print 'file<TAB>anomaly score<TAB>decision<TAB>alarm' per clip, where the alarm is raised "
        "when --min-anomalous of the last --window clips of a machine type and section were anomalous.",
    )
    monitor.add_argument("folder", help="the folder new clips are written into (searched recursively)")
    monitor.add_argument("--model", required=True, metavar="FILE|DIR",
                         help="model file written by skasd evaluate --save, or a folder written by skasd export")
    monitor.add_argument("--trust", action="store_true",
                         help="load a model file this user did not save (it is unpickled: it can run code)")
    monitor.add_argument("--machine", default=None, help="machine type of the clips (default: their <machine>/ folder)")
    monitor.add_argument("--section", default=None, help="section of the clips (default: from DCASE file names)")
    monitor.add_argument("--interval", type=float, default=2.0, metavar="SECONDS",
                         help="seconds between looks at the folder (default: %(default)s)")
    monitor.add_argument("--window", type=int, default=1, metavar="N",
                         help="the alarm looks at the last N clips of each machine type and section (default: 1)")
    monitor.add_argument("--min-anomalous", type=int, default=1, metavar="K",
                         help="... and is raised when K of them were anomalous (default: 1)")
    monitor.add_argument("--include-existing", action="store_true",
                         help="also score the clips already in the folder when monitoring starts")
    monitor.add_argument("--max-clips", type=int, default=None, metavar="N", help="stop after N clips")

    fetch = commands.add_parser(
        "fetch", parents=[common],
        help="download a DCASE Task 2 data set (2020-2025) into the layout skasd evaluate reads; print its folder",
        description="Download a year's development set (--split dev) or its additional training and evaluation "
        "test data (--split eval) from Zenodo or a mirror, check and extract them, and print the folder to pass "
        "to skasd evaluate --data. A second run downloads nothing.",
    )
    fetch.add_argument("year", type=int, help="2020 to 2025")
    fetch.add_argument("--split", default="dev", choices=["dev", "eval"], help="(default: %(default)s)")
    fetch.add_argument("--machine-types", nargs="+", default=None, metavar="MACHINE",
                       help="machine types to fetch; default: all of the split")
    fetch.add_argument("--data-home", default=None, metavar="DIR",
                       help="where data sets are kept (default: $SKASD_DATA, else ~/skasd_data)")
    fetch.add_argument("--base-url", default=None, metavar="URL",
                       help="a mirror serving the archives under their file names, instead of Zenodo")
    fetch.add_argument("--keep-archives", action="store_true", help="keep the archives after extracting them")

    package = commands.add_parser(
        "package", parents=[common],
        help="write the DCASE Task 2 submission package from skasd evaluate runs (up to 4 systems), and check it",
        description="Copy the submission files of up to 4 runs of skasd evaluate into the Task 2 package layout "
        "(task2/<label>_<n>/), write each system's <label>_<n>.meta.yaml with what the run knows and TODO marks "
        "for the rest, then check the package; --check DIR only checks one. Problems are listed one per line; "
        "exit status 2 when there are any.",
    )
    package.add_argument("--label", metavar="LASTNAME_INSTITUTE_task2",
                         help="the submission label without the system index, e.g. Smith_ACME_task2")
    package.add_argument("--system", action="append", metavar="RUN_DIR",
                         help="an output folder of skasd evaluate on the evaluation set; once per system, in order")
    package.add_argument("--pipeline", action="append", metavar="NAME|FILE",
                         help="each system's pipeline, once per --system in order (default: from a model file "
                         "saved with --save in RUN_DIR)")
    package.add_argument("--dev", action="append", metavar="RUN_DIR",
                         help="each system's run on the development set, once per --system in order: its scores.csv "
                         "fills the meta file's development results")
    package.add_argument("--data", metavar="EVAL_DIR",
                         help="the evaluation set: check each file's rows against its test clips; gives the "
                         "sampling rate")
    package.add_argument("--out", default="skasd_package", metavar="DIR", help="package folder (default: %(default)s)")
    package.add_argument("--year", type=int, default=2025, choices=[2022, 2023, 2024, 2025],
                         help="the challenge year whose layout and template to follow (default: %(default)s)")
    package.add_argument("--overwrite", action="store_true", help="replace the systems' folders of an existing package")
    package.add_argument("--check", metavar="DIR", help="only check the package in DIR")

    listing = commands.add_parser(
        "pipelines", parents=[common], help="list the named pipelines; --show NAME prints one as TOML",
        description="List the named pipelines with one-line descriptions.",
    )
    listing.add_argument("--show", metavar="NAME", help="print this pipeline's configuration as TOML")
    return parser
