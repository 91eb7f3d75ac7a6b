"""BingX's JSON shapes, read tolerantly, exactly as they come off the wire (PROTOCOL.md §3-§5).

Nothing here is a domain type: ``parse.py`` turns these into ``Instrument``,
``OrderReport``, ``VenueEvent`` ... and nothing past the adapter sees them.

Entry points (each raises only ``WireError``, whatever the bytes; h5's
``bench/fuzz.py`` and the hypothesis tests call exactly these):

* ``decode(payload, Type)``: JSON bytes/str into one of the types below;
* ``envelope(payload)``: the ``{"code","msg","data"}`` around a REST answer;
* ``placed_order(data)``: the place-order reply's ``data`` (nested under
  ``order`` or not);
* the ``parse`` module's functions, which turn decoded types into domain values.

Decoding rules (what BingX is documented or recorded to send, see
``tests/venues/bingx/recorded/``):

* every decimal field is a ``Num``: it holds the *text* of a JSON number or of
  a JSON string (``0.1`` and ``"0.1"`` both give ``Num("0.1")``); JSON numbers
  never pass through float (msgspec hands their text to ``float_hook``);
  ``""`` and ``null`` are absent (``Num("")``); ``parse.dec`` turns the text
  into a bounded, finite ``Decimal`` or refuses it naming the field;
* lax about quoted integers (``"orderId": "1770683446830788608"`` vs
  ``1770683446830788608``, ``"code": "0"``), and 19-digit order ids fit Python ints;
* unknown and extra fields are ignored; only the fields dita reads are
  declared; enum-like strings (status, side, type) stay strings here and
  ``parse`` decides what an unknown value means.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

T = TypeVar("T")


class WireError(ValueError):
    """A payload from BingX did not have the shape we rely on."""


class Num:
    """A decimal as BingX sent it: the text of a JSON number or string, ``""`` when absent."""

    __slots__ = ("text",)

    def __init__(self, text: str = "") -> None:
        self.text = text

    @property
    def absent(self) -> bool:
        return self.text == ""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Num) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"Num({self.text!r})"


ABSENT = Num("")


def _dec_hook(type_: type, obj: Any) -> Any:
    if type_ is Num:
        if obj is None:
            return ABSENT
        if isinstance(obj, bool):
            raise ValueError("a boolean is not a number")
        if isinstance(obj, str):
            return Num(obj.strip())
        if isinstance(obj, int):
            return Num(str(obj))
        raise ValueError(f"expected a number, got {type(obj).__name__}")
    raise NotImplementedError(f"no wire decoder for {type_!r}")


class Envelope(msgspec.Struct, frozen=True):
    """``{"code": 0, "msg": "", "data": ...}`` around every REST answer but listenKey's."""

    code: int = 0
    msg: str | None = ""
    data: msgspec.Raw = msgspec.Raw(b"null")


class ListenKey(msgspec.Struct, frozen=True, rename="camel"):
    listen_key: str


class ListenKeyAnswer(msgspec.Struct, frozen=True, rename="camel"):
    """A listen-key POST answer: bare ``listenKey`` on success, an error envelope otherwise."""

    listen_key: str = ""
    code: int = 0
    msg: str | None = ""


class Contract(msgspec.Struct, frozen=True, rename="camel"):
    """One row of ``GET /openApi/swap/v2/quote/contracts`` (PROTOCOL.md §3.1)."""

    symbol: str
    quantity_precision: int
    price_precision: int
    trade_min_quantity: Num = ABSENT
    trade_min_usdt: Num = msgspec.field(default=ABSENT, name="tradeMinUSDT")
    maker_fee_rate: Num = ABSENT
    taker_fee_rate: Num = ABSENT
    max_long_leverage: int = 0
    max_short_leverage: int = 0
    currency: str | None = "USDT"
    asset: str | None = ""
    status: int = 1
    api_state_open: str | bool = "true"
    api_state_close: str | bool = "true"


