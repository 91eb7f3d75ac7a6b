"""A demonstration policy that exercises the kernel, not a strategy to trade.

Per slot, on each closed bar:

* **Entry**: when the slot is free and its cool-down has passed, ENTER with a
  LIMIT order slightly inside the market (a buy ``entry_offset`` below the
  close, a sell above), in the direction of a fast/slow moving-average
  crossover. The size is a fraction of the available capital, large enough
  that the simulator's volume participation limit splits it into partial
  fills on quiet bars.
* **Stale entries**: an entry still working after ``stale_bars`` bars is
  cancelled. A partly filled entry then leaves an open position (the kernel
  turns CANCEL_ACK into POSITION_OPEN with what filled), which exits normally.
* **Exits in two legs** (ratios 0.5/0.5), MARKET, reduce-only: leg 0 at the
  first take-profit, leg 1 at the second; both legs on the stop or when the
  trade has been held ``max_hold_bars`` bars.

Several symbols: each symbol has its own averages and bar count; a bar of one
symbol manages only the slots trading that symbol (and may fill a free one).

All arithmetic is ``Decimal``; nothing here reads a clock or a random source,
so the same bars give the same intents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from dita.kernel import (
    Action,
    KernelIntent,
    KernelOutcome,
    OrderPurpose,
    OrderType,
    Side,
    SubmitOrder,
    TradeSlot,
    TradeStage,
)
from dita.marketdata import Bar
from dita.policy import PolicyView

_ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class DemoParams:
    fast: int = 5
    slow: int = 20
    entry_offset: Decimal = Decimal("0.0004")  # fraction of the close, inside the market
    capital_fraction: Decimal = Decimal("0.45")  # of available capital, per entry
    stale_bars: int = 4
    take_profit_1: Decimal = Decimal("0.0015")
    take_profit_2: Decimal = Decimal("0.0035")
    stop_loss: Decimal = Decimal("0.0025")
    max_hold_bars: int = 45
    cooldown_bars: int = 3
    leg_ratios: tuple[Decimal, ...] = (Decimal("0.5"), Decimal("0.5"))


class DemoPolicy:
    """LIMIT entries inside the market, stale-entry cancels, two-leg exits. See the module doc."""

    def __init__(self, params: DemoParams | None = None) -> None:
        self.p = params or DemoParams()
        self._avgs: dict[str, tuple[Decimal, Decimal]] = {}  # symbol -> (fast, slow)
        self._fast: Decimal | None = None
        self._slow: Decimal | None = None
        self._alpha_fast = Decimal(2) / (self.p.fast + 1)
        self._alpha_slow = Decimal(2) / (self.p.slow + 1)
        self._symbol_bars: dict[str, int] = {}
        self._bars = 0  # bars of the current bar's symbol
        self._total = 0  # bars of every symbol
        self._now = 0
        self._intents = 0
        self._trades = 0
        self._entered_at: dict[int, int] = {}  # slot -> bar index of its ENTER
        self._cancel_sent: set[int] = set()
        self._free_at: dict[int, int] = {}  # slot -> first bar index it may enter again

    # ------------------------------------------------------------------ protocol

    def on_bar(self, bar: Bar, view: PolicyView) -> Sequence[KernelIntent]:
        self._total += 1
        self._bars = self._symbol_bars[bar.symbol] = self._symbol_bars.get(bar.symbol, 0) + 1
        self._now = view.now_ms
        close = bar.close
        avgs = self._avgs.get(bar.symbol)
        if avgs is None:
            self._fast = self._slow = close
        else:
            fast, slow = avgs
            self._fast = fast + self._alpha_fast * (close - fast)
            self._slow = slow + self._alpha_slow * (close - slow)
        self._avgs[bar.symbol] = (self._fast, self._slow)
        if self._bars < self.p.slow:
            return ()
        out: list[KernelIntent] = []
        entered = False
        slots = [view.slot(n) for n in range(view.slot_count)]
        for n, s in enumerate(slots):
            if s.stage not in (TradeStage.IDLE, TradeStage.CLOSED) and s.asset != bar.symbol:
                continue  # another symbol's trade: its own bars manage it
            match s.stage:
                case TradeStage.ORDER_REQUESTED | TradeStage.ENTRY_WORKING:
                    age = self._bars - self._entered_at.get(n, self._bars)
                    if age >= self.p.stale_bars and n not in self._cancel_sent:
                        self._cancel_sent.add(n)
                        out.append(
                            self._intent(
                                bar, n, Action.CANCEL, trade_id=s.trade_id, reason="stale entry"
                            )
                        )
                case TradeStage.POSITION_OPEN:
                    reason = self._exit_reason(s.side, s.entry_price, s.active_leg_index, close, n)
                    if reason:
                        out.append(
                            self._intent(
                                bar,
                                n,
                                Action.EXIT,
                                trade_id=s.trade_id,
                                reference_price=close,
                                reason=reason,
                            )
                        )
                case TradeStage.IDLE | TradeStage.CLOSED if (
                    not entered and self._total >= self._free_at.get(n, 0)
                ):
                    intent = self._entry(bar, view, n, slots)
                    if intent is not None:
                        out.append(intent)
                        entered = True  # one new entry per bar: slots stagger
                case _:
                    pass
        return out

    def on_outcome(self, outcome: KernelOutcome, view: PolicyView) -> Sequence[KernelIntent]:
        # Track the policy's own bookkeeping from what the kernel says happened.
        for c in outcome.commands:
            if isinstance(c, SubmitOrder) and c.order.purpose is OrderPurpose.ENTRY:
                self._entered_at[c.order.slot_id] = self._symbol_bars.get(c.order.asset, 0)
                self._cancel_sent.discard(c.order.slot_id)
        for t in outcome.trade_records:
            self._free_at[t.slot_id] = self._total + self.p.cooldown_bars
        if (
            outcome.accepted
            and outcome.slot_id is not None
            and outcome.state is TradeStage.IDLE
            and any(tr.to_stage is TradeStage.IDLE for tr in outcome.transitions)
        ):
            # entry cancelled or rejected with nothing filled
            self._free_at[outcome.slot_id] = self._total + self.p.cooldown_bars
        return ()

    # ------------------------------------------------------------------ helpers

    def _entry(
        self, bar: Bar, view: PolicyView, n: int, slots: Sequence[TradeSlot]
    ) -> KernelIntent | None:
        assert self._fast is not None and self._slow is not None
        if self._fast == self._slow:
            return None
        side = Side.LONG if self._fast > self._slow else Side.SHORT
        # Venues net positions per symbol (one-way mode): a slot going against
        # another slot's open trade would have its reduce-only exits refused.
        for m, other in enumerate(slots):
            if (
                m != n
                and other.side is not None
                and other.side is not side
                and other.asset == bar.symbol
            ):
                return None
        inst = view.instruments.get(bar.symbol)
        if inst is None:
            return None
        if side is Side.LONG:
            price = bar.close * (_ONE - self.p.entry_offset)
        else:
            price = bar.close * (_ONE + self.p.entry_offset)
        price = price.quantize(inst.tick_size)
        budget = view.account.available * self.p.capital_fraction
        size = (budget / price // inst.step_size) * inst.step_size
        if size < inst.min_quantity or size * price < inst.min_notional:
            return None
        self._trades += 1
        return self._intent(
            bar,
            n,
            Action.ENTER,
            trade_id=f"demo-{self._trades}",
            asset=bar.symbol,
            side=side,
            size=size,
            order_type=OrderType.LIMIT,
            limit_price=price,
            exit_leg_ratios=self.p.leg_ratios,
            reason="ma crossover",
        )

    def _exit_reason(
        self, side: Side | None, entry: Decimal | None, leg: int, close: Decimal, n: int
    ) -> str:
        if side is None or entry is None:
            return ""
        held = self._bars - self._entered_at.get(n, self._bars)
        move = (close - entry) / entry if side is Side.LONG else (entry - close) / entry
        if move <= -self.p.stop_loss:
            return "stop"
        if held >= self.p.max_hold_bars:
            return "time"
        target = self.p.take_profit_1 if leg == 0 else self.p.take_profit_2
        if move >= target:
            return f"take-profit {leg + 1}"
        return ""

    def _intent(self, bar: Bar, slot: int, action: Action, **kw: object) -> KernelIntent:
        self._intents += 1
        return KernelIntent(
            intent_id=f"demo-i{self._intents}",
            ts=self._now,
            slot_id=slot,
            action=action,
            **kw,  # type: ignore[arg-type]
        )
