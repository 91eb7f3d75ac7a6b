"""The legacy bridge converts LegacyIntent losslessly or refuses (flaw 6)."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dita.kernel import Action, Cancel, Enter, Exit, OrderType, Side
from dita.legacy import LegacyConversionError, LegacyIntent, to_kernel_intent, to_legacy


def test_every_field_arrives() -> None:
    legacy = LegacyIntent(
        timestamp=datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
        trade_id="t-9",
        decision_id="dec-1",
        asset="BTC-USDT",
        action="EXIT",
        side="LONG",
        reason="take profit",
        target_size=0.25,
        leverage=3,
        reference_price=64000.5,
        confidence=0.75,
        bars_held=12,
        exit_leg_ratios=(0.3, 0.7),
        metadata={"model": "m7"},
        order_type="LIMIT",
        limit_price=64100.1,
    )
    k = to_kernel_intent(legacy, slot_id=3)
    assert isinstance(k, Exit)
    assert k.intent_id == "dec-1" and k.slot_id == 3 and k.ts == 1767323045678
    assert (k.action, k.order_type) == (Action.EXIT, OrderType.LIMIT)
    assert (k.size, k.limit_price, k.reference_price) == (
        Decimal("0.25"),
        Decimal("64100.1"),
        Decimal("64000.5"),
    )
    assert k.metadata == {"model": "m7", "confidence": "0.75", "bars_held": 12}
    assert k.reason == "take profit"
    assert to_kernel_intent(to_legacy(k), slot_id=3) == k
    # an ENTER takes the fields an EXIT leaves out (side, leverage, leg ratios)
    e = to_kernel_intent(dataclasses.replace(legacy, action="ENTER"), slot_id=3)
    assert isinstance(e, Enter)
    assert (e.side, e.leverage) == (Side.LONG, Decimal(3))
    assert e.exit_leg_ratios == (Decimal("0.3"), Decimal("0.7"))
    assert to_kernel_intent(to_legacy(e), slot_id=3) == e


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"target_size": math.nan}, "target_size"),
        ({"limit_price": math.inf, "order_type": "LIMIT"}, "limit_price"),
        ({"action": "HOLD"}, "action"),
        ({"side": "UP"}, "side"),
        ({"order_type": "STOP"}, "order_type"),
        ({"limit_price": 1.5}, "MARKET with limit_price"),
        ({"order_type": "LIMIT"}, "LIMIT without limit_price"),
        ({"metadata": {"confidence": 1}}, "overwritten"),
        ({"timestamp": datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC)}, "sub-millisecond"),
        ({"timestamp": datetime(2026, 1, 1)}, "naive"),
        ({"timestamp": 1.0000001}, "sub-millisecond"),
        ({"bars_held": 1.5}, "bars_held"),
        ({"leverage": True}, "bool"),
    ],
)
def test_lossy_conversions_are_errors(change: dict[str, object], needle: str) -> None:
    base: dict[str, object] = dict(
        timestamp=1,
        trade_id="t",
        decision_id="d",
        asset="BTC-USDT",
        action="ENTER",
        side="LONG",
        target_size=1.0,
    )
    base.update(change)
    with pytest.raises(LegacyConversionError, match=needle):
        to_kernel_intent(LegacyIntent(**base), slot_id=0)  # type: ignore[arg-type]


finite = st.floats(allow_nan=False, allow_infinity=False, min_value=1e-8, max_value=1e9)


@given(
    size=finite,
    ref=st.none() | finite,
    limit=st.none() | finite,
    conf=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    action=st.sampled_from(["ENTER", "EXIT", "CANCEL"]),
    side=st.sampled_from(["LONG", "SHORT", "FLAT"]),
    ts=st.integers(min_value=0, max_value=2**45),
)
def test_round_trip_is_lossless(
    size: float,
    ref: float | None,
    limit: float | None,
    conf: float | None,
    action: str,
    side: str,
    ts: int,
) -> None:
    legacy = LegacyIntent(
        timestamp=ts,
        trade_id="t",
        decision_id="d",
        asset="BTC-USDT",
        action=action,
        side=side,
        target_size=size,
        reference_price=ref,
        confidence=conf,
        bars_held=3,
        order_type="LIMIT" if limit is not None else "MARKET",
        limit_price=limit,
    )
    k = to_kernel_intent(legacy, slot_id=1)
    # each float comes back as exactly the same float
    if not isinstance(k, Cancel):
        assert float(k.size) == size  # type: ignore[arg-type]
        if limit is not None:
            assert float(k.limit_price) == limit  # type: ignore[arg-type]
    if conf is not None:
        assert float(k.metadata["confidence"]) == conf
    assert to_kernel_intent(to_legacy(k), slot_id=1) == k
