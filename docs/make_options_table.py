"""Write the README's table of `reverie dream`'s options from the options themselves (which come from
the settings' declarations), so the README never states a range or default of its own.

.venv/bin/python docs/make_options_table.py      (tests/test_readme.py checks the README matches)
"""

from __future__ import annotations

from pathlib import Path

from reverie.cli import options_table

README = Path(__file__).resolve().parent.parent / "README.md"
MARKER = "<!-- options of reverie dream: made by docs/make_options_table.py from the declarations -->\n"


def with_table(text: str) -> str:
    """``text`` (the README) with the table after :data:`MARKER` made anew."""
    start = text.index(MARKER) + len(MARKER)
    end = text.index("\n\n", start)
    return text[:start] + options_table("dream").rstrip("\n") + text[end:]


if __name__ == "__main__":
    README.write_text(with_table(README.read_text(encoding="utf-8")), encoding="utf-8")
