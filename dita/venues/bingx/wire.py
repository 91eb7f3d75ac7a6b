"""BingX's JSON shapes, exactly as they come off the wire (PROTOCOL.md §3-§5).

Nothing here is a domain type: ``parse.py`` turns these into ``Instrument``,
``OrderReport``, ``VenueEvent`` ... and nothing past the adapter sees them.

Decoding rules:

* decoders run in msgspec's lax mode, because BingX (and recorded fixtures)
  quote integers inconsistently (``"orderId": "1770683446830788608"`` vs
  ``1770683446830788608``, ``"leverage": "5"`` vs ``5``);
* a JSON number decoded into ``Decimal`` is taken from its text, never through
  float; decimals that BingX may send as ``""`` (``cumQuote``, ``commission``,
  ``avgPrice`` ...) stay ``str`` here and are converted by ``parse.dec``;
* 19-digit order ids exceed 2**53 but fit int64, and Python ints hold them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")


class WireError(ValueError):
    """A payload from BingX did not have the shape we rely on."""


class Envelope(msgspec.Struct, frozen=True):
    """``{"code": 0, "msg": "", "data": ...}`` around every REST answer but listenKey's."""

    code: int = 0
    msg: str = ""
    data: msgspec.Raw = msgspec.Raw(b"null")


class ListenKey(msgspec.Struct, frozen=True, rename="camel"):
    listen_key: str


class ListenKeyAnswer(msgspec.Struct, frozen=True, rename="camel"):
    """A listen-key POST answer: bare ``listenKey`` on success, an error envelope otherwise."""

    listen_key: str = ""
    code: int = 0
    msg: str = ""


class Contract(msgspec.Struct, frozen=True, rename="camel"):
    """One row of ``GET /openApi/swap/v2/quote/contracts`` (PROTOCOL.md §3.1)."""

    symbol: str
    quantity_precision: int
    price_precision: int
    trade_min_quantity: Decimal = Decimal(0)
    trade_min_usdt: Decimal = msgspec.field(default=Decimal(0), name="tradeMinUSDT")
    maker_fee_rate: Decimal = Decimal(0)
    taker_fee_rate: Decimal = Decimal(0)
    max_long_leverage: int = 0
    max_short_leverage: int = 0
    currency: str = "USDT"
    asset: str = ""
    status: int = 1
    api_state_open: str = "true"
    api_state_close: str = "true"


class PlacedOrder(msgspec.Struct, frozen=True, rename="camel"):
    """The echo inside ``data.order`` of a successful place (PROTOCOL.md §3.3).

    It carries no fill information we may rely on; fills come from the stream
    or a query.
    """

    symbol: str
    order_id: int
    side: str = ""
    position_side: str = ""
    type: str = ""
    price: str = ""
    quantity: str = ""
    client_order_id_echo: str = msgspec.field(default="", name="clientOrderID")
    client_order_id: str = ""
    time_in_force: str = ""
    reduce_only: bool = False
    status: str = ""


class RestOrder(msgspec.Struct, frozen=True, rename="camel"):
    """The REST order object of query / open orders / cancel (PROTOCOL.md §3.11)."""

    symbol: str
    order_id: int
    side: str
    type: str
    status: str
    position_side: str = ""
    orig_qty: str = "0"
    price: str = ""
    executed_qty: str = "0"
    avg_price: str = ""
    cum_quote: str = ""
    stop_price: str = ""
    profit: str = ""
    commission: str = ""
    time: int = 0
    update_time: int = 0
    client_order_id: str = ""
    reduce_only: bool = False
    time_in_force: str = ""


class OrderData(msgspec.Struct, frozen=True):
    order: RestOrder


class PlacedOrderData(msgspec.Struct, frozen=True):
    order: PlacedOrder


class OrdersData(msgspec.Struct, frozen=True):
    orders: list[RestOrder] | None = None


class CancelAllData(msgspec.Struct, frozen=True):
    success: list[RestOrder] | None = None
    failed: list[dict[str, Any]] | None = None


class Position(msgspec.Struct, frozen=True, rename="camel"):
    """One row of ``GET /openApi/swap/v2/user/positions`` (PROTOCOL.md §3.8)."""

    symbol: str
    position_side: str
    position_amt: Decimal
    avg_price: Decimal = Decimal(0)
    position_id: str = ""
    isolated: bool = False
    available_amt: str = ""
    unrealized_profit: str = ""
    realised_profit: str = ""
    initial_margin: str = ""
    leverage: int = 0
    mark_price: str = ""
    currency: str = "USDT"


