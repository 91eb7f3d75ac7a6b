"""A deterministic matching engine for perpetual futures over market data.

Synchronous, seeded, no clock, no asyncio: time is whatever the caller says
it is (``now`` arguments, bar and trade timestamps), randomness comes from one
``random.Random(config.seed)``. The same calls in the same order give the
same events, bit for bit. ``SimVenue`` wraps it in the async ``Venue``
protocol; the loopback BingX emulator puts BingX's wire protocol in front of
it; a backtest loop drives it directly::

    sim = SimExchange(SimConfig(instruments=(btc,), initial_balance=Decimal(10_000)))
    for bar in bars:
        for event in sim.on_bar(bar):
            outcome = kernel.on_venue_event(event)
            for cmd in outcome.commands: ...   # sim.submit(cmd.order, bar.close_ts)

Public API (all money and quantities ``Decimal``, all times epoch ms)
====================================================================

Stepping -- each returns the ``VenueEvent``s it caused, in order:

* ``submit(order, now, account=DEFAULT_ACCOUNT) -> list[VenueEvent]``:
  ``order`` is a kernel ``Order`` or an ``OrderRequest``. The order reaches
  the engine ``latency`` ms later; there it is ACKed or REJECTed. Raises
  ``DuplicateOrderError`` (a ``VenueError``) at once, with no event, if the
  account already used that client order id: the venue has the order, nothing
  about it changes.
* ``cancel(order_or_client_order_id, now, account=...) -> list[VenueEvent]``:
  reaches the engine ``latency`` ms later; CANCEL_ACK (``cum_qty`` = what had
  filled) if the order is still working, else CANCEL_REJECT (it filled, was
  cancelled, rejected or expired first, or the venue never saw it).
* ``on_bar(bar) -> list[VenueEvent]``, ``on_trade(trade) -> list[VenueEvent]``:
  the market moves; orders that arrived by then match against it.
* ``advance(now) -> list[VenueEvent]``: time passes without market data
  (acks, cancels and funding that fall due).

Memory: with ``keep_finished=N`` (``dita run`` and the benchmarks use
``KEEP_FINISHED``) the engine forgets a finished order (filled, cancelled,
rejected, expired) once N orders have finished after it, as a real venue's
order history has a window: queries then return None, a cancel gets
CANCEL_REJECT ``UNKNOWN_ORDER`` and its client order id is no longer refused
as a duplicate. Working orders are never forgotten. So a long backtest's
memory does not grow with its number of orders. The default (None) keeps every
order (the emulator and the torture checks compare the whole book).

Queries (the venue's own view; orders still in flight are invisible):
``order(client_order_id, account) -> OrderReport | None``,
``order_by_venue_id(venue_order_id) -> OrderReport | None``,
``open_orders(account, symbol=None) -> list[OrderReport]``,
``positions(account) -> list[PositionReport]``,
``balance(account) -> BalanceReport``, ``position_qty(symbol, account) ->
Decimal`` (signed), ``now``, ``last_price(symbol)``, ``leverage(symbol,
account)``, ``instrument(symbol)``, ``account_of(event) -> str`` (which
account an event belongs to, for multi-account drivers).

Accounts: ``add_account(name, balance)``, ``set_leverage(symbol, leverage,
account, position_side=None)``, ``set_funding_rate(symbol, rate)``,
``set_position_mode(mode, account)`` / ``position_mode(account)``,
``realized_pnl(account)``.

Position modes (``PositionMode``, per account; ``SimConfig.position_mode`` at
the start): ONE_WAY keeps one signed position per symbol; HEDGE keeps a LONG
and a SHORT position per symbol side by side, and every order names the one it
moves (``OrderRequest.position_side``; left None, it is what the BingX adapter
sends: BUY opens LONG, SELL opens SHORT, a reduce-only SELL closes LONG and a
reduce-only BUY closes SHORT, see ``hedge_side``). In hedge mode a SELL on
LONG or a BUY on SHORT closes and is reduce-only by nature; a reduce-only
order that would open is refused. Both modes share every rule below: one
position is a signed quantity with an exact entry cost (a LONG side is >= 0, a
SHORT side <= 0), so one-way and hedge mode give the same events, money and
ids when an account only ever holds one side. The mode changes only while the
account has no position and no working or in-flight order.

Theory of operation
===================

*Time.* Every stepping call carries a time that must not go back (else
``ValueError``: a driver bug). Submits and cancels travel for
``latency_ms`` (+ a seeded jitter up to ``latency_jitter_ms``) and arrive in
the order they were sent. Whatever has arrived by a market data time ``t`` is
handled before the market data at ``t`` is matched.

*Bars.* A bar is matched as one instant at its open time ``bar.ts``: every
fill against it is stamped ``bar.ts``. Orders that arrive after ``bar.ts``
(even inside the bar) first meet the *next* bar, since we cannot know whether
the bar's extremes came before or after them -- the conservative choice, which
also decides cancel races: a cancel arriving inside a bar that fills the order
gets CANCEL_REJECT.

*MARKET* orders fill completely at the next price after they arrive (the next
bar's open or the next trade's price), moved against the taker by the
slippage model and rounded to the tick away from the taker. Taker fee.

*LIMIT* orders rest. A buy at ``L`` fills when a bar's low <= L (a trade's
price <= L); a sell when a bar's high >= L (a trade's price >= L). Fill price:
``L`` (maker) -- except an order that was marketable when it arrived (buy
``L >=`` last price, sell ``L <=`` last price): its first match takes the
market price (open or trade price) if that still crosses ``L``, as a taker.
How much fills is limited by the *available volume*: ``participation`` x the
bar's (trade's) volume, floored to the step, shared per side between the
orders that cross, best price first, then first come. What does not fill
rests for later bars, so a large order fills over several bars
(PARTIAL_FILL ... FILL).

*STOP_MARKET and TAKE_PROFIT_MARKET* (protective orders, ``OrderRequest.stop_price``)
rest untriggered and must be reduce-only or ``close_position`` (quantity 0: the
whole position at trigger time). A SELL stop or BUY take-profit triggers when a
bar's low (a trade's price) reaches its trigger; a BUY stop or SELL take-profit
when the high does. It then fills completely as a MARKET order at its trigger
price (at the open if the bar opened past it), moved by the slippage model, as a
taker. Refused on arrival (``INVALID_TRIGGER``): a missing or off-tick trigger,
or one the last price has already reached; and (``REDUCE_ONLY``) pending stops,
or pending take-profits, of one position adding up to more than it (BingX's
rule). When one bar triggers a stop and reaches a take-profit (or a resting
LIMIT), ``SimConfig.both_triggered`` decides which fills first
(``BothTriggered``: STOPS_FIRST, the pessimistic default, or
TAKE_PROFITS_FIRST); the other then finds no position and EXPIREs.

*Events.* Every event carries the order's ``cum_qty`` (authoritative,
cumulative); fills add ``last_qty``, ``last_price``, ``fee`` (of this fill)
and ``reason`` ``"maker"`` or ``"taker"``. A REJECTed order stays queryable
with status REJECTED; its client order id stays used.

*Fees.* ``fee = qty * price * rate`` (maker or taker rate of
``FeeSchedule``), rounded half-up to ``FeeSchedule.quantum`` (default 1e-8);
positive = paid, a negative rate is a rebate.

*Positions and money.* One-way: a fill on the other side first closes
(realising PnL), and any excess opens the other way. Hedge: a fill moves only
the side it names, and a close never goes past flat. Entry cost is kept
exactly (sum of qty x price); a partial close takes its share of the cost
rounded to 1e-12, and the fill that closes the position takes the exact
remainder, so over a round trip realised PnL = proceeds - cost exactly and
``wallet = initial + realised PnL - fees + funding`` to the last digit.

*Rejects* (checked when the order arrives, reason ``"<RejectCode>: detail"``):
unknown symbol, quantity <= 0 or off the step grid, price missing/present on
the wrong type, <= 0 or off the tick grid, below the minimum quantity or
notional (a reduce-only order that closes the whole position is exempt), a
MARKET order before any price is known, a position side in one-way mode
(``POSITION_SIDE``), reduce-only (or a hedge close) that would open, increase
or flip the position, and insufficient margin: ``opening qty * price /
leverage`` must fit in ``wallet - margin in use`` (positions at entry cost /
leverage, working orders at their price / leverage). Unrealised PnL is not
counted and nothing is ever liquidated.

*Reduce-only at fill time.* If the position shrank meanwhile, a reduce-only
order fills at most what remains and the rest EXPIREs (reason
``REDUCE_ONLY``).

*Funding* is charged at every multiple of ``funding_interval_ms`` since the
epoch (00:00, 08:00, 16:00 UTC by default) that the clock passes: each open
position (each hedge side on its own) receives ``-signed_qty * last_price *
rate`` (longs pay a positive rate), rounded like fees, as ``VenueEvent(kind=FUNDING, asset=symbol,
amount=...)``, positive = received. Each symbol has its own rate and
interval (``SimConfig.rules``); symbols due at the same time are charged in
instrument order.

*Per symbol.* Fees, slippage and funding may differ by symbol
(``MarketRules`` in ``SimConfig.rules``). Bars of several symbols may share a
timestamp: each is matched against its own symbol's book at that instant.

*Ids.* Event ids are ``"<id_prefix>-<n>"`` and venue order ids are
``str(first_order_id + k)``, both counting up from the start, so they are
unique and reproducible.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Context, Decimal
from enum import StrEnum
from typing import Protocol

from dita.kernel.instruments import ceil_to, floor_to
from dita.kernel.model import (
    EventKind,
    Instrument,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionMode,
    Side,
    VenueEvent,
)
from dita.marketdata.model import Bar, Trade
from dita.venues.base import BalanceReport, OrderReport, PositionReport, VenueError

DEFAULT_ACCOUNT = "main"
_ZERO = Decimal(0)
_ONE = Decimal(1)
_BPS = Decimal("0.0001")
# Division (average entry cost of a partial close) is the only inexact step;
# do it at a fixed, generous precision whatever the caller's decimal context is.
_DIV = Context(prec=34)
_COST_QUANTUM = Decimal("1e-12")


class RejectCode(StrEnum):
    """Why the engine refused an order; the first word of a REJECT's ``reason``."""

    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    INVALID_QUANTITY = "INVALID_QUANTITY"
    INVALID_PRICE = "INVALID_PRICE"
    INVALID_PRECISION = "INVALID_PRECISION"
    BELOW_MIN_QUANTITY = "BELOW_MIN_QUANTITY"
    BELOW_MIN_NOTIONAL = "BELOW_MIN_NOTIONAL"
    NO_MARKET_PRICE = "NO_MARKET_PRICE"
    REDUCE_ONLY = "REDUCE_ONLY"
    POSITION_SIDE = "POSITION_SIDE"
    INSUFFICIENT_MARGIN = "INSUFFICIENT_MARGIN"
    INVALID_TRIGGER = "INVALID_TRIGGER"  # a trigger price missing, off the grid, or already reached


