"""Issue 9 ("Live trading survives the real world"), sequences 1-5: each one reproduced
through the real Engine, SqliteJournal and sim exchange, with the fault injected at the
venue or journal boundary. Each failed on the code before the fix (see the report).

Time never comes from sleeping: the engine's waits go through ``sleep=`` to a driven
clock (``DrivenSleep``), so a backoff of seconds costs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from dita.clock import SimClock
from dita.engine import Engine, EngineError, EngineSettings, EngineStateError
from dita.journal import SqliteJournal, replay
from dita.kernel import (
    Action,
    EventKind,
    Kernel,
    KernelIntent,
    Order,
    OrderStatus,
    OrderType,
    Side,
    TradeStage,
    VenueEvent,
)
from dita.marketdata import Trade
from dita.recovery import (
    OnMismatch,
    ReconcileSettings,
    RetryPolicy,
    TransientReadError,
)
from dita.venues.base import NotSent, OrderReport, OutcomeUnknown, PositionReport
from dita.venues.sim import SimVenue
from tests.engine.driven import DrivenSleep
from tests.engine.test_recovery import CAP, INST, META, SYM, T0, Watcher, World


def settings(**kw: object) -> ReconcileSettings:
    base: dict[str, object] = {
        "on_mismatch": OnMismatch.CONTINUE, "requery_delay_s": 0.5, "max_rounds": 4,
    }  # fmt: skip
    base.update(kw)
    return ReconcileSettings(**base)  # type: ignore[arg-type]


async def restart_driven(
    w: World, venue: SimVenue, st: ReconcileSettings
) -> tuple[Engine, asyncio.Task[object], SqliteJournal, DrivenSleep]:
    from dita.recovery import open_journal_for_recovery

    rec = open_journal_for_recovery(w.path)
    sleep = DrivenSleep(w.clock)
    engine = Engine(
        kernel=rec.kernel, venue=venue, policy=Watcher(), journal=rec.journal, clock=w.clock,
        meta=rec.meta, resume_from=rec.last_input_seq, settings=EngineSettings(reconcile=st),
        sleep=sleep,
    )  # fmt: skip
    task: asyncio.Task[object] = asyncio.create_task(engine.run())  # type: ignore[arg-type]
    await asyncio.sleep(0)
    with contextlib.suppress(EngineStateError):
        await engine.submit([])  # served once start-up reconciliation is done
    return engine, task, rec.journal, sleep


async def stop(engine: Engine, task: asyncio.Task[object], journal: SqliteJournal) -> None:
    engine.stop()
    await task
    journal.close()


# --------------------------------------------------------------------------- sequence 1


async def test_seq01_place_500_cancel_500_is_no_permanent_wedge(tmp_path: Path) -> None:
    # issue 9, sequence 1: place answered 500 (not placed), the policy cancels, the cancel
    # answered 500 too: the journal holds PENDING_CANCEL for an order the venue never had.
    # Before: REQUERY until max_rounds, then ReconcileError on this and every restart.
    w = World(tmp_path)
    order = w.enter()  # committed; the place request failed: never reached the venue
    w.intent(Action.CANCEL, trade_id="t1")
    w.pipeline.flush()  # committed; the cancel request failed as well
    w.crash()

    for _ in range(2):  # and the verdict is the same on every later restart: none needed
        engine, task, journal, _sleep = await restart_driven(
            w, SimVenue(w.exchange, start_ts=T0), settings()
        )
        assert not task.done(), task.exception() if task.done() else None
        await stop(engine, task, journal)
    with SqliteJournal.open(w.path, readonly=True, create=False) as j:
        k = replay(j)
    assert k.live_orders() == [] and k.slot(0).stage is TradeStage.IDLE
    ended = k.order(order.client_order_id)
    assert ended is None or ended.status is OrderStatus.CANCELED
    assert w.exchange.order(order.client_order_id) is None  # and it was never placed


# --------------------------------------------------------------------------- sequence 2


async def test_seq02_a_cancelled_order_is_never_resubmitted(tmp_path: Path) -> None:
    # issue 9, sequence 2: place answered 500, the policy cancels, the venue says the order
    # does not exist (CANCEL_REJECT: the kernel puts the order back to REQUESTED), and the
    # stale-order check then RESUBMITted it with the same client order id. The cancel wins.
    w = World(tmp_path)
    order = w.enter()
    w.intent(Action.CANCEL, trade_id="t1")
    w.pipeline.flush()
    rej = VenueEvent(
        "bingx:cancel-reject:1", T0, EventKind.CANCEL_REJECT, order.client_order_id,
        reason="order not exist",
    )  # fmt: skip
    assert w.pipeline.on_event(rej).accepted
    w.pipeline.flush()
    w.crash()

    engine, task, journal, _sleep = await restart_driven(
        w, SimVenue(w.exchange, start_ts=T0), settings()
    )
    assert not task.done()
    rep = engine.reconciliations[0]
    assert rep.resubmitted == []
    assert w.exchange.order(order.client_order_id) is None  # never placed
    assert engine.kernel.live_orders() == []
    await stop(engine, task, journal)


class NotSentOnce(SimVenue):
    """The first place request fails before reaching the venue (NotSent)."""

    def __init__(self, *a: object, **kw: object) -> None:
        super().__init__(*a, **kw)  # type: ignore[arg-type]
        self.places = 0
        self.gate = asyncio.Event()

    async def submit(self, order: Order) -> None:
        self.places += 1
        if self.places == 1:
            await self.gate.wait()  # the policy cancels while the first attempt fails
            raise NotSent("HTTP 503 before the venue read it")
        await super().submit(order)


async def test_seq02_the_sender_never_retries_a_submit_whose_cancel_was_requested(
    tmp_path: Path,
) -> None:
    # issue 9, sequence 2 (while running): the submit's retry after NotSent must not go
    # out once the policy has asked to cancel that order.
    w = World(tmp_path)
    w.pipeline.journal.close()  # type: ignore[union-attr]
    venue = NotSentOnce(w.exchange, start_ts=T0)
    engine, task, journal, _sleep = await restart_driven(w, venue, settings())
    (out,) = await engine.submit([_enter("live-1")])
    cid = out.commands[0].order.client_order_id
    await engine.submit([KernelIntent("live-2", T0, 0, Action.CANCEL, trade_id="t9")])
    venue.gate.set()
    for _ in range(50):
        await engine.submit([])
        if venue.places >= 1 and engine._sent == engine._released:
            break
    assert venue.places == 1  # the retry never happened
    assert w.exchange.order(cid) is None
    await stop(engine, task, journal)


def _enter(intent_id: str) -> KernelIntent:
    return KernelIntent(
        intent_id, T0, 0, Action.ENTER, trade_id="t9", asset=SYM, side=Side.LONG,
        size=Decimal("0.1"), order_type=OrderType.LIMIT, limit_price=Decimal(49_990),
    )  # fmt: skip


# --------------------------------------------------------------------------- sequence 3


class Flaky(SimVenue):
    """Read-only queries fail ``failures`` times each (HTTP 5xx) before answering."""

    def __init__(self, *a: object, failures: int = 2, **kw: object) -> None:
        super().__init__(*a, **kw)  # type: ignore[arg-type]
        self.failures = failures
        self.calls: dict[str, int] = {}

    def _flake(self, what: str) -> None:
        n = self.calls.get(what, 0) + 1
        self.calls[what] = n
        if n <= self.failures:
            raise OutcomeUnknown(f"HTTP 502 on {what}")

    async def query_order(self, order: Order) -> OrderReport | None:
        self._flake("query")
        return await super().query_order(order)

    async def positions(self) -> list[PositionReport]:
        self._flake("positions")
        return await super().positions()


async def test_seq03_transient_read_errors_are_retried_with_backoff(tmp_path: Path) -> None:
    # issue 9, sequence 3: a 5xx on a read-only query (order, positions) during
    # reconciliation was a ReconcileError. Reads are retried with backoff (the named
    # policy, timed by the engine's clock); only a contradiction stops trading.
    w = World(tmp_path)
    order = w.enter()
    w.send(order, journal_events=False)  # acked and working on the venue; journal missed it
    w.crash()
    venue = Flaky(w.exchange, start_ts=T0, failures=2)
    policy = RetryPolicy(attempts=4, first_delay_s=1.0, factor=2.0, max_delay_s=10.0)
    engine, task, journal, sleep = await restart_driven(w, venue, settings(read_retry=policy))
    assert not task.done(), task.exception() if task.done() else None
    assert venue.calls == {"query": 3, "positions": 3}
    assert sleep.waits.count(1.0) == 2 and sleep.waits.count(2.0) == 2  # backoff, per read
    assert engine.kernel.slot(0).stage is TradeStage.ENTRY_WORKING
    await stop(engine, task, journal)


async def test_seq03_a_read_that_never_recovers_fails_after_the_bounded_attempts(
    tmp_path: Path,
) -> None:
    # issue 9, sequence 3: bounded, and named as transient (supervision restarts on it)
    w = World(tmp_path)
    order = w.enter()
    w.send(order, journal_events=False)
    w.crash()
    venue = Flaky(w.exchange, start_ts=T0, failures=100)
    policy = RetryPolicy(attempts=3, first_delay_s=0.5)
    _engine, task, _journal, sleep = await restart_driven(w, venue, settings(read_retry=policy))
    with pytest.raises(TransientReadError, match="after 3 attempts"):
        await task
    assert venue.calls == {"query": 3} and sleep.waits == [0.5, 1.0]


# --------------------------------------------------------------------------- sequence 4


class FailingJournal(SqliteJournal):
    """A journal whose fsync starts failing with EIO (a dying disk)."""

    fail = False

    def commit(self) -> int:
        if self.fail:
            raise OSError(errno.EIO, "Input/output error (fsync)")
        return super().commit()


async def test_seq04_submit_raises_promptly_once_the_engine_has_failed(tmp_path: Path) -> None:
    # issue 9, sequence 4: with fsync returning EIO the engine failed, and submit() never
    # returned. It must raise with the engine's error, now and on every later call.
    ex = World(tmp_path).exchange
    journal = FailingJournal.open(tmp_path / "eio.sqlite")
    clock = SimClock(T0)
    engine = Engine(
        kernel=Kernel(1, [INST], CAP), venue=SimVenue(ex, start_ts=T0), policy=Watcher(),
        journal=journal, clock=clock, meta=META,
    )  # fmt: skip
    task = asyncio.create_task(engine.run())
    await asyncio.sleep(0)
    await engine.submit([])  # running
    journal.fail = True
    with pytest.raises(EngineError, match="Input/output error"):
        # (wait_for only bounds a regression: the answer comes without any waiting)
        await asyncio.wait_for(engine.submit([_enter("eio-1")]), 10)
    with pytest.raises(BaseException):  # noqa: B017 - the engine's own error, whatever wraps it
        await task
    with pytest.raises(EngineError, match="Input/output error"):
        await asyncio.wait_for(engine.submit([]), 1)


# --------------------------------------------------------------------------- sequence 5


class LosesFees(SimVenue):
    """A stream that lost the frames carrying the fill fees: the fills arrive recovered
    from the cumulative quantity, fee 0 (as the BingX tracker emits them after a gap).
    The venue's order query still reports the true cumulative commission."""

    async def events(self) -> AsyncIterator[VenueEvent]:
        async for ev in super().events():
            if ev.kind in (EventKind.FILL, EventKind.PARTIAL_FILL):
                ev = dataclasses.replace(ev, fee=Decimal(0))
            yield ev


