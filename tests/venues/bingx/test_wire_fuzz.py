"""Issue 11, BingX wire: whatever the bytes, the readers return or raise ``WireError``, and
absurd values (NaN/Infinity, negative prices and quantities, absurd exponents) are refused.

Payloads are the recorded corpus (``recorded/``) with values replaced at random
places by hypothesis, plus raw garbage. ``readers.read`` is the same entry point
``bench/fuzz.py`` uses.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dita.venues.bingx import parse, wire
from dita.venues.bingx.readers import KINDS, read
from dita.venues.bingx.wire import WireError

HERE = Path(__file__).parent / "recorded"


def _corpus() -> list[tuple[str, Any]]:
    out = []
    for path in sorted(HERE.glob("*.json")):
        lines = path.with_suffix(".source").read_text(encoding="utf-8").splitlines()
        kind = dict(line.partition(": ")[::2] for line in lines)["decoder"]
        if kind in KINDS and path.read_bytes().strip():
            out.append((kind, json.loads(path.read_bytes())))
    return out


CORPUS = _corpus()

ABSURD_NUMBER_TEXT = st.sampled_from(
    [
        "NaN", "nan", "-NaN", "sNaN", "Infinity", "-Infinity", "inf", "1e999999",
        "-1e999999", "1e-999999", "9" * 5000, "0." + "0" * 4000 + "1", "1e309", "-0",
        "1E+99999999999", "0x10", "1_000", " 1", "", "--1", "1e", ".", "-", "١٢", "1e20",
        "100000000000000000000", "-5", "-0.0001", "123456789012345678901234567890",
    ]
)  # fmt: skip
JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    ABSURD_NUMBER_TEXT,
)
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*prefix, i))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy


def _only_wire_errors(kind: str, payload: bytes | str) -> object:
    try:
        out = read(kind, payload)
    except WireError as exc:
        # a WireError made from another exception means a reader bug reached the net
        assert exc.__cause__ is None, f"{kind}: {type(exc.__cause__).__name__}: {exc.__cause__}"
        return None
    _check_bounded(out)
    return out


def _check_bounded(value: Any) -> None:
    """Every Decimal a reader hands out is finite and inside parse's bounds."""
    if isinstance(value, Decimal):
        assert value.is_finite() and abs(value) < parse.MAX_ABS, value
        assert value == 0 or value.adjusted() >= parse.MIN_MAGNITUDE_EXP, value
    elif isinstance(value, list | tuple):
        for v in value:
            _check_bounded(v)
    elif hasattr(value, "__dataclass_fields__"):
        for name in value.__dataclass_fields__:
            _check_bounded(getattr(value, name))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_recorded_payloads_raise_only_wire_errors(data: st.DataObject) -> None:
    kind, payload = data.draw(st.sampled_from(CORPUS))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(payload)))
        payload = _replace(payload, path, data.draw(JSON_VALUE))
    text = json.dumps(payload)
    _only_wire_errors(kind, text)


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(KINDS), number=ABSURD_NUMBER_TEXT, data=st.data())
def test_absurd_numbers_anywhere_raise_only_wire_errors(
    kind: str, number: str, data: st.DataObject
) -> None:
    corpus = [p for k, p in CORPUS if k == kind] or [{}]
    payload = data.draw(st.sampled_from(corpus))
    leaves = [p for p in _paths(payload) if p]
    if leaves:
        path = data.draw(st.sampled_from(leaves))
        as_number = data.draw(st.booleans())
        raw = json.dumps(_replace(payload, path, "\x00NUM\x00"))
        # as a JSON number where the text is a valid number literal, else as a string
        literal = number if as_number and _is_json_number(number) else json.dumps(number)
        _only_wire_errors(kind, raw.replace('"\\u0000NUM\\u0000"', literal))


def _is_json_number(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return not text.strip().startswith(('"', "N", "I", "-I", "-N"))


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(KINDS), blob=st.binary(max_size=200) | st.text(max_size=200))
def test_garbage_raises_only_wire_errors(kind: str, blob: bytes | str) -> None:
    _only_wire_errors(kind, blob)


@pytest.mark.parametrize("kind", KINDS)
def test_deep_nesting_is_a_wire_error(kind: str) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    _only_wire_errors(kind, deep)
    _only_wire_errors(kind, '{"code":0,"msg":"","data":' + deep + "}")


# -- absurd values are refused, naming the field ---------------------------------------

BALANCE = '{"code":0,"msg":"","data":[{"asset":"USDT","balance":%s,"availableMargin":"1"}]}'
REST = (
    '{"code":0,"msg":"","data":{"order":{"symbol":"BTC-USDT","orderId":1,"side":"BUY",'
    '"type":"LIMIT","status":"PENDING","origQty":%s,"price":%s,"executedQty":"0"}}}'
)


@pytest.mark.parametrize(
    "value", ['"NaN"', '"Infinity"', '"-Infinity"', "1e999999", '"1e25"', '"1e-40"', '""']
)
def test_absurd_balances_are_refused(value: str) -> None:
    with pytest.raises(WireError, match="balance"):
        read("balance_v3", BALANCE % value)


@pytest.mark.parametrize(
    ("qty", "price", "field"),
    [('"1"', '"-60000"', "price"), ('"-1"', '"60000"', "origQty"), ("1e999999", '"1"', "origQty")],
)
def test_negative_or_absurd_order_numbers_are_refused(qty: str, price: str, field: str) -> None:
    with pytest.raises(WireError, match=field):
        read("order", REST % (qty, price))


def test_numbers_keep_their_exact_text_never_float() -> None:
    # 0.1 and 0.30000000000000004441 as JSON numbers: exactly these decimals
    raw = REST % ("0.30000000000000004441", "0.1")
    report, _ = read("order", raw)  # type: ignore[misc]
    assert report.quantity == Decimal("0.30000000000000004441")
    assert report.limit_price == Decimal("0.1")
    assert parse.dec(wire.Num("-0"), "x") == 0
