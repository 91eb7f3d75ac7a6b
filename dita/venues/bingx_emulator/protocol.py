"""BingX's side of the emulator, without the trading: errors, contracts, request parameters.

``ApiError`` is a BingX business error (HTTP 200, non-zero ``code``); ``ContractSpec``
one USDT-M perpetual as the contract list shows it; ``parse_place`` checks a
place-order request's parameters the way BingX does (PROTOCOL.md §3.3, §6.2) and
``s`` writes a decimal as BingX does. The trading itself is the sim matching
engine, behind ``sim_engine.SimEngine``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from dita.kernel.model import PositionMode
from dita.venues.bingx import wire

ORDER_ID_BASE = 1_900_000_000_000_000_000  # 19 digits, above 2**53 like BingX's ids


class ApiError(Exception):
    """A BingX business error: HTTP 200 with a non-zero ``code``."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg


# The account's position mode: the kernel's enum, as everywhere (one-way: positionSide
# BOTH, reduceOnly allowed; hedge: LONG/SHORT, closes by the opposite side, no reduceOnly).
Mode = PositionMode


@dataclass(frozen=True, slots=True)
class ContractSpec:
    symbol: str
    asset: str
    price_precision: int
    quantity_precision: int
    min_qty: Decimal
    min_usdt: Decimal
    price: Decimal  # initial last price
    max_leverage: int = 125
    maker_fee: Decimal = Decimal("0.0002")
    taker_fee: Decimal = Decimal("0.0005")
    contract_id: str = "0"

    @property
    def tick(self) -> Decimal:
        return Decimal(10) ** -self.price_precision

    @property
    def step(self) -> Decimal:
        return Decimal(10) ** -self.quantity_precision


# Precisions as BingX lists them for these contracts (BTC-USDT per PROTOCOL.md §3.1;
# ETH and TRX from the live contract list as commonly seen, not re-verified offline).
DEFAULT_CONTRACTS: tuple[ContractSpec, ...] = (
    ContractSpec(
        "BTC-USDT",
        "BTC",
        1,
        4,
        Decimal("0.0001"),
        Decimal(2),
        Decimal("60000.0"),
        contract_id="100",
    ),
    ContractSpec(
        "ETH-USDT", "ETH", 2, 2, Decimal("0.01"), Decimal(2), Decimal("3000.00"), contract_id="101"
    ),
    ContractSpec(
        "TRX-USDT", "TRX", 5, 0, Decimal(1), Decimal(2), Decimal("0.25000"), contract_id="102"
    ),
)


def s(d: Decimal) -> str:
    """A decimal as BingX writes it: a plain string, never an exponent."""
    return format(d, "f")


def num(d: Decimal) -> wire.Num:
    """A decimal as a wire number (its text as BingX writes it)."""
    return wire.Num(s(d))


def wire_row(obj: msgspec.Struct, *, numbers: bool = False, **extra: Any) -> dict[str, Any]:
    """One of the adapter's wire types (``dita.venues.bingx.wire``) as the JSON object
    the emulator sends: the wire's own field names, every ``Num`` as the string it
    holds (as a JSON number with ``numbers``), then ``extra``, the fields the adapter
    does not read. Answers built this way have the shape the adapter decodes, so the
    two sides cannot drift apart."""

    def enc(value: Any) -> Any:
        if isinstance(value, wire.Num):
            return Decimal(value.text) if numbers else value.text
        raise NotImplementedError(f"no wire encoding for {type(value).__name__}")

    row: dict[str, Any] = msgspec.to_builtins(obj, enc_hook=enc, builtin_types=(Decimal,))
    row.update(extra)
    return row


def _no_symbol(symbol: str) -> ApiError:
    return ApiError(
        109400,
        f"{symbol},symbol not exist, please verify it in api: /openApi/swap/v2/quote/contracts",
    )


@dataclass(frozen=True, slots=True)
class PlaceParams:
    """A place-order request's parameters, checked the way BingX checks them."""

    spec: ContractSpec
    side: str  # BUY | SELL
    otype: str  # MARKET | LIMIT | STOP_MARKET | TAKE_PROFIT_MARKET
    pos_side: str  # as sent, upper-cased; the engine applies its position-mode rules
    reduce_only: bool
    qty: Decimal  # 0 for a closePosition order
    price: Decimal | None  # None for MARKET and the protective types
    tif: str
    cid: str  # lower-cased, "" if none (always "" for the protective types)
    stop_price: Decimal | None = None  # STOP_MARKET / TAKE_PROFIT_MARKET: the trigger
    working_type: str = "MARK_PRICE"
    close_position: bool = False


PROTECTIVE_TYPES = ("STOP_MARKET", "TAKE_PROFIT_MARKET")
# DOC25 "Place order" (MARK_PRICE, CONTRACT_PRICE); SKILL adds INDEX_PRICE. The emulator
# has one price per symbol (its mark is its last), so every working type compares with it.
WORKING_TYPES = ("MARK_PRICE", "CONTRACT_PRICE", "INDEX_PRICE")


