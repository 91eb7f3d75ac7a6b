"""Issue 11: a LONG that becomes a SELL, through the real engine, BingX adapter and emulator.

A policy hands the kernel ``side="LONG"``: the plain string, not ``Side.LONG``.
``"LONG" in (Side.LONG, Side.SHORT)`` holds (StrEnum equality) but ``"LONG" is
Side.LONG`` does not, so the kernel used to emit a SELL, and a short position
opened on the venue for a LONG intent. Now the kernel refuses it (INVALID_SIDE)
and the correctly typed LONG that follows reaches the venue as a BUY.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from dita.clock import SimClock
from dita.engine import Engine
from dita.journal import RunMeta, SqliteJournal
from dita.kernel import (
    Action,
    Kernel,
    KernelDiagnosticCode,
    KernelIntent,
    KernelOutcome,
    OrderType,
    Side,
    TradeStage,
)
from dita.marketdata import Bar
from dita.marketdata.csvio import read_bars
from dita.policy import PolicyView
from dita.runner import sample_data_path
from dita.venues.bingx import BingxConfig, BingxVenue, Credentials, Endpoints
from dita.venues.bingx_emulator import BingxEmulator

KEY = "typed-side-key"
SECRET = "typed-side-secret"


class StringSideThenEnum:
    """Bar 1: ENTER with side "LONG" (a str). After its outcome: the same with Side.LONG."""

    def __init__(self) -> None:
        self.n = 0
        self.outcomes: list[KernelOutcome] = []
        self.sent_typed = False

    def _enter(self, view: PolicyView, bar: Bar, side: Any) -> KernelIntent:
        return KernelIntent(
            f"i{self.n}", view.now_ms, 0, Action.ENTER, trade_id=f"t{self.n}", asset=bar.symbol,
            side=side, size=Decimal("0.05"), order_type=OrderType.MARKET,
            reference_price=bar.close,
        )  # fmt: skip

    def on_bar(self, bar: Bar, view: PolicyView) -> Sequence[KernelIntent]:
        self.n += 1
        if self.n == 1:
            return [self._enter(view, bar, "LONG")]
        if self.n == 3 and not self.sent_typed and view.slot(0).stage is TradeStage.IDLE:
            self.sent_typed = True
            return [self._enter(view, bar, Side.LONG)]
        return []

    def on_outcome(self, outcome: KernelOutcome, view: PolicyView) -> Sequence[KernelIntent]:
        self.outcomes.append(outcome)
        return ()


async def test_plain_string_long_never_reaches_the_venue_as_a_sell(tmp_path: Path) -> None:
    bars = read_bars(sample_data_path(), "BTC-USDT")[:12]
    async with BingxEmulator(KEY, SECRET, initial_balance=Decimal(10_000)) as emu:
        await emu.set_price("BTC-USDT", bars[0].open)
        async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=2.0)) as client:
            venue = BingxVenue(
                client,
                Credentials(KEY, SECRET),
                BingxConfig(endpoints=Endpoints.loopback(emu.port), rate_limits={}),
            )
            inst = (await venue.load_instruments())["BTC-USDT"]
            engine_box: list[Engine] = []

            async def feed() -> AsyncIterator[Bar]:
                for i, bar in enumerate(bars):
                    await engine_box[0].wait_settled(i)
                    for px in (bar.open, bar.low, bar.high, bar.close):
                        await emu.trade("BTC-USDT", px, bar.volume / 4)
                    yield bar

            policy = StringSideThenEnum()
            with SqliteJournal.open(tmp_path / "j.sqlite") as journal:
                engine = Engine(
                    kernel=Kernel(1, [inst], Decimal(10_000)),
                    venue=venue,
                    policy=policy,
                    journal=journal,
                    clock=SimClock(),
                    meta=RunMeta(
                        slots=1, instruments=(inst,), initial_capital=Decimal(10_000), venue="bingx"
                    ),
                    bars=feed(),
                    drain_timeout=2.0,
                )
                engine_box.append(engine)
                await engine.run()
                kernel = engine.kernel
            first = policy.outcomes[0]
            assert not first.accepted and first.diagnostic_code is KernelDiagnosticCode.INVALID_SIDE
            assert first.commands == ()
            # the venue saw exactly one order, the typed LONG, and holds a long position
            assert emu.exchange.order_count() == 1
            rows = emu.exchange.positions_data({})
            assert [(r["symbol"], r["positionSide"]) for r in rows] == [("BTC-USDT", "LONG")], rows
            assert Decimal(rows[0]["positionAmt"]) == Decimal("0.05")
            assert kernel.slot(0).side is Side.LONG
            kernel.snapshot()  # (crashed on "'str' object has no attribute 'value'" before)
