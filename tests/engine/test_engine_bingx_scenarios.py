"""Issue 4's end-to-end scenarios through the real ``Engine`` against the BingX emulator.

The same scenarios as ``tests/venues/bingx/test_bingx_kernel_e2e.py``, but instead
of a hand-written loop the real engine drives the kernel: intents come in through
``Engine.submit``, venue events through its pump, commands leave through its sender
after the durable ``SqliteJournal`` committed them, and outcome-unknown submits are
settled by its reconciliation watch (query by client order id). The real
``BingxVenue`` talks to the loopback ``BingxEmulator`` over HTTP and WebSocket.

After every scenario the kernel's position and capital equal the emulator's own
account exactly (no epsilon), and replaying the journal gives the final kernel.
Waits are bounded: ``until`` awaits a predicate on engine/kernel/emulator state
with a timeout, and fails naming what it waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from dita.clock import LiveClock
from dita.engine import Engine, EngineSettings, EngineState
from dita.journal import RunMeta, SqliteJournal, replay
from dita.kernel import Kernel
from dita.kernel.model import (
    Action,
    CancelOrder,
    KernelDiagnosticCode,
    KernelIntent,
    KernelOutcome,
    Order,
    OrderStatus,
    OrderType,
    Side,
    SubmitOrder,
    TradeStage,
)
from dita.policy import NullPolicy
from dita.recovery import ReconcileSettings
from dita.venues.bingx import BingxConfig, BingxVenue, Credentials, Endpoints
from dita.venues.bingx.venue import ORDER, POSITIONS
from dita.venues.bingx_emulator import BingxEmulator
from tests import loopback
from tests.venues.bingx.conftest import API_KEY, API_SECRET

D = Decimal
SYMBOL = "BTC-USDT"
CAPITAL = D(10_000)
START_PRICE = D("60000.0")
FREE = (TradeStage.IDLE, TradeStage.CLOSED)
# fast watch, so an outcome-unknown submit is queried within a fraction of a second
RECONCILE = ReconcileSettings(stale_after_s=0.3, check_every_s=0.05, requery_delay_s=0.05)


@dataclass
class Harness:
    """A running engine (real kernel, journal, BingxVenue) against a running emulator."""

    emu: BingxEmulator
    venue: BingxVenue
    engine: Engine
    journal_path: Path
    task: asyncio.Task[Any]
    sleeps: list[float] = field(default_factory=list)
    n: int = 0
    trade_n: int = 0

    @property
    def kernel(self) -> Kernel:
        return self.engine.kernel

    @property
    def stage(self) -> TradeStage:
        return self.kernel.slot(0).stage

    @property
    def size(self) -> Decimal:
        return self.kernel.slot(0).size

    async def until(self, pred: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
        """Wait (bounded) until ``pred()`` holds; fail if the engine died or time ran out."""
        try:
            async with asyncio.timeout(timeout):
                while not pred():
                    if self.task.done():
                        self.task.result()  # raises the engine's error, if any
                        pytest.fail(f"engine ended while waiting for {what}")
                    await asyncio.sleep(0.01)
        except TimeoutError:
            pytest.fail(
                f"timed out after {timeout}s waiting for {what}: stage {self.stage}, "
                f"size {self.size}, live {self.kernel.live_orders()}, "
                f"unknown outcomes {self.engine.unknown_outcomes}"
            )

    async def submit(self, *intents: KernelIntent) -> list[KernelOutcome]:
        return await asyncio.wait_for(self.engine.submit(intents), 5.0)

    def make(self, action: Action, **kw: Any) -> KernelIntent:
        self.n += 1
        now = self.engine.pipeline.clock.now_ms()
        return KernelIntent(f"i{self.n}", now, 0, action, **kw)

    async def enter(self, size: str, limit: str | None = None, ref: Decimal = START_PRICE) -> Order:
        self.trade_n += 1
        (out,) = await self.submit(
            self.make(
                Action.ENTER, trade_id=f"t{self.trade_n}", asset=SYMBOL, side=Side.LONG,
                size=D(size), order_type=OrderType.LIMIT if limit else OrderType.MARKET,
                limit_price=D(limit) if limit else None, reference_price=ref,
                exit_leg_ratios=(D("0.5"), D("0.5")),
            )
        )  # fmt: skip
        assert out.accepted, out
        (cmd,) = out.commands
        assert isinstance(cmd, SubmitOrder)
        return cmd.order

    async def exit(self, ref: Decimal) -> KernelOutcome:
        (out,) = await self.submit(
            self.make(
                Action.EXIT,
                trade_id=f"t{self.trade_n}",
                order_type=OrderType.MARKET,
                reference_price=ref,
            )
        )
        assert out.accepted, out
        return out

    async def cancel(self) -> KernelOutcome:
        (out,) = await self.submit(self.make(Action.CANCEL, trade_id=f"t{self.trade_n}"))
        assert out.accepted, out
        return out

    def entry_acked(self) -> bool:
        o = self.kernel.slot(0).active_entry_order
        return o is not None and o.acked and o.status is OrderStatus.WORKING

    def assert_matches_emulator(self) -> None:
        """The kernel's capital and position are the emulator's own account, exactly."""
        k = self.kernel
        ex: Any = self.emu.exchange
        assert k.account.capital == D(ex.balance_row()["balance"])
        if hasattr(ex, "sim"):
            assert k.account.capital == ex.sim.balance().wallet
        acct = k.account
        assert acct.capital == CAPITAL + acct.realized_pnl - acct.fees + acct.funding
        rows = ex.positions_data({})
        slot = k.slot(0)
        if slot.size:
            (row,) = rows
            assert row["symbol"] == SYMBOL
            assert D(row["positionAmt"]) == slot.size
            assert D(row["avgPrice"]) == slot.entry_price
        else:
            assert rows == []
        assert ex.open_orders({})["orders"] == []
        assert k.check_invariants() == []

    async def finish(self) -> None:
        """Stop the engine, check the emulator once more, and replay the journal."""
        self.assert_matches_emulator()
        if self.engine.state is EngineState.RUNNING:
            self.engine.stop()
        await asyncio.wait_for(self.task, 10.0)
        assert self.engine.state is EngineState.STOPPED
        self.assert_matches_emulator()
        with SqliteJournal.open(self.journal_path, readonly=True, create=False) as j:
            assert replay(j, from_snapshot=False).snapshot() == self.kernel.snapshot()
            assert API_SECRET not in repr(j.execute("SELECT payload FROM records"))


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Factory: ``await start(**bingx_config)`` -> a running ``Harness``."""
    opened: list[tuple[Harness, httpx.AsyncClient]] = []

    async def factory(**config: Any) -> Harness:
        emu = BingxEmulator(API_KEY, API_SECRET, initial_balance=CAPITAL)
        await emu.start()
        await emu.set_price(SYMBOL, START_PRICE)
        client = loopback.async_client(timeout=httpx.Timeout(5.0, connect=2.0))
        sleeps: list[float] = []

        async def sleep(seconds: float) -> None:
            sleeps.append(seconds)
            await asyncio.sleep(seconds)

        # The emulator limits no request rate unless told to; the adapter's own pacing is
        # tested by itself (test_bingx_transport), and here it would only make every
        # scenario wait in real time (1 s for the second contracts call at start-up alone).
        config.setdefault("rate_limits", {})
        cfg = BingxConfig(
            endpoints=Endpoints.loopback(emu.port), rate_limit_backoff_s=0.01, **config
        )
        venue = BingxVenue(client, Credentials(API_KEY, API_SECRET), cfg, sleep=sleep)
        inst = (await venue.load_instruments())[SYMBOL]
        path = tmp_path / f"journal-{len(opened)}.sqlite"
        journal = SqliteJournal.open(path)
        eng = Engine(
            kernel=Kernel(1, [inst], CAPITAL),
            venue=venue,
            policy=NullPolicy(),
            journal=journal,
            clock=LiveClock(),
            meta=RunMeta(slots=1, instruments=(inst,), initial_capital=CAPITAL, venue="bingx"),
            settings=EngineSettings(reconcile=RECONCILE),
        )
        task = asyncio.create_task(eng.run(), name="engine")
        h = Harness(emu, venue, eng, path, task, sleeps)
        opened.append((h, client))
        # running once the start-up reconciliation is recorded (the venue stream is up)
        await h.until(lambda: bool(eng.reconciliations), "the engine to start")
        return h

    yield factory
    for h, client in opened:
        if h.engine.state is EngineState.RUNNING:
            h.engine.stop()
        if not h.task.done():
            h.task.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await h.task  # its failure, if any, was already reported by the test
        if h.engine.pipeline.journal is not None:
            h.engine.pipeline.journal.close()
        await client.aclose()
        await h.emu.close()