def on_grid(value: Decimal, unit: Decimal, what: str, *, reject_excess_precision: bool) -> Decimal:
    floored = (value // unit) * unit
    if floored == value:
        return value
    if reject_excess_precision:
        raise ApiError(
            110425,
            f"Order size does not meet the contract precision or step size requirement ({what})",
        )
    return floored.quantize(unit)  # DOC25: excess decimals are truncated


def parse_place(
    p: dict[str, str], spec_of: Callable[[str], ContractSpec], *, reject_excess_precision: bool
) -> PlaceParams:
    """``POST /openApi/swap/v2/trade/order`` parameters (PROTOCOL.md §3.3)."""
    spec = spec_of(_required(p, "symbol"))
    side = _required(p, "side").upper()
    if side not in ("BUY", "SELL"):
        raise ApiError(80014, f"Invalid parameters, side: {side} is not BUY or SELL")
    otype = _required(p, "type").upper()
    if otype not in ("MARKET", "LIMIT", *PROTECTIVE_TYPES):
        raise ApiError(80014, f"Invalid parameters, type {otype} is not supported by the emulator")
    pos_side = p.get("positionSide", "LONG").upper()  # DOC25: defaults to LONG
    reduce_only = _bool(p.get("reduceOnly", "false"), "reduceOnly")
    grid = reject_excess_precision
    qty, close_position = _quantity(p, spec, otype, reduce_only, grid)
    stop_price, working_type = _trigger(p, spec, otype, grid)
    price: Decimal | None = None
    if otype == "LIMIT":
        if "price" not in p:
            raise ApiError(80014, "parameter price is must")
        price = on_grid(
            _decimal(p["price"], "price"), spec.tick, "price", reject_excess_precision=grid
        )
        if price <= 0:
            raise ApiError(80014, "Invalid parameters, price must be greater than 0")
    tif = p.get("timeInForce", "GTC")
    if tif not in ("GTC", "IOC", "FOK", "PostOnly"):
        raise ApiError(80014, f"Invalid parameters, timeInForce {tif}")
    cid = p.get("clientOrderId", p.get("clientOrderID", "")).lower()
    if len(cid) > 40:
        raise ApiError(80014, "Invalid parameters, clientOrderId: length must be 1-40")
    if otype in PROTECTIVE_TYPES:
        cid = ""  # DOC25: "clientOrderId only supports LIMIT/MARKET order type" (not kept)
    return PlaceParams(
        spec, side, otype, pos_side, reduce_only, qty, price, tif, cid,
        stop_price, working_type, close_position,
    )  # fmt: skip


def _quantity(
    p: dict[str, str], spec: ContractSpec, otype: str, reduce_only: bool, grid: bool
) -> tuple[Decimal, bool]:
    """The order's quantity (0 for a closePosition order) and its closePosition flag."""
    # DOC25: closePosition is "only support STOP_MARKET and TAKE_PROFIT_MARKET; not used
    # with quantity; ... not used with reduceOnly" (the codes below are the emulator's: the
    # docs name none for these refusals)
    if _bool(p.get("closePosition", "false"), "closePosition"):
        if otype not in PROTECTIVE_TYPES:
            raise ApiError(
                80014, "Invalid parameters, closePosition only supports STOP_MARKET and"
                " TAKE_PROFIT_MARKET",
            )  # fmt: skip
        if "quantity" in p:
            raise ApiError(80014, "Invalid parameters, closePosition is not used with quantity")
        if reduce_only:
            raise ApiError(80014, "Invalid parameters, closePosition is not used with reduceOnly")
        return Decimal(0), True
    if "quantity" not in p:
        raise ApiError(80014, "parameter quantity is must")
    qty = on_grid(
        _decimal(p["quantity"], "quantity"), spec.step, "quantity", reject_excess_precision=grid
    )
    if qty <= 0:
        raise ApiError(80014, "Invalid parameters, quantity must be greater than 0")
    return qty, False


def _trigger(
    p: dict[str, str], spec: ContractSpec, otype: str, grid: bool
) -> tuple[Decimal | None, str]:
    """A protective order's trigger (on the tick, as prices are) and working type."""
    working_type = p.get("workingType", "MARK_PRICE").upper() or "MARK_PRICE"
    if otype not in PROTECTIVE_TYPES:
        return None, working_type
    if "stopPrice" not in p:
        raise ApiError(80014, "Invalid parameters,stopPrice: This field is required.")
    stop = on_grid(
        _decimal(p["stopPrice"], "stopPrice"), spec.tick, "stopPrice", reject_excess_precision=grid
    )
    if stop <= 0:
        raise ApiError(80014, "Invalid parameters, stopPrice must be greater than 0")
    if working_type not in WORKING_TYPES:
        raise ApiError(80014, f"Invalid parameters, workingType {working_type}")
    return stop, working_type


def int_param(p: dict[str, str], name: str, default: int) -> int:
    """An optional whole-number parameter (``default`` if absent or empty), else 80014."""
    raw = p.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(80014, f"Invalid parameters, {name} must be an integer") from None


def _required(p: dict[str, str], name: str) -> str:
    value = p.get(name, "")
    if not value:
        raise ApiError(80014, f"Invalid parameters,{name}: This field is required.")
    return value


def _decimal(text: str, name: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ApiError(80014, f"Invalid parameters, {name}: {text!r} is not a number") from None
    if not value.is_finite():
        raise ApiError(80014, f"Invalid parameters, {name}: {text!r} is not a number")
    return value


def _bool(text: str, name: str) -> bool:
    match text.lower():
        case "true":
            return True
        case "false" | "":
            return False
    raise ApiError(80014, f"Invalid parameters, {name}: {text!r} is not true/false")
