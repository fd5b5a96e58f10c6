"""The DCASE 2025 supplemental clips in ``skasd evaluate``: an external pool, and noise for the training clips.

When the data folder has ``<machine>/supplemental/`` folders, the
supplemental clips of the run's machine types are read at the training
clips' rate and length (``kind`` being ``machine`` or ``noise``, from the
file names or ``--supplemental-kind``, see
:func:`~skasd.datasets.load_dcase_supplemental`) and given to the steps
that can use them:

- a step whose ``fit`` takes an external pool (``X_external``,
  :class:`~skasd.PseudoLabelIterator`) gets all of them, each of class
  ``<machine type>_<kind>``;
- a step whose ``fit`` takes ``noise`` (:class:`~skasd.MultiBranchEmbedder`,
  and :class:`~skasd.PseudoLabelIterator`, which hands them to its
  embedder) gets the noise clips, mixed into its training batches.
"""

import inspect
import sys
import warnings


def takes_in_fit(model, name):
    """Whether a step of ``model`` (a pipeline or one estimator) takes the parameter ``name`` in ``fit``."""
    steps = [step for _, step in model.steps] if hasattr(model, "steps") else [model]
    return any(hasattr(step, "fit") and name in inspect.signature(step.fit).parameters for step in steps)


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
        ``n_jobs``, ``verbose`` and ``supplemental_kind`` of the command.
    external, noise : bool
        Whether a step takes the external pool, and noise clips.
    """

    def __init__(self, root, machine_types, sample_rate, args, *, external, noise):
        self.root = root
        self.machine_types = list(machine_types)
        self.sample_rate = sample_rate
        self.n_jobs = getattr(args, "n_jobs", None)
        self.verbose = getattr(args, "verbose", 0)
        self.kind = dict(getattr(args, "supplemental_kind", None) or []) or None
        self.external = external
        self.noise = noise
        self._read = {}

    def fit_params(self, n_samples, say):
        """The fit parameters at ``n_samples`` samples per clip: the external pool, the noise clips, or both."""
        if n_samples not in self._read:
            from ..datasets import load_dcase_supplemental

            uses = " and ".join(u for u, wanted in (("the external pool", self.external),
                                                      ("noise for training", self.noise)) if wanted)
            say(f"Reading the supplemental clips of {', '.join(self.machine_types)} as {uses}...")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UserWarning)
                pool = load_dcase_supplemental(
                    self.root, self.machine_types, kind=self.kind, sample_rate=self.sample_rate,
                    duration=n_samples / self.sample_rate, n_jobs=self.n_jobs, verbose=self.verbose,
                )
            if caught:  # files not read: stderr, also with --quiet; one line, not one per file
                more = f" (and {len(caught) - 1} more)" if len(caught) > 1 else ""
                print(f"skasd: warning: {caught[0].message}{more}", file=sys.stderr, flush=True)
            counts = pool.frame.groupby(["machine", "kind"]).size()
            say("  " + ", ".join(f"{machine} ({kind}): {n}" for (machine, kind), n in counts.items()))
            params = {}
            if self.external:
                params["X_external"] = pool.data
                params["external_class"] = (pool.frame["machine"] + "_" + pool.frame["kind"]).to_numpy()
            is_noise = (pool.frame["kind"] == "noise").to_numpy()
            if self.noise and is_noise.any():
                params["noise"] = pool.data[is_noise]
            self._read = {n_samples: params}
        return self._read[n_samples]


def supplemental_pool(model, args, sample_rate):
    """The supplemental clips for ``model``'s steps, or None (no step takes them, or the folder has none)."""
    from ..datasets._supplemental import supplemental_machine_types

    root = getattr(args, "data", None)
    external, noise = takes_in_fit(model, "X_external"), takes_in_fit(model, "noise")
    if root is None or not (external or noise):
        return None
    machines = supplemental_machine_types(root, getattr(args, "machine_types", None) or None)
    if not machines:
        return None
    return SupplementalPool(root, machines, sample_rate, args, external=external, noise=noise)
