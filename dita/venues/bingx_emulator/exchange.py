"""The emulated BingX account and matching: synchronous, deterministic, no I/O.

Theory of operation
-------------------
One account (one API key) trades USDT-margined perpetual contracts. Every
public method takes BingX request parameters as plain strings (as they came
off the wire) and either returns the BingX ``data`` payload (a JSON-ready
dict/list, decimals as strings, order ids as 19-digit ints) or raises
``ApiError(code, msg)`` with BingX's code (PROTOCOL.md §6.2, §9). Every change
also appends user-data stream events (``ORDER_TRADE_UPDATE``,
``ACCOUNT_UPDATE``) to ``outbox``, which the server drains onto the
WebSockets; the exchange itself never touches a socket.

Matching is deliberately small: the market is a last price per symbol, moved
by the test (``set_price``) or by prints (``trade``). MARKET orders and
marketable LIMIT orders fill in full at the last price as taker. Resting LIMIT
orders fill only when a print crosses them, at their own limit price as maker,
in time priority, up to the printed volume: that is how tests get partial
fills. IOC/FOK remainders expire. (The sim matching engine in
``dita.venues.sim`` had not landed when this was written; see the package
docstring.)

Money follows the kernel's rules (DESIGN.md "Exact PnL"): a partial close
realizes ``qty * (price - average entry)``, the fill that flattens a position
realizes the exact remainder, fees are ``qty * price * rate`` per fill, and
the wallet is initial + realized - fees, exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from dita.kernel.model import PositionMode

_ZERO = Decimal(0)
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


@dataclass(slots=True)
class _Order:
    order_id: int
    client_order_id: str
    symbol: str
    side: str  # BUY / SELL
    position_side: str  # BOTH / LONG / SHORT
    type: str  # MARKET / LIMIT
    quantity: Decimal
    price: Decimal  # limit price, 0 for MARKET
    time_in_force: str
    reduce_only: bool
    time: int
    status: str = "NEW"
    update_time: int = 0
    cum_qty: Decimal = _ZERO
    cum_quote: Decimal = _ZERO
    commission: Decimal = _ZERO  # cumulative, positive here; negative on the wire
    profit: Decimal = _ZERO
    leverage: int = 1

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.cum_qty

    @property
    def live(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")


@dataclass(slots=True)
class _Position:
    """One side's position: ``qty`` > 0, with the exact entry cost and what exits realized."""

    qty: Decimal = _ZERO
    entry_qty: Decimal = _ZERO
    entry_cost: Decimal = _ZERO
    exit_qty: Decimal = _ZERO
    exit_value: Decimal = _ZERO
    realized: Decimal = _ZERO

    @property
    def avg(self) -> Decimal:
        return self.entry_cost / self.entry_qty if self.entry_qty else _ZERO

    def open(self, qty: Decimal, price: Decimal) -> None:
        self.qty += qty
        self.entry_qty += qty
        self.entry_cost += qty * price

    def close(self, qty: Decimal, price: Decimal, long: bool) -> Decimal:
        """Reduce by ``qty`` at ``price``; returns the realized PnL of this fill."""
        self.exit_qty += qty
        self.exit_value += qty * price
        self.qty -= qty
        if self.qty == 0:
            total = self.exit_value - self.entry_cost if long else self.entry_cost - self.exit_value
            pnl = total - self.realized
            self.qty = self.entry_qty = self.entry_cost = self.exit_qty = self.exit_value = _ZERO
            self.realized = _ZERO
            return pnl
        pnl = qty * (price - self.avg) if long else qty * (self.avg - price)
        self.realized += pnl
        return pnl


def s(d: Decimal) -> str:
    """A decimal as BingX writes it: a plain string, never an exponent."""
    return format(d, "f")


