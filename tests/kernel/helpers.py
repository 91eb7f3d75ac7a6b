"""Builders for kernel tests: instruments, intents, events, and a kernel wired to the mock venue."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import msgspec

from dita.kernel import (
    Action,
    CancelOrder,
    EventKind,
    Instrument,
    Kernel,
    KernelIntent,
    KernelOutcome,
    Order,
    OrderType,
    Side,
    SubmitOrder,
    VenueEvent,
)
from dita.kernel.model import flat_fields
from dita.testing.mock_venue import MockVenue

D = Decimal
BTC = Instrument("BTC-USDT", D("0.1"), D("0.001"), D("0.001"), D("5"))
ETH = Instrument("ETH-USDT", D("0.01"), D("0.01"), D("0.01"), D("5"))
TRX = Instrument("TRX-USDT", D("0.00001"), D("1"), D("1"), D("2"))
INSTRUMENTS = (BTC, ETH, TRX)

_ids = itertools.count(1)


def nid(prefix: str = "i") -> str:
    return f"{prefix}{next(_ids)}"


def rebuilt(intent: KernelIntent, **changes: Any) -> KernelIntent:
    """``intent`` with ``changes``, built again through the checking ``KernelIntent``
    (``IntentError`` for a value of the wrong type)."""
    return KernelIntent(**(flat_fields(intent) | changes))


def unchecked(intent: KernelIntent, **changes: Any) -> KernelIntent:
    """``intent`` with ``changes`` and no type check (msgspec's replace): what only code that
    goes around the checking constructor could hand the kernel."""
    return msgspec.structs.replace(intent, **changes)


def make_kernel(slots: int = 2, capital: str = "100000") -> Kernel:
    return Kernel(slots=slots, instruments=INSTRUMENTS, initial_capital=D(capital))


def enter(
    slot: int = 0,
    *,
    trade: str = "t1",
    asset: str = "BTC-USDT",
    side: Side | None = Side.LONG,
    size: Any = Decimal("1"),
    order_type: OrderType = OrderType.LIMIT,
    price: Any = Decimal("50000"),
    legs: tuple[Any, ...] = (Decimal("0.5"), Decimal("0.5")),
    ref: Any = None,
    leverage: Any = Decimal(1),
    intent_id: str | None = None,
    ts: int = 1_000,
) -> KernelIntent:
    return KernelIntent(
        intent_id=intent_id or nid(),
        ts=ts,
        slot_id=slot,
        action=Action.ENTER,
        trade_id=trade,
        asset=asset,
        side=side,
        size=size,
        order_type=order_type,
        limit_price=price if order_type is OrderType.LIMIT else None,
        leverage=leverage,
        exit_leg_ratios=legs,
        reference_price=ref,
    )


def exit_(
    slot: int = 0,
    *,
    size: Any = None,
    order_type: OrderType = OrderType.MARKET,
    price: Any = None,
    ref: Any = None,
    trade: str = "",
    intent_id: str | None = None,
    ts: int = 2_000,
) -> KernelIntent:
    return KernelIntent(
        intent_id=intent_id or nid(),
        ts=ts,
        slot_id=slot,
        action=Action.EXIT,
        trade_id=trade,
        size=size,
        order_type=order_type,
        limit_price=price,
        reference_price=ref,
    )


def cancel(slot: int = 0, *, intent_id: str | None = None, ts: int = 3_000) -> KernelIntent:
    return KernelIntent(intent_id=intent_id or nid(), ts=ts, slot_id=slot, action=Action.CANCEL)


def order_of(outcome: KernelOutcome) -> Order:
    (cmd,) = outcome.commands
    assert isinstance(cmd, SubmitOrder | CancelOrder)
    return cmd.order


def ack(order: Order, venue_id: str = "", *, event_id: str | None = None) -> VenueEvent:
    return VenueEvent(
        event_id or nid("e"),
        10,
        EventKind.ACK,
        order.client_order_id,
        venue_id or f"v{order.client_order_id}",
    )


def fill(
    order: Order,
    qty: Any,
    price: Any,
    cum: Any,
    *,
    fee: Any = Decimal(0),
    kind: EventKind = EventKind.PARTIAL_FILL,
    event_id: str | None = None,
    ts: int = 20,
) -> VenueEvent:
    return VenueEvent(
        event_id or nid("e"),
        ts,
        kind,
        order.client_order_id,
        "",
        last_qty=D(qty) if isinstance(qty, str) else qty,
        last_price=D(price) if isinstance(price, str) else price,
        cum_qty=D(cum) if isinstance(cum, str) else cum,
        fee=D(fee) if isinstance(fee, str) else fee,
    )


def simple(
    kind: EventKind, order: Order, *, event_id: str | None = None, cum: Any = None
) -> VenueEvent:
    return VenueEvent(event_id or nid("e"), 30, kind, order.client_order_id, "", cum_qty=cum)


def drive(kernel: Kernel, venue: MockVenue, outcome: KernelOutcome) -> list[KernelOutcome]:
    """Send an outcome's commands to the scripted venue and feed every event back, in order."""
    outs: list[KernelOutcome] = []
    for cmd in outcome.commands:
        match cmd:
            case SubmitOrder(order=o):
                events = venue.on_submit(o)
            case CancelOrder(order=o):
                events = venue.on_cancel(o)
        outs.extend(kernel.on_venue_event(e) for e in events)
    return outs


def capital_identity(k: Kernel) -> bool:
    a = k.account
    return a.capital == a.initial_capital + a.realized_pnl - a.fees + a.funding
