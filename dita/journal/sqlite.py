"""The write-ahead journal on SQLite: append-only, sequence-numbered, checksummed.

Theory of operation
-------------------
``append(body, ts=...)`` encodes a record, gives it the next sequence number
(1, 2, 3, ... with no gaps, ever) and *buffers* it. ``commit()`` writes
everything buffered in one SQLite transaction and returns when it is durable
(WAL mode; with ``synchronous=FULL``, the default, the WAL is fsynced on every
commit). Many inputs share one fsync: that is group commit.

The write-ahead contract, which the engine must keep: **a command returned by
the kernel may be sent to the venue only after the ``commit()`` covering the
input that caused it has returned.** Appending the outcome in the same group
is fine (the outcome is derived; replay recomputes it). A record appended but
not committed is not durable: after a crash it is gone, and so, by the
contract, is every effect it could have had.

``commit()`` blocks on the disk. From asyncio, ``await journal.acommit()``
runs it in a worker thread; appends from the event loop may continue while
it runs (they go to the next group). One connection is shared between
threads behind a lock; commits are serialized, in sequence order.

``synchronous=NORMAL`` survives a process crash but may lose the last commits
on power loss; ``OFF`` is for benchmarks only.

One writer per journal: a writer holds an advisory ``flock`` on
``<journal>.lock`` (released on close, or by the OS when the process dies); a
second writer gets ``JournalError``. Readers (``readonly=True``, e.g. the
ClickHouse sink) may be open beside it and see each commit as it lands.

Integrity: every record carries a CRC32 over its seq, kind, ts and payload,
and every commit writes one ``commits`` row (first_seq, last_seq). SQLite's
own commit is atomic, so damage inside a committed group is never a torn
write: it is corruption. What SQLite cannot report is caught here:

* **The seal.** ``<journal>-seal`` (schema 2) holds the journal's id, the
  last committed seq and that record's CRC, written (and, with FULL, fsynced)
  after every SQLite commit and before ``commit()`` returns, so before any
  command caused by the group can be sent. SQLite silently drops every WAL
  frame from the first bad checksum on; a journal that reads shorter than its
  seal has lost committed records and is refused (``JournalCorrupted``).
  Two 64-byte slots are written in turn, each with its own CRC, so a torn
  seal write leaves the previous one.
* **Damage.** A record that fails its checksum, or a hole in the sequence, at
  or before the sealed seq is ``JournalCorrupted`` naming the seq; nothing is
  written. Only records after the seal (a group SQLite committed but whose
  ``commit()`` never returned: nothing it caused was sent) may be damaged
  without loss of anything acted upon: ``TornTail`` unless
  ``repair_torn_tail=True``, which moves them into the ``torn`` table
  (nothing is destroyed) and continues the sequence from there.
* Checks run before the writable connection is opened: a refused journal is
  never checkpointed, so what the WAL still holds stays there for inspection.

Opening checks every record (``verify="full"``, the default) or the last
group and the seal only (``verify="tail"``).

A crash in the middle of ``commit()`` is SQLite's to handle: the partial WAL
frames are discarded on the next open and the whole group vanishes (never
sealed, never acted upon). After a repair the removed seqs are handed out
again; a reader that shipped them elsewhere (the ClickHouse sink) finds them
in ``torn``.

Creation is atomic: the schema is written into a temporary file in the same
directory, fsynced, and renamed onto the path (the directory fsynced), so a
kill during creation leaves a complete journal or nothing. The journal, its
WAL/SHM, seal and lock files are created 0600.

A journal of schema version 1 (no seal, unchecksummed trade rows) is read as
it is; opening it for writing migrates it explicitly to version 2 (trade rows
rebuilt from the checksummed outcome records, seal written).

Checks that decide whether a file is a dita journal at all (SQLite header,
``application_id``, schema version) read the file without SQLite, or through a
read-only connection, so a file that is refused is left byte-identical.

Trades: every ``TradeRecord`` in a committed outcome becomes one row of
``trades`` (and its exits rows of ``trade_exits``), derived from the outcome
record and carrying a CRC over the row and its exits; ``trades()`` checks it
and that the derived columns (prices, net PnL) equal what the exact columns
give. ``dita replay`` compares the table with the outcomes. Money columns are TEXT
holding the exact Decimal; ``SUM(realized_pnl)`` in SQL would go through
floating point. Sum in Python (``trade_totals()``), or use the
``trades_approx`` view, whose ``*_approx`` REAL columns are for eyeballing only.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import stat
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import msgspec

from dita.journal.errors import JournalCorrupted, JournalError, RecordRejected, TornTail
from dita.journal.records import (
    JournalRecord,
    OutcomeRecord,
    RecordBody,
    RecordKind,
    decode_body,
    encode_body,
)
from dita.kernel.model import ExitFill, TradeRecord

SCHEMA_VERSION = 2
READS_VERSIONS = (1, 2)  # 1: no seal, no trade-row checksum; migrated to 2 on a writable open
APPLICATION_ID = 0x64697461  # b"dita", stored in the SQLite header at offset 68
APP_NAME = "dita-journal"

_SQLITE_MAGIC = b"SQLite format 3\x00"
_READ_BATCH = 1000

_SCHEMA = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE records (
    seq     INTEGER PRIMARY KEY,   -- 1, 2, 3, ... no gaps
    kind    TEXT    NOT NULL,      -- run | intent | venue_event | outcome | snapshot | note | adjustment
    ts      INTEGER NOT NULL,      -- epoch ms, engine clock
    payload TEXT    NOT NULL,      -- JSON (msgspec), Decimals as strings
    crc     INTEGER NOT NULL       -- crc32 of "seq|kind|ts|" + payload
);
CREATE INDEX records_kind ON records (kind, seq);

CREATE TABLE commits (             -- one row per commit group
    first_seq INTEGER PRIMARY KEY,
    last_seq  INTEGER NOT NULL,
    crc       INTEGER NOT NULL     -- crc32 of "first_seq|last_seq"
);

CREATE TABLE trades (              -- one row per finished trade; money is exact Decimal TEXT
    seq           INTEGER NOT NULL,  -- the outcome record that closed it
    idx           INTEGER NOT NULL,  -- position in that outcome's trade_records
    trade_id      TEXT    NOT NULL,
    slot_id       INTEGER NOT NULL,
    asset         TEXT    NOT NULL,
    side          TEXT    NOT NULL,
    entry_qty     TEXT    NOT NULL,
    entry_cost    TEXT    NOT NULL,
    entry_price   TEXT,              -- entry_cost / entry_qty (an average, 28 digits)
    exit_qty      TEXT    NOT NULL,
    exit_proceeds TEXT    NOT NULL,
    exit_price    TEXT,
    realized_pnl  TEXT    NOT NULL,
    fees          TEXT    NOT NULL,
    funding       TEXT    NOT NULL,
    net_pnl       TEXT    NOT NULL,  -- realized_pnl - fees + funding, exact
    opened_ts     INTEGER NOT NULL,
    closed_ts     INTEGER NOT NULL,
    crc           INTEGER,           -- schema 2: crc32 over the row and its exits
    PRIMARY KEY (seq, idx)
);
CREATE INDEX trades_trade_id ON trades (trade_id);

CREATE TABLE trade_exits (
    seq             INTEGER NOT NULL,
    idx             INTEGER NOT NULL,
    exit_no         INTEGER NOT NULL,
    client_order_id TEXT    NOT NULL,
    qty             TEXT    NOT NULL,
    proceeds        TEXT    NOT NULL,
    PRIMARY KEY (seq, idx, exit_no)
);

CREATE TABLE torn (                -- records removed by repair(), kept as evidence
    seq     INTEGER PRIMARY KEY,
    kind    TEXT,
    ts      INTEGER,
    payload TEXT,
    crc     INTEGER
);

CREATE VIEW trades_approx AS       -- REAL columns for quick looks only; exact values are TEXT
SELECT trade_id, slot_id, asset, side, opened_ts, closed_ts,
       CAST(realized_pnl AS REAL) AS realized_pnl_approx,
       CAST(fees AS REAL)         AS fees_approx,
       CAST(funding AS REAL)      AS funding_approx,
       CAST(net_pnl AS REAL)      AS net_pnl_approx
FROM trades;
"""

