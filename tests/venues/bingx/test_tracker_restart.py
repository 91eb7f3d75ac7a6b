"""The tracker after an engine restart: orders placed by the previous process."""

from __future__ import annotations

from decimal import Decimal

from dita.kernel import EventKind
from dita.venues.bingx.tracker import OrderTracker
from tests.venues.bingx.test_bingx_parse import _otu


def test_first_frame_of_an_order_placed_before_a_restart_reports_the_venue_cum() -> None:
    """Fill 1 happened while the engine was dead (reconciliation applied it from REST);
    the first frame the new process hears is fill 2 (z=2, l=1). Its event must say
    cum 2, last 1, with its own fee, so the kernel applies it as news; and fill 3
    then advances by 1 with its own fee (a cum of 1 here lost fill 2 and its fee)."""
    t = OrderTracker()  # a fresh process: it never followed c-1
    (ack, f2) = t.on_stream(_otu("TRADE", "PARTIALLY_FILLED", "2", "1"))
    assert ack.kind is EventKind.ACK
    assert (f2.kind, f2.last_qty, f2.cum_qty, f2.fee) == (
        EventKind.PARTIAL_FILL, Decimal(1), Decimal(2), Decimal("0.01"),
    )  # fmt: skip
    (f3,) = t.on_stream(_otu("TRADE", "FILLED", "3", "1"))
    assert (f3.kind, f3.last_qty, f3.cum_qty, f3.fee) == (
        EventKind.FILL, Decimal(1), Decimal(3), Decimal("0.01"),
    )  # fmt: skip


def test_an_order_followed_from_its_submit_still_reports_a_lost_frame_as_the_gap() -> None:
    t = OrderTracker()
    t.begin_call("c-1", "BTC-USDT", Decimal(3))  # followed from 0: z - 0 is news
    (_, f) = t.on_stream(_otu("TRADE", "PARTIALLY_FILLED", "2", "1"))
    assert (f.last_qty, f.cum_qty) == (Decimal(2), Decimal(2))
