"""Pure functions from BingX wire types to dita's domain types.

No I/O, no clock: every timestamp comes from the payload or the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from dita.kernel.model import (
    EventKind,
    Instrument,
    OrderSide,
    OrderStatus,
    OrderType,
    Side,
    VenueEvent,
)
from dita.venues.base import BalanceReport, OrderReport, PositionReport
from dita.venues.bingx import wire
from dita.venues.bingx.wire import WireError

_ZERO = Decimal(0)


class PositionMode(StrEnum):
    """BingX account position mode (PROTOCOL.md §3.3, §3.10)."""

    ONE_WAY = "ONE_WAY"  # positionSide=BOTH, reduceOnly allowed
    HEDGE = "HEDGE"  # positionSide=LONG/SHORT, closes by the opposite side, no reduceOnly


def dec(text: str, what: str) -> Decimal:
    """A finite Decimal from a wire string; raises ``WireError`` naming the field."""
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError):
        raise WireError(f"{what}: {text!r} is not a decimal") from None
    if not value.is_finite():
        raise WireError(f"{what}: {text!r} is not finite")
    return value


def dec_or(text: str | None, default: Decimal, what: str) -> Decimal:
    """Like ``dec`` but ``""``/None (BingX's "no value") gives ``default``."""
    if text is None or text == "":
        return default
    return dec(text, what)


def instrument(c: wire.Contract) -> Instrument:
    """A contract row as a kernel ``Instrument`` (tick = 10^-pricePrecision, step = 10^-quantityPrecision)."""
    if c.price_precision < 0 or c.quantity_precision < 0:
        raise WireError(f"contract {c.symbol}: negative precision")
    return Instrument(
        symbol=c.symbol,
        tick_size=Decimal(10) ** -c.price_precision,
        step_size=Decimal(10) ** -c.quantity_precision,
        min_quantity=c.trade_min_quantity,
        min_notional=c.trade_min_usdt,
    )


def tradable(c: wire.Contract) -> bool:
    """ccxt's rule: the API may both open and close positions, and the contract is online."""
    return c.status == 1 and c.api_state_open == "true" and c.api_state_close == "true"


def order_status(status: str) -> OrderStatus:
    """REST ``status`` / WS ``X`` onto the kernel's statuses (PROTOCOL.md §4: both cancel
    spellings, ``PENDING`` = ``NEW``)."""
    match status.upper():
        case "NEW" | "PENDING" | "PARTIALLY_FILLED" | "WORKING" | "RUNNING":
            return OrderStatus.WORKING
        case "FILLED":
            return OrderStatus.FILLED
        case "CANCELED" | "CANCELLED":
            return OrderStatus.CANCELED
        case "EXPIRED":
            return OrderStatus.EXPIRED
        case "FAILED" | "REJECTED":
            return OrderStatus.REJECTED
    raise WireError(f"unknown BingX order status {status!r}")


def order_side(side: str) -> OrderSide:
    match side.upper():
        case "BUY":
            return OrderSide.BUY
        case "SELL":
            return OrderSide.SELL
    raise WireError(f"unknown BingX order side {side!r}")


def order_type(type_: str) -> OrderType:
    match type_.upper():
        case "MARKET":
            return OrderType.MARKET
        case "LIMIT":
            return OrderType.LIMIT
    raise WireError(f"BingX order type {type_!r} is not one dita trades")


def order_report(o: wire.RestOrder) -> OrderReport:
    """A REST order object as the venue's report of that order.

    ``commission`` is cumulative and negative when paid (PROTOCOL.md §3.11); the
    report's ``fees`` is positive when paid. Client order ids are lower-cased by
    BingX, and ours are lower-case already, so they compare as sent.
    """
    cum = dec_or(o.executed_qty, _ZERO, "executedQty")
    otype = order_type(o.type)
    price = dec_or(o.price, _ZERO, "price")
    return OrderReport(
        client_order_id=o.client_order_id.lower(),
        venue_order_id=str(o.order_id),
        asset=o.symbol,
        side=order_side(o.side),
        order_type=otype,
        quantity=dec(o.orig_qty, "origQty"),
        limit_price=price if otype is OrderType.LIMIT and price else None,
        reduce_only=o.reduce_only or _closes_hedged(o.side, o.position_side),
        status=order_status(o.status),
        cum_qty=cum,
        avg_price=dec_or(o.avg_price, _ZERO, "avgPrice") if cum else None,
        fees=-dec_or(o.commission, _ZERO, "commission"),
        ts=o.update_time or o.time,
    )


def _closes_hedged(side: str, position_side: str) -> bool:
    # In hedge mode a close is SELL+LONG or BUY+SHORT and carries no reduceOnly flag.
    return (side, position_side) in {("SELL", "LONG"), ("BUY", "SHORT")}


def position(p: wire.Position) -> PositionReport | None:
    """A position row, or None when it is flat.

    One-way mode may report ``positionSide=BOTH`` with a signed amount
    (PROTOCOL.md §3.8, UNCONFIRMED): the sign then decides the side.
    """
    amt = p.position_amt
    if amt == _ZERO:
        return None
    match p.position_side.upper():
        case "LONG":
            side = Side.LONG if amt > 0 else Side.SHORT
        case "SHORT":
            side = Side.SHORT
        case "BOTH" | "":
            side = Side.LONG if amt > 0 else Side.SHORT
        case other:
            raise WireError(f"unknown BingX positionSide {other!r}")
    return PositionReport(asset=p.symbol, side=side, quantity=abs(amt), entry_price=p.avg_price)


def account_position(p: wire.AccountPosition) -> PositionReport | None:
    """An ``ACCOUNT_UPDATE`` position entry, like ``position``."""
    return position(
        wire.Position(
            symbol=p.symbol,
            position_side=p.position_side,
            position_amt=p.position_amt,
            avg_price=p.entry_price,
        )
    )


def balance(b: wire.Balance) -> BalanceReport:
    """v2 ``data.balance`` or one v3 row: wallet = ``balance``, available = ``availableMargin``."""
    return BalanceReport(asset=b.asset, wallet=b.balance, available=b.available_margin)


def balance_v3(rows: list[wire.Balance], asset: str = "USDT") -> BalanceReport:
    for row in rows:
        if row.asset == asset:
            return balance(row)
    raise WireError(f"no {asset} row in BingX v3 balance (assets: {[r.asset for r in rows]})")


def funding_events(ev: wire.AccountUpdate, settle_asset: str = "USDT") -> list[VenueEvent]:
    """FUNDING events from an ``ACCOUNT_UPDATE`` with reason ``FUNDING_FEE`` (PROTOCOL.md §5.2).

    ``bc`` is the balance change (positive = received). On cross margin BingX sends
    only the balance, so the contract is named only when exactly one position came along.
    """
    if ev.account.reason != "FUNDING_FEE":
        return []
    symbols = [p.symbol for p in ev.account.positions]
    return [
        VenueEvent(
            event_id=f"bingx:funding:{ev.event_time}:{b.asset}",
            ts=ev.event_time,
            kind=EventKind.FUNDING,
            asset=symbols[0] if len(symbols) == 1 else "",
            amount=b.balance_change,
        )
        for b in ev.account.balances
        if b.asset == settle_asset and b.balance_change
    ]


@dataclass(frozen=True, slots=True)
class FillDelta:
    """What one ORDER_TRADE_UPDATE adds to an order's fills.

    ``consistent`` is False when the event's own last quantity ``l`` disagrees
    with the cumulative ``z`` we can difference (a message was lost or
    duplicated): then ``qty`` comes from ``z`` and ``price`` is derived from the
    average price, because ``z`` is authoritative (DESIGN.md, "Fills are money").
    """

    qty: Decimal
    price: Decimal
    fee: Decimal  # positive = paid
    consistent: bool


def fill_delta(
    u: wire.OrderUpdate, prev_cum: Decimal | None, prev_cost: Decimal
) -> FillDelta | None:
    """The fill carried by ``u`` given what we already applied for that order.

    ``prev_cum`` is None when we have never seen the order (then ``l`` is all we
    have). Returns None when the event advances nothing (a duplicate, or not a fill).
    """
    cum = dec(u.cum_qty, "z")
    last = dec_or(u.last_qty, _ZERO, "l") if u.last_qty not in (None, "") else None
    last_price = dec_or(u.last_price, _ZERO, "L") if u.last_price not in (None, "") else None
    fee = -dec_or(u.commission, _ZERO, "n")
    if prev_cum is None:
        qty = last if last is not None else cum
        if qty <= 0:
            return None
        price = last_price if last_price is not None and last is not None else _avg(u, cum)
        return FillDelta(qty, price, fee, consistent=last is not None)
    qty = cum - prev_cum
    if qty <= 0:
        return None
    if last is not None and last == qty and last_price is not None and last_price > 0:
        return FillDelta(qty, last_price, fee, consistent=True)
    # l missing (older payloads, PROTOCOL.md §4) or disagreeing with z: z decides;
    # the price of the gap follows from the average price over the whole order.
    avg = _avg(u, cum)
    price = (avg * cum - prev_cost) / qty
    return FillDelta(qty, price, fee, consistent=last is None)


def _avg(u: wire.OrderUpdate, cum: Decimal) -> Decimal:
    avg = dec_or(u.avg_price, _ZERO, "ap")
    if avg <= 0 and u.last_price not in (None, ""):
        avg = dec_or(u.last_price, _ZERO, "L")
    if avg <= 0:
        raise WireError(f"fill of order {u.order_id} (z={cum}) without a usable price")
    return avg
