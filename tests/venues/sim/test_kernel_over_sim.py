"""The kernel driven by the sim over the shipped sample bars: two exact ledgers must agree.

A simple deterministic policy trades one slot through two days of 1m bars:
LIMIT entries a few ticks from the close (cancelled if they do not fill), two
MARKET exit legs, with latency, partial fills by participation, slippage,
fees and funding. Every venue event must be accepted by the kernel, and at
the end, flat, the kernel's capital must equal the sim's wallet to the last
digit (both are initial + realised PnL - fees + funding, computed
independently).
"""

from __future__ import annotations

from decimal import Decimal

from dita.kernel import (
    Action,
    CancelOrder,
    Kernel,
    KernelIntent,
    KernelOutcome,
    OrderType,
    Side,
    SubmitOrder,
    TradeStage,
    VenueEvent,
)
from dita.kernel.model import EventKind, Instrument
from dita.marketdata import SAMPLE_SYMBOL, read_sample_bars
from dita.marketdata.model import Bar
from dita.venues.sim import FeeSchedule, RandomBps, SimConfig, SimExchange

D = Decimal
BTC = Instrument(SAMPLE_SYMBOL, D("0.1"), D("0.001"), D("0.001"), D("5"))


class Loop:
    def __init__(self) -> None:
        self.kernel = Kernel(1, [BTC], D(100_000))
        self.sim = SimExchange(
            SimConfig(
                instruments=(BTC,),
                initial_balance=D(100_000),
                fees=FeeSchedule(maker=D("0.0002"), taker=D("0.0005")),
                slippage=RandomBps(D(3)),
                participation=D("0.002"),  # ~0.36 BTC a bar: entries of 0.5 fill in pieces
                latency_ms=120,
                funding_rate=D("0.0001"),
                seed=11,
            )
        )
        self.events: list[VenueEvent] = []
        self.refused: list[KernelOutcome] = []
        self.n = 0

    def feed(self, events: list[VenueEvent], now: int) -> None:
        for e in events:
            self.events.append(e)
            out = self.kernel.on_venue_event(e)
            if not out.accepted:
                self.refused.append(out)
            self.perform(out, now)

    def perform(self, out: KernelOutcome, now: int) -> None:
        for cmd in out.commands:
            match cmd:
                case SubmitOrder(order=order):
                    self.feed(self.sim.submit(order, now), now)
                case CancelOrder(order=order):
                    self.feed(self.sim.cancel(order, now), now)

    def intent(self, now: int, action: Action, **kw: object) -> KernelOutcome:
        self.n += 1
        out = self.kernel.process_intent(KernelIntent(f"i{self.n}", now, 0, action, **kw))  # type: ignore[arg-type]
        assert out.accepted, out
        self.perform(out, now)
        return out


def test_kernel_capital_equals_sim_wallet_after_two_days_of_trading() -> None:
    loop = Loop()
    bars = read_sample_bars()
    since = 0
    trade_no = 0
    stage_before = TradeStage.IDLE
    for i, bar in enumerate(bars):
        loop.feed(loop.sim.on_bar(bar), bar.ts)
        now = bar.close_ts
        loop.feed(loop.sim.advance(now), now)
        stage = loop.kernel.slot(0).stage
        if stage is not stage_before:
            since, stage_before = i, stage
        match stage:
            case TradeStage.IDLE | TradeStage.CLOSED if i % 37 == 0 and i < len(bars) - 200:
                trade_no += 1
                long = trade_no % 2 == 1
                price = bar.close - D("0.3") if long else bar.close + D("0.3")
                loop.intent(
                    now,
                    Action.ENTER,
                    trade_id=f"t{trade_no}",
                    asset=BTC.symbol,
                    side=Side.LONG if long else Side.SHORT,
                    size=D("0.5"),
                    order_type=OrderType.LIMIT,
                    limit_price=price,
                    exit_leg_ratios=(D("0.5"), D("0.5")),
                    reference_price=bar.close,
                )
            case TradeStage.ENTRY_WORKING | TradeStage.ORDER_REQUESTED if i - since > 12:
                slot = loop.kernel.slot(0)
                if (
                    slot.active_entry_order is not None
                    and slot.active_entry_order.status.value != "PENDING_CANCEL"
                ):
                    loop.intent(now, Action.CANCEL)
            case TradeStage.POSITION_OPEN if i - since > 25:
                loop.intent(now, Action.EXIT, reference_price=bar.close)
            case _:
                pass
    # Flatten: keep the market going (flat bars) until the slot is done.
    last = bars[-1]
    for k in range(1, 200):
        stage = loop.kernel.slot(0).stage
        if stage in (TradeStage.IDLE, TradeStage.CLOSED):
            break
        ts = last.ts + k * 60_000
        flat = Bar(
            BTC.symbol, ts, last.close, last.close, last.close, last.close, D(1000), ts + 59_999
        )
        loop.feed(loop.sim.on_bar(flat), ts)
        loop.feed(loop.sim.advance(ts + 59_999), ts + 59_999)
        slot = loop.kernel.slot(0)
        if stage is TradeStage.POSITION_OPEN:
            loop.intent(ts + 59_999, Action.EXIT, reference_price=last.close)
        elif stage in (TradeStage.ENTRY_WORKING, TradeStage.ORDER_REQUESTED) and (
            slot.active_entry_order is not None
            and slot.active_entry_order.status.value != "PENDING_CANCEL"
        ):
            loop.intent(ts + 59_999, Action.CANCEL)

    kinds = [e.kind for e in loop.events]
    assert loop.refused == []
    assert kinds.count(EventKind.PARTIAL_FILL) > 20  # the scenario does exercise partial fills
    assert kinds.count(EventKind.CANCEL_ACK) > 0
    assert kinds.count(EventKind.FUNDING) > 0
    assert loop.kernel.slot(0).stage in (TradeStage.IDLE, TradeStage.CLOSED)
    assert loop.sim.positions() == []
    assert loop.kernel.check_invariants() == []
    account = loop.kernel.account
    assert account.fees == sum(e.fee for e in loop.events)
    assert account.funding == sum(
        (e.amount or D(0)) for e in loop.events if e.kind is EventKind.FUNDING
    )
    assert account.capital == loop.sim.balance().wallet
