"""The DCASE 2025 supplemental clips in ``skasd evaluate``: the external pool of a PseudoLabelIterator.

When the data folder has ``<machine>/supplemental/`` folders and the
pipeline has a step whose ``fit`` takes an external pool (``X_external``,
:class:`~skasd.PseudoLabelIterator`), the supplemental clips of the run's
machine types are read at the training clips' rate and length and given to
it, each of class ``<machine type>_<kind>`` (``kind`` being ``machine`` or
``noise``, see :func:`~skasd.datasets.load_dcase_supplemental`).
"""

import inspect
import sys
import warnings


def takes_external_pool(model):
    """Whether a step of ``model`` (a pipeline or one estimator) takes an external pool in ``fit``."""
    steps = [step for _, step in model.steps] if hasattr(model, "steps") else [model]
    return any(hasattr(step, "fit") and "X_external" in inspect.signature(step.fit).parameters for step in steps)


class SupplementalPool:
    """The supplemental clips of a data folder, read once, when the training clips' length is known.

    Parameters
    ----------
    root : str or path-like
        The data folder.
    machine_types : list of str
        The machine types whose supplemental clips are read.
    sample_rate : int
        The rate of the training clips.
    args : argparse.Namespace
        ``n_jobs`` and ``verbose`` of the command.
    """

    def __init__(self, root, machine_types, sample_rate, args):
        self.root = root
        self.machine_types = list(machine_types)
        self.sample_rate = sample_rate
        self.n_jobs = getattr(args, "n_jobs", None)
        self.verbose = getattr(args, "verbose", 0)
        self._read = {}

    def fit_params(self, n_samples, say):
        """``{"X_external": clips, "external_class": classes}`` at ``n_samples`` samples per clip."""
        if n_samples not in self._read:
            from ..datasets import load_dcase_supplemental

            say(f"Reading the supplemental clips of {', '.join(self.machine_types)} as the external pool...")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UserWarning)
                pool = load_dcase_supplemental(
                    self.root, self.machine_types, sample_rate=self.sample_rate,
                    duration=n_samples / self.sample_rate, n_jobs=self.n_jobs, verbose=self.verbose,
                )
            if caught:  # files not read: stderr, also with --quiet; one line, not one per file
                more = f" (and {len(caught) - 1} more)" if len(caught) > 1 else ""
                print(f"skasd: warning: {caught[0].message}{more}", file=sys.stderr, flush=True)
            classes = (pool.frame["machine"] + "_" + pool.frame["kind"]).to_numpy()
            counts = pool.frame.groupby(["machine", "kind"]).size()
            say("  " + ", ".join(f"{machine} ({kind}): {n}" for (machine, kind), n in counts.items()))
            self._read = {n_samples: {"X_external": pool.data, "external_class": classes}}
        return self._read[n_samples]


def supplemental_pool(model, args, sample_rate):
    """The supplemental clips to give ``model``'s external pool, or None (no such step, or no such clips)."""
    from ..datasets._supplemental import supplemental_machine_types

    root = getattr(args, "data", None)
    if root is None or not takes_external_pool(model):
        return None
    machines = supplemental_machine_types(root, getattr(args, "machine_types", None) or None)
    return SupplementalPool(root, machines, sample_rate, args) if machines else None
