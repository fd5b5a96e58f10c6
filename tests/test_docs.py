"""The docs stay true: the API reference is current, links resolve, estimators are documented, examples run."""

import importlib.util
import re
from pathlib import Path

import pytest
import sklearn

import skasd

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]
RUN_MARKER = "<!-- test_docs: run -->"


def _load_generator():
    spec = importlib.util.spec_from_file_location("generate_api_docs", ROOT / "tools" / "generate_api_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator():
    return _load_generator()


@pytest.fixture(scope="module")
def api_text(generator):
    return generator.generate()


# -- markdown helpers ----------------------------------------------------------------------------------


def _outside_code(text):
    """The lines of a markdown text outside fenced code blocks, as (line number, line)."""
    fence = None
    for number, line in enumerate(text.splitlines(), 1):
        match = re.match(r"^\s*(`{3,}|~{3,})", line)
        if match:
            if fence is None:
                fence = match.group(1)
            elif match.group(1).startswith(fence[0]) and len(match.group(1)) >= len(fence):
                fence = None
            continue
        if fence is None:
            yield number, line


def _anchors(path, github_anchor):
    """GitHub's anchors of a markdown file's headings, duplicates numbered -1, -2, ..."""
    anchors, counts = set(), {}
    for _, line in _outside_code(path.read_text(encoding="utf-8")):
        match = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        anchor = github_anchor(match.group(2))
        count = counts.get(anchor, 0)
        counts[anchor] = count + 1
        anchors.add(anchor if count == 0 else f"{anchor}-{count}")
    return anchors


_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def _links(path):
    for number, line in _outside_code(path.read_text(encoding="utf-8")):
        line = re.sub(r"(`+).*?\1", "", line)  # links inside inline code are not links
        for match in _LINK.finditer(line):
            yield number, match.group(1)


def _marked_blocks(path):
    """The python code blocks preceded by the run marker: [(line number, code)]."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = []
    for i, line in enumerate(lines):
        if line.strip() != RUN_MARKER:
            continue
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        assert j < len(lines) and lines[j].strip() == "```python", (
            f"{path.name}:{i + 1}: the run marker must precede a ```python block"
        )
        end = lines.index("```", j + 1)
        blocks.append((j + 1, "\n".join(lines[j + 1 : end]) + "\n"))
    return blocks


# -- (a) the API reference is current ------------------------------------------------------------------


def test_api_reference_is_current(api_text):
    current = (DOCS / "api.md").read_text(encoding="utf-8")
    assert current == api_text, (
        "docs/api.md is stale: regenerate it with `.venv/bin/python tools/generate_api_docs.py`"
    )


def test_check_mode_detects_a_stale_file(generator, api_text, tmp_path, monkeypatch):
    monkeypatch.setattr(generator, "generate", lambda: api_text)
    output = tmp_path / "api.md"
    output.write_text(api_text, encoding="utf-8")
    assert generator.main(["--check", "--output", str(output)]) == 0
    output.write_text(api_text + "edited by hand\n", encoding="utf-8")
    assert generator.main(["--check", "--output", str(output)]) == 1


def test_generation_is_deterministic(generator, api_text):
    assert generator.generate() == api_text


def test_docstring_rendering(generator):
    doc = '''Score clips.

    Uses ``A(x, y)`` and :class:`~sklearn.neighbors.LocalOutlierFactor`, after [1]_.
    The block::

        a = b

    Parameters
    ----------
    n_neighbors : int, default=1
        Neighbours averaged, ``k <= n``.

    Returns
    -------
    scores : ndarray of shape (n_clips,)

    References
    ----------
    .. [1] K. Author, "A title", 2025.

    Examples
    --------
    >>> 1 + 1
    2
    '''
    text = "\n".join(generator.render_docstring(doc))
    assert "Uses `A(x, y)` and `LocalOutlierFactor`, after [1]." in text
    assert "The block:\n\n```text\na = b\n```" in text
    assert "**Parameters**\n\n- **n_neighbors** : int, default=1\n\n  Neighbours averaged, `k <= n`." in text
    assert "- **scores** : ndarray of shape (n_clips,)" in text
    assert '- [1] K. Author, "A title", 2025.' in text
    assert "**Examples**\n\n```pycon\n>>> 1 + 1\n2\n```" in text


def test_github_anchor(generator):
    assert generator.github_anchor("`skasd.metrics`") == "skasdmetrics"
    assert generator.github_anchor("ConfidentPairSCAN under label noise") == "confidentpairscan-under-label-noise"
    assert generator.github_anchor("Reading a DCASE folder: `load_dcase`") == "reading-a-dcase-folder-load_dcase"
    assert generator.github_anchor("PseudoLabelIterator: pseudo-labels and external data") == (
        "pseudolabeliterator-pseudo-labels-and-external-data"
    )


# -- (b) links resolve ----------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page, generator):
    broken = []
    for number, target in _links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{page.name}:{number}: {target} (no such file)")
            continue
        if anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved, generator.github_anchor):
            broken.append(f"{page.name}:{number}: {target} (no heading with anchor #{anchor})")
    assert not broken, "broken links:\n" + "\n".join(broken)


# -- (c) every public estimator is documented -----------------------------------------------------------


def test_every_estimator_is_in_the_reference_and_on_a_page(api_text):
    pages = {page.name: page.read_text(encoding="utf-8") for page in DOCS.glob("*.md") if page.name != "api.md"}
    missing_reference = [name for name in skasd.__all__ if f"### `skasd.{name}`" not in api_text]
    assert not missing_reference, f"not in docs/api.md: {missing_reference}"
    unmentioned = [
        name for name in skasd.__all__
        if not any(re.search(rf"\b{name}\b", text) for text in pages.values())
    ]
    assert not unmentioned, f"on no docs page besides api.md: {unmentioned}"


def test_index_links_the_new_pages():
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for page in ("getting_started.md", "data_and_metric.md", "model_selection.md", "api.md", "benchmarks.md"):
        assert f"]({page})" in index, page


# -- (d) the examples in the docs run -------------------------------------------------------------------


MARKED = [(page, line, code) for page in PAGES for line, code in _marked_blocks(page)]


def test_getting_started_has_a_runnable_pipeline_example():
    blocks = [code for page, _, code in MARKED if page.name == "getting_started.md"]
    assert blocks and "make_pipeline(" in blocks[0]
    statements = [line for line in blocks[0].splitlines()
                  if line.strip() and not line.startswith((" ", "from ", "import "))]
    assert len(statements) == 5, statements  # the "five-line" example stays five lines


@pytest.mark.parametrize(
    "page, line, code", MARKED, ids=[f"{page.name}:{line}" for page, line, _ in MARKED]
)
def test_marked_example_runs(page, line, code, capsys):
    namespace = {"__name__": f"docs_{page.stem}_{line}"}
    with sklearn.config_context():  # restores any configuration the example changes
        exec(compile(code, f"{page.name}:{line}", "exec"), namespace)
    printed = capsys.readouterr().out
    assert printed.strip(), "the example prints its result"
    if page.name == "getting_started.md":
        assert 0.5 < namespace["score"] <= 1.0
        # The page quotes the score: keep it what the example gives.
        assert f"about {namespace['score']:.2f}" in " ".join(page.read_text().split())
        assert list(namespace["table"]["machine"]) == ["fan"]
    if page.name == "model_selection.md" and "cross_validate" in code:
        # The page quotes this output: keep the quoted numbers what the example prints.
        text = page.read_text()
        best, held_out = printed.strip().splitlines()
        assert best == "{'density_neighbors': 1, 'normalization': 'ratio'} 0.884"
        official, auc_target = held_out.split()
        assert f"{best.split()[-1]} on the development clips, and {official} (target AUC {auc_target})" in " ".join(
            text.split()
        )
