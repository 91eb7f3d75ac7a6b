"""Shared pieces for journal tests: a real kernel run, journaled the way the engine will."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal as D
from pathlib import Path

import pytest

from dita.journal import OutcomeRecord, RunMeta, SnapshotRecord, SqliteJournal
from dita.kernel import (
    Action,
    EventKind,
    Instrument,
    Kernel,
    KernelIntent,
    KernelOutcome,
    OrderType,
    Side,
    VenueEvent,
)
from dita.kernel.ids import client_order_id

BTC = Instrument("BTC-USDT", D("0.1"), D("0.001"), D("0.001"), D("5"))
ETH = Instrument("ETH-USDT", D("0.01"), D("0.01"), D("0.01"), D("5"))
RUN = RunMeta(
    slots=2,
    instruments=(BTC, ETH),
    initial_capital=D("10000"),
    policy="tests.journal:scenario",
    seed=7,
    venue="hand-written",
    params={"note": "built by hand"},
)


def cid(trade_id: str, trade_seq: int, tag: str, attempt: int = 0) -> str:
    return client_order_id("dt", trade_id, trade_seq, tag, attempt)


def ev(n: int, kind: EventKind, order: str = "", **kw: object) -> VenueEvent:
    return VenueEvent(f"ev{n}", 1_000 + n, kind, client_order_id=order, **kw)  # type: ignore[arg-type]


def enter(n: int, slot: int, trade: str, side: Side, size: str, **kw: object) -> KernelIntent:
    return KernelIntent(
        f"in{n}", 1_000 + n, slot, Action.ENTER, trade_id=trade, asset="BTC-USDT", side=side,
        size=D(size), **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def scenario() -> list[KernelIntent | VenueEvent]:
    """Two closed trades (one in two legs with partial fills, one losing), a reject,
    a refused duplicate, a cancelled resting entry and a funding payment."""
    e1, x0, x1 = cid("t1", 0, "e"), cid("t1", 0, "x0"), cid("t1", 0, "x1")
    e2 = cid("t2", 1, "e")
    e3 = cid("t3", 2, "e")
    e4, x4 = cid("t4", 3, "e"), cid("t4", 3, "x0")
    return [
        enter(1, 0, "t1", Side.LONG, "1.000", order_type=OrderType.LIMIT, limit_price=D("100"),
              exit_leg_ratios=(D("0.5"), D("0.5"))),
        ev(2, EventKind.ACK, e1, venue_order_id="v1"),
        ev(3, EventKind.PARTIAL_FILL, e1, last_qty=D("0.4"), last_price=D("100"), cum_qty=D("0.4"), fee=D("0.02")),
        ev(4, EventKind.FILL, e1, last_qty=D("0.6"), last_price=D("100"), cum_qty=D("1.0"), fee=D("0.03")),
        KernelIntent("in5", 1_005, 0, Action.EXIT, trade_id="t1", asset="BTC-USDT", reference_price=D("110")),
        ev(6, EventKind.FILL, x0, last_qty=D("0.5"), last_price=D("110"), cum_qty=D("0.5"), fee=D("0.011")),
        VenueEvent("ev7", 1_007, EventKind.FUNDING, asset="BTC-USDT", amount=D("-0.05")),
        KernelIntent("in8", 1_008, 0, Action.EXIT, trade_id="t1", asset="BTC-USDT", reference_price=D("111")),
        ev(9, EventKind.PARTIAL_FILL, x1, last_qty=D("0.2"), last_price=D("111"), cum_qty=D("0.2"), fee=D("0.004")),
        ev(10, EventKind.FILL, x1, last_qty=D("0.3"), last_price=D("112.3"), cum_qty=D("0.5"), fee=D("0.006")),
        enter(11, 1, "t2", Side.SHORT, "0.3", reference_price=D("100")),
        ev(12, EventKind.REJECT, e2, reason="insufficient margin"),
        enter(11, 1, "t2b", Side.SHORT, "0.3", reference_price=D("100")),  # duplicate intent id
        enter(14, 0, "t3", Side.LONG, "0.2", order_type=OrderType.LIMIT, limit_price=D("90")),
        ev(15, EventKind.ACK, e3, venue_order_id="v3"),
        KernelIntent("in16", 1_016, 0, Action.CANCEL, trade_id="t3", asset="BTC-USDT"),
        ev(17, EventKind.CANCEL_ACK, e3),
        enter(18, 1, "t4", Side.LONG, "0.2", reference_price=D("100")),
        ev(19, EventKind.FILL, e4, last_qty=D("0.2"), last_price=D("100.5"), cum_qty=D("0.2"), fee=D("0.01")),
        KernelIntent("in20", 1_020, 1, Action.EXIT, trade_id="t4", asset="BTC-USDT", reference_price=D("99")),
        ev(21, EventKind.FILL, x4, last_qty=D("0.2"), last_price=D("99"), cum_qty=D("0.2"), fee=D("0.01")),
    ]  # fmt: skip


@dataclass
class LiveRun:
    kernel: Kernel
    outcomes: list[KernelOutcome]
    input_seqs: list[int]


def new_kernel() -> Kernel:
    return Kernel(RUN.slots, RUN.instrument_map(), RUN.initial_capital, RUN.client_id_prefix)


def run_live(
    journal: SqliteJournal,
    inputs: list[KernelIntent | VenueEvent],
    *,
    snapshot_after: tuple[int, ...] = (),
    commit_every: int = 1,
) -> LiveRun:
    """Drive a kernel the way the engine does: journal the input, step, journal the outcome,
    commit; snapshot after the given input indexes."""
    kernel = new_kernel()
    journal.append(RUN, ts=999)
    journal.append(SnapshotRecord(0, kernel.snapshot()), ts=999)
    outcomes: list[KernelOutcome] = []
    seqs: list[int] = []
    for i, x in enumerate(inputs):
        seq = journal.append(x, ts=x.ts)
        out = kernel.process_intent(x) if isinstance(x, KernelIntent) else kernel.on_venue_event(x)
        journal.append(OutcomeRecord(seq, out), ts=x.ts)
        if i in snapshot_after:
            journal.append(SnapshotRecord(seq, kernel.snapshot()), ts=x.ts)
        if (i + 1) % commit_every == 0:
            journal.commit()
        outcomes.append(out)
        seqs.append(seq)
    journal.commit()
    return LiveRun(kernel, outcomes, seqs)


@pytest.fixture
def jpath(tmp_path: Path) -> Path:
    return tmp_path / "run.journal"
