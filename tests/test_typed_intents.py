"""A str where an enum belongs, or a float where a Decimal belongs, cannot reach the kernel: it is
refused where an intent is decoded, naming the field (issue 14): the checking ``KernelIntent``
constructor, the JSONL intent reader and the journal. Each action is its own type, and the
journal stores intents in the flat form it always had, so records written before the split
read back."""

from __future__ import annotations

import json
from decimal import Decimal as D
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dita import codec
from dita.app.rerun import _same_intent
from dita.journal.records import RecordKind, decode_body, encode_body
from dita.kernel import (
    Action,
    Cancel,
    Enter,
    Exit,
    IntentError,
    Kernel,
    KernelDiagnosticCode,
    KernelIntent,
    OrderType,
    Side,
)
from dita.policy import PolicyError, parse_intent_lines
from tests.kernel.helpers import INSTRUMENTS

GOOD: dict[str, Any] = {
    "intent_id": "i1",
    "ts": 1_000,
    "slot_id": 0,
    "action": Action.ENTER,
    "trade_id": "t1",
    "asset": "BTC-USDT",
    "side": Side.LONG,
    "size": D("0.010"),
    "order_type": OrderType.LIMIT,
    "limit_price": D("50000.0"),
}

WRONG_TYPES = [
    ("side", "LONG"),
    ("side", "SHORT"),
    ("order_type", "LIMIT"),
    ("action", "ENTER"),
    ("size", 1.5),
    ("size", 1.0),  # an int written as a float
    ("size", 1),
    ("limit_price", 50000),
    ("leverage", 2.0),
    ("exit_leg_ratios", (1.0,)),
    ("reference_price", "50000"),
    ("slot_id", True),
    ("ts", 1000.0),
    ("trade_id", 7),
]


# -- the constructor -------------------------------------------------------------------------


def test_each_action_is_its_own_type_with_only_its_fields() -> None:
    enter = KernelIntent(**GOOD)
    assert type(enter) is Enter and enter.action is Action.ENTER
    exit_ = KernelIntent("i2", 1, 0, Action.EXIT, trade_id="t1", size=D("0.005"))
    assert type(exit_) is Exit and exit_.action is Action.EXIT
    cancel = KernelIntent("i3", 1, 0, Action.CANCEL, "t1", "BTC-USDT")  # positional, as before
    assert type(cancel) is Cancel and cancel.trade_id == "t1"
    assert all(isinstance(x, KernelIntent) for x in (enter, exit_, cancel))
    assert "side" not in Exit.__struct_fields__ and "asset" not in Cancel.__struct_fields__
    match exit_:
        case Exit(size=size):
            assert size == D("0.005")
        case _:
            pytest.fail("an EXIT is an Exit")


@pytest.mark.parametrize(("field", "value"), WRONG_TYPES)
def test_the_constructor_refuses_a_wrong_type_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(IntentError) as e:
        KernelIntent(**(GOOD | {field: value}))
    assert e.value.field == field and field in str(e.value)
    if field != "action":  # the subclasses check too
        kw = {k: v for k, v in GOOD.items() if k != "action"}
        with pytest.raises(IntentError, match=field):
            Enter(**(kw | {field: value}))


def test_a_wrong_type_in_a_field_the_action_does_not_read_is_refused_too() -> None:
    with pytest.raises(IntentError) as e:
        KernelIntent("i", 1, 0, Action.EXIT, side="LONG")  # type: ignore[arg-type]
    assert e.value.field == "side"
    assert KernelIntent("i", 1, 0, Action.EXIT, side=Side.LONG) == Exit("i", 1, 0)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"size": D("NaN")}, KernelDiagnosticCode.INVALID_SIZE),
        ({"size": None}, KernelDiagnosticCode.INVALID_SIZE),
        ({"side": None}, KernelDiagnosticCode.INVALID_SIDE),
        ({"limit_price": D("Infinity")}, KernelDiagnosticCode.INVALID_PRICE),
        ({"slot_id": 9}, KernelDiagnosticCode.UNKNOWN_SLOT),
        ({"ts": -1}, KernelDiagnosticCode.INVALID_TS),
    ],
)
def test_a_value_of_the_right_type_is_still_the_kernels_to_refuse(
    change: dict[str, Any], code: KernelDiagnosticCode
) -> None:
    k = Kernel(slots=1, instruments=INSTRUMENTS, initial_capital=D(100_000))
    out = k.process_intent(KernelIntent(**(GOOD | change)))
    assert not out.accepted and out.diagnostic_code is code and out.message


