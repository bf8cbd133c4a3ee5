"""The code blocks in docs/*.md run as written."""

from __future__ import annotations

import pathlib
import re

import pytest

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
BLOCKS = [
    (path.name, i, block)
    for path in sorted(DOCS.glob("*.md"))
    for i, block in enumerate(re.findall(r"```python\n(.*?)```", path.read_text(), re.S))
]


@pytest.mark.parametrize("name,index,code", BLOCKS, ids=[f"{b[0]}-{b[1]}" for b in BLOCKS])
def test_doc_block_runs(name, index, code):
    exec(compile(code, f"{name}[{index}]", "exec"), {"__name__": "__doc_example__"})
