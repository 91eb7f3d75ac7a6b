"""The emulator's engine: BingX's wire protocol in front of ``dita.venues.sim``.

The matching, margin, reduce-only, minimum and money rules are the sim
matching engine's, in one-way and in hedge mode, so the BingX adapter is
tested against exactly the market model the backtests use. What this module
adds is BingX's behaviour around it:

* parameters as BingX takes them (``positionSide``: BOTH in one-way mode,
  LONG or SHORT in hedge mode, where a SELL LONG or BUY SHORT closes and
  ``reduceOnly`` is refused; ``reduceOnly`` strings,
  ``clientOrderId``/``clientOrderID``, lower-cased ids, 19-digit order ids),
  excess decimals truncated (or refused with 110425), and the sim's reject
  codes translated into BingX's (PROTOCOL.md §6.2);
* MARKET and marketable LIMIT orders fill at once at the last price, as on
  BingX (``immediate_fills``); with ``immediate_fills=False`` they wait for
  the next print, as in the sim (the venue contract's model);
* IOC/FOK remainders expire, PostOnly that would cross is refused (101215);
* STOP_MARKET and TAKE_PROFIT_MARKET (``stopPrice``, ``workingType``,
  ``closePosition``) rest untriggered and trigger, by the sim's own trigger rule,
  when a print (``trade``/``set_price``: the emulator's one price, its mark and
  last alike) reaches them, then fill as MARKET orders; a trigger the price has
  already reached is refused with DOC25's 110411/110412/110413 (110414 for a BUY
  take-profit, which the docs do not list); they carry no client order id;
* every sim event becomes an ``ORDER_TRADE_UPDATE`` (plus ``ACCOUNT_UPDATE``
  after fills and funding) in ``outbox``;
* the position mode switches (``set_mode``) only with no position and no open
  order (104103).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from dita.kernel.model import (
    EventKind,
    Instrument,
    OrderSide,
    OrderStatus,
    OrderType,
    Side,
    VenueEvent,
)
from dita.marketdata.model import Trade
from dita.venues.base import OrderReport, PositionReport
from dita.venues.bingx import wire
from dita.venues.bingx_emulator.protocol import (
    DEFAULT_CONTRACTS,
    ORDER_ID_BASE,
    ApiError,
    ContractSpec,
    Mode,
    _no_symbol,
    _required,
    num,
    parse_place,
    s,
    wire_row,
)
from dita.venues.sim import FeeSchedule, SimConfig, SimExchange
from dita.venues.sim.exchange import DuplicateOrderError, OrderRequest, RejectCode, reject_code

_ZERO = Decimal(0)

_REJECT_CODES: dict[RejectCode, int] = {
    RejectCode.UNKNOWN_SYMBOL: 109400,
    RejectCode.INVALID_QUANTITY: 80014,
    RejectCode.INVALID_PRICE: 80014,
    RejectCode.NO_MARKET_PRICE: 80014,
    RejectCode.INVALID_PRECISION: 110425,
    RejectCode.BELOW_MIN_QUANTITY: 101400,
    RejectCode.BELOW_MIN_NOTIONAL: 101400,
    RejectCode.REDUCE_ONLY: 101290,
    RejectCode.INSUFFICIENT_MARGIN: 101204,
    RejectCode.INVALID_TRIGGER: 80014,
}


class SimEngine:
    """One BingX account on a ``SimExchange``. See the module docstring."""

    def __init__(
        self,
        clock: Callable[[], int],
        contracts: tuple[ContractSpec, ...] = DEFAULT_CONTRACTS,
        *,
        initial_balance: Decimal = Decimal(10_000),
        default_leverage: int = 5,
        immediate_fills: bool = True,
        reject_excess_precision: bool = False,
        open_status: str = "NEW",
        funding_rate: Decimal = _ZERO,
        maker_fee: Decimal = Decimal("0.0002"),
        taker_fee: Decimal = Decimal("0.0005"),
        mode: Mode = Mode.ONE_WAY,
    ) -> None:
        self.clock = clock
        self.contracts = contracts
        self.immediate_fills = immediate_fills
        self.reject_excess_precision = reject_excess_precision
        self.open_status = open_status
        self.outbox: list[dict[str, Any]] = []
        self._specs = {c.symbol: c for c in contracts}
        self.sim = SimExchange(
            SimConfig(
                instruments=tuple(
                    Instrument(c.symbol, c.tick, c.step, c.min_qty, c.min_usdt) for c in contracts
                ),
                initial_balance=initial_balance,
                leverage=Decimal(default_leverage),
                fees=FeeSchedule(maker=maker_fee, taker=taker_fee),
                participation=Decimal(1),
                funding_rate=funding_rate,
                id_prefix="bingx-emu",
                first_order_id=ORDER_ID_BASE + 1,
                position_mode=Mode(mode),
            )
        )
        self._now = 0
        self._wire_cid: dict[str, str] = {}  # sim cid -> cid as BingX shows it ("" if none)
        self._sim_cid: dict[str, str] = {}  # lower-cased wire cid -> sim cid of its live order
        self._created: dict[str, int] = {}  # venue order id -> creation time
        self._cost: dict[str, Decimal] = {}  # venue order id -> sum of qty * price of fills
        self._expire_on_cancel: set[str] = set()  # IOC/FOK remainders: report as EXPIRED
        self._pos_side: dict[str, str] = {}  # sim cid -> positionSide as sent
        self._working_type: dict[str, str] = {}  # sim cid -> workingType of a protective order
        self._close_flags: dict[str, bool] = {}  # sim cid -> closePosition of a protective order
        self._anon = 0
        for c in contracts:  # a zero-volume print gives every market a last price
            self._frames(self.sim.on_trade(Trade(c.symbol, self._tick(), c.price, _ZERO)))

    @property
    def mode(self) -> Mode:
        return self.sim.position_mode()

    # -- market control -------------------------------------------------------

    def set_price(self, symbol: str, price: Decimal) -> None:
        """Move the last price (a zero-volume print: resting LIMIT orders do not fill)."""
        self._spec(symbol)
        self._frames(self.sim.on_trade(Trade(symbol, self._tick(), price, _ZERO)))

    def trade(self, symbol: str, price: Decimal, volume: Decimal) -> None:
        self._spec(symbol)
        self._frames(self.sim.on_trade(Trade(symbol, self._tick(), price, volume)))

    def price(self, symbol: str) -> Decimal:
        last = self.sim.last_price(self._spec(symbol).symbol)
        assert last is not None
        return last

    def order_count(self) -> int:
        """Orders BingX would show (rejected attempts leave nothing behind)."""
        return len(self._created)

    # -- market data ------------------------------------------------------------

    def contracts_data(self, symbol: str | None) -> list[dict[str, Any]]:
        rows = [contract_row(c) for c in self.contracts if not symbol or c.symbol == symbol]
        if symbol and not rows:
            raise _no_symbol(symbol)
        return rows

    def price_data(self, symbol: str | None) -> dict[str, Any] | list[dict[str, Any]]:
        now = self.clock()
        if symbol:
            spec = self._spec(symbol)
            return {"symbol": spec.symbol, "price": s(self.price(spec.symbol)), "time": now}
        return [
            {"symbol": c.symbol, "price": s(self.price(c.symbol)), "time": now}
            for c in self.contracts
        ]

    def ticker_data(self, symbol: str | None) -> dict[str, Any] | list[dict[str, Any]]:
        def row(sym: str) -> dict[str, Any]:
            p = s(self.price(sym))
            return {
                "symbol": sym, "lastPrice": p, "bidPrice": p, "askPrice": p, "openPrice": p,
                "highPrice": p, "lowPrice": p, "priceChange": "0", "priceChangePercent": "0",
                "volume": "0", "quoteVolume": "0", "lastQty": "0", "bidQty": "0", "askQty": "0",
                "openTime": self.clock(), "closeTime": self.clock(),
            }  # fmt: skip

        if symbol:
            return row(self._spec(symbol).symbol)
        return [row(c.symbol) for c in self.contracts]

    # -- trading ------------------------------------------------------------------

    def place(self, p: dict[str, str]) -> dict[str, Any]:
        req = parse_place(p, self._spec, reject_excess_precision=self.reject_excess_precision)
        spec, side, otype, price, tif, cid = (
            req.spec,
            req.side,
            req.otype,
            req.price,
            req.tif,
            req.cid,
        )
        reduce_only, qty = req.reduce_only, req.qty
        position_side = self._position_side(req.pos_side, reduce_only)
        last = self.price(spec.symbol)
        protective = req.stop_price is not None
        marketable = not protective and (
            price is None or (price >= last if side == "BUY" else price <= last)
        )
        if tif == "PostOnly" and marketable:
            raise ApiError(
                101215, "The order would immediately match and take, PostOnly order rejected"
            )

        sim_cid = self._new_sim_cid(cid)
        request = OrderRequest(
            client_order_id=sim_cid,
            symbol=spec.symbol,
            side=OrderSide(side),
            order_type=OrderType(otype),
            quantity=qty,
            limit_price=price,
            # a hedge close (SELL LONG, BUY SHORT) reduces by its side; the sim's protective
            # orders must say so (BingX's hedge mode takes no reduceOnly, DOC25)
            reduce_only=reduce_only
            or (
                protective and position_side is not None and _closes(OrderSide(side), position_side)
            ),
            position_side=position_side,
            stop_price=req.stop_price,
            close_position=req.close_position,
        )
        self._wire_cid[sim_cid] = cid
        self._pos_side[sim_cid] = req.pos_side
        if protective:
            self._working_type[sim_cid] = req.working_type
            self._close_flags[sim_cid] = req.close_position
        try:
            events = self.sim.submit(request, self._tick())
        except DuplicateOrderError:
            raise ApiError(101481, "clientOrderID cannot be repeated") from None
        rejected = next(
            (e for e in events if e.kind is EventKind.REJECT and e.client_order_id == sim_cid), None
        )
        self._frames([e for e in events if e is not rejected])
        if rejected is not None:
            raise _translate_reject(rejected, request)
        report = self.sim.order(sim_cid)
        assert report is not None
        if cid:
            self._sim_cid[cid] = sim_cid
        self._created[report.venue_order_id] = self._now
        if marketable and self.immediate_fills:
            # BingX takes liquidity at once; a print of exactly this size at the last
            # price fills this order and nothing else (nothing else rests across it).
            self._frames(self.sim.on_trade(Trade(spec.symbol, self._tick(), last, qty)))
        if tif in ("IOC", "FOK") and not protective:
            now = self.sim.order(sim_cid)
            if now is not None and now.status is OrderStatus.WORKING:
                self._expire_on_cancel.add(now.venue_order_id)
                self._frames(self.sim.cancel(sim_cid, self._tick()))
        return {"order": self._echo(report, tif)}

    def cancel(self, p: dict[str, str]) -> dict[str, Any]:
        report = self._find(p, not_found=(109421, "order not exist"))
        sim_cid = report.client_order_id
        events = self.sim.cancel(sim_cid, self._tick())
        self._frames(events)
        after = self.sim.order(sim_cid)
        assert after is not None
        if any(e.kind is EventKind.CANCEL_ACK for e in events):
            return {"order": self._rest_order(after)}
        if after.status is OrderStatus.FILLED:
            raise ApiError(80018, "order is already filled, The order doesn't exist")
        raise ApiError(109421, "order not exist")

    def cancel_all(self, p: dict[str, str]) -> dict[str, Any]:
        symbol = p.get("symbol") or None
        if symbol:
            self._spec(symbol)
        done = []
        for r in self.sim.open_orders(symbol=symbol):
            self._frames(self.sim.cancel(r.client_order_id, self._tick()))
            after = self.sim.order(r.client_order_id)
            assert after is not None
            done.append(self._rest_order(after))
        return {"success": done, "failed": None}

    def query(self, p: dict[str, str]) -> dict[str, Any]:
        return {"order": self._rest_order(self._find(p, not_found=(80016, "order does not exist")))}

    def open_orders(self, p: dict[str, str]) -> dict[str, Any]:
        symbol = p.get("symbol") or None
        if symbol:
            self._spec(symbol)
        return {"orders": [self._rest_order(r) for r in self.sim.open_orders(symbol=symbol)]}

    def positions_data(self, p: dict[str, str]) -> list[dict[str, Any]]:
        symbol = p.get("symbol") or None
        rows: list[dict[str, Any]] = []
        for pos in self.sim.positions():
            if symbol and pos.asset != symbol:
                continue
            mark = self.price(pos.asset)
            upnl = self._unrealized(pos)
            lev = self.sim.leverage(pos.asset, position_side=self._lev_side(pos.side))
            row = wire.Position(
                symbol=pos.asset,
                position_amt=num(pos.quantity),
                position_side=pos.side.value,
                avg_price=num(pos.entry_price),
                currency="USDT",
            )
            rows.append(
                wire_row(
                    row, positionId=str(ORDER_ID_BASE // 10 + len(rows)),
                    availableAmt=s(pos.quantity), isolated=False,
                    initialMargin=s(pos.quantity * pos.entry_price / lev), leverage=int(lev),
                    unrealizedProfit=s(upnl), realisedProfit="0", liquidationPrice=0,
                    markPrice=s(mark), positionValue=s(pos.quantity * mark),
                    onlyOnePosition=self.mode is Mode.ONE_WAY, updateTime=self._now,
                )
            )  # fmt: skip
        return rows

    def balance_row(self) -> dict[str, Any]:
        bal = self.sim.balance()
        upnl = sum((self._unrealized(pos) for pos in self.sim.positions()), _ZERO)
        row = wire.Balance(
            asset=bal.asset,
            balance=num(bal.wallet),
            available_margin=num(bal.available),
            equity=num(bal.wallet + upnl),
        )
        return wire_row(
            row, userId="1000001", unrealizedProfit=s(upnl), realisedProfit="0",
            usedMargin=s(bal.wallet - bal.available), freezedMargin="0", shortUid="1000001",
        )  # fmt: skip

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
        ps = None if side == "BOTH" else Side(side)
        self.sim.set_leverage(spec.symbol, Decimal(lev), position_side=ps)
        return {"leverage": lev, "symbol": spec.symbol}

    def get_leverage(self, p: dict[str, str]) -> dict[str, Any]:
        spec = self._spec(_required(p, "symbol"))
        long = int(self.sim.leverage(spec.symbol, position_side=self._lev_side(Side.LONG)))
        short = int(self.sim.leverage(spec.symbol, position_side=self._lev_side(Side.SHORT)))
        return {
            "longLeverage": long, "shortLeverage": short,
            "maxLongLeverage": spec.max_leverage, "maxShortLeverage": spec.max_leverage,
        }  # fmt: skip

    def set_mode(self, dual: bool) -> dict[str, Any]:
        try:
            self.sim.set_position_mode(Mode.HEDGE if dual else Mode.ONE_WAY)
        except ValueError:
            raise ApiError(
                104103, "position mode cannot be changed with open positions or orders"
            ) from None
        return {"dualSidePosition": "true" if dual else "false"}

    # -- internals ------------------------------------------------------------------

    def _position_side(self, pos_side: str, reduce_only: bool) -> Side | None:
        """The sim's position side for a ``positionSide`` as sent (BingX's mode rules)."""
        if self.mode is Mode.ONE_WAY:
            if pos_side != "BOTH":
                raise ApiError(
                    109400, "In the One-way mode, the 'PositionSide' field can only be set to BOTH."
                )
            return None
        if pos_side not in ("LONG", "SHORT"):
            raise ApiError(
                109400,
                "In the Hedge mode, the 'PositionSide' field can only be set to LONG or SHORT.",
            )
        if reduce_only:
            raise ApiError(109400, "In the Hedge mode, the 'ReduceOnly' field can not be filled.")
        return Side(pos_side)

    def _unrealized(self, pos: PositionReport) -> Decimal:
        """A position's unrealised PnL at the last price."""
        gain = pos.quantity * (self.price(pos.asset) - pos.entry_price)
        return gain if pos.side is Side.LONG else -gain

    def _lev_side(self, side: Side) -> Side | None:
        return side if self.mode is Mode.HEDGE else None

    def _ps(self, r: OrderReport) -> str:
        return self._pos_side.get(r.client_order_id, "BOTH")

    def _reduce_only(self, r: OrderReport) -> bool:
        """reduceOnly as BingX shows it: a hedge close (SELL LONG, BUY SHORT) is one; a
        closePosition order is not (it was sent without reduceOnly)."""
        if self._closes_all(r):
            return False
        ps = self._ps(r)
        closes = (ps, r.side) in (("LONG", OrderSide.SELL), ("SHORT", OrderSide.BUY))
        return r.reduce_only or closes

    def _closes_all(self, r: OrderReport) -> bool:
        return self._close_flags.get(r.client_order_id, False)

    def _close_position(self, r: OrderReport) -> str:
        """closePosition as DOC25's open orders show it: a string."""
        if not r.order_type.is_trigger:
            return ""
        return "true" if self._closes_all(r) else "false"

    def _wt(self, r: OrderReport) -> str:
        return self._working_type.get(r.client_order_id, "MARK_PRICE")

    def _tick(self) -> int:
        self._now = max(self._now, self.clock())
        return self._now

    def _spec(self, symbol: str) -> ContractSpec:
        spec = self._specs.get(symbol)
        if spec is None:
            raise _no_symbol(symbol)
        return spec

    def _new_sim_cid(self, cid: str) -> str:
        if cid:
            existing = self._sim_cid.get(cid)
            if existing is not None:
                raise ApiError(101481, "clientOrderID cannot be repeated")
            # A rejected attempt left its id in the sim; BingX keeps no trace of it.
            base, n = cid, 0
            while self.sim.order(base if n == 0 else f"{base}#{n}") is not None:
                n += 1
            return base if n == 0 else f"{base}#{n}"
        self._anon += 1
        return f"#anon-{self._anon}"

    def _find(self, p: dict[str, str], not_found: tuple[int, str]) -> OrderReport:
        symbol = _required(p, "symbol")
        self._spec(symbol)
        oid = p.get("orderId", "")
        cid = p.get("clientOrderId", p.get("clientOrderID", "")).lower()
        if not oid and not cid:
            raise ApiError(80001, "orderId and clientOrderId are both empty")
        report: OrderReport | None = None
        if oid:
            report = self.sim.order_by_venue_id(oid) if oid in self._created else None
        elif cid in self._sim_cid:
            report = self.sim.order(self._sim_cid[cid])
        if report is None or report.asset != symbol:
            raise ApiError(*not_found)
        return report

    def _status(self, r: OrderReport) -> str:
        match r.status:
            case OrderStatus.WORKING:
                return "PARTIALLY_FILLED" if r.cum_qty else self.open_status
            case OrderStatus.FILLED:
                return "FILLED"
            case OrderStatus.CANCELED:
                return "EXPIRED" if r.venue_order_id in self._expire_on_cancel else "CANCELLED"
            case OrderStatus.EXPIRED:
                return "EXPIRED"
            case _:
                return "FAILED"

    def _echo(self, r: OrderReport, tif: str) -> dict[str, Any]:
        return {
            "symbol": r.asset, "orderId": int(r.venue_order_id), "side": r.side.value,
            "positionSide": self._ps(r), "type": r.order_type.value,
            "price": s(r.limit_price or _ZERO), "quantity": s(r.quantity),
            "stopPrice": s(r.stop_price or _ZERO), "workingType": self._wt(r),
            "clientOrderID": self._wire_cid.get(r.client_order_id, ""),
            "timeInForce": tif, "priceRate": "0", "stopLoss": "", "takeProfit": "",
            "reduceOnly": self._reduce_only(r),
            "activationPrice": "0", "closePosition": self._close_position(r),
            "stopGuaranteed": "",
        }  # fmt: skip

    def _rest_order(self, r: OrderReport) -> dict[str, Any]:
        created = self._created.get(r.venue_order_id, r.ts)
        return {
            "symbol": r.asset, "orderId": int(r.venue_order_id), "side": r.side.value,
            "positionSide": self._ps(r), "type": r.order_type.value, "origQty": s(r.quantity),
            "price": s(r.limit_price or _ZERO), "executedQty": s(r.cum_qty),
            "avgPrice": s(self._avg(r.venue_order_id, r.cum_qty)),
            "cumQuote": s(self._cost.get(r.venue_order_id, _ZERO)),
            "stopPrice": s(r.stop_price) if r.stop_price is not None else "",
            "profit": "0", "commission": s(-r.fees), "status": self._status(r), "time": created,
            "updateTime": r.ts, "clientOrderId": self._wire_cid.get(r.client_order_id, ""),
            "leverage": f"{int(self.sim.leverage(r.asset))}X", "workingType": self._wt(r),
            "onlyOnePosition": self.mode is Mode.ONE_WAY, "reduceOnly": self._reduce_only(r),
            "postOnly": False, "closePosition": self._close_position(r),
            "stopGuaranteed": "false", "triggerOrderId": 0,
        }  # fmt: skip

    def _avg(self, voi: str, cum: Decimal) -> Decimal:
        return self._cost.get(voi, _ZERO) / cum if cum else _ZERO

    def _frames(self, events: list[VenueEvent]) -> None:
        """Sim events -> BingX stream frames in ``outbox`` (REJECTs are REST answers, not frames)."""
        touched: list[str] = []
        for ev in events:
            match ev.kind:
                case EventKind.FUNDING:
                    if ev.amount:
                        self._account_update("FUNDING_FEE", ev.asset, ev.amount)
                    continue
                case EventKind.REJECT | EventKind.CANCEL_REJECT:
                    continue
                case EventKind.ACK:
                    x, status = "NEW", "NEW"
                case EventKind.PARTIAL_FILL:
                    x, status = "TRADE", "PARTIALLY_FILLED"
                case EventKind.FILL:
                    x, status = "TRADE", "FILLED"
                case EventKind.CANCEL_ACK:
                    expired = ev.venue_order_id in self._expire_on_cancel
                    x = status = "EXPIRED" if expired else "CANCELED"
                case EventKind.EXPIRED:
                    x, status = "EXPIRED", "EXPIRED"
            r = self.sim.order_by_venue_id(ev.venue_order_id)
            if r is None:
                continue
            last_qty = ev.last_qty or _ZERO
            last_price = ev.last_price or _ZERO
            if x == "TRADE":
                self._cost[r.venue_order_id] = (
                    self._cost.get(r.venue_order_id, _ZERO) + last_qty * last_price
                )
                if r.asset not in touched:
                    touched.append(r.asset)
            cum = ev.cum_qty or _ZERO
            update = wire.OrderUpdate(
                symbol=r.asset, order_id=int(r.venue_order_id), cum_qty=num(cum),
                side=r.side.value, order_type=r.order_type.value, exec_type=x, status=status,
                client_order_id=self._wire_cid.get(r.client_order_id, ""),
                quantity=num(r.quantity), price=num(r.limit_price or _ZERO),
                avg_price=num(self._avg(r.venue_order_id, cum)), last_qty=num(last_qty),
                last_price=num(last_price), commission=num(-ev.fee), commission_asset="USDT",
                trade_time=ev.ts, position_side=self._ps(r), realised_pnl=num(_ZERO),
                reduce_only=self._reduce_only(r), stop_price=num(r.stop_price or _ZERO),
                working_type=self._wt(r),
            )  # fmt: skip
            frame = wire_row(
                wire.OrderTradeUpdate(order=update, event_time=ev.ts, push_time=ev.ts),
                e="ORDER_TRADE_UPDATE",
            )
            frame["o"]["Z"] = s(self._cost.get(r.venue_order_id, _ZERO))
            self.outbox.append(frame)
        for symbol in touched:
            self._account_update("ORDER", symbol, _ZERO)

    def _account_update(self, reason: str, symbol: str, change: Decimal) -> None:
        bal = self.sim.balance()
        held = [
            (p.quantity, p.entry_price, p.side.value)
            for p in self.sim.positions()
            if p.asset == symbol
        ]
        if not held and symbol:
            held = [(_ZERO, _ZERO, "LONG")]
        positions = [
            wire.AccountPosition(
                symbol=symbol, position_amt=num(qty), entry_price=num(entry),
                unrealized_pnl=num(_ZERO), margin_type="cross", position_side=side,
            )
            for qty, entry, side in held
        ]  # fmt: skip
        wallet = num(bal.wallet)
        balance = wire.AccountBalance(bal.asset, wallet, wallet, num(change))
        data = wire.AccountData(reason=reason, balances=[balance], positions=positions)
        frame = wire_row(
            wire.AccountUpdate(account=data, event_time=self._now), e="ACCOUNT_UPDATE", T=self._now
        )
        for row in frame["a"]["P"]:
            row["iw"] = "0"
        self.outbox.append(frame)


