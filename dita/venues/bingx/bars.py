"""Live 1-minute bars from BingX's public klines endpoint.

``GET /openApi/swap/v3/quote/klines?symbol=&interval=1m&limit=[&startTime=]``
(PROTOCOL.md §1; no signature, public rate limit 5/s per UID).

Wire shape. The recorded answer we have (JKorf/BingX.Net unit-test fixture
``PerpetualFutures/ExchangeData/GetKlines.txt``, and the official docs as
scraped in Nov 2025) is the *object* form, decimals as strings::

    {"code": 0, "msg": "", "data": [
        {"open": "0.7034", "close": "0.7065", "high": "0.7081", "low": "0.7033",
         "volume": "635494.00", "time": 1702717200000}]}

The docs type the prices as ``float64``, so bare JSON numbers are accepted too
(decoded from their text, never through float). Some third-party clients also
read an *array* form ``[time, open, high, low, close, volume, ...]``; that is
**UNCONFIRMED** for this endpoint, and accepted as well. The order of the rows
is unconfirmed (one client reverses them: newest first), so rows are sorted by
open time here. The row whose minute has not ended yet is the bar still
forming; it is never handed out.

``BingxBarFeed`` polls that endpoint through an injected ``httpx.AsyncClient``,
clock and sleep, and yields each *closed* bar once, in open-time order. After
a stall (a slow consumer, a network outage) it asks for everything since the
last bar it handed out (``startTime``), page by page, so missed bars are
fetched, never skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal

import httpx
import msgspec

from dita.marketdata import Bar
from dita.venues.bingx import wire
from dita.venues.bingx.clock import Clock, wall_clock_ms
from dita.venues.bingx.errors import ErrorClass, classify
from dita.venues.bingx.signing import public_query

log = logging.getLogger("dita.venues.bingx.bars")

KLINES = "/openApi/swap/v3/quote/klines"
MINUTE_MS = 60_000
MAX_LIMIT = 1440  # BingX's documented maximum per request
_TRANSIENT = (ErrorClass.RETRY_LATER, ErrorClass.UNAVAILABLE, ErrorClass.TIMESTAMP)


class KlineError(wire.WireError):
    """A klines answer we cannot turn into bars (shape, numbers, or a BingX error code)."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


class _ObjectRow(msgspec.Struct, frozen=True):
    open: Decimal
    close: Decimal
    high: Decimal
    low: Decimal
    volume: Decimal
    time: int


def _row(raw: msgspec.Raw) -> tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal]:
    """(open time, open, high, low, close, volume) from one row in either form."""
    text = bytes(raw).lstrip()
    if text.startswith(b"{"):
        r = wire.decode(raw, _ObjectRow)
        return r.time, r.open, r.high, r.low, r.close, r.volume
    if text.startswith(b"["):
        cells = wire.decode(raw, list[msgspec.Raw])
        if len(cells) < 6:
            raise KlineError(f"kline array has {len(cells)} cells, expected at least 6")
        ts = wire.decode(cells[0], int)
        o, h, lo, c, v = (wire.decode(cells[i], Decimal) for i in range(1, 6))
        return ts, o, h, lo, c, v
    raise KlineError(f"kline row is neither an object nor an array: {text[:40]!r}")


def parse_klines(payload: bytes, symbol: str, interval_ms: int = MINUTE_MS) -> list[Bar]:
    """Every row of a klines answer as a ``Bar`` (closed or not), sorted by open time.

    ``payload`` is the whole HTTP body (envelope included). A non-zero ``code``,
    a malformed row, a non-finite or negative number, or a high/low that does
    not contain the open and close raises ``KlineError``. ``close_ts`` is the
    last millisecond of the bar (open + interval - 1), as in CSV exports.
    """
    try:
        env = wire.decode(payload, wire.Envelope)
        if env.code != 0:
            raise KlineError(f"BingX klines error {env.code}: {env.msg}", env.code)
        rows = (
            [] if bytes(env.data).strip() == b"null" else wire.decode(env.data, list[msgspec.Raw])
        )
        parsed = [_row(r) for r in rows]
    except KlineError:
        raise
    except wire.WireError as e:
        raise KlineError(str(e)) from None
    bars: dict[int, Bar] = {}
    for ts, o, h, lo, c, v in parsed:
        if not all(x.is_finite() for x in (o, h, lo, c, v)):
            raise KlineError(f"kline {ts}: non-finite number")
        if min(o, h, lo, c) <= 0 or v < 0:
            raise KlineError(f"kline {ts}: prices must be > 0 and volume >= 0")
        if h < max(o, c, lo) or lo > min(o, c):
            raise KlineError(
                f"kline {ts}: high {h} / low {lo} do not contain open {o} and close {c}"
            )
        bars[ts] = Bar(symbol, ts, o, h, lo, c, v, ts + interval_ms - 1)
    return [bars[ts] for ts in sorted(bars)]


