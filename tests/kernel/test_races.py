"""The venue races DESIGN.md calls normal, each staged explicitly."""

from __future__ import annotations

import json

from dita.kernel import EventKind, KernelDiagnosticCode, OrderType, TradeStage, VenueEvent
from dita.testing.mock_venue import Ack, CancelAck, CancelReject, Duplicate, Fill, Hold, MockVenue
from tests.kernel.helpers import (
    INSTRUMENTS,
    D,
    ack,
    cancel,
    capital_identity,
    drive,
    enter,
    exit_,
    fill,
    make_kernel,
    order_of,
    simple,
)

C = KernelDiagnosticCode
S = TradeStage


def snap(k: object) -> str:
    return json.dumps(k.snapshot(), sort_keys=True)  # type: ignore[attr-defined]


def test_fill_before_ack_opens_the_position_and_the_late_ack_is_no_news() -> None:
    k = make_kernel()
    venue = MockVenue(INSTRUMENTS, scripts={"entry": [Fill(), Ack()]})
    outs = drive(k, venue, k.process_intent(enter(size=D("1"))))
    assert [(o.accepted, o.diagnostic_code, o.state) for o in outs] == [
        (True, C.OK, S.POSITION_OPEN),
        (True, C.LATE_ACK, S.POSITION_OPEN),
    ]
    assert outs[1].transitions == ()
    assert k.slot(0).size == D("1")


def test_fill_after_cancel_request_then_cancel_ack_keeps_the_fill() -> None:
    k = make_kernel()
    venue = MockVenue(
        INSTRUMENTS,
        scripts={"entry": [Ack(), Hold()]},
        cancel_scripts={"entry": [Fill(D("0.4")), CancelAck()]},
    )
    drive(k, venue, k.process_intent(enter(size=D("1"))))
    assert k.slot(0).stage is S.ENTRY_WORKING
    outs = drive(k, venue, k.process_intent(cancel()))
    assert [(o.diagnostic_code, o.state) for o in outs] == [
        (C.OK, S.ENTRY_WORKING),  # the fill lands while the cancel is pending
        (C.OK, S.POSITION_OPEN),  # cancel of a partly filled entry: position with what filled
    ]
    s = k.slot(0)
    assert s.size == D("0.4") and s.initial_size == D("0.4") and s.active_entry_order is None
    # the next EXIT sizes its leg from the filled quantity, not the ordered one
    leg = order_of(k.process_intent(exit_(ref=D("50000"))))
    assert leg.quantity == D("0.2")


def test_fill_after_cancel_request_then_cancel_reject_because_filled() -> None:
    k = make_kernel()
    venue = MockVenue(
        INSTRUMENTS,
        scripts={"entry": [Ack(), Hold()]},
        cancel_scripts={"entry": [Fill(), CancelReject("order already filled")]},
    )
    drive(k, venue, k.process_intent(enter(size=D("1"))))
    outs = drive(k, venue, k.process_intent(cancel()))
    assert [(o.accepted, o.diagnostic_code, o.state) for o in outs] == [
        (True, C.OK, S.POSITION_OPEN),
        (True, C.CANCEL_REJECT_ALREADY_DONE, S.POSITION_OPEN),
    ]
    assert k.slot(0).size == D("1")


def test_cancel_reject_of_a_live_order_returns_it_to_working() -> None:
    k = make_kernel()
    entry = order_of(k.process_intent(enter(size=D("1"))))
    k.on_venue_event(ack(entry))
    k.process_intent(cancel())
    out = k.on_venue_event(simple(EventKind.CANCEL_REJECT, entry))
    assert out.accepted and out.state is S.ENTRY_WORKING
    # the order is cancellable again
    assert k.process_intent(cancel()).accepted