def reject_code(event: VenueEvent) -> RejectCode | None:
    """The ``RejectCode`` of a REJECT (or reduce-only EXPIRED) event from this engine."""
    head = event.reason.split(":", 1)[0]
    try:
        return RejectCode(head)
    except ValueError:
        return None


class BothTriggered(StrEnum):
    """Which fills first when one bar reaches both a stop and a take-profit (or a resting
    LIMIT), since a bar does not say whether its low or its high came first.

    STOPS_FIRST (the default) is the pessimistic reading: the bar's triggered
    STOP_MARKET orders fill before its TAKE_PROFIT_MARKET and LIMIT orders, so a
    position guarded both ways is stopped out and its take-profit then finds
    nothing to reduce. TAKE_PROFITS_FIRST is the optimistic one: TAKE_PROFIT_MARKET
    and LIMIT orders before STOP_MARKET orders.
    """

    STOPS_FIRST = "STOPS_FIRST"
    TAKE_PROFITS_FIRST = "TAKE_PROFITS_FIRST"


class DuplicateOrderError(VenueError):
    """The account already used this client order id; the venue changed nothing."""


# ------------------------------------------------------------------ configuration


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Fee rates (fraction of notional; positive = paid) and the scale fees are rounded to."""

    maker: Decimal = Decimal("0.0002")
    taker: Decimal = Decimal("0.0005")
    quantum: Decimal = Decimal("0.00000001")

    def fee(self, qty: Decimal, price: Decimal, *, maker: bool) -> Decimal:
        rate = self.maker if maker else self.taker
        return (qty * price * rate).quantize(self.quantum, rounding=ROUND_HALF_UP)


class Slippage(Protocol):
    """How far a taker fill moves from the reference price (returned in bps, >= 0)."""

    def bps(self, rng: random.Random) -> Decimal: ...


@dataclass(frozen=True, slots=True)
class NoSlippage:
    def bps(self, rng: random.Random) -> Decimal:
        return _ZERO


@dataclass(frozen=True, slots=True)
class FixedBps:
    value: Decimal

    def bps(self, rng: random.Random) -> Decimal:
        return self.value


@dataclass(frozen=True, slots=True)
class RandomBps:
    """Uniform in [0, maximum] bps, in steps of 0.01 bps, from the engine's seeded RNG."""

    maximum: Decimal

    def bps(self, rng: random.Random) -> Decimal:
        return Decimal(rng.randint(0, int(self.maximum * 100))).scaleb(-2)


