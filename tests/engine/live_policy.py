"""A policy for the live-run tests (loaded by ``dita run --policy`` in a subprocess):
one MARKET long on the first bar it sees, exited on the first bar after it is open."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from dita.kernel import Action, KernelIntent, KernelOutcome, Side, TradeStage
from dita.marketdata import Bar
from dita.policy import PolicyView


class EnterThenExit:
    def __init__(self) -> None:
        self.state = "enter"

    def on_bar(self, bar: Bar, view: PolicyView) -> Sequence[KernelIntent]:
        slot = view.slot(0)
        if self.state == "enter" and slot.stage in (TradeStage.IDLE, TradeStage.CLOSED):
            self.state = "entered"
            return [
                KernelIntent(
                    intent_id=f"live-enter-{bar.ts}", ts=view.now_ms, slot_id=0,
                    action=Action.ENTER, trade_id=f"live-{bar.ts}", asset=bar.symbol,
                    side=Side.LONG, size=Decimal("0.001"), reference_price=bar.close,
                )
            ]  # fmt: skip
        if self.state == "entered" and slot.stage is TradeStage.POSITION_OPEN:
            self.state = "exited"
            return [
                KernelIntent(
                    intent_id=f"live-exit-{bar.ts}", ts=view.now_ms, slot_id=0,
                    action=Action.EXIT, trade_id=slot.trade_id,
                )
            ]  # fmt: skip
        return []

    def on_outcome(self, outcome: KernelOutcome, view: PolicyView) -> Sequence[KernelIntent]:
        return []
