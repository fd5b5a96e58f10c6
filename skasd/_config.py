"""Pipelines as configuration: TOML (or YAML) files that map 1:1 onto the Python API.

A configuration is a table (a dict, once parsed)::

    description = "log-mel statistics + local-density k-NN"   # optional
    y = "machine"                # optional: the metadata column given to fit as y
    shared_embedding = "none"    # optional: "none", "machine" or "all"

    [[steps]]
    estimator = "LogMelStatistics"      # a name from skasd.__all__
    [steps.params]
    n_mels = 128

    [[steps]]
    estimator = "LocalDensityKNNScorer"

Each step is ``estimator(**params)``; the steps make a
:class:`sklearn.pipeline.Pipeline`. A parameter value that is itself a table
with an ``estimator`` key is built the same way (``embedder`` of
:class:`~skasd.PseudoLabelIterator`), one with a ``steps`` key is a
pipeline, and a list of tables with a ``name`` key is a list of
``(name, estimator)`` pairs (the members of :class:`~skasd.ACPEnsemble`).
TOML has no null: the string ``"None"`` stands for Python's None; arrays
become tuples where the parameter's default is a tuple.

This module only parses, checks, builds and writes configurations; the
presets and the fitting with metadata live in :mod:`skasd.pipelines`.
"""

import importlib
import inspect
import json
import math
from pathlib import Path

from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

#: Top-level keys of a configuration.
CONFIG_KEYS = ("description", "y", "shared_embedding", "steps")
#: Keys of one step (or of a nested estimator table).
STEP_KEYS = ("estimator", "name", "params")
#: Values of ``shared_embedding``.
SHARED_EMBEDDING = ("none", "machine", "all")
#: Frame columns that a configuration may name as ``y``.
Y_COLUMNS = ("aux_label", "machine", "section", "domain", "attributes")
#: Modules whose classes a configuration may name with a dotted path.
DOTTED_PREFIXES = ("sklearn.", "skasd.")
#: Stands for None in TOML, which has no null.
NONE_STRING = "None"


class ConfigError(ValueError):
    """A configuration that does not describe a valid skasd pipeline."""


def estimator_names():
    """``{name: class}`` of the estimators a configuration may name without a dotted path.

    Every estimator the subpackages export (those of ``skasd``'s top level,
    and ``WardDAPEmbedder``).
    """
    from . import embedding, ensemble, features, pseudo_labels, scoring

    return dict(sorted(
        (name, obj)
        for module in (features, scoring, embedding, pseudo_labels, ensemble)
        for name, obj in ((name, getattr(module, name)) for name in module.__all__)
        if inspect.isclass(obj) and issubclass(obj, BaseEstimator)
    ))


def _resolve(name, where):
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: 'estimator' must be a class name such as 'LogMelStatistics'; got {name!r}.")
    registry = estimator_names()
    if name in registry:
        return registry[name]
    if "." in name and name.startswith(DOTTED_PREFIXES):
        module_name, _, class_name = name.rpartition(".")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):
            cls = None
        if inspect.isclass(cls) and issubclass(cls, BaseEstimator):
            return cls
        raise ConfigError(f"{where}: {name!r} is not a scikit-learn estimator class.")
    raise ConfigError(
        f"{where}: unknown estimator {name!r}; valid estimators: {', '.join(registry)} "
        "(or a dotted scikit-learn class such as 'sklearn.preprocessing.StandardScaler')."
    )


def _parameter_defaults(cls):
    """``{name: default}`` of the constructor's parameters (``inspect.Parameter.empty`` if none)."""
    signature = inspect.signature(cls.__init__)
    return {
        name: parameter.default
        for name, parameter in signature.parameters.items()
        if name != "self" and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
    }


def _is_estimator_table(value):
    return isinstance(value, dict) and ("estimator" in value or "steps" in value)


def _is_named_list(value):
    return isinstance(value, list) and len(value) > 0 and all(isinstance(v, dict) and "name" in v for v in value)


def _value(value, default, where, context):
    """A parameter value from its configuration form."""
    if value == NONE_STRING:
        return None
    if _is_estimator_table(value):
        return _build(value, where, context)
    if _is_named_list(value):
        members = []
        for position, member in enumerate(value):
            member_where = f"{where}[{position}]"
            name = member["name"]
            if not isinstance(name, str) or not name:
                raise ConfigError(f"{member_where}: 'name' must be a non-empty string; got {name!r}.")
            body = {key: item for key, item in member.items() if key != "name"}
            if not _is_estimator_table(body):
                raise ConfigError(f"{member_where}: a member needs 'estimator' (with 'params') or 'steps'.")
            members.append((name, _build(body, member_where, context)))
        return members
    if isinstance(value, list):
        converted = [_value(item, None, f"{where}[{i}]", context) for i, item in enumerate(value)]
        return tuple(converted) if isinstance(default, tuple) else converted
    if isinstance(value, dict):
        return {key: _value(item, None, f"{where}.{key}", context) for key, item in value.items()}
    return value


