"""One regression test per structural flaw of the system dita replaces.

Source: the review of the predecessor system (its 13 flaws are listed in docs/design.md). Each test stages the exact
trigger the review describes and asserts the behaviour that the flawed system
got wrong, so that it would have failed there.
"""

from __future__ import annotations

import itertools
import json
from decimal import Decimal

import pytest

from dita.kernel import (
    CancelOrder,
    EventKind,
    Kernel,
    KernelDiagnosticCode,
    OrderStatus,
    OrderType,
    Side,
    SnapshotError,
    SubmitOrder,
    TradeStage,
)
from dita.legacy import LegacyConversionError, LegacyIntent, to_kernel_intent
from dita.testing.mock_venue import Ack, Fill, MockVenue
from tests.kernel.helpers import (
    BTC,
    INSTRUMENTS,
    TRX,
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

OK = KernelDiagnosticCode.OK


def _open_position(
    k: Kernel, slot: int = 0, *, size: str = "1", price: str = "50000", trade: str = "t1"
) -> None:
    o = k.process_intent(enter(slot, trade=trade, size=D(size), price=D(price)))
    entry = order_of(o)
    assert k.on_venue_event(ack(entry)).accepted
    assert k.on_venue_event(fill(entry, size, price, size, kind=EventKind.FILL)).accepted
    assert k.slot(slot).stage is TradeStage.POSITION_OPEN


def test_flaw_01_cancel_of_a_working_entry_order_reaches_the_venue() -> None:
    # The old kernel only looked at active_exit_order and answered
    # NO_ACTIVE_EXIT_ORDER for an entry cancel; the venue was never called.
    k = make_kernel()
    entry = order_of(k.process_intent(enter(order_type=OrderType.LIMIT, price=D("49000"))))
    # cancel while still ORDER_REQUESTED (no ack yet) ...
    out = k.process_intent(cancel())
    assert out.accepted and out.diagnostic_code is OK
    assert out.state is TradeStage.ORDER_REQUESTED
    (cmd,) = out.commands
    assert isinstance(cmd, CancelOrder)
    assert cmd.order.client_order_id == entry.client_order_id
    assert cmd.order.status is OrderStatus.PENDING_CANCEL
    # ... and while ENTRY_WORKING (acked, resting on the book)
    k2 = make_kernel()
    entry2 = order_of(k2.process_intent(enter(order_type=OrderType.LIMIT, price=D("49000"))))
    k2.on_venue_event(ack(entry2, "1735119588833849344"))
    out2 = k2.process_intent(cancel())
    assert out2.accepted and out2.state is TradeStage.ENTRY_WORKING
    (cmd2,) = out2.commands
    assert isinstance(cmd2, CancelOrder)
    assert cmd2.order.client_order_id == entry2.client_order_id
    assert cmd2.order.venue_order_id == "1735119588833849344"


def test_flaw_02_cancel_ack_of_an_entry_frees_the_slot() -> None:
    # The old FSM had no CANCEL_ACK branch for entries: the slot stayed
    # ENTRY_WORKING forever and every later ENTER was SLOT_BUSY.
    k = make_kernel()
    entry = order_of(k.process_intent(enter(price=D("49000"))))
    k.on_venue_event(ack(entry))
    k.process_intent(cancel())
    out = k.on_venue_event(simple(EventKind.CANCEL_ACK, entry, cum=D(0)))
    assert out.accepted
    assert out.state is TradeStage.IDLE
    assert [(t.from_stage, t.to_stage) for t in out.transitions] == [
        (TradeStage.ENTRY_WORKING, TradeStage.IDLE)
    ]
    s = k.slot(0)
    assert s.active_entry_order is None and s.trade_id == "" and s.size == 0
    assert k.account.margin_used == 0
    assert k.live_orders() == []
    again = k.process_intent(enter(trade="t2", price=D("49000")))
    assert again.accepted, again.message


def test_flaw_03_outcome_describes_exactly_its_own_step() -> None:
    # The old process_intent returned the diagnostic of the pre-venue half and
    # the state of the post-venue half. Here each step's outcome has the
    # state the slot is in right after that step, and nothing from another step.
    k = make_kernel()
    venue = MockVenue(INSTRUMENTS, scripts={"entry": [Ack(), Fill()]})
    first = k.process_intent(enter(price=D("50000")))
    assert first.state is TradeStage.ORDER_REQUESTED
    assert [(t.from_stage, t.to_stage) for t in first.transitions] == [
        (TradeStage.IDLE, TradeStage.ORDER_REQUESTED)
    ]
    assert k.slot(0).stage is TradeStage.ORDER_REQUESTED  # venue not involved yet
    later = drive(k, venue, first)
    assert [o.state for o in later] == [TradeStage.ENTRY_WORKING, TradeStage.POSITION_OPEN]
    assert [[(t.from_stage, t.to_stage) for t in o.transitions] for o in later] == [
        [(TradeStage.ORDER_REQUESTED, TradeStage.ENTRY_WORKING)],
        [(TradeStage.ENTRY_WORKING, TradeStage.POSITION_OPEN)],
    ]
    # the first outcome was not rewritten by what came after
    assert first.state is TradeStage.ORDER_REQUESTED and len(first.transitions) == 1


def test_flaw_04_final_leg_closes_once_and_settles_once() -> None:
    # Two blocks each set CLOSED on the final leg; orders were cleared by one
    # and not the other. Here: one transition to CLOSED, one trade record, the
    # money of the closing fill settled once, and no order left on the slot.
    k = make_kernel()
    _open_position(k, size="1", price="50000")
    leg1 = order_of(k.process_intent(exit_(ref=D("51000"))))
    k.on_venue_event(fill(leg1, "0.5", "51000", "0.5", fee="1", kind=EventKind.FILL))
    leg2 = order_of(k.process_intent(exit_(ref=D("52000"))))
    assert leg2.quantity == D("0.5") and leg2.first_leg == 1
    before = k.account.capital
    final = fill(leg2, "0.5", "52000", "0.5", fee="2", kind=EventKind.FILL)
    out = k.on_venue_event(final)
    assert out.accepted and out.state is TradeStage.CLOSED
    assert [t.to_stage for t in out.transitions] == [TradeStage.CLOSED]
    assert len(out.trade_records) == 1
    rec = out.trade_records[0]
    assert rec.realized_pnl == D("0.5") * 1000 + D("0.5") * 2000
    assert rec.fees == D("3")
    assert k.account.capital - before == D("1000") - D("2")
    s = k.slot(0)
    assert s.active_entry_order is None and s.active_exit_order is None
    # the same closing fill again must not close or settle a second time
    snap = k.snapshot()
    again = k.on_venue_event(final)
    assert not again.accepted and again.trade_records == () and again.transitions == ()
    assert k.snapshot() == snap


def test_flaw_05_partial_exit_fill_moves_capital_immediately() -> None:
    # Capital was settled only on a terminal state, so during a partial exit
    # the account showed stale capital for minutes.
    k = make_kernel()
    _open_position(k, size="1", price="50000")
    exit_order = order_of(k.process_intent(exit_(order_type=OrderType.LIMIT, price=D("51000"))))
    capital0 = k.account.capital
    out = k.on_venue_event(fill(exit_order, "0.3", "51000", "0.3", fee="0.5"))
    assert out.state is TradeStage.EXIT_WORKING
    assert out.ledger.realized_pnl == D("300")
    assert k.account.capital == capital0 + D("300") - D("0.5")
    assert k.account.realized_pnl == D("300")
    assert k.slot(0).realized_pnl == D("300")
    assert capital_identity(k)
    # the margin now held is for the remaining 0.7 only
    assert k.account.margin_used == D("0.7") * D("50000")


def test_flaw_06_legacy_limit_order_keeps_type_and_price() -> None:
    # _legacy_intent() dropped order_type and limit_price: LIMIT orders went
    # out as MARKET. Here they reach the kernel's order command intact.
    legacy = LegacyIntent(
        timestamp=1_700_000_000_000,
        trade_id="t1",
        decision_id="d1",
        asset="TRX-USDT",
        action="ENTER",
        side="LONG",
        target_size=1000.0,
        leverage=2.0,
        confidence=0.8,
        bars_held=0,
        exit_leg_ratios=(0.5, 0.5),
        order_type="LIMIT",
        limit_price=0.083456,
    )
    intent = to_kernel_intent(legacy, slot_id=0)
    assert intent.order_type is OrderType.LIMIT
    assert intent.limit_price == D("0.083456")
    assert intent.metadata == {"confidence": "0.8", "bars_held": 0}
    k = make_kernel()
    out = k.process_intent(intent)
    assert out.accepted, out.message
    order = order_of(out)
    assert order.order_type is OrderType.LIMIT
    assert order.limit_price == D("0.08345")  # BUY rounds down onto TRX's 0.00001 tick
    # a conversion that would lose information is an error, not a default
    with pytest.raises(LegacyConversionError, match="limit_price"):
        to_kernel_intent(
            LegacyIntent(1, "t", "d", "TRX-USDT", "ENTER", "LONG", limit_price=0.08), slot_id=0
        )


def test_flaw_07_mock_venue_scripts_entry_and_exit_separately() -> None:
    # One partial_fill_ratio applied to entries and exits alike; a test could
    # not have the entry fill fully while the exit fills 30% then 70%.
    k = make_kernel()
    venue = MockVenue(
        INSTRUMENTS,
        scripts={"entry": [Ack(), Fill()], "exit": [Ack(), Fill(D("0.3")), Fill()]},
        mark_prices={"BTC-USDT": D("50000")},
    )
    entry_events = drive(k, venue, k.process_intent(enter(size=D("1"), legs=(D(1),))))
    assert [o.state for o in entry_events] == [TradeStage.ENTRY_WORKING, TradeStage.POSITION_OPEN]
    exit_out = k.process_intent(exit_(ref=D("50000")))
    exit_events = drive(k, venue, exit_out)
    assert [o.state for o in exit_events] == [
        TradeStage.EXIT_WORKING,
        TradeStage.EXIT_WORKING,
        TradeStage.CLOSED,
    ]
    fills = [e for e in venue.submitted]
    assert len(fills) == 2
    assert exit_events[1].ledger.fees == (D("0.3") * D("50000") * D("0.0005")).quantize(D("1e-8"))


def test_flaw_08_prices_and_quantities_are_on_the_instrument_grid() -> None:
    # No price formatter existed: TRX limit prices went out with the wrong
    # precision and BingX rejected them. Every command here is on the grid.
    k = make_kernel()
    buy = order_of(
        k.process_intent(enter(asset="TRX-USDT", size=D("1500.7"), price=D("0.0834567")))
    )
    assert buy.limit_price == D("0.08345") and buy.quantity == D("1500")
    assert buy.limit_price % TRX.tick_size == 0 and buy.quantity % TRX.step_size == 0
    k.on_venue_event(fill(buy, "1500", "0.08345", "1500", kind=EventKind.FILL))
    sell = order_of(
        k.process_intent(exit_(order_type=OrderType.LIMIT, price=D("0.0912341"), size=D("700.9")))
    )
    assert sell.limit_price == D("0.09124")  # SELL rounds up: never more aggressive than asked
    assert sell.quantity == D("700")
    # an intent that cannot be made valid is refused by the kernel, not the exchange
    k2 = make_kernel()
    small = k2.process_intent(enter(asset="BTC-USDT", size=D("0.0009"), price=D("50000")))
    assert not small.accepted
    assert small.diagnostic_code is KernelDiagnosticCode.BELOW_MIN_QUANTITY
    tiny_price = k2.process_intent(enter(asset="TRX-USDT", size=D("10"), price=D("0.000001")))
    assert tiny_price.diagnostic_code is KernelDiagnosticCode.INVALID_PRICE


def test_flaw_09_cancel_is_routed_by_the_orders_own_instrument() -> None:
    # The old cancel fell back to the trade id as the symbol
    # ("CANCEL-IDLE-1712345678-USDT"). Here the cancel command carries the
    # order's own asset and venue ids, whatever the trade id looks like.
    k = make_kernel(slots=2)
    eth = order_of(
        k.process_intent(
            enter(0, trade="cancel-idle-1712345678", asset="ETH-USDT", size=D("2"), price=D("3000"))
        )
    )
    btc = order_of(
        k.process_intent(enter(1, trade="CANCEL-IDLE-USDT", asset="BTC-USDT", price=D("50000")))
    )
    k.on_venue_event(ack(eth, "111"))
    k.on_venue_event(ack(btc, "222"))
    c0 = order_of(k.process_intent(cancel(0)))
    c1 = order_of(k.process_intent(cancel(1)))
    assert (c0.asset, c0.venue_order_id, c0.client_order_id) == (
        "ETH-USDT",
        "111",
        eth.client_order_id,
    )
    assert (c1.asset, c1.venue_order_id, c1.client_order_id) == (
        "BTC-USDT",
        "222",
        btc.client_order_id,
    )


def test_flaw_10_dedup_memory_is_not_a_window_that_can_be_overrun() -> None:
    # A 64-entry ring of seen event ids: event 1 was accepted again after 64
    # others. Here 1,000 fills on one order, replayed in full, change nothing.
    k = make_kernel(capital="10000000")
    entry = order_of(k.process_intent(enter(size=D("1"), price=D("50000"))))
    step = D("0.001")
    events = [
        fill(entry, step, "50000", step * (i + 1), fee="0.01", event_id=f"f{i}")
        for i in range(1000)
    ]
    for e in events:
        assert k.on_venue_event(e).accepted
    assert k.slot(0).size == D("1") and k.slot(0).stage is TradeStage.POSITION_OPEN
    snap = json.dumps(k.snapshot(), sort_keys=True)
    for e in events:
        out = k.on_venue_event(e)
        assert not out.accepted
    # the very first event, after 1,000 others, is still recognised
    assert not k.on_venue_event(events[0]).accepted
    assert json.dumps(k.snapshot(), sort_keys=True) == snap


def _tampered(k: Kernel, **changes: object) -> dict[str, object]:
    snap = json.loads(json.dumps(k.snapshot()))
    slot = snap["slot_states"][0]
    for key, value in changes.items():
        if key == "stage":
            slot["stage"] = value
        else:
            slot["trade"][key] = value
    return snap


def test_flaw_11_restore_validates_instead_of_overwriting() -> None:
    # Reconcile blindly copied slot state in: POSITION_OPEN with size 0,
    # CLOSED with size 5, ENTRY_WORKING with no trade id, dedup memory cleared.
    k = make_kernel()
    _open_position(k, size="1", price="50000")
    good = k.snapshot()
    assert Kernel.restore(good, instruments=INSTRUMENTS).snapshot() == good

    cases = {
        "POSITION_OPEN with size 0": (
            _tampered(k, size="0", initial_size="0"),
            "size 0",
        ),
        "CLOSED with size 5": (_tampered(k, stage="CLOSED", size="5"), "stage CLOSED"),
        "trade without a trade id": (_tampered(k, trade_id=""), "empty trade_id"),
        "negative size": (_tampered(k, size="-1"), "negative"),
    }
    for name, (snap, needle) in cases.items():
        with pytest.raises(SnapshotError) as err:
            Kernel.restore(snap, instruments=INSTRUMENTS)
        assert needle in str(err.value), (name, str(err.value))
    # ENTRY_WORKING claimed for a slot that holds no trade at all
    idle = make_kernel()
    snap = json.loads(json.dumps(idle.snapshot()))
    snap["slot_states"][1]["stage"] = "ENTRY_WORKING"
    with pytest.raises(SnapshotError, match="slot 1: stage ENTRY_WORKING without a trade"):
        Kernel.restore(snap, instruments=INSTRUMENTS)
    # dedup memory wiped: refused, so duplicates cannot sneak back in
    wiped = json.loads(json.dumps(good))
    for o in wiped["slot_states"][0]["trade"]["orders"]:
        o["seen_event_ids"] = []
    with pytest.raises(SnapshotError, match="seen_event_ids is empty"):
        Kernel.restore(wiped, instruments=INSTRUMENTS)
    # several violations at once are all listed in one error
    many = _tampered(k, trade_id="", size="-1")
    many["ledger"]["capital"] = "1"  # type: ignore[index]
    with pytest.raises(SnapshotError) as err:
        Kernel.restore(many, instruments=INSTRUMENTS)
    assert len(err.value.problems) >= 3
    assert any("ledger" in p for p in err.value.problems)
    # and an instrument the snapshot needs but the caller lacks
    with pytest.raises(SnapshotError, match="not a known instrument"):
        Kernel.restore(good, instruments=[i for i in INSTRUMENTS if i is not BTC])
    assert k.snapshot() == good  # the live kernel was never touched


def test_flaw_12_transitions_are_complete_over_a_whole_trade() -> None:
    # outcome.transitions held only the pre-venue transition. Here the
    # transitions of all steps, concatenated, are the slot's exact path,
    # including a fill that arrives before the ack (two stages in one step).
    k = make_kernel()
    stages = [k.slot(0).stage]
    path: list[tuple[TradeStage, TradeStage]] = []

    def step(out: object) -> None:
        from dita.kernel import KernelOutcome

        assert isinstance(out, KernelOutcome) and out.accepted, out
        path.extend((t.from_stage, t.to_stage) for t in out.transitions)
        stages.append(k.slot(0).stage)
        assert out.state is k.slot(0).stage

    e = k.process_intent(enter(size=D("1")))
    step(e)
    entry = order_of(e)
    step(k.on_venue_event(fill(entry, "1", "50000", "1", kind=EventKind.FILL)))  # before its ack
    step(k.on_venue_event(ack(entry)))  # late ack: no stage change
    x1 = k.process_intent(exit_(ref=D("50000")))
    step(x1)
    step(k.on_venue_event(fill(order_of(x1), "0.5", "50500", "0.5", kind=EventKind.FILL)))
    x2 = k.process_intent(exit_(ref=D("50000")))
    step(x2)
    step(k.on_venue_event(fill(order_of(x2), "0.5", "51000", "0.5", kind=EventKind.FILL)))
    S = TradeStage
    assert path == [
        (S.IDLE, S.ORDER_REQUESTED),
        (S.ORDER_REQUESTED, S.POSITION_OPEN),
        (S.POSITION_OPEN, S.EXIT_WORKING),
        (S.EXIT_WORKING, S.POSITION_OPEN),
        (S.POSITION_OPEN, S.EXIT_WORKING),
        (S.EXIT_WORKING, S.CLOSED),
    ]
    # every stage change the slot went through appears, in order
    changes = [(a, b) for a, b in itertools.pairwise(stages) if a is not b]
    assert changes == path


def test_flaw_13_realized_pnl_is_never_discarded() -> None:
    # Realized PnL accumulated on the slot could be zeroed on re-entry before
    # being settled. Here it is settled into the account on every fill, a
    # slot with an open remainder refuses a new ENTER, and after re-entry the
    # account still holds every trade's PnL.
    k = make_kernel()
    _open_position(k, size="1", price="50000")
    x = order_of(k.process_intent(exit_(order_type=OrderType.LIMIT, price=D("51000"))))
    k.on_venue_event(fill(x, "0.2", "51000", "0.2"))
    k.process_intent(cancel())
    out = k.on_venue_event(simple(EventKind.CANCEL_ACK, x, cum=D("0.2")))
    assert out.state is TradeStage.POSITION_OPEN and k.slot(0).size == D("0.8")
    assert k.account.realized_pnl == D("200")
    busy = k.process_intent(enter(trade="t2"))
    assert busy.diagnostic_code is KernelDiagnosticCode.SLOT_BUSY
    # the partly filled leg was consumed; the next EXIT takes the last leg = all that remains
    last = order_of(k.process_intent(exit_(ref=D("49000"))))
    assert last.quantity == D("0.8") and last.first_leg == 1
    closed = k.on_venue_event(fill(last, "0.8", "49000", "0.8", kind=EventKind.FILL))
    (rec,) = closed.trade_records
    assert rec.realized_pnl == D("200") - D("800")
    assert k.account.realized_pnl == D("-600")
    reentry = k.process_intent(enter(trade="t2", side=Side.SHORT, price=D("49000")))
    assert reentry.accepted
    assert k.slot(0).realized_pnl == 0  # a fresh trade starts at zero ...
    assert k.account.realized_pnl == D("-600")  # ... and nothing was lost from the account
    assert k.account.capital == D("100000") - D("600")
    assert capital_identity(k)


def test_commands_are_submit_or_cancel_with_the_full_order() -> None:
    k = make_kernel()
    out = k.process_intent(enter(asset="ETH-USDT", size=D("2"), price=D("3000.005")))
    (cmd,) = out.commands
    assert isinstance(cmd, SubmitOrder)
    o = cmd.order
    assert (
        o.asset,
        o.side.value,
        o.quantity,
        o.order_type,
        o.limit_price,
        o.reduce_only,
        o.purpose.value,
    ) == (
        "ETH-USDT",
        "BUY",
        D("2"),
        OrderType.LIMIT,
        Decimal("3000.00"),
        False,
        "ENTRY",
    )
    assert len(o.client_order_id) <= 40 and o.client_order_id == o.client_order_id.lower()