class BingxBarFeed:
    """Closed bars of one symbol, polled from ``base_url``; an async iterator of ``Bar``.

    ``interval_ms`` is the length of BingX's ``1m`` bar: 60 000 on BingX; a
    loopback emulator may be told to make its "minute" shorter so tests run
    fast (``BingxEmulator(kline_ms=...)``). A bar is closed once the clock has
    passed its end by ``grace_ms`` (the server's clock may lag ours), or once a
    later bar exists. Transport errors, 5xx and rate limits are retried with
    backoff (logged without the URL's query); a BingX error code or a
    malformed answer raises ``KlineError``.

    ``until_ms`` (clock time) and ``max_bars`` end the feed. Between requests it
    sleeps until the bar still forming should have closed, so a healthy feed makes
    about one request per bar; ``poll_s`` is the pace while a bar is overdue.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        symbol: str,
        *,
        clock: Clock = wall_clock_ms,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        interval_ms: int = MINUTE_MS,
        grace_ms: int = 2_000,
        poll_s: float | None = None,
        limit: int = 100,
        max_bars: int | None = None,
        until_ms: int | None = None,
        start_after_ms: int | None = None,
        retry_max_s: float = 30.0,
    ) -> None:
        if interval_ms <= 0:
            raise ValueError(f"interval_ms must be > 0, got {interval_ms}")
        if not 2 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be in 2..{MAX_LIMIT}, got {limit}")
        self._client = client
        self._url = base_url.rstrip("/") + KLINES
        self.symbol = symbol
        self._clock = clock
        self._sleep = sleep
        self.interval_ms = interval_ms
        self.grace_ms = grace_ms
        self.poll_s = poll_s if poll_s is not None else min(1.0, interval_ms / 4000)
        self.limit = limit
        self.max_bars = max_bars
        self.until_ms = until_ms
        self.retry_max_s = retry_max_s
        # open time of the last bar handed out; None: start with the newest closed bar
        self.last_ts: int | None = start_after_ms
        self.emitted = 0
        self.requests = 0

    def __aiter__(self) -> AsyncIterator[Bar]:
        return self._run()

    def _done(self) -> bool:
        if self.max_bars is not None and self.emitted >= self.max_bars:
            return True
        return self.until_ms is not None and self._clock() >= self.until_ms

    def _closed(self, bar: Bar, newest_ts: int, now: int) -> bool:
        return bar.ts < newest_ts or bar.ts + self.interval_ms + self.grace_ms <= now

    async def _run(self) -> AsyncIterator[Bar]:
        while not self._done():
            bars = await self._fetch()
            now = self._clock()
            newest = bars[-1].ts if bars else -1
            fresh = [
                b for b in bars
                if (self.last_ts is None or b.ts > self.last_ts) and self._closed(b, newest, now)
            ]  # fmt: skip
            if self.last_ts is None and fresh:
                fresh = fresh[-1:]  # a new feed starts at the newest closed bar, not in the past
            for bar in fresh:
                self.last_ts = bar.ts
                self.emitted += 1
                yield bar
                if self._done():
                    return
            if len(fresh) >= self.limit - 1:
                continue  # a full page after a gap: there is probably more to fetch at once
            await self._sleep(self._wait_s(newest, self._clock()))

    def _wait_s(self, newest_ts: int, now: int) -> float:
        """Until the bar still forming should be closed (one request per bar when all is
        well), or ``poll_s`` when it is overdue or unknown; never past ``until_ms``."""
        due = newest_ts + self.interval_ms + self.grace_ms - now if newest_ts >= 0 else 0
        wait_ms = float(due) if due > 0 else self.poll_s * 1000
        if self.until_ms is not None:
            wait_ms = min(wait_ms, max(0.0, float(self.until_ms - now)))
        return wait_ms / 1000

    def _request_url(self) -> str:
        params: dict[str, str | int] = {
            "symbol": self.symbol,
            "interval": "1m",
            "limit": self.limit,
            "timestamp": self._clock(),  # documented as required even on this public endpoint
        }
        if self.last_ts is not None:
            params["startTime"] = self.last_ts + self.interval_ms
        return f"{self._url}?{public_query(params)}"

    async def _fetch(self) -> list[Bar]:
        backoff = 0.25
        while True:
            url = self._request_url()
            self.requests += 1
            problem: str
            try:
                resp = await self._client.get(url)
            except httpx.TransportError as e:
                problem = type(e).__name__
            else:
                if resp.status_code == 200:
                    try:
                        return parse_klines(resp.content, self.symbol, self.interval_ms)
                    except KlineError as e:
                        if classify(e.code) not in _TRANSIENT:
                            raise
                        problem = str(e)
                elif resp.status_code not in (418, 429) and resp.status_code < 500:
                    raise KlineError(f"GET {KLINES}: HTTP {resp.status_code}")
                else:
                    problem = f"HTTP {resp.status_code}"
            log.warning("GET %s: %s; retrying in %.2fs", KLINES, problem, backoff)
            await self._sleep(backoff)
            backoff = min(backoff * 2, self.retry_max_s)
            if self._done():
                return []
