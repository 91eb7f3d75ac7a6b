"""The loopback emulator speaks BingX's protocol: auth codes, envelopes, ids, decimals, gzip, Ping/Pong.

Raw clients (httpx, websockets) on 127.0.0.1, no adapter in between.
"""

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

from dita.venues.bingx.clock import wall_clock_ms
from dita.venues.bingx.signing import canonical, signature, signed_query
from dita.venues.bingx_emulator import BingxEmulator, serve
from tests import loopback

KEY, SECRET = "emu-key", "emu-secret"
ORDER = "/openApi/swap/v2/trade/order"
LISTEN = "/openApi/user/auth/userDataStream"


@pytest.fixture
async def emu() -> AsyncIterator[BingxEmulator]:
    async with BingxEmulator(KEY, SECRET, ping_interval=0.05, missed_pongs_allowed=2) as e:
        yield e


@pytest.fixture
async def http(emu: BingxEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with loopback.async_client(base_url=emu.rest_url) as c:
        yield c


def signed(params: dict[str, Any], ts: int | None = None, secret: str = SECRET) -> str:
    return signed_query(params, secret, wall_clock_ms() if ts is None else ts)


async def call(
    http: httpx.AsyncClient, method: str, path: str, params: dict[str, Any], **kw: Any
) -> dict[str, Any]:
    r = await http.request(method, f"{path}?{signed(params, **kw)}", headers={"X-BX-APIKEY": KEY})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


LIMIT = {
    "symbol": "BTC-USDT",
    "side": "BUY",
    "positionSide": "BOTH",
    "type": "LIMIT",
    "quantity": "0.01",
    "price": "59000",
}


async def test_auth_failures_use_bingx_codes(http: httpx.AsyncClient) -> None:
    q = signed({"symbol": "BTC-USDT"})
    r = await http.get(f"/openApi/swap/v2/trade/openOrders?{q}")
    assert r.json()["code"] == 100413  # no key
    r = await http.get(f"/openApi/swap/v2/trade/openOrders?{q}", headers={"X-BX-APIKEY": "other"})
    assert r.json()["code"] == 100413
    r = await http.get(
        "/openApi/swap/v2/trade/openOrders?symbol=BTC-USDT&timestamp=1",
        headers={"X-BX-APIKEY": KEY},
    )
    assert r.json()["code"] == 100412
    bad = signed({"symbol": "BTC-USDT"}, secret="wrong")
    r = await http.get(f"/openApi/swap/v2/trade/openOrders?{bad}", headers={"X-BX-APIKEY": KEY})
    assert r.json() == {
        "code": 100001,
        "msg": "Signature verification failed due to signature mismatch",
        "data": {},
    }
    for ts in (wall_clock_ms() - 6000, wall_clock_ms() + 6000):  # "within 5 seconds", both ways
        body = await call(
            http, "GET", "/openApi/swap/v2/trade/openOrders", {"symbol": "BTC-USDT"}, ts=ts
        )
        assert body["code"] == 100421


async def test_unsorted_query_is_verified_in_received_order(http: httpx.AsyncClient) -> None:
    ts = wall_clock_ms()
    pairs = [("symbol", "BTC-USDT"), ("timestamp", str(ts)), ("side", "BOTH"), ("leverage", "6")]
    payload = canonical(pairs)
    r = await http.post(
        f"/openApi/swap/v2/trade/leverage?{payload}&signature={signature(SECRET, payload)}",
        headers={"X-BX-APIKEY": KEY},
    )
    assert r.json() == {"code": 0, "msg": "", "data": {"leverage": 6, "symbol": "BTC-USDT"}}


async def test_form_and_json_bodies_are_accepted(http: httpx.AsyncClient) -> None:
    ts = wall_clock_ms()
    form = canonical(sorted({**LIMIT, "clientOrderId": "form-1", "timestamp": str(ts)}.items()))
    r = await http.post(
        ORDER,
        content=f"{form}&signature={signature(SECRET, form)}",
        headers={"X-BX-APIKEY": KEY, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.json()["code"] == 0, r.text
    body = {**LIMIT, "clientOrderId": "json-1", "timestamp": ts}
    payload = canonical(sorted((k, str(v)) for k, v in body.items()))
    r = await http.post(
        ORDER,
        content=json.dumps({**body, "signature": signature(SECRET, payload)}),
        headers={"X-BX-APIKEY": KEY, "Content-Type": "application/json"},
    )
    assert r.json()["code"] == 0, r.text


async def test_order_ids_are_19_digit_json_integers_and_decimals_strings(
    http: httpx.AsyncClient,
) -> None:
    r = await http.post(
        f"{ORDER}?{signed({**LIMIT, 'clientOrderID': 'MiXeD-Case-1'})}",
        headers={"X-BX-APIKEY": KEY},
    )
    assert r.json()["code"] == 0
    oid = r.json()["data"]["order"]["orderId"]
    assert isinstance(oid, int) and len(str(oid)) == 19
    assert f'"orderId":{oid}' in r.text
    assert r.json()["data"]["order"]["clientOrderID"] == "mixed-case-1"
    q = await call(http, "GET", ORDER, {"symbol": "BTC-USDT", "clientOrderId": "MIXED-CASE-1"})
    order = q["data"]["order"]
    assert order["orderId"] == oid
    assert all(
        isinstance(order[k], str)
        for k in ("origQty", "price", "executedQty", "avgPrice", "commission")
    )
    assert order["status"] in ("NEW", "PENDING")


async def test_duplicate_client_order_id_is_101481(http: httpx.AsyncClient) -> None:
    assert (await call(http, "POST", ORDER, {**LIMIT, "clientOrderId": "dup"}))["code"] == 0
    assert (await call(http, "POST", ORDER, {**LIMIT, "clientOrderId": "DUP"}))["code"] == 101481


async def test_excess_precision_is_truncated(http: httpx.AsyncClient) -> None:
    body = await call(
        http,
        "POST",
        ORDER,
        {**LIMIT, "quantity": "0.012345", "price": "59000.06", "clientOrderId": "p-1"},
    )
    assert body["code"] == 0, body
    q = await call(http, "GET", ORDER, {"symbol": "BTC-USDT", "clientOrderId": "p-1"})
    assert (q["data"]["order"]["origQty"], q["data"]["order"]["price"]) == ("0.0123", "59000.0")


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({**LIMIT, "symbol": "CATI-USDT"}, 109400),
        ({**LIMIT, "positionSide": "LONG"}, 109400),
        ({k: v for k, v in LIMIT.items() if k != "quantity"}, 80014),
        ({**LIMIT, "quantity": "0.0001", "price": "10000"}, 101400),  # 1 USDT < 2u
        ({**LIMIT, "quantity": "0.00001"}, 80014),  # truncated to nothing
        ({**LIMIT, "quantity": "100"}, 101204),
        ({**LIMIT, "side": "SELL", "type": "MARKET", "reduceOnly": "true", "price": "0"}, 101205),
        ({**LIMIT, "timeInForce": "PostOnly", "price": "61000"}, 101215),
    ],
)
async def test_order_checks_answer_with_bingx_codes(
    http: httpx.AsyncClient, params: dict[str, str], code: int
) -> None:
    body = await call(http, "POST", ORDER, params)
    assert body["code"] == code, body
    assert body["data"] == {}


async def test_cancel_all_balance_v2_v3_positions(http: httpx.AsyncClient) -> None:
    await call(http, "POST", ORDER, {**LIMIT, "clientOrderId": "ca-1"})
    await call(http, "POST", ORDER, {**LIMIT, "clientOrderId": "ca-2"})
    body = await call(
        http, "DELETE", "/openApi/swap/v2/trade/allOpenOrders", {"symbol": "BTC-USDT"}
    )
    assert sorted(o["clientOrderId"] for o in body["data"]["success"]) == ["ca-1", "ca-2"]
    assert all(o["status"] == "CANCELLED" for o in body["data"]["success"])
    v2 = await call(http, "GET", "/openApi/swap/v2/user/balance", {})
    assert v2["data"]["balance"]["balance"] == "10000"
    v3 = await call(http, "GET", "/openApi/swap/v3/user/balance", {})
    assert v3["data"][0]["asset"] == "USDT"
    assert (await call(http, "GET", "/openApi/swap/v2/user/positions", {}))["data"] == []


async def test_public_market_data(http: httpx.AsyncClient) -> None:
    r = (await http.get("/openApi/swap/v2/quote/contracts?timestamp=1")).json()
    by_symbol = {c["symbol"]: c for c in r["data"]}
    assert set(by_symbol) >= {"BTC-USDT", "ETH-USDT", "TRX-USDT"}
    assert (
        by_symbol["BTC-USDT"]["pricePrecision"],
        by_symbol["BTC-USDT"]["quantityPrecision"],
    ) == (1, 4)
    price = (await http.get("/openApi/swap/v1/ticker/price?symbol=BTC-USDT")).json()["data"]
    assert Decimal(price["price"]) == Decimal("60000")
    assert (await http.get("/openApi/swap/v2/server/time")).json()["data"]["serverTime"] > 0
    assert (await http.get("/openApi/nope")).status_code == 404


async def test_injected_http_faults(emu: BingxEmulator, http: httpx.AsyncClient) -> None:
    emu.fail_next(ORDER, status=504, method="POST", after_execute=True)
    r = await http.post(
        f"{ORDER}?{signed({**LIMIT, 'clientOrderId': 'f-1'})}", headers={"X-BX-APIKEY": KEY}
    )
    assert r.status_code == 504
    assert emu.exchange.order_count() == 1  # executed anyway
    emu.rate_limit_next(None)
    assert (await call(http, "GET", ORDER, {"symbol": "BTC-USDT", "clientOrderId": "f-1"}))[
        "code"
    ] == 100410
    assert (await call(http, "GET", ORDER, {"symbol": "BTC-USDT", "clientOrderId": "f-1"}))[
        "code"
    ] == 0


async def test_listen_key_lifecycle(emu: BingxEmulator, http: httpx.AsyncClient) -> None:
    r = await http.post(LISTEN, headers={"X-BX-APIKEY": KEY})  # unsigned, like DOC23/JKorf
    key = r.json()["listenKey"]
    assert len(key) == 64
    # by default answered by status only, with an empty body (JKorf's recorded answers)
    put = await http.put(f"{LISTEN}?listenKey={key}", headers={"X-BX-APIKEY": KEY})
    assert (put.status_code, put.content) == (200, b"")
    assert (
        await http.put(f"{LISTEN}?listenKey={'0' * 64}", headers={"X-BX-APIKEY": KEY})
    ).status_code == 404
    emu.answers.profile = emu.answers.profile.but(listen_key_empty_body=False)
    put = await http.put(f"{LISTEN}?listenKey={key}", headers={"X-BX-APIKEY": KEY})
    assert put.json()["code"] == 0  # the skills reference's {code, msg} form
    delete = await http.delete(f"{LISTEN}?listenKey={key}", headers={"X-BX-APIKEY": KEY})
    assert delete.json()["code"] == 0
    with pytest.raises(websockets.InvalidStatus):
        await websockets.connect(f"{emu.ws_url}?listenKey={key}")


async def _frames(ws: websockets.ClientConnection, n: int) -> list[bytes]:
    out = []
    for _ in range(n):
        frame = await asyncio.wait_for(ws.recv(), 2)
        assert isinstance(frame, bytes)  # binary, gzipped
        out.append(gzip.decompress(frame))
    return out


async def test_stream_frames_are_gzipped_and_pings_need_pongs(
    emu: BingxEmulator, http: httpx.AsyncClient
) -> None:
    key = (await http.post(LISTEN, headers={"X-BX-APIKEY": KEY})).json()["listenKey"]
    async with websockets.connect(f"{emu.ws_url}?listenKey={key}") as ws:
        first = await _frames(ws, 1)
        assert json.loads(first[0])["e"] == "ACCOUNT_CONFIG_UPDATE"
        await call(http, "POST", ORDER, {**LIMIT, "clientOrderId": "ws-1"})
        seen: list[bytes] = []
        while not any(b"ORDER_TRADE_UPDATE" in f for f in seen):
            seen += await _frames(ws, 1)
            if seen[-1] == b"Ping":
                await ws.send("Pong")
        update = json.loads(next(f for f in seen if b"ORDER_TRADE_UPDATE" in f))
        assert (update["o"]["x"], update["o"]["X"], update["o"]["c"]) == ("NEW", "NEW", "ws-1")
        assert isinstance(update["o"]["i"], int)
        # keep answering: still connected after many pings
        for _ in range(6):
            (frame,) = await _frames(ws, 1)
            if frame == b"Ping":
                await ws.send("Pong")
        assert emu.stream_connections == 1
    async with websockets.connect(f"{emu.ws_url}?listenKey={key}") as silent:
        with pytest.raises(websockets.ConnectionClosed):
            for _ in range(50):
                await asyncio.wait_for(silent.recv(), 2)  # never answers Ping


def test_serve_requires_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BINGX_API_KEY", raising=False)
    monkeypatch.delenv("BINGX_API_SECRET", raising=False)
    with pytest.raises(ValueError, match="BINGX_API_KEY"):
        serve(0)


async def test_batch_place_and_batch_cancel_like_ccxt(http: httpx.AsyncClient) -> None:
    orders = [
        {
            "symbol": "BTC-USDT",
            "type": "LIMIT",
            "side": "BUY",
            "positionSide": "BOTH",
            "quantity": 0.001,
            "price": 58000,
            "clientOrderId": "b-1",
        },
        {
            "symbol": "BTC-USDT",
            "type": "LIMIT",
            "side": "BUY",
            "positionSide": "BOTH",
            "quantity": 0.001,
            "price": 58100,
            "clientOrderId": "b-2",
        },
        {
            "symbol": "BTC-USDT",
            "type": "LIMIT",
            "side": "BUY",
            "positionSide": "LONG",
            "quantity": 0.001,
            "price": 58100,
        },
    ]
    body = await call(
        http,
        "POST",
        "/openApi/swap/v2/trade/batchOrders",
        {"batchOrders": json.dumps(orders, separators=(",", ":"))},
    )
    assert body["code"] == 0, body
    assert [o["clientOrderID"] for o in body["data"]["orders"]] == ["b-1", "b-2"]
    assert body["data"]["failed"] == [
        {
            "index": 2,
            "errorCode": 109400,
            "errorMessage": "In the One-way mode, the 'PositionSide' field can only be set to BOTH.",
        }
    ]
    oid = body["data"]["orders"][0]["orderId"]
    one = await call(
        http, "GET", "/openApi/swap/v2/trade/openOrder", {"symbol": "BTC-USDT", "orderId": oid}
    )
    assert one["data"]["order"]["orderId"] == oid
    body = await call(
        http,
        "DELETE",
        "/openApi/swap/v2/trade/batchOrders",
        {"symbol": "BTC-USDT", "orderIdList": f"[{oid}]", "clientOrderIdList": '["b-2","nope"]'},
    )
    assert [o["status"] for o in body["data"]["success"]] == ["CANCELLED", "CANCELLED"]
    assert body["data"]["failed"][0]["clientOrderId"] == "nope"
    gone = await call(
        http, "GET", "/openApi/swap/v2/trade/openOrder", {"symbol": "BTC-USDT", "orderId": oid}
    )
    assert gone["code"] == 80016
    premium = (await http.get("/openApi/swap/v2/quote/premiumIndex?symbol=BTC-USDT")).json()["data"]
    assert Decimal(premium["markPrice"]) == Decimal(60000)
