"""Write docs/api.md, the API reference, from skasd's numpydoc docstrings.

    python tools/generate_api_docs.py           # (re)write docs/api.md
    python tools/generate_api_docs.py --check   # exit 1 if docs/api.md is stale

The reference covers every name in ``skasd.__all__`` and the public names of
the submodules listed in ``MODULES``: per object its signature and its
docstring rendered as markdown (numpydoc sections as bold labels, parameter
lists as bullet lists, examples and literal blocks as fenced code), and for
classes the public methods skasd defines. The output depends only on the
docstrings and signatures, never on the machine, so ``tests/test_docs.py``
regenerates it in memory and compares it with the file.
"""

import argparse
import importlib
import inspect
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
API_MD = ROOT / "docs" / "api.md"

#: The public submodules, in the order of the reference, with a one-line summary each.
MODULES = (
    ("skasd.datasets", "Reading, generating and writing DCASE Task 2 data."),
    ("skasd.metrics", "The DCASE Task 2 metric and scorers for model selection."),
    ("skasd.embedding", "Embedders, the losses they train with, pooling and the triplet helpers."),
    ("skasd.scoring", "Outlier estimators on embeddings, and the helpers for writing new ones."),
    ("skasd.pseudo_labels", "Labels for clips that have none."),
    ("skasd.ensemble", "Weighted fusion of several scorers."),
    ("skasd.plotting", "Figures for judging a detector (needs matplotlib)."),
    ("skasd.pipelines", "The command line's named pipelines and the fitting helpers behind them."),
    ("skasd.persistence", "Fitted models on disk, as the command line saves and scores them."),
    ("skasd.export", "Fitted models exported for inference without the training stack."),
)

#: Public names a module documents as importable from it but leaves out of its ``__all__``.
EXTRA_NAMES = {"skasd.scoring": ("BaseScorer", "geometric_median")}

#: Groups of the top-level names, by the module that defines them.
TOP_LEVEL_GROUPS = (
    ("skasd.features", "Features"),
    ("skasd.embedding", "Embedders"),
    ("skasd.pseudo_labels", "Pseudo-labels"),
    ("skasd.scoring", "Scorers"),
    ("skasd.ensemble", "Ensembles"),
)

PARAMETER_SECTIONS = {
    "Parameters", "Other Parameters", "Attributes", "Returns", "Yields", "Receives", "Raises", "Warns",
}
SECTION_ORDER_HINT = "Parameters Returns Yields Attributes Raises Warns See Also Notes References Examples"
SIGNATURE_WIDTH = 88


# -- rendering reStructuredText (numpydoc flavour) as markdown --------------------------------------------


_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|obj|exc|term|ref|math|doc):`([^`]+)`", re.S)
_LITERAL = re.compile(r"``(.+?)``", re.S)
_CITATION = re.compile(r"\[(\w+)\]_")
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _role(match):
    text = match.group(1)
    titled = re.match(r"^(.*?)\s*<([^>]+)>$", text, re.S)
    if titled:
        return f"`{titled.group(1)}`"
    if text.startswith("~"):
        text = text[1:].rsplit(".", 1)[-1]
    return f"`{text}`"


def _escape_html(text):
    """Escape ``<`` outside code spans, so that GitHub does not read ``<word`` as a tag."""
    parts = re.split(r"(`[^`]*`)", text)
    return "".join(part if part.startswith("`") else part.replace("<", "&lt;") for part in parts)


def inline(text):
    """Inline markup: ``literals``, roles, citations."""
    text = _LITERAL.sub(lambda m: f"`{m.group(1)}`", text)
    text = _ROLE.sub(_role, text)
    text = _CITATION.sub(r"[\1]", text)
    return _escape_html(text)


def _indent_of(line):
    return len(line) - len(line.lstrip(" "))


def _take_block(lines, start, base):
    """Lines from ``start`` indented deeper than ``base`` (blank lines included), dedented; and the next index."""
    end = start
    while end < len(lines) and (not lines[end].strip() or _indent_of(lines[end]) > base):
        end += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    block = lines[start:end]
    depth = min((_indent_of(line) for line in block if line.strip()), default=0)
    return [line[depth:] for line in block], end


def _fence(lines, language):
    return [f"```{language}", *[line.rstrip() for line in lines], "```"]


