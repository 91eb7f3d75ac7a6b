"""``dita report`` on real runs: numbers tie out with the journal, an interrupted run keeps its bars."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from dita.journal import SqliteJournal
from dita.marketdata.model import Bar
from dita.marketdata.synthetic import synthetic_bars
from dita.report import collect, write_report
from dita.runner import execute, prepare_sim_run


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
