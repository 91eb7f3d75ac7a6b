"""The sink: ship a SQLite journal to ClickHouse, exactly once per (kernel id, seq).

Theory of operation
-------------------
The sink never sits on the trading path. The engine writes the SQLite
journal (durable, the source of truth); the sink reads *committed* records
from it, by sequence number, and ships them in batches. If ClickHouse is
slow or down, only the sink waits: trading goes on and the sink catches up
when ClickHouse is back.

Where it got to (its *position*) lives in ClickHouse itself, never in a
second file: it is the largest ``n`` such that records ``1..n`` of the kernel
are all in ``records``. Usually that is ``max(seq)`` (checked by comparing it
with ``uniqExact(seq)``); if a crash left a later record in without an
earlier one, a binary search over ``uniqExact(seq) WHERE seq <= m`` finds the
hole and the sink resumes there. The position is derived on every
(re)connect, so after a failure whose outcome is unknown (an insert that
timed out may or may not have landed) the sink asks rather than guesses.

Exactly once: every table is a ``ReplacingMergeTree`` keyed by the row's
identity (``schema``), and every query reads with ``FINAL``. Within a batch
the derived tables are written first and ``records`` last, so the position
(read from ``records``) never passes a record whose derived rows are
missing: a batch cut anywhere is sent again, whole, and its repeated rows
collapse. Re-sent rows are byte-identical because the journal is immutable.

A kernel id names one journal. On connect the sink compares the CRC of the
record at its position with the local journal's; a mismatch (another journal
already shipped under this id, or this journal is shorter) stops it with
``KernelIdConflict`` instead of mixing two histories.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dita.journal.records import RecordKind
from dita.journal.sqlite import SqliteJournal, Verify

from . import schema
from ._conn import (
    ClickHouseError,
    ClickHouseUnavailable,
    ClientLike,
    ConfigError,
    connect,
    redact,
    resolve_dsn,
    unavailable,
)
from .rows import Batch, InputInfo, RawRecord, build_batch, input_info

log = logging.getLogger("dita.journal.clickhouse")

_KERNEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$")


class KernelIdConflict(ClickHouseError):
    """ClickHouse holds a different journal under this kernel id. Not retried."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays between attempts: ``initial * factor**n``, capped (deterministic, no jitter)."""

    initial: float = 0.5
    factor: float = 2.0
    cap: float = 30.0

    def delays(self) -> Iterator[float]:
        d = self.initial
        while True:
            yield min(d, self.cap)
            d *= self.factor


@dataclass(frozen=True, slots=True)
class PushResult:
    kernel_id: str
    resumed_after: int  # the position found in ClickHouse when the sink (last) connected
    position: int  # records 1..position of this kernel are in ClickHouse
    shipped: int  # records sent by this call (a retried batch counts each time)
    failures: int  # attempts that failed and were retried


def check_kernel_id(kernel_id: str) -> str:
    if not _KERNEL_ID.match(kernel_id):
        raise ConfigError(
            f"kernel id {kernel_id!r} must be 1-128 characters: letters, digits and ._:@/- "
            f"(starting with a letter or digit)"
        )
    return kernel_id


