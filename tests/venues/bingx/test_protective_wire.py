"""Protective orders (STOP_MARKET, TAKE_PROFIT_MARKET) on BingX's wire: what dita sends,
what it refuses to send, and how it reads what comes back (docs/bingx.md, "Protective
orders"). Pure: no network; the payloads below follow the field lists of DOC25's "Place
order" and "Current All Open Orders" pages (their values are ours)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dita.kernel.model import (
    EventKind,
    Instrument,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionMode,
)
from dita.venues.bingx import parse, wire
from dita.venues.bingx.errors import ErrorClass, classify
from dita.venues.bingx.orders import order_params, order_problem
from dita.venues.bingx.signing import public_query
from dita.venues.bingx.tracker import OrderTracker
from tests.venues.bingx.conftest import make_order

D = Decimal
BTC = Instrument("BTC-USDT", D("0.1"), D("0.0001"), D("0.0001"), D(2))


def protective(
    otype: OrderType = OrderType.STOP_MARKET,
    side: OrderSide = OrderSide.SELL,
    stop: str | None = "59000.0",
    qty: str = "0.01",
    *,
    close_position: bool = False,
    reduce_only: bool = True,
    cid: str = "dita-t1-sl-0",
) -> Order:
    base = make_order(cid, side, qty=qty, price=None, reduce_only=reduce_only)
    return replace(
        base,
        order_type=otype,
        stop_price=D(stop) if stop is not None else None,
        close_position=close_position,
    )


def test_stop_market_one_way_sends_stop_price_working_type_and_reduce_only() -> None:
    params = order_params(protective(), mode=PositionMode.ONE_WAY)
    assert params == {
        "symbol": "BTC-USDT",
        "side": "SELL",
        "type": "STOP_MARKET",
        "quantity": D("0.01"),
        "stopPrice": D("59000.0"),
        "workingType": "MARK_PRICE",
        "positionSide": "BOTH",
        "reduceOnly": True,
    }
    # no clientOrderId: BingX keeps it for LIMIT/MARKET only (DOC25 "Place order")
    assert "clientOrderId" not in params and "timeInForce" not in params


def test_take_profit_close_position_sends_neither_quantity_nor_reduce_only() -> None:
    order = protective(OrderType.TAKE_PROFIT_MARKET, stop="61000.0", qty="0", close_position=True)
    params = order_params(order, mode=PositionMode.ONE_WAY, working_type="CONTRACT_PRICE")
    assert params == {
        "symbol": "BTC-USDT",
        "side": "SELL",
        "type": "TAKE_PROFIT_MARKET",
        "stopPrice": D("61000.0"),
        "workingType": "CONTRACT_PRICE",
        "closePosition": True,
        "positionSide": "BOTH",
    }
    # the same with reduce_only set as well: closePosition still goes alone
    assert order_params(replace(order, reduce_only=True), mode=PositionMode.ONE_WAY) == {
        **params,
        "workingType": "MARK_PRICE",
    }


@pytest.mark.parametrize(
    ("side", "close_position", "position_side"),
    [
        (OrderSide.SELL, False, "LONG"),  # closes a long
        (OrderSide.BUY, False, "SHORT"),  # closes a short
        (OrderSide.SELL, True, "LONG"),
        (OrderSide.BUY, True, "SHORT"),
    ],
)
def test_hedge_mode_closes_by_position_side_and_never_sends_reduce_only(
    side: OrderSide, close_position: bool, position_side: str
) -> None:
    order = protective(side=side, close_position=close_position)
    params = order_params(order, mode=PositionMode.HEDGE)
    assert params["positionSide"] == position_side
    assert "reduceOnly" not in params
    assert ("quantity" in params) is not close_position


def test_limit_and_market_orders_are_sent_as_before() -> None:
    limit = order_params(make_order("dita-l-1"), mode=PositionMode.ONE_WAY, time_in_force="GTC")
    assert limit == {
        "symbol": "BTC-USDT",
        "side": "BUY",
        "type": "LIMIT",
        "quantity": D("0.01"),
        "price": D("59000"),
        "timeInForce": "GTC",
        "clientOrderId": "dita-l-1",
        "positionSide": "BOTH",
    }
    exit_ = make_order("dita-m-1", OrderSide.SELL, price=None, reduce_only=True)
    market = order_params(exit_, mode=PositionMode.ONE_WAY)
    assert market["reduceOnly"] is True and market["clientOrderId"] == "dita-m-1"
    assert "stopPrice" not in market and "closePosition" not in market


@pytest.mark.parametrize(
    ("order", "field"),
    [
        (protective(stop=None), "without a stop_price"),
        (protective(stop="59000.05"), "stop_price 59000.05 is not a multiple of 0.1"),
        (protective(stop="0"), "stop_price 0 is not > 0"),
        (protective(stop="-5.0"), "stop_price -5.0 is not > 0"),
        (protective(reduce_only=False), "must be reduce_only or close_position"),
        (protective(qty="0.00015"), "quantity 0.00015 is not a multiple of 0.0001"),
        (protective(qty="0"), "quantity 0 is not > 0"),
        (replace(protective(), limit_price=D("59000")), "limit_price on a STOP_MARKET order"),
        (replace(make_order("dita-l-2"), close_position=True), "close_position on a LIMIT order"),
        (replace(make_order("dita-l-3"), stop_price=D("59000")), "stop_price on a LIMIT order"),
        (replace(protective(), asset="DOGE-USDT"), "DOGE-USDT is not a tradable"),
    ],
)
def test_orders_bingx_would_refuse_are_not_sent_and_the_reason_names_the_field(
    order: Order, field: str
) -> None:
    problem = order_problem(order, BTC if order.asset == "BTC-USDT" else None)
    assert field in problem and problem.endswith("(not sent)")


def test_orders_bingx_takes_have_no_problem() -> None:
    assert order_problem(protective(), BTC) == ""
    assert order_problem(protective(qty="0", close_position=True, reduce_only=False), BTC) == ""
    assert order_problem(protective(OrderType.TAKE_PROFIT_MARKET, OrderSide.BUY), BTC) == ""
    assert order_problem(make_order("dita-l-4"), BTC) == ""


prices = st.integers(1, 10**7).map(lambda n: D(n) / 10)
quantities = st.integers(1, 10**6).map(lambda n: D(n) / 10_000)


@given(
    otype=st.sampled_from([OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET]),
    side=st.sampled_from(list(OrderSide)),
    stop=prices,
    qty=quantities,
    close_position=st.booleans(),
    mode=st.sampled_from(list(PositionMode)),
    working=st.sampled_from(["MARK_PRICE", "CONTRACT_PRICE"]),
)
def test_protective_params_round_trip_through_the_query_string(
    otype: OrderType,
    side: OrderSide,
    stop: Decimal,
    qty: Decimal,
    close_position: bool,
    mode: PositionMode,
    working: str,
) -> None:
    order = protective(otype, side, str(stop), str(qty), close_position=close_position)
    assert order_problem(order, BTC) == ""
    sent = dict(
        parse_qsl(
            public_query(order_params(order, mode=mode, working_type=working))  # type: ignore[arg-type]
        )
    )
    assert (sent["type"], sent["side"], D(sent["stopPrice"])) == (otype.value, side.value, stop)
    assert sent["workingType"] == working
    assert "clientOrderId" not in sent
    if close_position:
        assert sent["closePosition"] == "true"
        assert "quantity" not in sent and "reduceOnly" not in sent
    else:
        assert D(sent["quantity"]) == qty and "closePosition" not in sent
        assert ("reduceOnly" in sent) is (mode is PositionMode.ONE_WAY)


# -- reading --------------------------------------------------------------------------

# an open STOP_MARKET as DOC25 "Current All Open Orders" lists its fields
OPEN_STOP = b"""{"symbol":"BTC-USDT","orderId":1900000000000000123,"side":"SELL",
 "positionSide":"BOTH","type":"STOP_MARKET","origQty":"0.0100","price":"0","executedQty":"0",
 "avgPrice":"0","cumQuote":"0","stopPrice":"59000.0","profit":"0","commission":"0",
 "status":"NEW","time":1700000000000,"updateTime":1700000000000,"clientOrderId":"",
 "workingType":"MARK_PRICE","reduceOnly":true,"closePosition":"false"}"""


def test_an_open_stop_market_reads_as_a_working_report_with_its_trigger() -> None:
    report = parse.order_report(wire.decode(OPEN_STOP, wire.RestOrder))
    assert (report.order_type, report.status, report.stop_price) == (
        OrderType.STOP_MARKET,
        OrderStatus.WORKING,
        D("59000.0"),
    )
    assert (report.quantity, report.limit_price, report.reduce_only) == (D("0.01"), None, True)
    assert report.client_order_id == ""


def test_a_close_position_take_profit_has_no_quantity_of_its_own_and_reduces() -> None:
    raw = (
        OPEN_STOP.replace(b'"STOP_MARKET"', b'"TAKE_PROFIT_MARKET"')
        .replace(b'"origQty":"0.0100"', b'"origQty":""')
        .replace(b'"reduceOnly":true', b'"reduceOnly":false')
        .replace(b'"closePosition":"false"', b'"closePosition":"true"')
    )
    report = parse.order_report(wire.decode(raw, wire.RestOrder))
    assert (report.order_type, report.quantity, report.reduce_only) == (
        OrderType.TAKE_PROFIT_MARKET,
        D(0),
        True,
    )


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ((b'"STOP_MARKET"', b'"TRAILING_STOP_MARKET"'), "type: BingX order type"),
        ((b'"59000.0"', b'"-1"'), "stopPrice"),
        ((b'"59000.0"', b'"abc"'), "stopPrice"),
        ((b'"closePosition":"false"', b'"closePosition":"maybe"'), "not a boolean"),
    ],
)
def test_what_does_not_fit_is_refused_naming_the_field(
    patch: tuple[bytes, bytes], field: str
) -> None:
    with pytest.raises(wire.WireError, match=field):
        parse.order_report(wire.decode(OPEN_STOP.replace(*patch), wire.RestOrder))


def test_a_stop_without_a_trigger_in_the_answer_is_read_with_none() -> None:
    # place echoes say "0", some samples "": absent, not a trigger at zero
    for absent in (b'""', b'"0"'):
        raw = OPEN_STOP.replace(b'"59000.0"', absent)
        assert parse.order_report(wire.decode(raw, wire.RestOrder)).stop_price is None


def test_protective_error_codes_are_refusals() -> None:
    for code in (110411, 110412, 110413, 110406, 110407, 110400):
        assert classify(code) is ErrorClass.REJECT


def _frame(x: str, status: str, z: str, *, l: str = "0", ap: str = "0") -> wire.OrderTradeUpdate:  # noqa: E741
    raw = (
        '{"e":"ORDER_TRADE_UPDATE","E":1700000000500,"T":1700000000500,"o":{"s":"BTC-USDT",'
        f'"c":"","i":1900000000000000123,"S":"SELL","o":"STOP_MARKET","q":"0.0100","p":"0",'
        f'"ap":"{ap}","x":"{x}","X":"{status}","l":"{l}","L":"{ap}","z":"{z}","N":"USDT",'
        '"n":"-0.2950","T":1700000000500,"wt":"MARK_PRICE","ps":"BOTH","rp":"0","sp":"59000.0",'
        '"ro":true}}'
    )
    return wire.decode(raw, wire.OrderTradeUpdate)


PLACED_STOP = wire.placed_order(
    b"""{"order":{"symbol":"BTC-USDT","orderId":1900000000000000123,"side":"SELL",
    "positionSide":"BOTH","type":"STOP_MARKET","price":"0","quantity":"0.01",
    "stopPrice":"59000.0","workingType":"MARK_PRICE","clientOrderID":"","reduceOnly":true}}"""
)


def test_frames_before_the_place_reply_wait_for_it_and_reach_our_order() -> None:
    t = OrderTracker()
    t.begin_call("dita-t1-sl-0", "BTC-USDT", D("0.01"), protective=True)
    t.begin_anonymous_place()
    # the NEW frame and (on a fast market) the trigger's fill beat the place reply
    assert t.on_stream(_frame("NEW", "NEW", "0")) == []
    assert t.on_stream(_frame("TRADE", "FILLED", "0.0100", l="0.0100", ap="59000.0")) == []
    events = t.on_placed("dita-t1-sl-0", PLACED_STOP, 1700000000400)
    t.end_call("dita-t1-sl-0")
    assert t.end_anonymous_place() == []
    assert [(e.kind, e.client_order_id) for e in events] == [
        (EventKind.ACK, "dita-t1-sl-0"),
        (EventKind.FILL, "dita-t1-sl-0"),
    ]
    assert events[1].last_price == D("59000.0") and events[1].cum_qty == D("0.0100")


def test_held_frames_of_no_order_of_ours_are_read_when_the_place_ends() -> None:
    t = OrderTracker()
    t.begin_call("dita-t1-sl-0", "BTC-USDT", D("0.01"), protective=True)
    t.begin_anonymous_place()
    assert t.on_stream(_frame("NEW", "NEW", "0")) == []
    t.end_call("dita-t1-sl-0")  # the place failed: nothing bound that id
    (ack,) = t.end_anonymous_place()
    assert (ack.kind, ack.client_order_id) == (EventKind.ACK, "#1900000000000000123")


def test_a_protective_order_adopted_after_a_restart_gets_its_later_reports() -> None:
    t = OrderTracker()
    rest = wire.decode(OPEN_STOP, wire.RestOrder)
    t.adopt("dita-t1-sl-0", rest)
    (live,) = t.live()
    assert (live.client_order_id, live.venue_order_id, live.protective) == (
        "dita-t1-sl-0",
        "1900000000000000123",
        True,
    )
    filled = wire.decode(
        OPEN_STOP.replace(b'"executedQty":"0"', b'"executedQty":"0.0100"')
        .replace(b'"avgPrice":"0"', b'"avgPrice":"58990.0"')
        .replace(b'"status":"NEW"', b'"status":"FILLED"'),
        wire.RestOrder,
    )
    (fill,) = t.on_rest(filled)
    assert (fill.kind, fill.client_order_id, fill.last_qty, fill.last_price) == (
        EventKind.FILL,
        "dita-t1-sl-0",
        D("0.0100"),
        D("58990.0"),
    )
    assert t.live() == []
