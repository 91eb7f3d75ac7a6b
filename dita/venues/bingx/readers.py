"""One entry point per kind of BingX payload: bytes in, domain values out, ``WireError`` or nothing.

``read(kind, payload)`` runs the whole reading path the adapter runs for that
kind (``wire`` decode, ``parse`` conversion, and for order reports and frames a
fresh ``OrderTracker``), so a fuzzer (``bench/fuzz.py``, the hypothesis tests in
``tests/venues/bingx/``) exercises exactly what live trading exercises. The
contract: for any bytes, ``read`` returns, or raises ``WireError``; nothing else
(no ``InvalidOperation``, ``OverflowError``, ``KeyError``...), and every number
it returns is a finite ``Decimal`` inside ``parse``'s bounds.

Kinds (``KINDS``): ``envelope``, ``place``, ``order``, ``orders``, ``cancel_all``,
``positions``, ``balance_v3``, ``contracts``, ``leverage``, ``server_time``,
``listen_key``, ``stream``.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from dita.venues.bingx import parse, wire
from dita.venues.bingx.tracker import OrderTracker
from dita.venues.bingx.wire import WireError

_ZERO = Decimal(0)


def _data(payload: bytes | str) -> wire.Envelope:
    env = wire.envelope(payload)
    if env.code != 0:
        raise WireError(f"BingX error {env.code}")
    return env


def _place(payload: bytes | str) -> object:
    placed = wire.placed_order(_data(payload).data)
    return OrderTracker().on_placed("fuzz-1", placed, 0)


def _order(payload: bytes | str) -> object:
    rest = wire.decode(_data(payload).data, wire.OrderData).order
    return parse.order_report(rest), OrderTracker().on_rest(rest)


def _orders(payload: bytes | str) -> object:
    rows = wire.decode(_data(payload).data, wire.OrdersData).orders or []
    tracker = OrderTracker()
    return [(tracker.on_rest(o), parse.known_status(o.status)) for o in rows]


def _cancel_all(payload: bytes | str) -> object:
    data = wire.decode(_data(payload).data, wire.CancelAllData)
    tracker = OrderTracker()
    return [tracker.untracked_end(o) for o in data.success or []]


def _positions(payload: bytes | str) -> object:
    return [parse.position(p) for p in wire.decode(_data(payload).data, list[wire.Position])]


def _balance_v3(payload: bytes | str) -> object:
    return parse.balance_v3(wire.decode(_data(payload).data, list[wire.Balance]))


def _contracts(payload: bytes | str) -> object:
    rows = wire.decode(_data(payload).data, list[wire.Contract])
    return [(parse.instrument(c), parse.tradable(c)) for c in rows]


def _leverage(payload: bytes | str) -> object:
    return wire.decode(_data(payload).data, wire.LeverageData)


def _server_time(payload: bytes | str) -> object:
    return wire.decode(_data(payload).data, wire.ServerTime).server_time


def _listen_key(payload: bytes | str) -> object:
    return wire.decode(payload, wire.ListenKeyAnswer)


def _stream(payload: bytes | str) -> object:
    head = wire.decode(payload, wire.StreamHead)
    match head.e or "":
        case "ORDER_TRADE_UPDATE" | "TRADE_UPDATE":
            return OrderTracker().on_stream(wire.decode(payload, wire.OrderTradeUpdate))
        case "ACCOUNT_UPDATE":
            ev = wire.decode(payload, wire.AccountUpdate)
            positions = [parse.account_position(p) for p in ev.account.positions or []]
            balances = [
                (
                    parse.dec(b.wallet_balance, "wb"),
                    parse.dec_or(b.cross_wallet_balance, _ZERO, "cw"),
                )
                for b in ev.account.balances or []
            ]
            return positions, balances, parse.funding_events(ev)
        case "listenKeyExpired":
            return wire.decode(payload, wire.ListenKeyExpired)
    return head


READERS: dict[str, Callable[[bytes | str], object]] = {
    "envelope": wire.envelope,
    "place": _place,
    "order": _order,
    "orders": _orders,
    "cancel_all": _cancel_all,
    "positions": _positions,
    "balance_v3": _balance_v3,
    "contracts": _contracts,
    "leverage": _leverage,
    "server_time": _server_time,
    "listen_key": _listen_key,
    "stream": _stream,
}
KINDS = tuple(READERS)


def read(kind: str, payload: bytes | str) -> object:
    """Read ``payload`` as a BingX answer of ``kind``; raises only ``WireError``."""
    reader = READERS.get(kind)
    if reader is None:
        raise ValueError(f"unknown payload kind {kind!r}; one of {', '.join(KINDS)}")
    try:
        return reader(payload)
    except WireError:
        raise
    except (ArithmeticError, ValueError, TypeError, KeyError, IndexError, RecursionError) as exc:
        # a reader bug, not a payload problem; still only WireError leaves (the fuzz tests
        # fail on this path: they check that no payload ever reaches it)
        raise WireError(f"unreadable {kind} payload ({type(exc).__name__})") from exc
