"""skasd's import rule: modules import only from their own layer or a lower one, without cycles,
and no module imports another module's private (underscore) names.

The layers, lowest first (docs/index.md, "Architecture"):

0. ``utils``; ``datasets``, ``features``, ``metrics`` (which may import ``utils``)
1. ``scoring``
2. ``embedding``
3. ``pseudo_labels``, ``ensemble``
4. ``pipelines``, ``_config``, ``plotting``, ``persistence``, ``export``
5. ``cli`` (a package), ``__main__``; and ``skasd/__init__.py``, which exports everything

The imports are read from the source with ``ast``, including imports inside
functions, so a lazy import cannot hide a back-edge.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "skasd"

LAYERS = {
    "_version": 0,
    "utils": 0,
    # all_estimators lists what skasd/__init__ exports, as sklearn.utils.discovery does.
    "utils.discovery": 6,
    "datasets": 0.5,
    "features": 0.5,
    "metrics": 0.5,
    "scoring": 1,
    "embedding": 2,
    "pseudo_labels": 3,
    "ensemble": 3,
    "pipelines": 4,
    "_config": 4,
    "plotting": 4,
    "persistence": 4,
    "export": 4,
    "cli": 5,
    "__main__": 5,
    "__init__": 6,
}


def _module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts)


def _modules():
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _resolve(importer, node, modules):
    """The skasd modules (and the names taken from each) an import statement reads."""
    if isinstance(node, ast.Import):
        return [(alias.name, None) for alias in node.names if alias.name.split(".")[0] == "skasd"]
    if node.level:
        # The importer's package: skasd.a.b -> skasd.a; skasd.a.__init__ -> skasd.a.
        base = importer.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target.split(".")[0] != "skasd":
        return []
    found = []
    for alias in node.names:
        submodule = f"{target}.{alias.name}"
        if submodule in modules or f"{submodule}.__init__" in modules:
            found.append((submodule, None))
        else:
            found.append((target, alias.name))
    return found


def _normalise(name, modules):
    return name if name in modules else f"{name}.__init__"


def _imports():
    """{importer: [(imported module, name or None, line)]} over every module of skasd."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        edges = []
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target, imported in _resolve(name, node, modules):
                    edges.append((_normalise(target, modules), imported, node.lineno))
        graph[name] = edges
    return graph


def _layer(module):
    """The layer of the longest prefix of ``module`` (without ``skasd.``) that LAYERS names."""
    parts = [part for part in module.split(".")[1:] if part != "__init__"] or ["__init__"]
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in LAYERS:
            return LAYERS[".".join(parts[:end])]
    raise KeyError(module)


def _top(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_module_is_in_a_layer():
    unknown = sorted({_top(name) for name in _modules()} - set(LAYERS))
    assert not unknown, f"modules of skasd in no layer of tests/test_layers.py: {unknown}"


def test_no_module_imports_from_a_higher_layer():
    back_edges = [
        f"{importer} (line {line}) imports {target}"
        for importer, edges in _imports().items()
        for target, _, line in edges
        if _layer(target) > _layer(importer) and not importer.endswith("__init__")
    ]
    # A package's __init__ re-exports its own modules only; skasd/__init__ is the top.
    assert not back_edges, "imports from a higher layer:\n" + "\n".join(back_edges)


def test_no_import_cycle_between_modules():
    graph = {name: {target for target, _, _ in edges if target != name} for name, edges in _imports().items()}
    # A package's __init__ importing its own modules is how it exports them; the
    # modules must not then import from their package's __init__.
    colour, cycles = {}, []

    def visit(node, path):
        colour[node] = "grey"
        for target in sorted(graph.get(node, ())):
            if colour.get(target) == "grey":
                cycles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in colour:
                visit(target, path + [target])
        colour[node] = "black"

    for name in sorted(graph):
        if name not in colour:
            visit(name, [name])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_module_imports_another_modules_private_names():
    crossing = [
        f"{importer} (line {line}) imports {imported} from {target}"
        for importer, edges in _imports().items()
        for target, imported, line in edges
        if imported is not None and imported.startswith("_") and not imported.startswith("__")
        and target != importer
    ]
    assert not crossing, "private names used across modules (move them to a named internal module):\n" + \
        "\n".join(crossing)


@pytest.mark.parametrize("rule", [test_no_module_imports_from_a_higher_layer, test_no_import_cycle_between_modules])
def test_the_rules_catch_a_violation(rule, monkeypatch):
    # A made-up back-edge, scoring -> pipelines, and the cycle it closes with pipelines -> scoring.
    real = _imports()

    def with_back_edge():
        graph = {name: list(edges) for name, edges in real.items()}
        graph["skasd.scoring._base"].append(("skasd.pipelines", "fit_models", 1))
        return graph

    monkeypatch.setitem(globals(), "_imports", with_back_edge)
    with pytest.raises(AssertionError):
        rule()


def test_every_public_subpackage_is_an_attribute_of_skasd():
    import importlib
    import subprocess
    import sys

    import skasd

    for name in ("datasets", "embedding", "ensemble", "features", "metrics", "persistence", "pipelines", "plotting",
                 "pseudo_labels", "scoring", "utils"):
        assert getattr(skasd, name) is importlib.import_module(f"skasd.{name}"), name
        assert name in dir(skasd)
    with pytest.raises(AttributeError, match="module 'skasd' has no attribute 'nope'"):
        skasd.nope  # noqa: B018
    # Loaded on first use only: importing skasd does not import matplotlib through skasd.plotting.
    code = "import sys, skasd; print('skasd.plotting' in sys.modules, 'matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split() == [
        "False", "False"]


def test_test_modules_have_unique_names():
    # The test folders are no packages: pytest imports each file by its name alone, and two files of one name
    # stop the whole run at collection ("import file mismatch").
    from collections import Counter

    tests = Path(__file__).resolve().parent
    names = Counter(path.name for path in tests.rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
