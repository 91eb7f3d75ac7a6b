"""Loading policies by name, and JSONL intents from any language."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dita import codec
from dita.app.runner import default_instrument
from dita.kernel import Action, Kernel, KernelIntent, OrderType, Side
from dita.marketdata import Bar
from dita.policies.demo import DemoPolicy
from dita.policy import (
    JsonlIntents,
    NullPolicy,
    PolicyError,
    PolicyView,
    load_policy,
    parse_intent_lines,
)

ENTER = (
    '{"intent_id":"i1","ts":1704067259999,"slot_id":0,"action":"ENTER","trade_id":"t1",'
    '"asset":"BTC-USDT","side":"LONG","size":"0.010","order_type":"LIMIT",'
    '"limit_price":"42300.0","exit_leg_ratios":["0.5","0.5"]}'
)


def test_load_policy_instantiates_a_class() -> None:
    assert isinstance(load_policy("dita.policies.demo:DemoPolicy"), DemoPolicy)


def test_load_policy_accepts_an_instance() -> None:
    assert isinstance(load_policy("tests.engine.test_policy:NULL"), NullPolicy)


NULL = NullPolicy()
NOT_A_POLICY = 42


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nosuchmodule:Policy", "policy 'nosuchmodule:Policy': no module named 'nosuchmodule'"),
        ("dita.policies.demo:Nope", "module 'dita.policies.demo' has no attribute 'Nope'"),
        ("dita.policies.demo", "expected 'module:attr'"),
        ("tests.engine.test_policy:NOT_A_POLICY", "int has no on_bar(bar, view) and on_outcome"),
    ],
)
def test_load_policy_errors_say_what_and_where(spec: str, message: str) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(spec)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_jsonl_intent_decodes_decimals_from_strings_exactly() -> None:
    [intent] = parse_intent_lines([ENTER], "x.jsonl")
    assert intent.action is Action.ENTER and intent.side is Side.LONG
    assert intent.order_type is OrderType.LIMIT
    assert intent.size == Decimal("0.010") and str(intent.size) == "0.010"
    assert intent.limit_price == Decimal("42300.0")
    assert intent.exit_leg_ratios == (Decimal("0.5"), Decimal("0.5"))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            '{"intent_id":"i2","ts":1,"slot_id":0,"action":"ENTER","size":0.01}',
            "x.jsonl:3: number 0.01 must be a string",
        ),
        (
            '{"intent_id":"i2","ts":1,"slot_id":0,"action":"JUMP"}',
            "x.jsonl:3: bad intent: Invalid enum value 'JUMP'",
        ),
        (
            '{"intent_id":"i2","slot_id":0,"action":"ENTER"}',
            "x.jsonl:3: bad intent: Object missing required field `ts`",
        ),
        ("not json", "x.jsonl:3: bad intent"),
        (
            '{"intent_id":"i2","ts":5,"slot_id":0,"action":"CANCEL"}',
            "x.jsonl:3: ts 5 is before the previous line's 1704067259999",
        ),
    ],
)
def test_a_bad_jsonl_line_is_named_by_file_and_line(line: str, message: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_intent_lines([ENTER, "# comment", line], "x.jsonl")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_jsonl_intents_are_delivered_at_the_first_bar_that_reaches_their_ts(tmp_path: Path) -> None:
    path = tmp_path / "i.jsonl"
    path.write_text(
        ENTER
        + "\n"
        + ENTER.replace('"i1"', '"i2"').replace("1704067259999", "1704067319999")
        + "\n"
    )
    src = JsonlIntents.read(path)
    view = PolicyView(Kernel(1, [default_instrument()], Decimal(1000)))

    def bar(close_ts: int) -> Bar:
        one = Decimal(1)
        return Bar("BTC-USDT", close_ts - 59_999, one, one, one, one, one, close_ts)

    assert [i.intent_id for i in src.on_bar(bar(1704067259999), view)] == ["i1"]
    assert [i.intent_id for i in src.on_bar(bar(1704067319999), view)] == ["i2"]
    assert list(src.on_bar(bar(1704067379999), view)) == []


def test_jsonl_from_a_stream_and_a_missing_file() -> None:
    assert len(JsonlIntents.read(io.StringIO(ENTER + "\n"), "<stdin>")) == 1
    with pytest.raises(PolicyError, match=r"nope\.jsonl: no such intents file"):
        JsonlIntents.read("nope.jsonl")


_decimals = st.decimals(
    allow_nan=False, allow_infinity=False, places=6, min_value=-(10**9), max_value=10**9
)


@given(
    intents=st.lists(
        st.builds(
            KernelIntent,
            intent_id=st.text(min_size=1, max_size=12),
            ts=st.integers(min_value=0, max_value=2**53),
            slot_id=st.integers(min_value=-1, max_value=8),
            action=st.sampled_from(Action),
            trade_id=st.text(max_size=12),
            asset=st.sampled_from(["BTC-USDT", "ETH-USDT", ""]),
            side=st.none() | st.sampled_from(Side),
            size=st.none() | _decimals,
            order_type=st.sampled_from(OrderType),
            limit_price=st.none() | _decimals,
            leverage=_decimals,
            exit_leg_ratios=st.lists(_decimals, min_size=1, max_size=3).map(tuple),
            reference_price=st.none() | _decimals,
            reason=st.text(max_size=20),
            metadata=st.dictionaries(
                st.text(max_size=5), st.text(max_size=5) | st.integers(), max_size=3
            ),
        ),
        max_size=5,
    )
)
def test_what_dita_writes_as_jsonl_reads_back_exactly(intents: list[KernelIntent]) -> None:
    # a policy in another language that writes what dita's codec writes is read exactly
    ordered = sorted(intents, key=lambda i: i.ts)
    lines = [codec.encode(i).decode() for i in ordered]
    back = parse_intent_lines(lines, "p.jsonl")
    assert back == ordered

    def sizes(xs: list[KernelIntent]) -> list[str]:  # only an ENTER has a size
        return [str(getattr(x, "size", None)) for x in xs]

    assert sizes(back) == sizes(ordered)  # "1.50" stays "1.50"
