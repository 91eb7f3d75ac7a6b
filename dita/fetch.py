"""``dita instruments fetch`` and ``dita data fetch``: BingX's public data, saved for runs.

Both go through the BingX adapter (``BingxVenue.load_contracts`` and the
klines parser of ``dita.venues.bingx.bars``), to BingX, its VST demo host, or a
loopback emulator; neither needs an API key.

**Klines** (``GET /openApi/swap/v3/quote/klines``, at most 1440 rows a
request) are fetched page by page from ``start`` up to ``end`` (open times
``start <= t < end``) and only closed bars are kept. Each page is appended to
``<out>.part`` and flushed before the next request, so an interrupted fetch
resumes where it stopped (the last saved bar + one interval); when the range
is complete the file is renamed to ``<out>``. A complete ``<out>`` is the
cache: fetching the same range again makes no request. Missing bars (BingX
has none for a stretch) are counted and reported, never invented. The file is
CSV with header ``open_time,open,high,low,close,volume,close_time`` (epoch
ms), which ``dita run --data`` reads.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from dita.files import open_private, write_private
from dita.kernel import Instrument
from dita.marketdata import Bar
from dita.markets import render_instruments_file
from dita.venues.bingx import parse
from dita.venues.bingx.bars import KLINES, KlineError, parse_klines
from dita.venues.bingx.signing import public_query
from dita.venues.bingx.wire import WireError

MAX_LIMIT = 1440
HEADER = ("open_time", "open", "high", "low", "close", "volume", "close_time")
# BingX's swap kline intervals (see dita.venues.bingx_emulator.klines), in minutes;
# the calendar month ("1M") has no fixed length and is not offered here.
INTERVAL_MINUTES: dict[str, int] = {
    "1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "2h": 120, "4h": 240,
    "6h": 360, "8h": 480, "12h": 720, "1d": 1440, "3d": 4320, "1w": 10080,
}  # fmt: skip


class FetchError(Exception):
    """A fetch that cannot go on; one line. What was saved so far stays saved."""


def parse_time(text: str, what: str) -> int:
    """Epoch ms from ISO-8601 (UTC if it names no offset) or an integer of epoch ms."""
    s = text.strip()
    if s.isdigit():
        return int(s)
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise FetchError(
            f"{what} {text!r}: expected ISO-8601 (2024-01-31 or 2024-01-31T08:00Z) or epoch ms"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    d = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (d.days * 86_400 + d.seconds) * 1000 + d.microseconds // 1000


def interval_ms(interval: str, minute_ms: int = 60_000) -> int:
    try:
        return INTERVAL_MINUTES[interval] * minute_ms
    except KeyError:
        raise FetchError(f"--interval {interval!r}: one of {', '.join(INTERVAL_MINUTES)}") from None


# --------------------------------------------------------------------------- instruments


async def fetch_instruments(
    client: httpx.AsyncClient, rest_url: str
) -> list[tuple[Instrument, Decimal | None, Decimal | None]]:
    """Every tradable contract as (instrument, maker fee, taker fee), through the adapter."""
    from dita.venues.bingx import BingxConfig, BingxVenue, Credentials, Endpoints

    venue = BingxVenue(client, Credentials("", ""), BingxConfig(endpoints=Endpoints(rest_url, "")))
    rows = await venue.load_contracts()
    try:
        return _instrument_rows(rows)
    except WireError as e:
        raise FetchError(f"contracts: {e}") from None


def _instrument_rows(
    rows: list[Any],
) -> list[tuple[Instrument, Decimal | None, Decimal | None]]:
    out = []
    for c in rows:
        if parse.tradable(c):
            fees = tuple(
                parse.dec(n, f"contract {c.symbol} {what}") if n.text else None
                for n, what in (
                    (c.maker_fee_rate, "makerFeeRate"),
                    (c.taker_fee_rate, "takerFeeRate"),
                )
            )
            out.append((parse.instrument(c), fees[0], fees[1]))
    return out


def save_instruments(
    rows: Iterable[tuple[Instrument, Decimal | None, Decimal | None]], out: Path, source: str,
    now_ms: int,
) -> int:  # fmt: skip
    rows = list(rows)
    write_private(out, render_instruments_file(rows, source=source, fetched_ms=now_ms))
    return len(rows)


# --------------------------------------------------------------------------- klines


@dataclass
class FetchResult:
    path: Path
    bars: int  # bars in the file
    fetched: int  # bars fetched by this call (0: cached)
    requests: int
    missing: int  # bars BingX had none for, inside the range
    cached: bool


def _state_path(out: Path) -> Path:
    return out.with_name(out.name + ".fetch.json")


def _read_state(out: Path) -> dict[str, Any] | None:
    sp = _state_path(out)
    if not sp.exists():
        return None
    try:
        state = json.loads(sp.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise FetchError(f"{sp}: unreadable fetch state ({e}); delete it to fetch afresh") from None
    if not isinstance(state, dict):
        raise FetchError(f"{sp}: unreadable fetch state; delete it to fetch afresh")
    return state


def _write_state(out: Path, state: dict[str, Any]) -> None:
    write_private(_state_path(out), json.dumps(state, sort_keys=True) + "\n")


def _read_last_ts(part: Path) -> tuple[int | None, int]:
    """(open time of the last complete row, row count) of a partial file."""
    last: int | None = None
    n = 0
    with part.open("r", encoding="utf-8", newline="") as fh:
        for row in csv.reader(fh):
            if not row or row[0] == HEADER[0]:
                continue
            if len(row) != len(HEADER) or not row[0].isdigit():
                break  # a row torn by the interruption: the resume rewrites from here
            last = int(row[0])
            n += 1
    return last, n


def _truncate_after(part: Path, rows: int) -> None:
    """Keep the header and the first ``rows`` complete rows (drop a torn tail)."""
    with part.open("r", encoding="utf-8", newline="") as fh:
        lines = fh.read().split("\n")
    keep = lines[: rows + 1]
    with open_private(part, "w", newline="") as fh:
        fh.write("\n".join(keep) + "\n")


async def fetch_klines(
    client: httpx.AsyncClient,
    rest_url: str,
    *,
    symbol: str,
    interval: str,
    start: int,
    end: int,
    out: Path,
    now_ms: Callable[[], int],
    progress: Callable[[int, int], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    minute_ms: int = 60_000,
) -> FetchResult:
    """Fetch ``symbol``'s closed ``interval`` bars with open times in [start, end) into ``out``."""
    step = interval_ms(interval, minute_ms)
    if end <= start:
        raise FetchError(f"--end must be after --start ({end} <= {start})")
    request = {"symbol": symbol, "interval": interval, "start": start, "end": end,
               "source": rest_url}  # fmt: skip
    # Only closed bars: the last one may open at now - interval.
    stop = min(end, now_ms() - step + 1)
    first = -(-start // step) * step  # bars open on multiples of their length
    total = max(0, -(-(stop - first) // step))
    part = out.with_name(out.name + ".part")
    state = _read_state(out)
    if state is not None and {k: state.get(k) for k in request} != request:
        raise FetchError(
            f"{out}: holds another fetch ({state.get('symbol')} {state.get('interval')} "
            f"{state.get('start')}..{state.get('end')}); choose another --out"
        )
    if state is not None and state.get("complete") and out.exists():
        if int(state.get("stop", 0)) >= stop:
            return FetchResult(out, int(state["bars"]), 0, 0, int(state["missing"]), cached=True)
        # The range reached into the future last time: continue from the file.
        os.replace(out, part)
    elif out.exists() and state is None:
        raise FetchError(
            f"{out}: exists and was not written by dita data fetch; choose another --out"
        )
    cursor, saved, missing = start, 0, 0
    if part.exists() and state is not None:
        last, saved = _read_last_ts(part)
        _truncate_after(part, saved)
        missing = int(state.get("missing", 0))
        if last is not None:
            cursor = last + step
    else:
        with open_private(part, "w", newline="") as fh:
            csv.writer(fh, lineterminator="\n").writerow(HEADER)
    _write_state(out, {**request, "complete": False, "bars": saved, "missing": missing})
    fetched = requests = 0
    url = rest_url.rstrip("/") + KLINES
    if progress is not None:
        progress(min(saved + missing, total), total)
    while cursor < stop:
        params: dict[str, str | int] = {
            "symbol": symbol, "interval": interval, "startTime": cursor,
            "endTime": stop - 1, "limit": MAX_LIMIT, "timestamp": now_ms(),
        }  # fmt: skip
        bars = await _get(client, f"{url}?{public_query(params)}", symbol, step, sleep)
        requests += 1
        page = [b for b in bars if cursor <= b.ts < stop]
        if not page:
            missing += -(-(stop - cursor) // step)
            cursor = stop
            break
        with open_private(part, "a", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            for b in page:
                missing += (b.ts - cursor) // step
                w.writerow(_row(b))
                cursor = b.ts + step
            fh.flush()
            os.fsync(fh.fileno())
        fetched += len(page)
        saved += len(page)
        _write_state(out, {**request, "complete": False, "bars": saved, "missing": missing})
        if progress is not None:
            progress(min(saved + missing, total), total)
    os.replace(part, out)
    _write_state(out, {**request, "complete": True, "stop": stop, "bars": saved,
                       "missing": missing})  # fmt: skip
    return FetchResult(out, saved, fetched, requests, missing, cached=False)


def _row(b: Bar) -> list[str]:
    return [str(b.ts), *(format(x, "f") for x in (b.open, b.high, b.low, b.close, b.volume)),
            str(b.close_ts)]  # fmt: skip


async def _get(
    client: httpx.AsyncClient,
    url: str,
    symbol: str,
    step: int,
    sleep: Callable[[float], Awaitable[None]],
) -> list[Bar]:
    backoff = 0.5
    for attempt in range(5):
        try:
            resp = await client.get(url)
        except httpx.TransportError as e:
            problem = type(e).__name__
        else:
            if resp.status_code == 200:
                try:
                    return parse_klines(resp.content, symbol, step)
                except KlineError as e:
                    raise FetchError(f"GET {KLINES}: {e}") from None
            if resp.status_code not in (418, 429) and resp.status_code < 500:
                raise FetchError(f"GET {KLINES}: HTTP {resp.status_code}")
            problem = f"HTTP {resp.status_code}"
        if attempt < 4:
            await sleep(backoff)
            backoff *= 2
    raise FetchError(f"GET {KLINES}: {problem}, five times; run the same command again to resume")