@pytest.fixture
async def h(start: Callable[..., Any]) -> Harness:
    """A running engine on the emulator (the sim matching engine behind BingX's protocol)."""
    harness = await start()
    assert isinstance(harness, Harness)
    return harness


async def test_limit_entry_partial_fills_then_cancel_of_the_rest(h: Harness) -> None:
    await h.enter("0.01", limit="59000")
    await h.until(h.entry_acked, "the entry's ack")
    assert h.stage is TradeStage.ENTRY_WORKING
    await h.emu.trade(SYMBOL, D("59000"), D("0.003"))
    await h.until(lambda: h.size == D("0.003"), "the first partial fill")
    await h.emu.trade(SYMBOL, D("59000"), D("0.001"))
    await h.until(lambda: h.size == D("0.004"), "the second partial fill")
    assert h.stage is TradeStage.ENTRY_WORKING
    out = await h.cancel()
    assert [type(c) for c in out.commands] == [CancelOrder]
    await h.until(lambda: h.stage is TradeStage.POSITION_OPEN, "the cancel ack")
    assert h.size == D("0.004") and h.kernel.live_orders() == []
    assert h.emu.exchange.order_count() == 1
    assert h.engine.stats.partial_fills == 2 and h.engine.stats.cancels == 1
    await h.finish()


