"""One-way accounts net a symbol's positions: the kernel refuses opposite sides there."""

from __future__ import annotations

import json

import pytest

from dita.kernel import Kernel, KernelDiagnosticCode, PositionMode, Side, SnapshotError
from tests.kernel.helpers import INSTRUMENTS, D, enter


def test_one_way_refuses_the_opposite_side_of_a_held_symbol() -> None:
    k = Kernel(slots=3, instruments=INSTRUMENTS, initial_capital=D("1000000"))
    assert k.position_mode is PositionMode.ONE_WAY
    assert k.process_intent(enter(0, trade="a", side=Side.LONG)).accepted
    before = json.dumps(k.snapshot(), sort_keys=True)
    out = k.process_intent(enter(1, trade="b", side=Side.SHORT))
    assert not out.accepted and out.diagnostic_code is KernelDiagnosticCode.OPPOSITE_POSITION
    assert "slot 0" in out.message and "one-way" in out.message
    assert json.dumps(k.snapshot(), sort_keys=True) == before
    # the same side, or another symbol, is fine
    assert k.process_intent(enter(1, trade="c", side=Side.LONG)).accepted
    assert k.process_intent(
        enter(2, trade="d", side=Side.SHORT, asset="ETH-USDT", price=D("3000"))
    ).accepted


def test_hedge_mode_holds_both_sides() -> None:
    k = Kernel(
        slots=2,
        instruments=INSTRUMENTS,
        initial_capital=D("1000000"),
        position_mode=PositionMode.HEDGE,
    )
    assert k.process_intent(enter(0, trade="a", side=Side.LONG)).accepted
    assert k.process_intent(enter(1, trade="b", side=Side.SHORT)).accepted
    snap = k.snapshot()
    assert snap["position_mode"] == "HEDGE"
    assert Kernel.restore(snap, instruments=INSTRUMENTS).snapshot() == snap
    # the same state claimed to be one-way is refused on restore
    snap["position_mode"] = "ONE_WAY"
    with pytest.raises(SnapshotError, match="one-way position mode cannot hold"):
        Kernel.restore(snap, instruments=INSTRUMENTS)
    snap["position_mode"] = "NETTED"
    with pytest.raises(SnapshotError, match="position_mode"):
        Kernel.restore(snap, instruments=INSTRUMENTS)
