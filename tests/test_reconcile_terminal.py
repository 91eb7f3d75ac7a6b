"""Issue 9, sequence 1, as a property: every (journal state, venue answer) pair gets a
terminal verdict within a bounded number of reconciliation rounds.

Exhaustive over the states an order can have in the journal (including "cancel
requested, then refused by the venue") and every kind of answer the venue can give.
The venue is modelled by its state, which the verdicts' own actions change: a
RESUBMIT places the order, a RESEND_CANCEL cancels it. "Terminal" means the
kernel no longer believes the order live, or venue and kernel agree (NONE), or
reconciliation stops on a contradiction (CONFLICT). A requested cancel must win:
such an order is never resubmitted, and never ends up working on the venue.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest

from dita.kernel import EventKind, Kernel, Order, OrderStatus
from dita.reconcile import Action, reconcile_order
from dita.venues.base import OrderReport
from tests.kernel.helpers import D, ack, cancel, enter, fill, make_kernel, order_of

MAX_ROUNDS = 3


def _cancel_reject(o: Order) -> object:
    from dita.kernel import VenueEvent

    return VenueEvent(f"cr-{o.client_order_id}", 40, EventKind.CANCEL_REJECT, o.client_order_id)


def _state(name: str) -> tuple[Kernel, str, bool]:
    """A kernel holding one order in the named journal state: (kernel, cid, cancel requested)."""
    k = make_kernel()
    e = order_of(k.process_intent(enter(size=D("1"))))
    steps: dict[str, list[Callable[[], object]]] = {
        "requested": [],
        "requested, cancel refused": [
            lambda: k.process_intent(cancel()),
            lambda: k.on_venue_event(_cancel_reject(e)),  # type: ignore[arg-type]
        ],
        "working": [lambda: k.on_venue_event(ack(e))],
        "working, partly filled": [
            lambda: k.on_venue_event(ack(e)),
            lambda: k.on_venue_event(fill(e, "0.4", "50000", "0.4", fee="1")),
        ],
        "working, cancel refused": [
            lambda: k.on_venue_event(ack(e)),
            lambda: k.process_intent(cancel()),
            lambda: k.on_venue_event(_cancel_reject(e)),  # type: ignore[arg-type]
        ],
        "pending cancel, unacked": [lambda: k.process_intent(cancel())],
        "pending cancel, acked": [
            lambda: k.on_venue_event(ack(e)),
            lambda: k.process_intent(cancel()),
        ],
        "pending cancel, partly filled": [
            lambda: k.on_venue_event(ack(e)),
            lambda: k.on_venue_event(fill(e, "0.4", "50000", "0.4", fee="1")),
            lambda: k.process_intent(cancel()),
        ],
        "filled (ended, fee audit)": [
            lambda: k.on_venue_event(ack(e)),
            lambda: k.on_venue_event(fill(e, "1", "50000", "1", fee="2", kind=EventKind.FILL)),
        ],
    }
    for step in steps[name]:
        out = step()
        assert getattr(out, "accepted", True), (name, out)
    return k, e.client_order_id, "cancel" in name


STATES = [
    "requested",
    "requested, cancel refused",
    "working",
    "working, partly filled",
    "working, cancel refused",
    "pending cancel, unacked",
    "pending cancel, acked",
    "pending cancel, partly filled",
    "filled (ended, fee audit)",
]


@dataclass
class VenueState:
    """What the venue holds for the order (None: it never saw it)."""

    status: OrderStatus | None
    cum: Decimal = D(0)
    fees: Decimal = D(0)


ANSWERS: dict[str, VenueState] = {
    "no such order": VenueState(None),
    "working, nothing filled": VenueState(OrderStatus.WORKING),
    "working, 0.4 filled": VenueState(OrderStatus.WORKING, D("0.4"), D(1)),
    "working, 0.7 filled": VenueState(OrderStatus.WORKING, D("0.7"), D("1.75")),
    "working, 0.4 filled, other fees": VenueState(OrderStatus.WORKING, D("0.4"), D("1.3")),
    "filled": VenueState(OrderStatus.FILLED, D(1), D("2.5")),
    "filled, same fees": VenueState(OrderStatus.FILLED, D(1), D(2)),
    "cancelled, nothing filled": VenueState(OrderStatus.CANCELED),
    "cancelled, 0.4 filled": VenueState(OrderStatus.CANCELED, D("0.4"), D(1)),
    "expired": VenueState(OrderStatus.EXPIRED),
    "rejected": VenueState(OrderStatus.REJECTED),
}


def _report(o: Order, v: VenueState) -> OrderReport | None:
    if v.status is None:
        return None
    return OrderReport(
        client_order_id=o.client_order_id,
        venue_order_id=o.venue_order_id or f"v{o.client_order_id}",
        asset=o.asset,
        side=o.side,
        order_type=o.order_type,
        quantity=o.quantity,
        limit_price=o.limit_price,
        reduce_only=o.reduce_only,
        status=v.status,
        cum_qty=v.cum,
        avg_price=D(50000) if v.cum else None,
        fees=v.fees,
        ts=99,
    )


@pytest.mark.parametrize(("state", "answer"), list(itertools.product(STATES, ANSWERS)))
def test_every_journal_state_and_venue_answer_reaches_a_terminal_verdict(
    state: str, answer: str
) -> None:
    k, cid, cancel_requested = _state(state)
    venue = ANSWERS[answer]
    venue = VenueState(venue.status, venue.cum, venue.fees)
    absent = False
    verdicts: list[Action] = []
    for _ in range(MAX_ROUNDS):
        o = k.order(cid)
        assert o is not None
        v = reconcile_order(
            o, _report(o, venue), ts=5, cancel_requested=cancel_requested, absent_confirmed=absent
        )
        verdicts.append(v.action)
        for ev in v.events:
            out = k.on_venue_event(ev)
            assert out.accepted, (state, answer, ev, out)
        absent = absent or venue.status is None
        match v.action:
            case Action.RESUBMIT:
                assert not cancel_requested, f"{state}/{answer}: a cancelled order resubmitted"
                venue.status = OrderStatus.WORKING  # the venue has it now
            case Action.RESEND_CANCEL:
                if venue.status is OrderStatus.WORKING:
                    venue.status = OrderStatus.CANCELED
            case _:
                pass
        after = k.order(cid)
        assert after is not None
        if v.action is Action.CONFLICT or not after.status.is_live:
            break
        if v.action is Action.NONE:
            break
    else:
        pytest.fail(f"{state} / {answer}: no terminal verdict in {MAX_ROUNDS} rounds: {verdicts}")
    final = k.order(cid)
    assert final is not None
    if verdicts[-1] is not Action.CONFLICT:
        if final.status.is_live:
            # agreement: both sides have it working, and nobody asked to cancel it
            assert venue.status is OrderStatus.WORKING and not cancel_requested, (state, answer)
            assert final.filled_qty == venue.cum and final.fees == venue.fees
        else:
            # the kernel ended it: the venue must not have it working (a cancel wins)
            assert venue.status is not OrderStatus.WORKING, (state, answer, verdicts)
            if venue.status is not None:
                assert final.filled_qty == venue.cum and final.fees == venue.fees, (
                    state,
                    answer,
                )


def test_a_recovered_fill_price_never_has_more_digits_than_the_kernel_takes() -> None:
    # seen in crash torture: a venue average of 59991.666... (28 digits) became a fill
    # price the kernel refused (AMOUNT_TOO_PRECISE), and the order stayed live for ever
    k = make_kernel()
    e = order_of(k.process_intent(enter(size=D("1"))))
    k.on_venue_event(ack(e))
    o = k.order(e.client_order_id)
    assert o is not None
    rep = _report(o, VenueState(OrderStatus.FILLED, D("1"), D("24")))
    assert rep is not None
    from dataclasses import replace

    rep = replace(rep, avg_price=D("59991.66666666666666666666667"))
    v = reconcile_order(o, rep, ts=5)
    (ev,) = v.events
    assert ev.kind is EventKind.FILL
    assert ev.last_price == D("59991.666666666666666667")
    assert k.on_venue_event(ev).accepted
