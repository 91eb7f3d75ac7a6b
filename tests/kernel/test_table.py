"""Every row of the contract table, and every (stage, input) pair outside it, against the kernel."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from dita.kernel import EventKind, Kernel, KernelOutcome, Order, OrderType, TradeStage, VenueEvent
from dita.kernel.table import INPUTS, TABLE, Row, mermaid, rows_for
from tests.kernel.helpers import D, ack, cancel, enter, exit_, fill, make_kernel, order_of, simple

S = TradeStage


def _at(stage: TradeStage, when: str) -> tuple[Kernel, Order | None]:
    """A kernel whose slot 0 is in ``stage`` (shaped by ``when``), and the order inputs refer to."""
    k = make_kernel()
    if stage is S.IDLE:
        if when == "late fill of a cancelled entry":
            e = order_of(k.process_intent(enter(size=D("1"))))
            k.process_intent(cancel())
            k.on_venue_event(simple(EventKind.CANCEL_ACK, e))
            return k, e
        return k, None
    e = order_of(k.process_intent(enter(size=D("1"))))
    if stage is S.ORDER_REQUESTED:
        return k, e
    k.on_venue_event(ack(e))
    if stage is S.ENTRY_WORKING:
        if when == "partly filled":
            k.on_venue_event(fill(e, "0.4", "50000", "0.4"))
        return k, e
    k.on_venue_event(fill(e, "1", "50000", "1", kind=EventKind.FILL))
    if stage is S.POSITION_OPEN:
        return k, e
    if stage is S.CLOSED:
        x = order_of(k.process_intent(exit_(size=D("1"), ref=D("50000"))))
        k.on_venue_event(fill(x, "1", "50500", "1", kind=EventKind.FILL))
        return k, x
    assert stage is S.EXIT_WORKING
    size = D("1") if when == "position now zero" else None
    x = order_of(k.process_intent(exit_(size=size, order_type=OrderType.LIMIT, price=D("51000"))))
    k.on_venue_event(ack(x))
    return k, x


def _apply(k: Kernel, input_: str, order: Order | None) -> KernelOutcome:
    if input_ in ("CANCEL_ACK",) and order is not None and k.slot(0).stage is not S.IDLE:
        k.process_intent(cancel())  # a cancel ack answers a cancel request
    cid = order.client_order_id if order else "dt-0000000000-99-e-0"
    view = next((o for o in k.live_orders() if o.client_order_id == cid), order)
    filled = view.filled_qty if view else D(0)
    qty = view.quantity if view else D("1")
    match input_:
        case "ENTER":
            return k.process_intent(enter(trade="t-next"))
        case "EXIT":
            return k.process_intent(exit_(ref=D("50000")))
        case "CANCEL":
            return k.process_intent(cancel())
        case "ACK":
            return k.on_venue_event(VenueEvent("ev-ack", 1, EventKind.ACK, cid))
        case "PARTIAL_FILL":
            return k.on_venue_event(
                VenueEvent(
                    "ev-pf",
                    1,
                    EventKind.PARTIAL_FILL,
                    cid,
                    last_qty=D("0.1"),
                    last_price=D("50000"),
                    cum_qty=filled + D("0.1"),
                )
            )
        case "FILL":
            rest = qty - filled
            return k.on_venue_event(
                VenueEvent(
                    "ev-f",
                    1,
                    EventKind.FILL,
                    cid,
                    last_qty=rest,
                    last_price=D("50000"),
                    cum_qty=qty,
                )
            )
        case _:
            return k.on_venue_event(VenueEvent("ev-x", 1, EventKind(input_), cid))


@pytest.mark.parametrize("row", TABLE, ids=lambda r: f"{r.from_stage}-{r.input}-{r.when or 'any'}")
def test_table_row(row: Row) -> None:
    k, order = _at(row.from_stage, row.when)
    assert k.slot(0).stage is row.from_stage
    out = _apply(k, row.input, order)
    assert out.accepted, out.message
    assert out.state is row.to_stage
    assert k.slot(0).stage is row.to_stage
    assert k.check_invariants() == []


PAIRS = [
    (stage, input_)
    for stage, input_ in itertools.product(list(TradeStage), INPUTS)
    if not rows_for(stage, input_)
]


@pytest.mark.parametrize(("stage", "input_"), PAIRS, ids=[f"{s}-{i}" for s, i in PAIRS])
def test_pairs_outside_the_table_are_refused_or_leave_the_stage(
    stage: TradeStage, input_: str
) -> None:
    k, order = _at(stage, "")
    before = json.dumps(k.snapshot(), sort_keys=True)
    out = _apply(k, input_, order)
    if out.accepted:
        assert k.slot(0).stage is stage, (out.diagnostic_code, out.message)
        assert out.transitions == ()
    elif input_ != "CANCEL_ACK":  # (CANCEL_ACK's preparatory cancel may have been accepted)
        assert json.dumps(k.snapshot(), sort_keys=True) == before


def test_readme_state_diagram_is_generated_from_the_table() -> None:
    readme = Path(__file__).resolve().parents[2] / "README.md"
    assert mermaid() in readme.read_text(), (
        "regenerate the README diagram: python -c 'from dita.kernel.table import mermaid; print(mermaid())'"
    )