class ClickHouseSink:
    """Ships one SQLite journal to ClickHouse under ``kernel_id``.

    ``connect`` returns a fresh client (the seam: ``lambda: connect(dsn)``
    in production, a wrapped client in tests). ``target`` is the DSN (or a
    label): messages show it redacted, and driver errors are scrubbed of its
    secrets. ``sleep`` is how the sink waits between attempts. Not
    thread-safe: one thread drives one sink.
    """

    def __init__(
        self,
        journal: SqliteJournal,
        kernel_id: str,
        connect: Callable[[], ClientLike],
        *,
        target: str = "ClickHouse",
        database: str = schema.DEFAULT_DATABASE,
        batch_size: int = 10_000,
        create_schema: bool = True,
        backoff: Backoff = Backoff(),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        self.journal = journal
        self.kernel_id = check_kernel_id(kernel_id)
        self._target = target
        self.where = redact(target)
        self.database = schema.check_identifier(database)
        self.batch_size = batch_size
        self._connect = connect
        self._create_schema = create_schema
        self._backoff = backoff
        self._sleep = sleep
        self._client: ClientLike | None = None
        self._position: int | None = None
        self._resumed_after = 0
        self._failures = 0

    @classmethod
    def from_dsn(
        cls, journal: SqliteJournal, kernel_id: str, dsn: str | None = None, **kwargs: Any
    ) -> ClickHouseSink:
        """A sink for ``dsn`` (or ``$DITA_CLICKHOUSE_DSN``)."""
        target = resolve_dsn(dsn)
        return cls(journal, kernel_id, lambda: connect(target), target=target, **kwargs)

    # ------------------------------------------------------------------ state

    @property
    def position(self) -> int | None:
        """Records ``1..position`` are in ClickHouse (None until the sink has connected)."""
        return self._position

    def close(self) -> None:
        self._drop_client()

    def __enter__(self) -> ClickHouseSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ shipping

    def push_batch(self) -> int:
        """One attempt: connect if needed, ship the next batch; return how many records (0: caught up).

        Raises ``ClickHouseUnavailable`` (the client is dropped, the position
        forgotten and derived again on the next attempt), ``KernelIdConflict``,
        ``JournalError`` or ``rows.NotExact``.
        """
        client = self._ensure_client()
        assert self._position is not None
        raw = self._read(self._position + 1, self.batch_size)
        if not raw:
            return 0
        batch = build_batch(
            self.kernel_id,
            raw,
            path=str(self.journal.path),
            expect_first=self._position + 1,
            lookup_input=self._lookup_input,
        )
        self._insert(client, batch)
        self._position = batch.last
        return batch.records

    def catch_up(
        self,
        *,
        max_attempts: int | None = None,
        stop: Callable[[], bool] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> PushResult:
        """Ship everything committed so far, retrying with backoff while ClickHouse is unavailable.

        ``max_attempts`` bounds consecutive failed attempts (None: keep
        trying); past it, or once ``stop()`` is true, the last
        ``ClickHouseUnavailable`` is raised.
        """
        shipped = 0
        failed_in_a_row = 0
        delays = self._backoff.delays()
        while True:
            try:
                n = self.push_batch()
            except ClickHouseUnavailable as e:
                failed_in_a_row += 1
                self._failures += 1
                stopped = stop is not None and stop()
                if stopped or (max_attempts is not None and failed_in_a_row >= max_attempts):
                    log.error(
                        "kernel %s: %s after %d failed attempt(s): %s",
                        self.kernel_id, "stopping" if stopped else "giving up", failed_in_a_row, e,
                    )  # fmt: skip
                    raise
                delay = next(delays)
                log.warning(
                    "kernel %s: attempt %d failed, retrying in %.1fs: %s",
                    self.kernel_id, failed_in_a_row, delay, e,
                )  # fmt: skip
                self._sleep(delay)
                if stop is not None and stop():
                    raise
                continue
            if failed_in_a_row:
                log.info("kernel %s: %s is reachable again", self.kernel_id, self.where)
                failed_in_a_row = 0
                delays = self._backoff.delays()
            if n == 0:
                break
            shipped += n
            if progress is not None and self._position is not None:
                progress(self._position)
        assert self._position is not None
        return PushResult(
            self.kernel_id, self._resumed_after, self._position, shipped, self._failures
        )

    def follow(
        self,
        stop: Callable[[], bool],
        *,
        poll_interval: float = 1.0,
    ) -> PushResult:
        """Ship new records as the engine commits them, until ``stop()`` is true; then a last catch-up.

        Run it beside the engine (its own thread or process, its own read-only
        journal handle): it only reads the journal, so the engine never waits on it.
        While ClickHouse is down it retries with backoff until it is back or
        ``stop()``; the last catch-up makes one attempt (what it cannot ship
        now is shipped by the next run: the position is in ClickHouse).
        """
        while not stop():
            try:
                self.catch_up(stop=stop)
            except ClickHouseUnavailable:
                if stop():
                    break
                raise
            self._sleep(poll_interval)
        return self.catch_up(max_attempts=1)

    # ------------------------------------------------------------------ internals

    def _ensure_client(self) -> ClientLike:
        if self._client is not None and self._position is not None:
            return self._client
        self._drop_client()
        try:
            client = self._connect()
        except ClickHouseError:
            raise
        except Exception as e:  # a connect seam that does not translate its own errors
            raise unavailable(self._target, "cannot connect", e) from None
        try:
            if self._create_schema:
                for stmt in schema.ddl(self.database):
                    client.command(stmt)
            position = self._derive_position(client)
            self._check_identity(client, position)
        except ClickHouseError:
            _close_quietly(client)
            raise
        except Exception as e:
            _close_quietly(client)
            raise unavailable(self._target, "cannot read the sink's position", e) from None
        if position != self._position:
            log.info(
                "kernel %s: shipping %s to %s, resuming after seq %d",
                self.kernel_id, self.journal.path, self.where, position,
            )  # fmt: skip
        self._client, self._position, self._resumed_after = client, position, position
        return client

    def _drop_client(self) -> None:
        client, self._client, self._position = self._client, None, None
        if client is not None:
            _close_quietly(client)

    def _derive_position(self, client: ClientLike) -> int:
        table = f"{self.database}.records"
        params = {"k": self.kernel_id}
        top, distinct = client.query(
            f"SELECT max(seq), uniqExact(seq) FROM {table} WHERE kernel_id = {{k:String}}",
            parameters=params,
        ).result_rows[0]
        top, distinct = int(top), int(distinct)
        if top == distinct:
            return top
        # A hole: find the largest m with all of 1..m present.
        lo, hi = 0, top  # invariant: 1..lo all present; 1..hi not all present
        while hi - lo > 1:
            mid = (lo + hi) // 2
            (n,) = client.query(
                f"SELECT uniqExact(seq) FROM {table} WHERE kernel_id = {{k:String}} AND seq <= {{m:UInt64}}",
                parameters={**params, "m": mid},
            ).result_rows[0]
            if int(n) == mid:
                lo = mid
            else:
                hi = mid
        log.warning(
            "kernel %s: %s holds records up to seq %d but seq %d is missing; resending from there",
            self.kernel_id, self.where, top, lo + 1,
        )  # fmt: skip
        return lo

    def _check_identity(self, client: ClientLike, position: int) -> None:
        if position == 0:
            return
        rows = client.query(
            f"SELECT crc FROM {self.database}.records WHERE kernel_id = {{k:String}} AND seq = {{s:UInt64}} LIMIT 1",
            parameters={"k": self.kernel_id, "s": position},
        ).result_rows
        local = self.journal.execute("SELECT crc FROM records WHERE seq = ?", (position,))
        if not local:
            raise KernelIdConflict(
                f"kernel {self.kernel_id!r}: {self.where} already holds {position} records for it, "
                f"but {self.journal.path} has only {self._local_last()}; this is not the journal "
                f"that was shipped under this id (use another --kernel-id)"
            )
        if rows and int(rows[0][0]) != int(local[0][0]):
            raise KernelIdConflict(
                f"kernel {self.kernel_id!r}: record seq {position} in {self.where} differs from "
                f"seq {position} of {self.journal.path} (CRC {int(rows[0][0]):#010x} vs "
                f"{int(local[0][0]):#010x}); another journal was shipped under this id "
                f"(use another --kernel-id)"
            )

    def _local_last(self) -> int:
        rows = self.journal.execute("SELECT max(seq) FROM records")
        return int(rows[0][0] or 0)

    def _read(self, first: int, limit: int) -> list[RawRecord]:
        rows = self.journal.execute(
            "SELECT seq, kind, ts, payload, crc FROM records WHERE seq >= ? ORDER BY seq LIMIT ?",
            (first, limit),
        )
        return [RawRecord(*row) for row in rows]

    def _lookup_input(self, seq: int) -> InputInfo | None:
        rows = self._read(seq, 1)
        if not rows or rows[0].seq != seq:
            return None
        if rows[0].kind not in (RecordKind.INTENT, RecordKind.VENUE_EVENT):
            return None
        return input_info(rows[0], str(self.journal.path))

    def _insert(self, client: ClientLike, batch: Batch) -> None:
        for table in (*schema.DERIVED_TABLES, "records"):
            rows = batch.tables[table]
            if not rows:
                continue
            try:
                client.insert(
                    table,
                    rows,
                    column_names=schema.columns(table),
                    column_type_names=schema.column_types(table),
                    database=self.database,
                )
            except ClickHouseError:
                self._drop_client()
                raise
            except Exception as e:
                self._drop_client()
                raise unavailable(
                    self._target,
                    f"insert into {table} of seq {batch.first}..{batch.last} failed",
                    e,
                ) from None


def _close_quietly(client: ClientLike) -> None:
    try:
        client.close()
    except Exception as e:  # closing a broken connection may fail; nothing to do about it
        log.debug("closing a ClickHouse client failed: %s", type(e).__name__)


# --------------------------------------------------------------------------- plain functions


def open_journal(journal_path: str | Path) -> SqliteJournal:
    """The journal, read-only, beside a live engine (committed records only; tail verified)."""
    return SqliteJournal.open(journal_path, readonly=True, verify=Verify.TAIL)


def push(
    journal_path: str | Path,
    dsn: str | None,
    kernel_id: str,
    *,
    database: str = schema.DEFAULT_DATABASE,
    batch_size: int = 10_000,
    max_attempts: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PushResult:
    """Backfill (or resume) a whole SQLite journal into ClickHouse under ``kernel_id``."""
    journal = open_journal(journal_path)
    with (
        journal,
        ClickHouseSink.from_dsn(
            journal, kernel_id, dsn, database=database, batch_size=batch_size, sleep=sleep
        ) as sink,
    ):
        return sink.catch_up(max_attempts=max_attempts)


def init(dsn: str | None, *, database: str = schema.DEFAULT_DATABASE) -> list[str]:
    """Create the database and tables (idempotent); return the table names."""
    target = resolve_dsn(dsn)
    client = connect(target)
    try:
        for stmt in schema.ddl(database):
            client.command(stmt)
    except ClickHouseError:
        raise
    except Exception as e:
        raise unavailable(target, "creating the schema failed", e) from None
    finally:
        _close_quietly(client)
    log.info("ClickHouse schema ready at %s (database %s)", redact(target), database)
    return [f"{database}.{t}" for t in schema.TABLES]
