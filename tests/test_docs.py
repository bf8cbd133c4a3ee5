"""The code blocks in docs/*.md run as written, in order, each page in one namespace (as a
reader pastes them into one session). Blocks fenced as `py` or `bash` are not run."""

from __future__ import annotations

import pathlib
import re

import pytest

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(p for p in DOCS.glob("*.md") if "```python" in p.read_text())


@pytest.mark.parametrize("path", PAGES, ids=[p.name for p in PAGES])
def test_doc_blocks_run(path):
    from shoal import distribution

    namespace = {"__name__": "__doc_example__"}
    blocks = re.findall(r"```python\n(.*?)```", path.read_text(), re.S)
    try:
        for i, block in enumerate(blocks):
            exec(compile(block, f"{path.name}[{i}]", "exec"), namespace)
    finally:
        distribution.set_distribution(None)
