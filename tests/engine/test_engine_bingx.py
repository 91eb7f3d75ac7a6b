"""The async engine against the real BingX adapter, over HTTP and WebSocket on 127.0.0.1.

Nothing is mocked: the loopback BingX emulator (the sim matching engine behind
BingX's wire protocol) on one side, ``BingxVenue`` on the other, the engine,
kernel, demo-style policy and a durable journal in between. Bars are played
into the emulator as trade prints (open, the two extremes, close).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from pathlib import Path

import httpx

from dita.app.runner import sample_data_path
from dita.clock import SimClock
from dita.engine import Engine, EngineSettings
from dita.journal import RunMeta, SqliteJournal, replay
from dita.kernel import Action, Kernel, KernelIntent, KernelOutcome, OrderType, Side, TradeStage
from dita.marketdata import Bar
from dita.marketdata.csvio import read_bars
from dita.policy import PolicyView
from dita.venues.bingx import BingxConfig, BingxVenue, Credentials, Endpoints
from dita.venues.bingx_emulator import BingxEmulator
from tests import loopback

KEY = "engine-test-key"
SECRET = "engine-test-secret-never-logged"


class TwoTrades:
    """ENTER MARKET long, exit in two MARKET legs, twice."""

    def __init__(self) -> None:
        self.n = 0
        self.trades = 0

    def on_bar(self, bar: Bar, view: PolicyView) -> Sequence[KernelIntent]:
        self.n += 1
        s = view.slot(0)
        if s.stage in (TradeStage.IDLE, TradeStage.CLOSED) and self.trades < 2:
            self.trades += 1
            return [
                KernelIntent(f"i{self.n}", view.now_ms, 0, Action.ENTER, trade_id=f"t{self.trades}",
                             asset=bar.symbol, side=Side.LONG, size=Decimal("0.05"),
                             order_type=OrderType.MARKET, reference_price=bar.close,
                             exit_leg_ratios=(Decimal("0.5"), Decimal("0.5")))
            ]  # fmt: skip
        if s.stage is TradeStage.POSITION_OPEN:
            return [KernelIntent(f"i{self.n}", view.now_ms, 0, Action.EXIT, trade_id=s.trade_id)]
        return []

    def on_outcome(self, outcome: KernelOutcome, view: PolicyView) -> Sequence[KernelIntent]:
        return ()


async def test_engine_trades_through_the_bingx_adapter_and_emulator(tmp_path: Path) -> None:
    bars = read_bars(sample_data_path(), "BTC-USDT")[:150]  # slack: the policy stops after 2 trades
    async with BingxEmulator(KEY, SECRET, initial_balance=Decimal(10_000)) as emu:
        await emu.set_price("BTC-USDT", bars[0].open)
        async with loopback.async_client(timeout=httpx.Timeout(5.0, connect=2.0)) as client:
            venue = BingxVenue(
                client,
                Credentials(KEY, SECRET),
                BingxConfig(endpoints=Endpoints.loopback(emu.port), rate_limits={}),
            )
            instruments = await venue.load_instruments()
            inst = instruments["BTC-USDT"]
            capital = Decimal(10_000)
            engine_box: list[Engine] = []

            async def feed() -> AsyncIterator[Bar]:
                for i, bar in enumerate(bars):
                    await engine_box[0].wait_settled(i)
                    lo_first = bar.close >= bar.open
                    path = (
                        [bar.open, bar.low, bar.high] if lo_first else [bar.open, bar.high, bar.low]
                    )
                    for px in [*path, bar.close]:
                        await emu.trade("BTC-USDT", px, bar.volume / 4)
                    yield bar

            with SqliteJournal.open(tmp_path / "j.sqlite") as journal:
                engine = Engine(
                    kernel=Kernel(1, [inst], capital),
                    venue=venue,
                    policy=TwoTrades(),
                    journal=journal,
                    clock=SimClock(),
                    meta=RunMeta(
                        slots=1, instruments=(inst,), initial_capital=capital, venue="bingx"
                    ),
                    bars=feed(),
                    settings=EngineSettings(drain_timeout_s=2.0),
                )
                engine_box.append(engine)
                stats = await engine.run()
                kernel = engine.kernel
            assert stats.trades == 2, stats
            assert stats.orders == 6 and stats.fills >= 6
            # the kernel's money is the venue's money, exactly
            acct = kernel.account
            assert acct.capital == capital + acct.realized_pnl - acct.fees + acct.funding
            wallet = emu.exchange.sim.balance().wallet  # type: ignore[attr-defined]
            assert wallet == acct.capital
    with SqliteJournal.open(tmp_path / "j.sqlite", readonly=True, create=False) as j:
        assert replay(j, from_snapshot=False).snapshot() == kernel.snapshot()
        assert SECRET not in repr(j.execute("SELECT payload FROM records"))
