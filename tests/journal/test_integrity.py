"""Files that are not journals, journals from the future, torn tails and corruption.

Corruption is made the way it happens: bytes of the real file are changed
behind SQLite's back (SQLite itself still reads the page; only the journal's
own checksum can tell).
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from dita.journal import (
    EngineNote,
    JournalCorrupted,
    JournalError,
    SqliteJournal,
    TornTail,
    Verify,
    repair,
)
from dita.journal.sqlite import SCHEMA_VERSION, seal_path


def marked(i: int) -> EngineNote:
    return EngineNote("tick", f"MARK{i:05d}", {"i": i})


def write_groups(path: Path, *groups: int, sealed: int | None = None) -> None:
    """One commit per group size given; record i carries the text MARK0000i.

    ``sealed``: leave the seal as it was after that many commits, as a crash
    between SQLite's commit and the seal write does (the later groups are in
    the file, but no ``commit()`` covering them returned).
    """
    n = 0
    seal = seal_path(path)
    kept = b""
    with SqliteJournal.open(path) as j:
        for k, size in enumerate(groups, 1):
            for _ in range(size):
                n += 1
                j.append(marked(n), ts=n)
            j.commit()
            if k == sealed:
                kept = seal.read_bytes()
    if sealed is not None:
        seal.write_bytes(kept)


def flip(path: Path, seq: int) -> None:
    """Change one character of record ``seq``'s payload in the file itself."""
    data = bytearray(path.read_bytes())
    needle = f"MARK{seq:05d}".encode()
    assert data.count(needle) == 1, "the record must be in the main file exactly once"
    at = data.index(needle)
    data[at : at + 4] = b"MURK"
    path.write_bytes(bytes(data))


def snapshot_bytes(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.parent.iterdir())}


# --------------------------------------------------------------------------- identification


def test_a_text_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("this is not a journal\n" * 10)
    before = snapshot_bytes(path)
    with pytest.raises(
        JournalError, match=r"notes\.txt is not a dita journal: not an SQLite database"
    ):
        SqliteJournal.open(path)
    assert snapshot_bytes(path) == before


def test_another_sqlite_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE records (seq INTEGER PRIMARY KEY, x TEXT)")
    conn.execute("INSERT INTO records VALUES (1, 'hello')")
    conn.commit()
    conn.close()
    before = snapshot_bytes(path)
    with pytest.raises(JournalError, match=r"other\.db is not a dita journal: an SQLite database"):
        SqliteJournal.open(path)
    assert snapshot_bytes(path) == before


def test_a_journal_from_a_newer_schema_is_refused_with_both_versions(tmp_path: Path) -> None:
    path = tmp_path / "future.journal"
    write_groups(path, 3)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(JournalError) as err:
        SqliteJournal.open(path)
    msg = str(err.value)
    assert str(path) in msg
    assert "schema version 7" in msg
    assert f"schema version {SCHEMA_VERSION}" in msg
    assert "newer dita" in msg
    assert path.read_bytes() == before


# --------------------------------------------------------------------------- torn tail


@pytest.mark.parametrize("bad", [8, 10])
def test_torn_last_group_is_detected_then_repaired_explicitly(tmp_path: Path, bad: int) -> None:
    path = tmp_path / "torn.journal"
    write_groups(path, 5, 5, sealed=1)  # groups 1..5 and 6..10; the second never sealed
    flip(path, bad)
    before = path.read_bytes()

    with pytest.raises(TornTail) as err:
        SqliteJournal.open(path)
    assert (err.value.first_seq, err.value.last_seq) == (bad, 10)
    assert f"from seq {bad} to 10" in str(err.value)
    assert path.read_bytes() == before, "detection alone must not write"

    with SqliteJournal.open(path, repair_torn_tail=True) as j:
        assert j.last_seq == bad - 1
        assert [r.seq for r in j.read_from(1)] == list(range(1, bad))
        # the removed records are kept as evidence, not destroyed
        assert [s for (s,) in j.execute("SELECT seq FROM torn ORDER BY seq")] == list(
            range(bad, 11)
        )
        assert j.append(marked(99), ts=99) == bad  # the sequence continues without a gap
        j.commit()
    with SqliteJournal.open(path) as j:
        assert [r.seq for r in j.read_from(1)] == list(range(1, bad + 1))