@dataclass
class Exchange:
    """The account, its orders and positions, and the market. See the module docstring."""

    clock: Callable[[], int]
    contracts: tuple[ContractSpec, ...] = DEFAULT_CONTRACTS
    initial_balance: Decimal = Decimal(10_000)
    mode: Mode = Mode.ONE_WAY
    default_leverage: int = 5
    reject_excess_precision: bool = False  # PROTOCOL.md §3.1 CONFLICT: truncate by default
    open_status: str = "NEW"  # REST status of resting orders: NEW or PENDING (§4)
    push_new_for_market: bool = True  # §4 UNCONFIRMED: a NEW frame before a MARKET fill
    outbox: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._specs = {c.symbol: c for c in self.contracts}
        self._prices = {c.symbol: c.price for c in self.contracts}
        self._orders: dict[int, _Order] = {}
        self._by_cid: dict[str, int] = {}
        self._positions: dict[tuple[str, str], _Position] = {}
        self._leverage: dict[tuple[str, str], int] = {}
        self._next_id = ORDER_ID_BASE + 1
        self.wallet = self.initial_balance
        self.realized = _ZERO
        self.fees = _ZERO

    # -- market control (tests) -------------------------------------------

    def set_price(self, symbol: str, price: Decimal) -> None:
        """Move the last/mark price. Resting orders do not fill: use ``trade``."""
        self._spec(symbol)
        self._prices[symbol] = price

    def trade(self, symbol: str, price: Decimal, volume: Decimal) -> None:
        """A print of ``volume`` at ``price``: fills crossing resting LIMIT orders (maker,
        at their limit price, best price first, then oldest) until the volume is used up."""
        self._spec(symbol)
        self._prices[symbol] = price
        left = volume
        for o in sorted(self._orders.values(), key=_priority):
            if left <= 0:
                break
            if o.symbol != symbol or not o.live or o.type != "LIMIT":
                continue
            crosses = o.price >= price if o.side == "BUY" else o.price <= price
            if not crosses:
                continue
            qty = min(o.remaining, left)
            left -= qty
            self._fill(o, qty, o.price, maker=True)

    def price(self, symbol: str) -> Decimal:
        return self._prices[self._spec(symbol).symbol]

    def order_count(self) -> int:
        return len(self._orders)

    # -- REST: market data -------------------------------------------------

    def contracts_data(self, symbol: str | None) -> list[dict[str, Any]]:
        rows = []
        for c in self.contracts:
            if symbol and c.symbol != symbol:
                continue
            rows.append(
                {
                    "contractId": c.contract_id,
                    "symbol": c.symbol,
                    "size": "0",
                    "quantityPrecision": c.quantity_precision,
                    "pricePrecision": c.price_precision,
                    "feeRate": c.taker_fee,
                    "makerFeeRate": c.maker_fee,
                    "takerFeeRate": c.taker_fee,
                    "tradeMinLimit": 0,
                    "tradeMinQuantity": c.min_qty,
                    "tradeMinUSDT": c.min_usdt,
                    "maxLongLeverage": c.max_leverage,
                    "maxShortLeverage": c.max_leverage,
                    "currency": "USDT",
                    "asset": c.asset,
                    "status": 1,
                    "apiStateOpen": "true",
                    "apiStateClose": "true",
                    "ensureTrigger": False,
                    "triggerFeeRate": "0.00020000",
                    "brokerState": False,
                    "launchTime": 1586275200000,
                    "maintainTime": 0,
                    "offTime": 0,
                    "displayName": c.symbol,
                }
            )
        if symbol and not rows:
            raise _no_symbol(symbol)
        return rows

    def price_data(self, symbol: str | None) -> dict[str, Any] | list[dict[str, Any]]:
        now = self.clock()
        if symbol:
            spec = self._spec(symbol)
            return {"symbol": spec.symbol, "price": s(self._prices[spec.symbol]), "time": now}
        return [{"symbol": k, "price": s(v), "time": now} for k, v in self._prices.items()]

    def ticker_data(self, symbol: str | None) -> dict[str, Any] | list[dict[str, Any]]:
        def row(sym: str) -> dict[str, Any]:
            p = s(self._prices[sym])
            return {
                "symbol": sym, "lastPrice": p, "bidPrice": p, "askPrice": p, "openPrice": p,
                "highPrice": p, "lowPrice": p, "priceChange": "0", "priceChangePercent": "0",
                "volume": "0", "quoteVolume": "0", "lastQty": "0", "bidQty": "0", "askQty": "0",
                "openTime": self.clock(), "closeTime": self.clock(),
            }  # fmt: skip

        if symbol:
            return row(self._spec(symbol).symbol)
        return [row(sym) for sym in self._prices]

    # -- REST: trading -----------------------------------------------------

    def place(self, p: dict[str, str]) -> dict[str, Any]:
        """``POST /openApi/swap/v2/trade/order`` (PROTOCOL.md §3.3); returns ``data``."""
        req = parse_place(p, self._spec, reject_excess_precision=self.reject_excess_precision)
        spec, side, otype, pos_side = req.spec, req.side, req.otype, req.pos_side
        reduce_only, qty, tif, cid = req.reduce_only, req.qty, req.tif, req.cid
        price = req.price if req.price is not None else _ZERO
        if self.mode is Mode.ONE_WAY and pos_side != "BOTH":
            raise ApiError(
                109400, "In the One-way mode, the 'PositionSide' field can only be set to BOTH."
            )
        if self.mode is Mode.HEDGE:
            if pos_side not in ("LONG", "SHORT"):
                raise ApiError(
                    109400,
                    "In the Hedge mode, the 'PositionSide' field can only be set to LONG or SHORT.",
                )
            if reduce_only:
                raise ApiError(
                    109400, "In the Hedge mode, the 'ReduceOnly' field can not be filled."
                )
        if cid and cid in self._by_cid:
            raise ApiError(101481, "clientOrderID cannot be repeated")

        last = self._prices[spec.symbol]
        closing = self._is_closing(side, pos_side, reduce_only)
        if closing:
            held = self._held(spec.symbol, side, pos_side)
            if held == 0:
                raise ApiError(101205, "No position to close")
            if qty > held:
                raise ApiError(101290, "Reduce Only order can only decrease your position")
        if qty < spec.min_qty:
            raise ApiError(101400, f"The minimum order amount is {s(spec.min_qty)} {spec.asset}.")
        ref = price if otype == "LIMIT" else last
        full_close = closing and qty == self._held(spec.symbol, side, pos_side)
        if qty * ref < spec.min_usdt and not full_close:
            raise ApiError(
                101400,
                f"Please ensure that the minimum nominal value of the order placed must be greater than {s(spec.min_usdt)}u",
            )
        marketable = otype == "MARKET" or (price >= last if side == "BUY" else price <= last)
        if tif == "PostOnly" and marketable:
            raise ApiError(
                101215, "The order would immediately match and take, PostOnly order rejected"
            )
        lev = self._lev(spec.symbol, pos_side, side)
        if not closing and qty * ref / lev > self.available():
            raise ApiError(101204, "Insufficient margin")

        now = self.clock()
        o = _Order(
            order_id=self._next_id, client_order_id=cid, symbol=spec.symbol, side=side,
            position_side=pos_side, type=otype, quantity=qty, price=price,
            time_in_force=tif, reduce_only=reduce_only or closing, time=now,
            update_time=now, leverage=lev,
        )  # fmt: skip
        self._next_id += 1
        self._orders[o.order_id] = o
        if cid:
            self._by_cid[cid] = o.order_id
        if otype == "LIMIT" or self.push_new_for_market:
            self._push_order(o, "NEW")
        if marketable:
            # takes liquidity in full at the last price (never worse than a LIMIT's price)
            self._fill(o, qty, last, maker=False)
        elif tif in ("IOC", "FOK"):
            o.status = "EXPIRED"
            self._push_order(o, "EXPIRED")
        return {"order": self._echo(o)}

    def cancel(self, p: dict[str, str]) -> dict[str, Any]:
        """``DELETE /openApi/swap/v2/trade/order`` (§3.4)."""
        o = self._find(p, not_found=(109421, "order not exist"))
        if o.status == "FILLED":
            raise ApiError(80018, "order is already filled, The order doesn't exist")
        if not o.live:
            raise ApiError(109421, "order not exist")
        self._cancel(o)
        return {"order": self._rest_order(o)}

    def cancel_all(self, p: dict[str, str]) -> dict[str, Any]:
        symbol = p.get("symbol")
        if symbol:
            self._spec(symbol)
        done = []
        for o in list(self._orders.values()):
            if o.live and (not symbol or o.symbol == symbol):
                self._cancel(o)
                done.append(self._rest_order(o))
        return {"success": done, "failed": None}

    def query(self, p: dict[str, str]) -> dict[str, Any]:
        """``GET /openApi/swap/v2/trade/order`` (§3.6): any state."""
        return {"order": self._rest_order(self._find(p, not_found=(80016, "order does not exist")))}

    def open_orders(self, p: dict[str, str]) -> dict[str, Any]:
        symbol = p.get("symbol")
        if symbol:
            self._spec(symbol)
        return {
            "orders": [
                self._rest_order(o)
                for o in self._orders.values()
                if o.live and (not symbol or o.symbol == symbol)
            ]
        }

    def positions_data(self, p: dict[str, str]) -> list[dict[str, Any]]:
        symbol = p.get("symbol")
        rows: list[dict[str, Any]] = []
        for (sym, ps), pos in self._positions.items():
            if pos.qty == 0 or (symbol and sym != symbol):
                continue
            mark = self._prices[sym]
            long = ps == "LONG"
            upnl = pos.qty * (mark - pos.avg) if long else pos.qty * (pos.avg - mark)
            lev = self._lev(sym, "BOTH" if self.mode is Mode.ONE_WAY else ps, "BUY")
            rows.append(
                {
                    "positionId": str(ORDER_ID_BASE // 10 + len(rows)),
                    "symbol": sym, "currency": "USDT", "positionAmt": s(pos.qty),
                    "availableAmt": s(pos.qty), "positionSide": ps, "isolated": False,
                    "avgPrice": s(pos.avg), "initialMargin": s(pos.qty * pos.avg / lev),
                    "leverage": lev, "unrealizedProfit": s(upnl), "realisedProfit": s(pos.realized),
                    "liquidationPrice": 0, "markPrice": s(mark),
                    "positionValue": s(pos.qty * mark), "onlyOnePosition": self.mode is Mode.ONE_WAY,
                    "updateTime": self.clock(),
                }
            )  # fmt: skip
        return rows

    def balance_row(self) -> dict[str, Any]:
        upnl = self._unrealized()
        used = self._used_margin()
        frozen = self._frozen_margin()
        return {
            "userId": "1000001", "asset": "USDT", "balance": s(self.wallet),
            "equity": s(self.wallet + upnl), "unrealizedProfit": s(upnl),
            "realisedProfit": s(self.realized), "availableMargin": s(self.available()),
            "usedMargin": s(used), "freezedMargin": s(frozen), "shortUid": "1000001",
        }  # fmt: skip

    def set_leverage(self, p: dict[str, str]) -> dict[str, Any]:
        spec = self._spec(_required(p, "symbol"))
        side = _required(p, "side").upper()
        if self.mode is Mode.ONE_WAY and side != "BOTH":
            raise ApiError(109400, "In the One-way mode, the 'side' field can only be set to BOTH.")
        if self.mode is Mode.HEDGE and side not in ("LONG", "SHORT"):
            raise ApiError(
                109400, "In the Hedge mode, the 'side' field can only be set to LONG or SHORT."
            )
        try:
            lev = int(_required(p, "leverage"))
        except ValueError:
            raise ApiError(80014, "Invalid parameters, leverage must be an integer") from None
        if lev < 1 or lev > spec.max_leverage:
            raise ApiError(101414, f"leverage must be between 1 and {spec.max_leverage}")
        self._leverage[(spec.symbol, side)] = lev
        return {"leverage": lev, "symbol": spec.symbol}

    def get_leverage(self, p: dict[str, str]) -> dict[str, Any]:
        spec = self._spec(_required(p, "symbol"))
        if self.mode is Mode.ONE_WAY:
            long = short = self._lev(spec.symbol, "BOTH", "BUY")
        else:
            long, short = (
                self._lev(spec.symbol, "LONG", "BUY"),
                self._lev(spec.symbol, "SHORT", "SELL"),
            )
        return {
            "longLeverage": long, "shortLeverage": short,
            "maxLongLeverage": spec.max_leverage, "maxShortLeverage": spec.max_leverage,
        }  # fmt: skip

    def set_mode(self, dual: bool) -> dict[str, Any]:
        if any(o.live for o in self._orders.values()) or any(
            pos.qty for pos in self._positions.values()
        ):
            raise ApiError(104103, "position mode cannot be changed with open positions or orders")
        self.mode = Mode.HEDGE if dual else Mode.ONE_WAY
        return {"dualSidePosition": "true" if dual else "false"}

    # -- account arithmetic --------------------------------------------------

    def available(self) -> Decimal:
        return (
            self.wallet
            + min(self._unrealized(), _ZERO)
            - self._used_margin()
            - self._frozen_margin()
        )

    def _unrealized(self) -> Decimal:
        total = _ZERO
        for (sym, ps), pos in self._positions.items():
            if pos.qty:
                mark = self._prices[sym]
                total += pos.qty * (mark - pos.avg) if ps == "LONG" else pos.qty * (pos.avg - mark)
        return total

    def _used_margin(self) -> Decimal:
        total = _ZERO
        for (sym, ps), pos in self._positions.items():
            if pos.qty:
                key = "BOTH" if self.mode is Mode.ONE_WAY else ps
                total += pos.qty * pos.avg / self._lev(sym, key, "BUY")
        return total

    def _frozen_margin(self) -> Decimal:
        return sum(
            (
                o.remaining * o.price / o.leverage
                for o in self._orders.values()
                if o.live and not o.reduce_only
            ),
            _ZERO,
        )

    # -- internals -----------------------------------------------------------

    def _spec(self, symbol: str) -> ContractSpec:
        spec = self._specs.get(symbol)
        if spec is None:
            raise _no_symbol(symbol)
        return spec

    def _lev(self, symbol: str, pos_side: str, side: str) -> int:
        key = pos_side if pos_side in ("LONG", "SHORT") else "BOTH"
        return self._leverage.get((symbol, key), self.default_leverage)

    def _is_closing(self, side: str, pos_side: str, reduce_only: bool) -> bool:
        if self.mode is Mode.HEDGE:
            return (side, pos_side) in (("SELL", "LONG"), ("BUY", "SHORT"))
        return reduce_only

    def _held(self, symbol: str, side: str, pos_side: str) -> Decimal:
        """The position an order on ``side`` would reduce."""
        if self.mode is Mode.HEDGE:
            return self._pos(symbol, pos_side).qty
        opposite = "LONG" if side == "SELL" else "SHORT"
        return self._pos(symbol, opposite).qty

    def _pos(self, symbol: str, side: str) -> _Position:
        return self._positions.setdefault((symbol, side), _Position())

    def _find(self, p: dict[str, str], not_found: tuple[int, str]) -> _Order:
        self._spec(_required(p, "symbol"))
        oid = p.get("orderId", "")
        cid = p.get("clientOrderId", p.get("clientOrderID", "")).lower()
        if not oid and not cid:
            raise ApiError(80001, "orderId and clientOrderId are both empty")
        o: _Order | None = None
        if oid:
            try:
                o = self._orders.get(int(oid))
            except ValueError:
                raise ApiError(80014, "Invalid parameters, orderId") from None
        elif cid in self._by_cid:
            o = self._orders[self._by_cid[cid]]
        if o is None or o.symbol != p["symbol"]:
            raise ApiError(*not_found)
        return o

    def _cancel(self, o: _Order) -> None:
        o.status = "CANCELLED"
        o.update_time = self.clock()
        self._push_order(o, "CANCELED")

    def _fill(self, o: _Order, qty: Decimal, price: Decimal, maker: bool) -> None:
        spec = self._spec(o.symbol)
        fee = qty * price * (spec.maker_fee if maker else spec.taker_fee)
        pnl = self._apply_position(o, qty, price)
        o.cum_qty += qty
        o.cum_quote += qty * price
        o.commission += fee
        o.profit += pnl
        o.status = "FILLED" if o.cum_qty == o.quantity else "PARTIALLY_FILLED"
        o.update_time = self.clock()
        self.realized += pnl
        self.fees += fee
        self.wallet += pnl - fee
        self._push_order(o, "TRADE", last_qty=qty, last_price=price, fee=fee, pnl=pnl)
        self._push_account(o.symbol)

    def _apply_position(self, o: _Order, qty: Decimal, price: Decimal) -> Decimal:
        if self.mode is Mode.HEDGE:
            pos = self._pos(o.symbol, o.position_side)
            if self._is_closing(o.side, o.position_side, False):
                return pos.close(qty, price, long=o.position_side == "LONG")
            pos.open(qty, price)
            return _ZERO
        # one-way: a BUY first reduces a short, then opens/extends a long (and vice versa)
        reduce_side, open_side = ("SHORT", "LONG") if o.side == "BUY" else ("LONG", "SHORT")
        held = self._pos(o.symbol, reduce_side)
        pnl = _ZERO
        closing = min(qty, held.qty)
        if closing:
            pnl = held.close(closing, price, long=reduce_side == "LONG")
        if qty > closing:
            self._pos(o.symbol, open_side).open(qty - closing, price)
        return pnl

    def _echo(self, o: _Order) -> dict[str, Any]:
        return {
            "symbol": o.symbol, "orderId": o.order_id, "side": o.side,
            "positionSide": o.position_side, "type": o.type, "price": s(o.price),
            "quantity": s(o.quantity), "stopPrice": "0", "workingType": "MARK_PRICE",
            "clientOrderID": o.client_order_id, "timeInForce": o.time_in_force,
            "priceRate": "0", "stopLoss": "", "takeProfit": "", "reduceOnly": o.reduce_only,
            "activationPrice": "0", "closePosition": "", "stopGuaranteed": "",
        }  # fmt: skip

    def _avg(self, o: _Order) -> Decimal:
        return o.cum_quote / o.cum_qty if o.cum_qty else _ZERO

    def _rest_order(self, o: _Order) -> dict[str, Any]:
        status = self.open_status if o.status == "NEW" else o.status
        return {
            "symbol": o.symbol, "orderId": o.order_id, "side": o.side,
            "positionSide": o.position_side, "type": o.type, "origQty": s(o.quantity),
            "price": s(o.price), "executedQty": s(o.cum_qty), "avgPrice": s(self._avg(o)),
            "cumQuote": s(o.cum_quote), "stopPrice": "", "profit": s(o.profit),
            "commission": s(-o.commission), "status": status, "time": o.time,
            "updateTime": o.update_time, "clientOrderId": o.client_order_id,
            "leverage": f"{o.leverage}X", "workingType": "MARK_PRICE",
            "onlyOnePosition": self.mode is Mode.ONE_WAY, "reduceOnly": o.reduce_only,
            "postOnly": o.time_in_force == "PostOnly", "stopGuaranteed": "false",
            "triggerOrderId": 0, "timeInForce": o.time_in_force,
        }  # fmt: skip

    def _push_order(
        self,
        o: _Order,
        exec_type: str,
        last_qty: Decimal = _ZERO,
        last_price: Decimal = _ZERO,
        fee: Decimal = _ZERO,
        pnl: Decimal = _ZERO,
    ) -> None:
        now = self.clock()
        status = {"CANCELLED": "CANCELED"}.get(o.status, o.status)
        self.outbox.append(
            {
                "e": "ORDER_TRADE_UPDATE", "E": now, "T": now,
                "o": {
                    "s": o.symbol, "c": o.client_order_id, "i": o.order_id, "S": o.side,
                    "o": o.type, "q": s(o.quantity), "p": s(o.price), "ap": s(self._avg(o)),
                    "x": exec_type, "X": status, "l": s(last_qty), "L": s(last_price),
                    "z": s(o.cum_qty), "n": s(-fee), "N": "USDT", "T": now,
                    "wt": "MARK_PRICE", "ps": o.position_side, "rp": s(pnl), "sp": "0",
                    "ro": o.reduce_only, "Z": s(o.cum_quote),
                },
            }
        )  # fmt: skip

    def _push_account(self, symbol: str) -> None:
        now = self.clock()
        positions = []
        for (sym, ps), pos in self._positions.items():
            if sym == symbol:
                positions.append(
                    {
                        "s": sym,
                        "pa": s(pos.qty),
                        "ep": s(pos.avg),
                        "up": "0",
                        "mt": "cross",
                        "iw": "0",
                        "ps": ps,
                    }
                )
        self.outbox.append(
            {
                "e": "ACCOUNT_UPDATE", "E": now, "T": now,
                "a": {"m": "ORDER", "B": [{"a": "USDT", "wb": s(self.wallet), "cw": s(self.wallet), "bc": "0"}], "P": positions},
            }
        )  # fmt: skip


def _no_symbol(symbol: str) -> ApiError:
    return ApiError(
        109400,
        f"{symbol},symbol not exist, please verify it in api: /openApi/swap/v2/quote/contracts",
    )


@dataclass(frozen=True, slots=True)
class PlaceParams:
    """A place-order request's parameters, checked the way BingX checks them (both engines)."""

    spec: ContractSpec
    side: str  # BUY | SELL
    otype: str  # MARKET | LIMIT
    pos_side: str  # as sent, upper-cased; the engine applies its position-mode rules
    reduce_only: bool
    qty: Decimal
    price: Decimal | None  # None for MARKET
    tif: str
    cid: str  # lower-cased, "" if none


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
    if otype not in ("MARKET", "LIMIT"):
        raise ApiError(80014, f"Invalid parameters, type {otype} is not supported by the emulator")
    pos_side = p.get("positionSide", "LONG").upper()  # DOC25: defaults to LONG
    reduce_only = _bool(p.get("reduceOnly", "false"), "reduceOnly")
    if "quantity" not in p:
        raise ApiError(80014, "parameter quantity is must")
    grid = reject_excess_precision
    qty = on_grid(
        _decimal(p["quantity"], "quantity"), spec.step, "quantity", reject_excess_precision=grid
    )
    if qty <= 0:
        raise ApiError(80014, "Invalid parameters, quantity must be greater than 0")
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
    return PlaceParams(spec, side, otype, pos_side, reduce_only, qty, price, tif, cid)


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


def _priority(o: _Order) -> tuple[Decimal, int]:
    return (-o.price if o.side == "BUY" else o.price, o.order_id)