def _doctest(lines, start):
    """A doctest block from ``start`` to the next blank line: the lines and the next index."""
    end = start
    while end < len(lines) and lines[end].strip():
        end += 1
    return lines[start:end], end


def _append(out, block):
    """Append a fenced block or quote, after a blank line."""
    if out and out[-1].strip():
        out.append("")
    out += block


def body(lines):
    """Convert a block of reStructuredText lines (already dedented) to markdown lines."""
    out = []
    paragraph = []  # consecutive text lines: inline markup may span them

    def flush():
        if paragraph:
            out.extend(inline("\n".join(paragraph)).split("\n"))
            paragraph.clear()

    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        stripped = line.strip()
        indent = _indent_of(line)
        directive = re.match(r"^\.\. (\w+)::\s*(.*)$", stripped)
        if directive:
            flush()
            name, argument = directive.groups()
            block, i = _take_block(lines, i + 1, indent)
            if name == "math":
                _append(out, _fence(([argument] if argument else []) + [b for b in block if b.strip()], "math"))
            else:
                inner = body(_strip_blank(block))
                quote = [f"> **{name.capitalize()}.**" + (f" {inline(argument)}" if argument else ""), ">"]
                _append(out, quote + [f"> {text}".rstrip() for text in inner])
            continue
        if stripped.startswith(">>>"):
            flush()
            block, i = _doctest(lines, i)
            _append(out, _fence([b[indent:] for b in block], "pycon"))
            continue
        if stripped.endswith("::"):
            # A paragraph introducing a literal block.
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            if j < len(lines) and _indent_of(lines[j]) > indent:
                text = stripped[:-2].rstrip()
                if text:
                    paragraph.append(" " * indent + text + ":")
                flush()
                block, i = _take_block(lines, j, indent)
                _append(out, [" " * indent + f for f in _fence(block, "text")])
                continue
        if stripped:
            paragraph.append(line)
        else:
            flush()
            out.append("")
        i += 1
    flush()
    return out


def _split_sections(doc):
    """The preamble lines and ``[(title, lines)]`` of a numpydoc docstring."""
    lines = inspect.cleandoc(doc).splitlines()
    preamble, sections, current = [], [], None
    i = 0
    while i < len(lines):
        if (
            i + 1 < len(lines)
            and lines[i].strip()
            and not lines[i].startswith(" ")
            and re.fullmatch(r"-{3,}", lines[i + 1].strip())
            and len(lines[i + 1].strip()) >= len(lines[i].strip()) - 1
        ):
            current = (lines[i].strip(), [])
            sections.append(current)
            i += 2
            continue
        (preamble if current is None else current[1]).append(lines[i])
        i += 1
    return preamble, sections


def _strip_blank(lines):
    lines = list(lines)
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _entries(lines):
    """``[(header, description lines)]`` of a parameter-like section."""
    entries = []
    for line in lines:
        if line.strip() and _indent_of(line) == 0:
            entries.append((line.strip(), []))
        elif entries:
            entries[-1][1].append(line)
    return [(header, _take_block(description, 0, -1)[0]) for header, description in entries]


def _parameter_section(title, lines):
    out = []
    for header, description in _entries(lines):
        if " : " in header or header.endswith(" :"):
            name, kind = (part.strip() for part in header.split(" :", 1))
        else:
            name, kind = header, ""
        if title in ("Raises", "Warns") or (title in ("Returns", "Yields") and not kind):
            item = f"- `{name}`"
        else:
            item = f"- **{_escape_html(name)}**" + (f" : {inline(kind)}" if kind else "")
        out.append(item)
        text = body(_strip_blank(description))
        if text:
            out.append("")
            out += [f"  {line}".rstrip() for line in text]
        out.append("")
    return out


def _see_also(lines):
    out = []
    for header, description in _entries(lines):
        names, _, summary = header.partition(" : ")
        summary = " ".join([summary, *(line.strip() for line in description)]).strip()
        links = ", ".join(f"`{name.strip()}`" for name in names.split(",") if name.strip())
        out.append(f"- {links}" + (f": {inline(summary)}" if summary else ""))
    return out + [""]


def _references(lines):
    out, current = [], None
    for line in lines:
        match = re.match(r"^\.\. \[(\w+)\]\s*(.*)$", line.strip())
        if match:
            current = [f"[{match.group(1)}]", match.group(2)]
            out.append(current)
        elif current is not None and line.strip():
            current.append(line.strip())
        elif line.strip():
            out.append([line.strip()])
    return [f"- {inline(' '.join(part for part in item if part))}" for item in out] + [""]