def test_late_fill_after_cancel_ack_of_an_unfilled_entry_reopens_the_trade() -> None:
    k = make_kernel()
    entry = order_of(k.process_intent(enter(size=D("1"))))
    k.on_venue_event(ack(entry))
    k.process_intent(cancel())
    assert k.on_venue_event(simple(EventKind.CANCEL_ACK, entry, cum=D(0))).state is S.IDLE
    late = k.on_venue_event(fill(entry, "0.3", "50000", "0.3"))
    assert late.accepted and late.diagnostic_code is C.LATE_FILL
    assert late.state is S.POSITION_OPEN
    assert [(t.from_stage, t.to_stage) for t in late.transitions] == [(S.IDLE, S.POSITION_OPEN)]
    assert k.slot(0).size == D("0.3") and k.slot(0).trade_id == "t1"
    assert capital_identity(k)


def test_duplicate_and_replayed_events_change_nothing() -> None:
    k = make_kernel(capital="10000000")
    venue = MockVenue(
        INSTRUMENTS, scripts={"entry": [Ack(), Duplicate(), Fill(D("0.5")), Duplicate(), Fill()]}
    )
    outs = drive(k, venue, k.process_intent(enter(size=D("1"))))
    assert [(o.accepted, o.diagnostic_code) for o in outs] == [
        (True, C.OK),
        (False, C.DUPLICATE_EVENT),
        (True, C.OK),
        (False, C.DUPLICATE_EVENT),
        (True, C.OK),
    ]
    # a 1,000-fill order replayed in full changes nothing
    k2 = make_kernel(capital="10000000")
    entry = order_of(k2.process_intent(enter(size=D("10"), legs=(D(1),))))
    events = [fill(entry, "0.01", "50000", D("0.01") * (i + 1), fee="0.001") for i in range(1000)]
    for e in events:
        assert k2.on_venue_event(e).accepted
    before = snap(k2)
    assert not any(k2.on_venue_event(e).accepted for e in events)
    assert snap(k2) == before
    # the same fill under a new event id (cum already applied) is refused too
    stale = fill(entry, "0.01", "50000", "5.00")
    out = k2.on_venue_event(stale)
    assert not out.accepted and out.diagnostic_code is C.STALE_FILL
    assert snap(k2) == before


def test_event_for_unknown_or_finished_order_is_refused() -> None:
    k = make_kernel()
    k.process_intent(enter())
    out = k.on_venue_event(_ack_for("not-ours"))
    assert not out.accepted and out.diagnostic_code is C.UNKNOWN_ORDER
    # finish a trade, then talk about its orders again
    k = make_kernel()
    entry = order_of(k.process_intent(enter(size=D("1"), legs=(D(1),))))
    k.on_venue_event(fill(entry, "1", "50000", "1", kind=EventKind.FILL))
    x = order_of(k.process_intent(exit_(ref=D("50000"))))
    assert k.on_venue_event(fill(x, "1", "50100", "1", kind=EventKind.FILL)).state is S.CLOSED
    before = snap(k)
    for ev in (ack(entry), simple(EventKind.CANCEL_ACK, x), fill(x, "1", "50100", "1")):
        out = k.on_venue_event(ev)
        assert not out.accepted and out.diagnostic_code is C.ORDER_FINISHED, out
    assert snap(k) == before


def _ack_for(cid: str) -> VenueEvent:
    return VenueEvent("e-unknown", 1, EventKind.ACK, cid, "v")


def test_overfill_is_refused_and_changes_nothing() -> None:
    k = make_kernel()
    entry = order_of(k.process_intent(enter(size=D("1"))))
    k.on_venue_event(fill(entry, "0.6", "50000", "0.6"))
    before = snap(k)
    out = k.on_venue_event(fill(entry, "0.5", "50000", "1.1"))
    assert not out.accepted and out.diagnostic_code is C.OVERFILL
    assert snap(k) == before


def test_fill_whose_last_qty_disagrees_with_cum_qty_is_refused() -> None:
    k = make_kernel()
    entry = order_of(k.process_intent(enter(size=D("1"))))
    k.on_venue_event(fill(entry, "0.2", "50000", "0.2"))
    before = snap(k)
    out = k.on_venue_event(fill(entry, "0.2", "50000", "0.6"))  # a 0.2 fill in between is missing
    assert not out.accepted and out.diagnostic_code is C.FILL_QTY_MISMATCH
    assert snap(k) == before
    # the cumulative quantity alone is authoritative when last_qty is absent
    only_cum = VenueEvent(
        "e-cum",
        5,
        EventKind.PARTIAL_FILL,
        entry.client_order_id,
        last_price=D("50000"),
        cum_qty=D("0.6"),
    )
    assert k.on_venue_event(only_cum).accepted
    assert k.slot(0).size == D("0.6")


