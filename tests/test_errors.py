"""Error text: one line, whatever the library said."""

from __future__ import annotations

from reverie.errors import ImageError, ReverieError, one_line


def test_one_line_keeps_the_first_line_with_its_spaces_folded() -> None:
    assert one_line(RuntimeError("Error(s) in loading:\n\tMissing key(s) ...\n")) == "Error(s) in loading:"
    assert one_line(OSError("\n\n  disk   full \n more")) == "disk full"
    assert one_line(KeyError()) == "KeyError"
    assert issubclass(ImageError, ReverieError)
