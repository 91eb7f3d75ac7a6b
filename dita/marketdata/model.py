from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Bar:
    """One OHLCV bar of one symbol. ``ts`` is the bar's open time in epoch milliseconds."""

    symbol: str
    ts: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal  # base-asset quantity traded in the bar
    close_ts: int  # epoch ms at which the bar closed


@dataclass(frozen=True, slots=True)
class Trade:
    """One public trade print."""

    symbol: str
    ts: int
    price: Decimal
    qty: Decimal
    buyer_is_maker: bool | None = None


class MarketDataError(ValueError):
    """A market data file that cannot be read as it stands. ``str()`` is ``path:line: problem``."""

    def __init__(self, path: str | Path, line: int | None, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {problem}")
