"""Every invalid input DESIGN.md lists: refused with its own diagnostic, state untouched."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal

import pytest

from dita.kernel import (
    Action,
    EventKind,
    IntentError,
    Kernel,
    KernelDiagnosticCode,
    KernelIntent,
    OrderType,
    Side,
    TradeStage,
    VenueEvent,
)
from tests.kernel.helpers import D, ack, cancel, enter, exit_, fill, make_kernel, order_of

C = KernelDiagnosticCode


def _kernel_with(stage: str) -> Kernel:
    """Slot 0 in the given stage; slot 1 idle."""
    k = make_kernel()
    if stage == "IDLE":
        return k
    entry = order_of(k.process_intent(enter(0, intent_id="base-enter", size=D("1"))))
    if stage == "ORDER_REQUESTED":
        return k
    k.on_venue_event(ack(entry, event_id="base-ack"))
    if stage == "ENTRY_WORKING":
        return k
    k.on_venue_event(fill(entry, "1", "50000", "1", kind=EventKind.FILL, event_id="base-fill"))
    if stage == "POSITION_OPEN":
        return k
    k.process_intent(exit_(0, order_type=OrderType.LIMIT, price=D("60000"), intent_id="base-exit"))
    assert stage == "EXIT_WORKING"
    return k


INVALID_INTENTS: list[tuple[str, str, Callable[[], KernelIntent], KernelDiagnosticCode]] = [
    ("unknown slot", "IDLE", lambda: enter(7), C.UNKNOWN_SLOT),
    ("negative slot", "IDLE", lambda: enter(-1), C.UNKNOWN_SLOT),
    ("busy slot", "POSITION_OPEN", lambda: enter(0, trade="t9"), C.SLOT_BUSY),
    ("busy slot while entry works", "ENTRY_WORKING", lambda: enter(0, trade="t9"), C.SLOT_BUSY),
    ("EXIT with no position", "IDLE", lambda: exit_(0), C.NO_POSITION),
    ("EXIT while entry works", "ENTRY_WORKING", lambda: exit_(0), C.ENTRY_STILL_WORKING),
    ("EXIT while exit works", "EXIT_WORKING", lambda: exit_(0), C.EXIT_ALREADY_WORKING),
    (
        "EXIT beyond the position",
        "POSITION_OPEN",
        lambda: exit_(0, size=D("2")),
        C.EXIT_SIZE_EXCEEDS_POSITION,
    ),
    (
        "EXIT of another trade",
        "POSITION_OPEN",
        lambda: exit_(0, trade="other"),
        C.TRADE_ID_MISMATCH,
    ),
    ("CANCEL with nothing working", "POSITION_OPEN", lambda: cancel(0), C.NOTHING_TO_CANCEL),
    ("CANCEL on an idle slot", "IDLE", lambda: cancel(0), C.NOTHING_TO_CANCEL),
    ("LIMIT without a price", "IDLE", lambda: enter(0, price=None), C.LIMIT_PRICE_REQUIRED),
    (
        "LIMIT EXIT without a price",
        "POSITION_OPEN",
        lambda: exit_(0, order_type=OrderType.LIMIT),
        C.LIMIT_PRICE_REQUIRED,
    ),
    (
        "MARKET with a limit price",
        "POSITION_OPEN",
        lambda: exit_(0, price=D("1")),
        C.LIMIT_PRICE_NOT_ALLOWED,
    ),
    (
        "MARKET entry without reference price",
        "IDLE",
        lambda: enter(0, order_type=OrderType.MARKET),
        C.REFERENCE_PRICE_REQUIRED,
    ),
    ("size zero", "IDLE", lambda: enter(0, size=D(0)), C.INVALID_SIZE),
    ("size negative", "IDLE", lambda: enter(0, size=D(-1)), C.INVALID_SIZE),
    ("size NaN", "IDLE", lambda: enter(0, size=Decimal("NaN")), C.INVALID_SIZE),
    ("size infinite", "IDLE", lambda: enter(0, size=Decimal("Infinity")), C.INVALID_SIZE),
    ("size missing", "IDLE", lambda: enter(0, size=None), C.INVALID_SIZE),
    ("EXIT size zero", "POSITION_OPEN", lambda: exit_(0, size=D(0)), C.INVALID_SIZE),
    ("price NaN", "IDLE", lambda: enter(0, price=Decimal("NaN")), C.INVALID_PRICE),
    ("price negative", "IDLE", lambda: enter(0, price=D("-5")), C.INVALID_PRICE),
    (
        "reference price zero",
        "IDLE",
        lambda: enter(0, order_type=OrderType.MARKET, ref=D(0)),
        C.INVALID_PRICE,
    ),
    ("unknown instrument", "IDLE", lambda: enter(0, asset="DOGE-USDT"), C.UNKNOWN_INSTRUMENT),
    ("no side", "IDLE", lambda: enter(0, side=None), C.INVALID_SIDE),
    ("no trade id", "IDLE", lambda: enter(0, trade=""), C.INVALID_TRADE_ID),
    ("leverage zero", "IDLE", lambda: enter(0, leverage=D(0)), C.INVALID_LEVERAGE),
    ("leverage NaN", "IDLE", lambda: enter(0, leverage=Decimal("NaN")), C.INVALID_LEVERAGE),
    (
        "leg ratios not summing to 1",
        "IDLE",
        lambda: enter(0, legs=(D("0.5"), D("0.4"))),
        C.INVALID_LEG_RATIOS,
    ),
    ("leg ratio zero", "IDLE", lambda: enter(0, legs=(D("1"), D("0"))), C.INVALID_LEG_RATIOS),
    ("no leg ratios", "IDLE", lambda: enter(0, legs=()), C.INVALID_LEG_RATIOS),
    ("below minimum quantity", "IDLE", lambda: enter(0, size=D("0.0005")), C.BELOW_MIN_QUANTITY),
    (
        "below minimum notional",
        "IDLE",
        lambda: enter(0, asset="TRX-USDT", size=D("10"), price=D("0.08")),
        C.BELOW_MIN_NOTIONAL,
    ),
    (
        "more margin than capital",
        "IDLE",
        lambda: enter(0, size=D("3"), price=D("50000")),
        C.INSUFFICIENT_MARGIN,
    ),
    (
        "partial EXIT below minimum",
        "POSITION_OPEN",
        lambda: exit_(0, size=D("0.0004")),
        C.BELOW_MIN_QUANTITY,
    ),
    (
        "duplicate intent id",
        "POSITION_OPEN",
        lambda: enter(1, intent_id="base-enter"),
        C.DUPLICATE_INTENT,
    ),
    ("empty intent id", "IDLE", lambda: KernelIntent("", 1, 0, Action.CANCEL), C.INVALID_INTENT),
    ("ts before 1970", "IDLE", lambda: KernelIntent("x1", -1, 0, Action.CANCEL), C.INVALID_TS),
]

# A value of the wrong type never reaches the kernel: the intent cannot be built, and the
# error names the field (issue 14). These were refused by the kernel before.
UNBUILDABLE: list[tuple[str, Callable[[], KernelIntent], str]] = [
    ("bool slot", lambda: enter(True), "slot_id"),  # type: ignore[arg-type]
    ("size float", lambda: enter(0, size=1.0), "size"),
    ("non-integer ts", lambda: KernelIntent("x1", 1.5, 0, Action.CANCEL), "ts"),  # type: ignore[arg-type]
    ("unknown action", lambda: KernelIntent("x2", 1, 0, "HOLD"), "action"),  # type: ignore[arg-type]
    ("action as text", lambda: KernelIntent("x2", 1, 0, "ENTER"), "action"),  # type: ignore[arg-type]
    (
        "unknown order type",
        lambda: KernelIntent("x3", 1, 0, Action.ENTER, "t", "BTC-USDT", Side.LONG, D(1), "STOP"),  # type: ignore[arg-type]
        "order_type",
    ),
    ("side as text", lambda: enter(0, side="LONG"), "side"),  # type: ignore[arg-type]
    (
        "a CANCEL's side as text",
        lambda: KernelIntent("x4", 1, 0, Action.CANCEL, side="LONG"),
        "side",
    ),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("name", "make", "field"), UNBUILDABLE, ids=[c[0] for c in UNBUILDABLE])
def test_a_value_of_the_wrong_type_cannot_be_built(
    name: str, make: Callable[[], KernelIntent], field: str
) -> None:
    with pytest.raises(IntentError, match=field) as e:
        make()
    assert e.value.field == field


@pytest.mark.parametrize(
    ("name", "stage", "make", "code"), INVALID_INTENTS, ids=[c[0] for c in INVALID_INTENTS]
)
def test_invalid_intent_is_refused_with_its_code_and_changes_nothing(
    name: str, stage: str, make: Callable[[], KernelIntent], code: KernelDiagnosticCode
) -> None:
    k = _kernel_with(stage)
    assert k.slot(0).stage is TradeStage(stage)
    before = json.dumps(k.snapshot(), sort_keys=True)
    out = k.process_intent(make())
    assert not out.accepted
    assert out.diagnostic_code is code, out.message
    assert out.message  # says what is wrong
    assert out.commands == () and out.transitions == ()
    assert json.dumps(k.snapshot(), sort_keys=True) == before


def test_refusal_messages_name_the_state_and_the_input() -> None:
    k = _kernel_with("POSITION_OPEN")
    out = k.process_intent(cancel(0))
    assert out.message == "CANCEL not valid in POSITION_OPEN (slot 0): no working order"
    busy = k.process_intent(exit_(0, trade="zz"))
    assert "zz" in busy.message and "t1" in busy.message


def _ev(**kw: object) -> Callable[[Kernel], VenueEvent]:
    def make(k: Kernel) -> VenueEvent:
        live = k.live_orders()
        cid = live[0].client_order_id if live else "nobody"
        base: dict[str, object] = {
            "event_id": "bad-1",
            "ts": 5,
            "kind": EventKind.PARTIAL_FILL,
            "client_order_id": cid,
            "last_qty": D("0.1"),
            "last_price": D("50000"),
            "cum_qty": D("0.1"),
        }
        base.update(kw)
        return VenueEvent(**base)  # type: ignore[arg-type]

    return make


INVALID_EVENTS: list[tuple[str, Callable[[Kernel], VenueEvent], KernelDiagnosticCode]] = [
    ("unknown order", _ev(client_order_id="zzz"), C.UNKNOWN_ORDER),
    ("no client order id", _ev(client_order_id=""), C.INVALID_EVENT),
    ("empty event id", _ev(event_id=""), C.INVALID_EVENT),
    ("float ts", _ev(ts=1.0), C.INVALID_EVENT),
    ("fill without price", _ev(last_price=None), C.INVALID_EVENT),
    ("fill with NaN price", _ev(last_price=Decimal("NaN")), C.INVALID_EVENT),
    ("fill with negative qty", _ev(last_qty=D("-0.1")), C.INVALID_EVENT),
    ("fill with NaN fee", _ev(fee=Decimal("NaN")), C.INVALID_EVENT),
    ("fill with neither qty", _ev(last_qty=None, cum_qty=None), C.INVALID_EVENT),
    ("fill off the step grid", _ev(last_qty=D("0.0001"), cum_qty=D("0.0001")), C.INVALID_EVENT),
    ("overfill", _ev(last_qty=D("2"), cum_qty=D("2")), C.OVERFILL),
    ("last_qty disagrees with cum_qty", _ev(last_qty=D("0.2")), C.FILL_QTY_MISMATCH),
    ("wrong venue order id", _ev(kind=EventKind.ACK, venue_order_id="other"), C.INVALID_EVENT),
    ("unknown kind", _ev(kind="TRADE"), C.INVALID_EVENT_KIND),
    (
        "funding for unknown asset",
        _ev(kind=EventKind.FUNDING, asset="DOGE-USDT", amount=D(1)),
        C.UNKNOWN_INSTRUMENT,
    ),
    ("funding without amount", _ev(kind=EventKind.FUNDING, asset="BTC-USDT"), C.INVALID_EVENT),
]


@pytest.mark.parametrize(
    ("name", "make", "code"), INVALID_EVENTS, ids=[c[0] for c in INVALID_EVENTS]
)
def test_invalid_event_is_refused_with_its_code_and_changes_nothing(
    name: str, make: Callable[[Kernel], VenueEvent], code: KernelDiagnosticCode
) -> None:
    k = _kernel_with("ENTRY_WORKING")
    before = json.dumps(k.snapshot(), sort_keys=True)
    out = k.on_venue_event(make(k))
    assert not out.accepted
    assert out.diagnostic_code is code, out.message
    assert out.message
    assert json.dumps(k.snapshot(), sort_keys=True) == before


def test_kernel_constructor_refuses_bad_configuration() -> None:
    with pytest.raises(ValueError, match="slots must be a positive integer"):
        Kernel(slots=0, instruments=[], initial_capital=D(1))
    with pytest.raises(ValueError, match="initial_capital"):
        Kernel(slots=1, instruments=[], initial_capital=Decimal("NaN"))
    with pytest.raises(ValueError, match="client_id_prefix"):
        Kernel(slots=1, instruments=[], initial_capital=D(1), client_id_prefix="Bad_Prefix")
