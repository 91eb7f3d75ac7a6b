"""The emulator's STOP_MARKET and TAKE_PROFIT_MARKET (issue 16): validated as BingX's
"Place order" docs say (DOC25), resting untriggered, listed in open orders, triggered by
the sim's trigger rule when the price reaches them, filled as MARKET orders; with and
without the stream frames BingX-swap-api-doc #36 says are missing. The engine runs in
process for the rules; the listing goes through real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dita.kernel.model import OrderSide, OrderType, PositionMode
from dita.venues.bingx.orders import order_params
from dita.venues.bingx.signing import public_query, signed_query
from dita.venues.bingx_emulator import BingxEmulator, Mode, SimEngine
from dita.venues.bingx_emulator.answers import (
    Answerer,
    AnswerProfile,
)
from dita.venues.bingx_emulator.protocol import (
    DEFAULT_CONTRACTS,
    ApiError,
    parse_place,
)
from tests import loopback
from tests.venues.bingx.conftest import make_order
from tests.venues.bingx_emulator.clients import API_KEY, API_SECRET

D = Decimal
SPECS = {c.symbol: c for c in DEFAULT_CONTRACTS}


class Clock:
    def __init__(self) -> None:
        self.now = 1_767_225_600_000

    def __call__(self) -> int:
        self.now += 1
        return self.now


def engine(**kwargs: Any) -> SimEngine:
    return SimEngine(Clock(), **kwargs)


def long_position(ex: SimEngine, qty: str = "0.01") -> None:
    ex.place({"symbol": "BTC-USDT", "side": "BUY", "positionSide": "BOTH", "type": "MARKET",
              "quantity": qty})  # fmt: skip


def stop(otype: str = "STOP_MARKET", side: str = "SELL", **extra: str) -> dict[str, str]:
    p = {"symbol": "BTC-USDT", "side": side, "positionSide": "BOTH", "type": otype}
    return p | extra


def refused(ex: SimEngine, params: dict[str, str]) -> ApiError:
    with pytest.raises(ApiError) as info:
        ex.place(params)
    return info.value


@pytest.mark.parametrize(
    ("params", "code", "text"),
    [
        (stop(quantity="0.01"), 80014, "stopPrice: This field is required"),
        (stop(stopPrice="59000.0"), 80014, "parameter quantity is must"),
        (stop(stopPrice="59000.0", quantity="0.01", closePosition="true"), 80014,
         "not used with quantity"),
        (stop(stopPrice="59000.0", closePosition="true", reduceOnly="true"), 80014,
         "not used with reduceOnly"),
        (stop("LIMIT", price="59000.0", quantity="0.01", closePosition="true"), 80014,
         "closePosition only supports"),
        (stop(stopPrice="0", quantity="0.01", reduceOnly="true"), 80014, "greater than 0"),
        (stop(stopPrice="59000.0", quantity="0.01", workingType="LAST"), 80014, "workingType"),
        (stop("TRAILING_STOP_MARKET", quantity="0.01"), 80014, "not supported"),
    ],
)  # fmt: skip
def test_malformed_protective_orders_are_refused_as_the_docs_say(
    params: dict[str, str], code: int, text: str
) -> None:
    ex = engine()
    long_position(ex)
    err = refused(ex, params)
    assert err.code == code and text in err.msg
    assert ex.order_count() == 1  # only the entry: a refusal leaves nothing behind


@pytest.mark.parametrize(
    ("otype", "side", "trigger", "code"),
    [
        ("STOP_MARKET", "SELL", "60000.0", 110411),  # a long's stop at the price
        ("STOP_MARKET", "BUY", "59990.0", 110412),  # a short's stop below the price
        ("TAKE_PROFIT_MARKET", "SELL", "59990.0", 110413),  # a long's take-profit below
        ("TAKE_PROFIT_MARKET", "BUY", "60010.0", 110414),  # a short's (no documented code)
    ],
)
def test_a_trigger_the_price_has_reached_is_refused_with_its_code(
    otype: str, side: str, trigger: str, code: int
) -> None:
    ex = engine()
    if side == "SELL":
        long_position(ex)
    else:
        ex.place(stop("MARKET", side="SELL", quantity="0.01"))
    err = refused(ex, stop(otype, side, stopPrice=trigger, quantity="0.01", reduceOnly="true"))
    assert err.code == code


def test_stop_price_off_the_tick_is_truncated_or_refused_as_prices_are() -> None:
    params = stop(stopPrice="59000.07", quantity="0.01", reduceOnly="true")
    truncated = parse_place(params, SPECS.__getitem__, reject_excess_precision=False)
    assert truncated.stop_price == D("59000.0")
    with pytest.raises(ApiError) as info:
        parse_place(params, SPECS.__getitem__, reject_excess_precision=True)
    assert info.value.code == 110425 and "stopPrice" in info.value.msg


def test_no_position_and_more_than_the_position_are_refused() -> None:
    ex = engine()
    err = refused(ex, stop(stopPrice="59000.0", quantity="0.01", reduceOnly="true"))
    assert err.code == 101205
    long_position(ex)
    ex.place(stop(stopPrice="59000.0", quantity="0.006", reduceOnly="true"))
    # DOC25: pending stop orders may not add up to more than the position
    err = refused(ex, stop(stopPrice="58000.0", quantity="0.005", reduceOnly="true"))
    assert err.code == 101290


def test_a_stop_rests_untriggered_then_triggers_and_fills_as_market() -> None:
    ex = engine()
    long_position(ex)
    ex.outbox.clear()
    echo = ex.place(stop(stopPrice="59000.0", quantity="0.01", reduceOnly="true",
                         workingType="CONTRACT_PRICE", clientOrderId="ignored-1"))["order"]  # fmt: skip
    assert (echo["type"], echo["stopPrice"], echo["workingType"]) == (
        "STOP_MARKET", "59000.0", "CONTRACT_PRICE"
    )  # fmt: skip
    assert echo["clientOrderID"] == ""  # DOC25: client ids are for LIMIT/MARKET only
    oid = str(echo["orderId"])
    (row,) = ex.open_orders({})["orders"]
    assert (row["type"], row["stopPrice"], row["status"], row["closePosition"]) == (
        "STOP_MARKET", "59000.0", "NEW", "false"
    )  # fmt: skip
    ex.set_price("BTC-USDT", D("59500.0"))  # not reached: nothing happens
    assert ex.query({"symbol": "BTC-USDT", "orderId": oid})["order"]["status"] == "NEW"
    ex.set_price("BTC-USDT", D("58990.0"))  # reached (gapped past): fills at that print
    done = ex.query({"symbol": "BTC-USDT", "orderId": oid})["order"]
    assert (done["status"], done["executedQty"], done["avgPrice"]) == ("FILLED", "0.01", "58990.0")
    assert ex.positions_data({}) == [] and ex.open_orders({})["orders"] == []
    frames = [f["o"] for f in ex.outbox if f["e"] == "ORDER_TRADE_UPDATE"]
    assert [(f["x"], f["X"], f["o"], f["sp"], f["wt"]) for f in frames] == [
        ("NEW", "NEW", "STOP_MARKET", "59000.0", "CONTRACT_PRICE"),
        ("TRADE", "FILLED", "STOP_MARKET", "59000.0", "CONTRACT_PRICE"),
    ]


def test_a_close_position_take_profit_closes_whatever_is_held_when_it_triggers() -> None:
    ex = engine()
    long_position(ex, "0.01")
    echo = ex.place(stop("TAKE_PROFIT_MARKET", stopPrice="61000.0", closePosition="true"))
    oid = str(echo["order"]["orderId"])
    assert echo["order"]["closePosition"] == "true" and echo["order"]["reduceOnly"] is False
    long_position(ex, "0.02")  # the position grows after the order was placed
    ex.set_price("BTC-USDT", D("61000.0"))
    done = ex.query({"symbol": "BTC-USDT", "orderId": oid})["order"]
    assert (done["status"], done["executedQty"], done["origQty"]) == ("FILLED", "0.03", "0.03")
    assert ex.positions_data({}) == []


def test_issue_36_profile_silences_only_the_trigger_frames() -> None:
    ex = engine()
    long_position(ex)
    ex.outbox.clear()
    ex.place(stop(stopPrice="59000.0", quantity="0.01", reduceOnly="true"))
    ex.set_price("BTC-USDT", D("58000.0"))
    silent = Answerer(AnswerProfile(protective_trigger_frames=False), Clock())
    loud = Answerer(AnswerProfile(), Clock())
    kept = [(f["e"], f.get("o", {}).get("x")) for f in ex.outbox if not silent.silent(f)]
    assert kept == [("ORDER_TRADE_UPDATE", "NEW"), ("ACCOUNT_UPDATE", None)]
    assert not any(loud.silent(f) for f in ex.outbox)


@given(
    otype=st.sampled_from([OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET]),
    side=st.sampled_from(list(OrderSide)),
    stop_ticks=st.integers(1, 10**7),
    qty_steps=st.integers(1, 10**6),
    close_position=st.booleans(),
    working=st.sampled_from(["MARK_PRICE", "CONTRACT_PRICE"]),
)
def test_what_the_adapter_sends_is_what_the_emulator_reads(
    otype: OrderType,
    side: OrderSide,
    stop_ticks: int,
    qty_steps: int,
    close_position: bool,
    working: str,
) -> None:
    stop_price, qty = D(stop_ticks) / 10, D(qty_steps) / 10_000
    order = replace(
        make_order("dita-h-1", side, qty=str(qty), price=None, reduce_only=True),
        order_type=otype,
        stop_price=stop_price,
        close_position=close_position,
    )
    wire = order_params(order, mode=PositionMode.ONE_WAY, working_type=working)  # type: ignore[arg-type]
    sent = dict(parse_qsl(public_query(wire)))
    read = parse_place(sent, SPECS.__getitem__, reject_excess_precision=True)
    assert (read.otype, read.side, read.stop_price, read.working_type) == (
        otype.value, side.value, stop_price, working
    )  # fmt: skip
    assert read.close_position is close_position
    assert read.qty == (D(0) if close_position else qty)
    assert read.reduce_only is not close_position and read.cid == ""


@pytest.fixture
async def emu() -> AsyncIterator[BingxEmulator]:
    async with BingxEmulator(API_KEY, API_SECRET) as e:
        yield e


async def call(http: httpx.AsyncClient, method: str, path: str, **params: Any) -> Any:
    from dita.venues.bingx.clock import wall_clock_ms

    q = signed_query(params, API_SECRET, wall_clock_ms())
    r = await http.request(method, f"{path}?{q}", headers={"X-BX-APIKEY": API_KEY})
    body = r.json()
    assert r.status_code == 200 and body["code"] == 0, body
    return body["data"]


async def test_open_orders_query_and_history_show_protective_orders_over_http(
    emu: BingxEmulator,
) -> None:
    v2 = "/openApi/swap/v2"
    async with loopback.async_client(base_url=emu.rest_url) as http:
        await call(http, "POST", f"{v2}/trade/order", symbol="BTC-USDT", side="BUY",
                   positionSide="BOTH", type="MARKET", quantity="0.01")  # fmt: skip
        placed = await call(http, "POST", f"{v2}/trade/order", **stop(
            "TAKE_PROFIT_MARKET", stopPrice="61000.0", closePosition="true"))  # fmt: skip
        oid = placed["order"]["orderId"]
        listed = await call(http, "GET", f"{v2}/trade/openOrders", symbol="BTC-USDT")
        (row,) = listed["orders"]
        assert (row["orderId"], row["type"], row["stopPrice"], row["status"]) == (
            oid, "TAKE_PROFIT_MARKET", "61000.0", "PENDING"  # the recorded resting status
        )  # fmt: skip
        await emu.set_price("BTC-USDT", D("61000.0"))
        got = await call(http, "GET", f"{v2}/trade/order", symbol="BTC-USDT", orderId=oid)
        assert got["order"]["status"] == "FILLED"
        history = await call(http, "GET", f"{v2}/trade/allOrders", symbol="BTC-USDT",
                             orderId=oid, limit=10)  # fmt: skip
        assert [(o["orderId"], o["status"]) for o in history["orders"]] == [(oid, "FILLED")]


def test_hedge_mode_protective_orders_close_by_position_side_without_reduce_only() -> None:
    ex = engine(mode=Mode.HEDGE)
    ex.place({"symbol": "BTC-USDT", "side": "BUY", "positionSide": "LONG", "type": "MARKET",
              "quantity": "0.01"})  # fmt: skip
    hedge_stop = stop(stopPrice="59000.0", quantity="0.01") | {"positionSide": "LONG"}
    err = refused(ex, hedge_stop | {"reduceOnly": "true"})
    assert err.code == 109400 and "ReduceOnly" in err.msg  # DOC25: not in hedge mode
    # a SELL opening a SHORT is no protective order: refused by the sim's rule
    assert refused(ex, hedge_stop | {"positionSide": "SHORT"}).code == 101290
    oid = str(ex.place(hedge_stop)["order"]["orderId"])
    ex.set_price("BTC-USDT", D("58000.0"))
    done = ex.query({"symbol": "BTC-USDT", "orderId": oid})["order"]
    assert (done["status"], done["positionSide"], done["reduceOnly"]) == ("FILLED", "LONG", True)
    assert ex.positions_data({}) == []
