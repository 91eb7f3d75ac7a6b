"""A restart-safe scripted policy for crash torture.

Every id it makes carries ``generation`` (one per process start), so intents
and trades of a restarted engine never collide with those journaled before the
crash. Its only memory is how many bars each slot has spent in its current
stage; a restart forgets that, which only delays a cancel.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from dita.kernel import Action, KernelIntent, KernelOutcome, OrderType, Side, TradeStage
from dita.marketdata import Bar
from dita.policy import PolicyView

_ONE = Decimal(1)


class TorturePolicy:
    def __init__(
        self,
        *,
        generation: int,
        size: Decimal,
        max_trades: int | None = None,
        closed: int = 0,
        offset: Decimal = Decimal("0.0004"),
        stale_bars: int = 4,
        wind_down_from: int | None = None,
    ) -> None:
        """``wind_down_from``: from this bar time on, enter nothing, cancel what works
        and exit with MARKET orders, so that the run ends flat."""
        self.generation = generation
        self.size = size
        self.max_trades = max_trades
        self.closed = closed  # trades closed so far (the journal's count at start-up)
        self.offset = offset
        self.stale_bars = stale_bars
        self.wind_down_from = wind_down_from
        self.entries = 0
        self._n = 0
        self._age: dict[int, tuple[TradeStage, str, int]] = {}

    @property
    def done(self) -> bool:
        """Every trade the scenario asks for has closed."""
        return self.max_trades is not None and self.closed >= self.max_trades

    def _may_enter(self, busy: int) -> bool:
        return self.max_trades is None or self.closed + busy < self.max_trades

    def _id(self, what: str) -> str:
        self._n += 1
        return f"g{self.generation}-{what}{self._n}"

    def on_bar(self, bar: Bar, view: PolicyView) -> Sequence[KernelIntent]:
        out: list[KernelIntent] = []
        slots = [view.slot(n) for n in range(view.slot_count)]
        inst = view.instruments.get(bar.symbol)
        if inst is None:
            return out
        winding = self.wind_down_from is not None and bar.ts >= self.wind_down_from
        stale = 0 if winding else self.stale_bars
        busy = sum(1 for s in slots if s.stage not in (TradeStage.IDLE, TradeStage.CLOSED))
        for n, s in enumerate(slots):
            prev = self._age.get(n)
            age = prev[2] + 1 if prev and prev[0] is s.stage and prev[1] == s.trade_id else 0
            self._age[n] = (s.stage, s.trade_id, age)
            common: dict[str, Any] = {"intent_id": self._id("i"), "ts": view.now_ms, "slot_id": n}
            match s.stage:
                case TradeStage.ENTRY_WORKING | TradeStage.EXIT_WORKING if age >= stale:
                    if (age - stale) % 5 == 0:  # once; again every 5 bars while winding down
                        out.append(
                            KernelIntent(
                                **common, action=Action.CANCEL, trade_id=s.trade_id, reason="stale"
                            )
                        )
                case TradeStage.POSITION_OPEN if s.side is not None:
                    if s.active_leg_index == 0 and not winding:
                        up = s.side is Side.LONG
                        px = bar.close * (_ONE + self.offset if up else _ONE - self.offset)
                        kw: dict[str, Any] = {
                            "order_type": OrderType.LIMIT,
                            "limit_price": px.quantize(inst.tick_size),
                        }
                    else:
                        kw = {"order_type": OrderType.MARKET}
                    out.append(
                        KernelIntent(
                            **common,
                            action=Action.EXIT,
                            trade_id=s.trade_id,
                            reference_price=bar.close,
                            reason=f"leg {s.active_leg_index}",
                            **kw,
                        )
                    )
                case TradeStage.IDLE | TradeStage.CLOSED if not winding and self._may_enter(busy):
                    busy += 1
                    others = {o.side for m, o in enumerate(slots) if m != n and o.side is not None}
                    side = Side.LONG if (bar.ts // 60_000) % 7 < 4 else Side.SHORT
                    if others and side not in others:
                        side = next(iter(others))  # one-way venues net per symbol
                    up = side is Side.LONG
                    px = bar.close * (_ONE - self.offset if up else _ONE + self.offset)
                    self.entries += 1
                    out.append(
                        KernelIntent(
                            **common,
                            action=Action.ENTER,
                            trade_id=self._id("t"),
                            asset=bar.symbol,
                            side=side,
                            size=self.size,
                            order_type=OrderType.LIMIT,
                            limit_price=px.quantize(inst.tick_size),
                            exit_leg_ratios=(Decimal("0.5"), Decimal("0.5")),
                            reason="scripted entry",
                        )
                    )
                case _:
                    pass
        return out

    def on_outcome(self, outcome: KernelOutcome, view: PolicyView) -> Sequence[KernelIntent]:
        self.closed += len(outcome.trade_records)
        return ()