async def test_seq05_a_fee_lost_in_a_stream_gap_is_recovered_from_the_venue(
    tmp_path: Path,
) -> None:
    # issue 9, sequence 5: once the order was FILLED it was never looked at again and
    # capital drifted above the venue wallet. Capital must equal the wallet exactly.
    w = World(tmp_path)
    w.pipeline.journal.close()  # type: ignore[union-attr]
    venue = LosesFees(w.exchange, start_ts=T0)
    engine, task, journal, _sleep = await restart_driven(w, venue, settings())
    (out,) = await engine.submit([_enter("fee-1")])
    cid = out.commands[0].order.client_order_id
    for _ in range(20):
        await engine.submit([])
    await venue.on_trade(Trade(SYM, T0 + 1, Decimal(49_980), Decimal("0.5")))
    wallet = w.exchange.balance().wallet
    fees = w.venue_order(cid).fees
    assert fees > 0
    for _ in range(100):
        await engine.submit([])
        if engine.kernel.account.capital == wallet:
            break
    assert engine.kernel.account.capital == wallet
    assert engine.kernel.account.fees == fees
    await stop(engine, task, journal)
    with SqliteJournal.open(w.path, readonly=True, create=False) as j:
        assert replay(j).account.capital == wallet


async def test_seq05_a_fee_lost_before_a_crash_is_recovered_at_start_up(tmp_path: Path) -> None:
    # issue 9, sequence 5 (start-up): the fill was journaled without its fee, then the
    # process died before anyone asked the venue. The resumed engine asks.
    w = World(tmp_path)
    order = w.enter()
    w.send(order, journal_events=False)
    for ev in w.trade(Decimal(49_980), Decimal("0.5")):
        if ev.kind in (EventKind.FILL, EventKind.PARTIAL_FILL):
            ev = dataclasses.replace(ev, fee=Decimal(0))
        w.pipeline.on_event(ev)
    w.pipeline.flush()
    w.crash()
    assert w.venue_order(order.client_order_id).status is OrderStatus.FILLED
    engine, task, journal, _sleep = await restart_driven(
        w, SimVenue(w.exchange, start_ts=T0), settings()
    )
    assert engine.kernel.account.capital == w.exchange.balance().wallet
    await stop(engine, task, journal)