_TRADE_COLUMNS = (
    "trade_id",
    "slot_id",
    "asset",
    "side",
    "entry_qty",
    "entry_cost",
    "exit_qty",
    "exit_proceeds",
    "realized_pnl",
    "fees",
    "funding",
    "opened_ts",
    "closed_ts",
)


class Synchronous(StrEnum):
    """SQLite ``PRAGMA synchronous``: FULL (durable, default), NORMAL, OFF (benchmarks)."""

    FULL = "FULL"
    NORMAL = "NORMAL"
    OFF = "OFF"


class Verify(StrEnum):
    """How much of the journal to checksum on open."""

    FULL = "full"
    TAIL = "tail"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class TradeTotals:
    """Exact sums over the trade table."""

    trades: int
    wins: int
    realized_pnl: Decimal
    fees: Decimal
    funding: Decimal
    net_pnl: Decimal


@dataclass(frozen=True, slots=True)
class RepairReport:
    path: Path
    removed_first: int | None  # None: nothing was torn
    removed_last: int | None
    last_seq: int


def record_crc(seq: int, kind: str, ts: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(f"{seq}|{kind}|{ts}|".encode()))


def _commit_crc(first: int, last: int) -> int:
    return zlib.crc32(f"{first}|{last}".encode())


def _ro_uri(path: Path, *, inspect: bool = False) -> str:
    """URI for a read-only connection.

    For inspecting a file we may refuse: if no WAL file exists (no writer has
    it open, nothing un-checkpointed), open it ``immutable`` so that SQLite
    creates no -wal/-shm files beside it and the directory stays as it was.
    """
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    if inspect and not Path(f"{path}-wal").exists():
        uri += "&immutable=1"
    return uri


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- the seal

_SEAL_MAGIC = b"dita-sl1"
_SEAL_BODY = struct.Struct(">8s16sQQI")  # magic, journal id, counter, last seq, its crc
_SEAL_SLOT = 64


def seal_path(journal: Path) -> Path:
    return Path(f"{journal}-seal")


@dataclass(frozen=True, slots=True)
class Seal:
    """What the last ``commit()`` that returned made durable: seq and CRC of its last record."""

    journal_id: bytes
    counter: int
    last_seq: int
    last_crc: int

    def pack(self) -> bytes:
        body = _SEAL_BODY.pack(
            _SEAL_MAGIC, self.journal_id, self.counter, self.last_seq, self.last_crc
        )
        return (body + zlib.crc32(body).to_bytes(4, "big")).ljust(_SEAL_SLOT, b"\0")

    @classmethod
    def unpack(cls, raw: bytes) -> Seal | None:
        n = _SEAL_BODY.size
        if len(raw) < n + 4 or zlib.crc32(raw[:n]) != int.from_bytes(raw[n : n + 4], "big"):
            return None
        magic, jid, counter, last_seq, last_crc = _SEAL_BODY.unpack(raw[:n])
        return cls(jid, counter, last_seq, last_crc) if magic == _SEAL_MAGIC else None


def read_seal(journal: Path) -> Seal | None:
    """The newest intact slot of the journal's seal file; None if there is no such file."""
    try:
        raw = seal_path(journal).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise JournalError(f"cannot read the seal {seal_path(journal)}: {e}") from e
    slots = [Seal.unpack(raw[i : i + _SEAL_SLOT]) for i in (0, _SEAL_SLOT)]
    good = [x for x in slots if x is not None]
    if not good:
        raise JournalCorrupted(
            f"{journal}: its seal {seal_path(journal)} is unreadable (both slots fail their "
            f"checksum), so whether committed records are missing cannot be told. Nothing was "
            f"modified; restore the journal and its seal from a copy",
            None,
        )
    return max(good, key=lambda x: x.counter)


