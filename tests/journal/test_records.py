"""Every record kind goes into a real SQLite journal and comes back exactly as it went in."""

from __future__ import annotations

import tempfile
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dita import codec
from dita.journal import (
    Adjustment,
    EngineNote,
    OutcomeRecord,
    RecordKind,
    RecordRejected,
    SnapshotRecord,
    SqliteJournal,
    Synchronous,
)
from dita.journal.records import RecordBody
from dita.kernel import (
    Action,
    CancelOrder,
    EventKind,
    ExitFill,
    KernelDiagnosticCode,
    KernelIntent,
    KernelOutcome,
    LedgerDelta,
    Order,
    OrderPurpose,
    OrderSide,
    OrderStatus,
    OrderType,
    Side,
    SubmitOrder,
    TradeRecord,
    TradeStage,
    Transition,
    VenueEvent,
)
from dita.kernel.model import FlatIntent

from .conftest import RUN, new_kernel


def same(a: object, b: object) -> bool:
    """Equal down to Decimal exponents and container types (NaN-safe): repr and bytes agree."""
    return repr(a) == repr(b) and codec.encode(a) == codec.encode(b)


def order(status: OrderStatus = OrderStatus.REQUESTED) -> Order:
    return Order(
        client_order_id="dt-0123456789-0-e-0", venue_order_id="", slot_id=0, trade_id="t1",
        asset="BTC-USDT", side=OrderSide.BUY, order_type=OrderType.LIMIT, quantity=D("1.000"),
        limit_price=D("100.0"), reduce_only=False, purpose=OrderPurpose.ENTRY, status=status,
        filled_qty=D("0"), filled_cost=D("0"), fees=D("0"), acked=False, first_leg=-1, last_leg=-1,
    )  # fmt: skip


TRADE = TradeRecord(
    trade_id="t1", slot_id=0, asset="BTC-USDT", side=Side.LONG, entry_qty=D("1.000"),
    entry_cost=D("100.00"), exit_qty=D("1.000"), exit_proceeds=D("110.65"),
    exits=(ExitFill("x0", D("0.5"), D("55.0")), ExitFill("x1", D("0.500"), D("55.65"))),
    realized_pnl=D("10.65"), fees=D("0.074"), funding=D("-0.05"), opened_ts=1001, closed_ts=1010,
)  # fmt: skip

OUTCOME = KernelOutcome(
    accepted=True,
    diagnostic_code=KernelDiagnosticCode.OK,
    slot_id=0,
    state=TradeStage.CLOSED,
    transitions=(Transition(0, TradeStage.EXIT_WORKING, TradeStage.CLOSED, "FILL"),),
    commands=(SubmitOrder(order()), CancelOrder(order(OrderStatus.PENDING_CANCEL))),
    ledger=LedgerDelta(D("10.65"), D("0.006"), D("-0.05")),
    trade_records=(TRADE,),
    message="closed",
)

EVERY_KIND: dict[RecordKind, RecordBody] = {
    RecordKind.RUN: RUN,
    RecordKind.INTENT: KernelIntent(
        "i1",
        5,
        0,
        Action.ENTER,
        trade_id="t1",
        asset="BTC-USDT",
        side=Side.LONG,
        size=D("1.000"),
        order_type=OrderType.LIMIT,
        limit_price=D("1E+2"),
        exit_leg_ratios=(D("0.5"), D("0.50")),
        metadata={"confidence": 0.7, "bars_held": 3},
    ),
    RecordKind.VENUE_EVENT: VenueEvent(
        "e1", 6, EventKind.PARTIAL_FILL, "dt-x", "v1", D("0.4"), D("100.0"), D("0.4"), D("0.02")
    ),
    RecordKind.OUTCOME: OutcomeRecord(3, OUTCOME),
    RecordKind.SNAPSHOT: SnapshotRecord(3, new_kernel().snapshot()),
    RecordKind.NOTE: EngineNote("start", "engine started", {"pid": 1234, "version": "0.1.0"}),
    RecordKind.ADJUSTMENT: Adjustment(
        "adj-BTC-USDT-position-7",
        "position",
        asset="BTC-USDT",
        slot_id=0,
        kernel_value=D("0.5"),
        venue_value=D("0.500"),
        action="recorded",
        reason="venue differs",
    ),
}


