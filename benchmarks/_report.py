"""Write one benchmark's section of docs/benchmarks.md, leaving the others as they are."""

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
DOC_HEADER = "# Benchmarks\n\nMeasured speed and quality of skasd's steps, side by side with named baselines.\n"


def write_section(section):
    """Replace the section whose ``## `` title starts ``section`` (or append it)."""
    title = section.splitlines()[0]
    text = DOC.read_text() if DOC.exists() else DOC_HEADER
    pattern = re.compile(rf"^{re.escape(title)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section.rstrip("\n") + "\n\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOC.write_text(text.rstrip("\n") + "\n")