class PlacedOrder(msgspec.Struct, frozen=True, rename="camel"):
    """The echo inside ``data.order`` of a successful place (PROTOCOL.md §3.3).

    It carries no fill information we may rely on; fills come from the stream
    or a query. Decimals may be JSON numbers (a demo-account reply in ccxt PR #20806).
    """

    symbol: str = ""
    order_id: int = 0
    order_id_text: str = msgspec.field(default="", name="orderID")
    side: str | None = ""
    position_side: str | None = ""
    type: str | None = ""
    price: Num = ABSENT
    quantity: Num = ABSENT
    client_order_id_echo: str | None = msgspec.field(default="", name="clientOrderID")
    client_order_id: str | None = ""
    time_in_force: str | None = ""
    reduce_only: bool | str | None = False
    status: str | None = ""


class RestOrder(msgspec.Struct, frozen=True, rename="camel"):
    """The REST order object of query / open orders / cancel (PROTOCOL.md §3.11)."""

    symbol: str
    order_id: int
    side: str
    type: str
    status: str = ""
    position_side: str | None = ""
    orig_qty: Num = ABSENT
    price: Num = ABSENT
    executed_qty: Num = ABSENT
    avg_price: Num = ABSENT
    cum_quote: Num = ABSENT
    commission: Num = ABSENT
    time: int = 0
    update_time: int = 0
    client_order_id: str | None = ""
    reduce_only: bool | str | None = False
    time_in_force: str | None = ""
    # protective orders (STOP_MARKET / TAKE_PROFIT_MARKET): the trigger price ("" or "0"
    # on other types), what it is compared with, and whether it closes the whole position
    stop_price: Num = ABSENT
    working_type: str | None = ""
    close_position: bool | str | None = False


class OrderData(msgspec.Struct, frozen=True):
    order: RestOrder


class PlacedOrderData(msgspec.Struct, frozen=True):
    order: PlacedOrder | None = None


class PlacedOrdersData(msgspec.Struct, frozen=True):
    """A batch place reply's ``data``."""

    orders: list[PlacedOrder] | None = None


class OrdersData(msgspec.Struct, frozen=True):
    orders: list[RestOrder] | None = None


class CancelAllData(msgspec.Struct, frozen=True):
    success: list[RestOrder] | None = None
    failed: list[dict[str, Any]] | None = None


class Position(msgspec.Struct, frozen=True, rename="camel"):
    """One row of ``GET /openApi/swap/v2/user/positions`` (PROTOCOL.md §3.8)."""

    symbol: str
    position_amt: Num
    position_side: str | None = ""
    avg_price: Num = ABSENT
    currency: str | None = "USDT"


class Balance(msgspec.Struct, frozen=True, rename="camel"):
    """One asset of ``/openApi/swap/v3/user/balance`` (array) or v2's ``data.balance``.

    A row of an asset the account does not use may carry ``""`` everywhere (a
    recorded USDC row): absent, and never read unless it is the settle asset.
    """

    asset: str
    balance: Num = ABSENT
    available_margin: Num = ABSENT
    equity: Num = ABSENT


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

    e: str | None = ""
    code: int | None = None
    msg: str | None = ""


class OrderUpdate(msgspec.Struct, frozen=True):
    """``o`` of ``ORDER_TRADE_UPDATE``. Single-letter keys as on the wire."""

    symbol: str = msgspec.field(name="s")
    order_id: int = msgspec.field(name="i")
    cum_qty: Num = msgspec.field(default=ABSENT, name="z")
    side: str | None = msgspec.field(default="", name="S")
    order_type: str | None = msgspec.field(default="", name="o")
    exec_type: str | None = msgspec.field(default="", name="x")
    status: str | None = msgspec.field(default="", name="X")
    client_order_id: str | None = msgspec.field(default="", name="c")
    quantity: Num = msgspec.field(default=ABSENT, name="q")
    price: Num = msgspec.field(default=ABSENT, name="p")
    avg_price: Num = msgspec.field(default=ABSENT, name="ap")
    last_qty: Num = msgspec.field(default=ABSENT, name="l")
    last_price: Num = msgspec.field(default=ABSENT, name="L")
    commission: Num = msgspec.field(default=ABSENT, name="n")
    cum_quote: Num = msgspec.field(default=ABSENT, name="Z")  # cumulative quote
    commission_asset: str | None = msgspec.field(default="", name="N")
    trade_time: int = msgspec.field(default=0, name="T")
    position_side: str | None = msgspec.field(default="", name="ps")
    realised_pnl: Num = msgspec.field(default=ABSENT, name="rp")
    reduce_only: bool | str | None = msgspec.field(default=False, name="ro")
    stop_price: Num = msgspec.field(default=ABSENT, name="sp")  # trigger price (JKORF)
    working_type: str | None = msgspec.field(default="", name="wt")