@dataclass(frozen=True, slots=True)
class MarketRules:
    """One symbol's own fees, slippage and funding; ``None`` = the ``SimConfig``-wide value."""

    fees: FeeSchedule | None = None
    slippage: Slippage | None = None
    funding_rate: Decimal | None = None
    funding_interval_ms: int | None = None


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Everything that makes one simulated venue behave the way it does.

    ``rules`` overrides fees, slippage and funding per symbol (``MarketRules``).
    """

    instruments: tuple[Instrument, ...]
    settlement_asset: str = "USDT"
    initial_balance: Decimal = Decimal(10_000)
    leverage: Decimal = _ONE
    fees: FeeSchedule = FeeSchedule()
    slippage: Slippage = NoSlippage()
    participation: Decimal = Decimal("0.1")
    latency_ms: int = 0
    latency_jitter_ms: int = 0
    funding_rate: Decimal = Decimal("0.0001")
    funding_interval_ms: int = 8 * 3_600_000
    seed: int = 0
    id_prefix: str = "sim"
    first_order_id: int = 1
    rules: Mapping[str, MarketRules] = field(default_factory=dict)
    position_mode: PositionMode = PositionMode.ONE_WAY  # of every account at the start
    both_triggered: BothTriggered = BothTriggered.STOPS_FIRST  # see ``BothTriggered``

    def fees_of(self, symbol: str) -> FeeSchedule:
        r = self.rules.get(symbol)
        return r.fees if r is not None and r.fees is not None else self.fees

    def slippage_of(self, symbol: str) -> Slippage:
        r = self.rules.get(symbol)
        return r.slippage if r is not None and r.slippage is not None else self.slippage

    def funding_rate_of(self, symbol: str) -> Decimal:
        r = self.rules.get(symbol)
        return r.funding_rate if r is not None and r.funding_rate is not None else self.funding_rate

    def funding_interval_of(self, symbol: str) -> int:
        r = self.rules.get(symbol)
        if r is not None and r.funding_interval_ms is not None:
            return r.funding_interval_ms
        return self.funding_interval_ms

    def problems(self) -> list[str]:
        out: list[str] = []
        if not self.instruments:
            out.append("no instruments")
        if len({i.symbol for i in self.instruments}) != len(self.instruments):
            out.append("duplicate instrument symbols")
        if not _ZERO < self.participation <= _ONE:
            out.append(f"participation must be in (0, 1], got {self.participation}")
        if self.leverage <= 0:
            out.append(f"leverage must be > 0, got {self.leverage}")
        if self.latency_ms < 0 or self.latency_jitter_ms < 0:
            out.append("latency must be >= 0")
        if self.funding_interval_ms <= 0:
            out.append("funding_interval_ms must be > 0")
        known = {i.symbol for i in self.instruments}
        for symbol in self.rules:
            if symbol not in known:
                out.append(f"market rules for {symbol!r}, which is not an instrument")
            elif self.funding_interval_of(symbol) <= 0:
                out.append(f"{symbol}: funding_interval_ms must be > 0")
        if self.initial_balance < 0:
            out.append("initial_balance must be >= 0")
        return out


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What a venue needs to know about a new order (a kernel ``Order`` carries more)."""

    client_order_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    quantity: Decimal
    limit_price: Decimal | None = None
    reduce_only: bool = False
    # Hedge mode: the position (LONG or SHORT) the order opens or closes; None there
    # means "as a BingX adapter would send it" (``hedge_side``). One-way: must be None.
    position_side: Side | None = None
    # STOP_MARKET / TAKE_PROFIT_MARKET: the trigger price; ``close_position`` orders
    # carry no quantity (0) and close the whole position when they trigger.
    stop_price: Decimal | None = None
    close_position: bool = False

    @property
    def reduces_only(self) -> bool:
        """Reduce-only, or a close-position order (which is reduce-only by nature)."""
        return self.reduce_only or self.close_position

    @classmethod
    def from_order(cls, order: Order) -> OrderRequest:
        return cls(
            client_order_id=order.client_order_id,
            symbol=order.asset,
            side=order.side,
            order_type=order.order_type,
            quantity=_ZERO if order.close_position else order.quantity,
            limit_price=order.limit_price,
            reduce_only=order.reduce_only and not order.close_position,
            stop_price=order.stop_price,
            close_position=order.close_position,
        )


# ------------------------------------------------------------------ internal state


class _Order:
    __slots__ = (
        "account", "cost", "cum_qty", "fees", "margin_price", "pos_key", "quantity", "reduces",
        "req", "seq", "status", "taker_first", "ts", "venue_order_id",
    )  # fmt: skip

    def __init__(
        self, account: str, req: OrderRequest, venue_order_id: str, seq: int, ts: int
    ) -> None:
        self.account = account
        self.req = req
        self.pos_key: _PosKey = (req.symbol, None)  # the position it moves (set on arrival)
        self.reduces = req.reduces_only  # may only shrink that position (hedge closes do)
        # what it fills in all: the request's, or (close_position) the position's when it triggers
        self.quantity = req.quantity
        self.venue_order_id = venue_order_id
        self.seq = seq
        self.ts = ts
        self.status = OrderStatus.WORKING
        self.cum_qty = _ZERO
        self.cost = _ZERO
        self.fees = _ZERO
        self.taker_first = False  # marketable on arrival: first match is a taker fill
        self.margin_price = _ZERO

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.cum_qty

    def report(self) -> OrderReport:
        r = self.req
        return OrderReport(
            client_order_id=r.client_order_id,
            venue_order_id=self.venue_order_id,
            asset=r.symbol,
            side=r.side,
            order_type=r.order_type,
            quantity=self.quantity,
            limit_price=r.limit_price,
            reduce_only=r.reduces_only,
            status=self.status,
            cum_qty=self.cum_qty,
            avg_price=_DIV.divide(self.cost, self.cum_qty) if self.cum_qty else None,
            fees=self.fees,
            ts=self.ts,
            cum_quote=self.cost if self.cum_qty else None,
            stop_price=r.stop_price,
        )


class _Position:
    __slots__ = ("cost", "qty")

    def __init__(self) -> None:
        self.qty = _ZERO  # signed: > 0 long, < 0 short (a hedge side keeps its own sign)
        self.cost = _ZERO  # exact sum of qty * price of what is open


# A position's key: (symbol, None) in one-way mode, (symbol, LONG | SHORT) in hedge mode.
_PosKey = tuple[str, Side | None]


