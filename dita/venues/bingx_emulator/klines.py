"""The emulator's ``GET /openApi/swap/v3/quote/klines``: bars built from its trade prints.

Every print the emulator sees (``BingxEmulator.trade``) lands in the bar of
the minute its clock says it is in. A minute without prints, after the first
one, is a flat bar at the last price with zero volume, so the series has no
holes. The bar of the current minute is served while it forms, as BingX does.

Every interval BingX documents for swap klines (1m 3m 5m 15m 30m 1h 2h 4h 6h
8h 12h 1d 3d 1w 1M: the "interval" table of the official swap WebSocket
market-data document, BingX-API/BingX-swap-api-v2-doc, and ccxt's bingx
``timeframes``) is served by merging the 1m bars: a bar opens at a multiple
of its length since the epoch (weeks on Mondays, months on the first of the
calendar month, UTC), like the exchange's UTC-anchored swap klines.

Rows are answered in BingX's recorded object form with string decimals
(see ``dita.venues.bingx.bars``), newest first (what one client reports of
BingX; UNCONFIRMED, and the adapter sorts anyway). ``kline_ms`` is the length
of a "minute": 60 000 unless a test wants minutes to pass quickly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from dita.venues.bingx_emulator.protocol import ApiError, int_param

MAX_LIMIT = 1440
MONTH = "1M"
# interval -> length in minutes (of ``kline_ms`` each); "1M" is a calendar month
INTERVAL_MINUTES: dict[str, int] = {
    "1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "2h": 120, "4h": 240,
    "6h": 360, "8h": 480, "12h": 720, "1d": 1440, "3d": 4320, "1w": 10080, MONTH: 0,
}  # fmt: skip
_MONDAY_OFFSET_MIN = 4 * 1440  # the epoch (1970-01-01) was a Thursday


@dataclass
class _Bucket:
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


class KlineBook:
    """Per-symbol 1m buckets of trade prints, keyed by the bucket's open time."""

    def __init__(self, kline_ms: int = 60_000) -> None:
        if kline_ms <= 0:
            raise ValueError(f"kline_ms must be > 0, got {kline_ms}")
        self.kline_ms = kline_ms
        self._books: dict[str, dict[int, _Bucket]] = {}

    def start_of(self, ts: int) -> int:
        return ts - ts % self.kline_ms

    def add(self, symbol: str, ts: int, price: Decimal, qty: Decimal) -> None:
        book = self._books.setdefault(symbol, {})
        start = self.start_of(ts)
        b = book.get(start)
        if b is None:
            book[start] = _Bucket(price, price, price, price, qty)
            return
        b.high = max(b.high, price)
        b.low = min(b.low, price)
        b.close = price
        b.volume += qty

    def bar_start(self, ts: int, interval: str) -> int:
        """Open time of the ``interval`` bar that holds ``ts``."""
        if interval == MONTH:
            day = datetime.fromtimestamp(ts / 1000, UTC)
            first = datetime(day.year, day.month, 1, tzinfo=UTC)
            return int(first.timestamp()) * 1000
        length = INTERVAL_MINUTES[interval] * self.kline_ms
        offset = _MONDAY_OFFSET_MIN * self.kline_ms if interval == "1w" else 0
        return ts - (ts - offset) % length

    def rows(self, symbol: str, params: dict[str, str], now_ms: int) -> list[dict[str, Any]]:
        """BingX's ``data`` for one klines request, newest bar first."""
        interval = params.get("interval", "")
        if interval not in INTERVAL_MINUTES:
            raise ApiError(
                80014,
                f"Invalid parameters, interval {interval[:20]!r}: one of {', '.join(INTERVAL_MINUTES)}",
            )
        limit = int_param(params, "limit", 500)
        if not 1 <= limit <= MAX_LIMIT:
            raise ApiError(80014, f"Invalid parameters, limit must be 1..{MAX_LIMIT}")
        bars = self.bars(symbol, interval, now_ms)
        if not bars:
            return []
        start = int_param(params, "startTime", -1)
        end = int_param(params, "endTime", -1)
        if start > now_ms:
            return []
        end = min(end, now_ms)
        opens = [t for t, _ in bars]
        lo = self.bar_start(start, interval) if start >= 0 else opens[0]
        if start >= 0 and lo < start:  # a bar that opened before startTime is not served
            lo = next((t for t in opens if t >= start), opens[-1] + 1)
        hi = opens[-1] if end < 0 else min(opens[-1], self.bar_start(end, interval))
        chosen = [(t, b) for t, b in bars if lo <= t <= hi]
        chosen = chosen[:limit] if start >= 0 else chosen[-limit:]
        return [_render(t, b) for t, b in reversed(chosen)]

    def latest(self, symbol: str, interval: str, now_ms: int) -> dict[str, Any] | None:
        """The forming ``interval`` bar, rendered like a REST row (None before any print)."""
        bars = self.bars(symbol, interval, now_ms)
        return _render(*bars[-1]) if bars else None

    def bars(self, symbol: str, interval: str, now_ms: int) -> list[tuple[int, _Bucket]]:
        """Every ``interval`` bar from the first print to the one forming now, oldest first."""
        book = self._books.get(symbol, {})
        if not book:
            return []
        out: list[tuple[int, _Bucket]] = []
        prev: _Bucket | None = None
        for t in range(min(book), self.start_of(now_ms) + 1, self.kline_ms):
            b = book.get(t)
            if b is None:
                assert prev is not None  # the first minute always has a print
                b = _Bucket(prev.close, prev.close, prev.close, prev.close, Decimal(0))
            prev = b
            key = self.bar_start(t, interval)
            if out and out[-1][0] == key:
                agg = out[-1][1]
                agg.high = max(agg.high, b.high)
                agg.low = min(agg.low, b.low)
                agg.close = b.close
                agg.volume += b.volume
            else:
                out.append((key, _Bucket(b.open, b.high, b.low, b.close, b.volume)))
        return out


def _render(ts: int, b: _Bucket) -> dict[str, Any]:
    return {
        "open": format(b.open, "f"),
        "close": format(b.close, "f"),
        "high": format(b.high, "f"),
        "low": format(b.low, "f"),
        "volume": format(b.volume, "f"),
        "time": ts,
    }
