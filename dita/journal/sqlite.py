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
and every commit writes one ``commits`` row (first_seq, last_seq). Opening a
journal checks every record (``verify="full"``, the default) or the last
commit group only (``verify="tail"``):

* bad records only inside the last commit group = a torn tail: ``TornTail``
  unless ``repair_torn_tail=True``, which moves the records from the first bad
  one on into the ``torn`` table (nothing is destroyed) and continues the
  sequence from there;
* a bad record or a sequence hole anywhere else = ``JournalCorrupted`` naming
  the seq; nothing is written.

A crash in the middle of ``commit()`` is SQLite's to handle: the partial WAL
frames are discarded on the next open and the whole group vanishes (never
durable, so never acted upon). The checksums catch what SQLite cannot see:
damaged bytes inside pages (storage without atomic sector writes, bit rot, a
stray writer). After a repair the removed seqs are handed out again; a reader
that shipped them elsewhere (the ClickHouse sink) finds them in ``torn``.

Checks that decide whether a file is a dita journal at all (SQLite header,
``application_id``, schema version) read the file without SQLite, or through a
read-only connection, so a file that is refused is left byte-identical.

Trades: every ``TradeRecord`` in a committed outcome becomes one row of
``trades`` (and its exits rows of ``trade_exits``). Money columns are TEXT
holding the exact Decimal; ``SUM(realized_pnl)`` in SQL would go through
floating point. Sum in Python (``trade_totals()``), or use the
``trades_approx`` view, whose ``*_approx`` REAL columns are for eyeballing only.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
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

SCHEMA_VERSION = 1
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
    entry_price   TEXT,              -- entry_cost / entry_qty (Decimal context precision)
    exit_qty      TEXT    NOT NULL,
    exit_proceeds TEXT    NOT NULL,
    exit_price    TEXT,
    realized_pnl  TEXT    NOT NULL,
    fees          TEXT    NOT NULL,
    funding       TEXT    NOT NULL,
    net_pnl       TEXT    NOT NULL,  -- realized_pnl - fees + funding, exact
    opened_ts     INTEGER NOT NULL,
    closed_ts     INTEGER NOT NULL,
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


# --------------------------------------------------------------------------- identification


def _inspect(path: Path) -> None:
    """Refuse a file that is not a dita journal of a schema we read. Never writes to it."""
    try:
        with path.open("rb") as f:
            header = f.read(100)
    except OSError as e:
        raise JournalError(f"cannot read journal {path}: {e}") from e
    wal = Path(f"{path}-wal")
    if not header and wal.exists() and wal.stat().st_size > 0:
        header = b""  # created but never checkpointed: only SQLite can tell
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
    if version < SCHEMA_VERSION:
        raise JournalError(
            f"{path}: journal schema version {version} is older than {SCHEMA_VERSION} "
            f"and no migration exists for it"
        )


# --------------------------------------------------------------------------- integrity scan


@dataclass(frozen=True, slots=True)
class _ScanResult:
    last_seq: int
    torn_first: int | None  # first bad seq inside the last commit group


def _scan(conn: sqlite3.Connection, path: Path, mode: Verify) -> _ScanResult:
    """Check checksums and sequence continuity; raise JournalCorrupted before the tail."""
    try:
        conn.execute("BEGIN")  # one read snapshot for the whole scan, even beside a writer
        commits = conn.execute(
            "SELECT first_seq, last_seq, crc FROM commits ORDER BY first_seq DESC LIMIT 2"
        ).fetchall()
        max_row = conn.execute("SELECT max(seq) FROM records").fetchone()
    except sqlite3.DatabaseError as e:
        raise JournalCorrupted(f"{path}: SQLite cannot read the journal: {e}", None) from e
    max_seq: int = max_row[0] or 0
    # The last commit group starts right after the commit before it; that row
    # describes durable history, so it must be intact.
    tail_start = 1
    if len(commits) == 2:
        first, last, crc = commits[1]
        if crc != _commit_crc(first, last):
            raise JournalCorrupted(
                f"{path}: commit log row for seq {first}..{last} fails its checksum", first
            )
        tail_start = last + 1
    if mode is Verify.OFF:
        return _ScanResult(max_seq, None)
    start = 1 if mode is Verify.FULL else tail_start
    expected = start
    first_bad: int | None = None
    why = ""
    try:
        cur = conn.execute(
            "SELECT seq, kind, ts, payload, crc FROM records WHERE seq >= ? ORDER BY seq", (start,)
        )
        for seq, kind, ts, payload, crc in cur:
            if seq != expected:
                first_bad, why = expected, f"records {expected}..{seq - 1} are missing"
                break
            if not (
                isinstance(payload, str)
                and isinstance(kind, str)
                and isinstance(ts, int)
                and crc == record_crc(seq, kind, ts, payload.encode())
            ):
                first_bad, why = seq, "checksum mismatch"
                break
            expected += 1
    except sqlite3.DatabaseError as e:
        first_bad, why = expected, f"SQLite cannot read it ({e})"
    if first_bad is None and commits and commits[0][1] > max_seq:
        first_bad, why = max_seq + 1, f"records {max_seq + 1}..{commits[0][1]} are missing"
    if first_bad is None:
        return _ScanResult(max_seq, None)
    if first_bad < tail_start:
        raise JournalCorrupted(
            f"{path}: record seq {first_bad} is corrupted ({why}); it lies before the last "
            f"commit group (seq {tail_start}..), so this is not a torn write. Nothing was "
            f"modified; restore the file from a copy or inspect it with sqlite3",
            first_bad,
        )
    return _ScanResult(max_seq, first_bad)


