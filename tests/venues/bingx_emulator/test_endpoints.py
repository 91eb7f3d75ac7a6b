"""The emulator's endpoints beyond trading (issue 10): market data, history, account
configuration, ccxt's live load_markets calls, the public market WebSocket and
ACCOUNT_CONFIG_UPDATE; through real HTTP and WebSocket, with both matching engines."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import websockets

from dita.venues.bingx.signing import signed_query
from dita.venues.bingx_emulator import BingxEmulator
from dita.venues.bingx_emulator.klines import INTERVAL_MINUTES, KlineBook
from tests import loopback
from tests.venues.bingx_emulator.clients import API_KEY, API_SECRET

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a Thursday
MIN = 60_000


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
async def emu() -> AsyncIterator[BingxEmulator]:
    async with BingxEmulator(API_KEY, API_SECRET, depth_push_s=0.05, ping_interval=0.2) as e:
        yield e


@pytest.fixture
async def http(emu: BingxEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with loopback.async_client(base_url=emu.rest_url) as c:
        yield c


async def call(
    http: httpx.AsyncClient, method: str, path: str, params: dict[str, Any] | None = None
) -> Any:
    from dita.venues.bingx.clock import wall_clock_ms

    q = signed_query(params or {}, API_SECRET, wall_clock_ms())
    r = await http.request(method, f"{path}?{q}", headers={"X-BX-APIKEY": API_KEY})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["code"] == 0, body
    return body["data"]


async def public(http: httpx.AsyncClient, path: str, **params: Any) -> Any:
    r = await http.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def order(side: str, qty: str, price: str | None = None, **extra: str) -> dict[str, str]:
    p = {"symbol": "BTC-USDT", "side": side, "positionSide": "BOTH", "quantity": qty}
    p |= {"type": "LIMIT", "price": price} if price else {"type": "MARKET"}
    return p | extra


async def test_depth_and_book_ticker_show_the_last_price_and_resting_orders(
    emu: BingxEmulator, http: httpx.AsyncClient
) -> None:
    await call(http, "POST", "/openApi/swap/v2/trade/order", order("BUY", "0.5", "59999.9"))
    book = (await public(http, "/openApi/swap/v2/quote/depth", symbol="BTC-USDT", limit=5))["data"]
    bids, asks = book["bids"], book["asks"]
    assert [p for p, _ in bids] == ["59999.9", "59999.8", "59999.7", "59999.6", "59999.5"]
    assert [p for p, _ in asks][:2] == ["60000.1", "60000.2"]
    assert Decimal(bids[0][1]) == Decimal("0.01") + Decimal("0.5")  # 100 lots + our order
    top = (await public(http, "/openApi/swap/v2/quote/bookTicker", symbol="BTC-USDT"))["data"]
    assert top["book_ticker"]["bid_price"] == "59999.9"
    assert top["book_ticker"]["ask_price"] == "60000.1"
    bad = await public(http, "/openApi/swap/v2/quote/depth", symbol="BTC-USDT", limit=7)
    assert bad["code"] == 80014
    assert (await public(http, "/openApi/swap/v2/quote/depth", symbol="NOPE"))["code"] == 109400


async def test_recent_trades_are_prints_and_the_accounts_taker_fills(
    emu: BingxEmulator, http: httpx.AsyncClient
) -> None:
    await emu.trade("BTC-USDT", Decimal(60010), Decimal("0.3"))
    await call(http, "POST", "/openApi/swap/v2/trade/order", order("SELL", "0.01"))
    rows = (await public(http, "/openApi/swap/v2/quote/trades", symbol="BTC-USDT"))["data"]
    assert [(Decimal(r["price"]), Decimal(r["qty"]), r["isBuyerMaker"]) for r in rows] == [
        (60010, Decimal("0.3"), False),
        (60010, Decimal("0.01"), True),  # we sold into the bid
    ]
    limited = await public(http, "/openApi/swap/v2/quote/trades", symbol="BTC-USDT", limit=1)
    assert len(limited["data"]) == 1


async def test_order_and_fill_history(emu: BingxEmulator, http: httpx.AsyncClient) -> None:
    placed = await call(http, "POST", "/openApi/swap/v2/trade/order", order("BUY", "0.02"))
    oid = placed["order"]["orderId"]
    resting = await call(
        http, "POST", "/openApi/swap/v2/trade/order", order("BUY", "0.01", "59000")
    )
    rid = resting["order"]["orderId"]
    hist = await call(http, "GET", "/openApi/swap/v2/trade/allOrders", {"symbol": "BTC-USDT"})
    assert [o["orderId"] for o in hist["orders"]] == [oid]  # history: no longer open
    full = await call(http, "GET", "/openApi/swap/v1/trade/fullOrder", {"symbol": "BTC-USDT"})
    assert [(o["orderId"], o["status"]) for o in full["orders"]] == [
        (oid, "FILLED"), (rid, emu.answers.profile.resting_status),
    ]  # fmt: skip
    later = await call(http, "GET", "/openApi/swap/v1/trade/fullOrder", {"orderId": rid})
    assert [o["orderId"] for o in later["orders"]] == [rid]
    fills = await call(
        http, "GET", "/openApi/swap/v2/trade/allFillOrders",
        {"symbol": "BTC-USDT", "tradingUnit": "CONT", "startTs": 0, "endTs": 2**62},
    )  # fmt: skip
    [fill] = fills["fill_orders"]
    assert (fill["orderId"], Decimal(fill["volume"]), Decimal(fill["price"])) == (
        str(oid), Decimal("0.02"), 60000,
    )  # fmt: skip
    assert Decimal(fill["commission"]) == -Decimal("0.02") * 60000 * Decimal("0.0005")
    assert fill["filledTm"].endswith("Z") and fill["filledTime"].endswith("+0800")
    r = await http.get(
        "/openApi/swap/v2/trade/allFillOrders?"
        + signed_query({"tradingUnit": "KG"}, API_SECRET, emu.clock()),
        headers={"X-BX-APIKEY": API_KEY},
    )
    assert r.json()["code"] == 80014


async def test_margin_type_leverage_commission_and_config_updates(
    emu: BingxEmulator, http: httpx.AsyncClient
) -> None:
    key = (
        await http.post("/openApi/user/auth/userDataStream", headers={"X-BX-APIKEY": API_KEY})
    ).json()
    async with websockets.connect(f"{emu.ws_url}?listenKey={key['listenKey']}") as ws:
        first = json.loads(gzip.decompress(await asyncio.wait_for(ws.recv(), 2)))
        assert first["e"] == "ACCOUNT_CONFIG_UPDATE"
        await call(
            http,
            "POST",
            "/openApi/swap/v2/trade/leverage",
            {"symbol": "ETH-USDT", "side": "BOTH", "leverage": 12},
        )
        update = json.loads(gzip.decompress(await asyncio.wait_for(ws.recv(), 2)))
        assert update["ac"] == {"s": "ETH-USDT", "l": 12, "S": 12, "mt": "cross"}
        await call(
            http,
            "POST",
            "/openApi/swap/v2/trade/marginType",
            {"symbol": "ETH-USDT", "marginType": "CROSSED"},
        )
        update = json.loads(gzip.decompress(await asyncio.wait_for(ws.recv(), 2)))
        assert update["e"] == "ACCOUNT_CONFIG_UPDATE" and update["ac"]["mt"] == "cross"
    mt = await call(http, "GET", "/openApi/swap/v2/trade/marginType", {"symbol": "ETH-USDT"})
    assert mt["marginType"] == "CROSSED"
    r = await http.post(
        "/openApi/swap/v2/trade/marginType?"
        + signed_query({"symbol": "ETH-USDT", "marginType": "ISOLATED"}, API_SECRET, emu.clock()),
        headers={"X-BX-APIKEY": API_KEY},
    )
    assert r.json()["code"] == 80014  # refused: the emulator's margin is cross only
    fee = await call(http, "GET", "/openApi/swap/v2/user/commissionRate")
    assert fee["commission"] == {"takerCommissionRate": 0.0005, "makerCommissionRate": 0.0002}


async def test_close_all_positions(emu: BingxEmulator, http: httpx.AsyncClient) -> None:
    await call(http, "POST", "/openApi/swap/v2/trade/order", order("BUY", "0.03"))
    eth = {
        "symbol": "ETH-USDT",
        "side": "SELL",
        "positionSide": "BOTH",
        "type": "MARKET",
        "quantity": "1",
    }
    await call(http, "POST", "/openApi/swap/v2/trade/order", eth)
    assert len(await call(http, "GET", "/openApi/swap/v2/user/positions")) == 2
    done = await call(
        http, "POST", "/openApi/swap/v2/trade/closeAllPositions", {"symbol": "ETH-USDT"}
    )
    assert len(done["success"]) == 1 and done["failed"] is None
    [left] = await call(http, "GET", "/openApi/swap/v2/user/positions")
    assert left["symbol"] == "BTC-USDT"
    done = await call(http, "POST", "/openApi/swap/v2/trade/closeAllPositions")
    assert len(done["success"]) == 1
    assert await call(http, "GET", "/openApi/swap/v2/user/positions") == []


async def test_funding_history_open_interest_and_ccxt_live_calls(
    emu: BingxEmulator, http: httpx.AsyncClient
) -> None:
    rows = (await public(http, "/openApi/swap/v2/quote/fundingRate", symbol="BTC-USDT"))["data"]
    assert all(r["fundingTime"] % (8 * 3_600_000) == 0 for r in rows)
    await call(http, "POST", "/openApi/swap/v2/trade/order", order("BUY", "0.5"))
    oi = (await public(http, "/openApi/swap/v2/quote/openInterest", symbol="BTC-USDT"))["data"]
    assert Decimal(oi["openInterest"]) == Decimal("0.5") * 60000
    assert (await public(http, "/openApi/cswap/v1/market/contracts"))["data"] == []
    assert (await public(http, "/openApi/spot/v1/common/symbols"))["data"] == {"symbols": []}
    coins = await call(http, "GET", "/openApi/wallets/v1/capital/config/getall")
    assert [c["coin"] for c in coins] == ["USDT"]


def test_klines_merge_1m_bars_into_every_interval() -> None:
    book = KlineBook()
    week_start = T0 + 4 * 1440 * MIN  # 2026-01-05, a Monday
    for i, price in enumerate(["10", "12", "9", "11", "13"]):
        book.add("X", week_start - 2 * MIN + i * MIN, Decimal(price), Decimal(1))
    now = week_start + 3 * MIN
    three = book.rows("X", {"interval": "3m"}, now)
    assert [
        (r["time"], r["open"], r["high"], r["low"], r["close"], r["volume"]) for r in three
    ] == [
        (week_start + 3 * MIN, "13", "13", "13", "13", "0"),
        (week_start, "9", "13", "9", "13", "3"),
        (week_start - 3 * MIN, "10", "12", "10", "12", "2"),
    ]  # newest first; 3m bars open at multiples of 3 minutes
    weeks = book.rows("X", {"interval": "1w"}, now)
    assert [r["time"] for r in weeks] == [week_start, week_start - 7 * 1440 * MIN]
    month = book.rows("X", {"interval": "1M"}, now)
    assert [(r["time"], r["volume"]) for r in month] == [(T0, "5")]  # January, from 2026-01-01Z
    for interval in INTERVAL_MINUTES:
        assert book.rows("X", {"interval": interval}, now)[0]["close"] == "13"


async def _recv(ws: websockets.ClientConnection) -> dict[str, Any]:
    while True:
        raw = await asyncio.wait_for(ws.recv(), 2)
        assert isinstance(raw, bytes)
        text = gzip.decompress(raw).decode()
        if text == "Ping":
            await ws.send("Pong")
            continue
        out: dict[str, Any] = json.loads(text)
        return out


async def test_public_market_websocket(emu: BingxEmulator) -> None:
    async with websockets.connect(emu.ws_url) as ws:  # no listen key
        await ws.send(json.dumps({"id": "t", "reqType": "sub", "dataType": "BTC-USDT@trade"}))
        assert await _recv(ws) == {"id": "t", "code": 0, "msg": "", "dataType": "", "data": None}
        await ws.send(
            json.dumps({"id": "d", "reqType": "sub", "dataType": "BTC-USDT@depth5@500ms"})
        )
        assert (await _recv(ws))["id"] == "d"
        depth = await _recv(ws)
        assert depth["dataType"] == "BTC-USDT@depth5@500ms" and len(depth["data"]["bids"]) == 5
        await ws.send(
            json.dumps({"id": "x", "reqType": "unsub", "dataType": "BTC-USDT@depth5@500ms"})
        )
        assert (await _recv(ws))["id"] == "x"
        await ws.send(json.dumps({"id": "k", "reqType": "sub", "dataType": "BTC-USDT@kline_1m"}))
        assert (await _recv(ws))["id"] == "k"
        await emu.trade("BTC-USDT", Decimal(60050), Decimal("0.2"))
        frames = [await _recv(ws) for _ in range(2)]
        trade = next(f for f in frames if f["dataType"] == "BTC-USDT@trade")
        assert trade["data"] == [
            {"q": "0.2", "p": "60050", "T": trade["data"][0]["T"], "m": False, "s": "BTC-USDT"}
        ]
        kline = next(f for f in frames if f["dataType"] == "BTC-USDT@kline_1m")
        assert kline["s"] == "BTC-USDT" and kline["data"][0]["c"] == "60050"
        for bad in ('{"id":"b","reqType":"sub","dataType":"NOPE@trade"}', "[" * 5000, "hello"):
            await ws.send(bad)
            assert (await _recv(ws))["code"] != 0
        # answered Pings keep the connection open past missed_pongs_allowed pings
        pings = 0
        while pings <= emu.missed_pongs_allowed + 1:
            raw = await asyncio.wait_for(ws.recv(), 2)
            if gzip.decompress(raw) == b"Ping":  # type: ignore[arg-type]
                pings += 1
                await ws.send("Pong")
        await ws.send(json.dumps({"id": "z", "reqType": "sub", "dataType": "BTC-USDT@trade"}))
        assert (await _recv(ws))["id"] == "z"
