"""Each reconciliation verdict, and reconciliation run twice being a no-op."""

from __future__ import annotations

import json
from dataclasses import replace

from dita.kernel import EventKind, Kernel, Order, OrderStatus, Side, TradeStage
from dita.reconcile import Action, position_diffs, reconcile, reconcile_order
from dita.venues.base import OrderReport, PositionReport
from tests.kernel.helpers import D, ack, cancel, enter, fill, make_kernel, order_of

VID = "1735119588833849344"


def report(
    order: Order, status: OrderStatus, cum: str = "0", avg: str | None = None, fees: str = "0"
) -> OrderReport:
    return OrderReport(
        client_order_id=order.client_order_id,
        venue_order_id=VID,
        asset=order.asset,
        side=order.side,
        order_type=order.order_type,
        quantity=order.quantity,
        limit_price=order.limit_price,
        reduce_only=order.reduce_only,
        status=status,
        cum_qty=D(cum),
        avg_price=D(avg) if avg else None,
        fees=D(fees),
        ts=99,
    )


def live(k: Kernel) -> Order:
    (o,) = k.live_orders()
    return o


def apply_all(k: Kernel, verdict_events: list) -> list:  # type: ignore[type-arg]
    return [k.on_venue_event(e) for e in verdict_events]


def test_missed_fills_become_the_difference_not_the_cumulative_quantity() -> None:
    k = make_kernel()
    e = order_of(k.process_intent(enter(size=D("1"))))
    k.on_venue_event(ack(e, "1735119588833849344"))
    k.on_venue_event(fill(e, "0.3", "50000", "0.3", fee="1"))
    # the venue has filled 0.8 in all at an average of 49950, fees 2.5 in all
    rep = report(live(k), OrderStatus.WORKING, cum="0.8", avg="49950", fees="2.5")
    v = reconcile_order(live(k), rep, ts=5)
    assert v.action is Action.EVENTS
    (ev,) = v.events
    assert ev.kind is EventKind.PARTIAL_FILL
    assert ev.last_qty == D("0.5") and ev.cum_qty == D("0.8") and ev.fee == D("1.5")
    assert ev.last_price == (D("0.8") * D("49950") - D("0.3") * D("50000")) / D("0.5")
    out = k.on_venue_event(ev)
    assert out.accepted and k.slot(0).size == D("0.8")
    # the kernel's entry cost now equals what the venue says was paid
    assert k.slot(0).entry_price == D("49950")


def test_requested_and_never_received_is_resubmitted_with_the_same_id() -> None:
    k = make_kernel()
    e = order_of(k.process_intent(enter()))
    v = reconcile_order(live(k), None, ts=5)
    assert v.action is Action.RESUBMIT and v.order.client_order_id == e.client_order_id
    off = reconcile_order(live(k), None, ts=5, resubmit_unsent=False)
    assert off.action is Action.EVENTS and off.events[0].kind is EventKind.REJECT
    assert k.on_venue_event(off.events[0]).state is TradeStage.IDLE


def test_acked_unfilled_and_gone_is_a_reject() -> None:
    k = make_kernel()
    e = order_of(k.process_intent(enter()))
    k.on_venue_event(ack(e))
    v = reconcile_order(live(k), None, ts=5)
    assert v.action is Action.EVENTS and [x.kind for x in v.events] == [EventKind.REJECT]
    assert k.on_venue_event(v.events[0]).state is TradeStage.IDLE


def test_partly_filled_and_gone_is_cancelled_with_fills_kept() -> None:
    k = make_kernel()
    e = order_of(k.process_intent(enter(size=D("1"))))
    k.on_venue_event(fill(e, "0.4", "50000", "0.4"))
    v = reconcile_order(live(k), None, ts=5)
    assert [x.kind for x in v.events] == [EventKind.CANCEL_ACK]
    out = k.on_venue_event(v.events[0])
    assert out.state is TradeStage.POSITION_OPEN and k.slot(0).size == D("0.4")


def test_pending_cancel_and_gone_is_queried_again_never_guessed() -> None:
    k = make_kernel()
    e = order_of(k.process_intent(enter()))
    k.on_venue_event(ack(e))
    k.process_intent(cancel())
    v = reconcile_order(live(k), None, ts=5)
    assert v.action is Action.REQUERY and v.events == ()


