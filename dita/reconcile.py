"""Reconciliation: compare the venue's reports with what the kernel believes, and say what to do.

Pure functions, no I/O: the engine queries the venue, hands the reports in,
journals the synthetic events this module returns, and feeds them to the
kernel like any other venue event. Nothing here edits kernel state directly.

Per order the kernel believes may be live (REQUESTED, WORKING, PENDING_CANCEL), and
per ended order whose fees are audited (see ``Reconciler.audit_fees``):

=====================  ===========================  ==========================================
kernel says            venue says                   verdict
=====================  ===========================  ==========================================
any                    cum_qty above what we have   FILL/PARTIAL_FILL for the *difference*
                                                    (never the cumulative number as a new fill),
                                                    its fee the venue's cumulative fee minus ours
REQUESTED              order is live                ACK
PENDING_CANCEL, or     order is live                RESEND_CANCEL (our cancel never arrived,
cancel requested                                    or came too early and was refused)
any                    CANCELED / EXPIRED /         CANCEL_ACK / EXPIRED / REJECT
                       REJECTED
REQUESTED, no cancel   no such order                RESUBMIT with the same client order id
requested                                           (or REJECT when resubmission is off)
PENDING_CANCEL, or     no such order                REQUERY once; absent again in a later round
cancel requested                                    (``absent_confirmed``): CANCEL_ACK, "never
                                                    placed" (fills kept). A requested cancel
                                                    always wins: such an order is never resent
WORKING, nothing       no such order                REJECT
filled
WORKING, partly        no such order                CANCEL_ACK, fills kept
filled
any                    cum_qty below what we have   CONFLICT: stop and tell a human
any                    same cum_qty, other fees     FEE for the difference (a lost fill fee)
ended                  no such order / same         NONE
=====================  ===========================  ==========================================

Every pair (journal state, venue answer) thus ends in a terminal verdict (NONE,
EVENTS that end the order, CONFLICT) or in an action whose next answer does:
RESUBMIT and RESEND_CANCEL at most once per order and reconciliation, REQUERY
at most once before ``absent_confirmed`` (tests/test_reconcile_terminal.py
checks every pair).

Synthetic events have deterministic ids (``rc:<client order id>:<kind>:<cum>``),
so reconciling twice feeds the kernel nothing new the second time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

from dita.kernel.model import EventKind, Order, OrderStatus, Side, VenueEvent
from dita.kernel.money import money, recovered_fills
from dita.venues.base import OrderReport, PositionReport

ZERO = Decimal(0)


class Action(StrEnum):
    NONE = "NONE"  # venue and kernel agree
    EVENTS = "EVENTS"  # feed ``events`` to the kernel
    RESUBMIT = "RESUBMIT"  # send the same order (same client order id) again
    RESEND_CANCEL = "RESEND_CANCEL"
    REQUERY = "REQUERY"  # the answer is not conclusive yet; query again
    CONFLICT = "CONFLICT"  # the venue contradicts the journal: a human must look


@dataclass(frozen=True, slots=True)
class OrderVerdict:
    order: Order
    action: Action
    events: tuple[VenueEvent, ...] = ()
    note: str = ""


@dataclass(frozen=True, slots=True)
class PositionDiff:
    asset: str
    kernel_qty: Decimal  # signed: long > 0, short < 0
    venue_qty: Decimal

    @property
    def difference(self) -> Decimal:
        return self.venue_qty - self.kernel_qty


@dataclass(frozen=True)
class Reconciliation:
    verdicts: tuple[OrderVerdict, ...]
    position_diffs: tuple[PositionDiff, ...] = field(default=())

    @property
    def events(self) -> list[VenueEvent]:
        return [e for v in self.verdicts for e in v.events]

    @property
    def clean(self) -> bool:
        return all(v.action is Action.NONE for v in self.verdicts) and not self.position_diffs


PRICE_QUANTUM = Decimal("1e-18")  # the kernel takes outside prices with at most 18 decimals


def fill_price(value: Decimal, qty: Decimal) -> Decimal:
    """``value / qty`` with no more decimals than any venue sends: a non-terminating
    quotient is rounded half-even to 18 decimals (only where ``recovered_fills`` cannot
    split the quantity into fills with finite prices)."""
    with money():
        p = value / qty
        exp = p.as_tuple().exponent
        if isinstance(exp, int) and exp < -18:
            p = p.quantize(PRICE_QUANTUM, rounding=ROUND_HALF_EVEN)
        return p


def report_value(report: OrderReport) -> Decimal | None:
    """What the venue's fills of this order are worth in all: its cumulative quote when it
    sends one (exact), else cumulative quantity x average price (exact only when the
    average is), None without either."""
    if report.cum_quote is not None:
        return report.cum_quote
    if report.avg_price is None:
        return None
    with money():
        return report.cum_qty * report.avg_price


def synthetic_id(cid: str, kind: EventKind, cum: Decimal) -> str:
    return f"rc:{cid}:{kind.value}:{cum}"


def _event(
    order: Order, report: OrderReport | None, kind: EventKind, ts: int, **kw: object
) -> VenueEvent:
    cum = kw.get("cum_qty")
    cum_d = cum if isinstance(cum, Decimal) else order.filled_qty
    return VenueEvent(
        event_id=synthetic_id(order.client_order_id, kind, cum_d),
        ts=ts,
        kind=kind,
        client_order_id=order.client_order_id,
        venue_order_id=(report.venue_order_id if report else "") or order.venue_order_id,
        reason=str(kw.pop("reason", "reconciliation")),
        **kw,  # type: ignore[arg-type]
    )


def reconcile_order(
    order: Order,
    report: OrderReport | None,
    *,
    ts: int,
    resubmit_unsent: bool = True,
    cancel_requested: bool = False,
    absent_confirmed: bool = False,
) -> OrderVerdict:
    """The verdict for one order (see the module table).

    ``cancel_requested``: the policy asked to cancel this order at some point (the
    kernel may have put it back to REQUESTED after the venue refused the cancel).
    ``absent_confirmed``: the venue already said "no such order" in an earlier round.
    """
    if not order.status.is_live:
        return _reconcile_ended(order, report)
    if report is None:
        return _reconcile_absent(
            order,
            ts=ts,
            resubmit_unsent=resubmit_unsent,
            cancel_requested=cancel_requested,
            absent_confirmed=absent_confirmed,
        )
    conflict = _conflict(order, report)
    if conflict is not None:
        return OrderVerdict(order, Action.CONFLICT, note=conflict)
    return _reconcile_reported(order, report, cancel_requested=cancel_requested)


def _reconcile_absent(
    order: Order,
    *,
    ts: int,
    resubmit_unsent: bool,
    cancel_requested: bool,
    absent_confirmed: bool,
) -> OrderVerdict:
    """A live order the venue does not know."""
    if order.status is OrderStatus.PENDING_CANCEL or cancel_requested:
        if not absent_confirmed:
            return OrderVerdict(
                order, Action.REQUERY, note="cancel requested and the venue has no such order"
            )
        ev = _event(
            order,
            None,
            EventKind.CANCEL_ACK,
            ts,
            reason="never placed: cancel requested and the venue has no such order",
        )
        return OrderVerdict(
            order, Action.EVENTS, (ev,), "cancel requested, never placed: cancelled"
        )
    match order.status:
        case OrderStatus.REQUESTED if not order.acked and order.filled_qty == 0:
            if resubmit_unsent:
                return OrderVerdict(
                    order, Action.RESUBMIT, note="the venue never received the order"
                )
            ev = _event(order, None, EventKind.REJECT, ts, reason="never reached the venue")
            return OrderVerdict(order, Action.EVENTS, (ev,), "the venue never received the order")
        case _ if order.filled_qty == 0:
            ev = _event(order, None, EventKind.REJECT, ts, reason="venue has no such order")
            return OrderVerdict(order, Action.EVENTS, (ev,), "acknowledged, unfilled and gone")
        case _:
            ev = _event(order, None, EventKind.CANCEL_ACK, ts, reason="venue has no such order")
            return OrderVerdict(order, Action.EVENTS, (ev,), "partly filled and gone: fills kept")


def _conflict(order: Order, report: OrderReport) -> str | None:
    """Why the venue's report cannot describe the journal's order (None: it can)."""
    if (
        order.venue_order_id
        and report.venue_order_id
        and order.venue_order_id != report.venue_order_id
    ):
        return f"venue order id {report.venue_order_id} differs from the journal's {order.venue_order_id}"
    if report.cum_qty < order.filled_qty:
        return (
            f"venue reports cum_qty {report.cum_qty} below the {order.filled_qty} already applied"
        )
    if report.cum_qty > order.quantity:
        return f"venue reports cum_qty {report.cum_qty} above the quantity {order.quantity}"
    return None


def _reconcile_reported(
    order: Order, report: OrderReport, *, cancel_requested: bool
) -> OrderVerdict:
    """A live order the venue reports consistently: the events that bring the kernel there."""
    events: list[VenueEvent] = []
    if (
        report.status is OrderStatus.WORKING
        and not order.acked
        and report.cum_qty == order.filled_qty
    ):
        events.append(_event(order, report, EventKind.ACK, report.ts))
    missed = report.cum_qty - order.filled_qty
    if missed > 0:
        gap = _gap_fills(order, report)
        if gap is None:
            return OrderVerdict(order, Action.REQUERY, note="fills without an average price")
        events += gap
    elif report.fees != order.fees:
        # same fills, different money: a fee the stream lost (or a later rebate)
        events.append(_fee_event(order, report))
    match report.status:
        case OrderStatus.CANCELED:
            events.append(
                _event(order, report, EventKind.CANCEL_ACK, report.ts, cum_qty=report.cum_qty)
            )
        case OrderStatus.EXPIRED:
            events.append(
                _event(order, report, EventKind.EXPIRED, report.ts, cum_qty=report.cum_qty)
            )
        case OrderStatus.REJECTED:
            events.append(
                _event(order, report, EventKind.REJECT, report.ts, cum_qty=report.cum_qty)
            )
        case OrderStatus.WORKING if order.status is OrderStatus.PENDING_CANCEL or cancel_requested:
            return OrderVerdict(
                order, Action.RESEND_CANCEL, tuple(events), "our cancel never reached the venue"
            )
        case _:
            pass
    if not events:
        return OrderVerdict(order, Action.NONE)
    return OrderVerdict(order, Action.EVENTS, tuple(events))


def _gap_fills(order: Order, report: OrderReport) -> list[VenueEvent] | None:
    """The fills the kernel missed (``report.cum_qty`` above ``order.filled_qty``) as events:
    one or two fills (``recovered_fills``) worth what the venue's fills are worth beyond
    those the kernel has, the fee the venue's cumulative fee beyond the kernel's (on the
    first); None when the venue gives no value for them."""
    total = report_value(report)
    if total is None:
        return None
    with money():
        missed = report.cum_qty - order.filled_qty
        value = total - order.filled_cost
        fills = (
            recovered_fills(value, missed)
            if value > 0
            else ((missed, fill_price(total, report.cum_qty)),)
        )
        out: list[VenueEvent] = []
        cum = order.filled_qty
        fee = report.fees - order.fees
        for qty, price in fills:
            cum += qty
            out.append(
                _event(
                    order,
                    report,
                    EventKind.FILL if cum == order.quantity else EventKind.PARTIAL_FILL,
                    report.ts,
                    last_qty=qty,
                    last_price=price,
                    cum_qty=cum,
                    fee=fee,
                )
            )
            fee = ZERO
    return out


def _fee_event(order: Order, report: OrderReport) -> VenueEvent:
    return VenueEvent(
        event_id=f"rc:{order.client_order_id}:{EventKind.FEE.value}:{report.fees}",
        ts=report.ts,
        kind=EventKind.FEE,
        client_order_id=order.client_order_id,
        venue_order_id=report.venue_order_id or order.venue_order_id,
        fee=report.fees - order.fees,
        reason="reconciliation: venue's cumulative fees differ",
    )


def _reconcile_ended(order: Order, report: OrderReport | None) -> OrderVerdict:
    """An order the kernel has ended, audited for its money: late fills and lost fees."""
    if report is None:
        return OrderVerdict(order, Action.NONE)
    if report.cum_qty < order.filled_qty:
        return OrderVerdict(
            order,
            Action.CONFLICT,
            note=f"venue reports cum_qty {report.cum_qty} below the {order.filled_qty} already applied",
        )
    missed = report.cum_qty - order.filled_qty
    if missed > 0 and report.cum_qty <= order.quantity:
        gap = _gap_fills(order, report)
        if gap is not None:
            return OrderVerdict(order, Action.EVENTS, tuple(gap), "late fill of an ended order")
    if missed == 0 and report.fees != order.fees:
        return OrderVerdict(order, Action.EVENTS, (_fee_event(order, report),), "lost fee")
    return OrderVerdict(order, Action.NONE)


def reconcile(
    live_orders: Sequence[Order],
    reports: dict[str, OrderReport | None],
    *,
    ts: int,
    resubmit_unsent: bool = True,
    cancel_requested: Set[str] = frozenset(),
    absent_before: Set[str] = frozenset(),
) -> Reconciliation:
    """Verdicts for every order given; ``reports`` maps client order id to the venue's
    answer; ``cancel_requested``/``absent_before``: ids whose cancel was requested / that
    the venue already said it does not have (see ``reconcile_order``)."""
    return Reconciliation(
        tuple(
            reconcile_order(
                o,
                reports.get(o.client_order_id),
                ts=ts,
                resubmit_unsent=resubmit_unsent,
                cancel_requested=o.client_order_id in cancel_requested,
                absent_confirmed=o.client_order_id in absent_before,
            )
            for o in live_orders
        )
    )


def position_diffs(
    kernel_positions: Iterable[tuple[str, Side, Decimal]], venue_positions: Iterable[PositionReport]
) -> tuple[PositionDiff, ...]:
    """Net position per asset, kernel versus venue; only the assets that differ."""
    mine: dict[str, Decimal] = {}
    theirs: dict[str, Decimal] = {}
    for asset, side, qty in kernel_positions:
        mine[asset] = mine.get(asset, ZERO) + (qty if side is Side.LONG else -qty)
    for p in venue_positions:
        theirs[p.asset] = theirs.get(p.asset, ZERO) + (
            p.quantity if p.side is Side.LONG else -p.quantity
        )
    out = []
    for asset in sorted(set(mine) | set(theirs)):
        a, b = mine.get(asset, ZERO), theirs.get(asset, ZERO)
        if a != b:
            out.append(PositionDiff(asset, a, b))
    return tuple(out)