def test_repair_function_reports_what_it_removed(tmp_path: Path) -> None:
    path = tmp_path / "torn.journal"
    write_groups(path, 2, 3, sealed=1)
    flip(path, 4)
    report = repair(path)
    assert (report.removed_first, report.removed_last, report.last_seq) == (4, 5, 3)
    assert repair(path).removed_first is None  # a second repair finds nothing


def test_torn_wal_tail_after_a_crash_loses_only_the_uncommitted_group(tmp_path: Path) -> None:
    # A crash mid-commit leaves a partial WAL frame; SQLite drops that transaction
    # whole. The journal then continues from the last complete group.
    live = tmp_path / "live" / "j.journal"
    live.parent.mkdir()
    j = SqliteJournal.open(live)
    for i in range(1, 6):
        j.append(marked(i), ts=i)
    j.commit()
    seal = seal_path(live).read_bytes()  # the crash comes before the second group is sealed
    for i in range(6, 11):
        j.append(marked(i), ts=i)
    j.commit()
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    for suffix in ("", "-wal"):  # what the disk holds at the instant of the crash
        shutil.copyfile(f"{live}{suffix}", crashed / f"j.journal{suffix}")
    seal_path(crashed / "j.journal").write_bytes(seal)
    j.close()
    wal = crashed / "j.journal-wal"
    with wal.open("r+b") as f:
        f.truncate(wal.stat().st_size - 100)  # the last frame of the second group is torn

    with SqliteJournal.open(crashed / "j.journal") as j2:
        assert j2.last_seq == 5
        assert j2.append(marked(6), ts=6) == 6
        j2.commit()
        assert [r.seq for r in j2.read_from(1)] == [1, 2, 3, 4, 5, 6]


# --------------------------------------------------------------------------- corruption


def test_corruption_before_the_last_group_names_the_seq_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "bad.journal"
    write_groups(path, 5, 5)
    flip(path, 3)
    before = snapshot_bytes(path)
    for attempt in (
        lambda: SqliteJournal.open(path),
        lambda: SqliteJournal.open(path, repair_torn_tail=True),
        lambda: SqliteJournal.open(path, readonly=True),
        lambda: repair(path),
    ):
        with pytest.raises(JournalCorrupted) as err:
            attempt()
        assert err.value.seq == 3
        assert "seq 3 is corrupted" in str(err.value)
        assert "not a torn write" in str(err.value)
        assert snapshot_bytes(path) == before


def test_a_missing_record_is_a_hole_not_a_skip(tmp_path: Path) -> None:
    path = tmp_path / "hole.journal"
    write_groups(path, 5, 5)
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM records WHERE seq = 4")
    conn.commit()
    conn.close()
    with pytest.raises(
        JournalCorrupted, match=r"seq 4 is corrupted \(records 4\.\.4 are missing\)"
    ):
        SqliteJournal.open(path)


def test_tail_verification_checks_only_the_last_group(tmp_path: Path) -> None:
    path = tmp_path / "bad.journal"
    write_groups(path, 5, 5)
    flip(path, 3)
    with SqliteJournal.open(path, verify=Verify.TAIL) as j:
        assert j.last_seq == 10
        # ... but reading the bad record still refuses it, naming the seq
        with pytest.raises(JournalCorrupted, match="seq 3 fails its checksum") as err:
            list(j.read_from(1))
        assert err.value.seq == 3
        assert [r.seq for r in j.read_from(4)] == list(range(4, 11))


def test_a_corrupted_commit_log_row_before_the_tail_is_corruption(tmp_path: Path) -> None:
    path = tmp_path / "bad.journal"
    write_groups(path, 2, 2, 2)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE commits SET last_seq = 5 WHERE first_seq = 3")  # crc no longer matches
    conn.commit()
    conn.close()
    with pytest.raises(JournalCorrupted, match=r"commit log row for seq 3\.\.5"):
        SqliteJournal.open(path)
