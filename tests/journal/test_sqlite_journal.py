"""The SQLite journal's contract: gap-free seq, group commit, durability, exact trade table."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from decimal import Decimal as D
from pathlib import Path

import pytest

from dita.journal import (
    EngineNote,
    JournalError,
    RecordKind,
    SqliteJournal,
    Synchronous,
)
from dita.kernel import EventKind, KernelIntent, VenueEvent

from .conftest import RUN, run_live, scenario


def note(i: int) -> EngineNote:
    return EngineNote("tick", f"note {i}", {"i": i})


def test_seq_is_gap_free_and_monotone_across_reopen(jpath: Path) -> None:
    with SqliteJournal.open(jpath) as j:
        assert j.last_seq == 0
        assert [j.append(note(i), ts=i) for i in range(3)] == [1, 2, 3]
        assert j.last_seq == 0, "nothing is durable before commit"
        assert j.commit() == 3
        assert j.append(note(3), ts=3) == 4
    with SqliteJournal.open(jpath) as j:
        assert j.last_seq == 4  # close() committed the pending record
        assert j.append(note(4), ts=4) == 5
        j.commit()
        seqs = [r.seq for r in j.read_from(1)]
    assert seqs == [1, 2, 3, 4, 5]


def test_uncommitted_records_are_gone_after_a_crash_and_their_seqs_are_reused(jpath: Path) -> None:
    j = SqliteJournal.open(jpath)
    j.append(note(0), ts=0)
    j.commit()
    j.append(note(1), ts=1)  # never committed: the process "dies" here
    j.close(discard_pending=True)
    with SqliteJournal.open(jpath) as j2:
        assert j2.last_seq == 1
        assert j2.append(note(2), ts=2) == 2
        j2.commit()
        assert [r.body for r in j2.read_from(1)] == [note(0), note(2)]


def test_exception_inside_the_context_manager_drops_the_uncommitted_group(jpath: Path) -> None:
    with pytest.raises(RuntimeError), SqliteJournal.open(jpath) as j:
        j.append(note(0), ts=0)
        raise RuntimeError("engine failed mid-step")
    with SqliteJournal.open(jpath) as j:
        assert j.last_seq == 0


def test_a_thousand_appends_in_one_commit_are_one_group(jpath: Path) -> None:
    with SqliteJournal.open(jpath) as j:
        j.append(RUN, ts=0)
        j.commit()
        for i in range(1000):
            j.append(VenueEvent(f"e{i}", i, EventKind.ACK, client_order_id=f"c{i}"), ts=i)
        assert j.pending == 1000
        assert j.commit() == 1001
        assert j.pending == 0
        assert j.execute("SELECT first_seq, last_seq FROM commits ORDER BY first_seq") == [
            (1, 1),
            (2, 1001),
        ]
        bodies = [r.body for r in j.read_from(2)]
    assert len(bodies) == 1000
    assert [b.event_id for b in bodies if isinstance(b, VenueEvent)] == [
        f"e{i}" for i in range(1000)
    ]


def test_read_from_pages_and_limits(jpath: Path) -> None:
    with SqliteJournal.open(jpath) as j:
        for i in range(2500):
            j.append(note(i), ts=i)
        j.commit()
        assert [r.seq for r in j.read_from(2400, limit=5)] == [2400, 2401, 2402, 2403, 2404]
        assert len(list(j.read_from(1))) == 2500  # crosses read batches
        assert list(j.read_from(2501)) == []
        assert [r.seq for r in j.read_from(0, limit=2)] == [1, 2]


def test_readonly_reader_sees_commits_of_a_live_writer(jpath: Path) -> None:
    # The ClickHouse sink reads beside the engine from its own connection.
    with SqliteJournal.open(jpath) as w:
        w.append(note(0), ts=0)
        w.commit()
        with SqliteJournal.open(jpath, readonly=True) as r:
            assert [x.seq for x in r.read_from(1)] == [1]
            w.append(note(1), ts=1)
            assert [x.seq for x in r.read_from(2)] == []  # not committed yet
            w.commit()
            assert [x.seq for x in r.read_from(2)] == [2]
            with pytest.raises(JournalError, match="read-only"):
                r.append(note(9), ts=9)


@pytest.mark.parametrize("sync", list(Synchronous))
def test_synchronous_mode_is_applied(jpath: Path, sync: Synchronous) -> None:
    with SqliteJournal.open(jpath, synchronous=sync) as j:
        conn = j._conn
        assert conn is not None
        level = conn.execute("PRAGMA synchronous").fetchone()[0]
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert (mode, level) == ("wal", {"OFF": 0, "NORMAL": 1, "FULL": 2}[sync.value])


def test_failed_commit_keeps_records_buffered_and_retry_succeeds(jpath: Path) -> None:
    with SqliteJournal.open(jpath) as j:
        j.append(note(0), ts=0)
        j.commit()
        j.append(note(1), ts=1)
        # Another process holds the write lock: the commit cannot happen.
        other = sqlite3.connect(jpath, timeout=0.1, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        conn = j._conn
        assert conn is not None
        conn.execute("PRAGMA busy_timeout=50")
        with pytest.raises(JournalError, match=r"commit of seq 2\.\.2 failed"):
            j.commit()
        assert j.pending == 1
        assert j.last_seq == 1
        other.execute("ROLLBACK")
        other.close()
        assert j.commit() == 2
        assert [r.body for r in j.read_from(1)] == [note(0), note(1)]


async def test_acommit_runs_in_a_thread_while_the_loop_keeps_appending(jpath: Path) -> None:
    with SqliteJournal.open(jpath) as j:
        loop_thread = threading.get_ident()
        seen: list[int] = []

        async def appender() -> None:
            for i in range(500):
                j.append(note(i), ts=i)
                if i % 50 == 49:
                    seen.append(await j.acommit())
                await asyncio.sleep(0)

        async with asyncio.TaskGroup() as tg:
            tg.create_task(appender())
            tg.create_task(appender())
        assert threading.get_ident() == loop_thread
        assert j.commit() == 1000
        assert seen == sorted(seen)
        assert [r.seq for r in j.read_from(1)] == list(range(1, 1001))


def test_trade_table_is_queryable_and_exact(jpath: Path) -> None:
    with SqliteJournal.open(jpath) as j:
        live = run_live(j, scenario())
        closed = [t for o in live.outcomes for t in o.trade_records]
        assert [t.trade_id for t in closed] == ["t1", "t4"]
        assert j.trades() == closed
        rows = j.execute(
            "SELECT trade_id, side, entry_qty, exit_qty, realized_pnl, fees, funding, net_pnl "
            "FROM trades ORDER BY closed_ts"
        )
        exits = j.execute(
            "SELECT trade_id, exit_no, qty FROM trade_exits JOIN trades USING (seq, idx)"
        )
        totals = j.trade_totals()
        approx = j.execute("SELECT sum(net_pnl_approx) FROM trades_approx")[0][0]
    t1, t4 = closed
    assert rows[0] == ("t1", "LONG", str(t1.entry_qty), str(t1.exit_qty), str(t1.realized_pnl),
                       str(t1.fees), str(t1.funding), str(t1.net_pnl))  # fmt: skip
    assert [e[0] for e in exits] == ["t1", "t1", "t4"]
    # Exact: the journal's sums are the kernel's, to the last digit.
    assert totals.trades == 2
    assert totals.realized_pnl == t1.realized_pnl + t4.realized_pnl
    assert totals.net_pnl == t1.net_pnl + t4.net_pnl
    assert totals.wins == 1
    # Every trade closed, so the kernel's ledger is exactly the trade table's sums.
    acct = live.kernel.account
    assert (acct.realized_pnl, acct.fees, acct.funding) == (
        totals.realized_pnl,
        totals.fees,
        totals.funding,
    )
    assert acct.capital == acct.initial_capital + totals.net_pnl
    assert approx == pytest.approx(float(totals.net_pnl))


def test_trade_rows_of_an_uncommitted_outcome_do_not_exist(jpath: Path) -> None:
    with SqliteJournal.open(jpath) as j:
        run_live(j, scenario()[:9])  # t1 still open
        assert j.trades() == []


def test_only_select_queries_go_through_execute(jpath: Path) -> None:
    with SqliteJournal.open(jpath) as j, pytest.raises(JournalError, match="SELECT"):
        j.execute("DELETE FROM records")


def test_missing_journal_without_create_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="no journal at"):
        SqliteJournal.open(tmp_path / "absent.journal", create=False)
    assert not (tmp_path / "absent.journal").exists()


def test_latest_and_first_by_kind(jpath: Path) -> None:
    with SqliteJournal.open(jpath) as j:
        run_live(j, scenario()[:4], snapshot_after=(1, 3))
        run_rec = j.first(RecordKind.RUN)
        snap = j.latest(RecordKind.SNAPSHOT)
        intent = j.latest(RecordKind.INTENT)
    assert run_rec is not None and run_rec.seq == 1 and run_rec.body == RUN
    assert snap is not None and snap.seq == j.last_seq
    assert intent is not None and isinstance(intent.body, KernelIntent)
    assert intent.body.size == D("1.000")


def test_records_of_a_kind_are_exactly_those_in_seq_order(jpath: Path) -> None:
    with SqliteJournal.open(jpath) as j:
        run_live(j, scenario(), snapshot_after=(1, 3))
        every = list(j.read_from(1))
        for kind in RecordKind:
            assert j.records_of(kind) == [r for r in every if r.kind is kind]
        assert [r.seq for r in j.records_of(RecordKind.SNAPSHOT)] == sorted(
            r.seq for r in every if r.kind is RecordKind.SNAPSHOT
        )
        assert sum(len(j.records_of(kind)) > 1 for kind in RecordKind) >= 2


def test_a_second_writer_is_refused_until_the_first_closes(jpath: Path) -> None:
    # Two writers would hand out the same seqs.
    first = SqliteJournal.open(jpath)
    with pytest.raises(JournalError, match="open for writing by another process"):
        SqliteJournal.open(jpath)
    with SqliteJournal.open(jpath, readonly=True) as reader:  # readers are always welcome
        assert reader.last_seq == 0
    first.close()
    with SqliteJournal.open(jpath) as second:
        assert second.append(note(0), ts=0) == 1


def test_a_directory_is_not_a_journal(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="is a directory"):
        SqliteJournal.open(tmp_path)
