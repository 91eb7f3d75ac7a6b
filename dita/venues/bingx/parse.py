"""Pure functions from BingX wire types to dita's domain types.

No I/O, no clock: every timestamp comes from the payload or the caller. Every
function here raises only ``WireError`` for a value it cannot accept: a number
that is not a finite decimal, is out of range (``MAX_ABS``, ``MIN_MAGNITUDE_EXP``,
``MAX_TEXT``) or negative where that is absurd (prices, quantities), an unknown
side/type/position side. Entry points for fuzzing: ``dec``, ``instrument``,
``order_report``, ``position``, ``account_position``, ``balance_v3``,
``funding_events``, ``fill_delta`` (after ``wire.decode``), and
``tracker.OrderTracker``'s ``on_placed``/``on_rest``/``on_stream``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from dita.kernel.model import (
    EventKind,
    Instrument,
    OrderSide,
    OrderStatus,
    OrderType,
    Side,
    VenueEvent,
)
from dita.kernel.money import money, recovered_fills
from dita.venues.base import BalanceReport, OrderReport, PositionReport
from dita.venues.bingx import wire
from dita.venues.bingx.wire import WireError

_ZERO = Decimal(0)


# The BingX account's position mode (PROTOCOL.md §3.3, §3.10) is the kernel's
# ``PositionMode``: ONE_WAY sends positionSide=BOTH and may send reduceOnly; HEDGE sends
# positionSide=LONG/SHORT, closes by the opposite side and never sends reduceOnly.


# Bounds on anything BingX may call a decimal: far beyond any real price, quantity or
# balance, far below anything that would make the arithmetic slow or inexact.
MAX_TEXT = 64  # characters of one number's text
MAX_ABS = Decimal("1e20")
MIN_MAGNITUDE_EXP = -30  # a non-zero value smaller than 1e-30 is refused


def dec(num: wire.Num | str, what: str, *, signed: bool = True) -> Decimal:
    """A finite, bounded Decimal from a wire number; ``WireError`` naming the field otherwise.

    ``signed=False`` also refuses negative values (prices, quantities)."""
    text = num.text if isinstance(num, wire.Num) else num
    if not isinstance(text, str) or not text or len(text) > MAX_TEXT:
        shown = text[:MAX_TEXT] + "..." if isinstance(text, str) and len(text) > MAX_TEXT else text
        raise WireError(f"{what}: {shown!r} is not a decimal")
    try:
        value = Decimal(text)
    except (ArithmeticError, TypeError, ValueError):
        raise WireError(f"{what}: {text!r} is not a decimal") from None
    if not value.is_finite():
        raise WireError(f"{what}: {text!r} is not finite")
    # adjusted() and copy_abs() use no context: nothing here can overflow
    if value and (
        value.adjusted() < MIN_MAGNITUDE_EXP
        or value.adjusted() > MAX_ABS.adjusted()
        or value.copy_abs() >= MAX_ABS
    ):
        raise WireError(f"{what}: {text!r} is out of range")
    if not signed and value.is_signed() and value:
        raise WireError(f"{what}: {text!r} is negative")
    if not value:
        value = Decimal(0)  # "-0", "0E-7" are 0
    return value


def dec_or(
    num: wire.Num | str | None, default: Decimal, what: str, *, signed: bool = True
) -> Decimal:
    """Like ``dec`` but an absent value (``""``, ``null``, missing) gives ``default``."""
    if num is None:
        return default
    text = num.text if isinstance(num, wire.Num) else num
    if text == "":
        return default
    return dec(num, what, signed=signed)


def flag(value: bool | str | None) -> bool:
    """BingX booleans: ``true``/``false`` as JSON booleans or strings; ``""``/null are false."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    match value.strip().lower():
        case "true":
            return True
        case "false" | "":
            return False
    raise WireError(f"{value!r} is not a boolean")


def text(value: str | None) -> str:
    return value or ""


def order_id(value: int, what: str = "orderId") -> str:
    if not 0 < value < 2**63:
        raise WireError(f"{what}: {value} is not a BingX order id")
    return str(value)


def placed_order_id(p: wire.PlacedOrder) -> str:
    """The id in a place reply: ``orderId`` (number or string) or the string ``orderID``."""
    if p.order_id:
        return order_id(p.order_id)
    if p.order_id_text.isdigit() and len(p.order_id_text) <= 19:
        return order_id(int(p.order_id_text), "orderID")
    raise WireError("place reply without an order id")


