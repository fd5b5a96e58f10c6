"""``skasd export``: saved models as a folder that torch and numpy alone can score."""

from ..persistence import load_models
from ._common import CLIError, printer


def run_export(args):
    """Write the exported-model folder of a model file; returns its path."""
    from ..export import export_models

    say = printer(args.verbose)
    saved = load_models(args.model, trusted=args.trust)
    try:
        out = export_models(saved["models"], args.out, sample_rate=saved["sample_rate"], n_samples=saved["n_samples"])
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    say(f"{len(saved['models'])} model(s) exported to {out}/ (skasd score --model {out} ...)")
    return out
