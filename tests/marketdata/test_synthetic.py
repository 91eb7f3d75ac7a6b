"""The seeded bar generator and the shipped sample file."""

from __future__ import annotations

import io
import statistics
from decimal import Decimal
from itertools import islice, pairwise
from pathlib import Path

import pytest

from dita.marketdata import (
    SAMPLE_SYMBOL,
    read_bars,
    read_sample_bars,
    sample_bars_path,
    synthetic_bars,
    write_binance_klines,
)
from dita.marketdata.sample import SAMPLE_BARS, sample_generator

D = Decimal


def test_same_seed_same_bars_other_seed_other_bars() -> None:
    a = list(synthetic_bars("BTC-USDT", 500, 42, D("30000")))
    assert a == list(synthetic_bars("BTC-USDT", 500, 42, D("30000")))
    assert a != list(synthetic_bars("BTC-USDT", 500, 43, D("30000")))


def test_pinned_values_do_not_drift() -> None:
    # Pinned so that a change of algorithm (or of platform maths) is noticed:
    # backtests quoting a seed must keep meaning the same data.
    bars = list(synthetic_bars("BTC-USDT", 3, 1, D("42000")))
    assert [(b.open, b.high, b.low, b.close, b.volume) for b in bars] == PINNED


PINNED = [
    (D("42000.0"), D("42012.0"), D("41982.5"), D("42000.0"), D("126.488")),
    (D("42000.0"), D("42000.0"), D("41956.9"), D("41968.3"), D("214.607")),
    (D("41968.3"), D("41987.7"), D("41944.2"), D("41973.8"), D("85.741")),
]


def test_bars_are_on_the_grid_consistent_and_evenly_spaced() -> None:
    tick, step = D("0.5"), D("0.01")
    bars = list(
        synthetic_bars(
            "ETH-USDT",
            2000,
            3,
            D("2250.3"),
            tick_size=tick,
            step_size=step,
            start_ts=0,
            interval_ms=300_000,
        )
    )
    assert bars[0].open == D("2250.0")  # rounded down to the tick
    for prev, b in pairwise(bars):
        assert b.ts - prev.ts == 300_000
        assert b.open == prev.close
    for b in bars:
        assert b.close_ts == b.ts + 299_999
        for v in (b.open, b.high, b.low, b.close):
            assert v > 0 and v % tick == 0
        assert b.volume >= 0 and b.volume % step == 0
        assert b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high


def test_volatility_parameter_sets_the_size_of_returns() -> None:
    for vol in (0.0005, 0.002):
        bars = list(synthetic_bars("X", 20_000, 9, D("50000"), volatility=vol))
        sd = statistics.pstdev(float(b.close / b.open - 1) for b in bars)
        assert vol * 0.8 < sd < vol * 1.25


def test_generation_is_lazy() -> None:
    it = synthetic_bars("X", 10**15, 1, D("100"))
    assert len(list(islice(it, 3))) == 3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": -1}, "n must be"),
        ({"start_price": D("0.5")}, "at least 10 ticks"),
        ({"volatility": 0.5}, "volatility"),
        ({"interval_ms": 0}, "interval_ms"),
        ({"mean_volume": D(0)}, "mean_volume"),
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"symbol": "X", "n": 1, "seed": 1, "start_price": D(100)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        synthetic_bars(**args)  # type: ignore[arg-type]


def test_written_klines_read_back_identical(tmp_path: Path) -> None:
    bars = list(synthetic_bars("BTC-USDT", 300, 5, D("42000")))
    path = tmp_path / "k.csv"
    assert write_binance_klines(path, bars) == 300
    assert read_bars(path, "BTC-USDT") == bars
    buf = io.StringIO()
    write_binance_klines(buf, bars[:1], header=False)
    assert buf.getvalue().count(",") == 11  # the 12 Binance columns


def test_shipped_sample_is_the_seeded_series_in_binance_layout() -> None:
    path = sample_bars_path()
    assert path.is_file()
    assert path.read_text(encoding="utf-8").startswith(
        "open_time,open,high,low,close,volume,close_time,"
    )
    bars = read_sample_bars()
    assert len(bars) == SAMPLE_BARS
    assert {b.symbol for b in bars} == {SAMPLE_SYMBOL}
    assert bars == sample_generator()