def instrument(c: wire.Contract) -> Instrument:
    """A contract row as a kernel ``Instrument`` (tick = 10^-pricePrecision, step = 10^-quantityPrecision)."""
    if not 0 <= c.price_precision <= 18 or not 0 <= c.quantity_precision <= 18:
        raise WireError(f"contract {c.symbol}: precision out of range")
    return Instrument(
        symbol=c.symbol,
        tick_size=Decimal(10) ** -c.price_precision,
        step_size=Decimal(10) ** -c.quantity_precision,
        min_quantity=dec_or(c.trade_min_quantity, _ZERO, "tradeMinQuantity", signed=False),
        min_notional=dec_or(c.trade_min_usdt, _ZERO, "tradeMinUSDT", signed=False),
    )


def tradable(c: wire.Contract) -> bool:
    """ccxt's rule: the API may both open and close positions, and the contract is online."""
    return c.status == 1 and _yes(c.api_state_open) and _yes(c.api_state_close)


def _yes(value: str | bool) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def order_status(status: str | None) -> OrderStatus:
    """REST ``status`` / WS ``X`` onto the kernel's statuses (PROTOCOL.md §4: both cancel
    spellings, ``PENDING`` = ``NEW``). An unknown value raises ``WireError``; callers
    that must not lose a fill use ``known_status``."""
    found = known_status(status)
    if found is None:
        raise WireError(f"unknown BingX order status {status!r}")
    return found


def known_status(status: str | None) -> OrderStatus | None:
    """Like ``order_status``, but None for a value we do not know (``"Unknown"`` in the
    docs' own stream example): the cumulative quantity then says what happened."""
    match (status or "").strip().upper():
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
    return None


def order_side(side: str | None) -> OrderSide:
    match (side or "").strip().upper():
        case "BUY":
            return OrderSide.BUY
        case "SELL":
            return OrderSide.SELL
    raise WireError(f"unknown BingX order side {side!r}")


def order_type(type_: str | None, what: str = "type") -> OrderType:
    """BingX's order ``type`` (REST) / ``o`` (stream) onto the kernel's order types.

    The protective types are BingX's own names (DOC25 "Place order"); the other
    conditional types BingX has (STOP, TAKE_PROFIT, TRIGGER_*, TRAILING_*) are
    refused, naming the field: dita never places them."""
    match (type_ or "").strip().upper():
        case "MARKET":
            return OrderType.MARKET
        case "LIMIT":
            return OrderType.LIMIT
        case "STOP_MARKET":
            return OrderType.STOP_MARKET
        case "TAKE_PROFIT_MARKET":
            return OrderType.TAKE_PROFIT_MARKET
    raise WireError(f"{what}: BingX order type {type_!r} is not one dita trades")


def is_dita_type(type_: str | None) -> bool:
    """Is this a BingX order type dita trades (and so reports)?"""
    return (type_ or "").strip().upper() in DITA_TYPES


DITA_TYPES = frozenset(t.value for t in OrderType)


def stop_price(num: wire.Num, otype: OrderType, what: str = "stopPrice") -> Decimal | None:
    """The trigger price of a protective order; None for other types, and when BingX
    leaves it out (``""``/``"0"``: the place echo of a MARKET order says ``"0"``, ccxt's
    samples ``""``). Negative or unreadable is refused, naming the field."""
    if not otype.is_trigger:
        return None
    value = dec_or(num, _ZERO, what, signed=False)
    return value or None