def test_pending_cancel_still_live_at_the_venue_resends_the_cancel() -> None:
    k = make_kernel()
    e = order_of(k.process_intent(enter()))
    k.on_venue_event(ack(e, VID))
    k.process_intent(cancel())
    v = reconcile_order(live(k), report(live(k), OrderStatus.WORKING), ts=5)
    assert v.action is Action.RESEND_CANCEL


def test_terminal_venue_states_map_to_their_events() -> None:
    for status, kind in [
        (OrderStatus.CANCELED, EventKind.CANCEL_ACK),
        (OrderStatus.EXPIRED, EventKind.EXPIRED),
        (OrderStatus.REJECTED, EventKind.REJECT),
    ]:
        k = make_kernel()
        e = order_of(k.process_intent(enter()))
        k.on_venue_event(ack(e, VID))
        v = reconcile_order(live(k), report(live(k), status), ts=5)
        assert [x.kind for x in v.events] == [kind]
        assert k.on_venue_event(v.events[0]).state is TradeStage.IDLE


def test_unacked_order_live_at_the_venue_gets_its_ack() -> None:
    k = make_kernel()
    order_of(k.process_intent(enter()))
    v = reconcile_order(live(k), report(live(k), OrderStatus.WORKING), ts=5)
    assert [x.kind for x in v.events] == [EventKind.ACK]
    assert k.on_venue_event(v.events[0]).state is TradeStage.ENTRY_WORKING
    assert live(k).venue_order_id == "1735119588833849344"


def test_a_different_venue_order_id_is_a_conflict() -> None:
    k = make_kernel()
    e = order_of(k.process_intent(enter()))
    k.on_venue_event(ack(e, "42"))
    v = reconcile_order(live(k), report(live(k), OrderStatus.WORKING), ts=5)
    assert v.action is Action.CONFLICT and "differs" in v.note


def test_venue_below_the_journal_is_a_conflict() -> None:
    k = make_kernel()
    e = order_of(k.process_intent(enter(size=D("1"))))
    k.on_venue_event(fill(e, "0.4", "50000", "0.4"))
    v = reconcile_order(live(k), report(live(k), OrderStatus.WORKING, cum="0.1", avg="50000"), ts=5)
    assert v.action is Action.CONFLICT and "below" in v.note


def test_reconciling_twice_is_a_no_op_the_second_time() -> None:
    k = make_kernel(slots=3)
    a = order_of(k.process_intent(enter(0, trade="a", size=D("1"))))
    b = order_of(k.process_intent(enter(1, trade="b", size=D("1"))))
    k.on_venue_event(ack(b, VID))
    reports = {
        a.client_order_id: report(a, OrderStatus.FILLED, cum="1", avg="50000", fees="0.5"),
        b.client_order_id: report(b, OrderStatus.CANCELED, cum="0.2", avg="49990", fees="0.1"),
    }
    first = reconcile(k.live_orders(), reports, ts=7)
    assert not first.clean
    assert all(o.accepted for o in apply_all(k, first.events))
    assert [k.slot(0).stage, k.slot(1).stage] == [
        TradeStage.POSITION_OPEN,
        TradeStage.POSITION_OPEN,
    ]
    snap = json.dumps(k.snapshot(), sort_keys=True)
    # the same venue answers again: nothing is live any more, nothing to do
    second = reconcile(k.live_orders(), reports, ts=8)
    assert second.clean and second.events == []
    # and replaying the first round's synthetic events is refused as duplicates
    assert not any(o.accepted for o in apply_all(k, first.events))
    assert json.dumps(k.snapshot(), sort_keys=True) == snap


def test_position_differences_are_reported_per_asset() -> None:
    diffs = position_diffs(
        [("BTC-USDT", Side.LONG, D("1")), ("ETH-USDT", Side.SHORT, D("2"))],
        [
            PositionReport("BTC-USDT", Side.LONG, D("1"), D("50000")),
            PositionReport("ETH-USDT", Side.SHORT, D("1.5"), D("3000")),
            PositionReport("TRX-USDT", Side.LONG, D("10"), D("0.08")),
        ],
    )
    assert [(d.asset, d.kernel_qty, d.venue_qty) for d in diffs] == [
        ("ETH-USDT", D("-2"), D("-1.5")),
        ("TRX-USDT", D("0"), D("10")),
    ]
    assert diffs[0].difference == D("0.5")
    assert position_diffs([], []) == ()
    assert replace(diffs[0], venue_qty=D("-2")).difference == 0
