"""The default run (demo policy, bundled data, sim venue), judged from its journal."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

from dita.journal import OutcomeRecord, RecordKind, SnapshotRecord, SqliteJournal, replay
from dita.kernel import EventKind, KernelIntent, VenueEvent
from dita.reporting.runstats import stats_from_journal

from .conftest import DemoRun, demo_run

_TAG = re.compile(r"^[a-z0-9]+-[0-9a-f]{10}-[0-9]+-([a-z][0-9]*)-[0-9]+$")


def _tag(cid: str) -> str:
    m = _TAG.match(cid)
    assert m, cid
    return m.group(1)


def _applied_events(journal: SqliteJournal) -> list[VenueEvent]:
    """Venue events the kernel accepted, in journal order."""
    pending: dict[int, VenueEvent] = {}
    out: list[VenueEvent] = []
    for rec in journal.read_from(1):
        if isinstance(rec.body, VenueEvent):
            pending[rec.seq] = rec.body
        elif isinstance(rec.body, OutcomeRecord):
            ev = pending.pop(rec.body.input_seq, None)
            if ev is not None and rec.body.outcome.accepted:
                out.append(ev)
    return out


def test_demo_run_has_partial_fills_of_entries(demo_journal: SqliteJournal) -> None:
    events = _applied_events(demo_journal)
    partial_entries = [
        e for e in events if e.kind is EventKind.PARTIAL_FILL and _tag(e.client_order_id) == "e"
    ]
    assert len(partial_entries) >= 5
    # an order that filled partially went on to fill more (the participation limit split it)
    cids = {e.client_order_id for e in partial_entries}
    later = [
        e
        for e in events
        if e.client_order_id in cids and e.kind in (EventKind.FILL, EventKind.PARTIAL_FILL)
    ]
    assert len(later) > len(partial_entries)


def test_demo_run_cancels_resting_entries(demo_journal: SqliteJournal) -> None:
    events = _applied_events(demo_journal)
    acked: set[str] = {e.client_order_id for e in events if e.kind is EventKind.ACK}
    entry_cancels = [
        e for e in events if e.kind is EventKind.CANCEL_ACK and _tag(e.client_order_id) == "e"
    ]
    assert len(entry_cancels) >= 5
    # they were resting on the venue (acked) when cancelled
    assert all(e.client_order_id in acked for e in entry_cancels)
    # some of them had partly filled: the slot kept what filled and exited it later
    partly = [e for e in entry_cancels if e.cum_qty and e.cum_qty > 0]
    assert partly, "no cancel of a partly filled entry in the demo run"
    intents = [r.body for r in demo_journal.read_from(1) if isinstance(r.body, KernelIntent)]
    assert any(i.reason == "stale entry" for i in intents)


def test_demo_run_exits_in_two_legs(demo_journal: SqliteJournal) -> None:
    trades = demo_journal.trades()
    assert len(trades) >= 20
    two_legs = [t for t in trades if [_tag(x.client_order_id) for x in t.exits] == ["x0", "x1"]]
    assert len(two_legs) >= 0.9 * len(trades)
    for t in two_legs:
        assert sum((x.qty for x in t.exits), Decimal(0)) == t.entry_qty == t.exit_qty
        assert t.exits[0].qty > 0 and t.exits[1].qty > 0
    rows = demo_journal.execute(
        "SELECT COUNT(*) FROM (SELECT seq, idx FROM trade_exits GROUP BY seq, idx HAVING COUNT(*) = 2)"
    )
    assert rows[0][0] == len(two_legs)


def test_final_capital_is_initial_plus_trade_pnl_minus_fees_exactly(
    demo: DemoRun, demo_journal: SqliteJournal
) -> None:
    kernel = demo.result.kernel
    acct = kernel.account
    trades = demo_journal.trades()
    closed = sum((t.realized_pnl - t.fees + t.funding for t in trades), Decimal(0))
    # trades still open at the end of the data have settled partial exits, fees and funding too
    still_open = sum(
        (
            s.realized_pnl - s.fees + s.funding
            for s in (kernel.slot(i) for i in range(kernel.slot_count))
        ),
        Decimal(0),
    )
    assert acct.capital == acct.initial_capital + closed + still_open
    assert acct.capital == acct.initial_capital + acct.realized_pnl - acct.fees + acct.funding
    assert demo.result.stats.capital == acct.capital
    assert demo.result.stats.trade_net_pnl == closed
    # and the journal's own sums agree with the kernel to the last digit
    totals = demo_journal.trade_totals()
    assert totals.net_pnl == closed
    assert totals.fees == sum((t.fees for t in trades), Decimal(0))


def test_replay_reproduces_the_final_snapshot_exactly(
    demo: DemoRun, demo_journal: SqliteJournal
) -> None:
    rebuilt = replay(demo_journal, from_snapshot=False)
    final = demo_journal.latest(RecordKind.SNAPSHOT)
    assert final is not None and isinstance(final.body, SnapshotRecord)
    live = demo.result.kernel.snapshot()
    assert rebuilt.snapshot() == live == final.body.state
    assert replay(demo_journal, from_snapshot=True).snapshot() == live


def test_stats_recomputed_from_the_journal_equal_the_live_ones(
    demo: DemoRun, demo_journal: SqliteJournal
) -> None:
    _, stats = stats_from_journal(demo_journal)
    assert stats == demo.result.stats


def _trade_table(path: Path) -> bytes:
    with SqliteJournal.open(path, readonly=True, create=False) as j:
        rows = j.execute("SELECT * FROM trades ORDER BY seq, idx")
        exits = j.execute("SELECT * FROM trade_exits ORDER BY seq, idx, exit_no")
    return repr((rows, exits)).encode()


def _records(path: Path) -> bytes:
    with SqliteJournal.open(path, readonly=True, create=False) as j:
        return repr(
            j.execute("SELECT seq, kind, ts, payload, crc FROM records ORDER BY seq")
        ).encode()


def test_same_seed_gives_a_byte_identical_trade_table_and_journal(
    demo: DemoRun, tmp_path: Path
) -> None:
    again = tmp_path / "again.sqlite"
    demo_run(again, seed=7)
    assert _trade_table(again) == _trade_table(demo.journal_path)
    assert _records(again) == _records(demo.journal_path)


def test_another_seed_gives_another_trade_table(demo: DemoRun, tmp_path: Path) -> None:
    # the seed reaches the simulator (slippage draws): the byte-identity above is not vacuous
    other = tmp_path / "other.sqlite"
    demo_run(other, seed=8)
    assert _trade_table(other) != _trade_table(demo.journal_path)


def test_running_without_a_journal_changes_nothing_but_the_journal(demo: DemoRun) -> None:
    bare = demo_run(None)
    assert bare.stats == demo.result.stats
    assert bare.kernel.snapshot() == demo.result.kernel.snapshot()


def test_demo_run_has_cancels_that_lose_the_race_against_a_fill(
    demo_journal: SqliteJournal,
) -> None:
    # with 50 ms latency a cancel sent at a bar's close can arrive after the next bar filled
    # the order: the venue answers CANCEL_REJECT, the kernel keeps the fill (money that moved)
    events: dict[int, VenueEvent] = {}
    fills: dict[str, list[VenueEvent]] = {}
    lost = []
    for rec in demo_journal.read_from(1):
        body = rec.body
        if isinstance(body, VenueEvent):
            events[rec.seq] = body
        elif isinstance(body, OutcomeRecord) and body.input_seq in events:
            ev = events.pop(body.input_seq)
            if ev.kind in (EventKind.FILL, EventKind.PARTIAL_FILL) and body.outcome.accepted:
                fills.setdefault(ev.client_order_id, []).append(ev)
            if ev.kind is EventKind.CANCEL_REJECT:
                assert body.outcome.accepted
                assert body.outcome.diagnostic_code.value == "CANCEL_REJECT_ALREADY_DONE"
                lost.append(ev)
    assert len(lost) >= 3
    for ev in lost:
        filled = fills.get(ev.client_order_id, [])
        assert filled and filled[-1].kind is EventKind.FILL, ev
