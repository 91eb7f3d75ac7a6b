"""Journals with real content, for the sink's tests and benchmark.

``write_journal`` drives a real ``Kernel`` against the scripted ``MockVenue``
and journals every step the way the engine does (input, outcome, group
commit, periodic snapshots, a ``run`` record first and an ``end`` note last).
A seeded ``random.Random`` picks what happens next: entries that fill at
once, in parts at different prices (so average prices do not terminate),
get rejected or rest and are cancelled; exits in legs, partial or rejected;
funding payments; refused intents. Same seed, same journal.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

from dita.journal.records import EngineNote, OutcomeRecord, RunMeta, SnapshotRecord
from dita.journal.sqlite import SqliteJournal, Synchronous
from dita.kernel import (
    Action,
    CancelOrder,
    Command,
    EventKind,
    Instrument,
    Kernel,
    KernelIntent,
    OrderType,
    PositionMode,
    Side,
    SubmitOrder,
    TradeStage,
    VenueEvent,
)
from dita.testing.mock_venue import Ack, Fill, Hold, MockVenue, Reject, Step

D = Decimal
INSTRUMENTS = (
    Instrument("BTC-USDT", D("0.1"), D("0.001"), D("0.001"), D("5")),
    Instrument("ETH-USDT", D("0.01"), D("0.01"), D("0.01"), D("5")),
)
_SIZES = {"BTC-USDT": ("0.010", "0.025", "0.333", "0.1"), "ETH-USDT": ("0.30", "1.00", "2.33")}
_LEGS = ((D(1),), (D("0.5"), D("0.5")), (D("0.3"), D("0.3"), D("0.4")))


def write_journal(
    path: str | Path,
    *,
    records: int,
    seed: int,
    slots: int = 4,
    initial_capital: Decimal = D("1000000"),
    commit_every: int = 256,
    snapshot_every: int = 5_000,
    synchronous: Synchronous = Synchronous.NORMAL,
) -> int:
    """Write a journal of at least ``records`` records at ``path``; return its last seq."""
    rng = random.Random(seed)
    run = RunMeta(
        slots=slots, instruments=INSTRUMENTS, initial_capital=initial_capital,
        policy="dita.testing.synthetic_journals", seed=seed, venue="mock",
        params={"records": records},
        position_mode=PositionMode.HEDGE,  # the mock venue keeps no net position
    )  # fmt: skip
    kernel = Kernel(
        run.slots,
        run.instrument_map(),
        run.initial_capital,
        run.client_id_prefix,
        run.position_mode,
    )
    marks = {"BTC-USDT": D("50000.0"), "ETH-USDT": D("3000.00")}
    venue = MockVenue(INSTRUMENTS, mark_prices=marks)
    ts = 1_700_000_000_000
    n = 0
    bars = 0
    last_input = 0
    inputs_since_snapshot = 0
    pending: deque[KernelIntent | VenueEvent] = deque()

    with SqliteJournal.open(path, synchronous=synchronous, check_roundtrip=False) as journal:
        journal.append(run, ts=ts)
        journal.append(SnapshotRecord(0, kernel.snapshot()), ts=ts)

        def step(x: KernelIntent | VenueEvent) -> None:
            nonlocal last_input, inputs_since_snapshot
            seq = journal.append(x, ts=ts)
            out = (
                kernel.process_intent(x)
                if isinstance(x, KernelIntent)
                else kernel.on_venue_event(x)
            )
            journal.append(OutcomeRecord(seq, out), ts=ts)
            last_input = seq
            inputs_since_snapshot += 1
            venue.ts = ts
            pending.extend(_send(venue, out.commands))

        while journal.appended_seq < records:
            ts += 60_000
            bars += 1
            for asset, inst in zip(marks, INSTRUMENTS, strict=True):
                marks[asset] = max(
                    inst.tick_size * 100, marks[asset] + inst.tick_size * rng.randint(-30, 30)
                )
                venue.set_mark(asset, marks[asset])
            n += 1
            slot = rng.randrange(slots)
            view = kernel.slot(slot)
            roll = rng.random()
            intent: KernelIntent | VenueEvent | None = None
            if roll < 0.03:
                asset = rng.choice(list(marks))
                intent = VenueEvent(f"fund-{n}", ts, EventKind.FUNDING, asset=asset,
                                    amount=D(rng.randint(-500, 300)) / 100)  # fmt: skip
            elif roll < 0.05:
                intent = KernelIntent(f"bad-{n}", ts, slot, Action.ENTER, trade_id=f"x{n}",
                                      asset="BTC-USDT", side=Side.LONG, size=D(-1))  # fmt: skip
            elif view.stage in (TradeStage.IDLE, TradeStage.CLOSED):
                intent = _entry(rng, venue, marks, n, ts, slot)
            elif view.stage is TradeStage.POSITION_OPEN:
                venue.set_script(
                    "exit",
                    rng.choice([[Ack(), Fill()], [Fill(D("0.5")), Fill()], [Reject("reduce only")],
                                [Ack(), Fill(D("0.4")), Hold()], [Fill()]]),
                )  # fmt: skip
                intent = KernelIntent(f"in-{n}", ts, slot, Action.EXIT, trade_id=view.trade_id,
                                      asset=view.asset, reference_price=marks[view.asset])  # fmt: skip
            else:
                order = view.active_exit_order or view.active_entry_order
                if order is not None and rng.random() < 0.5 and order.status.is_live:
                    pending.extend(venue.release(order.client_order_id))
                else:
                    intent = KernelIntent(f"in-{n}", ts, slot, Action.CANCEL, trade_id=view.trade_id,
                                          asset=view.asset)  # fmt: skip
            if intent is not None:
                step(intent)
            while pending:
                step(pending.popleft())
            if n % commit_every == 0:
                journal.commit()
            if inputs_since_snapshot >= snapshot_every:
                journal.append(SnapshotRecord(last_input, kernel.snapshot()), ts=ts)
                inputs_since_snapshot = 0
        journal.append(EngineNote("end", "synthetic run finished", {"bars": bars}), ts=ts)
        journal.commit()
        return journal.last_seq


def _entry(
    rng: random.Random, venue: MockVenue, marks: dict[str, Decimal], n: int, ts: int, slot: int
) -> KernelIntent:
    """A random ENTER on a free slot, with a random venue script for its entry order."""
    asset = rng.choice(list(marks))
    size = D(rng.choice(_SIZES[asset]))
    mark = marks[asset]
    tick = INSTRUMENTS[0].tick_size if asset == "BTC-USDT" else INSTRUMENTS[1].tick_size
    scripts: list[list[Step]] = [
        [Ack(), Fill()],
        [Fill()],
        [Ack(), Fill(D("0.3"), price=mark), Fill(price=mark + tick)],
        [Ack(), Fill(D("0.333"), price=mark - tick), Fill(price=mark + tick * 2)],
        [Reject("insufficient margin")],
        [Ack(), Hold()],
        [Ack(), Fill(D("0.5"), price=mark), Hold()],
    ]
    venue.set_script("entry", rng.choice(scripts))
    limit = rng.random() < 0.4
    return KernelIntent(
        f"in-{n}", ts, slot, Action.ENTER, trade_id=f"t{n}", asset=asset,
        side=rng.choice((Side.LONG, Side.SHORT)), size=size,
        order_type=OrderType.LIMIT if limit else OrderType.MARKET,
        limit_price=mark if limit else None,
        exit_leg_ratios=rng.choice(_LEGS), reference_price=None if limit else mark,
    )  # fmt: skip


def _send(venue: MockVenue, commands: Iterable[Command]) -> list[VenueEvent]:
    """The mock venue's answers to a step's commands, in order."""
    answers: list[VenueEvent] = []
    for c in commands:
        match c:
            case SubmitOrder(order=o):
                answers.extend(venue.on_submit(o))
            case CancelOrder(order=o):
                answers.extend(venue.on_cancel(o))
    return answers
