"""What dita sends to place an order on BingX, and what it refuses to send (pure).

``order_params`` maps a kernel ``Order`` onto ``POST /openApi/swap/v2/trade/order``
parameters; ``order_problem`` says why an order cannot be sent as it is (the
adapter then rejects it without sending anything). Both are pure: no I/O, no
clock. Sources (docs/bingx.md, "Protective orders"):

* DOC25 "Place order" (the official docs as scraped in ``rosssaunders/coincise``
  ``docs/bingx/usdt_futures/trading/place_order.md`` @ ``2373f517``): STOP_MARKET
  and TAKE_PROFIT_MARKET need ``stopPrice`` (and ``quantity``); ``workingType``
  is MARK_PRICE (the default) or CONTRACT_PRICE; ``closePosition`` is "only
  support STOP_MARKET and TAKE_PROFIT_MARKET; not used with quantity; ... not
  used with reduceOnly"; ``clientOrderId`` "only supports LIMIT/MARKET order
  type"; ``reduceOnly`` is one-way mode only.
* ccxt ``bingx.py`` ``create_order_request`` (4.5.90): ``stopPrice`` at the
  market's price precision, ``positionSide=BOTH`` in one-way mode, no
  ``quantity`` when ``closePosition`` is true.

So a protective order goes out without ``clientOrderId`` (a venue that refuses
it for these types, or ignores it, is survived alike) and is followed by its
venue order id; with ``close_position`` it carries neither ``quantity`` nor
``reduceOnly``.
"""

from __future__ import annotations

from typing import Literal

from dita.kernel.instruments import on_grid
from dita.kernel.model import Instrument, Order, OrderSide, OrderType, PositionMode
from dita.venues.bingx.signing import ParamValue

WorkingType = Literal["MARK_PRICE", "CONTRACT_PRICE"]


def order_params(
    order: Order,
    *,
    mode: PositionMode,
    time_in_force: str = "GTC",
    working_type: WorkingType = "MARK_PRICE",
) -> dict[str, ParamValue]:
    """The place-order parameters for ``order`` (``order_problem`` found nothing wrong)."""
    params: dict[str, ParamValue] = {
        "symbol": order.asset,
        "side": order.side.value,
        "type": order.order_type.value,
    }
    closes_all = order.order_type.is_trigger and order.close_position
    if not closes_all:
        params["quantity"] = order.quantity
    match order.order_type:
        case OrderType.LIMIT:
            if order.limit_price is None:
                raise ValueError(f"LIMIT order {order.client_order_id} without a price")
            params["price"] = order.limit_price
            params["timeInForce"] = time_in_force
        case OrderType.STOP_MARKET | OrderType.TAKE_PROFIT_MARKET:
            if order.stop_price is None:
                raise ValueError(f"{order.order_type} order {order.client_order_id} without a stop")
            params["stopPrice"] = order.stop_price
            params["workingType"] = working_type
            if closes_all:
                params["closePosition"] = True
        case _:
            pass
    if not order.order_type.is_trigger:
        # BingX keeps clientOrderId for LIMIT and MARKET only (DOC25)
        params["clientOrderId"] = order.client_order_id
    reduces = order.reduce_only or closes_all
    match mode:
        case PositionMode.ONE_WAY:
            params["positionSide"] = "BOTH"
            if order.reduce_only and not closes_all:
                params["reduceOnly"] = True
        case PositionMode.HEDGE:
            # Hedge mode takes no reduceOnly: a close is SELL+LONG / BUY+SHORT (§3.3).
            buying = order.side is OrderSide.BUY
            params["positionSide"] = (
                ("SHORT" if buying else "LONG") if reduces else ("LONG" if buying else "SHORT")
            )
    return params


def order_problem(order: Order, inst: Instrument | None) -> str:
    """Why ``order`` cannot be sent to BingX as it is ("" if it can), naming the field."""
    if inst is None:
        return f"dita: {order.asset} is not a tradable BingX contract (not sent)"
    otype = order.order_type
    if order.close_position and not otype.is_trigger:
        return f"dita: close_position on a {otype} order (STOP_MARKET/TAKE_PROFIT_MARKET only) (not sent)"
    if not (otype.is_trigger and order.close_position) and not on_grid(
        order.quantity, inst.step_size
    ):
        return f"dita: quantity {order.quantity} is not a multiple of {inst.step_size} (not sent)"
    if order.limit_price is not None and not on_grid(order.limit_price, inst.tick_size):
        return f"dita: price {order.limit_price} is not a multiple of {inst.tick_size} (not sent)"
    if not otype.is_trigger:
        if order.stop_price is not None:
            return f"dita: stop_price on a {otype} order (not sent)"
        return ""
    if order.limit_price is not None:
        return f"dita: limit_price on a {otype} order (it fills as MARKET) (not sent)"
    stop = order.stop_price
    if stop is None:
        return f"dita: {otype} order without a stop_price (not sent)"
    if not stop.is_finite() or stop <= 0:
        return f"dita: stop_price {stop} is not > 0 (not sent)"
    if not on_grid(stop, inst.tick_size):
        return f"dita: stop_price {stop} is not a multiple of {inst.tick_size} (not sent)"
    if not (order.reduce_only or order.close_position):
        return f"dita: a {otype} order must be reduce_only or close_position (not sent)"
    if not order.close_position and order.quantity <= 0:
        return f"dita: quantity {order.quantity} is not > 0 (not sent)"
    return ""