@dataclass(slots=True)
class _Account:
    name: str
    wallet: Decimal
    mode: PositionMode = PositionMode.ONE_WAY
    orders: dict[str, _Order] = field(default_factory=dict)  # every order the venue saw
    working: dict[str, _Order] = field(default_factory=dict)  # the live ones, in arrival order
    positions: dict[_PosKey, _Position] = field(default_factory=dict)
    leverage: dict[_PosKey, Decimal] = field(default_factory=dict)  # side None: both sides
    realized: Decimal = _ZERO  # realised PnL of every fill so far


@dataclass(frozen=True, slots=True)
class _Submit:
    account: str
    req: OrderRequest


@dataclass(frozen=True, slots=True)
class _Cancel:
    account: str
    client_order_id: str


@dataclass(frozen=True, slots=True)
class _InFlight:
    arrival: int
    action: _Submit | _Cancel


def _sign(side: OrderSide) -> Decimal:
    return _ONE if side is OrderSide.BUY else -_ONE


def hedge_side(side: OrderSide, reduce_only: bool) -> Side:
    """The hedge-mode position an order without one moves, as the BingX adapter sends it:
    BUY opens LONG, SELL opens SHORT; a reduce-only SELL closes LONG, BUY closes SHORT."""
    buying = side is OrderSide.BUY
    if reduce_only:
        return Side.SHORT if buying else Side.LONG
    return Side.LONG if buying else Side.SHORT


def _reached(req: OrderRequest, first: Decimal, low: Decimal, high: Decimal) -> bool:
    """Has a market that opened at ``first`` and spanned [low, high] reached the trigger
    of a protective order? A SELL stop and a BUY take-profit trigger when the price
    falls to their trigger; a BUY stop and a SELL take-profit when it rises to it
    (BingX's rules, which compare its mark price: see docs/bingx.md)."""
    stop = req.stop_price
    assert stop is not None
    falls = (req.order_type is OrderType.STOP_MARKET) == (req.side is OrderSide.SELL)
    return min(first, low) <= stop if falls else max(first, high) >= stop


def _closes(side: OrderSide, position_side: Side) -> bool:
    """In hedge mode, does an order on ``side`` close (never open) ``position_side``?"""
    return (side is OrderSide.SELL) == (position_side is Side.LONG)


# ------------------------------------------------------------------ the engine


KEEP_FINISHED = 10_000  # finished orders the engine still answers for (see "Memory")