class _SealWriter:
    """Writes the seal after each commit: slot ``counter % 2``, fsynced when ``durable``."""

    def __init__(self, path: Path, seal: Seal, *, durable: bool) -> None:
        self.path = path
        self.seal = seal
        self.durable = durable
        try:
            self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            os.fchmod(self._fd, 0o600)
        except OSError as e:
            raise JournalError(f"cannot open the seal {path}: {e}") from e

    @classmethod
    def create(cls, path: Path, seal: Seal) -> None:
        """A new seal file holding ``seal`` in both slots, fsynced."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, seal.pack() * 2)
            os.fsync(fd)
        finally:
            os.close(fd)

    def advance(self, last_seq: int, last_crc: int, *, sync: bool = False) -> None:
        if self._fd is None:
            raise JournalError(f"{self.path} is closed")
        nxt = Seal(self.seal.journal_id, self.seal.counter + 1, last_seq, last_crc)
        os.pwrite(self._fd, nxt.pack(), (nxt.counter % 2) * _SEAL_SLOT)
        if self.durable or sync:
            os.fdatasync(self._fd)
        self.seal = nxt

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


# --------------------------------------------------------------------------- identification


def _inspect(path: Path) -> dict[str, str]:
    """Refuse a file that is not a dita journal of a schema we read; its meta. Never writes."""
    try:
        with path.open("rb") as f:
            header = f.read(100)
    except OSError as e:
        raise JournalError(f"cannot read journal {path}: {e}") from e
    wal = Path(f"{path}-wal")
    if not header and wal.exists() and wal.stat().st_size > 0:
        header = b""  # created but never checkpointed (schema 1 creation): only SQLite can tell
    elif len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        raise JournalError(
            f"{path} is not a dita journal: not an SQLite database "
            f"(starts with {header[:16]!r}, {path.stat().st_size} bytes)"
        )
    elif int.from_bytes(header[68:72], "big") != APPLICATION_ID:
        raise JournalError(
            f"{path} is not a dita journal: an SQLite database with application_id "
            f"{int.from_bytes(header[68:72], 'big'):#x}, expected {APPLICATION_ID:#x}"
        )
    try:
        conn = sqlite3.connect(_ro_uri(path, inspect=True), uri=True)
    except sqlite3.Error as e:
        raise JournalError(f"{path}: cannot open read-only: {e}") from e
    try:
        try:
            rows = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.Error as e:
            raise JournalError(f"{path} is not a dita journal: no readable meta table ({e})") from e
    finally:
        conn.close()
    if rows.get("app") != APP_NAME:
        raise JournalError(f"{path} is not a dita journal: meta app is {rows.get('app')!r}")
    try:
        version = int(rows["schema_version"])
    except (KeyError, ValueError) as e:
        raise JournalError(f"{path}: dita journal without a valid schema_version ({e})") from e
    if version > SCHEMA_VERSION:
        raise JournalError(
            f"{path} was written by a newer dita: journal schema version {version}, "
            f"this dita reads schema version {SCHEMA_VERSION}; upgrade dita to open it"
        )
    if version not in READS_VERSIONS:
        raise JournalError(
            f"{path}: journal schema version {version} is older than {SCHEMA_VERSION} "
            f"and no migration exists for it"
        )
    if version >= 2:
        try:
            bytes.fromhex(rows["journal_id"])
        except (KeyError, ValueError) as e:
            raise JournalError(f"{path}: schema {version} journal without a journal_id") from e
    return rows


def _expected_seal(path: Path, meta: dict[str, str]) -> Seal | None:
    """The seal a schema-2 journal must have (read before the scan's snapshot); None for 1."""
    if int(meta["schema_version"]) < 2:
        return None
    seal = read_seal(path)
    if seal is None:
        raise JournalCorrupted(
            f"{path}: its seal {seal_path(path)} is missing. The seal holds the last committed "
            f"seq, which is how lost records are detected; a journal is copied together with its "
            f"-seal file. Nothing was modified",
            None,
        )
    if seal.journal_id.hex() != meta["journal_id"]:
        raise JournalCorrupted(
            f"{path}: its seal {seal_path(path)} belongs to another journal "
            f"(id {seal.journal_id.hex()}, this journal is {meta['journal_id']}). Nothing was "
            f"modified",
            None,
        )
    return seal


# --------------------------------------------------------------------------- integrity scan


@dataclass(frozen=True, slots=True)
class _ScanResult:
    last_seq: int
    torn_first: int | None  # first bad seq after the seal (never acted upon)


def _scan(conn: sqlite3.Connection, path: Path, mode: Verify, seal: Seal | None) -> _ScanResult:
    """Check the seal, checksums and sequence continuity in one read snapshot.

    Raises ``JournalCorrupted`` for anything wrong at or before the sealed seq
    (schema 1, which has no seal: anything at all).
    """
    try:
        conn.execute("BEGIN")  # one read snapshot for the whole scan, even beside a writer
        commits = conn.execute(
            "SELECT first_seq, last_seq, crc FROM commits ORDER BY first_seq DESC LIMIT 2"
        ).fetchall()
        max_row = conn.execute("SELECT max(seq) FROM records").fetchone()
        sealed_row = (
            conn.execute("SELECT crc FROM records WHERE seq = ?", (seal.last_seq,)).fetchone()
            if seal is not None and seal.last_seq > 0
            else None
        )
    except sqlite3.DatabaseError as e:
        raise JournalCorrupted(f"{path}: SQLite cannot read the journal: {e}", None) from e
    max_seq: int = max_row[0] or 0
    # Everything up to durable_end was acknowledged to the engine by commit().
    durable_end = max_seq if seal is None else seal.last_seq
    if seal is not None:
        _check_sealed(path, seal, max_seq, sealed_row)
    tail_start = _check_commit_log(path, commits, durable_end)
    if mode is Verify.OFF:
        return _ScanResult(max_seq, None)
    start = 1 if mode is Verify.FULL else min(tail_start, durable_end + 1)
    first_bad, why = _first_bad_record(conn, start)
    if first_bad is None and commits and commits[0][1] > max_seq:
        first_bad, why = max_seq + 1, f"records {max_seq + 1}..{commits[0][1]} are missing"
    if first_bad is None:
        return _ScanResult(max_seq, None)
    if first_bad <= durable_end:
        sealed = (
            f"at or before seq {durable_end}, which its seal says was committed"
            if seal is not None
            else "in a committed group"
        )
        raise JournalCorrupted(
            f"{path}: record seq {first_bad} is corrupted ({why}); it lies {sealed}, so this is "
            f"not a torn write. Nothing was modified; restore the file from a copy or inspect it "
            f"with sqlite3",
            first_bad,
        )
    return _ScanResult(max_seq, first_bad)


def _check_sealed(path: Path, seal: Seal, max_seq: int, sealed_row: tuple[int] | None) -> None:
    """The file holds every record up to the sealed seq, and that record is the one committed."""
    if max_seq < seal.last_seq:
        raise JournalCorrupted(
            f"{path}: committed records {max_seq + 1}..{seal.last_seq} are missing (the seal "
            f"says seq {seal.last_seq} was committed, the file reads up to {max_seq}): SQLite "
            f"drops every WAL frame after a damaged one. Nothing was modified (the WAL was not "
            f"checkpointed); restore the journal from a copy or inspect it with sqlite3",
            max_seq + 1,
        )
    if seal.last_seq > 0 and (sealed_row is None or sealed_row[0] != seal.last_crc):
        raise JournalCorrupted(
            f"{path}: record seq {seal.last_seq} is not the record that was committed (its "
            f"checksum differs from the seal's). Nothing was modified",
            seal.last_seq,
        )


def _check_commit_log(path: Path, commits: list[tuple[int, int, int]], durable_end: int) -> int:
    """Check the last two commit-log rows (newest first); return the first seq after the
    commit before the last (1 without one), where a quick scan starts.

    The commit before the last describes durable history, so it must be intact; the last
    one may be torn unless it starts at or before ``durable_end``.
    """
    tail_start = 1
    if len(commits) == 2:
        first, last, crc = commits[1]
        if crc != _commit_crc(first, last):
            raise JournalCorrupted(
                f"{path}: commit log row for seq {first}..{last} fails its checksum", first
            )
        tail_start = last + 1
    if commits:
        first, last, crc = commits[0]
        if crc != _commit_crc(first, last) and first <= durable_end:
            raise JournalCorrupted(
                f"{path}: commit log row for seq {first}..{last} fails its checksum", first
            )
    return tail_start


def _first_bad_record(conn: sqlite3.Connection, start: int) -> tuple[int | None, str]:
    """The first record from ``start`` on that is missing or fails its checksum, and why
    (None and "" when every record to the end is intact)."""
    expected = start
    try:
        cur = conn.execute(
            "SELECT seq, kind, ts, payload, crc FROM records WHERE seq >= ? ORDER BY seq", (start,)
        )
        for seq, kind, ts, payload, crc in cur:
            if seq != expected:
                return expected, f"records {expected}..{seq - 1} are missing"
            if not (
                isinstance(payload, str)
                and isinstance(kind, str)
                and isinstance(ts, int)
                and crc == record_crc(seq, kind, ts, payload.encode())
            ):
                return seq, "checksum mismatch"
            expected += 1
    except sqlite3.DatabaseError as e:
        return expected, f"SQLite cannot read it ({e})"
    return None, ""


# --------------------------------------------------------------------------- writer lock


class _WriterLock:
    """One writer per journal: an advisory ``flock`` on ``<journal>.lock``.

    Two writers would hand out the same seqs. The lock dies with its process
    (a SIGKILLed engine does not block its successor). The lock file is left
    in place; it holds nothing. It is created 0600.
    """

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, journal: Path) -> _WriterLock:
        lock_path = Path(f"{journal}.lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            os.fchmod(fd, 0o600)  # a lock file made by an older dita keeps its mode: tighten it
        except OSError as e:
            raise JournalError(f"cannot create the writer lock {lock_path}: {e}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            raise JournalError(
                f"{journal} is open for writing by another process (lock {lock_path} is held); "
                f"stop it first, or open the journal with readonly=True"
            ) from e
        return cls(fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> _WriterLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


# --------------------------------------------------------------------------- the journal


class SqliteJournal:
    """An append-only, checksummed, group-committed journal in one SQLite file."""

    def __init__(
        self,
        path: Path,
        conn: sqlite3.Connection,
        last_seq: int,
        *,
        readonly: bool,
        check_roundtrip: bool,
        lock: _WriterLock | None = None,
        seal: _SealWriter | None = None,
        version: int = SCHEMA_VERSION,
    ) -> None:
        # Use SqliteJournal.open(); this constructor trusts its arguments.
        self.path = path
        self._lock = lock
        self._seal = seal
        self.readonly = readonly
        self.schema_version = version
        self._conn: sqlite3.Connection | None = conn
        self._check = check_roundtrip
        self._conn_lock = threading.Lock()
        self._buf_lock = threading.Lock()
        self._last_seq = last_seq
        self._next_seq = last_seq + 1
        self._records: list[tuple[int, str, int, str, int]] = []
        self._trades: list[tuple[Any, ...]] = []
        self._exits: list[tuple[Any, ...]] = []
        self._broken: str | None = None  # why no further commit may be attempted

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        synchronous: Synchronous | str = Synchronous.FULL,
        create: bool = True,
        readonly: bool = False,
        verify: Verify | str = Verify.FULL,
        repair_torn_tail: bool = False,
        check_roundtrip: bool = True,
        snapshot: bool = False,
    ) -> SqliteJournal:
        """Open (or create) the journal at ``path``.

        Raises ``JournalError`` for a file that is not a dita journal or has a
        newer schema, ``JournalCorrupted`` for damage in committed records or
        committed records missing, ``TornTail`` for a damaged group after the
        seal unless ``repair_torn_tail``. A refused file is not modified.
        ``check_roundtrip`` makes ``append`` refuse bodies that would not
        decode to themselves (see ``records.encode_body``). ``snapshot``
        (read-only only): every read sees the journal as it was at open, in
        one read transaction, even while a writer commits beside it.
        """
        p = Path(path)
        sync = Synchronous(synchronous.upper() if isinstance(synchronous, str) else synchronous)
        mode = Verify(verify)
        if snapshot and not readonly:
            raise JournalError("snapshot=True is for read-only journals")
        if p.is_dir():
            raise JournalError(f"{p} is a directory, not a journal file")
        if not cls._exists(p):
            if not create or readonly:
                raise JournalError(f"no journal at {p}")
            if not p.parent.is_dir():
                raise JournalError(
                    f"cannot create journal {p}: directory {p.parent} does not exist"
                )
            with _WriterLock.acquire(p):
                if not cls._exists(p):
                    cls._create(p)
        meta = _inspect(p)
        version = int(meta["schema_version"])
        lock = None if readonly else _WriterLock.acquire(p)
        try:
            return cls._open_existing(
                p, meta, version, lock, sync, mode, readonly, repair_torn_tail,
                check_roundtrip, snapshot,
            )  # fmt: skip
        except BaseException:
            if lock is not None:
                lock.release()
            raise

    @staticmethod
    def _exists(p: Path) -> bool:
        wal = Path(f"{p}-wal")
        return p.exists() and (p.stat().st_size > 0 or (wal.exists() and wal.stat().st_size > 0))

    @classmethod
    def _open_existing(
        cls,
        p: Path,
        meta: dict[str, str],
        version: int,
        lock: _WriterLock | None,
        sync: Synchronous,
        mode: Verify,
        readonly: bool,
        repair_torn_tail: bool,
        check_roundtrip: bool,
        snapshot: bool,
    ) -> SqliteJournal:
        # The seal is read before the scan's snapshot: a writer beside us seals
        # after its SQLite commit, so the snapshot holds at least what we read.
        seal = _expected_seal(p, meta)
        # Without a WAL file nobody is writing, so the scan reads the file
        # immutable and leaves no -wal/-shm beside a file it may refuse. Every
        # check comes before a writable connection exists: a refused journal is
        # never checkpointed (that would destroy what the WAL still holds).
        scan = cls._scan_readonly(p, mode, seal, immutable=True)
        if scan.torn_first is not None and not (repair_torn_tail and not readonly):
            raise TornTail(
                f"{p}: the records from seq {scan.torn_first} to {scan.last_seq}, after the "
                f"last sealed commit (seq {seal.last_seq if seal else 0}), are damaged; no "
                f"commit() covering them returned, so nothing they caused was sent. Reopen "
                f"with repair_torn_tail=True to move them to the 'torn' table and continue",
                scan.torn_first,
                scan.last_seq,
            )
        try:
            if readonly:
                conn = sqlite3.connect(
                    _ro_uri(p), uri=True, isolation_level=None, check_same_thread=False
                )
            else:
                if stat.S_IMODE(p.stat().st_mode) & 0o077:
                    os.chmod(p, 0o600)  # made by an older dita: SQLite gives -wal/-shm this mode
                conn = sqlite3.connect(str(p), isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA synchronous={sync.value}")
        except (sqlite3.Error, OSError) as e:
            raise JournalError(f"cannot open journal {p}: {e}") from e
        writer: _SealWriter | None = None
        try:
            if snapshot:
                conn.execute("BEGIN")
                conn.execute("SELECT count(*) FROM meta").fetchone()  # the snapshot starts here
            if scan.torn_first is not None:
                cls._repair(conn, scan.torn_first)
            last_seq, last_crc = conn.execute(
                "SELECT coalesce(max(seq), 0), coalesce((SELECT crc FROM records "
                "ORDER BY seq DESC LIMIT 1), 0) FROM records"
            ).fetchone()
            if not readonly:
                if version == 1:
                    seal = cls._migrate(conn, p, last_seq, last_crc)
                    version = SCHEMA_VERSION
                assert seal is not None
                writer = _SealWriter(seal_path(p), seal, durable=sync is Synchronous.FULL)
                if seal.last_seq != last_seq:
                    # records committed (by SQLite) after the last seal, or a repair
                    writer.advance(last_seq, last_crc, sync=True)
        except BaseException:
            if writer is not None:
                writer.close()
            conn.close()
            raise
        return cls(
            p, conn, last_seq, readonly=readonly, check_roundtrip=check_roundtrip, lock=lock,
            seal=writer, version=version,
        )  # fmt: skip

    @staticmethod
    def _scan_readonly(p: Path, mode: Verify, seal: Seal | None, *, immutable: bool) -> _ScanResult:
        conn = sqlite3.connect(_ro_uri(p, inspect=immutable), uri=True, isolation_level=None)
        try:
            return _scan(conn, p, mode, seal)
        finally:
            conn.close()

    @classmethod
    def _create(cls, p: Path) -> None:
        """A new, empty journal at ``p``, atomically: a complete journal or nothing.

        Built in a temporary file beside ``p`` (0600, so SQLite's -wal/-shm are
        0600 too), checkpointed so the header holds the application_id,
        fsynced with its seal, then renamed onto ``p`` and the directory
        fsynced. The caller holds the writer lock.
        """
        tmp = p.with_name(f".{p.name}.creating")
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            leftover.unlink(missing_ok=True)  # a creation killed earlier
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            conn = sqlite3.connect(str(tmp), isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                journal_id = os.urandom(16)
                cls._create_schema(conn, journal_id)
            finally:
                conn.close()  # the last connection: checkpoints and removes tmp's WAL
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            _SealWriter.create(seal_path(p), Seal(journal_id, 0, 0, 0))
            os.replace(tmp, p)
            _fsync_dir(p.parent)
        except (OSError, sqlite3.Error) as e:
            raise JournalError(f"cannot create journal {p}: {e}") from e
        finally:
            for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
                leftover.unlink(missing_ok=True)

    @staticmethod
    def _create_schema(conn: sqlite3.Connection, journal_id: bytes) -> None:
        conn.execute("BEGIN IMMEDIATE")
        for stmt in _SCHEMA.split(";\n"):
            if stmt.strip():
                conn.execute(stmt)
        conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [
                ("app", APP_NAME),
                ("schema_version", str(SCHEMA_VERSION)),
                ("journal_id", journal_id.hex()),
            ],
        )
        conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
        conn.execute("COMMIT")
        # Put the header (application_id) into the main file now, so that
        # identification never needs to read the WAL.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @staticmethod
    def _migrate(conn: sqlite3.Connection, p: Path, last_seq: int, last_crc: int) -> Seal:
        """Schema 1 -> 2, explicitly, on a writable open: seal, trade rows rebuilt and checksummed.

        The trade rows are derived again from the (checksummed) outcome
        records, so nothing of the unchecksummed schema-1 table is trusted.
        The seal is written first: a crash before the COMMIT leaves a
        schema-1 journal, which ignores it.
        """
        journal_id = os.urandom(16)
        seal = Seal(journal_id, 0, last_seq, last_crc)
        _SealWriter.create(seal_path(p), seal)
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("ALTER TABLE trades ADD COLUMN crc INTEGER")
            conn.execute("DELETE FROM trades")
            conn.execute("DELETE FROM trade_exits")
            rows = conn.execute(
                "SELECT seq, kind, ts, payload, crc FROM records WHERE kind = ? ORDER BY seq",
                (RecordKind.OUTCOME.value,),
            )
            for seq, kind, ts, payload, crc in rows.fetchall():
                raw = payload.encode()
                if crc != record_crc(seq, kind, ts, raw):
                    raise JournalCorrupted(f"{p}: record seq {seq} fails its checksum", seq)
                body = decode_body(RecordKind.OUTCOME, raw)
                if isinstance(body, OutcomeRecord) and body.outcome.trade_records:
                    trades, exits = _trade_rows(seq, body.outcome.trade_records)
                    conn.executemany(_INSERT_TRADE, trades)
                    conn.executemany(_INSERT_EXIT, exits)
            conn.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [("schema_version", str(SCHEMA_VERSION)), ("journal_id", journal_id.hex())],
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return seal

    @staticmethod
    def _repair(conn: sqlite3.Connection, first: int) -> int:
        """Move records >= first to ``torn``; returns the new last seq."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "INSERT OR REPLACE INTO torn SELECT seq, kind, ts, payload, crc FROM records WHERE seq >= ?",
                (first,),
            )
            conn.execute("DELETE FROM records WHERE seq >= ?", (first,))
            conn.execute("DELETE FROM trades WHERE seq >= ?", (first,))
            conn.execute("DELETE FROM trade_exits WHERE seq >= ?", (first,))
            conn.execute("DELETE FROM commits WHERE first_seq >= ?", (first,))
            row = conn.execute(
                "SELECT first_seq FROM commits WHERE first_seq < ? ORDER BY first_seq DESC LIMIT 1",
                (first,),
            ).fetchone()
            if row is not None and first > 1:
                conn.execute(
                    "UPDATE commits SET last_seq = ?, crc = ? WHERE first_seq = ?",
                    (first - 1, _commit_crc(row[0], first - 1), row[0]),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return first - 1

    # ------------------------------------------------------------------ properties

    @property
    def last_seq(self) -> int:
        """The last *durable* (committed) sequence number; 0 for an empty journal."""
        return self._last_seq

    @property
    def appended_seq(self) -> int:
        """The last sequence number handed out by ``append`` (durable or not)."""
        with self._buf_lock:
            return self._next_seq - 1

    @property
    def pending(self) -> int:
        """Records appended but not yet committed."""
        with self._buf_lock:
            return len(self._records)

    # ------------------------------------------------------------------ writing

    def append(self, body: RecordBody, *, ts: int) -> int:
        """Buffer one record and return its seq. Not durable until ``commit()`` returns.

        ``ts`` is the engine clock's epoch milliseconds. Raises
        ``RecordRejected`` (nothing buffered) for a body that cannot be
        journaled faithfully.
        """
        if self.readonly:
            raise JournalError(f"{self.path} is open read-only")
        if type(ts) is not int or ts < 0:
            raise RecordRejected(f"ts must be epoch milliseconds as an int >= 0, got {ts!r}")
        kind, payload = encode_body(body, check=self._check)
        text = payload.decode()
        trades: list[tuple[Any, ...]] = []
        exits: list[tuple[Any, ...]] = []
        with self._buf_lock:
            if self._conn is None:
                raise JournalError(f"{self.path} is closed")
            seq = self._next_seq
            if isinstance(body, OutcomeRecord) and body.outcome.trade_records:
                trades, exits = _trade_rows(seq, body.outcome.trade_records)
            self._records.append((seq, kind, ts, text, record_crc(seq, kind, ts, payload)))
            self._trades.extend(trades)
            self._exits.extend(exits)
            self._next_seq = seq + 1
        return seq

    def commit(self) -> int:
        """Make every appended record durable in one transaction; return ``last_seq``.

        On failure nothing of the group is durable, the records stay buffered
        (a later ``commit()`` retries them) and ``JournalError`` is raised: the
        engine must not send the commands they caused.
        """
        with self._conn_lock:
            conn = self._conn
            if conn is None:
                raise JournalError(f"{self.path} is closed")
            if self._broken is not None:
                raise JournalError(self._broken)
            with self._buf_lock:
                records, trades, exits = self._records, self._trades, self._exits
                self._records, self._trades, self._exits = [], [], []
            if not records:
                return self._last_seq
            first, last = records[0][0], records[-1][0]
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.executemany(
                        "INSERT INTO records (seq, kind, ts, payload, crc) VALUES (?, ?, ?, ?, ?)",
                        records,
                    )
                    if trades:
                        conn.executemany(_INSERT_TRADE, trades)
                        conn.executemany(_INSERT_EXIT, exits)
                    conn.execute(
                        "INSERT INTO commits (first_seq, last_seq, crc) VALUES (?, ?, ?)",
                        (first, last, _commit_crc(first, last)),
                    )
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except BaseException as e:
                with self._buf_lock:
                    self._records = records + self._records
                    self._trades = trades + self._trades
                    self._exits = exits + self._exits
                if isinstance(e, sqlite3.Error):
                    raise JournalError(
                        f"{self.path}: commit of seq {first}..{last} failed, nothing of it is "
                        f"durable: {e}"
                    ) from e
                raise
            self._last_seq = last
            if self._seal is not None:
                try:
                    self._seal.advance(last, records[-1][4])
                except OSError as e:
                    # SQLite has the group but it is not sealed: the caller must not
                    # send its commands (it sees an error); no further commit.
                    self._broken = (
                        f"{self.path}: the seal could not be written after committing seq "
                        f"{first}..{last} ({e}); the journal accepts no more commits, reopen it"
                    )
                    raise JournalError(self._broken) from e
            return last

    async def acommit(self) -> int:
        """``commit()`` in a worker thread, for the asyncio engine."""
        return await asyncio.to_thread(self.commit)

    # ------------------------------------------------------------------ reading

    def read_from(self, seq: int = 1, limit: int | None = None) -> Iterator[JournalRecord]:
        """Committed records with ``seq >= seq`` in order, at most ``limit`` of them.

        Each is checksum-verified (``JournalCorrupted`` names the seq). Reads in
        batches, so a long iteration does not hold up commits.
        """
        remaining = limit
        nxt = max(seq, 1)
        while remaining is None or remaining > 0:
            n = _READ_BATCH if remaining is None else min(_READ_BATCH, remaining)
            rows = self._fetch("WHERE seq >= ? ORDER BY seq LIMIT ?", (nxt, n))
            if not rows:
                return
            for row in rows:
                if row[0] != nxt:
                    raise JournalCorrupted(f"{self.path}: record seq {nxt} is missing", nxt)
                yield self._decode_row(row)
                nxt += 1
            if remaining is not None:
                remaining -= len(rows)

    def get(self, seq: int) -> JournalRecord:
        rows = self._fetch("WHERE seq = ?", (seq,))
        if not rows:
            raise JournalError(f"{self.path}: no record with seq {seq} (last_seq {self._last_seq})")
        return self._decode_row(rows[0])

    def latest(self, kind: RecordKind, *, before: int | None = None) -> JournalRecord | None:
        """The last committed record of ``kind`` (with seq < ``before``, if given)."""
        bound = (1 << 62) if before is None else before
        rows = self._fetch(
            "WHERE kind = ? AND seq < ? ORDER BY seq DESC LIMIT 1", (kind.value, bound)
        )
        return self._decode_row(rows[0]) if rows else None

    def records_of(self, kind: RecordKind) -> list[JournalRecord]:
        """Every committed record of ``kind`` in seq order, decoded, from one read."""
        return [
            self._decode_row(row)
            for row in self._fetch("WHERE kind = ? ORDER BY seq", (kind.value,))
        ]

    def first(self, kind: RecordKind) -> JournalRecord | None:
        rows = self._fetch("WHERE kind = ? ORDER BY seq LIMIT 1", (kind.value,))
        return self._decode_row(rows[0]) if rows else None

    def trades(self) -> list[TradeRecord]:
        """Every finished trade, in the order they closed, exact.

        Each row is checked: its checksum (schema 2), that it parses, and that
        its derived columns (prices, net PnL) are what its exact columns give.
        A row that fails is ``JournalCorrupted`` naming it.
        """
        conn = self._require_conn()
        with self._conn_lock:
            try:
                rows = conn.execute(
                    f"SELECT {_TRADE_ROW}, {'crc' if self.schema_version >= 2 else 'NULL'} "
                    "FROM trades ORDER BY seq, idx"
                ).fetchall()
                exit_rows = conn.execute(
                    "SELECT seq, idx, exit_no, client_order_id, qty, proceeds FROM trade_exits "
                    "ORDER BY seq, idx, exit_no"
                ).fetchall()
            except sqlite3.DatabaseError as e:
                raise JournalCorrupted(f"{self.path}: SQLite cannot read trades ({e})", None) from e
        exits: dict[tuple[Any, Any], list[tuple[Any, ...]]] = {}
        for x in exit_rows:
            exits.setdefault((x[0], x[1]), []).append(tuple(x))
        out = []
        for row in rows:
            *values, crc = row
            seq, idx = values[0], values[1]
            mine = exits.pop((seq, idx), [])
            where = f"{self.path}: trades row (seq {seq}, idx {idx})"
            if self.schema_version >= 2 and crc != _trade_crc(tuple(values), mine):
                raise JournalCorrupted(
                    f"{where} fails its checksum", seq if isinstance(seq, int) else None
                )
            try:
                cols = dict(zip(_TRADE_ROW.split(", "), values, strict=True))
                t = msgspec.convert(
                    {
                        **{k: cols[k] for k in _TRADE_COLUMNS},
                        "exits": [
                            ExitFill(str(cid), Decimal(qty), Decimal(proceeds))
                            for (_, _, _, cid, qty, proceeds) in mine
                        ],
                    },
                    TradeRecord,
                    strict=False,
                )
                stored = (cols["entry_price"], cols["exit_price"], cols["net_pnl"])
                derived = _derived_columns(t)
            except (ArithmeticError, ValueError, TypeError, msgspec.ValidationError) as e:
                raise JournalCorrupted(f"{where} cannot be read: {e}", None) from e
            for name, a, b in zip(
                ("entry_price", "exit_price", "net_pnl"), stored, derived, strict=True
            ):
                if a != b:
                    raise JournalCorrupted(
                        f"{where}: {name} is {a}, but its exact columns give {b}", None
                    )
            out.append(t)
        if exits:
            seq, idx = next(iter(exits))
            raise JournalCorrupted(
                f"{self.path}: trade_exits rows for (seq {seq}, idx {idx}) belong to no trade", None
            )
        return out

    def trade_totals(self) -> TradeTotals:
        """Exact Decimal sums over the trade table (SQL SUM would use floats)."""
        ts = self.trades()
        return TradeTotals(
            trades=len(ts),
            wins=sum(1 for t in ts if t.net_pnl > 0),
            realized_pnl=sum((t.realized_pnl for t in ts), Decimal(0)),
            fees=sum((t.fees for t in ts), Decimal(0)),
            funding=sum((t.funding for t in ts), Decimal(0)),
            net_pnl=sum((t.net_pnl for t in ts), Decimal(0)),
        )

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run a read query (for reports); the journal is never written through this."""
        if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
            raise JournalError("execute() is for SELECT queries only")
        conn = self._require_conn()
        with self._conn_lock:
            return conn.execute(sql, params).fetchall()

    # ------------------------------------------------------------------ closing

    def close(self, *, discard_pending: bool = False) -> None:
        """Commit what is pending (unless ``discard_pending``) and close."""
        if self._conn is None:
            return
        if self.pending and not discard_pending:
            self.commit()
        with self._conn_lock, self._buf_lock:
            conn, self._conn = self._conn, None
            self._records, self._trades, self._exits = [], [], []
        if conn is not None:
            conn.close()
        if self._seal is not None:
            self._seal.close()
            self._seal = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> SqliteJournal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # On an exception, records of the failing step are dropped, exactly as a crash would.
        self.close(discard_pending=exc_type is not None)

    # ------------------------------------------------------------------ internals

    def _require_conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise JournalError(f"{self.path} is closed")
        return self._conn

    def _fetch(self, where: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        conn = self._require_conn()
        with self._conn_lock:
            try:
                return conn.execute(
                    f"SELECT seq, kind, ts, payload, crc FROM records {where}", params
                ).fetchall()
            except sqlite3.DatabaseError as e:
                raise JournalCorrupted(
                    f"{self.path}: SQLite cannot read records ({e})", None
                ) from e

    def _decode_row(self, row: tuple[Any, ...]) -> JournalRecord:
        seq, kind, ts, payload, crc = row
        raw = payload.encode() if isinstance(payload, str) else b""
        if not isinstance(kind, str) or crc != record_crc(seq, kind, ts, raw):
            raise JournalCorrupted(f"{self.path}: record seq {seq} fails its checksum", seq)
        try:
            k = RecordKind(kind)
            body = decode_body(k, raw)
        except (ValueError, msgspec.ValidationError) as e:
            # The checksum matched, so this was written like this: a bug or a newer writer.
            raise JournalCorrupted(
                f"{self.path}: record seq {seq} ({kind}) cannot be decoded: {e}", seq
            ) from e
        return JournalRecord(seq, k, ts, body)


_TRADE_ROW = (
    "seq, idx, trade_id, slot_id, asset, side, entry_qty, entry_cost, entry_price, exit_qty, "
    "exit_proceeds, exit_price, realized_pnl, fees, funding, net_pnl, opened_ts, closed_ts"
)
_INSERT_TRADE = f"INSERT INTO trades ({_TRADE_ROW}, crc) VALUES ({', '.join('?' * 19)})"
_INSERT_EXIT = "INSERT INTO trade_exits VALUES (?, ?, ?, ?, ?, ?)"


def _trade_crc(row: tuple[Any, ...], exits: list[tuple[Any, ...]]) -> int:
    text = "|".join("" if v is None else str(v) for v in row)
    for x in exits:
        text += "\n" + "|".join(str(v) for v in x)
    return zlib.crc32(text.encode())


def _derived_columns(t: TradeRecord) -> tuple[str | None, str | None, str]:
    """entry_price, exit_price, net_pnl as stored: averages for reports, net PnL exact."""
    entry = str(t.entry_price) if t.entry_qty else None
    exit_ = str(t.exit_price) if t.exit_qty else None
    return entry, exit_, str(t.net_pnl)


def _trade_rows(
    seq: int, records: tuple[TradeRecord, ...]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    trades: list[tuple[Any, ...]] = []
    exits: list[tuple[Any, ...]] = []
    for idx, t in enumerate(records):
        entry_price, exit_price, net_pnl = _derived_columns(t)
        mine = [
            (seq, idx, n, x.client_order_id, str(x.qty), str(x.proceeds))
            for n, x in enumerate(t.exits)
        ]
        row = (
            seq, idx, t.trade_id, t.slot_id, t.asset, t.side.value,
            str(t.entry_qty), str(t.entry_cost), entry_price,
            str(t.exit_qty), str(t.exit_proceeds), exit_price,
            str(t.realized_pnl), str(t.fees), str(t.funding), net_pnl,
            t.opened_ts, t.closed_ts,
        )  # fmt: skip
        trades.append((*row, _trade_crc(row, mine)))
        exits.extend(mine)
    return trades, exits


def repair(path: str | Path) -> RepairReport:
    """Move damaged records after the seal (never acted upon) to the ``torn`` table; a
    no-op if none.

    Raises ``JournalCorrupted`` for damage in sealed (committed) records, or
    committed records missing: those are never repaired away.
    """
    p = Path(path)
    if not p.exists():
        raise JournalError(f"no journal at {p}")
    meta = _inspect(p)
    with _WriterLock.acquire(p) as _:
        seal = _expected_seal(p, meta)
        scan = SqliteJournal._scan_readonly(p, Verify.FULL, seal, immutable=True)
    with SqliteJournal.open(p, repair_torn_tail=True) as j:
        return RepairReport(
            p, scan.torn_first, scan.last_seq if scan.torn_first else None, j.last_seq
        )
