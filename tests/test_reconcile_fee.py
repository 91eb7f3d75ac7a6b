"""Reconciliation verdict for a fee the kernel missed: same fills, other cumulative fees."""

from __future__ import annotations

from dita.kernel import EventKind, OrderStatus
from dita.reconcile import Action, reconcile_order
from tests.kernel.helpers import D, ack, enter, fill, make_kernel, order_of
from tests.test_reconcile import VID, live, report


def test_same_fills_other_fees_is_one_fee_event_for_the_difference() -> None:
    k = make_kernel()
    e = order_of(k.process_intent(enter(size=D("1"))))
    k.on_venue_event(ack(e, VID))
    k.on_venue_event(fill(e, "0.3", "50000", "0.3", fee="1"))
    rep = report(live(k), OrderStatus.WORKING, cum="0.3", avg="50000", fees="1.25")
    v = reconcile_order(live(k), rep, ts=5)
    assert v.action is Action.EVENTS
    (ev,) = v.events
    assert (ev.kind, ev.fee, ev.event_id) == (
        EventKind.FEE, D("0.25"), f"rc:{e.client_order_id}:FEE:1.25",
    )  # fmt: skip
    capital = k.account.capital
    assert k.on_venue_event(ev).accepted
    assert k.account.capital == capital - D("0.25")
    assert reconcile_order(live(k), rep, ts=6).action is Action.NONE  # settled: no news
    assert not k.on_venue_event(ev).accepted  # the same id twice changes nothing
