from __future__ import annotations

from decimal import Decimal

from dita.kernel.model import EventKind, Instrument, OrderSide, OrderType, VenueEvent
from dita.marketdata.model import Bar
from dita.venues.sim import OrderRequest, SimConfig, SimExchange

D = Decimal
SYM = "BTC-USDT"
BTC = Instrument(SYM, D("0.1"), D("0.001"), D("0.002"), D("5"))
T0 = 1_704_067_200_000  # 2024-01-01T00:00Z, a funding time
MIN = 60_000


def make(accounts: tuple[str, ...] = ("main",), **overrides: object) -> SimExchange:
    fields: dict[str, object] = {
        "instruments": (BTC,),
        "initial_balance": D(100_000),
        "funding_rate": D(0),
    }
    fields.update(overrides)
    return SimExchange(SimConfig(**fields), accounts=accounts)  # type: ignore[arg-type]


def bar(i: int, o: str, h: str, lo: str, c: str, v: str = "100", symbol: str = SYM) -> Bar:
    ts = T0 + i * MIN
    return Bar(symbol, ts, D(o), D(h), D(lo), D(c), D(v), ts + MIN - 1)


def limit(
    cid: str, side: OrderSide, qty: str, price: str, *, reduce_only: bool = False
) -> OrderRequest:
    return OrderRequest(cid, SYM, side, OrderType.LIMIT, D(qty), D(price), reduce_only)


def market(cid: str, side: OrderSide, qty: str, *, reduce_only: bool = False) -> OrderRequest:
    return OrderRequest(cid, SYM, side, OrderType.MARKET, D(qty), None, reduce_only)


def kinds(events: list[VenueEvent]) -> list[tuple[str, EventKind]]:
    return [(e.client_order_id, e.kind) for e in events]


BUY, SELL = OrderSide.BUY, OrderSide.SELL
