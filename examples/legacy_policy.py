"""A policy in the old system's style: it returns ``LegacyIntent``s, floats and all.

    dita run --policy examples/legacy_policy.py:ThreeBars

dita converts each ``LegacyIntent`` losslessly just before it runs (see
``dita.legacy``): ``decision_id`` becomes the intent id, floats are read
through ``repr`` (``0.05`` is ``Decimal("0.05")``), ``confidence`` and
``bars_held`` travel in the metadata, and the slot is chosen for it (an ENTER
takes the lowest free slot, an EXIT goes to the slot holding its trade).
What cannot be carried exactly (a NaN size, a MARKET order with a limit
price, ...) stops the run with an error naming the field, never a guess.

The rule: after three falling closes in a row, buy 0.05 at MARKET; exit after
``hold`` bars, in two legs (first half, then the rest once the first is done).
"""

from __future__ import annotations

from dita.kernel import KernelOutcome, TradeStage
from dita.legacy import LegacyIntent
from dita.marketdata import Bar
from dita.policy import PolicyView


class ThreeBars:
    def __init__(self, size: float = 0.05, hold: int = 10) -> None:
        self.size = float(size)
        self.hold = int(hold)
        self.closes: list[float] = []
        self.open_trades: dict[str, int] = {}  # trade id -> bars held
        self.n = 0

    def on_bar(self, bar: Bar, view: PolicyView) -> list[LegacyIntent]:
        self.closes = [*self.closes[-3:], float(bar.close)]
        out: list[LegacyIntent] = []
        for trade_id in list(self.open_trades):
            self.open_trades[trade_id] += 1
            held = self.open_trades[trade_id]
            stages = {
                s.stage for s in map(view.slot, range(view.slot_count)) if s.trade_id == trade_id
            }
            if not stages & {TradeStage.ORDER_REQUESTED, TradeStage.ENTRY_WORKING,
                             TradeStage.POSITION_OPEN, TradeStage.EXIT_WORKING}:  # fmt: skip
                del self.open_trades[trade_id]  # closed (or its entry never filled)
            elif held >= self.hold and TradeStage.POSITION_OPEN in stages:
                # no size: the next leg; the kernel knows which one is due
                out.append(self._intent(bar, trade_id, "EXIT", bars_held=held))
        c = self.closes
        if len(c) == 4 and c[0] > c[1] > c[2] > c[3] and not self.open_trades:
            self.n += 1
            trade_id = f"legacy-{self.n}"
            self.open_trades[trade_id] = 0
            out.append(self._intent(bar, trade_id, "ENTER", target_size=self.size,
                                    confidence=0.6, exit_leg_ratios=(0.5, 0.5)))  # fmt: skip
        return out

    def on_outcome(self, outcome: KernelOutcome, view: PolicyView) -> list[LegacyIntent]:
        return []

    def _intent(self, bar: Bar, trade_id: str, action: str, **kw: object) -> LegacyIntent:
        self.n += 1
        return LegacyIntent(
            timestamp=bar.close_ts, trade_id=trade_id, decision_id=f"d{self.n}",
            asset=bar.symbol, action=action, side="LONG", reason="three falling closes",
            reference_price=float(bar.close), **kw,  # type: ignore[arg-type]
        )  # fmt: skip
