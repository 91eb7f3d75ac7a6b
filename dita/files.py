"""Files dita writes are readable by their owner only (0600).

Reports, exported data and anything else dita writes may carry account
figures; ``write_private`` and ``open_private`` create such a file with mode
0600 from the start (never world-readable, not even for a moment) and tighten
an existing file to 0600 before writing to it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Literal, TextIO, cast, overload

PRIVATE_MODE = 0o600


@overload
def open_private(
    path: str | Path, mode: Literal["w", "a"] = "w", *, newline: str | None = None
) -> TextIO: ...
@overload
def open_private(
    path: str | Path, mode: Literal["wb", "ab"], *, newline: None = None
) -> BinaryIO: ...
def open_private(
    path: str | Path, mode: str = "w", *, newline: str | None = None
) -> TextIO | BinaryIO:
    """Open ``path`` for writing ("w", "a", "wb", "ab"), created 0600; the caller closes it."""
    if mode not in ("w", "a", "wb", "ab"):
        raise ValueError(f"open_private writes only; got mode {mode!r}")
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode.startswith("a") else os.O_TRUNC)
    fd = os.open(path, flags, PRIVATE_MODE)
    try:
        os.fchmod(fd, PRIVATE_MODE)  # an existing file keeps its mode on open: tighten it
    except BaseException:
        os.close(fd)
        raise
    if "b" in mode:
        return cast(BinaryIO, os.fdopen(fd, mode))
    return cast(TextIO, os.fdopen(fd, mode, encoding="utf-8", newline=newline))


def write_private(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8) to ``path``, replacing it, with mode 0600."""
    if isinstance(data, bytes):
        with open_private(path, "wb") as fb:
            fb.write(data)
    else:
        with open_private(path, "w") as ft:
            ft.write(data)