async def test_cancel_of_an_unfilled_entry(h: Harness) -> None:
    await h.enter("0.01", limit="58000")
    await h.until(h.entry_acked, "the entry's ack")
    await h.cancel()
    await h.until(lambda: h.stage is TradeStage.IDLE, "the cancel ack")
    assert h.size == 0 and h.kernel.live_orders() == []
    assert h.kernel.account.capital == CAPITAL
    assert h.engine.unknown_outcomes == []
    await h.finish()


async def test_double_cancel(h: Harness) -> None:
    order = await h.enter("0.01", limit="58000")
    await h.until(h.entry_acked, "the entry's ack")
    # two cancels in one batch: the kernel sends one, the second is refused as pending
    first, second = await h.submit(
        h.make(Action.CANCEL, trade_id="t1"), h.make(Action.CANCEL, trade_id="t1")
    )
    assert first.accepted and [type(c) for c in first.commands] == [CancelOrder]
    assert not second.accepted and second.commands == ()
    assert second.diagnostic_code is KernelDiagnosticCode.CANCEL_ALREADY_PENDING
    await h.until(lambda: h.stage is TradeStage.IDLE, "the cancel ack")
    # a cancel after the end: refused by the kernel, nothing sent
    (third,) = await h.submit(h.make(Action.CANCEL, trade_id="t1"))
    assert not third.accepted and third.commands == ()
    # and a duplicate cancel that does reach the venue (a resend): its answer goes
    # through the engine and changes nothing
    seen = h.engine.stats.venue_events
    await h.venue.cancel(order)
    await h.until(lambda: h.engine.stats.venue_events > seen, "the second cancel's answer")
    assert h.stage is TradeStage.IDLE and h.kernel.account.capital == CAPITAL
    assert h.emu.exchange.order_count() == 1
    await h.finish()


async def test_two_leg_exit(h: Harness) -> None:
    await h.enter("0.01")
    await h.until(lambda: h.stage is TradeStage.POSITION_OPEN, "the MARKET entry's fill")
    assert h.size == D("0.01")
    h.assert_matches_emulator()
    await h.emu.set_price(SYMBOL, D("60500.0"))
    await h.exit(D("60500"))
    await h.until(lambda: h.size == D("0.005") and not h.kernel.live_orders(), "the first leg")
    assert h.stage is TradeStage.POSITION_OPEN
    h.assert_matches_emulator()
    await h.exit(D("60500"))
    await h.until(lambda: h.stage in FREE, "the second leg")
    assert h.size == 0
    assert h.engine.stats.trades == 1
    assert h.kernel.account.realized_pnl == D("0.01") * D("500")
    assert h.emu.exchange.order_count() == 3
    await h.finish()


async def test_ten_rapid_enter_exit_cycles(h: Harness) -> None:
    price = START_PRICE
    for i in range(10):
        await h.enter("0.01", ref=price)
        await h.until(lambda: h.stage is TradeStage.POSITION_OPEN, f"entry {i}")
        price += D("37.3") if i % 2 else D("-11.1")
        await h.emu.set_price(SYMBOL, price)
        await h.exit(price)
        await h.until(lambda: h.size == D("0.005") and not h.kernel.live_orders(), f"leg 1/{i}")
        await h.exit(price)
        await h.until(lambda: h.stage in FREE, f"leg 2/{i}")
    assert h.engine.stats.trades == 10
    assert h.emu.exchange.order_count() == 30
    assert h.kernel.account.fees > 0
    await h.finish()