def _build(spec, where, context):
    """An estimator (or a pipeline) from one table."""
    if "steps" in spec:
        return build_pipeline(spec, where=where, context=context, top_level=False)
    unknown = sorted(set(spec) - set(STEP_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; a step has {', '.join(STEP_KEYS)}.")
    cls = _resolve(spec.get("estimator"), where)
    params = spec.get("params", {})
    if not isinstance(params, dict):
        raise ConfigError(f"{where}: 'params' must be a table of parameter values; got {params!r}.")
    defaults = _parameter_defaults(cls)
    for name in params:
        if name not in defaults:
            raise ConfigError(
                f"unknown parameter {name!r} for {cls.__name__} ({where}); valid parameters: "
                f"{', '.join(sorted(defaults))}."
            )
    kwargs = {name: _value(value, defaults[name], f"{where}.params.{name}", context) for name, value in params.items()}
    # What the data and the command line decide (sample rate, seeds, jobs,
    # device, verbosity), where the configuration does not say.
    for name, value in context.items():
        if name not in defaults:
            continue
        if callable(value):  # a value per class: None leaves the estimator's default
            value = value(cls)
            if value is None:
                continue
        if name == "sample_rate" and name in kwargs and kwargs[name] != value:
            raise ConfigError(
                f"{where}: {cls.__name__} has sample_rate={kwargs[name]!r} but the clips are at {value} Hz; "
                f"remove the parameter, or resample the clips to {kwargs[name]} Hz (--sample-rate {kwargs[name]})."
            )
        if name not in kwargs and (name != "random_state" or defaults[name] is None):
            kwargs[name] = value
    required = [name for name, default in defaults.items() if default is inspect.Parameter.empty and name not in kwargs]
    if required:
        raise ConfigError(f"{where}: {cls.__name__} needs the parameter(s) {', '.join(required)}.")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where}: cannot build {cls.__name__}: {exc}") from exc


def check_config(config, where="config"):
    """Check the top-level keys of a configuration; return it."""
    if not isinstance(config, dict):
        raise ConfigError(f"{where}: a configuration is a table with a 'steps' array; got {type(config).__name__}.")
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys: {', '.join(CONFIG_KEYS)}.")
    steps = config.get("steps")
    if not isinstance(steps, list) or not steps or not all(isinstance(step, dict) for step in steps):
        raise ConfigError(f"{where}: 'steps' must be a non-empty array of tables ([[steps]] in TOML).")
    if config.get("shared_embedding", "none") not in SHARED_EMBEDDING:
        raise ConfigError(
            f"{where}: shared_embedding must be one of {', '.join(SHARED_EMBEDDING)}; "
            f"got {config['shared_embedding']!r}."
        )
    if config.get("y") is not None and config["y"] not in Y_COLUMNS:
        raise ConfigError(f"{where}: y must be one of {', '.join(Y_COLUMNS)} (a metadata column); got {config['y']!r}.")
    if config.get("shared_embedding", "none") != "none" and len(steps) < 2:
        raise ConfigError(
            f"{where}: shared_embedding={config['shared_embedding']!r} shares the steps before the last "
            "(the scorer), but there is only one step."
        )
    return config


def build_pipeline(config, *, where="config", context=None, top_level=True):
    """A :class:`~sklearn.pipeline.Pipeline` from a configuration.

    Parameters
    ----------
    config : dict
        A parsed configuration (see the module's docstring).
    where : str
        How error messages name the configuration (e.g. its file name).
    context : dict, default=None
        Parameter values set on every estimator that has the parameter and
        whose configuration does not give it: ``sample_rate`` (which must
        agree where given), ``n_jobs``, ``device``, ``verbose``, and
        ``random_state`` (only where its default is None). A value may be a
        callable taking the estimator's class and returning its value, or
        None to leave the estimator's default (the command line shows the
        progress of training estimators only).
    """
    context = dict(context or {})
    if top_level:
        check_config(config, where)
    else:
        unknown = sorted(set(config) - {"steps"})
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {unknown} in a nested pipeline; it has 'steps' only.")
        if not isinstance(config["steps"], list) or not config["steps"]:
            raise ConfigError(f"{where}: 'steps' must be a non-empty array of tables.")
    steps, used = [], {}
    for position, spec in enumerate(config["steps"]):
        step_where = f"{where}: steps[{position}]"
        if not isinstance(spec, dict):
            raise ConfigError(f"{step_where}: a step is a table with 'estimator' and 'params'.")
        estimator = _build(spec, step_where, context)
        name = spec.get("name") or type(estimator).__name__.lower()
        if not isinstance(name, str) or "__" in name:
            raise ConfigError(f"{step_where}: step name {name!r} must be a string without '__'.")
        used[name] = used.get(name, 0) + 1
        if used[name] > 1:
            if spec.get("name"):
                raise ConfigError(f"{step_where}: step name {name!r} is used twice.")
            name = f"{name}-{used[name]}"
        steps.append((name, estimator))
    return Pipeline(steps)


# -- reading and writing files ----------------------------------------------


def _toml_module():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise ConfigError(
                "reading TOML configuration files needs Python >= 3.11 (tomllib) or the tomli package "
                "(pip install tomli)."
            ) from None
    return tomllib


def load_config(path):
    """Read a configuration file: TOML (``.toml``) or YAML (``.yaml``, ``.yml``; needs PyYAML).

    Returns the parsed, checked configuration (a dict).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"configuration file {str(path)!r} does not exist.")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        tomllib = _toml_module()
        try:
            with open(path, "rb") as f:
                config = tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}.") from None
    elif suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ModuleNotFoundError:
            raise ConfigError(
                f"{path}: reading YAML needs PyYAML (pip install pyyaml); or write the file as TOML."
            ) from None
        try:
            config = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {' '.join(str(exc).split())}.") from None
        config = _yaml_nulls(config, budget=[MAX_YAML_NODES], where=str(path))
        if isinstance(config, dict):  # a null at the top level means: not given
            config = {key: value for key, value in config.items() if value != NONE_STRING}
    else:
        raise ConfigError(f"{path}: a configuration file ends in .toml, .yaml or .yml; got {suffix or 'no suffix'!r}.")
    return check_config(config, str(path))


#: Values a YAML configuration may expand to. Aliases (``*name``) share a
#: node in the file, but every use becomes a copy here: nine nested levels of
#: nine aliases are 9**9 values from 600 bytes. A real configuration has tens.
MAX_YAML_NODES = 100_000


def _yaml_nulls(value, *, budget, where):
    """YAML's null means None, as the string "None" does in TOML; at most ``budget[0]`` values in all."""
    budget[0] -= 1
    if budget[0] < 0:
        raise ConfigError(
            f"{where}: the configuration expands to more than {MAX_YAML_NODES} values (nested YAML aliases?); "
            "a pipeline configuration has tens."
        )
    if value is None:
        return NONE_STRING
    if isinstance(value, dict):
        return {key: _yaml_nulls(item, budget=budget, where=where) for key, item in value.items()}
    if isinstance(value, list):
        return [_yaml_nulls(item, budget=budget, where=where) for item in value]
    return value


def _toml_key(key):
    key = str(key)
    if key and all(c.isalnum() or c in "_-" for c in key):
        return key
    return json.dumps(key)


def _toml_scalar(value):
    if value is None:
        return json.dumps(NONE_STRING)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_scalar(item) for item in value) + "]"
    raise ConfigError(f"cannot write {value!r} ({type(value).__name__}) to TOML.")


def _is_table_array(value):
    return isinstance(value, (list, tuple)) and len(value) > 0 and all(isinstance(v, dict) for v in value)


def _dump_table(table, prefix, lines):
    scalars = [(k, v) for k, v in table.items() if not isinstance(v, dict) and not _is_table_array(v)]
    for key, value in scalars:
        lines.append(f"{_toml_key(key)} = {_toml_scalar(value)}")
    for key, value in table.items():
        path = f"{prefix}.{_toml_key(key)}" if prefix else _toml_key(key)
        if isinstance(value, dict):
            # A table of tables only needs no header of its own.
            if not value or any(not isinstance(v, dict) and not _is_table_array(v) for v in value.values()):
                lines += ["", f"[{path}]"]
            _dump_table(value, path, lines)
        elif _is_table_array(value):
            for item in value:
                lines += ["", f"[[{path}]]"]
                _dump_table(item, path, lines)


def dump_toml(config):
    """A configuration as TOML text (the inverse of :func:`load_config` for TOML)."""
    lines = []
    _dump_table(config, "", lines)
    return "\n".join(lines).strip() + "\n"