class OrderTradeUpdate(msgspec.Struct, frozen=True):
    order: OrderUpdate = msgspec.field(name="o")
    event_time: int = msgspec.field(default=0, name="E")
    push_time: int = msgspec.field(default=0, name="T")


class AccountBalance(msgspec.Struct, frozen=True):
    asset: str = msgspec.field(name="a")
    wallet_balance: Num = msgspec.field(default=ABSENT, name="wb")
    cross_wallet_balance: Num = msgspec.field(default=ABSENT, name="cw")
    balance_change: Num = msgspec.field(default=ABSENT, name="bc")


class AccountPosition(msgspec.Struct, frozen=True):
    symbol: str = msgspec.field(name="s")
    position_amt: Num = msgspec.field(default=ABSENT, name="pa")
    entry_price: Num = msgspec.field(default=ABSENT, name="ep")
    unrealized_pnl: Num = msgspec.field(default=ABSENT, name="up")
    margin_type: str | None = msgspec.field(default="", name="mt")
    position_side: str | None = msgspec.field(default="", name="ps")


class AccountData(msgspec.Struct, frozen=True):
    reason: str | None = msgspec.field(default="", name="m")
    balances: list[AccountBalance] | None = msgspec.field(default=None, name="B")
    positions: list[AccountPosition] | None = msgspec.field(default=None, name="P")


class AccountUpdate(msgspec.Struct, frozen=True):
    account: AccountData = msgspec.field(name="a")
    event_time: int = msgspec.field(default=0, name="E")


class ListenKeyExpired(msgspec.Struct, frozen=True, rename="camel"):
    listen_key: str | None = ""


_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}


def _decoder(type_: Any) -> msgspec.json.Decoder[Any]:
    dec = _DECODERS.get(type_)
    if dec is None:
        dec = msgspec.json.Decoder(type_, strict=False, dec_hook=_dec_hook, float_hook=str)
        _DECODERS[type_] = dec
    return dec


def _name(type_: Any) -> str:
    return getattr(type_, "__name__", None) or str(type_)


def decode(payload: bytes | str | msgspec.Raw, type_: type[T]) -> T:
    """Decode ``payload`` into ``type_`` (tolerant, see the module docstring), or raise ``WireError``."""
    try:
        return _decoder(type_).decode(payload)  # type: ignore[no-any-return]
    except msgspec.ValidationError as exc:
        raise WireError(f"BingX payload is not a {_name(type_)}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise WireError(f"BingX payload is not JSON: {exc}") from None
    except (RecursionError, MemoryError, TypeError, ValueError) as exc:
        raise WireError(f"BingX payload is not a {_name(type_)}: {type(exc).__name__}") from None


def envelope(payload: bytes | str) -> Envelope:
    """The REST envelope; an empty body is refused like any other unreadable one."""
    return decode(payload, Envelope)


def placed_order(data: bytes | str | msgspec.Raw) -> PlacedOrder:
    """The place reply's ``data``: ``{"order": {...}}``, or the order object itself."""
    nested = decode(data, PlacedOrderData)
    if nested.order is not None:
        return nested.order
    return decode(data, PlacedOrder)