def render_docstring(doc):
    """A numpydoc docstring as markdown lines."""
    if not doc:
        return ["*(no docstring)*", ""]
    preamble, sections = _split_sections(doc)
    out = body(_strip_blank(preamble)) + [""]
    for title, lines in sections:
        lines = _strip_blank(lines)
        if not lines:
            continue
        out += [f"**{title}**", ""]
        if title in PARAMETER_SECTIONS:
            out += _parameter_section(title, lines)
        elif title == "See Also":
            out += _see_also(lines)
        elif title == "References":
            out += _references(lines)
        else:
            out += body(lines) + [""]
    return out


# -- signatures ------------------------------------------------------------------------------------------


def _parameters(signature, drop_first):
    params = list(signature.parameters.values())
    if drop_first and params:
        params = params[1:]
    rendered, star_done = [], False
    for index, param in enumerate(params):
        if param.kind is param.VAR_POSITIONAL:
            star_done = True
        if param.kind is param.KEYWORD_ONLY and not star_done:
            rendered.append("*")
            star_done = True
        rendered.append(_ADDRESS.sub("", str(param)))
        following = params[index + 1] if index + 1 < len(params) else None
        if param.kind is param.POSITIONAL_ONLY and (following is None or following.kind is not param.POSITIONAL_ONLY):
            rendered.append("/")
    return rendered


def format_signature(name, obj, *, method=False):
    """``name(params)`` on one line, or one parameter per line when long."""
    try:
        target = obj
        if inspect.isclass(obj):
            signature = inspect.signature(obj)
        else:
            signature = inspect.signature(target)
    except (TypeError, ValueError):
        return name
    params = _parameters(signature, drop_first=method)
    one_line = f"{name}({', '.join(params)})"
    if len(one_line) <= SIGNATURE_WIDTH:
        return one_line
    return "\n".join([f"{name}(", *(f"    {param}," for param in params), ")"])


# -- walking the package ---------------------------------------------------------------------------------