class SimExchange:
    """The matching engine. See the module docstring for the contract."""

    def __init__(
        self,
        config: SimConfig,
        *,
        accounts: Iterable[str] = (DEFAULT_ACCOUNT,),
        keep_finished: int | None = None,
    ) -> None:
        problems = config.problems()
        if keep_finished is not None and keep_finished < 0:
            problems.append(f"keep_finished must be >= 0, got {keep_finished}")
        if problems:
            raise ValueError("invalid SimConfig: " + "; ".join(problems))
        self.config = config
        self._keep_finished = keep_finished
        self._finished: deque[_Order] = deque()  # oldest first
        self._instruments: dict[str, Instrument] = {i.symbol: i for i in config.instruments}
        self._rng = random.Random(config.seed)
        self._accounts: dict[str, _Account] = {}
        for name in accounts:
            self.add_account(name, config.initial_balance)
        self._in_flight: deque[_InFlight] = deque()
        self._books: dict[str, list[_Order]] = {s: [] for s in self._instruments}
        self._by_venue_id: dict[str, _Order] = {}
        self._last_price: dict[str, Decimal] = {}
        self._funding_rate: dict[str, Decimal] = {
            s: config.funding_rate_of(s) for s in self._instruments
        }
        self._interval: dict[str, int] = {
            s: config.funding_interval_of(s) for s in self._instruments
        }
        self._orphan_accounts: dict[str, str] = {}
        self._now: int | None = None
        self._next_funding: dict[str, int] | None = None  # per symbol
        self._last_arrival = 0
        self._event_seq = 0
        self._order_seq = 0
        self._out: list[VenueEvent] = []

    # -------------------------------------------------------------- setup

    def add_account(self, name: str, balance: Decimal) -> None:
        if name in self._accounts:
            raise ValueError(f"account {name!r} already exists")
        self._accounts[name] = _Account(name, balance, self.config.position_mode)

    def set_leverage(
        self,
        symbol: str,
        leverage: Decimal,
        account: str = DEFAULT_ACCOUNT,
        position_side: Side | None = None,
    ) -> None:
        """Leverage of ``symbol``'s positions (of one hedge side if ``position_side``)."""
        self._instrument(symbol)
        if leverage <= 0:
            raise ValueError(f"leverage must be > 0, got {leverage}")
        acct = self._account(account)
        acct.leverage[(symbol, position_side)] = leverage

    def leverage(
        self, symbol: str, account: str = DEFAULT_ACCOUNT, position_side: Side | None = None
    ) -> Decimal:
        lev = self._account(account).leverage
        found = lev.get((symbol, position_side))
        if found is None:
            found = lev.get((symbol, None), self.config.leverage)
        return found

    def position_mode(self, account: str = DEFAULT_ACCOUNT) -> PositionMode:
        return self._account(account).mode

    def set_position_mode(self, mode: PositionMode, account: str = DEFAULT_ACCOUNT) -> None:
        """Switch an account between one-way and hedge mode; ``ValueError`` (nothing
        changes) while it has a position, a working order or an order in flight."""
        acct = self._account(account)
        mode = PositionMode(mode)
        if mode is acct.mode:
            return
        if (
            any(p.qty for p in acct.positions.values())
            or acct.working
            or any(
                isinstance(f.action, _Submit) and f.action.account == account
                for f in self._in_flight
            )
        ):
            raise ValueError(
                f"account {account!r}: position mode cannot change with open positions or orders"
            )
        acct.mode = mode
        acct.positions.clear()

    def set_funding_rate(self, symbol: str, rate: Decimal) -> None:
        self._instrument(symbol)
        self._funding_rate[symbol] = rate

    def instrument(self, symbol: str) -> Instrument | None:
        return self._instruments.get(symbol)

    # -------------------------------------------------------------- stepping

    @property
    def now(self) -> int | None:
        """The engine's clock: the latest time it was given (None before the first call)."""
        return self._now

    def submit(
        self, order: Order | OrderRequest, now: int, account: str = DEFAULT_ACCOUNT
    ) -> list[VenueEvent]:
        """Send a new order at ``now``; see the module docstring."""
        acct = self._account(account)
        match order:
            case Order():
                req = OrderRequest.from_order(order)
            case OrderRequest():
                req = order
        cid = req.client_order_id
        if cid in acct.orders or any(
            isinstance(f.action, _Submit)
            and f.action.account == account
            and f.action.req.client_order_id == cid
            for f in self._in_flight
        ):
            raise DuplicateOrderError(
                f"client order id {cid!r} already used on account {account!r}"
            )
        self._check_time(now)
        self._send(_Submit(account, req), now)
        return self._run(now)

    def cancel(
        self, order: Order | OrderRequest | str, now: int, account: str = DEFAULT_ACCOUNT
    ) -> list[VenueEvent]:
        """Ask, at ``now``, to cancel an order by client order id; see the module docstring."""
        self._account(account)
        match order:
            case str():
                cid = order
            case Order() | OrderRequest():
                cid = order.client_order_id
        self._check_time(now)
        self._send(_Cancel(account, cid), now)
        return self._run(now)

    def advance(self, now: int) -> list[VenueEvent]:
        """Let time pass to ``now`` without market data."""
        self._check_time(now)
        return self._run(now)

    def on_bar(self, bar: Bar) -> list[VenueEvent]:
        """Match working orders against one bar (see "Bars" in the module docstring)."""
        inst = self._instrument(bar.symbol)
        self._check_time(bar.ts)
        self._deliver_until(bar.ts)
        self._now = bar.ts
        self._match(inst, bar.ts, bar.open, bar.low, bar.high, bar.volume, is_bar=True)
        self._last_price[bar.symbol] = bar.close
        return self._flush()

    def on_trade(self, trade: Trade) -> list[VenueEvent]:
        """Match working orders against one public trade print."""
        inst = self._instrument(trade.symbol)
        self._check_time(trade.ts)
        self._deliver_until(trade.ts)
        self._now = trade.ts
        self._match(inst, trade.ts, trade.price, trade.price, trade.price, trade.qty, is_bar=False)
        self._last_price[trade.symbol] = trade.price
        return self._flush()

    # -------------------------------------------------------------- queries

    def last_price(self, symbol: str) -> Decimal | None:
        return self._last_price.get(symbol)

    def order(self, client_order_id: str, account: str = DEFAULT_ACCOUNT) -> OrderReport | None:
        o = self._account(account).orders.get(client_order_id)
        return o.report() if o is not None else None

    def order_by_venue_id(self, venue_order_id: str) -> OrderReport | None:
        o = self._by_venue_id.get(venue_order_id)
        return o.report() if o is not None else None

    def open_orders(
        self, account: str = DEFAULT_ACCOUNT, symbol: str | None = None
    ) -> list[OrderReport]:
        return [
            o.report()
            for o in self._account(account).working.values()
            if symbol is None or o.req.symbol == symbol
        ]

    def positions(self, account: str = DEFAULT_ACCOUNT) -> list[PositionReport]:
        """Open positions; in hedge mode a symbol may have a LONG and a SHORT one."""
        out: list[PositionReport] = []
        for (symbol, _), p in self._account(account).positions.items():
            if p.qty:
                qty = abs(p.qty)
                out.append(
                    PositionReport(
                        asset=symbol,
                        side=Side.LONG if p.qty > 0 else Side.SHORT,
                        quantity=qty,
                        entry_price=_DIV.divide(p.cost, qty),
                    )
                )
        return out

    def position_qty(
        self, symbol: str, account: str = DEFAULT_ACCOUNT, position_side: Side | None = None
    ) -> Decimal:
        """Signed position (> 0 long, < 0 short, 0 flat): the net of both hedge sides, or
        of one if ``position_side``."""
        return sum(
            (
                p.qty
                for (sym, side), p in self._account(account).positions.items()
                if sym == symbol and (position_side is None or side is position_side)
            ),
            _ZERO,
        )

    def realized_pnl(self, account: str = DEFAULT_ACCOUNT) -> Decimal:
        """Realised PnL of every fill so far: ``wallet = initial + realized - fees + funding``."""
        return self._account(account).realized

    def balance(self, account: str = DEFAULT_ACCOUNT) -> BalanceReport:
        acct = self._account(account)
        return BalanceReport(
            asset=self.config.settlement_asset,
            wallet=acct.wallet,
            available=acct.wallet - self._margin_in_use(acct),
        )

    def account_of(self, event: VenueEvent) -> str:
        """Which account an event this engine emitted belongs to."""
        o = self._by_venue_id.get(event.venue_order_id)
        if o is not None:
            return o.account
        try:
            return self._orphan_accounts[event.event_id]
        except KeyError:
            raise KeyError(f"event {event.event_id!r} was not emitted by this engine") from None

    # -------------------------------------------------------------- time and delivery

    def _check_time(self, t: int) -> None:
        if self._now is not None and t < self._now:
            raise ValueError(f"time went backwards: {t} < engine clock {self._now}")

    def _send(self, action: _Submit | _Cancel, now: int) -> None:
        delay = self.config.latency_ms
        if self.config.latency_jitter_ms:
            delay += self._rng.randint(0, self.config.latency_jitter_ms)
        # One connection: requests arrive in the order they were sent.
        arrival = max(now + delay, self._last_arrival)
        self._last_arrival = arrival
        self._in_flight.append(_InFlight(arrival, action))

    def _run(self, now: int) -> list[VenueEvent]:
        self._deliver_until(now)
        self._now = now
        return self._flush()

    def _deliver_until(self, t: int) -> None:
        """Handle, in time order, every arrival and funding time up to ``t``."""
        if self._next_funding is None:
            first = self._now if self._now is not None else t
            self._next_funding = {s: (first // i + 1) * i for s, i in self._interval.items()}
        nxt = self._next_funding
        while True:
            arrival = self._in_flight[0].arrival if self._in_flight else None
            funding = min(nxt.values())
            if funding <= t and (arrival is None or funding < arrival):
                due = [s for s in self._instruments if nxt[s] == funding]
                for symbol in due:
                    interval = self._interval[symbol]
                    if self._any_position(symbol):
                        self._charge_funding(funding, symbol)
                        nxt[symbol] = funding + interval
                    else:
                        # Nothing to charge until something arrives: skip the empty
                        # funding times at once (a clock starting at 0 would otherwise
                        # walk every 8 hours since 1970).
                        horizon = t if arrival is None else arrival - 1
                        nxt[symbol] = (max(horizon, funding) // interval + 1) * interval
            elif arrival is not None and arrival <= t:
                flight = self._in_flight.popleft()
                match flight.action:
                    case _Submit():
                        self._arrive_submit(flight.action, flight.arrival)
                    case _Cancel():
                        self._arrive_cancel(flight.action, flight.arrival)
            else:
                return

    def _flush(self) -> list[VenueEvent]:
        out, self._out = self._out, []
        return out

    def _emit(
        self,
        ts: int,
        kind: EventKind,
        o: _Order | None = None,
        *,
        client_order_id: str = "",
        last_qty: Decimal | None = None,
        last_price: Decimal | None = None,
        fee: Decimal = _ZERO,
        reason: str = "",
        asset: str = "",
        amount: Decimal | None = None,
    ) -> VenueEvent:
        self._event_seq += 1
        event = VenueEvent(
            event_id=f"{self.config.id_prefix}-{self._event_seq}",
            ts=ts,
            kind=kind,
            client_order_id=o.req.client_order_id if o is not None else client_order_id,
            venue_order_id=o.venue_order_id if o is not None else "",
            last_qty=last_qty,
            last_price=last_price,
            cum_qty=o.cum_qty if o is not None else None,
            fee=fee,
            reason=reason,
            asset=asset,
            amount=amount,
        )
        self._out.append(event)
        return event

    # -------------------------------------------------------------- arrivals

    def _arrive_submit(self, action: _Submit, ts: int) -> None:
        acct = self._accounts[action.account]
        req = action.req
        self._order_seq += 1
        o = _Order(
            action.account,
            req,
            str(self.config.first_order_id + self._order_seq - 1),
            self._order_seq,
            ts,
        )
        acct.orders[req.client_order_id] = o
        self._by_venue_id[o.venue_order_id] = o
        problem = self._validate(acct, req)
        if problem is not None:
            code, detail = problem
            o.status = OrderStatus.REJECTED
            self._emit(ts, EventKind.REJECT, o, reason=f"{code}: {detail}")
            self._retire(o)
            return
        o.pos_key, o.reduces = self._route(acct, req)
        last = self._last_price.get(req.symbol)
        match req.order_type:
            case OrderType.LIMIT:
                assert req.limit_price is not None
                o.margin_price = req.limit_price
                if last is not None:
                    o.taker_first = (
                        req.limit_price >= last
                        if req.side is OrderSide.BUY
                        else req.limit_price <= last
                    )
            case OrderType.MARKET:
                assert last is not None
                o.margin_price = last
            case OrderType.STOP_MARKET | OrderType.TAKE_PROFIT_MARKET:
                assert req.stop_price is not None
                o.margin_price = req.stop_price  # (reduce-only: holds no margin)
        self._books[req.symbol].append(o)
        acct.working[req.client_order_id] = o
        self._emit(ts, EventKind.ACK, o)

    def _validate(self, acct: _Account, req: OrderRequest) -> tuple[RejectCode, str] | None:
        inst = self._instruments.get(req.symbol)
        if inst is None:
            return RejectCode.UNKNOWN_SYMBOL, f"no instrument {req.symbol!r}"
        price = self._reference_price(inst, req)
        if isinstance(price, tuple):
            return price
        return self._route_problem(acct, req) or self._position_problem(acct, req, inst, price)

    def _reference_price(
        self, inst: Instrument, req: OrderRequest
    ) -> Decimal | tuple[RejectCode, str]:
        """The price the order is checked at (its limit, its trigger, or the last price),
        or why the quantity or price is refused."""
        if req.order_type.is_trigger:
            return self._trigger_problem(inst, req)
        if req.close_position:
            return RejectCode.INVALID_QUANTITY, f"close_position on a {req.order_type} order"
        qty = req.quantity
        if not qty.is_finite() or qty <= 0:
            return RejectCode.INVALID_QUANTITY, f"quantity {qty} is not > 0"
        if qty % inst.step_size:
            return (
                RejectCode.INVALID_PRECISION,
                f"quantity {qty} is not a multiple of step {inst.step_size}",
            )
        match req.order_type, req.limit_price:
            case OrderType.LIMIT, None:
                return RejectCode.INVALID_PRICE, "LIMIT order without a price"
            case OrderType.LIMIT, Decimal() as price:
                if not price.is_finite() or price <= 0:
                    return RejectCode.INVALID_PRICE, f"price {price} is not > 0"
                if price % inst.tick_size:
                    return (
                        RejectCode.INVALID_PRECISION,
                        f"price {price} is not a multiple of tick {inst.tick_size}",
                    )
            case OrderType.MARKET, None:
                last = self._last_price.get(req.symbol)
                if last is None:
                    return RejectCode.NO_MARKET_PRICE, f"no price for {req.symbol} yet"
                price = last
            case OrderType.MARKET, _:
                return RejectCode.INVALID_PRICE, "MARKET order with a price"
            case _:
                return RejectCode.INVALID_PRICE, f"unsupported order type {req.order_type!r}"
        return price

    def _trigger_problem(
        self, inst: Instrument, req: OrderRequest
    ) -> Decimal | tuple[RejectCode, str]:
        """A STOP_MARKET / TAKE_PROFIT_MARKET order's checks; its trigger price if it passes.

        The order must be reduce-only (or close the position), carry no limit price,
        and its trigger must be on the tick grid and not yet reached by the last price
        (an order that would trigger at once is refused, not filled)."""
        qty, stop, what = req.quantity, req.stop_price, req.order_type.value
        if req.close_position:
            if qty != 0:
                return RejectCode.INVALID_QUANTITY, f"close_position {what} with quantity {qty}"
        elif not qty.is_finite() or qty <= 0:
            return RejectCode.INVALID_QUANTITY, f"quantity {qty} is not > 0"
        elif qty % inst.step_size:
            return (
                RejectCode.INVALID_PRECISION,
                f"quantity {qty} is not a multiple of step {inst.step_size}",
            )
        if not req.reduces_only:
            return RejectCode.REDUCE_ONLY, f"a {what} order must be reduce-only or close_position"
        if req.limit_price is not None:
            return RejectCode.INVALID_PRICE, f"{what} order with a limit price"
        if stop is None:
            return RejectCode.INVALID_TRIGGER, f"{what} order without a trigger price"
        if not stop.is_finite() or stop <= 0:
            return RejectCode.INVALID_TRIGGER, f"trigger price {stop} is not > 0"
        if stop % inst.tick_size:
            return (
                RejectCode.INVALID_TRIGGER,
                f"trigger price {stop} is not a multiple of tick {inst.tick_size}",
            )
        last = self._last_price.get(req.symbol)
        if last is not None and _reached(req, last, last, last):
            return (
                RejectCode.INVALID_TRIGGER,
                f"{what} {req.side} at {stop} would trigger at once (last price {last})",
            )
        return stop

    def _position_problem(
        self, acct: _Account, req: OrderRequest, inst: Instrument, price: Decimal
    ) -> tuple[RejectCode, str] | None:
        """Reduce-only, minimum and margin checks against the position the order moves."""
        qty = req.quantity
        key, reduces = self._route(acct, req)
        pos = acct.positions.get(key)
        pos_qty = pos.qty if pos is not None else _ZERO
        opposing = abs(pos_qty) if pos_qty * _sign(req.side) < 0 else _ZERO
        closes_all = reduces and opposing > 0 and qty == opposing
        if reduces:
            if opposing == 0:
                what = (
                    "no position"
                    if pos_qty == 0
                    else f"a {'long' if pos_qty > 0 else 'short'} position"
                )
                return RejectCode.REDUCE_ONLY, f"reduce-only {req.side} would increase {what}"
            if qty > opposing:
                return (
                    RejectCode.REDUCE_ONLY,
                    f"reduce-only {req.side} {qty} would flip a position of {opposing}",
                )
            if req.order_type.is_trigger:
                if req.close_position:
                    return None
                # BingX: the pending stop (take-profit) orders of a position may not add up
                # to more than it (docs, "Place order", the conditions of conditional orders)
                pending = sum(
                    (
                        o.remaining
                        for o in acct.working.values()
                        if o.pos_key == key
                        and o.req.order_type is req.order_type
                        and o.req.side is req.side
                    ),
                    _ZERO,
                )
                if pending + qty > opposing:
                    return (
                        RejectCode.REDUCE_ONLY,
                        f"{req.order_type} orders would add up to {pending + qty},"
                        f" more than the position of {opposing}",
                    )
        if not closes_all:
            if qty < inst.min_quantity:
                return (
                    RejectCode.BELOW_MIN_QUANTITY,
                    f"quantity {qty} < minimum {inst.min_quantity}",
                )
            if qty * price < inst.min_notional:
                return (
                    RejectCode.BELOW_MIN_NOTIONAL,
                    f"notional {qty * price} < minimum {inst.min_notional}",
                )
        if not reduces:
            opening = max(qty - opposing, _ZERO)
            lev = self.leverage(req.symbol, acct.name, key[1])
            required = _DIV.divide(opening * price, lev)
            available = acct.wallet - self._margin_in_use(acct)
            if required > available:
                return (
                    RejectCode.INSUFFICIENT_MARGIN,
                    f"needs {required} {self.config.settlement_asset} at leverage {lev}, available {available}",
                )
        return None

    @staticmethod
    def _route(acct: _Account, req: OrderRequest) -> tuple[_PosKey, bool]:
        """The position ``req`` moves and whether it may only shrink it (hedge closes do)."""
        if acct.mode is PositionMode.ONE_WAY:
            return (req.symbol, None), req.reduces_only
        ps = req.position_side or hedge_side(req.side, req.reduces_only)
        return (req.symbol, ps), _closes(req.side, ps)

    @staticmethod
    def _route_problem(acct: _Account, req: OrderRequest) -> tuple[RejectCode, str] | None:
        ps = req.position_side
        if acct.mode is PositionMode.ONE_WAY:
            if ps is not None:
                return RejectCode.POSITION_SIDE, f"position side {ps} in one-way mode"
            return None
        if req.reduces_only and ps is not None and not _closes(req.side, ps):
            return (
                RejectCode.REDUCE_ONLY,
                f"reduce-only {req.side} would increase the {ps.lower()} position",
            )
        return None

    def _margin_in_use(self, acct: _Account) -> Decimal:
        used = _ZERO
        for (symbol, side), p in acct.positions.items():
            if p.qty:
                used += _DIV.divide(p.cost, self.leverage(symbol, acct.name, side))
        for o in acct.working.values():
            if not o.reduces:
                used += _DIV.divide(
                    o.remaining * o.margin_price,
                    self.leverage(o.req.symbol, acct.name, o.pos_key[1]),
                )
        return used

    def _arrive_cancel(self, action: _Cancel, ts: int) -> None:
        o = self._accounts[action.account].orders.get(action.client_order_id)
        if o is None:
            event = self._emit(
                ts,
                EventKind.CANCEL_REJECT,
                client_order_id=action.client_order_id,
                reason="UNKNOWN_ORDER: the venue has no order with this client order id",
            )
            self._orphan_accounts[event.event_id] = action.account
            return
        if o.status is not OrderStatus.WORKING:
            self._emit(
                ts,
                EventKind.CANCEL_REJECT,
                o,
                reason=f"ORDER_FINISHED: order is already {o.status}",
            )
            return
        self._finish(o, OrderStatus.CANCELED, ts)
        self._emit(ts, EventKind.CANCEL_ACK, o)

    def _finish(self, o: _Order, status: OrderStatus, ts: int) -> None:
        o.status = status
        o.ts = ts
        self._books[o.req.symbol].remove(o)
        del self._accounts[o.account].working[o.req.client_order_id]
        self._retire(o)

    def _retire(self, o: _Order) -> None:
        """A finished order: kept for queries until ``keep_finished`` more have finished
        (forever without ``keep_finished``)."""
        if self._keep_finished is None:
            return
        self._finished.append(o)
        while len(self._finished) > self._keep_finished:
            old = self._finished.popleft()
            orders = self._accounts[old.account].orders
            if orders.get(old.req.client_order_id) is old:
                del orders[old.req.client_order_id]
            if self._by_venue_id.get(old.venue_order_id) is old:
                del self._by_venue_id[old.venue_order_id]

    # -------------------------------------------------------------- matching

    def _match(
        self,
        inst: Instrument,
        ts: int,
        first: Decimal,
        low: Decimal,
        high: Decimal,
        volume: Decimal,
        *,
        is_bar: bool,
    ) -> None:
        book = self._books[inst.symbol]
        if not book:
            return
        cap = floor_to(volume * self.config.participation, inst.step_size)
        budget = {OrderSide.BUY: cap, OrderSide.SELL: cap}
        markets = [o for o in book if o.req.order_type is OrderType.MARKET]
        limits = [o for o in book if o.req.order_type is OrderType.LIMIT]
        # Triggered now, with the price they trigger at: the open (or trade price) if the
        # market opened past the trigger, else the trigger itself.
        triggered = [
            (o, first if _reached(o.req, first, first, first) else o.req.stop_price)
            for o in book
            if o.req.order_type.is_trigger and _reached(o.req, first, low, high)
        ]
        stops = [(o, p) for o, p in triggered if o.req.order_type is OrderType.STOP_MARKET]
        profits = [(o, p) for o, p in triggered if o.req.order_type is not OrderType.STOP_MARKET]
        # Price priority (best first), then time priority.
        limits.sort(
            key=lambda o: (
                -(o.req.limit_price or _ZERO)
                if o.req.side is OrderSide.BUY
                else (o.req.limit_price or _ZERO),
                o.seq,
            )
        )
        for o in markets:
            self._take(inst, o, first, budget, ts)
        if self.config.both_triggered is BothTriggered.STOPS_FIRST:
            self._trigger(inst, [*stops, *profits], budget, ts)
            self._match_limits(limits, first, low, high, budget, ts)
        else:
            self._trigger(inst, profits, budget, ts)
            self._match_limits(limits, first, low, high, budget, ts)
            self._trigger(inst, stops, budget, ts)

    def _take(
        self, inst: Instrument, o: _Order, ref: Decimal, budget: dict[OrderSide, Decimal], ts: int
    ) -> None:
        """Fill ``o`` completely as a taker at ``ref`` moved by the slippage model."""
        bps = self.config.slippage_of(inst.symbol).bps(self._rng)
        moved = ref * (_ONE + _sign(o.req.side) * bps * _BPS)
        # Rounded to the tick away from the taker: slippage never helps.
        price = (
            ceil_to(moved, inst.tick_size)
            if o.req.side is OrderSide.BUY
            else floor_to(moved, inst.tick_size)
        )
        price = max(price, inst.tick_size)
        filled = self._fill(o, o.remaining, price, maker=False, ts=ts)
        budget[o.req.side] = max(budget[o.req.side] - filled, _ZERO)

    def _trigger(
        self,
        inst: Instrument,
        triggered: list[tuple[_Order, Decimal | None]],
        budget: dict[OrderSide, Decimal],
        ts: int,
    ) -> None:
        """Triggered protective orders fill as MARKET orders at their trigger price (or the
        open, after a gap), in the order given (each group in time priority); what they would reduce may be gone by then."""
        for o, ref in triggered:
            assert ref is not None
            if o.status is not OrderStatus.WORKING:
                continue
            if o.req.close_position:
                pos = self._accounts[o.account].positions.get(o.pos_key)
                held = (
                    abs(pos.qty) if pos is not None and pos.qty * _sign(o.req.side) < 0 else _ZERO
                )
                o.quantity = held
                if held == 0:
                    self._finish(o, OrderStatus.EXPIRED, ts)
                    self._emit(
                        ts,
                        EventKind.EXPIRED,
                        o,
                        reason="REDUCE_ONLY: the position is already closed",
                    )
                    continue
            self._take(inst, o, ref, budget, ts)

    def _match_limits(
        self,
        limits: list[_Order],
        first: Decimal,
        low: Decimal,
        high: Decimal,
        budget: dict[OrderSide, Decimal],
        ts: int,
    ) -> None:
        for o in limits:
            if o.status is not OrderStatus.WORKING:
                continue
            limit = o.req.limit_price
            assert limit is not None
            buy = o.req.side is OrderSide.BUY
            crosses = low <= limit if buy else high >= limit
            taker = o.taker_first
            o.taker_first = False
            if not crosses:
                continue
            avail = budget[o.req.side]
            if avail <= 0:
                continue
            if taker and (first <= limit if buy else first >= limit):
                price, maker = first, False
            else:
                price, maker = limit, True
            filled = self._fill(o, min(o.remaining, avail), price, maker=maker, ts=ts)
            budget[o.req.side] = avail - filled

    def _fill(self, o: _Order, qty: Decimal, price: Decimal, *, maker: bool, ts: int) -> Decimal:
        """Fill up to ``qty`` of ``o`` at ``price``; returns what filled (reduce-only may cap it)."""
        acct = self._accounts[o.account]
        pos = acct.positions.setdefault(o.pos_key, _Position())
        if o.reduces:
            opposing = abs(pos.qty) if pos.qty * _sign(o.req.side) < 0 else _ZERO
            if opposing == 0:
                self._finish(o, OrderStatus.EXPIRED, ts)
                self._emit(
                    ts, EventKind.EXPIRED, o, reason="REDUCE_ONLY: the position is already closed"
                )
                return _ZERO
            qty = min(qty, opposing)
        if qty <= 0:
            return _ZERO
        fee = self.config.fees_of(o.req.symbol).fee(qty, price, maker=maker)
        realized = self._apply_position(pos, _sign(o.req.side) * qty, price)
        acct.wallet += realized - fee
        acct.realized += realized
        o.cum_qty += qty
        o.cost += qty * price
        o.fees += fee
        o.ts = ts
        done = o.cum_qty == o.quantity
        if done:
            self._finish(o, OrderStatus.FILLED, ts)
        self._emit(
            ts,
            EventKind.FILL if done else EventKind.PARTIAL_FILL,
            o,
            last_qty=qty,
            last_price=price,
            fee=fee,
            reason="maker" if maker else "taker",
        )
        if not done and o.reduces and pos.qty == 0:
            self._finish(o, OrderStatus.EXPIRED, ts)
            self._emit(ts, EventKind.EXPIRED, o, reason="REDUCE_ONLY: the position is closed")
        return qty

    @staticmethod
    def _apply_position(pos: _Position, delta: Decimal, price: Decimal) -> Decimal:
        """Move a one-way position by signed ``delta`` at ``price``; returns realised PnL."""
        if pos.qty == 0 or (pos.qty > 0) == (delta > 0):
            pos.qty += delta
            pos.cost += abs(delta) * price
            return _ZERO
        size = abs(pos.qty)
        closing = min(abs(delta), size)
        # The fill that closes the position takes the exact remaining cost, so a
        # whole round trip realises exactly proceeds - cost.
        # Partial closes take a share of the cost rounded to ``_COST_QUANTUM``, which
        # keeps every later sum short enough to stay exact in any decimal context.
        part = (
            pos.cost
            if closing == size
            else _DIV.divide(pos.cost * closing, size).quantize(_COST_QUANTUM)
        )
        proceeds = closing * price
        realized = proceeds - part if pos.qty > 0 else part - proceeds
        pos.cost -= part
        pos.qty += closing if pos.qty < 0 else -closing
        rest = abs(delta) - closing
        if rest:
            pos.qty = rest if delta > 0 else -rest
            pos.cost = rest * price
        return realized

    # -------------------------------------------------------------- funding

    def _any_position(self, symbol: str) -> bool:
        return any(
            p.qty
            for a in self._accounts.values()
            for (s, _), p in a.positions.items()
            if s == symbol
        )

    def _charge_funding(self, ts: int, symbol: str) -> None:
        """Charge every open position of ``symbol`` (each hedge side on its own)."""
        quantum = self.config.fees_of(symbol).quantum
        mark = self._last_price.get(symbol)
        if mark is None:
            return
        for acct in self._accounts.values():
            for (sym, _), pos in acct.positions.items():
                if sym != symbol or not pos.qty:
                    continue
                amount = (-pos.qty * mark * self._funding_rate[symbol]).quantize(
                    quantum, rounding=ROUND_HALF_UP
                )
                acct.wallet += amount
                event = self._emit(ts, EventKind.FUNDING, asset=symbol, amount=amount)
                self._orphan_accounts[event.event_id] = acct.name

    # -------------------------------------------------------------- helpers

    def _account(self, name: str) -> _Account:
        try:
            return self._accounts[name]
        except KeyError:
            raise KeyError(f"unknown account {name!r}") from None

    def _instrument(self, symbol: str) -> Instrument:
        try:
            return self._instruments[symbol]
        except KeyError:
            raise KeyError(f"unknown symbol {symbol!r}") from None
