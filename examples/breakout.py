"""Channel breakout with MARKET entries, a partial exit by size and a stop.

    dita run --policy examples/breakout.py:Breakout --param lookback=60

* ENTER at MARKET when the close breaks the highest high (LONG) or the lowest
  low (SHORT) of the previous ``lookback`` bars. A MARKET entry must carry
  ``reference_price`` (here the close): the kernel checks margin and the
  minimum notional against it.
* EXIT a third of the position by explicit ``size`` once ``target`` is reached,
  and whatever is left when the close returns to the middle of the channel or
  hits the stop.
* ``on_outcome`` reacts to refusals: a refused ENTER (for instance
  INSUFFICIENT_MARGIN) halves the size of the next one.
"""

from __future__ import annotations

from collections import deque
from decimal import ROUND_FLOOR, Decimal

from dita.kernel import Action, KernelDiagnosticCode, KernelIntent, KernelOutcome, Side, TradeStage
from dita.marketdata import Bar
from dita.policy import PolicyView


class Breakout:
    def __init__(
        self,
        lookback: int = 45,
        notional: Decimal | str = "30000",
        target: Decimal | str = "0.003",
        stop: Decimal | str = "0.003",
    ) -> None:
        self.lookback = int(lookback)
        self.notional = Decimal(notional)
        self.target = Decimal(target)
        self.stop = Decimal(stop)
        self.bars: deque[Bar] = deque(maxlen=self.lookback)
        self.took_profit: set[str] = set()
        self.n = 0

    def on_bar(self, bar: Bar, view: PolicyView) -> list[KernelIntent]:
        history = list(self.bars)
        self.bars.append(bar)
        if len(history) < self.lookback:
            return []
        high = max(b.high for b in history)
        low = min(b.low for b in history)
        middle = (high + low) / 2
        slot = view.slot(0)
        if slot.stage in (TradeStage.IDLE, TradeStage.CLOSED):
            if bar.close > high:
                return [self._enter(bar, view, Side.LONG)]
            if bar.close < low:
                return [self._enter(bar, view, Side.SHORT)]
        elif slot.stage is TradeStage.POSITION_OPEN and slot.entry_price is not None:
            long = slot.side is Side.LONG
            move = (bar.close - slot.entry_price) / slot.entry_price * (1 if long else -1)
            back = bar.close <= middle if long else bar.close >= middle
            if move <= -self.stop or back:
                return [self._exit(view, slot.trade_id, slot.size, bar.close, "stop or back")]
            if move >= self.target and slot.trade_id not in self.took_profit:
                inst = view.instruments[slot.asset]
                third = (slot.size / 3 / inst.step_size).to_integral_value(ROUND_FLOOR)
                if third * inst.step_size >= inst.min_quantity:
                    self.took_profit.add(slot.trade_id)
                    return [self._exit(view, slot.trade_id, third * inst.step_size, bar.close,
                                       "target: a third")]  # fmt: skip
        return []

    def on_outcome(self, outcome: KernelOutcome, view: PolicyView) -> list[KernelIntent]:
        if outcome.diagnostic_code is KernelDiagnosticCode.INSUFFICIENT_MARGIN:
            self.notional /= 2
        return []

    def _enter(self, bar: Bar, view: PolicyView, side: Side) -> KernelIntent:
        inst = view.instruments[bar.symbol]
        steps = (self.notional / bar.close / inst.step_size).to_integral_value(ROUND_FLOOR)
        self.n += 1
        return KernelIntent(
            intent_id=f"bo-{self.n}", ts=view.now_ms, slot_id=0, action=Action.ENTER,
            trade_id=f"bo-{self.n}", asset=bar.symbol, side=side, size=steps * inst.step_size,
            reference_price=bar.close, reason=f"breakout {side}",
        )  # fmt: skip  # order_type defaults to MARKET

    def _exit(
        self, view: PolicyView, trade_id: str, size: Decimal, price: Decimal, why: str
    ) -> KernelIntent:
        self.n += 1
        return KernelIntent(
            intent_id=f"bo-{self.n}", ts=view.now_ms, slot_id=0, action=Action.EXIT,
            trade_id=trade_id, size=size, reference_price=price, reason=why,
        )  # fmt: skip
