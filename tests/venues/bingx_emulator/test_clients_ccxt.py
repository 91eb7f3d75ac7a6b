"""ccxt's bingx (REST and ccxt.pro WebSocket), unchanged but for its URLs, against
``dita emulate bingx``'s server: live mode and sandbox (VST) mode.

A failing operation fails the test; the printed table (``pytest -s``) is the
client matrix recorded in docs/bingx-emulator.md. The guard subclass only
observes: it asserts that every REST request and WebSocket connection ccxt makes
goes to 127.0.0.1, so a forgotten URL cannot reach bingx.com.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest

from dita.venues.bingx_emulator import BingxEmulator
from tests.venues.bingx_emulator.clients import API_KEY, API_SECRET, Matrix, expect

ccxt_pro = pytest.importorskip("ccxt.pro")

pytestmark = pytest.mark.clients

SYMBOL = "BTC/USDT:USDT"


class GuardedBingx(ccxt_pro.bingx):  # type: ignore[misc,name-defined]
    """ccxt.pro's bingx; records and checks where each request goes, changes nothing."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.rest_urls: list[str] = []
        self.ws_urls: list[str] = []

    async def fetch(  # type: ignore[override]
        self, url: str, method: str = "GET", headers: Any = None, body: Any = None
    ) -> Any:
        assert urlsplit(url).hostname == "127.0.0.1", f"ccxt tried to reach {url}"
        self.rest_urls.append(url)
        return await super().fetch(url, method, headers, body)

    def client(self, url: str) -> Any:
        if "://" in url:  # ccxt also keys internal locks by name ("authenticationFlights")
            assert urlsplit(url).hostname == "127.0.0.1", f"ccxt.pro tried to reach {url}"
            self.ws_urls.append(url)
        return super().client(url)


def make_ccxt(emu: BingxEmulator, sandbox: bool) -> GuardedBingx:
    rest = f"{emu.rest_url}/openApi"
    sections = [
        "fund",
        "spot",
        "swap",
        "contract",
        "wallets",
        "user",
        "subAccount",
        "account",
        "copyTrading",
        "cswap",
        "api",
    ]
    urls: dict[str, Any] = {name: rest for name in sections}
    # the emulator serves only the swap stream; spot and coin-M get loopback URLs of their
    # own (ccxt.pro tells a spot connection by its URL prefix), which the scenario never opens
    host = f"ws://{emu.host}:{emu.port}"
    urls["ws"] = {"linear": emu.ws_url, "spot": f"{host}/market", "inverse": f"{host}/cswap"}
    ex = GuardedBingx({"apiKey": API_KEY, "secret": API_SECRET, "enableRateLimit": False})
    if sandbox:
        ex.urls["test"] = urls
        ex.set_sandbox_mode(True)
    else:
        ex.urls["api"] = urls
    return ex


@pytest.fixture
async def emu() -> AsyncIterator[BingxEmulator]:
    async with BingxEmulator(API_KEY, API_SECRET, ping_interval=0.5, depth_push_s=0.1) as e:
        yield e


async def _until(condition: Any, what: str, timeout: float = 5.0) -> None:
    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(wait(), timeout)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def run_ccxt(emu: BingxEmulator, sandbox: bool) -> Matrix:
    ex = make_ccxt(emu, sandbox)
    m = Matrix(f"ccxt {ccxt_pro.__version__} bingx, {'sandbox' if sandbox else 'live'} mode")
    try:
        await _scenario(ex, emu, m, sandbox)
    finally:
        await ex.close()
    expect(len(ex.rest_urls) > 10 and len(ex.ws_urls) >= 2, "ccxt made its requests")
    ours = sum(1 for r in emu.requests if r.path.startswith("/openApi"))
    expect(ours == len(ex.rest_urls), f"emulator saw {ours} of ccxt's {len(ex.rest_urls)}")
    return m