def order_report(o: wire.RestOrder) -> OrderReport:
    """A REST order object as the venue's report of that order.

    ``commission`` is cumulative and negative when paid (PROTOCOL.md §3.11); the
    report's ``fees`` is positive when paid. Client order ids are lower-cased by
    BingX, and ours are lower-case already, so they compare as sent. A status we
    do not know is read from the quantities: filled in full is FILLED, else WORKING
    (so the order stays followed and is asked about again).
    """
    cum = dec_or(o.executed_qty, _ZERO, "executedQty", signed=False)
    avg = dec_or(o.avg_price, _ZERO, "avgPrice", signed=False)
    otype = order_type(o.type)
    # a closePosition order has no quantity of its own until it triggers ("" or "0")
    quantity = (
        dec_or(o.orig_qty, _ZERO, "origQty", signed=False)
        if otype.is_trigger
        else dec(o.orig_qty, "origQty", signed=False)
    )
    price = dec_or(o.price, _ZERO, "price", signed=False)
    status = known_status(o.status)
    if status is None:
        status = OrderStatus.FILLED if quantity and cum >= quantity else OrderStatus.WORKING
    closes_all = flag(o.close_position)  # a close-position order reduces by nature
    return OrderReport(
        client_order_id=text(o.client_order_id).lower(),
        venue_order_id=order_id(o.order_id),
        asset=o.symbol,
        side=order_side(o.side),
        order_type=otype,
        quantity=quantity,
        limit_price=price if otype is OrderType.LIMIT and price else None,
        reduce_only=closes_all or flag(o.reduce_only) or _closes_hedged(o.side, o.position_side),
        status=status,
        cum_qty=cum,
        avg_price=avg if cum else None,
        fees=-dec_or(o.commission, _ZERO, "commission"),
        ts=o.update_time or o.time,
        cum_quote=exact_cum_quote(cum, avg, dec_or(o.cum_quote, _ZERO, "cumQuote", signed=False)),
        stop_price=stop_price(o.stop_price, otype),
    )


def exact_cum_quote(cum: Decimal, avg: Decimal, cum_quote: Decimal) -> Decimal | None:
    """``cumQuote`` as the exact value of an order's fills, or None when it cannot be.

    BingX sometimes sends it rounded ("8" for 8.371, PROTOCOL.md §3.11), and
    ``avgPrice`` is itself a rounded quotient; ``cumQuote`` is taken only when it
    agrees with the average to every digit the average has (``cumQuote / executedQty``
    rounded to ``avgPrice``'s last decimal is ``avgPrice``), so it is never less exact
    than ``executedQty x avgPrice``."""
    if cum <= 0 or avg <= 0 or cum_quote <= 0:
        return None
    exp = avg.as_tuple().exponent
    assert isinstance(exp, int)
    try:
        with money():
            agrees = (cum_quote / cum).quantize(Decimal(1).scaleb(exp)) == avg
    except ArithmeticError:  # an average with more digits than the money context
        return None
    return cum_quote if agrees else None


def _closes_hedged(side: str | None, position_side: str | None) -> bool:
    # In hedge mode a close is SELL+LONG or BUY+SHORT and carries no reduceOnly flag.
    return ((side or "").upper(), (position_side or "").upper()) in {
        ("SELL", "LONG"),
        ("BUY", "SHORT"),
    }


def position(p: wire.Position) -> PositionReport | None:
    """A position row, or None when it is flat.

    One-way mode reports ``positionSide=BOTH`` with a signed amount (the docs'
    one-way reading; PROTOCOL.md §3.8): the sign then decides the side.
    """
    return _position(p.symbol, p.position_side, p.position_amt, p.avg_price)


def _position(
    symbol: str, position_side: str | None, amount: wire.Num, entry: wire.Num
) -> PositionReport | None:
    amt = dec_or(amount, _ZERO, "positionAmt")
    if amt == _ZERO:
        return None
    match (position_side or "").strip().upper():
        case "LONG":
            side = Side.LONG if amt > 0 else Side.SHORT
        case "SHORT":
            side = Side.SHORT
        case "BOTH" | "":
            side = Side.LONG if amt > 0 else Side.SHORT
        case other:
            raise WireError(f"unknown BingX positionSide {other!r}")
    return PositionReport(
        asset=symbol,
        side=side,
        quantity=abs(amt),
        entry_price=dec_or(entry, _ZERO, "avgPrice", signed=False),
    )


def account_position(p: wire.AccountPosition) -> PositionReport | None:
    """An ``ACCOUNT_UPDATE`` position entry, like ``position``."""
    return _position(p.symbol, p.position_side, p.position_amt, p.entry_price)


def balance(b: wire.Balance) -> BalanceReport:
    """v2 ``data.balance`` or one v3 row: wallet = ``balance``, available = ``availableMargin``."""
    return BalanceReport(
        asset=b.asset,
        wallet=dec(b.balance, f"{b.asset} balance"),
        available=dec(b.available_margin, f"{b.asset} availableMargin"),
    )