async def test_fill_pushed_before_the_rest_ack(h: Harness) -> None:
    h.emu.stream_before_rest = True
    await h.enter("0.01")
    await h.until(lambda: h.stage is TradeStage.POSITION_OPEN, "the fill")
    await asyncio.wait_for(h.engine.wait_settled(0), 5.0)  # the submit call returned too
    assert h.size == D("0.01") and h.kernel.live_orders() == []
    assert h.engine.unknown_outcomes == []
    assert h.emu.exchange.order_count() == 1
    await h.finish()


async def test_504_on_submit_recovered_by_query_exactly_one_order(h: Harness) -> None:
    # the order is placed, the HTTP answer is a 504, and its stream ACK is lost too:
    # only the engine's query by client order id can learn that it exists
    h.emu.fail_next(ORDER, status=504, method="POST", after_execute=True)
    h.emu.drop_stream_events(1)
    reconciled = len(h.engine.reconciliations)
    order = await h.enter("0.01", limit="59000")
    await h.until(lambda: len(h.engine.unknown_outcomes) == 1, "the outcome-unknown submit")
    (unknown,) = h.engine.unknown_outcomes
    assert unknown.order.client_order_id == order.client_order_id
    await h.until(h.entry_acked, "the ack recovered by reconciliation")
    # the market moves only once that reconciliation is over (the next test moves it
    # during the position check)
    await h.until(lambda: len(h.engine.reconciliations) > reconciled, "the reconciliation")
    assert order.client_order_id in [e.client_order_id for e in h.engine.reconciliations[-1].events]
    assert h.emu.request_count("GET", ORDER) >= 1  # a query by client order id
    assert h.emu.request_count("POST", ORDER) == 1  # never a blind resend
    await h.emu.trade(SYMBOL, D("59000"), D("1"))
    await h.until(lambda: h.stage is TradeStage.POSITION_OPEN, "the fill")
    assert h.size == D("0.01")
    assert h.emu.exchange.order_count() == 1
    await h.finish()


async def test_fill_during_the_504_reconciliation_is_not_a_false_mismatch(h: Harness) -> None:
    # as above, but the market fills the recovered order while the reconciliation is still
    # reading positions (its GET positions is slowed so that this happens every time): the
    # fill is on its way, not lost, so it must not be reported as a position mismatch (which
    # halted the engine before symbols with working orders were left out of that check)
    h.emu.fail_next(ORDER, status=504, method="POST", after_execute=True)
    h.emu.drop_stream_events(1)
    h.emu.delay_next(POSITIONS, 0.5, method="GET")
    reconciled = len(h.engine.reconciliations)
    await h.enter("0.01", limit="59000")
    await h.until(h.entry_acked, "the ack recovered by reconciliation")
    await h.emu.trade(SYMBOL, D("59000"), D("1"))
    await h.until(lambda: h.stage is TradeStage.POSITION_OPEN, "the fill")
    await h.until(lambda: len(h.engine.reconciliations) > reconciled, "the reconciliation")
    assert h.engine.state is EngineState.RUNNING
    assert h.emu.exchange.order_count() == 1
    await h.finish()


async def test_ws_disconnect_mid_trade_loses_no_fill(start: Callable[..., Any]) -> None:
    h: Harness = await start(reconnect_initial_s=0.3)
    await h.enter("0.01", limit="59000")
    await h.until(h.entry_acked, "the entry's ack")
    await h.emu.trade(SYMBOL, D("59000"), D("0.003"))
    await h.until(lambda: h.size == D("0.003"), "the first partial fill")
    reconnects = h.venue.reconnects
    await h.emu.disconnect_streams()
    await h.emu.trade(SYMBOL, D("59000"), D("0.004"))  # nobody listening
    await h.emu.trade(SYMBOL, D("59000"), D("0.003"))
    await h.until(
        lambda: h.stage is TradeStage.POSITION_OPEN and h.size == D("0.01"), "the missed fills"
    )
    assert h.venue.reconnects > reconnects
    assert h.emu.exchange.order_count() == 1
    await h.finish()


async def test_100410_rate_limit_is_backed_off(h: Harness) -> None:
    h.emu.rate_limit_next(ORDER, method="POST", times=3)
    await h.enter("0.01")
    await h.until(lambda: h.stage is TradeStage.POSITION_OPEN, "the fill")
    assert h.emu.request_count("POST", ORDER) == 4  # three refused, then placed
    # the adapter backed off, doubling from rate_limit_backoff_s (other sleeps are the
    # per-endpoint rate limiter's pacing and the stream's keepalive)
    backoffs = [0.01, 0.02, 0.04]
    assert [s for s in h.sleeps if s in backoffs] == backoffs
    assert h.engine.unknown_outcomes == []
    assert h.emu.exchange.order_count() == 1
    await h.finish()
