"""Market data: OHLCV bars and trades, read from CSV exports or generated from a seed.

* ``iter_bars`` / ``read_bars`` / ``iter_trades`` / ``read_trades``: CSV readers
  (Binance and BingX layouts, auto-detected; see ``dita.marketdata.csvio``).
* ``synthetic_bars``: a seeded, lazy random walk on the tick grid.
* ``sample_bars_path`` / ``read_sample_bars``: the BTC-USDT 1m sample shipped
  in the package.
"""

from dita.marketdata.csvio import iter_bars, iter_trades, read_bars, read_trades
from dita.marketdata.model import Bar, MarketDataError, Trade
from dita.marketdata.sample import SAMPLE_SYMBOL, read_sample_bars, sample_bars_path
from dita.marketdata.synthetic import synthetic_bars, write_binance_klines

__all__ = [
    "SAMPLE_SYMBOL",
    "Bar",
    "MarketDataError",
    "Trade",
    "iter_bars",
    "iter_trades",
    "read_bars",
    "read_sample_bars",
    "read_trades",
    "sample_bars_path",
    "synthetic_bars",
    "write_binance_klines",
]