def test_every_record_kind_round_trips_through_a_real_file(jpath: Path) -> None:
    assert set(EVERY_KIND) == set(RecordKind), "a kind without a round-trip case"
    with SqliteJournal.open(jpath) as j:
        seqs = {
            kind: j.append(body, ts=10 + n) for n, (kind, body) in enumerate(EVERY_KIND.items())
        }
        j.commit()
    with SqliteJournal.open(jpath) as j:
        for kind, seq in seqs.items():
            rec = j.get(seq)
            assert rec.kind is kind
            assert same(rec.body, EVERY_KIND[kind]), kind
            assert rec.body == EVERY_KIND[kind]


def test_outcome_commands_keep_their_type(jpath: Path) -> None:
    # SubmitOrder and CancelOrder have the same JSON shape; the journal must not confuse them.
    with SqliteJournal.open(jpath) as j:
        j.append(OutcomeRecord(1, OUTCOME), ts=1)
        j.commit()
        body = j.get(1).body
    assert isinstance(body, OutcomeRecord)
    assert [type(c) for c in body.outcome.commands] == [SubmitOrder, CancelOrder]


def test_payload_is_plain_json_with_decimals_as_strings(jpath: Path) -> None:
    with SqliteJournal.open(jpath) as j:
        j.append(EVERY_KIND[RecordKind.VENUE_EVENT], ts=1)
        j.commit()
        [(kind, price)] = j.execute(
            "SELECT kind, json_extract(payload, '$.last_price') FROM records WHERE seq = 1"
        )
    assert (kind, price) == ("venue_event", "100.0")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        # built around the checking constructor (msgspec's replace): the journal refuses too
        (msgspec.structs.replace(KernelIntent("i", 1, 0, Action.ENTER), size=0.1), "size"),
        (KernelIntent("i", 1, 0, Action.ENTER, metadata={"x": object()}), "cannot be encoded"),
        (KernelIntent("i", 1, 0, Action.ENTER, metadata={"x": D("1.5")}), "JSON-native"),
        (KernelIntent("i", 1, 0, Action.ENTER, metadata={"x": (1, 2)}), "JSON-native"),
        (KernelIntent("i", 1, 0, Action.ENTER, metadata={"x": float("nan")}), "JSON-native"),
        (VenueEvent("e", 1, EventKind.FILL, cum_qty=float("nan")), "cum_qty"),  # type: ignore[arg-type]
        ("not a record", "not a journal record body"),
    ],
)
def test_unfaithful_bodies_are_refused_and_nothing_is_buffered(
    jpath: Path, body: Any, fragment: str
) -> None:
    # A float where a Decimal belongs would come back as a different value on replay.
    with SqliteJournal.open(jpath) as j:
        with pytest.raises(RecordRejected, match=fragment):
            j.append(body, ts=1)
        assert j.pending == 0
        assert j.append(EngineNote("after"), ts=2) == 1  # the refused body took no seq


def test_ts_must_be_integer_milliseconds(jpath: Path) -> None:
    with SqliteJournal.open(jpath) as j, pytest.raises(RecordRejected, match="epoch milliseconds"):
        j.append(EngineNote("x"), ts=1.5)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- hypothesis

decimals = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(min_value=-(10**12), max_value=10**12, places=8),
    st.sampled_from([D("0"), D("-0"), D("0E-8"), D("1E+3"), D("0.10"), D("sNaN"), D("-Infinity")]),
)
opt_decimals = st.none() | decimals
text = st.text(max_size=20)
json_scalars: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
)
metadata = st.dictionaries(text, st.recursive(json_scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(text, c, max_size=3), max_leaves=6), max_size=4)  # fmt: skip
ts = st.integers(0, 2**53)

