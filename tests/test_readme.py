"""The README states no rule of its own: its table of options is the options' own, made from the
settings' declarations."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_docs_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_options_table_is_made_from_the_declarations() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    made = load_docs_script("make_options_table").with_table(readme)
    assert readme == made, "the README's options table is stale: run docs/make_options_table.py"
    assert "| `--step-size` | `0.01` |" in readme and "Range: (0, 1]." in readme
