"""The sample data file shipped in the package: BTC-USDT 1m bars, Binance kline layout.

It is synthetic (``synthetic_bars`` with seed ``SAMPLE_SEED``, BTC-like
parameters) so it carries no licence question and can be regenerated bit for
bit by ``regenerate_sample``; 2,880 bars (two days from 2024-01-01 00:00 UTC),
tick 0.1, step 0.001, the grid of BTC-USDT perpetuals.
"""

from __future__ import annotations

from decimal import Decimal
from importlib.resources import files
from pathlib import Path

from dita.marketdata.csvio import read_bars
from dita.marketdata.model import Bar
from dita.marketdata.synthetic import synthetic_bars, write_binance_klines

SAMPLE_SYMBOL = "BTC-USDT"
SAMPLE_FILE = "btc_usdt_1m_sample.csv"
SAMPLE_SEED = 20240101
SAMPLE_BARS = 2880


def sample_bars_path() -> Path:
    """Path of the shipped sample CSV (the package is installed on disk, as pip does)."""
    return Path(str(files("dita").joinpath("data", SAMPLE_FILE)))


def read_sample_bars() -> list[Bar]:
    """The shipped sample bars, read through the ordinary CSV reader."""
    return read_bars(sample_bars_path(), SAMPLE_SYMBOL)


def sample_generator() -> list[Bar]:
    """The bars the sample file was generated from."""
    return list(
        synthetic_bars(
            SAMPLE_SYMBOL,
            SAMPLE_BARS,
            SAMPLE_SEED,
            Decimal("42283.5"),
            tick_size=Decimal("0.1"),
            step_size=Decimal("0.001"),
            volatility=0.0008,
            mean_volume=Decimal(180),
        )
    )


def regenerate_sample(path: Path | None = None) -> Path:
    """Write the sample file again (``python -m dita.marketdata.sample``)."""
    target = path or sample_bars_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    write_binance_klines(target, sample_generator())
    return target


if __name__ == "__main__":
    print(regenerate_sample())
