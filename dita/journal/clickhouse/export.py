"""Rebuild a SQLite journal from ClickHouse: the fleet copy back into the embedded format.

``records`` keeps each record's exact payload and CRC, so a kernel's journal
can be written out again, record for record, and then replayed, verified or
reported with the SQLite tools (``dita replay``, ``dita report``). Each
rebuilt record's CRC is checked against the one shipped, so what comes back
is byte-identical to what the kernel's machine journaled.
"""

from __future__ import annotations

from pathlib import Path

from dita.journal.errors import JournalError
from dita.journal.records import RecordKind, decode_body
from dita.journal.sqlite import SqliteJournal, Synchronous

from . import schema
from ._conn import ClickHouseError, ClientLike, connect, redact, resolve_dsn, unavailable

_PAGE = 10_000
_SUFFIXES = ("", "-wal", "-shm", "-seal")  # the journal, its WAL/SHM and its seal


def export_journal_with(
    client: ClientLike,
    kernel_id: str,
    path: str | Path,
    *,
    database: str = schema.DEFAULT_DATABASE,
    where: str = "ClickHouse",
) -> int:
    """Write kernel ``kernel_id``'s records to a new SQLite journal at ``path``; return its last seq.

    Written beside ``path`` as ``.partial`` and renamed when complete: a
    failed export leaves nothing behind.
    """
    db = schema.check_identifier(database)
    p = Path(path)
    if p.exists():
        raise JournalError(f"{p} exists; export writes a new journal only")
    partial = p.with_name(p.name + ".partial")
    files = [Path(f"{partial}{suffix}") for suffix in _SUFFIXES]
    lock = Path(f"{partial}.lock")  # the journal's writer lock, released on close
    for f in (*files, lock):
        f.unlink(missing_ok=True)
    try:
        last = _export(client, kernel_id, partial, db, where)
    except BaseException:
        for f in (*files, lock):
            f.unlink(missing_ok=True)
        raise
    for f, suffix in zip(files, _SUFFIXES, strict=True):
        if f.exists():
            f.rename(f"{p}{suffix}")
    lock.unlink(missing_ok=True)
    return last


def _export(client: ClientLike, kernel_id: str, p: Path, db: str, where: str) -> int:
    nxt = 1
    with SqliteJournal.open(p, synchronous=Synchronous.NORMAL, check_roundtrip=False) as journal:
        while True:
            try:
                rows = client.query(
                    f"SELECT seq, kind, ts, payload, crc FROM {db}.records FINAL "
                    f"WHERE kernel_id = {{k:String}} AND seq >= {{s:UInt64}} ORDER BY seq LIMIT {_PAGE}",
                    parameters={"k": kernel_id, "s": nxt},
                ).result_rows
            except Exception as e:
                raise unavailable(where, f"reading kernel {kernel_id!r} failed", e) from None
            if not rows:
                break
            expected_crc: dict[int, int] = {}
            for seq, kind, ts, payload, crc in rows:
                if seq != nxt:
                    raise ClickHouseError(
                        f"{redact(where)}: kernel {kernel_id!r} has no record seq {nxt} "
                        f"(next is {seq}); push the journal again to fill the gap"
                    )
                got = journal.append(decode_body(RecordKind(kind), payload), ts=int(ts))
                assert got == seq
                expected_crc[seq] = int(crc)
                nxt += 1
            journal.commit()
            for seq, crc in journal.execute(
                "SELECT seq, crc FROM records WHERE seq >= ? ORDER BY seq", (min(expected_crc),)
            ):
                if expected_crc[seq] != crc:
                    raise JournalError(
                        f"{p}: record seq {seq} rebuilt from {redact(where)} does not match the "
                        f"shipped CRC; the ClickHouse copy is damaged"
                    )
        if nxt == 1:
            raise ClickHouseError(f"{redact(where)}: no records for kernel {kernel_id!r}")
        return journal.last_seq


def export_journal(
    dsn: str | None, kernel_id: str, path: str | Path, *, database: str = schema.DEFAULT_DATABASE
) -> int:
    """``export_journal_with`` on a client for ``dsn``."""
    target = resolve_dsn(dsn)
    client = connect(target)
    try:
        return export_journal_with(client, kernel_id, path, database=database, where=target)
    finally:
        client.close()