intents = st.builds(
    KernelIntent,
    intent_id=text, ts=ts, slot_id=st.integers(-5, 50), action=st.sampled_from(Action),
    trade_id=text, asset=text, side=st.none() | st.sampled_from(Side), size=opt_decimals,
    order_type=st.sampled_from(OrderType), limit_price=opt_decimals, leverage=decimals,
    exit_leg_ratios=st.lists(decimals, max_size=4).map(tuple), reference_price=opt_decimals,
    reason=text, metadata=metadata,
)  # fmt: skip
events = st.builds(
    VenueEvent,
    event_id=text, ts=ts, kind=st.sampled_from(EventKind), client_order_id=text,
    venue_order_id=text, last_qty=opt_decimals, last_price=opt_decimals, cum_qty=opt_decimals,
    fee=decimals, reason=text, asset=text, amount=opt_decimals,
)  # fmt: skip


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(bodies=st.lists(intents | events, min_size=1, max_size=8))
def test_intents_and_events_round_trip_exactly(bodies: list[KernelIntent | VenueEvent]) -> None:
    # what is tested is the encoding, not durability: no fsync per example
    with (
        tempfile.TemporaryDirectory() as d,
        SqliteJournal.open(Path(d) / "h.journal", synchronous=Synchronous.OFF) as j,
    ):
        seqs = [j.append(b, ts=b.ts) for b in bodies]
        assert j.commit() == len(bodies)
        back = [r.body for r in j.read_from(1)]
        assert [r.seq for r in j.read_from(1)] == seqs == list(range(1, len(bodies) + 1))
    for a, b in zip(bodies, back, strict=True):
        assert same(a, b), (a, b)


# The fast check (plainly_faithful) skips the decode-and-re-encode for exactly-typed inputs; it
# must never accept a body the full round trip would refuse or change.
odd = st.one_of(
    st.floats(), st.booleans(), st.integers(), st.text(max_size=3), st.sampled_from(Side),
    st.just((D(1), 0.5)), st.just({"k": D(1)}),
)  # fmt: skip


def _spoiled(body: KernelIntent | VenueEvent, name: str, value: Any) -> Any:
    import dataclasses

    return dataclasses.replace(body, **{name: value})


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    body=intents | events,
    spoil=st.none() | st.tuples(st.integers(0, 14), odd),
)
def test_the_fast_check_accepts_only_what_the_full_round_trip_keeps(
    body: KernelIntent | VenueEvent, spoil: tuple[int, Any] | None
) -> None:
    import dataclasses

    from dita.journal import records

    if isinstance(body, KernelIntent):
        body = records._intent_to_wire(body)  # what the journal checks: the flat wire form
    if spoil is not None:
        names = [f.name for f in dataclasses.fields(body)]
        body = _spoiled(body, names[spoil[0] % len(names)], spoil[1])
    if not records.plainly_faithful(body):
        return
    payload = codec.encode(body)
    back = codec.decode(payload, type(body))
    assert same(back, body), (body, back)
    assert codec.encode(back) == payload
    assert all(type(getattr(back, f.name)) is type(getattr(body, f.name))  # enums stay enums
               for f in dataclasses.fields(body))  # fmt: skip


@pytest.mark.parametrize(
    "body",
    [
        FlatIntent("i", 1, 0, Action.ENTER, size=0.1),  # type: ignore[arg-type]
        FlatIntent("i", True, 0, Action.ENTER),
        FlatIntent("i", 1, 0, "ENTER"),  # type: ignore[arg-type]
        FlatIntent("i", 1, 0, Action.ENTER, size=D("NaN")),
        FlatIntent("i", 2**64, 0, Action.ENTER),
        FlatIntent("i", 1, 0, Action.ENTER, metadata={"x": 1}),
        FlatIntent("i", 1, 0, Action.ENTER, exit_leg_ratios=[D(1)]),  # type: ignore[arg-type]
        VenueEvent("e", 1, EventKind.FILL, cum_qty=float("nan")),  # type: ignore[arg-type]
    ],
)
def test_the_fast_check_leaves_anything_unusual_to_the_full_round_trip(body: Any) -> None:
    from dita.journal import records

    assert not records.plainly_faithful(body)
    assert records.plainly_faithful(FlatIntent("i", 1, 0, Action.ENTER, size=D("0.100")))
