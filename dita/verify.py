"""Verify a journal: rebuild the kernel from its inputs and check it against what was stored.

Used by ``dita replay``. Checks, in order: every record's checksum (on
open), every re-run outcome against its ``outcome`` record and every
``snapshot`` record against the rebuilt kernel (``dita.journal.replay``),
the final snapshot against the rebuilt kernel, the ``trades`` table (each
row checksummed, its derived columns recomputed) against the trade records
inside the outcomes, and the capital identity
``capital == initial + realized PnL - fees + funding``, exactly, in the
money context (``dita.kernel.money``). Everything is read in one read
transaction, so a writer beside it cannot produce a false mismatch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dita.journal import (
    EngineNote,
    JournalError,
    OutcomeRecord,
    RecordKind,
    RunMeta,
    SnapshotRecord,
    SqliteJournal,
    replay,
)
from dita.kernel import Kernel, TradeRecord, TradeStage
from dita.kernel.money import money
from dita.reporting.runstats import RunStats, stats_from_journal


class VerifyError(JournalError):
    """The journal reads, but what it says does not add up. One line per problem."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


@dataclass(frozen=True)
class Verified:
    meta: RunMeta
    stats: RunStats
    kernel: Kernel
    trades: list[TradeRecord]
    open_slots: int
    records: int
    finished: bool


def open_journal(path: Path) -> SqliteJournal:
    """Open an existing journal read-only (checksums verified); never creates or modifies it."""
    if not path.exists():
        raise JournalError(f"{path}: no such journal")
    if path.is_dir():
        raise JournalError(f"{path}: is a directory, not a journal file")
    side = [Path(f"{path}-wal"), Path(f"{path}-shm")]
    existed = [p.exists() for p in side]
    try:
        # one read transaction: a writer committing beside us cannot make the
        # records, snapshots and trades we read come from different moments
        return SqliteJournal.open(path, readonly=True, create=False, snapshot=True)
    except JournalError:
        # SQLite may leave an empty -wal (and an -shm index) next to a WAL-mode
        # file it read and refused; a refused journal must be left as it was.
        for p, was_there in zip(side, existed, strict=True):
            if not was_there and p.exists() and (p.name.endswith("-shm") or p.stat().st_size == 0):
                p.unlink()
        raise


def verify_journal(path: Path, *, progress: Callable[[int, int], None] | None = None) -> Verified:
    """``progress(done, total)``: records read so far over the three passes (replay, stats,
    trades), for a progress bar."""
    with open_journal(path) as journal:
        n = journal.last_seq

        def phase(k: int) -> Callable[[int], None] | None:
            return None if progress is None else (lambda seq: progress(k * n + seq, 3 * n))

        kernel = replay(journal, from_snapshot=False, progress=phase(0))
        with money():  # outcome deltas summed at the kernel's precision, not Python's 28
            meta, stats = stats_from_journal(journal, progress=phase(1))
        problems: list[str] = []

        # A finished run ends with an "end" note and a final snapshot; a run that
        # was interrupted has neither, and is checked up to its last commit.
        end = journal.latest(RecordKind.NOTE)
        finished = end is not None and isinstance(end.body, EngineNote) and end.body.topic == "end"
        last_snap = journal.latest(RecordKind.SNAPSHOT)
        if finished:
            assert end is not None
            if last_snap is None or last_snap.seq < end.seq:
                problems.append(f"the run ended (seq {end.seq}) without a final snapshot")
            elif (
                not isinstance(last_snap.body, SnapshotRecord)
                or last_snap.body.state != kernel.snapshot()
            ):
                problems.append(
                    f"final snapshot (seq {last_snap.seq}) differs from the replayed kernel"
                )

        in_outcomes: list[TradeRecord] = []
        tick = phase(2)
        for rec in journal.read_from(1):
            if tick is not None and rec.seq % 5000 == 0:
                tick(rec.seq)
            if isinstance(rec.body, OutcomeRecord):
                in_outcomes.extend(rec.body.outcome.trade_records)
        table = journal.trades()
        if table != in_outcomes:
            problems.append(
                f"trades table ({len(table)} rows) differs from the trade records in the outcomes "
                f"({len(in_outcomes)})"
            )

        acct = kernel.account
        with money():  # the kernel's own precision: a check at another one reports rounding
            identity = acct.initial_capital + acct.realized_pnl - acct.fees + acct.funding
        if acct.capital != identity:
            problems.append(
                f"capital {acct.capital} != initial + realized - fees + funding = {identity}"
            )
        if stats.capital != acct.capital:
            problems.append(
                f"capital from outcome deltas {stats.capital} != replayed capital {acct.capital}"
            )
        problems.extend(f"kernel invariant: {p}" for p in kernel.check_invariants())
        if problems:
            raise VerifyError(path, problems)
        open_slots = sum(
            1
            for i in range(kernel.slot_count)
            if kernel.slot(i).stage not in (TradeStage.IDLE, TradeStage.CLOSED)
        )
        return Verified(meta, stats, kernel, table, open_slots, journal.last_seq, finished)
