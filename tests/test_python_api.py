"""docs/python-api.md: every Python block runs, in order, from the repository root's view."""

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "python-api.md"


def test_every_block_of_the_python_api_page_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 5
    for name in ("scenarios", "recordings"):
        os.symlink(ROOT / name, tmp_path / name)  # the page's relative paths, outputs in tmp_path
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for number, block in enumerate(blocks):
        exec(compile(block, f"{PAGE.name} block {number + 1}", "exec"), namespace)
    assert (tmp_path / "world-identity.png").is_file() and (tmp_path / "demo-short.h5").is_file()
