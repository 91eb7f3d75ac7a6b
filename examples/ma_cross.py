"""Moving-average cross with LIMIT entries and exits in two legs.

    dita run --policy examples/ma_cross.py:MaCross
    dita run --policy examples/ma_cross.py:MaCross --param fast=10 --param slow=40

Per symbol (each symbol it sees gets its own slot, in order of appearance):

* when the fast simple moving average crosses the slow one, ENTER in the
  direction of the cross with a LIMIT order ``offset`` inside the close (a buy
  below, a sell above), for about ``notional`` USDT, split into two exit legs;
* an entry still working after ``stale_bars`` bars is cancelled (a partly
  filled one leaves a position, which exits normally);
* leg 1 (half) exits at MARKET once the trade is ``take_profit`` in profit;
  leg 2 (the rest) when the averages cross back, or both legs on the stop.

Every number is a ``Decimal``; parameters given as text (``--param``, the run
config's ``[policy_params]``) are converted by the constructor.
"""

from __future__ import annotations

from collections import deque
from decimal import ROUND_FLOOR, Decimal

from dita.kernel import (
    Action,
    KernelIntent,
    KernelOutcome,
    OrderStatus,
    OrderType,
    Side,
    TradeStage,
)
from dita.marketdata import Bar
from dita.policy import PolicyView


class MaCross:
    def __init__(
        self,
        fast: int = 8,
        slow: int = 30,
        notional: Decimal | str = "20000",
        offset: Decimal | str = "0.0002",
        take_profit: Decimal | str = "0.002",
        stop_loss: Decimal | str = "0.004",
        stale_bars: int = 5,
    ) -> None:
        if not 0 < int(fast) < int(slow):
            raise ValueError(f"need 0 < fast < slow, got fast={fast} slow={slow}")
        self.fast, self.slow = int(fast), int(slow)
        self.notional = Decimal(notional)
        self.offset = Decimal(offset)
        self.take_profit = Decimal(take_profit)
        self.stop_loss = Decimal(stop_loss)
        self.stale_bars = int(stale_bars)
        self.closes: dict[str, deque[Decimal]] = {}
        self.trend: dict[str, int] = {}  # +1 fast above slow, -1 below
        self.slot_of: dict[str, int] = {}
        self.entered_bar: dict[int, int] = {}
        self.bar_no = 0
        self.n = 0

    def on_bar(self, bar: Bar, view: PolicyView) -> list[KernelIntent]:
        self.bar_no += 1
        sym = bar.symbol
        if sym not in self.slot_of:
            if len(self.slot_of) >= view.slot_count:
                return []  # more symbols than slots: trade the first ones
            self.slot_of[sym] = len(self.slot_of)
        closes = self.closes.setdefault(sym, deque(maxlen=self.slow))
        closes.append(bar.close)
        if len(closes) < self.slow:
            return []
        fast = sum(list(closes)[-self.fast :], Decimal(0)) / self.fast
        slow = sum(closes, Decimal(0)) / self.slow
        trend = 1 if fast > slow else -1 if fast < slow else 0
        crossed = trend != 0 and self.trend.get(sym, trend) != trend
        if trend != 0:
            self.trend[sym] = trend

        n = self.slot_of[sym]
        slot = view.slot(n)
        match slot.stage:
            case TradeStage.IDLE | TradeStage.CLOSED if crossed:
                return [self._enter(bar, view, n, Side.LONG if trend > 0 else Side.SHORT)]
            case TradeStage.ORDER_REQUESTED | TradeStage.ENTRY_WORKING:
                order = slot.active_entry_order
                stale = self.bar_no - self.entered_bar.get(n, self.bar_no) >= self.stale_bars
                if stale and order is not None and order.status is not OrderStatus.PENDING_CANCEL:
                    return [self._intent(view, n, Action.CANCEL, trade_id=slot.trade_id,
                                         reason="stale entry")]  # fmt: skip
            case TradeStage.POSITION_OPEN if slot.entry_price is not None:
                sign = 1 if slot.side is Side.LONG else -1
                move = sign * (bar.close - slot.entry_price) / slot.entry_price
                against = crossed and (trend > 0) != (slot.side is Side.LONG)
                if move <= -self.stop_loss or against:
                    # everything that is left, whichever leg is next
                    return [self._intent(view, n, Action.EXIT, trade_id=slot.trade_id,
                                         size=slot.size, reference_price=bar.close,
                                         reason="stop" if move <= -self.stop_loss else "cross back")]  # fmt: skip
                if slot.active_leg_index == 0 and move >= self.take_profit:
                    # no size: the next leg (half the entry)
                    return [self._intent(view, n, Action.EXIT, trade_id=slot.trade_id,
                                         reference_price=bar.close, reason="take profit")]  # fmt: skip
            case _:
                pass
        return []

    def on_outcome(self, outcome: KernelOutcome, view: PolicyView) -> list[KernelIntent]:
        return []  # this policy looks at the slots on each bar instead

    def _enter(self, bar: Bar, view: PolicyView, n: int, side: Side) -> KernelIntent:
        inst = view.instruments[bar.symbol]
        inside = Decimal(1) - self.offset if side is Side.LONG else Decimal(1) + self.offset
        price = bar.close * inside
        size = (self.notional / price / inst.step_size).to_integral_value(ROUND_FLOOR)
        self.entered_bar[n] = self.bar_no
        self.n += 1
        return self._intent(
            view, n, Action.ENTER, trade_id=f"ma-{self.n}", asset=bar.symbol, side=side,
            size=size * inst.step_size, order_type=OrderType.LIMIT, limit_price=price,
            exit_leg_ratios=(Decimal("0.5"), Decimal("0.5")), reason=f"ma cross {side}",
        )  # fmt: skip

    def _intent(self, view: PolicyView, n: int, action: Action, **fields: object) -> KernelIntent:
        self.n += 1
        return KernelIntent(intent_id=f"ma-i{self.n}", ts=view.now_ms, slot_id=n,
                            action=action, **fields)  # type: ignore[arg-type]  # fmt: skip
