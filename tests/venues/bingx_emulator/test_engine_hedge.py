"""The emulator's engine in hedge mode: BingX's hedge rules over the sim's hedge mode.

Synchronous, on ``SimEngine`` itself (the server only adds the protocol around it):
orders name LONG or SHORT, a SELL LONG / BUY SHORT closes (and shows as
reduce-only), ``reduceOnly`` is refused, leverage is per side, and the mode
switches only when the account is flat and idle; answers carry every field the
adapter's wire types declare.
"""

from __future__ import annotations

import json
from decimal import Decimal

import msgspec
import pytest

from dita.venues.bingx import wire
from dita.venues.bingx_emulator import ApiError, Mode
from dita.venues.bingx_emulator.sim_engine import SimEngine

D = Decimal
SYM = "BTC-USDT"


def engine(mode: Mode = Mode.HEDGE) -> SimEngine:
    return SimEngine(lambda: 1_700_000_000_000, mode=mode)


def order(side: str, ps: str, qty: str = "0.01", **extra: str) -> dict[str, str]:
    return {
        "symbol": SYM,
        "side": side,
        "type": "MARKET",
        "quantity": qty,
        "positionSide": ps,
        **extra,
    }


def test_long_and_short_side_by_side_then_a_sell_long_closes_the_long() -> None:
    e = engine()
    e.place(order("BUY", "LONG", "0.02"))
    e.place(order("SELL", "SHORT", "0.01"))
    rows = {r["positionSide"]: r for r in e.positions_data({})}
    assert (rows["LONG"]["positionAmt"], rows["SHORT"]["positionAmt"]) == ("0.02", "0.01")
    assert rows["LONG"]["onlyOnePosition"] is False
    e.set_price(SYM, D("61000.0"))
    closed = e.place(order("SELL", "LONG", "0.02"))["order"]
    assert (closed["positionSide"], closed["reduceOnly"]) == ("LONG", True)
    assert [r["positionSide"] for r in e.positions_data({})] == ["SHORT"]
    frames = [f["o"] for f in e.outbox if f["e"] == "ORDER_TRADE_UPDATE"]
    assert {f["ps"] for f in frames} == {"LONG", "SHORT"}
    # 0.02 * (61000 - 60000) realised on the long, fees at the taker rate on every fill
    fees = D("0.0005") * (D("1200") + D("600") + D("1220"))
    assert D(e.balance_row()["balance"]) == D(10_000) + D(20) - fees


def test_hedge_refusals_carry_bingx_codes() -> None:
    e = engine()
    with pytest.raises(ApiError) as err:
        e.place(order("BUY", "BOTH"))
    assert err.value.code == 109400
    with pytest.raises(ApiError) as err:
        e.place(order("BUY", "LONG", reduceOnly="true"))
    assert err.value.code == 109400
    with pytest.raises(ApiError) as err:
        e.place(order("SELL", "LONG"))  # nothing to close
    assert err.value.code == 101205
    e.place(order("BUY", "LONG"))
    with pytest.raises(ApiError) as err:
        e.place(order("SELL", "LONG", "0.02"))  # more than held
    assert err.value.code == 101290


def test_leverage_is_per_side_and_the_mode_switches_only_when_flat() -> None:
    e = engine(Mode.ONE_WAY)
    assert e.set_mode(True) == {"dualSidePosition": "true"}
    assert e.mode is Mode.HEDGE
    e.set_leverage({"symbol": SYM, "side": "LONG", "leverage": "7"})
    lev = e.get_leverage({"symbol": SYM})
    assert (lev["longLeverage"], lev["shortLeverage"]) == (7, 5)
    with pytest.raises(ApiError) as err:
        e.set_leverage({"symbol": SYM, "side": "BOTH", "leverage": "3"})
    assert err.value.code == 109400
    e.place(order("BUY", "LONG"))
    with pytest.raises(ApiError) as err:
        e.set_mode(False)
    assert err.value.code == 104103
    assert e.mode is Mode.HEDGE
    e.place(order("SELL", "LONG"))
    assert e.set_mode(False) == {"dualSidePosition": "false"}
    assert e.mode is Mode.ONE_WAY


def _declared_and_filled(row: dict[str, object], type_: type[msgspec.Struct]) -> None:
    """``row`` has every field ``type_`` declares, and none of its numbers is blank."""
    names = {f.encode_name for f in msgspec.structs.fields(type_)}
    assert names <= row.keys(), names - row.keys()
    decoded = wire.decode(json.dumps(row, default=str), type_)
    for f in msgspec.structs.fields(type_):
        value = getattr(decoded, f.name)
        assert not (isinstance(value, wire.Num) and value.absent), f.encode_name


def test_answers_carry_every_field_the_adapters_wire_types_declare() -> None:
    e = engine()
    e.place(order("BUY", "LONG", "0.02"))
    e.place(order("SELL", "SHORT", "0.01"))
    for row in e.positions_data({}):
        _declared_and_filled(row, wire.Position)
    _declared_and_filled(e.balance_row(), wire.Balance)
    for c in e.contracts_data(None):
        _declared_and_filled(c, wire.Contract)
    kinds = set()
    for frame in e.outbox:
        kinds.add(frame["e"])
        if frame["e"] == "ORDER_TRADE_UPDATE":
            _declared_and_filled(frame["o"], wire.OrderUpdate)
        elif frame["e"] == "ACCOUNT_UPDATE":
            _declared_and_filled(frame["a"]["B"][0], wire.AccountBalance)
            _declared_and_filled(frame["a"]["P"][0], wire.AccountPosition)
    assert kinds == {"ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE"}
