"""What every command shares: the one-line error, progress printing, the named splits and defaults."""

#: The demo's pipelines: the strong default first, then the two baselines.
DEMO_PIPELINES = ("mean-ensemble", "logmel-density", "logmel-knn")
DEFAULT_PIPELINE = "mean-ensemble"
#: Named splits for folders with a labelled test split only: (n_source, n_target) first normals fitted.
NAMED_SPLITS = {"valve-standard": (30, 5), "first-normals": None}


class CLIError(Exception):
    """Bad input to the command line: printed as one line, exit status 2."""


def printer(verbose):
    """A print function that prints only with ``verbose``."""

    def say(message=""):
        if verbose:
            print(message, flush=True)

    return say