# -- the JSONL reader --------------------------------------------------------------------------


def _line(**change: Any) -> str:
    obj = {"intent_id": "i1", "ts": 1000, "slot_id": 0, "action": "ENTER", "trade_id": "t1",
           "asset": "BTC-USDT", "side": "LONG", "size": "0.010", "order_type": "LIMIT",
           "limit_price": "50000.0"}  # fmt: skip
    obj.update(change)
    return json.dumps(obj)


def test_a_jsonl_line_decodes_into_its_actions_type() -> None:
    [it] = parse_intent_lines([_line()], "in.jsonl")
    assert type(it) is Enter and it.side is Side.LONG and it.size == D("0.010")
    [x] = parse_intent_lines([_line(action="EXIT", side=None, size=None)], "in.jsonl")
    assert type(x) is Exit


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"size": 1.5}, "size"),
        ({"size": 1}, "size"),
        ({"limit_price": 50000.0}, "limit_price"),
        ({"exit_leg_ratios": [0.5, 0.5]}, "exit_leg_ratios"),
        ({"leverage": 2}, "leverage"),
        ({"side": "UP"}, "side"),
        ({"side": "long"}, "side"),
        ({"action": "EXIT", "side": "UP"}, "side"),  # a field EXIT leaves out is checked too
        ({"action": "CANCEL", "leverage": 2.0}, "leverage"),
        ({"order_type": "STOP"}, "order_type"),
        ({"action": "OPEN"}, "action"),
        ({"slot_id": True}, "slot_id"),
        ({"ts": 1000.5}, "ts"),
        ({"metadata": {"x": 0.5}}, "metadata"),
    ],
)
def test_the_jsonl_reader_refuses_a_wrong_type_naming_the_field(
    change: dict[str, Any], field: str
) -> None:
    with pytest.raises(PolicyError, match=rf"in\.jsonl:1: .*{field}"):
        parse_intent_lines([_line(**change)], "in.jsonl")


# -- the journal -------------------------------------------------------------------------------

# Recorded: encode_body(KernelIntent(...))[1] as dita wrote it before intents were split,
# by main at 871156a (schema 2): a LIMIT entry, a refused ENTER with null side and size, an
# EXIT carrying an ENTER's side, leverage and leg ratios (the legacy bridge filled them in),
# a CANCEL naming its asset, and an EXIT with a NaN size (refused by the kernel, journaled).
V2_ROWS = [
    '{"intent_id":"in1","ts":1000,"slot_id":0,"action":"ENTER","trade_id":"t1","asset":"BTC-USDT","side":"LONG","size":"0.010","order_type":"LIMIT","limit_price":"42300.0","leverage":"2","exit_leg_ratios":["0.5","0.5"],"reference_price":null,"reason":"cross","metadata":{"k":[1,"a"]}}',
    '{"intent_id":"in2","ts":1001,"slot_id":1,"action":"ENTER","trade_id":"t2","asset":"BTC-USDT","side":null,"size":null,"order_type":"MARKET","limit_price":null,"leverage":"1","exit_leg_ratios":["1"],"reference_price":null,"reason":"","metadata":{}}',
    '{"intent_id":"in3","ts":1002,"slot_id":0,"action":"EXIT","trade_id":"t1","asset":"BTC-USDT","side":"LONG","size":null,"order_type":"MARKET","limit_price":null,"leverage":"3","exit_leg_ratios":["0.3","0.7"],"reference_price":"42500","reason":"","metadata":{}}',
    '{"intent_id":"in4","ts":1003,"slot_id":0,"action":"CANCEL","trade_id":"t1","asset":"BTC-USDT","side":null,"size":null,"order_type":"MARKET","limit_price":null,"leverage":"1","exit_leg_ratios":["1"],"reference_price":null,"reason":"","metadata":{}}',
    '{"intent_id":"in5","ts":1004,"slot_id":0,"action":"EXIT","trade_id":"","asset":"","side":null,"size":"NaN","order_type":"MARKET","limit_price":null,"leverage":"1","exit_leg_ratios":["1"],"reference_price":null,"reason":"","metadata":{}}',
]  # fmt: skip


