"""Issue 9, the soak's stall: a cancel the policy asks for before its order's submit has
left the engine. Under load a bar batch can hold both: before, the engine dropped the
submit ("the cancel wins") but sent the cancel alone; the venue answered "order not
exist", read as a refused cancel, and the order went back to REQUESTED, looking live, so
the policy cancelled it again, forever (``bench/fault_soak.py --orders 200 --seed 1
--tick 0.01`` stalled at its 92nd exit). Now neither goes out and the order ends at once.

And a reconciliation (a stream reconnect) while a submit still waits to be sent must not
resubmit that order: its own send is still to come, and both would reach the venue.

Real Engine, SqliteJournal and sim exchange; time from a driven clock.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

from dita.clock import SimClock
from dita.engine import Engine, EngineSettings
from dita.journal import SqliteJournal, replay
from dita.journal.records import RunMeta
from dita.kernel import (
    Action,
    EventKind,
    Kernel,
    KernelIntent,
    Order,
    OrderStatus,
    OrderType,
    Side,
    VenueEvent,
)
from dita.marketdata import Trade
from dita.recovery import OnMismatch, ReconcileSettings
from dita.venues.base import StreamResumed
from dita.venues.sim import SimVenue
from dita.venues.sim.exchange import SimConfig, SimExchange
from tests.engine.driven import DrivenSleep
from tests.engine.test_recovery import CAP, INST, SYM, T0, Watcher

META2 = RunMeta(slots=2, instruments=(INST,), initial_capital=CAP, venue="sim")
SETTINGS = ReconcileSettings(on_mismatch=OnMismatch.CONTINUE, requery_delay_s=0.5, max_rounds=4)


class Counted(SimVenue):
    """Counts every submit and cancel that reaches the venue; the first submit of ``hold``
    waits for ``gate`` (the sender is busy with it while later commands queue up); ``resume()``
    says the stream came back."""

    def __init__(self, exchange: SimExchange, hold: str = "") -> None:
        super().__init__(exchange, start_ts=T0)
        self.hold = hold
        self.gate = asyncio.Event()
        self.holding = asyncio.Event()
        self.submits: Counter[str] = Counter()
        self.cancels: Counter[str] = Counter()
        self._resumed: asyncio.Queue[StreamResumed] = asyncio.Queue()

    async def submit(self, order: Order) -> None:
        if order.trade_id == self.hold and not self.holding.is_set():
            self.holding.set()  # the first submit of ``hold`` only
            await self.gate.wait()
        self.submits[order.trade_id] += 1
        await super().submit(order)

    async def cancel(self, order: Order) -> None:
        self.cancels[order.trade_id] += 1
        await super().cancel(order)

    def resume(self) -> None:
        self._resumed.put_nowait(StreamResumed(self.now, self._resumed.qsize() + 1))

    async def resumptions(self) -> AsyncIterator[StreamResumed]:
        while True:
            yield await self._resumed.get()


def exchange() -> SimExchange:
    ex = SimExchange(
        SimConfig(
            instruments=(INST,), initial_balance=CAP, funding_rate=Decimal(0),
            participation=Decimal(1),
        )
    )  # fmt: skip
    ex.on_trade(Trade(SYM, T0, Decimal(50_000), Decimal(0)))
    return ex


def enter(n: int, trade_id: str, slot: int) -> KernelIntent:
    return KernelIntent(
        f"i{n}", T0, slot, Action.ENTER, trade_id=trade_id, asset=SYM, side=Side.LONG,
        size=Decimal("0.1"), order_type=OrderType.LIMIT, limit_price=Decimal(49_990),
    )  # fmt: skip


def cancel(n: int, trade_id: str, slot: int) -> KernelIntent:
    return KernelIntent(f"i{n}", T0, slot, Action.CANCEL, trade_id=trade_id)


async def start(tmp_path: Path, venue: Counted) -> tuple[Engine, asyncio.Task[object]]:
    clock = SimClock()
    clock.set(T0)
    engine = Engine(
        kernel=Kernel(2, [INST], CAP), venue=venue, policy=Watcher(),
        journal=SqliteJournal.open(tmp_path / "journal.sqlite"), clock=clock, meta=META2,
        settings=EngineSettings(reconcile=SETTINGS), sleep=DrivenSleep(clock),
    )  # fmt: skip
    task: asyncio.Task[object] = asyncio.create_task(engine.run())  # type: ignore[arg-type]
    await asyncio.sleep(0)  # run() starts
    await engine.submit([])  # served once start-up reconciliation is done
    return engine, task


async def settle(engine: Engine) -> None:
    for _ in range(200):
        await engine.submit([])
        if engine._sent == engine._released:
            return
    raise AssertionError("the engine never settled")


def journaled_events(path: Path) -> list[VenueEvent]:
    with SqliteJournal.open(path, readonly=True, create=False) as j:
        return [r.body for r in j.read_from(1) if isinstance(r.body, VenueEvent)]


def ended_in_journal(path: Path, cid: str) -> Order | None:
    with SqliteJournal.open(path, readonly=True, create=False) as j:
        return replay(j).order(cid)


async def test_submit_and_cancel_waiting_together_send_nothing_and_end_the_order(
    tmp_path: Path,
) -> None:
    venue = Counted(exchange())
    engine, task = await start(tmp_path, venue)
    outcomes = await engine.submit([enter(1, "t1", 0), cancel(2, "t1", 0)])  # one batch
    cid = outcomes[0].commands[0].order.client_order_id
    await settle(engine)

    assert venue.submits["t1"] == 0 and venue.cancels["t1"] == 0  # nothing went out
    assert engine.kernel.live_orders() == []
    engine.stop()
    await task
    (ev,) = [e for e in journaled_events(tmp_path / "journal.sqlite") if e.client_order_id == cid]
    assert (ev.event_id, ev.kind) == (f"engine:unsent:{cid}", EventKind.CANCEL_ACK)
    ended = ended_in_journal(tmp_path / "journal.sqlite", cid)
    assert ended is None or ended.status is OrderStatus.CANCELED


async def test_a_submit_queued_behind_another_is_held_back_with_its_cancel(
    tmp_path: Path,
) -> None:
    venue = Counted(exchange(), hold="tA")
    engine, task = await start(tmp_path, venue)
    await engine.submit([enter(1, "tA", 0)])
    await venue.holding.wait()  # the sender is busy with tA's submit
    (out,) = await engine.submit([enter(2, "tB", 1)])  # tB's submit queues behind it
    cid_b = out.commands[0].order.client_order_id
    await engine.submit([cancel(3, "tB", 1)])  # and so does its cancel, in a later batch
    venue.gate.set()
    await settle(engine)

    assert venue.submits == Counter({"tA": 1})  # tB never went out ...
    assert venue.cancels["tB"] == 0  # ... and no cancel the venue would refuse
    assert [o.trade_id for o in engine.kernel.live_orders()] == ["tA"]
    engine.stop()
    await task
    ended = ended_in_journal(tmp_path / "journal.sqlite", cid_b)
    assert ended is None or ended.status is OrderStatus.CANCELED
    kinds = [
        e.kind for e in journaled_events(tmp_path / "journal.sqlite") if e.client_order_id == cid_b
    ]
    assert kinds == [EventKind.CANCEL_ACK]  # never a CANCEL_REJECT


async def test_a_reconnect_while_a_submit_waits_to_be_sent_does_not_resubmit_it(
    tmp_path: Path,
) -> None:
    venue = Counted(exchange(), hold="tA")
    engine, task = await start(tmp_path, venue)
    await engine.submit([enter(1, "tA", 0)])
    await venue.holding.wait()  # tA's submit is on its way, not yet at the venue
    await engine.submit([enter(2, "tB", 1)])  # tB's waits behind it
    venue.resume()  # the stream reconnected: the engine reconciles now
    for _ in range(50):
        await engine.submit([])
        if len(engine.reconciliations) >= 2:
            break
    assert len(engine.reconciliations) >= 2, "the reconnect was not reconciled"
    venue.gate.set()
    await settle(engine)

    assert venue.submits == Counter({"tA": 1, "tB": 1})  # each sent once, never twice
    assert engine.reconciliations[1].resubmitted == []
    assert sorted(o.trade_id for o in engine.kernel.live_orders()) == ["tA", "tB"]
    engine.stop()
    await task