# --------------------------------------------------------------------------- writer lock


class _WriterLock:
    """One writer per journal: an advisory ``flock`` on ``<journal>.lock``.

    Two writers would hand out the same seqs. The lock dies with its process
    (a SIGKILLed engine does not block its successor). The lock file is left
    in place; it holds nothing.
    """

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, journal: Path) -> _WriterLock:
        lock_path = Path(f"{journal}.lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
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
    ) -> None:
        # Use SqliteJournal.open(); this constructor trusts its arguments.
        self.path = path
        self._lock = lock
        self.readonly = readonly
        self._conn: sqlite3.Connection | None = conn
        self._check = check_roundtrip
        self._conn_lock = threading.Lock()
        self._buf_lock = threading.Lock()
        self._last_seq = last_seq
        self._next_seq = last_seq + 1
        self._records: list[tuple[int, str, int, str, int]] = []
        self._trades: list[tuple[Any, ...]] = []
        self._exits: list[tuple[Any, ...]] = []

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
    ) -> SqliteJournal:
        """Open (or create) the journal at ``path``.

        Raises ``JournalError`` for a file that is not a dita journal or has a
        newer schema, ``JournalCorrupted`` for corruption before the last
        commit group, ``TornTail`` for a torn last group unless
        ``repair_torn_tail``. A refused file is not modified.
        ``check_roundtrip`` makes ``append`` refuse bodies that would not
        decode to themselves (see ``records.encode_body``).
        """
        p = Path(path)
        sync = Synchronous(synchronous.upper() if isinstance(synchronous, str) else synchronous)
        mode = Verify(verify)
        wal = Path(f"{p}-wal")
        exists = p.exists() and (p.stat().st_size > 0 or (wal.exists() and wal.stat().st_size > 0))
        if p.is_dir():
            raise JournalError(f"{p} is a directory, not a journal file")
        lock = None
        if exists:
            _inspect(p)
            if not readonly:
                lock = _WriterLock.acquire(p)
            try:
                # Without a WAL file nobody is writing, so the scan reads the file
                # immutable and leaves no -wal/-shm beside a file it may refuse. (For
                # a reader, a writer starting mid-scan could at worst cause a false
                # alarm, never a write.)
                scan = cls._scan_readonly(p, mode, immutable=True)
            except BaseException:
                if lock is not None:
                    lock.release()
                raise
            if scan.torn_first is not None and not (repair_torn_tail and not readonly):
                if lock is not None:
                    lock.release()
                raise TornTail(
                    f"{p}: the last commit group is torn from seq {scan.torn_first} to "
                    f"{scan.last_seq}; these records were never durable. Reopen with "
                    f"repair_torn_tail=True to move them to the 'torn' table and continue",
                    scan.torn_first,
                    scan.last_seq,
                )
        elif not create or readonly:
            raise JournalError(f"no journal at {p}")
        elif not p.parent.is_dir():
            raise JournalError(f"cannot create journal {p}: directory {p.parent} does not exist")
        else:
            lock = _WriterLock.acquire(p)

        try:
            if readonly:
                conn = sqlite3.connect(
                    _ro_uri(p), uri=True, isolation_level=None, check_same_thread=False
                )
            else:
                conn = sqlite3.connect(str(p), isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA synchronous={sync.value}")
        except sqlite3.Error as e:
            if lock is not None:
                lock.release()
            raise JournalError(f"cannot open journal {p}: {e}") from e

        try:
            if not exists:
                cls._create_schema(conn)
            elif scan.torn_first is not None:
                cls._repair(conn, scan.torn_first)
            last_seq = conn.execute("SELECT coalesce(max(seq), 0) FROM records").fetchone()[0]
        except BaseException:
            conn.close()
            if lock is not None:
                lock.release()
            raise
        return cls(p, conn, last_seq, readonly=readonly, check_roundtrip=check_roundtrip, lock=lock)

    @staticmethod
    def _scan_readonly(p: Path, mode: Verify, *, immutable: bool) -> _ScanResult:
        conn = sqlite3.connect(_ro_uri(p, inspect=immutable), uri=True, isolation_level=None)
        try:
            return _scan(conn, p, mode)
        finally:
            conn.close()

    @staticmethod
    def _create_schema(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        for stmt in _SCHEMA.split(";\n"):
            if stmt.strip():
                conn.execute(stmt)
        conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [("app", APP_NAME), ("schema_version", str(SCHEMA_VERSION))],
        )
        conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
        conn.execute("COMMIT")
        # Put the header (application_id) into the main file now, so that
        # identification never needs to read the WAL.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

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
                        conn.executemany(
                            f"INSERT INTO trades VALUES ({', '.join('?' * 18)})",
                            trades,
                        )
                        conn.executemany("INSERT INTO trade_exits VALUES (?, ?, ?, ?, ?, ?)", exits)
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

    def first(self, kind: RecordKind) -> JournalRecord | None:
        rows = self._fetch("WHERE kind = ? ORDER BY seq LIMIT 1", (kind.value,))
        return self._decode_row(rows[0]) if rows else None

    def trades(self) -> list[TradeRecord]:
        """Every finished trade, in the order they closed, exact."""
        conn = self._require_conn()
        with self._conn_lock:
            rows = conn.execute(
                f"SELECT seq, idx, {', '.join(_TRADE_COLUMNS)} FROM trades ORDER BY seq, idx"
            ).fetchall()
            exit_rows = conn.execute(
                "SELECT seq, idx, client_order_id, qty, proceeds FROM trade_exits ORDER BY seq, idx, exit_no"
            ).fetchall()
        exits: dict[tuple[int, int], list[ExitFill]] = {}
        for seq, idx, cid, qty, proceeds in exit_rows:
            exits.setdefault((seq, idx), []).append(ExitFill(cid, Decimal(qty), Decimal(proceeds)))
        out = []
        for row in rows:
            values = dict(zip(_TRADE_COLUMNS, row[2:], strict=True))
            values["exits"] = tuple(exits.get((row[0], row[1]), ()))
            out.append(msgspec.convert(values, TradeRecord, strict=False))
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


def _trade_rows(
    seq: int, records: tuple[TradeRecord, ...]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    trades: list[tuple[Any, ...]] = []
    exits: list[tuple[Any, ...]] = []
    for idx, t in enumerate(records):
        entry_price = str(t.entry_price) if t.entry_qty else None
        exit_price = str(t.exit_price) if t.exit_qty else None
        trades.append(
            (
                seq, idx, t.trade_id, t.slot_id, t.asset, t.side.value,
                str(t.entry_qty), str(t.entry_cost), entry_price,
                str(t.exit_qty), str(t.exit_proceeds), exit_price,
                str(t.realized_pnl), str(t.fees), str(t.funding), str(t.net_pnl),
                t.opened_ts, t.closed_ts,
            )
        )  # fmt: skip
        for n, x in enumerate(t.exits):
            exits.append((seq, idx, n, x.client_order_id, str(x.qty), str(x.proceeds)))
    return trades, exits


def repair(path: str | Path) -> RepairReport:
    """Remove a torn last commit group (moved to the ``torn`` table); a no-op if none.

    Raises ``JournalCorrupted`` if corruption lies before the last group.
    """
    p = Path(path)
    if not p.exists():
        raise JournalError(f"no journal at {p}")
    _inspect(p)
    with _WriterLock.acquire(p) as _:
        scan = SqliteJournal._scan_readonly(p, Verify.FULL, immutable=True)
    with SqliteJournal.open(p, repair_torn_tail=True) as j:
        return RepairReport(
            p, scan.torn_first, scan.last_seq if scan.torn_first else None, j.last_seq
        )
