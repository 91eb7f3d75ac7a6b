"""STOP_MARKET and TAKE_PROFIT_MARKET orders on the sim: triggers, fills, the one-bar rule."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dita.kernel.model import EventKind, OrderStatus, OrderType
from dita.venues.sim import FixedBps, OrderRequest
from dita.venues.sim.exchange import BothTriggered, RejectCode, reject_code
from tests.venues.sim.helpers import BUY, SELL, SYM, D, bar, kinds, make, market

STOP, TP = OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET


def protective(
    cid: str, otype: OrderType, side: object, qty: str, stop: str, *, close: bool = False
) -> OrderRequest:
    return OrderRequest(
        cid,
        SYM,
        side,  # type: ignore[arg-type]
        otype,
        D(qty),
        None,
        reduce_only=not close,
        stop_price=D(stop),
        close_position=close,
    )


def long_of(qty: str = "1", **config: object):  # type: ignore[no-untyped-def]
    """An exchange holding a long of ``qty`` bought at 100 (bar 0 sets the price, bar 1 fills)."""
    sim = make(**config)
    sim.on_bar(bar(0, "100", "100", "100", "100"))
    sim.submit(market("entry", BUY, qty), bar(0, "100", "100", "100", "100").close_ts)
    sim.on_bar(bar(1, "100", "100", "100", "100"))
    assert sim.position_qty(SYM) == D(qty)
    return sim


def test_a_stop_rests_until_the_low_reaches_it_then_fills_at_its_trigger() -> None:
    sim = long_of()
    ts = bar(1, *"1111").close_ts
    assert kinds(sim.submit(protective("sl", STOP, SELL, "1", "95"), ts)) == [("sl", EventKind.ACK)]
    assert kinds(sim.on_bar(bar(2, "100", "101", "96", "99"))) == []
    events = sim.on_bar(bar(3, "99", "99", "94", "95"))
    assert kinds(events) == [("sl", EventKind.FILL)]
    assert events[0].last_price == D(95) and events[0].reason == "taker"
    assert sim.position_qty(SYM) == 0
    report = sim.order("sl")
    assert report is not None and report.stop_price == D(95) and report.order_type is STOP


def test_a_gap_through_the_stop_fills_at_the_open() -> None:
    sim = long_of()
    sim.submit(protective("sl", STOP, SELL, "1", "95"), bar(1, *"1111").close_ts)
    events = sim.on_bar(bar(2, "90", "92", "88", "91"))
    assert [e.last_price for e in events if e.kind is EventKind.FILL] == [D(90)]


def test_a_triggered_stop_moves_by_the_slippage_model_against_the_taker() -> None:
    sim = long_of(slippage=FixedBps(D(10)))  # 10 bps: 95 x 0.999 = 94.905, floored to 94.9
    sim.submit(protective("sl", STOP, SELL, "1", "95"), bar(1, *"1111").close_ts)
    events = sim.on_bar(bar(2, "100", "100", "94", "95"))
    assert [e.last_price for e in events if e.kind is EventKind.FILL] == [D("94.9")]


def test_a_take_profit_triggers_on_the_high() -> None:
    sim = long_of()
    sim.submit(protective("tp", TP, SELL, "1", "110"), bar(1, *"1111").close_ts)
    sim.on_bar(bar(2, "100", "109.9", "99", "105"))
    assert sim.position_qty(SYM) == 1
    events = sim.on_bar(bar(3, "105", "111", "104", "110"))
    assert [(e.kind, e.last_price) for e in events] == [(EventKind.FILL, D(110))]


def test_short_side_stop_and_take_profit_trigger_the_other_way() -> None:
    sim = make()
    sim.on_bar(bar(0, "100", "100", "100", "100"))
    sim.submit(market("entry", SELL, "2"), bar(0, *"1111").close_ts)
    sim.on_bar(bar(1, "100", "100", "100", "100"))
    sim.submit(protective("sl", STOP, BUY, "1", "105"), bar(1, *"1111").close_ts)
    sim.submit(protective("tp", TP, BUY, "1", "95"), bar(1, *"1111").close_ts)
    events = sim.on_bar(bar(2, "100", "106", "99", "104"))
    assert [(e.client_order_id, e.kind) for e in events if e.kind is EventKind.FILL] == [
        ("sl", EventKind.FILL)
    ]
    events = sim.on_bar(bar(3, "104", "104", "94", "95"))
    assert [(e.client_order_id, e.last_price) for e in events if e.kind is EventKind.FILL] == [
        ("tp", D(95))
    ]
    assert sim.position_qty(SYM) == 0


@pytest.mark.parametrize(
    ("rule", "fills", "expires", "price"),
    [
        (BothTriggered.STOPS_FIRST, "sl", "tp", D(95)),
        (BothTriggered.TAKE_PROFITS_FIRST, "tp", "sl", D(110)),
    ],
)
def test_a_bar_that_crosses_both_resolves_by_the_configured_rule(
    rule: BothTriggered, fills: str, expires: str, price: Decimal
) -> None:
    sim = long_of(both_triggered=rule)
    sim.submit(protective("tp", TP, SELL, "1", "110"), bar(1, *"1111").close_ts)  # first in time
    sim.submit(protective("sl", STOP, SELL, "1", "95"), bar(1, *"1111").close_ts)
    events = [
        e for e in sim.on_bar(bar(2, "100", "112", "90", "100")) if e.kind is not EventKind.ACK
    ]
    assert kinds(events) == [(fills, EventKind.FILL), (expires, EventKind.EXPIRED)]
    assert events[0].last_price == price
    assert sim.position_qty(SYM) == 0


def test_the_default_rule_is_pessimistic_also_against_a_resting_limit_take_profit() -> None:
    sim = long_of()
    sim.submit(
        OrderRequest("lim", SYM, SELL, OrderType.LIMIT, D(1), D(110), reduce_only=True),
        bar(1, *"1111").close_ts,
    )
    sim.submit(protective("sl", STOP, SELL, "1", "95"), bar(1, *"1111").close_ts)
    events = [
        e for e in sim.on_bar(bar(2, "100", "112", "90", "100")) if e.kind is not EventKind.ACK
    ]
    assert kinds(events) == [("sl", EventKind.FILL), ("lim", EventKind.EXPIRED)]


def test_close_position_takes_whatever_the_position_is_when_it_triggers() -> None:
    sim = long_of("2")
    sim.submit(protective("sl", STOP, SELL, "0", "95", close=True), bar(1, *"1111").close_ts)
    sim.submit(market("half", SELL, "0.5", reduce_only=True), bar(1, *"1111").close_ts)
    sim.on_bar(bar(2, "100", "100", "99", "100"))
    assert sim.position_qty(SYM) == D("1.5")
    events = sim.on_bar(bar(3, "100", "100", "90", "91"))
    assert [(e.kind, e.last_qty, e.cum_qty) for e in events] == [
        (EventKind.FILL, D("1.5"), D("1.5"))
    ]
    report = sim.order("sl")
    assert report is not None and report.status is OrderStatus.FILLED and report.reduce_only


def test_a_trade_print_triggers_too() -> None:
    from dita.marketdata.model import Trade

    sim = long_of()
    ts = bar(1, *"1111").close_ts
    sim.submit(protective("sl", STOP, SELL, "1", "95"), ts)
    events = sim.on_trade(Trade(SYM, ts + 10, D("94.5"), D(1), SELL))
    assert [(e.kind, e.last_price) for e in events if e.kind is not EventKind.ACK] == [
        (EventKind.FILL, D("94.5"))
    ]


@pytest.mark.parametrize(
    ("req", "code"),
    [
        (protective("x", STOP, SELL, "1", "100.05"), RejectCode.INVALID_TRIGGER),  # off the tick
        (protective("x", STOP, SELL, "1", "100"), RejectCode.INVALID_TRIGGER),  # reached already
        (protective("x", TP, SELL, "1", "99"), RejectCode.INVALID_TRIGGER),  # reached already
        (protective("x", STOP, BUY, "1", "105"), RejectCode.REDUCE_ONLY),  # would increase
        (protective("x", STOP, SELL, "1.5", "95"), RejectCode.REDUCE_ONLY),  # above the position
        (protective("x", STOP, SELL, "1", "95", close=True).__class__(
            "x", SYM, SELL, STOP, D(1), None, stop_price=D(95), close_position=True
        ), RejectCode.INVALID_QUANTITY),  # close_position with a quantity
        (OrderRequest("x", SYM, SELL, STOP, D(1), None, reduce_only=False, stop_price=D(95)),
         RejectCode.REDUCE_ONLY),  # not reduce-only
        (OrderRequest("x", SYM, SELL, STOP, D(1), None, reduce_only=True), RejectCode.INVALID_TRIGGER),
        (OrderRequest("x", SYM, SELL, STOP, D(1), D(95), reduce_only=True, stop_price=D(95)),
         RejectCode.INVALID_PRICE),
    ],
)  # fmt: skip
def test_protective_orders_are_refused_with_their_own_reason(
    req: OrderRequest, code: RejectCode
) -> None:
    sim = long_of()
    events = sim.submit(req, bar(1, *"1111").close_ts)
    assert [e.kind for e in events] == [EventKind.REJECT]
    assert reject_code(events[0]) is code, events[0].reason


def test_pending_stops_may_not_add_up_to_more_than_the_position() -> None:
    sim = long_of()
    ts = bar(1, *"1111").close_ts
    assert [e.kind for e in sim.submit(protective("a", STOP, SELL, "0.6", "95"), ts)] == [
        EventKind.ACK
    ]
    second = sim.submit(protective("b", STOP, SELL, "0.6", "94"), ts)
    assert reject_code(second[0]) is RejectCode.REDUCE_ONLY
    # a take-profit is its own family: it may cover the position too
    assert [e.kind for e in sim.submit(protective("c", TP, SELL, "1", "110"), ts)] == [
        EventKind.ACK
    ]
    assert {r.client_order_id for r in sim.open_orders()} == {"a", "c"}


def test_a_cancelled_stop_never_triggers() -> None:
    sim = long_of()
    ts = bar(1, *"1111").close_ts
    sim.submit(protective("sl", STOP, SELL, "1", "95"), ts)
    assert kinds(sim.cancel("sl", ts + 1)) == [("sl", EventKind.CANCEL_ACK)]
    assert kinds(sim.on_bar(bar(2, "100", "100", "80", "85"))) == []
    assert sim.position_qty(SYM) == 1


@settings(max_examples=150, deadline=None)
@given(
    stop=st.integers(900, 999),
    target=st.integers(1001, 1100),
    path=st.lists(
        st.tuples(st.integers(-40, 40), st.integers(0, 60), st.integers(0, 60)),
        min_size=1,
        max_size=12,
    ),
    rule=st.sampled_from(list(BothTriggered)),
)
def test_a_guarded_long_is_closed_once_at_a_price_the_rule_allows(
    stop: int, target: int, path: list[tuple[int, int, int]], rule: BothTriggered
) -> None:
    """Whatever bars come, at most one of a stop/take-profit pair fills, the position is
    never reduced below zero, and the fill is at its trigger or a worse open."""
    sim = long_of(both_triggered=rule)
    ts = bar(1, *"1111").close_ts
    tick = D("0.1")
    sl, tp = D(stop) * tick, D(target) * tick
    sim.submit(protective("sl", STOP, SELL, "1", str(sl)), ts)
    sim.submit(protective("tp", TP, SELL, "1", str(tp)), ts)
    price = D(100)
    fills = []
    for i, (move, up, down) in enumerate(path, start=2):
        o = max(price + move * tick, D(1))
        h, lo = o + up * tick, max(o - down * tick, tick)
        c = (h + lo) / 2
        c = c.quantize(tick)
        b = bar(i, str(o), str(h), str(lo), str(c))
        now = [e for e in sim.on_bar(b) if e.kind is EventKind.FILL]
        both = lo <= sl and h >= tp and sl < o < tp
        if both and now and not fills:
            want = "sl" if rule is BothTriggered.STOPS_FIRST else "tp"
            assert now[0].client_order_id == want
        fills += now
        price = c
        assert sim.position_qty(SYM) >= 0
    assert len(fills) <= 1
    for f in fills:
        assert f.last_qty == 1
        if f.client_order_id == "sl":
            assert f.last_price is not None and f.last_price <= sl
        else:
            assert f.last_price is not None and f.last_price >= tp
    assert sim.position_qty(SYM) == (0 if fills else 1)
