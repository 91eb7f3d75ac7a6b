"""Pure parsing of recorded BingX payloads (quoted in PROTOCOL.md) into dita's domain types."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dita.kernel.model import EventKind, Instrument, OrderSide, OrderStatus, OrderType, Side
from dita.venues.base import BalanceReport, PositionReport
from dita.venues.bingx import parse, wire
from dita.venues.bingx.errors import BingxError, ErrorClass, classify
from dita.venues.bingx.tracker import OrderTracker

# PROTOCOL.md §3.1 (JKorf sample values for BTC-USDT; numbers unquoted as in DOC25)
CONTRACTS = b"""{"code":0,"msg":"","data":[
 {"contractId":"100","symbol":"BTC-USDT","size":"0","quantityPrecision":4,"pricePrecision":1,
  "feeRate":0.0005,"makerFeeRate":0.0002,"takerFeeRate":0.0005,"tradeMinLimit":0,
  "tradeMinQuantity":0.0001,"tradeMinUSDT":2,"maxLongLeverage":125,"maxShortLeverage":125,
  "currency":"USDT","asset":"BTC","status":1,"apiStateOpen":"true","apiStateClose":"true",
  "ensureTrigger":true,"triggerFeeRate":"0.00020000","brokerState":false,
  "launchTime":1586275200000,"maintainTime":0,"offTime":0,"displayName":"BTC-USDT"},
 {"contractId":"300","symbol":"TRX-USDT","quantityPrecision":0,"pricePrecision":5,
  "tradeMinQuantity":1,"tradeMinUSDT":2,"status":25,"apiStateOpen":"false","apiStateClose":"true"}]}"""

# PROTOCOL.md §3.11, ccxt fixture "fetch swap order" (ints stringified by the fixture)
REST_ORDER = b"""{"code":0,"msg":"","data":{"order":{"symbol":"LTC-USDT","orderId":"1770683446830788608",
 "side":"SELL","positionSide":"LONG","type":"MARKET","origQty":"0.1","price":"83.69","executedQty":"0.1",
 "avgPrice":"83.71","cumQuote":"8","stopPrice":"","profit":"0.0000","commission":"-0.004186",
 "status":"FILLED","time":"1710998806000","updateTime":"1710998806000",
 "clientOrderId":"b39b0316-1f99-4099-8f4b-bac0f46731f8","leverage":"5X","workingType":"MARK_PRICE",
 "onlyOnePosition":false,"reduceOnly":true,"stopGuaranteed":"false","triggerOrderId":"0"}}}"""

# PROTOCOL.md §3.3 place echo
PLACED = b"""{"code":0,"msg":"","data":{"order":{
  "symbol":"LTC-USDT","orderId":1751667285204103168,"side":"BUY","positionSide":"LONG",
  "type":"MARKET","price":"0","quantity":"0.1","stopPrice":"0","workingType":"MARK_PRICE",
  "clientOrderID":"","timeInForce":"GTC","priceRate":"0","stopLoss":"","takeProfit":"",
  "reduceOnly":false,"activationPrice":"0","closePosition":"","stopGuaranteed":""}}}"""

# PROTOCOL.md §3.8, ccxt fixture
POSITIONS = b"""{"code":0,"msg":"","data":[{"positionId":"1773289330136281088","symbol":"LTC-USDT",
 "currency":"USDT","positionAmt":"0.1","availableAmt":"0.1","positionSide":"LONG","isolated":false,
 "avgPrice":"95.61","initialMargin":"1.9128","leverage":"5","unrealizedProfit":"0.0005",
 "realisedProfit":"-0.0048","liquidationPrice":"0","pnlRatio":"0.0002","maxMarginReduction":"0.0000",
 "riskRate":"0.0068","markPrice":"95.62","positionValue":"9.5616","onlyOnePosition":false}]}"""

BALANCE_V3 = b"""{"code":0,"msg":"","data":[
 {"userId":"1","asset":"USDC","balance":"0","equity":"0","unrealizedProfit":"0","realisedProfit":"0",
  "availableMargin":"0","usedMargin":"0","freezedMargin":"0","shortUid":"1"},
 {"userId":"1","asset":"USDT","balance":"5277.59264687","equity":"5280.1","unrealizedProfit":"2.50735313",
  "realisedProfit":"-1.2","availableMargin":"5000.00000001","usedMargin":"277.59","freezedMargin":"0",
  "shortUid":"1"}]}"""

BALANCE_V2 = b"""{"code":0,"msg":"","data":{"balance":{"asset":"USDT","balance":"15.6128","equity":"15.6128",
 "unrealizedProfit":"0.0000","realisedProfit":"0.0000","availableMargin":"15.6128","usedMargin":"0.0000",
 "freezedMargin":"0.0000"}}}"""

# PROTOCOL.md §5.2 composite ORDER_TRADE_UPDATE
OTU_FULL = b"""{"e":"ORDER_TRADE_UPDATE","E":1696843635475,"T":1696843635470,
 "o":{"s":"LTC-USDT","c":"","i":1711312357852147712,"S":"BUY","o":"MARKET",
      "q":"0.10000000","p":"64.35010000","ap":"64.36000000","x":"TRADE","X":"FILLED",
      "l":"0.10000000","L":"64.36000000","z":"0.10000000",
      "N":"USDT","n":"-0.00321800","T":1696843635469,"wt":"MARK_PRICE",
      "ps":"LONG","rp":"0.00000000","sp":"0","ro":false,"Z":"6.43600000"}}"""

# ccxt's own sample shape: no l, L, envelope T; order id quoted
OTU_CCXT = b"""{"e":"ORDER_TRADE_UPDATE","E":1696843635475,
 "o":{"s":"LTC-USDT","c":"","i":"1711312357852147712","S":"BUY","o":"MARKET","q":"0.10000000",
      "p":"64.35010000","ap":"64.36000000","x":"TRADE","X":"FILLED","N":"USDT","n":"-0.00321800",
      "T":0,"wt":"MARK_PRICE","ps":"LONG","rp":"0.00000000","z":"0.10000000"}}"""

ACCOUNT_UPDATE = b"""{"e":"ACCOUNT_UPDATE","E":1676603102163,"T":1676603102163,
 "a":{"m":"ORDER","B":[{"a":"USDT","wb":"5277.59264687","cw":"5233.21709203","bc":"0"}],
      "P":[{"s":"LINK-USDT","pa":"108.84300000","ep":"7.25620000","up":"1.42220000",
            "mt":"isolated","iw":"23.19081642","ps":"SHORT"}]}}"""


def _data(raw: bytes, type_: type) -> object:
    env = wire.decode(raw, wire.Envelope)
    assert env.code == 0
    return wire.decode(env.data, type_)


def test_contracts_become_instruments_with_tick_step_and_minimums() -> None:
    rows = _data(CONTRACTS, list[wire.Contract])
    assert isinstance(rows, list)
    btc, trx = rows
    assert parse.instrument(btc) == Instrument(
        symbol="BTC-USDT",
        tick_size=Decimal("0.1"),
        step_size=Decimal("0.0001"),
        min_quantity=Decimal("0.0001"),
        min_notional=Decimal("2"),
    )
    assert str(parse.instrument(btc).step_size) == "0.0001"
    assert parse.instrument(trx).step_size == Decimal(1)
    assert parse.instrument(trx).tick_size == Decimal("0.00001")
    assert parse.tradable(btc)
    assert not parse.tradable(trx)


def test_rest_order_fixture_becomes_report_with_positive_cumulative_fee() -> None:
    data = _data(REST_ORDER, wire.OrderData)
    assert isinstance(data, wire.OrderData)
    report = parse.order_report(data.order)
    assert report.venue_order_id == "1770683446830788608"
    assert report.client_order_id == "b39b0316-1f99-4099-8f4b-bac0f46731f8"
    assert (report.side, report.order_type, report.status) == (
        OrderSide.SELL,
        OrderType.MARKET,
        OrderStatus.FILLED,
    )
    assert report.quantity == Decimal("0.1")
    assert report.cum_qty == Decimal("0.1")
    assert report.avg_price == Decimal("83.71")
    assert report.fees == Decimal("0.004186")
    assert report.limit_price is None
    assert report.reduce_only
    assert report.ts == 1710998806000


def test_place_echo_keeps_the_19_digit_id_exact() -> None:
    data = _data(PLACED, wire.PlacedOrderData)
    assert isinstance(data, wire.PlacedOrderData)
    assert data.order.order_id == 1751667285204103168
    assert data.order.order_id > 2**53


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("NEW", OrderStatus.WORKING),
        ("PENDING", OrderStatus.WORKING),
        ("PARTIALLY_FILLED", OrderStatus.WORKING),
        ("FILLED", OrderStatus.FILLED),
        ("CANCELED", OrderStatus.CANCELED),
        ("CANCELLED", OrderStatus.CANCELED),
        ("EXPIRED", OrderStatus.EXPIRED),
        ("FAILED", OrderStatus.REJECTED),
    ],
)
def test_both_cancel_spellings_and_pending_map_onto_kernel_statuses(
    status: str, expected: OrderStatus
) -> None:
    assert parse.order_status(status) is expected


def test_unknown_status_is_an_error_not_a_guess() -> None:
    with pytest.raises(wire.WireError, match="BOGUS"):
        parse.order_status("BOGUS")


def test_positions_fixture_and_flat_rows() -> None:
    rows = _data(POSITIONS, list[wire.Position])
    assert isinstance(rows, list)
    assert parse.position(rows[0]) == PositionReport(
        asset="LTC-USDT", side=Side.LONG, quantity=Decimal("0.1"), entry_price=Decimal("95.61")
    )
    flat = wire.Position(symbol="BTC-USDT", position_side="LONG", position_amt=wire.Num("0"))
    assert parse.position(flat) is None
    one_way_short = wire.Position(
        symbol="BTC-USDT",
        position_side="BOTH",
        position_amt=wire.Num("-0.5"),
        avg_price=wire.Num("1"),
    )
    report = parse.position(one_way_short)
    assert report is not None
    assert (report.side, report.quantity) == (Side.SHORT, Decimal("0.5"))


def test_balance_v3_picks_the_usdt_row_and_v2_reads_the_object() -> None:
    rows = _data(BALANCE_V3, list[wire.Balance])
    assert isinstance(rows, list)
    assert parse.balance_v3(rows) == BalanceReport(
        asset="USDT", wallet=Decimal("5277.59264687"), available=Decimal("5000.00000001")
    )
    v2 = _data(BALANCE_V2, wire.BalanceV2Data)
    assert isinstance(v2, wire.BalanceV2Data)
    assert parse.balance(v2.balance).wallet == Decimal("15.6128")
    with pytest.raises(wire.WireError, match="no BTC row"):
        parse.balance_v3(rows, "BTC")


def test_order_trade_update_full_fill_uses_l_and_L() -> None:
    ev = wire.decode(OTU_FULL, wire.OrderTradeUpdate)
    assert wire.decode(OTU_FULL, wire.StreamHead).e == "ORDER_TRADE_UPDATE"
    delta = parse.fill_delta(ev.order, Decimal(0), Decimal(0))
    assert delta == parse.FillDelta(
        qty=Decimal("0.1"), price=Decimal("64.36"), fee=Decimal("0.003218"), consistent=True
    )


def test_order_trade_update_without_l_falls_back_to_differencing_z() -> None:
    ev = wire.decode(OTU_CCXT, wire.OrderTradeUpdate)
    assert ev.order.order_id == 1711312357852147712
    assert ev.order.last_qty.absent
    delta = parse.fill_delta(ev.order, Decimal(0), Decimal(0))
    assert delta is not None
    assert (delta.qty, delta.price) == (Decimal("0.1"), Decimal("64.36"))


def test_l_disagreeing_with_z_trusts_z_and_prices_the_gap_from_the_average() -> None:
    # we applied 1 @ 10; a frame was lost; this one says l=1 @ 12 but z=3, ap=11
    u = wire.OrderUpdate(
        symbol="BTC-USDT",
        order_id=1,
        side="BUY",
        order_type="LIMIT",
        exec_type="TRADE",
        status="PARTIALLY_FILLED",
        cum_qty=wire.Num("3"),
        avg_price=wire.Num("11"),
        last_qty=wire.Num("1"),
        last_price=wire.Num("12"),
    )
    delta = parse.fill_delta(u, Decimal(1), Decimal(10))
    assert delta is not None
    assert (delta.qty, delta.price, delta.consistent) == (Decimal(2), Decimal("11.5"), False)
    # a duplicate (z not advancing) carries nothing
    assert parse.fill_delta(u, Decimal(3), Decimal(33)) is None


def test_account_update_positions_and_balance() -> None:
    ev = wire.decode(ACCOUNT_UPDATE, wire.AccountUpdate)
    assert ev.account.balances is not None
    assert parse.dec(ev.account.balances[0].wallet_balance, "wb") == Decimal("5277.59264687")
    report = parse.account_position(ev.account.positions[0])
    assert report == PositionReport(
        asset="LINK-USDT",
        side=Side.SHORT,
        quantity=Decimal("108.843"),
        entry_price=Decimal("7.2562"),
    )


def test_listen_key_payloads() -> None:
    assert wire.decode(
        b'{"listenKey":"a8ea75681542e66f1a50a1616dd06ed77dab61baa0c296bca03a9b13ee5f2dd7"}',
        wire.ListenKey,
    ).listen_key.startswith("a8ea")
    exp = wire.decode(
        b'{"e":"listenKeyExpired","E":1676964520421,"listenKey":"53c1067059c5401e216ec0562f4e9741f49c3f3f09c2ff7e76a32a9c"}',
        wire.ListenKeyExpired,
    )
    assert exp.listen_key.startswith("53c1")


def test_error_envelope_and_garbage() -> None:
    env = wire.decode(
        b'{"code":100001,"msg":"Signature verification failed due to signature mismatch","timestamp":1721803278709}',
        wire.Envelope,
    )
    assert env.code == 100001
    assert BingxError(env.code, env.msg).error_class is ErrorClass.FATAL
    with pytest.raises(wire.WireError):
        wire.decode(b"<html>502</html>", wire.Envelope)
    with pytest.raises(wire.WireError):
        parse.dec("NaN", "price")


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (101204, ErrorClass.REJECT),
        (101290, ErrorClass.REJECT),
        (101400, ErrorClass.AMBIGUOUS),  # also "duplicate clientOrderID"
        (109400, ErrorClass.AMBIGUOUS),  # also "timestamp skewed"
        (80012, ErrorClass.AMBIGUOUS),  # also "system busy"
        (80001, ErrorClass.AMBIGUOUS),  # also "network failed"
        (101481, ErrorClass.DUPLICATE),
        (80018, ErrorClass.ALREADY_FILLED),
        (109421, ErrorClass.ORDER_GONE),
        (80016, ErrorClass.ORDER_GONE),
        (100410, ErrorClass.RETRY_LATER),
        (100001, ErrorClass.FATAL),
        (100413, ErrorClass.FATAL),
        (100421, ErrorClass.TIMESTAMP),
        (101500, ErrorClass.UNAVAILABLE),
        (999999, ErrorClass.REJECT),
    ],
)
def test_error_codes_classify_per_protocol_section_6(code: int, cls: ErrorClass) -> None:
    assert classify(code) is cls


def _otu(
    x: str,
    status: str,
    z: str,
    last: str | None = None,
    price: str = "100",
    cid: str = "c-1",
    oid: int = 1900000000000000001,
    q: str = "3",
    ap: str = "100",
) -> wire.OrderTradeUpdate:
    return wire.OrderTradeUpdate(
        event_time=1,
        order=wire.OrderUpdate(
            symbol="BTC-USDT",
            order_id=oid,
            side="BUY",
            order_type="LIMIT",
            exec_type=x,
            status=status,
            cum_qty=wire.Num(z),
            client_order_id=cid,
            quantity=wire.Num(q),
            price=wire.Num(price),
            avg_price=wire.Num(ap),
            last_qty=wire.Num(last or ""),
            last_price=wire.Num(price if last else ""),
            commission=wire.Num("-0.01"),
        ),
    )


def test_tracker_partial_fills_duplicates_and_cancel() -> None:
    t = OrderTracker()
    t.begin_call("c-1", "BTC-USDT", Decimal(3))
    kinds = [e.kind for e in t.on_stream(_otu("NEW", "NEW", "0"))]
    assert kinds == [EventKind.ACK]
    f1 = t.on_stream(_otu("TRADE", "PARTIALLY_FILLED", "1", "1"))
    assert [(e.kind, e.last_qty, e.cum_qty) for e in f1] == [
        (EventKind.PARTIAL_FILL, Decimal(1), Decimal(1))
    ]
    assert f1[0].fee == Decimal("0.01")
    assert t.on_stream(_otu("TRADE", "PARTIALLY_FILLED", "1", "1")) == []  # duplicated frame
    end = t.on_stream(_otu("CANCELED", "CANCELED", "1"))
    assert [e.kind for e in end] == [EventKind.CANCEL_ACK]
    t.end_call("c-1")
    assert t.live() == []
    assert t.on_stream(_otu("CANCELED", "CANCELED", "1")) == []  # duplicate after the end


def test_tracker_fill_before_rest_ack_gives_ack_then_fill_and_no_late_ack() -> None:
    t = OrderTracker()
    t.begin_call("c-1", "BTC-USDT", Decimal(3))
    evs = t.on_stream(_otu("TRADE", "FILLED", "3", "3"))
    assert [e.kind for e in evs] == [EventKind.ACK, EventKind.FILL]
    placed = wire.PlacedOrder(symbol="BTC-USDT", order_id=1900000000000000001)
    assert t.on_placed("c-1", placed, 5) == []
    t.end_call("c-1")
    assert t.live() == []


def test_tracker_gap_filled_from_rest_report_after_lost_frames() -> None:
    t = OrderTracker()
    t.begin_call("c-1", "BTC-USDT", Decimal(3))
    t.end_call("c-1")
    t.on_stream(_otu("TRADE", "PARTIALLY_FILLED", "1", "1", price="100"))
    rest = wire.RestOrder(
        symbol="BTC-USDT",
        order_id=1900000000000000001,
        side="BUY",
        type="LIMIT",
        status="CANCELLED",
        orig_qty="3",
        price="100",
        executed_qty="2.5",
        avg_price="101",
        commission="-0.05",
        client_order_id="C-1",
        update_time=9,
    )
    evs = t.on_rest(rest)
    assert [(e.kind, e.last_qty, e.cum_qty) for e in evs] == [
        (EventKind.PARTIAL_FILL, Decimal("1.4"), Decimal("2.4")),
        (EventKind.PARTIAL_FILL, Decimal("0.1"), Decimal("2.5")),
        (EventKind.CANCEL_ACK, None, Decimal("2.5")),
    ]
    # 1 @ 100 + 1.5 @ p = 2.5 @ 101: p = 101.666... repeats, so the 1.5 are two fills with
    # finite prices worth 152.5 exactly (dita.kernel.money.recovered_fills)
    assert evs[0].last_price == Decimal("101.666666666666666666")
    assert evs[1].last_price == Decimal("101.666666666666666676")
    assert sum(e.last_qty * e.last_price for e in evs[:2]) == Decimal("152.5")  # type: ignore[operator]
    assert (evs[0].fee, evs[1].fee) == (Decimal("0.04"), Decimal(0))
    assert t.live() == []


def test_tracker_event_ids_are_stable_per_fact() -> None:
    a, b = OrderTracker(), OrderTracker()
    for t in (a, b):
        t.begin_call("c-1", "BTC-USDT", Decimal(3))
    ea = a.on_stream(_otu("TRADE", "PARTIALLY_FILLED", "1", "1"))
    eb = b.on_stream(_otu("TRADE", "PARTIALLY_FILLED", "1", "1"))
    assert [e.event_id for e in ea] == [e.event_id for e in eb]
    assert len({e.event_id for e in ea}) == len(ea)


FUNDING_UPDATE = b"""{"e":"ACCOUNT_UPDATE","E":1676603102999,"T":1676603102999,
 "a":{"m":"FUNDING_FEE","B":[{"a":"USDT","wb":"5277.1","cw":"5277.1","bc":"-0.4926"}],
      "P":[{"s":"BTC-USDT","pa":"0.1","ep":"60000","up":"0","mt":"isolated","iw":"600","ps":"LONG"}]}}"""


def test_funding_fee_account_update_becomes_a_funding_event() -> None:
    ev = wire.decode(FUNDING_UPDATE, wire.AccountUpdate)
    (funding,) = parse.funding_events(ev)
    assert (funding.kind, funding.asset, funding.amount, funding.ts) == (
        EventKind.FUNDING,
        "BTC-USDT",
        Decimal("-0.4926"),
        1676603102999,
    )
    assert parse.funding_events(wire.decode(ACCOUNT_UPDATE, wire.AccountUpdate)) == []


# JKorf-style open orders sample: resting status "PENDING", ids unquoted
OPEN_ORDERS = b"""{"code":0,"msg":"","data":{"orders":[{"symbol":"BTC-USDT","orderId":1736012449498123456,
 "side":"BUY","positionSide":"LONG","type":"LIMIT","origQty":"0.0010","price":"40000.0","executedQty":"0.0000",
 "avgPrice":"0.0","cumQuote":"0","stopPrice":"","profit":"0.0000","commission":"0.000000","status":"PENDING",
 "time":1702256000000,"updateTime":1702256000000,"clientOrderId":"","leverage":"5X","workingType":"MARK_PRICE",
 "onlyOnePosition":false,"reduceOnly":false,"postOnly":false,"stopGuaranteed":"false","triggerOrderId":0}]}}"""

# DOC23 cancel answer: full order object, status CANCELLED
CANCELLED = b"""{"code":0,"msg":"","data":{"order":{"symbol":"LINK-USDT","orderId":1597783850786750464,"side":"BUY",
 "positionSide":"LONG","type":"TRIGGER_MARKET","origQty":"5.0","price":"5.0000","executedQty":"0.0",
 "avgPrice":"0.0000","cumQuote":"0","stopPrice":"5.0000","profit":"","commission":"","status":"CANCELLED",
 "time":1669776330000,"updateTime":1669776330000}}}"""


def test_open_orders_with_pending_status_and_no_client_id() -> None:
    data = _data(OPEN_ORDERS, wire.OrdersData)
    assert isinstance(data, wire.OrdersData) and data.orders is not None
    report = parse.order_report(data.orders[0])
    assert (report.status, report.cum_qty, report.avg_price) == (
        OrderStatus.WORKING,
        Decimal(0),
        None,
    )
    assert report.limit_price == Decimal("40000.0")
    assert report.client_order_id == ""
    assert not report.reduce_only  # BUY+LONG opens


def test_cancel_answer_with_empty_fee_fields_and_a_type_dita_does_not_trade() -> None:
    data = _data(CANCELLED, wire.OrderData)
    assert isinstance(data, wire.OrderData)
    assert parse.order_status(data.order.status) is OrderStatus.CANCELED
    assert parse.dec_or(data.order.commission, Decimal(0), "commission") == 0
    with pytest.raises(wire.WireError, match="TRIGGER_MARKET"):
        parse.order_report(data.order)


def test_small_answers_leverage_server_time_and_unknown_stream_events() -> None:
    lev = _data(b'{"code":0,"msg":"","data":{"leverage":6,"symbol":"BTC-USDT"}}', wire.LeverageData)
    assert lev == wire.LeverageData(6, "BTC-USDT")
    t = _data(b'{"code":0,"msg":"","data":{"serverTime":1675319535362}}', wire.ServerTime)
    assert isinstance(t, wire.ServerTime) and t.server_time == 1675319535362
    snap = b'{"e":"SNAPSHOT","E":1700000000000,"ac":{"s":"MTL-USDT","l":1,"S":1,"mt":"isolated"}}'
    assert wire.decode(snap, wire.StreamHead).e == "SNAPSHOT"
    err = wire.decode(b'{"code":100400,"msg":"","timestamp":1700000000000}', wire.StreamHead)
    assert (err.e, err.code) == ("", 100400)


def test_tracker_keeps_following_an_unseen_order_while_its_submit_runs() -> None:
    t = OrderTracker()
    t.begin_call("c-1", "BTC-USDT", Decimal(3))
    t.forget_unseen("c-1", only_if_idle=True)  # a query found nothing yet
    assert [e.kind for e in t.on_stream(_otu("NEW", "NEW", "0"))] == [EventKind.ACK]
    t.end_call("c-1")
    t.begin_call("c-2", "BTC-USDT", Decimal(3))
    t.forget_unseen("c-2")  # NotSent: it never reached the venue
    t.end_call("c-2")
    assert [lo.client_order_id for lo in t.live()] == ["c-1"]