def test_records_written_before_the_split_still_decode() -> None:
    e1, e2, x3, c4, x5 = (decode_body(RecordKind.INTENT, row) for row in V2_ROWS)
    assert e1 == Enter(
        "in1", 1000, 0, "t1", "cross", {"k": [1, "a"]}, asset="BTC-USDT", side=Side.LONG,
        size=D("0.010"), order_type=OrderType.LIMIT, limit_price=D("42300.0"), leverage=D(2),
        exit_leg_ratios=(D("0.5"), D("0.5")),
    )  # fmt: skip
    assert type(e2) is Enter and e2.side is None and e2.size is None
    assert x3 == Exit("in3", 1002, 0, "t1", asset="BTC-USDT", reference_price=D("42500"))
    assert c4 == Cancel("in4", 1003, 0, "t1")
    assert type(x5) is Exit and x5.size is not None and x5.size.is_nan()
    # the stored form is unchanged: what an intent encodes to now is byte for byte the row
    for row, body in zip(V2_ROWS, (e1, e2, x3, c4, x5), strict=True):
        if body.intent_id not in ("in3", "in4"):  # those hold fields their action leaves out
            assert encode_body(body)[1] == row.encode()


def test_resuming_over_an_old_row_with_an_unused_field_compares_what_the_kernel_reads() -> None:
    again = KernelIntent("in3", 1002, 0, Action.EXIT, "t1", "BTC-USDT", reference_price=D("42500"))
    assert encode_body(again)[1] != V2_ROWS[2].encode()
    assert _same_intent(RecordKind.INTENT, again, (3, "intent", 1002), (3, 1002), V2_ROWS[2])
    other = msgspec.structs.replace(again, reference_price=D("42501"))
    assert not _same_intent(RecordKind.INTENT, other, (3, "intent", 1002), (3, 1002), V2_ROWS[2])


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("size", 0.01),
        ("size", 1),
        ("leverage", 2),
        ("limit_price", 42300.0),
        ("exit_leg_ratios", [0.5, 0.5]),
        ("side", "UP"),
        ("order_type", "STOP"),
        ("action", "OPEN"),
        ("slot_id", True),
        ("ts", 1000.0),
    ],
)
def test_a_tampered_journal_record_is_refused_naming_the_field(key: str, value: Any) -> None:
    row = json.loads(V2_ROWS[0])
    row[key] = value
    with pytest.raises(msgspec.ValidationError, match=key):
        decode_body(RecordKind.INTENT, json.dumps(row, separators=(",", ":")))


decimals = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(min_value=-(10**12), max_value=10**12, places=8),
    st.sampled_from([D("0"), D("-0"), D("0E-8"), D("1E+3"), D("0.10"), D("-Infinity")]),
)
opt = st.none() | decimals
text = st.text(max_size=12)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), text)
metadata = st.dictionaries(text, scalars | st.lists(scalars, max_size=3), max_size=3)
head: dict[str, st.SearchStrategy[Any]] = dict(
    intent_id=text, ts=st.integers(0, 2**53), slot_id=st.integers(-5, 50), trade_id=text,
    reason=text, metadata=metadata,
)  # fmt: skip
orders: dict[str, st.SearchStrategy[Any]] = dict(
    asset=text, size=opt, order_type=st.sampled_from(OrderType), limit_price=opt,
    reference_price=opt,
)  # fmt: skip
intents = st.one_of(
    st.builds(
        Enter, **head, **orders, side=st.none() | st.sampled_from(Side), leverage=decimals,
        exit_leg_ratios=st.lists(decimals, max_size=4).map(tuple),
    ),
    st.builds(Exit, **head, **orders),
    st.builds(Cancel, **head),
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(intent=intents)
def test_any_valid_intent_round_trips_the_journal_exactly(intent: KernelIntent) -> None:
    kind, payload = encode_body(intent)
    back = decode_body(kind, payload)
    assert type(back) is type(intent)
    assert repr(back) == repr(intent)  # Decimal exponents, NaN and -0 included
    assert encode_body(back)[1] == payload
    assert codec.encode(back) == codec.encode(intent)