def test_reject_of_an_exit_returns_to_position_open_without_consuming_the_leg() -> None:
    k = make_kernel()
    entry = order_of(k.process_intent(enter(size=D("1"))))
    k.on_venue_event(fill(entry, "1", "50000", "1", kind=EventKind.FILL))
    x = order_of(k.process_intent(exit_(ref=D("50000"))))
    out = k.on_venue_event(simple(EventKind.REJECT, x))
    assert out.accepted and out.state is S.POSITION_OPEN
    assert [(t.from_stage, t.to_stage) for t in out.transitions] == [
        (S.EXIT_WORKING, S.POSITION_OPEN)
    ]
    s = k.slot(0)
    assert s.size == D("1") and s.active_leg_index == 0 and s.active_exit_order is None
    retry = order_of(k.process_intent(exit_(ref=D("50000"))))
    assert retry.quantity == x.quantity and retry.first_leg == 0
    assert retry.client_order_id != x.client_order_id  # a new attempt, a new id
    assert retry.client_order_id.endswith("-1") and x.client_order_id.endswith("-0")


def test_reject_of_an_entry_frees_the_slot() -> None:
    k = make_kernel()
    entry = order_of(k.process_intent(enter(size=D("1"))))
    out = k.on_venue_event(simple(EventKind.REJECT, entry))
    assert out.state is S.IDLE and k.account.margin_used == 0
    assert k.process_intent(enter(trade="t2")).accepted


def test_second_cancel_ack_is_no_news_and_exit_cancel_keeps_the_rest() -> None:
    k = make_kernel()
    entry = order_of(k.process_intent(enter(size=D("1"))))
    k.on_venue_event(fill(entry, "1", "50000", "1", kind=EventKind.FILL))
    x = order_of(k.process_intent(exit_(order_type=OrderType.LIMIT, price=D("52000"))))
    k.on_venue_event(ack(x))
    k.on_venue_event(fill(x, "0.1", "52000", "0.1"))
    assert k.process_intent(cancel()).accepted
    first = k.on_venue_event(simple(EventKind.CANCEL_ACK, x))
    assert first.state is S.POSITION_OPEN and k.slot(0).size == D("0.9")
    second = k.on_venue_event(simple(EventKind.CANCEL_ACK, x))
    assert (
        second.accepted
        and second.diagnostic_code is C.REDUNDANT_CANCEL_ACK
        and second.transitions == ()
    )
    # the partly filled leg 0 was consumed: the next EXIT is the last leg, all that remains
    nxt = order_of(k.process_intent(exit_(ref=D("50000"))))
    assert nxt.first_leg == 1 and nxt.quantity == D("0.9")


def test_a_fee_found_later_is_charged_to_its_order_and_the_ledger() -> None:
    # a stream gap can lose a fill's fee; reconciliation reports it as a FEE event
    k = make_kernel()
    entry = order_of(k.process_intent(enter(size=D("1"))))
    k.on_venue_event(fill(entry, "1", "50000", "1", fee="2", kind=EventKind.FILL))
    capital = k.account.capital
    fee = VenueEvent("fee-1", 40, EventKind.FEE, entry.client_order_id, fee=D("0.75"))
    out = k.on_venue_event(fee)
    assert out.accepted and out.transitions == () and out.state is S.POSITION_OPEN
    assert out.ledger.fees == D("0.75")
    assert k.account.capital == capital - D("0.75") and k.slot(0).fees == D("2.75")
    assert capital_identity(k) and k.check_invariants() == []
    before = snap(k)
    assert k.on_venue_event(fee).diagnostic_code is C.DUPLICATE_EVENT
    zero = VenueEvent("fee-2", 41, EventKind.FEE, entry.client_order_id, fee=D(0))
    assert k.on_venue_event(zero).diagnostic_code is C.INVALID_EVENT
    assert snap(k) == before
