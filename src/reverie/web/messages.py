"""Errors as a web user reads them: no paths of the server's disk, no command-line flags.

The library's messages are written for the command line (``pass --guide IMAGE``) and name the files
involved; in the page those files are the user's uploads, stored under random names in a folder the
user never sees, so each is named as the user knows it and every other server path is cut to its
file name.
"""

from __future__ import annotations

import re
from pathlib import Path

from reverie.errors import one_line

#: Command-line phrases of library messages -> the page's words for them.
PHRASES = {
    "pass --guide IMAGE": "choose a guide image",
    "(--guide IMAGE)": "(choose a guide image)",
    "use e.g. --layers blocks.8,blocks.11": "type layers such as blocks.8,blocks.11",
    "raise --max-side": "choose a larger size",
}
#: Flags that remain -> the labels of the form's fields.
LABELS = {
    "layers": "Layers",
    "steps": "Steps",
    "step-size": "Strength",
    "octaves": "Octaves",
    "max-side": "Size",
    "frames": "Frames",
    "zoom": "Zoom",
    "rotate": "Turn",
    "fps": "Frames per second",
    "blend": "Blend",
    "guide": "Guide image",
    "mask": "Mask",
    "max-pixels": "the server's pixel limit",
}
FLAG = re.compile(r"--([a-z][a-z-]*)")
#: A setting named by its option at the start of a range check ("step-size must be in (0, 1]").
SETTING_FIRST = re.compile(r"(?:^|(?<=; ))([a-z][a-z-]*)(?= must )")
#: An absolute path: a slash at a word's start, then path characters.
SERVER_PATH = re.compile(r"(?<![\w.:/])/(?:[\w.@+~-]+/)*[\w.@+~-]+/?")


def for_the_page(error: BaseException | str, folder: Path, names: dict[Path, str] | None = None) -> str:
    """``error`` in one line for a web user: the files in ``names`` (path -> how the user knows it,
    e.g. ``"your photo 'cat.jpg'"``) so named, anything else in the data ``folder`` called a file on
    the server, other paths cut to their file names, command-line flags turned into form labels."""
    text = one_line(error) if isinstance(error, BaseException) else error
    for path, name in sorted((names or {}).items(), key=lambda item: -len(str(item[0]))):
        text = text.replace(str(path), name)
    text = re.sub(re.escape(str(folder)) + r"/?\S*", "a file on the server", text)
    text = SERVER_PATH.sub(lambda match: Path(match.group(0)).name or "a folder on the server", text)
    for phrase, words in PHRASES.items():
        text = text.replace(phrase, words)
    text = SETTING_FIRST.sub(lambda match: LABELS.get(match.group(1), match.group(1)), text)
    return FLAG.sub(lambda match: f"'{LABELS.get(match.group(1), match.group(1).replace('-', ' '))}'", text)
