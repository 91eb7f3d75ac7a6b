"""``dita report`` on real runs: numbers tie out with the journal, an interrupted run keeps its bars."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from dita.app.runner import execute, prepare_sim_run
from dita.journal import SqliteJournal
from dita.marketdata.model import Bar
from dita.marketdata.synthetic import synthetic_bars
from dita.reporting.report import collect, write_report


class Stop(Exception):
    pass


def _interrupted(bars: Iterator[Bar], after: int) -> Iterator[Bar]:
    for n, bar in enumerate(bars):
        if n == after:
            raise Stop
        yield bar


def test_an_interrupted_run_shows_its_bars_and_price(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    run = prepare_sim_run(journal=journal)
    with pytest.raises(Stop):
        execute(run, bars=_interrupted(iter(run.bars()), 2500))
    with SqliteJournal.open(journal, readonly=True, create=False) as j:
        data = collect(j)
        page = write_report(j, tmp_path, journal)
    assert not data.finished
    # bar notes every 1000 bars; the ones committed before the stop are there
    assert 1000 <= data.bars < 2500
    [(sym, pts)] = data.prices.items()
    assert sym == "BTC-USDT" and len(pts) >= 100
    assert data.stats.bars == data.bars
    assert page.stat().st_mode & 0o777 == 0o600
    assert "stopped before its end" in page.read_text()


def test_report_numbers_tie_out_with_the_journal(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    bars = list(synthetic_bars("BTC-USDT", 3000, 5, Decimal(42000)))
    run = prepare_sim_run(journal=journal)
    result = execute(run, bars=iter(bars))
    with SqliteJournal.open(journal, readonly=True, create=False) as j:
        data = collect(j)
        totals = j.trade_totals()
    s = data.statistics
    assert data.finished and data.bars == 3000
    assert s.final_capital == result.kernel.account.capital
    assert s.all.trades == totals.trades and s.all.net_pnl == totals.net_pnl
    assert s.all.wins == totals.wins
    assert s.long.net_pnl + s.short.net_pnl == totals.net_pnl
    assert s.fees == result.kernel.account.fees and s.funding == result.kernel.account.funding
    # marked to market: the final equity is the capital plus the open positions at the last close
    last_close = bars[-1].close
    unrealized = Decimal(0)
    for i in range(result.kernel.slot_count):
        sl = result.kernel.slot(i)
        if sl.side is not None and sl.size > 0 and sl.entry_price is not None:
            sign = 1 if sl.side.value == "LONG" else -1
            unrealized += sign * (last_close - sl.entry_price) * sl.size
    assert data.prices["BTC-USDT"][-1] == (bars[-1].close_ts, last_close)
    assert abs(s.final_equity - (s.final_capital + unrealized)) < Decimal("1e-12")
    assert len(data.fills) == result.stats.fills


def test_two_symbol_run_reports_each_symbol(tmp_path: Path) -> None:
    import subprocess
    import sys

    from dita.marketdata.synthetic import write_binance_klines

    btc, eth = tmp_path / "btc.csv", tmp_path / "eth.csv"
    write_binance_klines(btc, synthetic_bars("BTC-USDT", 2000, 8, Decimal(42000)))
    write_binance_klines(eth, synthetic_bars("ETH-USDT", 2000, 9, Decimal(2300),
                                             tick_size=Decimal("0.01"), step_size=Decimal("0.01")))  # fmt: skip
    journal = tmp_path / "j.sqlite"
    subprocess.run(
        [sys.executable, "-m", "dita.cli", "run", "--data", f"BTC-USDT={btc}",
         "--data", f"ETH-USDT={eth}", "--journal", str(journal), "--quiet"],
        check=True, capture_output=True,
    )  # fmt: skip
    with SqliteJournal.open(journal, readonly=True, create=False) as j:
        data = collect(j)
        trades = j.trades()
    assert set(data.prices) == {"BTC-USDT", "ETH-USDT"}
    s = data.statistics
    assert set(s.per_symbol) == {t.asset for t in trades} == {"BTC-USDT", "ETH-USDT"}
    for sym, g in s.per_symbol.items():
        assert g.net_pnl == sum((t.net_pnl for t in trades if t.asset == sym), Decimal(0))
    assert {f.asset for f in data.fills} == {"BTC-USDT", "ETH-USDT"}
    assert set(s.buy_hold_return) == {"BTC-USDT", "ETH-USDT"}