# A protective order whose trigger the price has already reached (DOC25 "Place order"
# errors; the BUY take-profit's code and text are the emulator's, by analogy: not listed).
_REACHED: dict[tuple[OrderType, OrderSide], tuple[int, str]] = {
    (OrderType.STOP_MARKET, OrderSide.SELL): (
        110411, "Stop Loss price should be lower than the current price"
    ),
    (OrderType.STOP_MARKET, OrderSide.BUY): (
        110412, "Stop Loss price should be greater than the current price"
    ),
    (OrderType.TAKE_PROFIT_MARKET, OrderSide.SELL): (
        110413, "Take Profit price should be greater than the current price"
    ),
    (OrderType.TAKE_PROFIT_MARKET, OrderSide.BUY): (
        110414, "Take Profit price should be lower than the current price"
    ),
}  # fmt: skip


def _closes(side: OrderSide, position_side: Side) -> bool:
    return (side is OrderSide.SELL) == (position_side is Side.LONG)


def _translate_reject(ev: VenueEvent, req: OrderRequest) -> ApiError:
    code = reject_code(ev)
    detail = ev.reason.split(":", 1)[-1].strip()
    if code is RejectCode.INVALID_TRIGGER and "at once" in detail:
        number, msg = _REACHED[(req.order_type, req.side)]
        return ApiError(number, f"{msg} ({detail})")
    if code is RejectCode.REDUCE_ONLY and "no position" in detail:
        return ApiError(101205, f"No position to close ({detail})")
    if code is RejectCode.BELOW_MIN_NOTIONAL:
        return ApiError(
            101400,
            f"Please ensure that the minimum nominal value of the order placed must be greater than 2u ({detail})",
        )
    if code is None:
        return ApiError(80014, ev.reason)
    return ApiError(_REJECT_CODES[code], detail)


def contract_row(c: ContractSpec) -> dict[str, Any]:
    """One row of ``GET /openApi/swap/v2/quote/contracts`` (PROTOCOL.md §3.1)."""
    row = wire.Contract(
        symbol=c.symbol, quantity_precision=c.quantity_precision,
        price_precision=c.price_precision, trade_min_quantity=wire.Num(str(c.min_qty)),
        trade_min_usdt=wire.Num(str(c.min_usdt)), maker_fee_rate=wire.Num(str(c.maker_fee)),
        taker_fee_rate=wire.Num(str(c.taker_fee)), max_long_leverage=c.max_leverage,
        max_short_leverage=c.max_leverage, currency="USDT", asset=c.asset, status=1,
        api_state_open="true", api_state_close="true",
    )  # fmt: skip
    return wire_row(
        row, numbers=True, contractId=c.contract_id, size="0", feeRate=c.taker_fee,
        tradeMinLimit=0, ensureTrigger=False, triggerFeeRate="0.00020000", brokerState=False,
        launchTime=1586275200000, maintainTime=0, offTime=0, displayName=c.symbol,
    )  # fmt: skip
