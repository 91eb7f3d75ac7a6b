"""Market data: OHLCV bars and trades, read from CSV exports or generated from a seed."""

from dita.marketdata.model import Bar, Trade

__all__ = ["Bar", "Trade"]
