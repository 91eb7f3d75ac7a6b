"""The account's order and fill history for the emulator: ``allOrders``, ``fullOrder``
and ``allFillOrders``.

The engine reports every change of an order as an ``ORDER_TRADE_UPDATE`` in
its ``outbox``; the server shows each one to ``History.record`` before it
goes onto the streams (so a stream fault never loses history). ``History``
remembers which orders exist (id, symbol, creation time) and every fill; an
order's current state is rendered by the engine itself (its ``query``), so the
history rows have exactly the shape and status profile of the order queries.

Endpoints and their documented parameters (DOC25, the scrape of the official
docs in rosssaunders/coincise ``docs/bingx/endpoints/private/``):

* ``GET /openApi/swap/v2/trade/allOrders`` ("Query Order history",
  ``get_openapi_swap_v2_trade_allorders.md``): orders no longer open;
  ``symbol``, ``orderId`` (that order and later ones), ``startTime``,
  ``endTime``, ``limit`` (default 500, max 1000). ``data.orders``.
* ``GET /openApi/swap/v1/trade/fullOrder`` ("All Orders",
  ``get_openapi_swap_v1_trade_fullorder.md``): the same, open orders included.
* ``GET /openApi/swap/v2/trade/allFillOrders`` (``get_openapi_swap_v2_trade_allfillorders.md``):
  ``tradingUnit`` (COIN or CONT; one contract is one coin here), ``startTs``,
  ``endTs``, ``orderId``; ``data.fill_orders`` rows with ``volume``,
  ``price``, ``amount``, ``commission`` (negative), ``filledTm``
  (``2024-10-24T17:13:12Z``) and ``filledTime`` (``...+0800``) as documented.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from dita.venues.bingx_emulator.protocol import ApiError, int_param, s
from dita.venues.bingx_emulator.sim_engine import SimEngine

MAX_LIMIT = 1000
OPEN = ("NEW", "PENDING", "PARTIALLY_FILLED")
_CST = timezone(timedelta(hours=8))  # the +0800 of BingX's filledTime


@dataclass(slots=True)
class _OrderEntry:
    order_id: int
    symbol: str
    time: int


@dataclass(frozen=True, slots=True)
class Fill:
    trade_id: int
    order_id: int
    client_order_id: str
    symbol: str
    side: str
    type: str
    position_side: str
    qty: Decimal
    price: Decimal
    fee: Decimal  # as on the wire: negative for a fee paid
    realized: Decimal
    time: int
    maker: bool

    def row(self, one_way: bool) -> dict[str, Any]:
        utc = datetime.fromtimestamp(self.time / 1000, UTC)
        return {
            "filledTm": utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "filledTime": utc.astimezone(_CST).strftime("%Y-%m-%dT%H:%M:%S.")
            + f"{self.time % 1000:03d}+0800",
            "symbol": self.symbol, "volume": s(self.qty), "price": s(self.price),
            "amount": s(self.qty * self.price), "commission": s(self.fee), "currency": "USDT",
            "orderId": str(self.order_id), "tradeId": str(self.trade_id),
            "liquidatedPrice": "0", "liquidatedMarginRatio": "0", "workingType": "MARK_PRICE",
            "side": self.side, "type": self.type, "positionSide": self.position_side,
            "clientOrderID": self.client_order_id, "realizedPnl": s(self.realized),
            "buyer": self.side == "BUY", "maker": self.maker, "onlyOnePosition": one_way,
        }  # fmt: skip


class History:
    """Orders and fills seen in the engine's stream events. See the module docstring."""

    def __init__(self, exchange: SimEngine) -> None:
        self.exchange = exchange
        self._orders: dict[int, _OrderEntry] = {}
        self.fills: list[Fill] = []

    def record(self, event: dict[str, Any], *, during_print: bool) -> Fill | None:
        """Take note of one outbox event; returns the fill it reports, if any."""
        if event.get("e") != "ORDER_TRADE_UPDATE":
            return None
        o = event["o"]
        oid = int(o["i"])
        if oid not in self._orders:
            self._orders[oid] = _OrderEntry(oid, o["s"], int(o["T"]))
        if o.get("x") != "TRADE":
            return None
        qty = Decimal(o["l"])
        if qty <= 0:
            return None
        price = Decimal(o["L"])
        fill = Fill(
            trade_id=len(self.fills) + 1, order_id=oid, client_order_id=o.get("c", ""),
            symbol=o["s"], side=o["S"], type=o["o"], position_side=o.get("ps", "BOTH"),
            qty=qty, price=price, fee=Decimal(o.get("n", "0")), realized=Decimal(o.get("rp", "0")),
            time=int(o["T"]),
            # a print fills resting orders at their own price: those provided liquidity
            maker=during_print and o["o"] == "LIMIT" and Decimal(o["p"]) == price,
        )  # fmt: skip
        self.fills.append(fill)
        return fill

    # -- REST ------------------------------------------------------------------

    def all_orders(self, p: dict[str, str]) -> dict[str, Any]:
        return {"orders": self._orders_where(p, include_open=False)}

    def full_order(self, p: dict[str, str]) -> dict[str, Any]:
        return {"orders": self._orders_where(p, include_open=True)}

    def fill_orders(self, p: dict[str, str]) -> dict[str, Any]:
        unit = p.get("tradingUnit", "").upper()
        if unit not in ("COIN", "CONT"):
            raise ApiError(80014, "Invalid parameters,tradingUnit: must be COIN or CONT")
        start = int_param(p, "startTs", 0)
        end = int_param(p, "endTs", 2**63)
        oid = int_param(p, "orderId", -1)
        symbol = p.get("symbol") or None
        limit = _limit(p)
        rows = [
            f.row(self.exchange.mode.value == "ONE_WAY")
            for f in self.fills
            if start <= f.time <= end
            and (oid < 0 or f.order_id == oid)
            and (symbol is None or f.symbol == symbol)
        ]
        return {"fill_orders": rows[-limit:]}

    def _orders_where(self, p: dict[str, str], *, include_open: bool) -> list[dict[str, Any]]:
        symbol = p.get("symbol") or None
        if symbol is not None and not any(c.symbol == symbol for c in self.exchange.contracts):
            raise ApiError(
                109400,
                f"{symbol[:40]},symbol not exist, please verify it in api: /openApi/swap/v2/quote/contracts",
            )
        start = int_param(p, "startTime", 0)
        end = int_param(p, "endTime", 2**63)
        oid = int_param(p, "orderId", -1)
        limit = _limit(p)
        rows: list[dict[str, Any]] = []
        for entry in self._orders.values():
            if symbol is not None and entry.symbol != symbol:
                continue
            if not start <= entry.time <= end or entry.order_id < oid:
                continue
            row = self.exchange.query({"symbol": entry.symbol, "orderId": str(entry.order_id)})[
                "order"
            ]
            if include_open or row["status"] not in OPEN:
                rows.append(row)
        return rows[-limit:]


def _limit(p: dict[str, str]) -> int:
    limit = int_param(p, "limit", 500)
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(80014, f"Invalid parameters, limit must be 1..{MAX_LIMIT}")
    return limit