def balance_v3(rows: list[wire.Balance], asset: str = "USDT") -> BalanceReport:
    """The ``asset`` row of a v3 balance; other rows (``""`` USDC rows...) are not read."""
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
    symbols = [p.symbol for p in ev.account.positions or []]
    events = []
    for b in ev.account.balances or []:
        if b.asset != settle_asset:
            continue
        change = dec_or(b.balance_change, _ZERO, "bc")
        if change:
            events.append(
                VenueEvent(
                    event_id=f"bingx:funding:{ev.event_time}:{b.asset}",
                    ts=ev.event_time,
                    kind=EventKind.FUNDING,
                    asset=symbols[0] if len(symbols) == 1 else "",
                    amount=change,
                )
            )
    return events


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
    # a gap recovered from cumulative numbers, as fills with finite prices worth the
    # venue's value exactly (``dita.kernel.money.recovered_fills``): () = one fill (qty, price)
    parts: tuple[tuple[Decimal, Decimal], ...] = ()

    @property
    def fills(self) -> tuple[tuple[Decimal, Decimal], ...]:
        return self.parts or ((self.qty, self.price),)


def gap(value: Decimal, qty: Decimal, what: str) -> FillDelta:
    """``qty`` worth ``value`` (the venue's cumulative value minus what we have) as fills."""
    if value <= 0:
        raise WireError(f"{what} gives the fills we missed a value of {value}")
    parts = recovered_fills(value, qty)
    return FillDelta(
        qty, parts[0][1], _ZERO, consistent=False, parts=parts if len(parts) > 1 else ()
    )


def cum_value(u: wire.OrderUpdate, cum: Decimal) -> Decimal:
    """What the fills of ``u``'s order are worth in all: ``Z`` (cumulative quote) when it
    agrees with ``ap`` (``exact_cum_quote``), else ``z`` x ``ap`` (a rounded average)."""
    avg = _avg(u, cum)
    quote = exact_cum_quote(cum, avg, dec_or(u.cum_quote, _ZERO, "Z", signed=False))
    if quote is not None:
        return quote
    with money():
        return avg * cum


def fill_delta(
    u: wire.OrderUpdate, prev_cum: Decimal | None, prev_cost: Decimal
) -> FillDelta | None:
    """The fill carried by ``u`` given what we already applied for that order.

    ``prev_cum`` is None when we have never seen the order (then ``l`` is all we
    have). Returns None when the event advances nothing (a duplicate, or not a fill).
    """
    cum = dec(u.cum_qty, "z", signed=False)
    last = None if u.last_qty.absent else dec(u.last_qty, "l", signed=False)
    last_price = None if u.last_price.absent else dec(u.last_price, "L", signed=False)
    fee = -dec_or(u.commission, _ZERO, "n")
    if prev_cum is None:
        qty = last if last is not None and last > 0 else cum
        if qty <= 0:
            return None
        if last is not None and last > 0 and last_price is not None and last_price > 0:
            return FillDelta(qty, last_price, fee, consistent=True)
        if last is None:  # all we know is the whole order's fills
            d = gap(cum_value(u, cum), cum, f"fill of order {u.order_id}: Z/ap")
            return replace(d, fee=fee)
        return FillDelta(qty, _avg(u, cum), fee, consistent=True)
    qty = cum - prev_cum
    if qty <= 0:
        return None
    if last is not None and last == qty and last_price is not None and last_price > 0:
        return FillDelta(qty, last_price, fee, consistent=True)
    # l missing (older payloads, PROTOCOL.md §4) or disagreeing with z: z decides;
    # the value of the gap is the order's value (Z, or z x ap) minus what we have.
    with money():
        value = cum_value(u, cum) - prev_cost
    d = gap(value, qty, f"fill of order {u.order_id}: Z/ap")
    return replace(d, fee=fee, consistent=last is None)


def _avg(u: wire.OrderUpdate, cum: Decimal) -> Decimal:
    avg = dec_or(u.avg_price, _ZERO, "ap", signed=False)
    if avg <= 0 and not u.last_price.absent:
        avg = dec(u.last_price, "L", signed=False)
    if avg <= 0:
        raise WireError(f"fill of order {u.order_id} (z={cum}) without a usable price")
    return avg
