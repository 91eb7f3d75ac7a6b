"""Live bars from BingX's klines endpoint: the pure parse, the emulator's klines built from
its trade prints, and the polling feed against the real loopback emulator (closed bars
only, each once, in order, gaps fetched)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from dita.clock import SimClock
from dita.marketdata import Bar
from dita.venues.bingx.bars import BingxBarFeed, KlineError, parse_klines
from dita.venues.bingx_emulator import BingxEmulator
from tests import loopback

from .conftest import API_KEY, API_SECRET

# The recorded answer (JKorf/BingX.Net fixture PerpetualFutures/ExchangeData/GetKlines.txt).
RECORDED = b"""{
  "code": 0,
  "msg": "",
  "data": [
    {
      "open": "0.7034",
      "close": "0.7065",
      "high": "0.7081",
      "low": "0.7033",
      "volume": "635494.00",
      "time": 1702717200000
    }
  ]
}"""

MIN = 60_000
T0 = 1_700_000_040_000 - 1_700_000_040_000 % MIN


def test_parse_recorded_payload_exactly() -> None:
    [bar] = parse_klines(RECORDED, "TRX-USDT")
    assert bar == Bar(
        "TRX-USDT", 1702717200000, Decimal("0.7034"), Decimal("0.7081"), Decimal("0.7033"),
        Decimal("0.7065"), Decimal("635494.00"), 1702717259999,
    )  # fmt: skip
    assert str(bar.volume) == "635494.00"  # the text, not a float round trip


def test_parse_accepts_numbers_and_the_array_form_and_sorts_newest_first_rows() -> None:
    payload = (
        b'{"code":0,"msg":"","data":['
        b'[1702717260000,"0.7065","0.7070","0.7060","0.7066","10"],'
        b'{"open":0.1,"close":0.3,"high":0.30000000000000004,"low":0.1,"volume":1,"time":1702717200000}]}'
    )
    first, second = parse_klines(payload, "TRX-USDT")
    assert first.ts == 1702717200000 and second.ts == 1702717260000
    assert first.high == Decimal("0.30000000000000004")  # from the JSON text, never a float
    assert second.close == Decimal("0.7066")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b'{"code":109400,"msg":"X-USDT,symbol not exist","data":{}}', "109400"),
        (b'{"code":0,"data":[{"open":"1","close":"1","high":"1","low":"1"}]}', "volume"),
        (
            b'{"code":0,"data":[{"open":"1","close":"2","high":"1.5","low":"1","volume":"1","time":1}]}',
            "high",
        ),
        (
            b'{"code":0,"data":[{"open":"NaN","close":"1","high":"1","low":"1","volume":"1","time":1}]}',
            "non-finite",
        ),
        (b'{"code":0,"data":[[1,"1","1"]]}', "3 cells"),
        (b'{"code":0,"data":["x"]}', "neither"),
        (b"<html>", "not JSON"),
    ],
)
def test_parse_refuses_what_it_cannot_trust(payload: bytes, message: str) -> None:
    with pytest.raises(KlineError, match=message):
        parse_klines(payload, "BTC-USDT")


def test_parse_empty_data_is_no_bars() -> None:
    assert parse_klines(b'{"code":0,"msg":"","data":[]}', "BTC-USDT") == []
    assert parse_klines(b'{"code":0,"msg":"","data":null}', "BTC-USDT") == []


# --------------------------------------------------------------------------- emulator + feed


class Market:
    """The emulator on a SimClock; ``sleep`` moves the clock instead of waiting."""

    def __init__(self, emu: BingxEmulator, clock: SimClock) -> None:
        self.emu, self.clock = emu, clock

    async def sleep(self, seconds: float) -> None:
        self.clock.advance(int(seconds * 1000))
        await asyncio.sleep(0)

    async def print_at(self, ts: int, price: str, qty: str = "1") -> None:
        self.clock.set(ts)
        await self.emu.trade("BTC-USDT", Decimal(price), Decimal(qty))


@pytest.fixture
async def market() -> AsyncIterator[Market]:
    clock = SimClock(T0)
    emu = BingxEmulator(API_KEY, API_SECRET, clock=clock.now_ms)
    async with emu:
        await emu.set_price("BTC-USDT", Decimal(60000))
        yield Market(emu, clock)


async def _klines(m: Market, **params: str) -> list[Bar]:
    q = "&".join(f"{k}={v}" for k, v in {"symbol": "BTC-USDT", "interval": "1m", **params}.items())
    async with loopback.async_client() as client:
        r = await client.get(f"{m.emu.rest_url}/openApi/swap/v3/quote/klines?{q}")
    return parse_klines(r.content, "BTC-USDT")


async def test_emulator_builds_1m_bars_from_its_prints(market: Market) -> None:
    await market.print_at(T0 + 1_000, "60000", "2")
    await market.print_at(T0 + 20_000, "60100", "1")
    await market.print_at(T0 + 40_000, "59900", "0.5")
    await market.print_at(T0 + 59_999, "60050", "1")
    await market.print_at(T0 + 3 * MIN + 5, "60200", "3")  # two quiet minutes between
    bars = await _klines(market, limit="10")
    assert [b.ts for b in bars] == [T0, T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN]
    first = bars[0]
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        Decimal(60000), Decimal(60100), Decimal(59900), Decimal(60050), Decimal("4.5"),
    )  # fmt: skip
    quiet = bars[1]  # flat at the last price, nothing traded
    assert (quiet.open, quiet.high, quiet.low, quiet.close, quiet.volume) == (
        Decimal(60050), Decimal(60050), Decimal(60050), Decimal(60050), Decimal(0),
    )  # fmt: skip
    assert [b.ts for b in await _klines(market, limit="2")] == [T0 + 2 * MIN, T0 + 3 * MIN]
    assert [b.ts for b in await _klines(market, startTime=str(T0 + 1), limit="2")] == [
        T0 + MIN, T0 + 2 * MIN,
    ]  # fmt: skip


async def test_emulator_klines_refuses_unknown_symbol_and_interval(market: Market) -> None:
    async with loopback.async_client() as client:
        r = await client.get(
            f"{market.emu.rest_url}/openApi/swap/v3/quote/klines?symbol=NOPE-USDT&interval=1m"
        )
        assert r.json()["code"] == 109400
        r = await client.get(
            f"{market.emu.rest_url}/openApi/swap/v3/quote/klines?symbol=BTC-USDT&interval=7m"
        )
        assert r.json()["code"] == 80014


async def test_feed_yields_each_closed_bar_once_in_order(market: Market) -> None:
    for minute in range(3):
        await market.print_at(T0 + minute * MIN + 10, str(60000 + minute))
    clock = market.clock
    seen: list[Bar] = []
    async with loopback.async_client() as client:
        feed = BingxBarFeed(
            client, market.emu.rest_url, "BTC-USDT", clock=clock.now_ms, sleep=market.sleep,
            grace_ms=500, poll_s=5, max_bars=4,
        )  # fmt: skip
        async for bar in feed:
            seen.append(bar)
            # the market goes on: one print in each new minute
            await market.print_at(
                max(clock.now_ms(), bar.ts + 2 * MIN + 10), str(60100 + len(seen))
            )
    assert [b.ts for b in seen] == [T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN, T0 + 4 * MIN]
    # closed only: each bar was handed out after its minute ended (plus the grace)
    assert all(b.close_ts == b.ts + MIN - 1 for b in seen)
    assert seen[1].close == Decimal(60002) and seen[2].open == Decimal(60101)


async def test_feed_sleeps_until_the_next_bar_is_due(market: Market) -> None:
    """A quiet market (flat bars after one print): the feed asks once per bar, right after
    each bar is due, instead of every poll_s."""
    await market.print_at(T0 + 10, "60000")
    market.clock.set(T0 + MIN + 10)
    async with loopback.async_client() as client:
        feed = BingxBarFeed(
            client, market.emu.rest_url, "BTC-USDT", clock=market.clock.now_ms,
            sleep=market.sleep, grace_ms=500, poll_s=5, max_bars=5,
        )  # fmt: skip
        seen = [(b.ts, market.clock.now_ms()) async for b in feed]
    assert seen == [(T0 + m * MIN, T0 + (m + 1) * MIN + (10 if m == 0 else 500)) for m in range(5)]
    assert feed.requests == 5


async def test_feed_fetches_the_bars_it_missed_during_a_stall(market: Market) -> None:
    await market.print_at(T0 + 10, "60000")
    async with loopback.async_client() as client:
        feed = BingxBarFeed(
            client, market.emu.rest_url, "BTC-USDT", clock=market.clock.now_ms,
            sleep=market.sleep, grace_ms=0, poll_s=5, limit=3, max_bars=9,
        )  # fmt: skip
        it = feed.__aiter__()
        await market.print_at(T0 + MIN + 10, "60001")
        first = await it.__anext__()
        assert first.ts == T0
        # a stall: seven minutes pass with prints before the consumer asks again
        for minute in range(2, 9):
            await market.print_at(T0 + minute * MIN + 10, str(60000 + minute))
        rest = [await it.__anext__() for _ in range(7)]
    assert [b.ts for b in rest] == [T0 + m * MIN for m in range(1, 8)]  # none skipped, none twice
    assert [b.close for b in rest] == [Decimal(60001 + m) for m in range(7)]
    assert feed.emitted == 8


def _row(ts: int, close: str) -> str:
    return f'{{"open":"{close}","close":"{close}","high":"{close}","low":"{close}","volume":"1","time":{ts}}}'


async def test_feed_never_repeats_a_bar_when_the_server_ignores_start_time() -> None:
    """HTTP shape only: a server answering the last three bars whatever was asked
    (overlapping pages), after a 503 and a 100410 rate limit that are retried."""
    clock = SimClock(T0 + 2 * MIN + 1)
    answers = iter([(503, b"busy"), (200, b'{"code":100410,"msg":"rate limited","data":{}}')])

    def handler(request: httpx.Request) -> httpx.Response:
        for status, body in answers:
            return httpx.Response(status, content=body)
        assert request.url.path == "/openApi/swap/v3/quote/klines"
        assert request.url.params["interval"] == "1m"
        last = clock.now_ms() - clock.now_ms() % MIN
        rows = ",".join(
            _row(t, str(60000 + (t - T0) // MIN)) for t in (last - 2 * MIN, last - MIN, last)
        )
        return httpx.Response(200, content=f'{{"code":0,"msg":"","data":[{rows}]}}'.encode())

    async def sleep(seconds: float) -> None:
        clock.advance(int(seconds * 1000))

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        feed = BingxBarFeed(
            client, "https://example.invalid", "BTC-USDT", clock=clock.now_ms, sleep=sleep,
            grace_ms=0, poll_s=20, max_bars=5,
        )  # fmt: skip
        seen = [b.ts async for b in feed]
    assert seen == [T0 + m * MIN for m in range(1, 6)]


async def test_feed_stops_at_its_deadline_without_a_bar() -> None:
    clock = SimClock(T0)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"code":0,"msg":"","data":[]}')

    async def sleep(seconds: float) -> None:
        clock.advance(int(seconds * 1000))

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        feed = BingxBarFeed(
            client, "https://example.invalid", "BTC-USDT", clock=clock.now_ms, sleep=sleep,
            poll_s=1, until_ms=T0 + 10_000,
        )  # fmt: skip
        assert [b async for b in feed] == []
    assert clock.now_ms() == T0 + 10_000


async def test_feed_gives_up_on_a_bingx_error_code() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"code":109400,"msg":"NOPE-USDT,symbol not exist"}')

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        feed = BingxBarFeed(client, "https://example.invalid", "NOPE-USDT", max_bars=1)
        with pytest.raises(KlineError, match="109400"):
            [b async for b in feed]


async def test_feed_on_a_dita_emulate_bingx_subprocess_with_a_tape() -> None:
    """`dita emulate bingx --tape-ms` as its own process: its prints form bars that the
    feed (wall clock, 100 ms "minutes") hands out closed, consecutive, once each."""
    import os
    import sys

    env = {**os.environ, "BINGX_API_KEY": API_KEY, "BINGX_API_SECRET": API_SECRET}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dita.cli", "emulate", "bingx", "--port", "0", "--tape-ms", "10",
        "--kline-ms", "100", env=env, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        rest = line.split("REST ")[1].split()[0]
        async with loopback.async_client() as client:
            feed = BingxBarFeed(client, rest, "ETH-USDT", interval_ms=100, grace_ms=10, max_bars=4)
            bars = [b async for b in feed]
    finally:
        proc.terminate()
        await proc.wait()
    assert [b.ts - bars[0].ts for b in bars] == [0, 100, 200, 300]
    assert all(b.volume > 0 and b.low <= b.close <= b.high for b in bars)
