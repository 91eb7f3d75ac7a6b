"""Issue 11: a LONG that becomes a SELL, through the real engine, BingX adapter and emulator.

A policy hands dita ``side="LONG"``: the plain string, not ``Side.LONG``.
``"LONG" in (Side.LONG, Side.SHORT)`` holds (StrEnum equality) but ``"LONG" is
Side.LONG`` does not, so the kernel used to emit a SELL and a short position
opened on the venue for a LONG intent (then ``snapshot()`` crashed, and replay,
which decodes ``"LONG"`` into ``Side.LONG``, disagreed with the run).

Now it is refused where it enters: the journal will not record an intent that
would not come back as itself, so the engine stops with a ``PolicyFault`` before
the kernel sees it and nothing reaches the venue; the kernel refuses it too if
called directly (tests/kernel/test_boundary_fuzz.py). A typed ``Side.LONG``
through the same path is a BUY and a long position.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from dita.app.runner import sample_data_path
from dita.clock import SimClock
from dita.engine import Engine, EngineSettings, PolicyFault
from dita.journal import RunMeta, SqliteJournal, replay
from dita.kernel import Action, Kernel, KernelIntent, KernelOutcome, OrderType, Side
from dita.marketdata import Bar
from dita.marketdata.csvio import read_bars
from dita.policy import PolicyView
from dita.venues.bingx import BingxConfig, BingxVenue, Credentials, Endpoints
from dita.venues.bingx_emulator import BingxEmulator
from tests import loopback

KEY = "typed-side-key"
SECRET = "typed-side-secret"


class EnterOnce:
    """On the first bar: ENTER a MARKET long of 0.05 with ``side`` exactly as given."""

    def __init__(self, side: Any) -> None:
        self.side = side
        self.n = 0

    def on_bar(self, bar: Bar, view: PolicyView) -> Sequence[KernelIntent]:
        self.n += 1
        if self.n != 1:
            return []
        return [
            KernelIntent(
                "i1", view.now_ms, 0, Action.ENTER, trade_id="t1", asset=bar.symbol,
                side=self.side, size=Decimal("0.05"), order_type=OrderType.MARKET,
                reference_price=bar.close,
            )
        ]  # fmt: skip

    def on_outcome(self, outcome: KernelOutcome, view: PolicyView) -> Sequence[KernelIntent]:
        return ()


async def _run(tmp_path: Path, side: Any) -> tuple[BingxEmulator, Engine, BaseException | None]:
    bars = read_bars(sample_data_path(), "BTC-USDT")[:8]
    async with BingxEmulator(KEY, SECRET, initial_balance=Decimal(10_000)) as emu:
        await emu.set_price("BTC-USDT", bars[0].open)
        async with loopback.async_client(timeout=httpx.Timeout(5.0, connect=2.0)) as client:
            venue = BingxVenue(
                client,
                Credentials(KEY, SECRET),
                BingxConfig(endpoints=Endpoints.loopback(emu.port), rate_limits={}),
            )
            inst = (await venue.load_instruments())["BTC-USDT"]
            box: list[Engine] = []

            async def feed() -> AsyncIterator[Bar]:
                for i, bar in enumerate(bars):
                    await box[0].wait_settled(i)
                    for px in (bar.open, bar.low, bar.high, bar.close):
                        await emu.trade("BTC-USDT", px, bar.volume / 4)
                    yield bar

            error: BaseException | None = None
            with SqliteJournal.open(tmp_path / "j.sqlite") as journal:
                engine = Engine(
                    kernel=Kernel(1, [inst], Decimal(10_000)),
                    venue=venue,
                    policy=EnterOnce(side),
                    journal=journal,
                    clock=SimClock(),
                    meta=RunMeta(
                        slots=1, instruments=(inst,), initial_capital=Decimal(10_000), venue="bingx"
                    ),
                    bars=feed(),
                    settings=EngineSettings(drain_timeout_s=2.0),
                )
                box.append(engine)
                try:
                    await engine.run()
                except* PolicyFault as group:  # (the engine runs its tasks in a TaskGroup)
                    error = group.exceptions[0]
        return emu, engine, error


async def test_plain_string_long_never_reaches_the_venue_as_a_sell(tmp_path: Path) -> None:
    emu, engine, error = await _run(tmp_path, "LONG")
    assert isinstance(error, PolicyFault), error
    assert "side='LONG'" in str(error) and "Side.LONG" in str(error)
    # nothing reached the venue: no order, no position (it used to be a SELL and a short)
    assert emu.exchange.order_count() == 0
    assert emu.exchange.positions_data({}) == []
    assert engine.kernel.live_orders() == [] and engine.kernel.check_invariants() == []
    engine.kernel.snapshot()  # (crashed on "'str' object has no attribute 'value'" before)
    with SqliteJournal.open(tmp_path / "j.sqlite", readonly=True, create=False) as j:
        assert replay(j, from_snapshot=False).snapshot() == engine.kernel.snapshot()


@pytest.mark.parametrize("side", [Side.LONG])
async def test_typed_long_reaches_the_venue_as_a_buy(tmp_path: Path, side: Side) -> None:
    emu, engine, error = await _run(tmp_path, side)
    assert error is None
    assert emu.exchange.order_count() == 1
    rows = emu.exchange.positions_data({})
    assert [(r["symbol"], r["positionSide"]) for r in rows] == [("BTC-USDT", "LONG")], rows
    assert Decimal(rows[0]["positionAmt"]) == Decimal("0.05")
    with SqliteJournal.open(tmp_path / "j.sqlite", readonly=True, create=False) as j:
        assert replay(j, from_snapshot=False).snapshot() == engine.kernel.snapshot()
