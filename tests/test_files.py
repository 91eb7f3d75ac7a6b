"""Files dita writes are 0600, new or pre-existing (issue 11)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dita.files import open_private, write_private


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.mark.parametrize("data", ["text é\n", b"\x00bytes"])
def test_new_file_is_0600_whatever_the_umask(tmp_path: Path, data: str | bytes) -> None:
    old = os.umask(0)
    try:
        p = tmp_path / "r.html"
        write_private(p, data)
    finally:
        os.umask(old)
    assert _mode(p) == 0o600
    assert (p.read_bytes() if isinstance(data, bytes) else p.read_text("utf-8")) == data


def test_existing_world_readable_file_is_tightened(tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    p.write_text("old and long content")
    p.chmod(0o644)
    with open_private(p, "w", newline="") as fh:
        fh.write("new")
    assert _mode(p) == 0o600
    assert p.read_text() == "new"


def test_append_keeps_content(tmp_path: Path) -> None:
    p = tmp_path / "log"
    write_private(p, "a")
    with open_private(p, "a") as fh:
        fh.write("b")
    assert p.read_text() == "ab" and _mode(p) == 0o600


def test_read_modes_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="writes only"):
        open_private(tmp_path / "x", "r")  # type: ignore[call-overload]