async def _scenario(ex: GuardedBingx, emu: BingxEmulator, m: Matrix, sandbox: bool) -> None:
    for minute in range(3):  # some prints, so that klines and trades exist
        await emu.trade("BTC-USDT", Decimal(60000 + minute * 10), Decimal("0.5"))

    async def load_markets() -> None:
        markets = await ex.load_markets()
        expect(SYMBOL in markets and markets[SYMBOL]["active"], "BTC/USDT:USDT loaded")
        expect(markets[SYMBOL]["precision"]["amount"] == 0.0001, "amount precision")

    await m.step("load markets", load_markets)

    async def ticker() -> None:
        t = await ex.fetch_ticker(SYMBOL)
        expect(t["last"] == 60020.0, f"last {t['last']}")

    await m.step("fetch ticker", ticker)

    async def order_book() -> None:
        book = await ex.fetch_order_book(SYMBOL, 5)
        expect(len(book["bids"]) == 5 and book["bids"][0][0] < book["asks"][0][0], "a book")

    await m.step("fetch order book", order_book)

    async def ohlcv() -> None:
        for tf in ("1m", "5m", "1h", "1d", "1w", "1M"):
            candles = await ex.fetch_ohlcv(SYMBOL, tf)
            expect(len(candles) >= 1 and candles[-1][4] == 60020.0, f"{tf}: {candles}")

    await m.step("fetch OHLCV (1m..1M)", ohlcv)

    async def trades() -> None:
        got = await ex.fetch_trades(SYMBOL)
        expect([t["price"] for t in got][-1] == 60020.0, f"{got}")

    await m.step("fetch trades", trades)

    async def funding() -> None:
        rate = await ex.fetch_funding_rate(SYMBOL)
        expect(rate["markPrice"] == 60020.0, f"{rate}")
        await ex.fetch_funding_rate_history(SYMBOL)
        oi = await ex.fetch_open_interest(SYMBOL)
        expect(oi["openInterestValue"] == 0 or oi["openInterestAmount"] == 0, f"{oi}")

    await m.step("funding rate / history, open interest", funding)

    async def balance() -> None:
        b = await ex.fetch_balance({"type": "swap"})
        expect(b["USDT"]["total"] == 10000.0, f"{b['USDT']}")
        if not sandbox:  # live ccxt defaults to the spot account: the emulator's is empty
            expect((await ex.fetch_balance())["total"] == {}, "an empty spot account")

    await m.step("fetch balance", balance)

    async def fee() -> None:
        f = await ex.fetch_trading_fee(SYMBOL)
        expect(f["taker"] == 0.0005 and f["maker"] == 0.0002, f"{f}")

    await m.step("fetch trading fee", fee)

    async def leverage() -> None:
        await ex.set_leverage(7, SYMBOL, {"side": "BOTH"})
        lev = await ex.fetch_leverage(SYMBOL)
        expect(lev["longLeverage"] == 7, f"{lev}")

    await m.step("set / fetch leverage", leverage)

    async def margin_mode() -> None:
        await ex.set_margin_mode("cross", SYMBOL)
        mode = await ex.fetch_margin_mode(SYMBOL)
        expect(mode["marginMode"] == "cross", f"{mode}")

    await m.step("set / fetch margin mode", margin_mode)

    async def position_mode() -> None:
        mode = await ex.fetch_position_mode(SYMBOL)
        expect(mode["hedged"] is False, f"{mode}")

    await m.step("fetch position mode", position_mode)

    # -- websocket watchers: market data ------------------------------------------------

    async def watch_order_book() -> None:
        book = await asyncio.wait_for(ex.watch_order_book(SYMBOL), 5)
        expect(len(book["bids"]) > 0 and len(book["asks"]) > 0, "a book")

    await m.step("watch order book", watch_order_book)

    async def watch_trades() -> None:
        task = asyncio.ensure_future(ex.watch_trades(SYMBOL))
        await _until(lambda: emu.market_subscriptions >= 2, "the trade subscription")
        await emu.trade("BTC-USDT", Decimal(60030), Decimal("0.25"))
        got = await asyncio.wait_for(task, 5)
        expect(got[-1]["price"] == 60030.0 and got[-1]["amount"] == 0.25, f"{got}")

    await m.step("watch trades", watch_trades)

    async def watch_ohlcv() -> None:
        candles = await asyncio.wait_for(ex.watch_ohlcv(SYMBOL, "1m"), 5)
        expect(candles[-1][4] == 60030.0, f"{candles}")

    await m.step("watch OHLCV", watch_ohlcv)

    # -- trading ------------------------------------------------------------------------

    state: dict[str, Any] = {}

    async def place_limit() -> None:
        o = await ex.create_order(SYMBOL, "limit", "buy", 0.01, 59000)
        state["limit"] = o["id"]
        expect(bool(o["id"]), f"{o}")

    await m.step("place limit", place_limit)

    async def fetch_order() -> None:
        o = await ex.fetch_order(state["limit"], SYMBOL)
        expect(o["status"] == "open" and o["price"] == 59000.0, f"{o['status']} {o['price']}")

    await m.step("fetch order", fetch_order)

    async def open_orders() -> None:
        got = await ex.fetch_open_orders(SYMBOL)
        expect([o["id"] for o in got] == [state["limit"]], f"{got}")

    await m.step("fetch open orders", open_orders)

    async def cancel() -> None:
        await ex.cancel_order(state["limit"], SYMBOL)
        o = await ex.fetch_order(state["limit"], SYMBOL)
        expect(o["status"] == "canceled", o["status"])

    await m.step("cancel order", cancel)

    # user-data watchers, started before the orders they should see. watch_balance goes
    # first: it loads a REST snapshot, and on a connection another watcher has already
    # subscribed it would wait for that snapshot forever (a ccxt.pro quirk); an update
    # pushed before it listens is not delivered (ccxt resolves only waiting futures).
    balance_task = asyncio.ensure_future(ex.watch_balance({"type": "swap"}))
    await _until(
        lambda: any("swap:balance" in c.futures for c in ex.clients.values()),
        "ccxt's balance watcher",
    )
    orders_task = asyncio.ensure_future(ex.watch_orders(SYMBOL))
    fills_task = asyncio.ensure_future(ex.watch_my_trades(SYMBOL))
    positions_task = asyncio.ensure_future(ex.watch_positions([SYMBOL]))
    await _until(lambda: sum(len(c.futures) for c in ex.clients.values()) >= 4, "ccxt's watchers")

    async def place_market() -> None:
        o = await ex.create_order(SYMBOL, "market", "buy", 0.01)
        state["market"] = o["id"]
        placed = await ex.fetch_order(o["id"], SYMBOL)
        expect(placed["status"] == "closed" and placed["filled"] == 0.01, f"{placed}")

    await m.step("place market", place_market)

    async def watch_orders() -> None:
        got = await asyncio.wait_for(orders_task, 5)
        expect(any(o["id"] == state["market"] for o in got), f"{got}")

    await m.step("watch orders", watch_orders)

    async def watch_my_trades() -> None:
        got = await asyncio.wait_for(fills_task, 5)
        expect(got[-1]["order"] == state["market"] and got[-1]["amount"] == 0.01, f"{got}")

    await m.step("watch my trades", watch_my_trades)

    async def watch_positions() -> None:
        got = await asyncio.wait_for(positions_task, 5)
        expect(any(p["contracts"] == 0.01 for p in got), f"{got}")

    await m.step("watch positions", watch_positions)

    async def watch_balance() -> None:
        got = await asyncio.wait_for(balance_task, 5)
        # ACCOUNT_UPDATE carries the wallet balance (wb), which ccxt reads as "free"
        fee = Decimal("0.01") * 60030 * Decimal("0.0005")  # one taker fill at the last print
        expect(Decimal(str(got["USDT"]["free"])) == 10000 - fee, f"{got}")

    await m.step("watch balance", watch_balance)

    async def positions() -> None:
        got = await ex.fetch_positions([SYMBOL])
        expect(len(got) == 1 and got[0]["contracts"] == 0.01, f"{got}")
        # one-way mode: BingX documents positionSide BOTH with a signed amount (the
        # emulator's default answer profile), which ccxt reports as side "both"
        expect(got[0]["side"] in ("long", "both"), got[0]["side"])

    await m.step("fetch positions", positions)

    async def reduce_only() -> None:
        o = await ex.create_order(SYMBOL, "market", "sell", 0.004, None, {"reduceOnly": True})
        state["reduce"] = o["id"]
        got = await ex.fetch_positions([SYMBOL])
        expect(got[0]["contracts"] == 0.006, f"{got}")
        try:
            await ex.create_order(SYMBOL, "market", "sell", 0.05, None, {"reduceOnly": True})
        except ccxt_pro.BaseError:
            return
        raise AssertionError("a reduce-only order larger than the position was accepted")

    await m.step("place reduce-only", reduce_only)

    async def my_trades() -> None:
        got = await ex.fetch_my_trades(SYMBOL)
        expect([t["order"] for t in got] == [state["market"], state["reduce"]], f"{got}")
        expect(got[0]["amount"] == 0.01 and got[0]["fee"]["cost"] > 0, f"{got[0]}")

    await m.step("fetch my trades", my_trades)

    async def closed_orders() -> None:
        got = await ex.fetch_closed_orders(SYMBOL)
        ids = {o["id"] for o in got}
        expect({state["market"], state["reduce"]} <= ids, f"{got}")
        canceled = await ex.fetch_canceled_and_closed_orders(SYMBOL)
        expect(state["limit"] in {o["id"] for o in canceled}, "the canceled order")
        every = await ex.fetch_orders(SYMBOL)
        expect(len(every) >= 3, f"{every}")

    await m.step("fetch closed orders (and all orders)", closed_orders)

    async def cancel_all() -> None:
        await ex.create_order(SYMBOL, "limit", "buy", 0.01, 58000)
        await ex.create_order(SYMBOL, "limit", "buy", 0.01, 57000)
        await ex.cancel_all_orders(SYMBOL)
        expect(await ex.fetch_open_orders(SYMBOL) == [], "no open orders left")

    await m.step("cancel all orders", cancel_all)

    async def close_all() -> None:
        await ex.close_all_positions()
        got = await ex.fetch_positions([SYMBOL])
        expect(got == [] or all(p["contracts"] in (0, None) for p in got), f"{got}")

    await m.step("close all positions", close_all)


async def test_ccxt_live_mode_against_the_emulator(emu: BingxEmulator) -> None:
    m = await run_ccxt(emu, sandbox=False)
    m.check()
    spot = [r for r in emu.requests if r.path == "/openApi/spot/v1/common/symbols"]
    wallets = [r for r in emu.requests if r.path.startswith("/openApi/wallets/")]
    expect(len(spot) == 1 and len(wallets) == 1, "live load_markets asked for spot and wallets")


async def test_ccxt_sandbox_mode_against_the_emulator(emu: BingxEmulator) -> None:
    m = await run_ccxt(emu, sandbox=True)
    m.check()
    expect(not any(r.path.startswith("/openApi/spot/") for r in emu.requests), "swap only")
