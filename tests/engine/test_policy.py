"""Loading policies by name, and JSONL intents from any language."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pytest

from dita.kernel import Action, Kernel, OrderType, Side
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
from dita.runner import default_instrument

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
