"""The kernel driven by BingxVenue against the emulator: the adapter's events are what the
kernel needs, and afterwards the kernel's position and capital equal the emulator's own
account exactly (no epsilon)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from dita.kernel import Kernel
from dita.kernel.model import (
    Action,
    CancelOrder,
    KernelIntent,
    KernelOutcome,
    Order,
    OrderType,
    Side,
    SubmitOrder,
    TradeStage,
)
from dita.venues.base import OutcomeUnknown
from dita.venues.bingx.clock import wall_clock_ms
from dita.venues.bingx.venue import ORDER
from tests.venues.bingx.conftest import Session

D = Decimal
SYMBOL = "BTC-USDT"


class Driver:
    """A minimal engine loop: intents -> kernel -> venue, venue events -> kernel."""

    def __init__(self, session: Session) -> None:
        self.s = session
        self.k = Kernel(1, [session.venue.instruments[SYMBOL]], D(10_000))
        self.n = 0
        self.trade_n = 0
        self.outcomes: list[KernelOutcome] = []

    async def enter(self, size: str, limit: str | None = None, ref: str = "60000") -> Order:
        self.trade_n += 1
        out = await self.intent(
            Action.ENTER, trade_id=f"t{self.trade_n}", asset=SYMBOL, side=Side.LONG, size=D(size),
            order_type=OrderType.LIMIT if limit else OrderType.MARKET,
            limit_price=D(limit) if limit else None, reference_price=D(ref),
            exit_leg_ratios=(D("0.5"), D("0.5")),
        )  # fmt: skip
        (cmd,) = out.commands
        assert isinstance(cmd, SubmitOrder)
        return cmd.order

    async def exit(self, ref: str) -> None:
        await self.intent(
            Action.EXIT,
            trade_id=f"t{self.trade_n}",
            order_type=OrderType.MARKET,
            reference_price=D(ref),
        )

    async def cancel(self) -> None:
        await self.intent(Action.CANCEL, trade_id=f"t{self.trade_n}")

    async def intent(self, action: Action, **kw: Any) -> KernelOutcome:
        self.n += 1
        out = self.k.process_intent(KernelIntent(f"i{self.n}", wall_clock_ms(), 0, action, **kw))
        assert out.accepted, out
        await self.send(out)
        return out

    async def send(self, out: KernelOutcome) -> None:
        for cmd in out.commands:
            match cmd:
                case SubmitOrder(order=o):
                    await self.s.venue.submit(o)
                case CancelOrder(order=o):
                    await self.s.venue.cancel(o)

    async def feed(self, n: int) -> list[KernelOutcome]:
        outs = []
        for ev in await self.s.next_events(n):
            out = self.k.on_venue_event(ev)
            assert out.accepted, (ev, out)
            outs.append(out)
            await self.send(out)
        self.outcomes += outs
        return outs

    @property
    def stage(self) -> TradeStage:
        return self.k.slot(0).stage

    async def assert_matches_emulator(self) -> None:
        bal = await self.s.venue.balance()
        assert self.k.account.capital == bal.wallet
        assert bal.wallet == D(self.s.emu.exchange.balance_row()["balance"])
        positions = await self.s.venue.positions()
        size = self.k.slot(0).size
        if size:
            (pos,) = positions
            assert pos.quantity == size
        else:
            assert positions == []
        assert self.k.check_invariants() == []


@pytest.fixture
async def driver(open_session: Callable[..., Any]) -> Driver:
    return Driver(await open_session())


async def test_limit_entry_partial_fill_cancel_rest_then_two_leg_exit(driver: Driver) -> None:
    d, emu = driver, driver.s.emu
    await d.enter("0.01", limit="59000")
    await d.feed(1)
    assert d.stage is TradeStage.ENTRY_WORKING
    await emu.trade(SYMBOL, D("59000"), D("0.004"))
    await d.feed(1)
    assert d.k.slot(0).size == D("0.004")
    await d.cancel()
    await d.feed(1)
    assert (d.stage, d.k.slot(0).size) == (TradeStage.POSITION_OPEN, D("0.004"))
    await d.assert_matches_emulator()

    await emu.set_price(SYMBOL, D("59500.0"))
    await d.exit("59500")
    await d.feed(2)
    assert (d.stage, d.k.slot(0).size) == (TradeStage.POSITION_OPEN, D("0.002"))
    await d.assert_matches_emulator()
    await d.exit("59500")
    outs = await d.feed(2)
    (record,) = outs[-1].trade_records
    assert record.realized_pnl == D("0.004") * D("500")
    assert d.stage in (TradeStage.CLOSED, TradeStage.IDLE)
    await d.assert_matches_emulator()


async def test_cancel_of_unfilled_entry_and_double_cancel(driver: Driver) -> None:
    d = driver
    order = await d.enter("0.01", limit="58000")
    await d.feed(1)
    await d.cancel()
    await d.feed(1)
    assert d.stage is TradeStage.IDLE
    await d.s.venue.cancel(order)  # a second cancel reaches the venue
    (second,) = await d.feed(1)
    assert second.accepted
    assert d.stage is TradeStage.IDLE
    await d.assert_matches_emulator()


async def test_ten_rapid_enter_exit_cycles_keep_capital_exact(driver: Driver) -> None:
    d, emu = driver, driver.s.emu
    price = D("60000.0")
    for i in range(10):
        await d.enter("0.01", ref=str(price))
        await d.feed(2)
        price += D("37.3") if i % 2 else D("-11.1")
        await emu.set_price(SYMBOL, price)
        await d.exit(str(price))
        await d.feed(2)
        await d.exit(str(price))
        await d.feed(2)
        assert d.k.slot(0).size == 0
    await d.assert_matches_emulator()
    assert d.k.account.fees > 0


async def test_fill_pushed_before_rest_ack(driver: Driver) -> None:
    d = driver
    d.s.emu.stream_before_rest = True
    await d.enter("0.01")
    await d.feed(2)
    assert d.stage is TradeStage.POSITION_OPEN
    await d.assert_matches_emulator()


async def test_504_on_submit_recovered_by_query_exactly_one_order(driver: Driver) -> None:
    d = driver
    d.s.emu.fail_next(ORDER, status=504, method="POST", after_execute=True)
    with pytest.raises(OutcomeUnknown):
        await d.enter("0.01", limit="59000")
    # the engine's move: query by client order id, never a blind resend
    (order,) = d.k.live_orders()
    report = await d.s.venue.query_order(order)
    assert report is not None
    await d.feed(1)  # the ACK (from the stream or from the query, once)
    assert d.stage is TradeStage.ENTRY_WORKING
    await d.s.emu.trade(SYMBOL, D("59000"), D("1"))
    await d.feed(1)
    assert d.stage is TradeStage.POSITION_OPEN
    assert d.s.emu.exchange.order_count() == 1
    await d.assert_matches_emulator()


async def test_stream_disconnect_mid_trade_loses_no_fill(open_session: Callable[..., Any]) -> None:
    d = Driver(await open_session(reconnect_initial_s=0.3))
    await d.enter("0.01", limit="59000")
    await d.feed(1)
    await d.s.emu.trade(SYMBOL, D("59000"), D("0.003"))
    await d.feed(1)
    await d.s.emu.disconnect_streams()
    await d.s.emu.trade(SYMBOL, D("59000"), D("0.004"))  # nobody listening
    await d.s.emu.trade(SYMBOL, D("59000"), D("0.003"))
    (catch_up,) = await d.feed(1)  # one catch-up fill from the REST gap fill
    assert catch_up.accepted
    assert (d.stage, d.k.slot(0).size) == (TradeStage.POSITION_OPEN, D("0.01"))
    await d.assert_matches_emulator()


async def test_rate_limited_submit_is_backed_off(driver: Driver) -> None:
    d = driver
    d.s.emu.rate_limit_next(ORDER, method="POST", times=3)
    await d.enter("0.01")
    await d.feed(2)
    assert d.stage is TradeStage.POSITION_OPEN
    assert d.s.emu.exchange.order_count() == 1
    await d.assert_matches_emulator()
