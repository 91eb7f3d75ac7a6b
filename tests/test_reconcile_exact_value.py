"""Fills recovered by reconciliation are worth exactly what the venue's fills are worth.

Seen in crash torture (seeds 13 and 14, transient faults): the stream lost a fill
frame, reconciliation made the missing fill up from the venue's average price, which
the emulator (like any venue) sends as a rounded quotient (28 digits), and rounded the
made-up price to the 18 decimals the kernel takes: capital ended 1e-21 off the venue's
wallet. The value of the missing fills is the venue's cumulative quote (``cumQuote``)
minus what the kernel has, and the missing quantity is split into at most two fills
with finite prices whose values add up to it exactly.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

from hypothesis import given, settings
from hypothesis import strategies as st

from dita.kernel import EventKind, Kernel, Order, OrderStatus
from dita.kernel.money import money, recovered_fills
from dita.reconcile import reconcile_order
from dita.venues.base import OrderReport
from dita.venues.bingx.parse import exact_cum_quote
from tests.kernel.helpers import D, ack, enter, fill, make_kernel, order_of


def _venue(fills: list[tuple[Decimal, Decimal]]) -> tuple[Decimal, Decimal, Decimal]:
    """(cum qty, exact cum quote, the average a venue sends: 28 significant digits)."""
    with money():
        cum = sum((q for q, _ in fills), Decimal(0))
        quote = sum((q * p for q, p in fills), Decimal(0))
    with localcontext() as c:
        c.prec = 28
        return cum, quote, quote / cum


def _report(o: Order, fills: list[tuple[Decimal, Decimal]], status: OrderStatus) -> OrderReport:
    cum, quote, avg = _venue(fills)
    return OrderReport(
        o.client_order_id, o.venue_order_id, o.asset, o.side, o.order_type, o.quantity, o.limit_price,
        o.reduce_only, status, cum, avg, D("0.5"), 9_000,
        cum_quote=exact_cum_quote(cum, avg, quote),
    )  # fmt: skip


def _kernel_with(size: str, seen: list[tuple[Decimal, Decimal]]) -> tuple[Kernel, Order]:
    k = make_kernel(capital="1000000")
    e = order_of(k.process_intent(enter(size=D(size))))
    assert k.on_venue_event(ack(e)).accepted
    cum = Decimal(0)
    for q, p in seen:
        cum += q
        assert k.on_venue_event(fill(e, str(q), str(p), str(cum), fee="0.1")).accepted
    o = k.order(e.client_order_id)
    assert o is not None
    return k, o


def test_a_fill_recovered_from_a_rounded_average_is_worth_exactly_what_the_venue_filled() -> None:
    venue_fills = [
        (D("0.003"), D("60000.1")),
        (D("0.001"), D("60050.3")),
        (D("0.002"), D("60010.8")),
    ]
    k, o = _kernel_with("0.01", venue_fills[:1])  # the frames of the last two were lost
    rep = _report(o, venue_fills, OrderStatus.WORKING)
    with money():  # the venue's average is a rounded quotient, its cumQuote exact
        assert rep.avg_price is not None and rep.avg_price * rep.cum_qty != rep.cum_quote
    v = reconcile_order(o, rep, ts=9_000)
    for ev in v.events:
        assert ev.last_price is None or -ev.last_price.as_tuple().exponent <= 18  # type: ignore[operator]
        assert k.on_venue_event(ev).accepted, ev
    after = k.order(o.client_order_id)
    assert after is not None
    assert after.filled_qty == D("0.006")
    assert after.filled_cost == rep.cum_quote == D("360.0722")  # exactly, not within 1e-21
    assert after.fees == D("0.5")


def test_an_ended_order_s_late_fills_are_worth_exactly_what_the_venue_filled() -> None:
    # the order was cancelled after fills the kernel never saw (fee audit path)
    venue_fills = [(D("0.001"), D("59999.9")), (D("0.002"), D("60000")), (D("0.004"), D("60003.3"))]
    k, o = _kernel_with("0.01", venue_fills[:1])
    rep = _report(o, venue_fills, OrderStatus.CANCELED)
    events = reconcile_order(o, rep, ts=9_000).events
    assert [e.kind for e in events][-1] is EventKind.CANCEL_ACK
    for ev in events:
        assert k.on_venue_event(ev).accepted, ev
    after = k.order(o.client_order_id)
    assert after is not None and after.status is OrderStatus.CANCELED
    assert after.filled_qty == D("0.007") and after.filled_cost == rep.cum_quote


def test_cum_quote_is_taken_only_when_it_agrees_with_the_average() -> None:
    # BingX's own example (PROTOCOL.md §3.11): cumQuote "8" for 0.1 at 83.71 is rounded
    assert exact_cum_quote(D("0.1"), D("83.71"), D("8")) is None
    assert exact_cum_quote(D("0.1"), D("83.71"), D("8.371")) == D("8.371")
    cum, quote, avg = _venue([(D("0.003"), D("60000.1")), (D("0.004"), D("60050.3"))])
    assert exact_cum_quote(cum, avg, quote) == quote
    assert exact_cum_quote(cum, avg, quote + D("0.001")) is None
    assert exact_cum_quote(D(0), D(0), D(0)) is None


_qty = st.integers(1, 5000).map(lambda n: Decimal(n).scaleb(-4))
_px = st.integers(500_000, 700_000).map(lambda n: Decimal(n).scaleb(-1))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_qty, _px), min_size=1, max_size=6), st.data())
def test_recovered_fills_add_up_to_the_venue_s_value_exactly(
    venue_fills: list[tuple[Decimal, Decimal]], data: st.DataObject
) -> None:
    seen = data.draw(st.integers(0, len(venue_fills) - 1))
    cum, quote, _ = _venue(venue_fills)
    with money():
        have_qty = sum((q for q, _ in venue_fills[:seen]), Decimal(0))
        have_cost = sum((q * p for q, p in venue_fills[:seen]), Decimal(0))
        fills = recovered_fills(quote - have_cost, cum - have_qty)
        assert 1 <= len(fills) <= 2
        assert sum((q for q, _ in fills), Decimal(0)) == cum - have_qty
        assert sum((q * p for q, p in fills), Decimal(0)) == quote - have_cost
    for q, p in fills:
        assert q > 0 and p > 0
        assert -p.as_tuple().exponent <= 18  # type: ignore[operator]
        lo, hi = min(p for _, p in venue_fills[seen:]), max(p for _, p in venue_fills[seen:])
        assert lo - 1 <= p <= hi + 1  # a price the venue's own fills bracket