def github_anchor(heading):
    """GitHub's anchor of a markdown heading (without the duplicate suffix)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def _public_methods(cls):
    """``[(name, function, defining class)]`` of the public methods skasd defines for ``cls``."""
    methods = []
    for name in sorted(dir(cls)):
        if name.startswith("_"):
            continue
        for owner in cls.__mro__:
            if name in owner.__dict__:
                break
        else:
            continue
        attr = owner.__dict__[name]
        if isinstance(attr, (staticmethod, classmethod)):
            attr = attr.__func__
        if not inspect.isfunction(attr):
            continue
        if not (getattr(attr, "__module__", "") or "").startswith("skasd") or not owner.__module__.startswith("skasd"):
            continue
        methods.append((name, attr, owner))
    return methods


class Writer:
    def __init__(self, known):
        self.lines = []
        self.documented = {}  # id(object) -> (qualified name, anchor), as written so far
        self.known = known  # the same for the whole reference, from a first pass
        self.anchor_counts = {}

    def heading(self, level, text):
        anchor = github_anchor(text)
        count = self.anchor_counts.get(anchor, 0)
        self.anchor_counts[anchor] = count + 1
        if count:
            anchor = f"{anchor}-{count}"
        self.lines += [f"{'#' * level} {text}", ""]
        return anchor

    def add(self, *lines):
        self.lines += lines

    def document(self, qualified, obj):
        anchor = self.heading(3, f"`{qualified}`")
        self.documented[id(obj)] = (qualified, anchor)
        short = qualified.rsplit(".", 1)[-1]
        if inspect.isclass(obj) or inspect.isfunction(obj):
            prefix = "class " if inspect.isclass(obj) else ""
            self.add(*_fence([prefix + line for line in format_signature(qualified, obj).splitlines()[:1]]
                             + format_signature(qualified, obj).splitlines()[1:], "python"), "")
            self.add(*render_docstring(obj.__doc__))
        else:
            self.add(*_fence([f"{qualified} = {_ADDRESS.sub('', repr(obj))}"], "python"), "")
        if inspect.isclass(obj):
            self._methods(short, obj)

    def _methods(self, short, cls):
        methods = _public_methods(cls)
        if not methods:
            return
        # Methods of a base class documented elsewhere in the reference are linked, not repeated.
        own = [(n, f, o) for n, f, o in methods if id(o) not in self.known or o is cls]
        inherited = {}
        for name, _, owner in methods:
            if id(owner) in self.known and owner is not cls:
                inherited.setdefault(owner, []).append(name)
        self.add("**Methods**", "")
        for name, function, _ in own:
            summary = inspect.cleandoc(function.__doc__ or "").split("\n\n")[0].replace("\n", " ")
            self.add(f"- `{name}`" + (f": {inline(summary)}" if summary else ""))
        for owner, names in inherited.items():
            qualified, anchor = self.known[id(owner)]
            self.add(f"- inherited from [`{qualified}`](#{anchor}): " + ", ".join(f"`{n}`" for n in names))
        self.add("")
        for name, function, _ in own:
            doc = function.__doc__ or ""
            if len(inspect.cleandoc(doc).strip().splitlines()) <= 1:
                continue  # the summary above says it all
            self.heading(4, f"`{short}.{name}`")
            self.add(*_fence(format_signature(name, function, method=True).splitlines(), "python"), "")
            self.add(*render_docstring(doc))


def _module_names(module_name):
    module = importlib.import_module(module_name)
    names = list(getattr(module, "__all__", ()))
    names += [name for name in EXTRA_NAMES.get(module_name, ()) if name not in names]
    return module, names


def generate():
    """The text of docs/api.md."""
    # Two passes: the first finds where every object is documented, so that the
    # second can link a method to the base class that documents it.
    _, documented = _generate({})
    text, _ = _generate(documented)
    return text


def _generate(known):
    import skasd

    writer = Writer(known)
    writer.add(
        "<!-- Generated by tools/generate_api_docs.py from skasd's docstrings: do not edit by hand.",
        "     Regenerate with `.venv/bin/python tools/generate_api_docs.py`; tests/test_docs.py checks it is current. -->",
        "",
    )
    writer.heading(1, "API reference")
    writer.add(
        "Every public estimator, function and constant of skasd, with its signature and docstring. The",
        "estimators are importable from the top level (`from skasd import LocalDensityKNNScorer`); metrics,",
        "loaders and plots from their submodules. The narrative pages ([index](index.md)) explain how the",
        "pieces fit together.",
        "",
    )
    contents_at = len(writer.lines)
    contents = []

    by_group = {title: [] for _, title in TOP_LEVEL_GROUPS}
    for name in skasd.__all__:
        obj = getattr(skasd, name)
        module = obj.__module__
        for prefix, title in TOP_LEVEL_GROUPS:
            if module == prefix or module.startswith(prefix + "."):
                by_group[title].append(name)
                break
        else:
            raise RuntimeError(f"skasd.{name} (defined in {module}) fits no group of TOP_LEVEL_GROUPS")
    for title, names in by_group.items():
        if not names:
            continue
        heading = f"`skasd`: {title.lower()}"
        group_anchor = writer.heading(2, heading)
        contents.append(f"- [{heading}](#{group_anchor}): " + ", ".join(f"`{n}`" for n in sorted(names)))
        for name in sorted(names):
            writer.document(f"skasd.{name}", getattr(skasd, name))

    for module_name, summary in MODULES:
        module, names = _module_names(module_name)
        anchor = writer.heading(2, f"`{module_name}`")
        contents.append(f"- [`{module_name}`](#{anchor}): {summary}")
        writer.add(summary, "")
        again = [name for name in names if id(getattr(module, name)) in writer.documented]
        if again:
            writer.add(
                "Also here: "
                + ", ".join(
                    f"[`{name}`](#{writer.documented[id(getattr(module, name))][1]})" for name in sorted(again)
                )
                + ".",
                "",
            )
        for name in sorted((n for n in names if n not in again), key=lambda n: (not n.isupper(), n.lower())):
            writer.document(f"{module_name}.{name}", getattr(module, name))

    writer.lines[contents_at:contents_at] = ["## Contents", "", *contents, ""]
    text = "\n".join(line.rstrip() for line in writer.lines)
    return re.sub(r"\n{3,}", "\n\n", text).rstrip("\n") + "\n", writer.documented


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/api.md is not up to date")
    parser.add_argument("--output", type=Path, default=API_MD, help="default: %(default)s")
    args = parser.parse_args(argv)
    text = generate()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run python tools/generate_api_docs.py", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