class Balance(msgspec.Struct, frozen=True, rename="camel"):
    """One asset of ``/openApi/swap/v3/user/balance`` (array) or v2's ``data.balance``."""

    asset: str
    balance: Decimal
    available_margin: Decimal
    equity: Decimal = Decimal(0)
    unrealized_profit: Decimal = Decimal(0)
    realised_profit: Decimal = Decimal(0)
    used_margin: Decimal = Decimal(0)
    freezed_margin: Decimal = Decimal(0)


class BalanceV2Data(msgspec.Struct, frozen=True):
    balance: Balance


class LeverageData(msgspec.Struct, frozen=True):
    leverage: int
    symbol: str


class ServerTime(msgspec.Struct, frozen=True, rename="camel"):
    server_time: int


# -- user-data stream (PROTOCOL.md §5) ---------------------------------------


class StreamHead(msgspec.Struct, frozen=True):
    """Enough of any stream frame to route it: ``e`` names the event."""

    e: str = ""
    code: int | None = None
    msg: str = ""


class OrderUpdate(msgspec.Struct, frozen=True):
    """``o`` of ``ORDER_TRADE_UPDATE``. Single-letter keys as on the wire."""

    symbol: str = msgspec.field(name="s")
    order_id: int = msgspec.field(name="i")
    side: str = msgspec.field(name="S")
    order_type: str = msgspec.field(name="o")
    exec_type: str = msgspec.field(name="x")
    status: str = msgspec.field(name="X")
    cum_qty: str = msgspec.field(name="z")
    client_order_id: str = msgspec.field(default="", name="c")
    quantity: str = msgspec.field(default="0", name="q")
    price: str = msgspec.field(default="", name="p")
    avg_price: str = msgspec.field(default="", name="ap")
    last_qty: str | None = msgspec.field(default=None, name="l")
    last_price: str | None = msgspec.field(default=None, name="L")
    commission: str = msgspec.field(default="", name="n")
    commission_asset: str = msgspec.field(default="", name="N")
    trade_time: int = msgspec.field(default=0, name="T")
    position_side: str = msgspec.field(default="", name="ps")
    realised_pnl: str = msgspec.field(default="", name="rp")
    reduce_only: bool = msgspec.field(default=False, name="ro")


class OrderTradeUpdate(msgspec.Struct, frozen=True):
    event_time: int = msgspec.field(name="E")
    order: OrderUpdate = msgspec.field(name="o")
    push_time: int = msgspec.field(default=0, name="T")


class AccountBalance(msgspec.Struct, frozen=True):
    asset: str = msgspec.field(name="a")
    wallet_balance: Decimal = msgspec.field(name="wb")
    cross_wallet_balance: Decimal = msgspec.field(default=Decimal(0), name="cw")
    balance_change: Decimal = msgspec.field(default=Decimal(0), name="bc")


class AccountPosition(msgspec.Struct, frozen=True):
    symbol: str = msgspec.field(name="s")
    position_amt: Decimal = msgspec.field(name="pa")
    entry_price: Decimal = msgspec.field(default=Decimal(0), name="ep")
    unrealized_pnl: Decimal = msgspec.field(default=Decimal(0), name="up")
    margin_type: str = msgspec.field(default="", name="mt")
    position_side: str = msgspec.field(default="", name="ps")


class AccountData(msgspec.Struct, frozen=True):
    reason: str = msgspec.field(default="", name="m")
    balances: list[AccountBalance] = msgspec.field(default_factory=list, name="B")
    positions: list[AccountPosition] = msgspec.field(default_factory=list, name="P")


class AccountUpdate(msgspec.Struct, frozen=True):
    event_time: int = msgspec.field(name="E")
    account: AccountData = msgspec.field(name="a")


class ListenKeyExpired(msgspec.Struct, frozen=True, rename="camel"):
    listen_key: str = ""


def decode(payload: bytes | str | msgspec.Raw, type_: type[T]) -> T:
    """Decode ``payload`` into ``type_`` (lax about quoted integers), or raise ``WireError``."""
    try:
        return msgspec.json.decode(payload, type=type_, strict=False)
    except msgspec.ValidationError as exc:
        raise WireError(f"BingX payload is not a {type_.__name__}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise WireError(f"BingX payload is not JSON: {exc}") from None
