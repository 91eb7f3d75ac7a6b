"""Fills the BingX adapter recovers from cumulative numbers (a lost stream frame) are worth
exactly what the venue filled, with prices the kernel takes.

Before: the gap's price was ``(ap * z - what we have) / gap`` at Python's 28 digits, a
price like 60023.96666666666666666666667 that the kernel refuses (more than 18
decimals); the fill then reached the kernel only through reconciliation, and there
as a rounded average. Now the value of the gap is the venue's cumulative quote (``Z``
on the stream, ``cumQuote`` in REST) minus what we have, split into at most two fills
with finite prices (``dita.kernel.money.recovered_fills``).
"""

from __future__ import annotations

from decimal import Decimal, localcontext

from dita.kernel import EventKind, Kernel, VenueEvent
from dita.kernel.money import money
from dita.venues.bingx import wire
from dita.venues.bingx.tracker import OrderTracker
from tests.kernel.helpers import D, ack, enter, make_kernel, order_of

FILLS = [(D("0.003"), D("60000.1")), (D("0.001"), D("60050.3")), (D("0.002"), D("60010.8"))]
VALUE = D("360.0722")  # 0.003 x 60000.1 + 0.001 x 60050.3 + 0.002 x 60010.8


def _ap(value: Decimal, cum: Decimal) -> str:
    with localcontext() as c:  # a venue's average: a rounded quotient
        c.prec = 28
        return str(value / cum)


def _frame(
    cid: str, x: str, status: str, z: str, last: str, last_price: str, ap: str, quote: str
) -> wire.OrderTradeUpdate:
    return wire.OrderTradeUpdate(
        event_time=1,
        order=wire.OrderUpdate(
            symbol="BTC-USDT", order_id=7, side="BUY", order_type="LIMIT", exec_type=x,
            status=status, cum_qty=wire.Num(z), client_order_id=cid, quantity=wire.Num("0.01"),
            price=wire.Num("60100"), avg_price=wire.Num(ap), last_qty=wire.Num(last),
            last_price=wire.Num(last_price), commission=wire.Num("-0.01"), cum_quote=wire.Num(quote),
        ),
    )  # fmt: skip


def _setup() -> tuple[Kernel, str, OrderTracker]:
    k = make_kernel(capital="1000000")
    e = order_of(k.process_intent(enter(size=D("0.01"))))
    assert k.on_venue_event(ack(e, "7")).accepted
    t = OrderTracker()
    t.begin_call(e.client_order_id, "BTC-USDT", D("0.01"))
    cid = e.client_order_id
    (_, f1) = t.on_stream(
        _frame(cid, "TRADE", "PARTIALLY_FILLED", "0.003", "0.003", "60000.1", "60000.1", "180.0003")
    )
    assert k.on_venue_event(f1).accepted
    return k, cid, t


def _apply(k: Kernel, events: list[VenueEvent]) -> None:
    for ev in events:
        if ev.kind is EventKind.ACK:
            continue
        if ev.kind in (EventKind.FILL, EventKind.PARTIAL_FILL):
            assert ev.last_price is not None
            assert -ev.last_price.as_tuple().exponent <= 18  # type: ignore[operator]
        out = k.on_venue_event(ev)
        assert out.accepted, (ev, out.diagnostics)


def test_a_lost_stream_frame_becomes_fills_worth_the_venue_s_value_exactly() -> None:
    k, cid, t = _setup()
    # the frame of fill 2 was lost; fill 3 says l=0.002 but z=0.006
    events = t.on_stream(
        _frame(cid, "TRADE", "PARTIALLY_FILLED", "0.006", "0.002", "60010.8",
               _ap(VALUE, D("0.006")), str(VALUE))
    )  # fmt: skip
    _apply(k, events)
    o = k.order(cid)
    assert o is not None and o.filled_qty == D("0.006")
    assert o.filled_cost == VALUE


def test_a_rest_answer_showing_lost_fills_is_worth_the_venue_s_value_exactly() -> None:
    k, cid, t = _setup()
    rest = wire.RestOrder(
        symbol="BTC-USDT", order_id=7, side="BUY", type="LIMIT", status="PARTIALLY_FILLED",
        orig_qty=wire.Num("0.01"), price=wire.Num("60100"), executed_qty=wire.Num("0.006"),
        avg_price=wire.Num(_ap(VALUE, D("0.006"))), cum_quote=wire.Num(str(VALUE)),
        commission=wire.Num("-0.03"), client_order_id=cid, update_time=5,
    )  # fmt: skip
    _apply(k, t.on_rest(rest))
    o = k.order(cid)
    assert o is not None and o.filled_qty == D("0.006") and o.filled_cost == VALUE
    assert o.fees == D("0.03")


def test_a_cancel_frame_showing_lost_fills_is_worth_the_venue_s_value_exactly() -> None:
    k, cid, t = _setup()
    events = t.on_stream(
        _frame(cid, "CANCELED", "CANCELED", "0.006", "0", "0", _ap(VALUE, D("0.006")), str(VALUE))
    )
    _apply(k, events)
    o = k.order(cid)
    assert o is not None and not o.status.is_live
    assert o.filled_qty == D("0.006") and o.filled_cost == VALUE


def test_without_a_cumulative_quote_the_gap_still_gets_prices_the_kernel_takes() -> None:
    # Z absent (or rounded like BingX's "8" for 8.371): the average is all there is;
    # z x ap has more digits than 18-decimal prices can carry, so the gap is one fill
    # at its price rounded to 18 decimals (exact_fills' documented last resort), and
    # the kernel takes it
    k, cid, t = _setup()
    events = t.on_stream(
        _frame(cid, "TRADE", "PARTIALLY_FILLED", "0.006", "0.002", "60010.8",
               _ap(VALUE, D("0.006")), "360")
    )  # fmt: skip
    _apply(k, events)
    o = k.order(cid)
    assert o is not None and o.filled_qty == D("0.006")
    with money():
        gap_value = D(_ap(VALUE, D("0.006"))) * D("0.006") - D("180.0003")
    assert len([e for e in events if e.kind is EventKind.PARTIAL_FILL]) == 1
    assert abs(o.filled_cost - D("180.0003") - gap_value) <= D("0.003") * D("1e-18") / 2