# --------------------------------------------------------------------------- the way out


class Contradicting(SimVenue):
    """The venue reports less filled than the journal applied, the order still working."""

    async def query_order(self, order: Order) -> OrderReport | None:
        rep = await super().query_order(order)
        assert rep is not None
        return dataclasses.replace(rep, cum_qty=Decimal(0), avg_price=None)


async def test_a_contradiction_halts_naming_the_resolve_command_which_ends_the_order(
    tmp_path: Path,
) -> None:
    from dita.journal import Adjustment
    from dita.recovery import ReconcileConflict

    w = World(tmp_path)
    order = w.enter()
    w.send(order, journal_events=True)
    for ev in w.trade(Decimal(49_980), Decimal("0.03")):
        w.pipeline.on_event(ev)
    w.pipeline.flush()
    w.crash()

    venue = Contradicting(w.exchange, start_ts=T0)
    _e, task, _j, _s = await restart_driven(w, venue, settings())
    with pytest.raises(ReconcileConflict, match=r"--resolve accept") as err:
        await task
    assert "below the 0.030 already applied" in str(err.value)

    venue = Contradicting(w.exchange, start_ts=T0)
    engine, task, journal, _s = await restart_driven(w, venue, settings(resolve=True))
    assert not task.done(), task.exception() if task.done() else None
    assert engine.kernel.live_orders() == []  # ended in the journal, fills kept
    assert engine.kernel.slot(0).size == Decimal("0.030")
    # cancelled on the venue first: nothing is left working there unfollowed
    assert w.venue_order(order.client_order_id).status is OrderStatus.CANCELED
    await stop(engine, task, journal)
    with SqliteJournal.open(w.path, readonly=True, create=False) as j:
        adj = [r.body for r in j.read_from(1) if isinstance(r.body, Adjustment)]
    assert [a.subject for a in adj] == ["order"] and adj[0].action == "accepted by operator"
