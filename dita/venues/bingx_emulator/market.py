"""The emulator's public market data beyond prices: recent trades, order book, book
ticker, funding-rate history and open interest (REST ``/openApi/swap/v2/quote/...``).

The emulated market is a last price per symbol plus the prints the test makes
(``BingxEmulator.trade``) and the account's own fills. What this module serves
follows from exactly that, in the shapes BingX documents:

* **recent trades** (``GET /openApi/swap/v2/quote/trades``; DOC25
  ``endpoints/public/get_openapi_swap_v2_quote_trades.md``, ccxt's recorded
  reply in ``fetch_trades``): every print and every fill of the account that
  took liquidity, newest last, ``price``/``qty``/``quoteQty`` as strings.
* **order book** (``GET /openApi/swap/v2/quote/depth``; DOC25
  ``get_openapi_swap_v2_quote_depth.md``: ``T``, ``bids``, ``asks``,
  ``bidsCoin``, ``asksCoin``; limits 5/10/20/50/100/500/1000): a *synthetic*
  book, one level per tick on each side of the last price with
  ``depth_lots`` minimum quantities each, plus the account's resting orders at
  their prices. MARKET orders still fill in full at the last price; the book
  is for clients that want to see one, not a matching model.
* **book ticker** (``GET /openApi/swap/v2/quote/bookTicker``; DOC25
  ``get_openapi_swap_v2_quote_bookticker.md`` for the fields, the
  ``book_ticker`` wrapper as JKorf/BingX.Net's ``BingXFuturesBookTickerWrapper``
  reads it): the best level of that book.
* **funding-rate history** (``GET /openApi/swap/v2/quote/fundingRate``; DOC25
  ``get_openapi_swap_v2_quote_fundingrate.md``: default limit 100, max 1000):
  one row per 8-hour funding time since the emulator started, with the rate
  the emulator actually charges.
* **open interest** (``GET /openApi/swap/v2/quote/openInterest``; DOC25
  ``get_openapi_swap_v2_quote_openinterest.md``): the account is the whole
  market, so it is the value of the account's open position at the last price.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dita.venues.bingx_emulator.protocol import ApiError, int_param, s
from dita.venues.bingx_emulator.sim_engine import SimEngine

DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
TRADES_MAX = 1000
FUNDING_INTERVAL_MS = 8 * 3_600_000
FUNDING_MAX = 1000


@dataclass(frozen=True, slots=True)
class PublicTrade:
    symbol: str
    time: int
    price: Decimal
    qty: Decimal
    buyer_maker: bool

    def rest_row(self) -> dict[str, Any]:
        return {
            "time": self.time, "isBuyerMaker": self.buyer_maker, "price": s(self.price),
            "qty": s(self.qty), "quoteQty": s(self.price * self.qty),
        }  # fmt: skip

    def ws_row(self) -> dict[str, Any]:
        # the linear-swap push as ccxt's handle_trades records it: a list of these
        return {
            "q": s(self.qty), "p": s(self.price), "T": self.time, "m": self.buyer_maker,
            "s": self.symbol,
        }  # fmt: skip


class MarketData:
    """Public market data of one emulator. See the module docstring."""

    def __init__(
        self,
        exchange: SimEngine,
        clock: Callable[[], int],
        *,
        depth_lots: int = 100,
        funding_rate: Callable[[str], Decimal] = lambda symbol: Decimal(0),
    ) -> None:
        self.exchange = exchange
        self.clock = clock
        self.depth_lots = depth_lots
        self.funding_rate = funding_rate
        self.started_ms = clock()
        self._trades: dict[str, deque[PublicTrade]] = {}

    # -- recording ------------------------------------------------------------

    def add_trade(self, trade: PublicTrade) -> None:
        self._trades.setdefault(trade.symbol, deque(maxlen=TRADES_MAX)).append(trade)

    # -- REST ------------------------------------------------------------------

    def trades(self, p: dict[str, str]) -> list[dict[str, Any]]:
        symbol = self.symbol(p)
        limit = int_param(p, "limit", 500)
        if not 1 <= limit <= TRADES_MAX:
            raise ApiError(80014, f"Invalid parameters, limit must be 1..{TRADES_MAX}")
        rows = list(self._trades.get(symbol, ()))[-limit:]
        return [t.rest_row() for t in rows]

    def book(self, symbol: str, levels: int) -> tuple[list[list[str]], list[list[str]]]:
        """(bids best first, asks best first), ``[price, qty]`` strings."""
        spec = next(c for c in self.exchange.contracts if c.symbol == symbol)
        last = self.exchange.price(symbol)
        lot = spec.min_qty * self.depth_lots
        bids: dict[Decimal, Decimal] = {}
        asks: dict[Decimal, Decimal] = {}
        for i in range(1, levels + 1):
            if last - spec.tick * i > 0:
                bids[last - spec.tick * i] = lot
            asks[last + spec.tick * i] = lot
        for row in self.exchange.open_orders({"symbol": symbol})["orders"]:
            price = Decimal(str(row["price"]))
            left = Decimal(str(row["origQty"])) - Decimal(str(row["executedQty"]))
            if price <= 0 or left <= 0:
                continue
            side = bids if row["side"] == "BUY" else asks
            side[price] = side.get(price, Decimal(0)) + left
        best_bids = sorted(bids, reverse=True)[:levels]
        best_asks = sorted(asks)[:levels]
        return (
            [[s(price), s(bids[price])] for price in best_bids],
            [[s(price), s(asks[price])] for price in best_asks],
        )

    def depth(self, p: dict[str, str]) -> dict[str, Any]:
        symbol = self.symbol(p)
        limit = int_param(p, "limit", 20)
        if limit not in DEPTH_LIMITS:
            raise ApiError(80014, f"Invalid parameters, limit must be one of {list(DEPTH_LIMITS)}")
        bids, asks = self.book(symbol, limit)
        return {
            "T": self.clock(), "bids": bids, "asks": asks,
            "bidsCoin": bids, "asksCoin": asks,  # one contract is one coin here
        }  # fmt: skip

    def book_ticker(self, p: dict[str, str]) -> dict[str, Any]:
        symbol = self.symbol(p)
        bids, asks = self.book(symbol, 1)
        seq = len(self._trades.get(symbol, ()))
        return {
            "book_ticker": {
                "symbol": symbol, "bid_price": bids[0][0] if bids else "0",
                "bid_qty": bids[0][1] if bids else "0", "ask_price": asks[0][0],
                "ask_qty": asks[0][1], "lastUpdateId": seq, "time": self.clock(),
            }
        }  # fmt: skip

    def funding_history(self, p: dict[str, str]) -> list[dict[str, Any]]:
        symbols = (
            [self.symbol(p)] if p.get("symbol") else [c.symbol for c in self.exchange.contracts]
        )
        limit = int_param(p, "limit", 100)
        if not 1 <= limit <= FUNDING_MAX:
            raise ApiError(80014, f"Invalid parameters, limit must be 1..{FUNDING_MAX}")
        now = self.clock()
        start = max(int_param(p, "startTime", 0), self.started_ms)
        end = min(int_param(p, "endTime", now), now)
        first = (start + FUNDING_INTERVAL_MS - 1) // FUNDING_INTERVAL_MS * FUNDING_INTERVAL_MS
        times = range(first, end + 1, FUNDING_INTERVAL_MS) if end >= first else range(0)
        rows = [
            {"symbol": sym, "fundingRate": s(self.funding_rate(sym)), "fundingTime": t}
            for t in times[-limit:]
            for sym in symbols
        ]
        return rows[-limit:]

    def open_interest(self, p: dict[str, str]) -> dict[str, Any]:
        symbol = self.symbol(p)
        if not p.get("symbol"):
            raise ApiError(80014, "Invalid parameters,symbol: This field is required.")
        last = self.exchange.price(symbol)
        held = sum(
            (
                Decimal(str(row["positionAmt"])).copy_abs()
                for row in self.exchange.positions_data({"symbol": symbol})
            ),
            Decimal(0),
        )
        return {"openInterest": s(held * last), "symbol": symbol, "time": self.clock()}

    def symbol(self, p: dict[str, str]) -> str:
        symbol = p.get("symbol", "")
        if not any(c.symbol == symbol for c in self.exchange.contracts):
            raise ApiError(
                109400,
                f"{symbol[:40]},symbol not exist, please verify it in api: /openApi/swap/v2/quote/contracts",
            )
        return symbol
