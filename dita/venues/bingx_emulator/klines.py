"""The emulator's ``GET /openApi/swap/v3/quote/klines``: 1m bars built from its trade prints.

Every print the emulator sees (``BingxEmulator.trade``) lands in the bar of
the minute its clock says it is in. A minute without prints, after the first
one, is a flat bar at the last price with zero volume, so the series has no
holes. The bar of the current minute is served while it forms, as BingX does.

Rows are answered in BingX's recorded object form with string decimals
(see ``dita.venues.bingx.bars``), newest first (what one client reports of
BingX; UNCONFIRMED, and the adapter sorts anyway). ``kline_ms`` is the length
of a "minute": 60 000 unless a test wants minutes to pass quickly.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dita.venues.bingx_emulator.exchange import ApiError

MAX_LIMIT = 1440


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

    def rows(self, symbol: str, params: dict[str, str], now_ms: int) -> list[dict[str, Any]]:
        """BingX's ``data`` for one klines request (``interval=1m`` only)."""
        interval = params.get("interval", "")
        if interval != "1m":
            raise ApiError(
                80014, f"Invalid parameters, interval {interval!r}: the emulator serves 1m"
            )
        limit = _int(params, "limit", 500)
        if not 1 <= limit <= MAX_LIMIT:
            raise ApiError(80014, f"Invalid parameters, limit must be 1..{MAX_LIMIT}")
        book = self._books.get(symbol, {})
        if not book:
            return []
        first, last = min(book), self.start_of(now_ms)
        start = _int(params, "startTime", -1)
        end = _int(params, "endTime", -1)
        lo = max(first, self.start_of(start) + (self.kline_ms if start % self.kline_ms else 0))
        hi = last if end < 0 else min(last, self.start_of(end))
        if start >= 0:
            opens = range(lo, hi + 1, self.kline_ms)[:limit]
        else:
            opens = range(first, hi + 1, self.kline_ms)[-limit:]
        out: list[dict[str, Any]] = []
        prev: _Bucket | None = None
        for t in range(first, opens[-1] + 1 if opens else first, self.kline_ms):
            b = book.get(t)
            if b is None and prev is not None:
                b = _Bucket(prev.close, prev.close, prev.close, prev.close, Decimal(0))
            if b is not None:
                prev = b
                if t >= (opens[0] if opens else t + 1):
                    out.append(_render(t, b))
        out.reverse()
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


def _int(params: dict[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(80014, f"Invalid parameters, {name} must be an integer") from None
