"""``BingxVenue``: dita's Venue protocol over BingX's USDT-M perpetual swap API.

Theory of operation
-------------------
Commands go out over REST (httpx, client injected); facts come back on three
channels that race: the REST answer, the user-data WebSocket and follow-up
REST queries. All three feed one ``OrderTracker``, which emits each fact once,
in a sensible order, on ``events()`` (see tracker.py).

Transport errors are translated once, in ``_call``:

* could not connect (or no pooled connection)      -> ``NotSent`` (retry as is)
* timeout / broken connection after sending, 5xx,
  and BingX "busy" codes on a mutation              -> ``OutcomeUnknown``
  (query by client order id before anything else)
* HTTP 401/403 and auth codes                       -> ``VenueFatal``
* HTTP 429/418 and rate-limit codes (100410 ...)    -> back off and retry; after
  ``rate_limit_retries`` attempts ``RateLimited`` (a ``NotSent``)
* 100421 (timestamp)                                -> measure the clock offset
  again and send again (nothing was done)

Only ``VenueError`` subclasses leave the adapter. An answer that cannot be
understood (``wire.WireError`` or anything else raised while reading it) is
``UnreadableOutcome`` (an ``OutcomeUnknown``) after a request that may have
changed something, and ``UnreadableAnswer`` after a read.

Business answers are events, never exceptions. An order is rejected only when
the venue confirms it does not exist: whatever code a place gets (80012 may be
"margin is not enough" or "system busy", 101400 "below minimum" or "duplicate
clientOrderID", 109400 "invalid parameter" or "timestamp skewed", see
errors.py), the adapter asks for the order by its client order id; if it
exists it is followed (ACK, fills), if the venue says it does not, it is a
REJECT, and if the venue cannot say, the submit is ``OutcomeUnknown``. A
refused cancel is a CANCEL_REJECT after a query (BingX's codes do not tell
"filled" from "cancelled" from "never existed", PROTOCOL.md §3.4).

Signing uses the venue's time (``ServerClock``): the offset is measured at
start, every ``clock_sync_s``, and again after 100421/109400. Rate-limit
headers (``X-RateLimit-Requests-Remain``/``-Expire``) hold the next request
to an exhausted endpoint until its window ends.

Protective orders (STOP_MARKET, TAKE_PROFIT_MARKET; orders.py) go out without
a client order id, which BingX keeps for LIMIT and MARKET only, and are
followed by venue order id: cancel and query send ``orderId``; one whose id
the adapter never learned (a place of unknown outcome) is looked for among
the open orders by what it is (symbol, type, side, trigger, quantity); a
query answered "no such order" asks the order history (``allOrders``) too,
where finished conditional orders are said to go (ccxt #19563). BingX is
reported to send no ``ORDER_TRADE_UPDATE`` when such an order triggers
(BingX-swap-api-doc #36), so the adapter never waits for one: every
``protective_poll_s`` it queries each protective order it follows, and the
engine's watcher reconciles working orders that stay silent.

The stream task keeps a listen key alive (PUT every ``listen_key_refresh_s``),
reconnects with exponential backoff, answers ``Ping`` with ``Pong``, renews
the key on ``listenKeyExpired``, and after every (re)connect queries open
orders, and each tracked order that is no longer open, to fill any gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal

import httpx
import msgspec
import websockets
from websockets.asyncio.client import ClientConnection

from dita.kernel.model import (
    EventKind,
    Instrument,
    Order,
    PositionMode,
    VenueEvent,
)
from dita.venues.base import (
    BalanceReport,
    NotSent,
    OrderReport,
    OutcomeUnknown,
    PositionReport,
    StreamResumed,
    VenueError,
    VenueFatal,
)
from dita.venues.bingx import parse, wire
from dita.venues.bingx.clock import Clock, ServerClock, wall_clock_ms
from dita.venues.bingx.errors import BingxError, ErrorClass, resyncs_clock
from dita.venues.bingx.orders import WorkingType, order_params, order_problem
from dita.venues.bingx.signing import (
    API_KEY_HEADER,
    Credentials,
    ParamValue,
    public_query,
    signed_query,
)
from dita.venues.bingx.tracker import OrderTracker

log = logging.getLogger("dita.venues.bingx")

V2 = "/openApi/swap/v2"
ORDER = f"{V2}/trade/order"
ALL_ORDERS = f"{V2}/trade/allOrders"
OPEN_ORDERS = f"{V2}/trade/openOrders"
POSITIONS = f"{V2}/user/positions"
BALANCE_V3 = "/openApi/swap/v3/user/balance"
LEVERAGE = f"{V2}/trade/leverage"
CONTRACTS = f"{V2}/quote/contracts"
SERVER_TIME = f"{V2}/server/time"
LISTEN_KEY = "/openApi/user/auth/userDataStream"

# Requests per second per endpoint (PROTOCOL.md §6.3; the lower figure where sources conflict).
DEFAULT_RATE_LIMITS: Mapping[str, float] = {
    ORDER: 5.0,  # place is 10/s but cancel and query share the path at 5/s
    OPEN_ORDERS: 5.0,
    ALL_ORDERS: 5.0,
    POSITIONS: 5.0,
    BALANCE_V3: 5.0,
    LEVERAGE: 5.0,
    LISTEN_KEY: 2.0,
    CONTRACTS: 1.0,
}


class DuplicateClientOrderId(VenueError):
    """BingX already has an order with this client order id (101481): nothing new was placed.

    Neither ``NotSent`` nor ``OutcomeUnknown``: retrying cannot help, and the
    existing order is followed as before (``query_order`` shows it).
    """


class RateLimited(NotSent):
    """BingX kept answering "too many requests" after every backoff: nothing was done."""


class UnreadableAnswer(VenueError):
    """A read got an answer we cannot understand: nothing changed, the read failed."""


class UnreadableOutcome(OutcomeUnknown):
    """A request that may have changed something got an answer we cannot understand."""


RATE_REMAIN_HEADER = "X-RateLimit-Requests-Remain"
RATE_EXPIRE_HEADER = "X-RateLimit-Requests-Expire"


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where to talk to: REST base URL and the swap WebSocket URL (PROTOCOL.md §1)."""

    rest: str
    ws: str

    @classmethod
    def live(cls) -> Endpoints:
        return cls("https://open-api.bingx.com", "wss://open-api-swap.bingx.com/swap-market")

    @classmethod
    def vst(cls) -> Endpoints:
        """BingX's demo ("virtual USDT") environment."""
        return cls("https://open-api-vst.bingx.com", "wss://vst-open-api-ws.bingx.com/swap-market")

    @classmethod
    def loopback(cls, port: int, host: str = "127.0.0.1") -> Endpoints:
        """The emulator in ``dita.venues.bingx_emulator``."""
        return cls(f"http://{host}:{port}", f"ws://{host}:{port}/swap-market")


@dataclass(frozen=True, slots=True)
class BingxConfig:
    endpoints: Endpoints
    position_mode: PositionMode = PositionMode.ONE_WAY
    time_in_force: Literal["GTC", "IOC", "FOK", "PostOnly"] = "GTC"  # for LIMIT orders
    recv_window: int | None = 5000
    settle_asset: str = "USDT"
    listen_key_refresh_s: float = 30 * 60  # BingX: keys live 60 min, PUT every 30 (§3.12)
    reconnect_initial_s: float = 0.1
    reconnect_max_s: float = 30.0
    rate_limit_retries: int = 5
    rate_limit_backoff_s: float = 0.2  # doubled per attempt
    rate_limits: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_RATE_LIMITS))
    start_timeout_s: float = 10.0
    event_queue_size: int = 10_000
    clock_sync_s: float = 300.0  # measure the offset to the venue's time this often
    confirm_queries: int = 2  # after a refused place: ask this many times whether it exists
    confirm_delay_s: float = 0.3  # between those queries (the venue may still be processing)
    # Protective orders (docs/bingx.md "Protective orders"): the price their trigger
    # compares with (BingX's default MARK_PRICE, or CONTRACT_PRICE, the last trade), and
    # how often each one followed is queried (BingX may push nothing when it triggers;
    # None: never, the engine's reconciliation alone finds the fill)
    working_type: WorkingType = "MARK_PRICE"
    protective_poll_s: float | None = 5.0


class _Business(Exception):
    """Internal: BingX answered with a business error we must turn into an event."""

    def __init__(self, err: BingxError) -> None:
        super().__init__(str(err))
        self.err = err


class _Limiter:
    """Spaces calls to one endpoint at least ``1/rate`` seconds apart (by the injected clock)."""

    def __init__(self, rate: float) -> None:
        self._interval_ms = 1000.0 / rate
        self._next_ms = 0.0

    def delay_s(self, now_ms: int) -> float:
        start = max(float(now_ms), self._next_ms)
        self._next_ms = start + self._interval_ms
        return (start - now_ms) / 1000.0


Connect = Callable[[str], Any]  # websockets.connect-like: returns an async context manager


class BingxVenue:
    """The BingX venue. Construct, ``await start()``, then submit/cancel and read ``events()``."""

    name = "bingx"

    def __init__(
        self,
        client: httpx.AsyncClient,
        credentials: Credentials,
        config: BingxConfig,
        *,
        clock: Clock = wall_clock_ms,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        connect: Connect | None = None,
    ) -> None:
        self._client = client
        self._creds = credentials
        self.config = config
        self._clock = clock
        self._sleep = sleep
        self._connect: Connect = connect or (lambda url: websockets.connect(url, max_size=2**22))
        self._tracker = OrderTracker()
        self._queue: asyncio.Queue[VenueEvent | None] = asyncio.Queue(config.event_queue_size)
        self._limiters = {path: _Limiter(rate) for path, rate in config.rate_limits.items()}
        self.server_clock = ServerClock(clock)
        self.rate_limit_seen: dict[str, tuple[int, int]] = {}  # path -> (remain, expire)
        self._held_until: dict[str, int] = {}  # path -> local ms before which not to call it
        self._instruments: dict[str, Instrument] = {}
        self._listen_key: str | None = None
        self._ws: ClientConnection | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stream_ready = asyncio.Event()
        self._closing = False
        self._fatal: VenueFatal | None = None
        self._renewing = False
        self._gap_task: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._kick: asyncio.Task[None] | None = None  # a poll after a position change
        self.reconnects = 0  # completed stream (re)connections, for tests and metrics
        # a resumption nobody has read yet says all a reader needs: keep one, drop the rest
        self._resumed: asyncio.Queue[StreamResumed | None] = asyncio.Queue(1)
        self.account_positions: dict[tuple[str, str], PositionReport | None] = {}
        self.account_balance: BalanceReport | None = None

    def __repr__(self) -> str:
        return f"BingxVenue(rest={self.config.endpoints.rest!r}, mode={self.config.position_mode})"

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        """Measure the clock offset, load instruments (unless the caller already did, as
        ``dita run`` and ``dita recover`` do to build the kernel: asking twice waited a
        second for BingX's limit of one contracts request a second), open the user-data
        stream, and wait until it is connected."""
        await self.sync_clock()
        if not self._instruments:
            await self.load_instruments()
        self._tasks.append(asyncio.create_task(self._stream_loop(), name="bingx-stream"))
        self._tasks.append(asyncio.create_task(self._keepalive_loop(), name="bingx-keepalive"))
        self._tasks.append(asyncio.create_task(self._clock_loop(), name="bingx-clock"))
        try:
            await asyncio.wait_for(self._stream_ready.wait(), self.config.start_timeout_s)
        except TimeoutError:
            await self.close()
            raise NotSent("BingX user-data stream did not connect in time") from None
        if self._fatal is not None:
            fatal = self._fatal
            await self.close()
            raise fatal

    async def close(self) -> None:
        self._closing = True
        if self._gap_task is not None:
            self._tasks.append(self._gap_task)
            self._gap_task = None
        for extra in (self._poller, self._kick):
            if extra is not None:
                self._tasks.append(extra)
        self._poller = self._kick = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._listen_key is not None:
            with contextlib.suppress(VenueError, _Business):
                await self._call("DELETE", LISTEN_KEY, {"listenKey": self._listen_key})
            self._listen_key = None
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)
        with contextlib.suppress(asyncio.QueueEmpty):
            self._resumed.get_nowait()  # the end matters more than an unread resumption
        self._resumed.put_nowait(None)

    # -- instruments -----------------------------------------------------------

    async def load_contracts(self) -> list[wire.Contract]:
        """Every row of ``/quote/contracts``, tradable or not (public; no key needed)."""
        raw = await self._call("GET", CONTRACTS, {}, signed=False)
        with _reading("contracts"):
            return wire.decode(raw, list[wire.Contract])

    async def load_instruments(self) -> dict[str, Instrument]:
        """Instruments from ``/quote/contracts`` (tick, step, minimum quantity and notional)."""
        rows = await self.load_contracts()
        with _reading("contracts"):
            instruments = {c.symbol: parse.instrument(c) for c in rows if parse.tradable(c)}
        self._instruments = instruments
        return dict(self._instruments)

    @property
    def instruments(self) -> dict[str, Instrument]:
        return dict(self._instruments)

    # -- commands --------------------------------------------------------------

    async def submit(self, order: Order) -> None:
        """Place ``order``. Raises ``NotSent``/``OutcomeUnknown`` on transport trouble and
        ``DuplicateClientOrderId`` if BingX already has an order with this client order id
        (after a 504 that had placed it, say): no event is emitted for the duplicate."""
        cid = order.client_order_id
        problem = self._grid_problem(order)
        if problem:
            await self._emit(
                self._tracker.on_reject(cid, order.asset, BingxError(0, problem), self._clock())
            )
            return
        params = self._order_params(order)
        followed = self._tracker.knows(cid)
        protective = order.order_type.is_trigger
        # a close-position order's quantity is the position's when it triggers
        quantity = None if protective and order.close_position else order.quantity
        self._tracker.begin_call(cid, order.asset, quantity, protective=protective)
        if protective:
            self._tracker.begin_anonymous_place()
        try:
            raw = await self._call("POST", ORDER, params, business=True)
        except NotSent:
            self._tracker.forget_unseen(cid)
            raise
        except _Business as b:
            await self._on_submit_error(order, b.err, followed)
        else:
            # the order exists: from here on, only an outcome-unknown may leave
            with _reading(f"place reply for {cid}", mutation=True):
                placed = wire.placed_order(raw)
                events = self._tracker.on_placed(cid, placed, self._clock())
            await self._emit(events)
        finally:
            self._tracker.end_call(cid)
            if protective:
                with _reading("held stream frames"):
                    late = self._tracker.end_anonymous_place()
                await self._emit(late)
                if self._tracker.knows(cid):
                    self._ensure_poller()

    async def cancel(self, order: Order) -> None:
        cid = order.client_order_id
        followed = self._tracker.knows(cid)
        if followed:
            self._tracker.begin_call(cid, order.asset)
        try:
            ids = await self._id_params(order)
            if ids is None:  # a protective order BingX does not show: nothing to cancel
                await self._emit(
                    self._tracker.on_cancel_reject(
                        cid,
                        f"{order.order_type} {cid}: no venue order id known and none of the"
                        " open orders is it",
                        self._clock(),
                    )
                )
                return
            raw = await self._call("DELETE", ORDER, ids, business=True)
        except _Business as b:
            await self._on_cancel_error(order, b.err, followed)
        else:
            with _reading(f"cancel reply for {cid}", mutation=True):
                rest = wire.decode(raw, wire.OrderData).order
                if followed:
                    events = self._tracker.on_rest(rest)
                else:
                    # (a protective order's report names no client order id: it is ours)
                    events = [
                        e if e.client_order_id else replace(e, client_order_id=cid.lower())
                        for e in self._tracker.untracked_end(rest)
                    ]
            await self._emit(events)
        finally:
            if followed:
                self._tracker.end_call(cid)

    async def query_order(self, order: Order) -> OrderReport | None:
        """BingX's view of ``order`` by client order id; None if BingX never saw it.

        If the order is one this adapter is following, anything the report shows
        that ``events()`` has not (an ack, fills, the end) is emitted too.
        """
        cid = order.client_order_id
        if order.order_type.is_trigger:
            rest = await self._query_protective(order)
        else:
            rest = await self._query(order.asset, cid)
        if rest is None:
            # (a submit still running may yet place it: then it stays followed)
            self._tracker.forget_unseen(cid, only_if_idle=True)
            return None
        with _reading(f"order {cid}"):
            report = parse.order_report(rest)
            if order.order_type.is_trigger and not self._tracker.knows(cid):
                # after a restart: follow it again (its reports name only the venue id)
                self._tracker.adopt(cid, rest)
                self._ensure_poller()
                events = []
            else:
                events = self._tracker.on_rest(rest) if self._tracker.knows(cid) else []
        await self._emit(events)
        return replace(report, client_order_id=cid) if order.order_type.is_trigger else report

    async def open_orders(self) -> list[OrderReport]:
        raw = await self._call("GET", OPEN_ORDERS, {})
        with _reading("open orders"):
            orders = wire.decode(raw, wire.OrdersData).orders or []
            reports = [parse.order_report(o) for o in orders if parse.is_dita_type(o.type)]
        # a protective order's row carries no client order id: name it when we follow it
        return [
            replace(r, client_order_id=self._tracker.client_order_id(r.venue_order_id))
            if not r.client_order_id and self._tracker.client_order_id(r.venue_order_id)
            else r
            for r in reports
        ]

    async def positions(self) -> list[PositionReport]:
        raw = await self._call("GET", POSITIONS, {})
        with _reading("positions"):
            reports = [parse.position(p) for p in wire.decode(raw, list[wire.Position])]
        return [r for r in reports if r is not None]

    async def balance(self) -> BalanceReport:
        raw = await self._call("GET", BALANCE_V3, {})
        with _reading("balance"):
            rows = wire.decode(raw, list[wire.Balance])
            return parse.balance_v3(rows, self.config.settle_asset)

    async def set_leverage(self, symbol: str, leverage: int) -> None:
        """Set leverage for ``symbol`` (both sides in hedge mode). Raises ``VenueError`` if refused."""
        sides = ["BOTH"] if self.config.position_mode is PositionMode.ONE_WAY else ["LONG", "SHORT"]
        for side in sides:
            try:
                await self._call(
                    "POST",
                    LEVERAGE,
                    {"symbol": symbol, "side": side, "leverage": leverage},
                    business=True,
                )
            except _Business as b:
                raise VenueError(
                    f"set leverage {symbol} {side} x{leverage} refused: {b.err}"
                ) from None

    async def server_time(self) -> int:
        raw = await self._call("GET", SERVER_TIME, {}, signed=False)
        with _reading("server time"):
            return wire.decode(raw, wire.ServerTime).server_time

    async def sync_clock(self) -> int | None:
        """Measure the offset between the local clock and the venue's; returns it (ms), or
        None when the venue could not be asked (the previous offset stays)."""
        sent = self.server_clock.local()
        try:
            server = await self.server_time()
        except VenueError as exc:
            log.warning("BingX server time unavailable (%s); clock offset unchanged", exc)
            return None
        received = self.server_clock.local()
        try:
            offset = self.server_clock.measure(sent, server, received)
        except ValueError as exc:
            log.warning("BingX clock measurement refused: %s", exc)
            return None
        if abs(offset) >= 1000:
            log.warning("local clock is %+d ms off BingX's; signing with BingX's time", -offset)
        return offset

    def events(self) -> AsyncIterator[VenueEvent]:
        return self._drain()

    async def _drain(self) -> AsyncIterator[VenueEvent]:
        while True:
            event = await self._queue.get()
            if event is None:
                return
            yield event

    # -- command helpers -------------------------------------------------------

    def _grid_problem(self, order: Order) -> str:
        return order_problem(order, self._instruments.get(order.asset))

    def _order_params(self, order: Order) -> dict[str, ParamValue]:
        return order_params(
            order,
            mode=self.config.position_mode,
            time_in_force=self.config.time_in_force,
            working_type=self.config.working_type,
        )

    async def _id_params(self, order: Order) -> dict[str, ParamValue] | None:
        """How to name ``order`` to BingX: its client order id, or for a protective order
        its venue order id (looked for among the open orders if we never learned it;
        None when none of them is it)."""
        if not order.order_type.is_trigger:
            return {"symbol": order.asset, "clientOrderId": order.client_order_id}
        oid = self._venue_id(order)
        if not oid:
            found = await self._find_protective(order)
            if found is None:
                return None
            oid = str(found.order_id)
        return {"symbol": order.asset, "orderId": oid}

    def _venue_id(self, order: Order) -> str:
        return order.venue_order_id or self._tracker.venue_order_id(order.client_order_id)

    async def _query_protective(self, order: Order) -> wire.RestOrder | None:
        """BingX's view of a protective order, by venue order id (or by what it is)."""
        oid = self._venue_id(order)
        if not oid:
            return await self._find_protective(order)
        return await self._query_by_id(order.asset, oid)

    async def _query_by_id(self, symbol: str, oid: str) -> wire.RestOrder | None:
        """One order by ``orderId``; an order the query does not know is looked for in the
        order history, where finished conditional orders are reported to be (ccxt #19563)."""
        try:
            raw = await self._call("GET", ORDER, {"symbol": symbol, "orderId": oid})
        except _Business as b:
            if b.err.error_class not in (ErrorClass.ORDER_GONE, ErrorClass.ALREADY_FILLED):
                raise VenueError(f"query {symbol} order {oid}: {b.err}") from None
        else:
            with _reading(f"query {symbol} order {oid}"):
                return wire.decode(raw, wire.OrderData).order
        try:
            raw = await self._call(
                "GET", ALL_ORDERS, {"symbol": symbol, "orderId": oid, "limit": 10}
            )
        except _Business as b:
            raise VenueError(f"order history {symbol} from {oid}: {b.err}") from None
        with _reading(f"order history {symbol} from {oid}"):
            rows = wire.decode(raw, wire.OrdersData).orders or []
        return next((r for r in rows if str(r.order_id) == oid), None)

    async def _find_protective(self, order: Order) -> wire.RestOrder | None:
        """The open order that is ``order`` when we never learned its venue id (its place
        had an unknown outcome): same symbol, type, side, trigger and (unless it closes the
        position) quantity, no client order id, and not an order we follow as another.
        Two such orders are refused as ``OutcomeUnknown``: we cannot tell which is ours."""
        raw = await self._call("GET", OPEN_ORDERS, {"symbol": order.asset})
        with _reading("open orders"):
            rows = wire.decode(raw, wire.OrdersData).orders or []
            matches = [r for r in rows if self._is_it(order, r)]
        if len(matches) > 1:
            ids = ", ".join(str(r.order_id) for r in matches)
            raise OutcomeUnknown(
                f"{order.order_type} {order.client_order_id}: open orders {ids} all match it;"
                " which is ours cannot be told"
            )
        if not matches:
            await self._refuse_finished_lookalikes(order)
            return None
        self._tracker.claim(order.client_order_id, str(matches[0].order_id))
        return matches[0]

    async def _refuse_finished_lookalikes(self, order: Order) -> None:
        """Not open is not "never placed": it may have triggered and filled already. If a
        finished order in the recent history matches ``order`` (and is none we followed),
        whether it is ours cannot be told: ``OutcomeUnknown`` naming it, never a guess
        either way (a fill claimed that was not ours, or one of ours denied)."""
        raw = await self._call("GET", ALL_ORDERS, {"symbol": order.asset, "limit": 100})
        with _reading("order history"):
            rows = wire.decode(raw, wire.OrdersData).orders or []
            alike = [
                r
                for r in rows
                if self._is_it(order, r) and not self._tracker.recently_finished(str(r.order_id))
            ]
        if alike:
            ids = ", ".join(f"{r.order_id} ({r.status})" for r in alike)
            raise OutcomeUnknown(
                f"{order.order_type} {order.client_order_id}: not open, but finished order(s)"
                f" {ids} in the order history match it; whether one is ours cannot be told"
            )

    def _is_it(self, order: Order, r: wire.RestOrder) -> bool:
        if r.symbol != order.asset or parse.text(r.client_order_id):
            return False
        if (r.type or "").upper() != order.order_type.value or r.side.upper() != order.side.value:
            return False
        owner = self._tracker.client_order_id(str(r.order_id))
        if owner and not owner.startswith("#") and owner != order.client_order_id.lower():
            return False  # ("#<id>": a stranger's frames named nobody; it may be ours)
        otype = parse.order_type(r.type)
        if parse.stop_price(r.stop_price, otype) != order.stop_price:
            return False
        if order.close_position:
            return parse.flag(r.close_position)
        return parse.dec_or(r.orig_qty, Decimal(0), "origQty") == order.quantity

    async def _query(self, symbol: str, cid: str) -> wire.RestOrder | None:
        try:
            raw = await self._call("GET", ORDER, {"symbol": symbol, "clientOrderId": cid})
        except _Business as b:
            if b.err.error_class in (ErrorClass.ORDER_GONE, ErrorClass.ALREADY_FILLED):
                return None
            raise VenueError(f"query {symbol} {cid}: {b.err}") from None
        with _reading(f"query {symbol} {cid}"):
            return wire.decode(raw, wire.OrderData).order

    async def _confirm(self, order: Order, err: BingxError) -> wire.RestOrder | None:
        """After a refused place: does the order exist? None only when the venue says it
        does not; ``OutcomeUnknown`` when it cannot say."""
        cid = order.client_order_id
        attempts = (
            1 if err.error_class is ErrorClass.REJECT else max(1, self.config.confirm_queries)
        )
        for attempt in range(attempts):
            if attempt:
                await self._sleep(self.config.confirm_delay_s)
            try:
                rest = (
                    await self._find_protective(order)
                    if order.order_type.is_trigger
                    else await self._query(order.asset, cid)
                )
            except VenueFatal:
                raise
            except VenueError as exc:
                raise OutcomeUnknown(
                    f"submit {cid}: {err}, and asking whether the order exists failed ({exc})"
                ) from None
            if rest is not None:
                return rest
        return None

    async def _on_submit_error(self, order: Order, err: BingxError, followed: bool) -> None:
        cid = order.client_order_id
        match err.error_class:
            case ErrorClass.FATAL:
                raise VenueFatal(f"submit {cid}: {err}")
            case ErrorClass.DUPLICATE:
                # BingX already has this id: our earlier attempt reached it (a 504 that had
                # placed it), or the id was reused. Nothing new was placed. If we follow that
                # order, catch up on anything the report shows; either way the caller learns it.
                if followed:
                    rest = await self._query(order.asset, cid)
                    if rest is not None:
                        with _reading(f"order {cid}", mutation=True):
                            events = self._tracker.on_rest(rest)
                        await self._emit(events)
                else:
                    self._tracker.forget_unseen(cid)
                raise DuplicateClientOrderId(
                    f"submit {cid}: {err}; the existing order is unchanged"
                )
        # Whatever the code says, the order is rejected only if the venue confirms that it
        # does not exist (80012, 80001, 101400 and 109400 have "maybe executed" readings).
        rest = await self._confirm(order, err)
        if rest is not None:
            log.warning("submit %s answered %s, but the order exists: following it", cid, err)
            with _reading(f"order {cid}", mutation=True):
                events = self._tracker.on_rest(rest)
            await self._emit(events)
            return
        await self._emit(self._tracker.on_reject(cid, order.asset, err, self._clock()))

    async def _on_cancel_error(self, order: Order, err: BingxError, followed: bool) -> None:
        cid = order.client_order_id
        if err.error_class is ErrorClass.FATAL:
            raise VenueFatal(f"cancel {cid}: {err}")
        # "already filled", "not found", "already cancelled" and "busy" look alike (§3.4): ask.
        rest = None
        if err.error_class in (
            ErrorClass.ORDER_GONE,
            ErrorClass.ALREADY_FILLED,
            ErrorClass.AMBIGUOUS,
            ErrorClass.UNAVAILABLE,
        ):
            try:
                rest = (
                    await self._query_protective(order)
                    if order.order_type.is_trigger
                    else await self._query(order.asset, cid)
                )
            except VenueFatal:
                raise
            except VenueError as exc:
                raise OutcomeUnknown(f"cancel {cid}: {err}, and the query failed ({exc})") from None
        events: list[VenueEvent] = []
        reason = str(err)
        with _reading(f"order {cid}", mutation=True):
            if rest is not None:
                if followed:
                    events += self._tracker.on_rest(rest)
                reason = f"{err}; order is {rest.status}"
            if not any(e.kind is EventKind.CANCEL_ACK for e in events):
                events += self._tracker.on_cancel_reject(cid, reason, self._clock(), rest)
        await self._emit(events)

    async def _emit(self, events: list[VenueEvent]) -> None:
        for event in events:
            await self._queue.put(event)

    # -- the one place transport errors are mapped -------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        params: Mapping[str, ParamValue],
        *,
        signed: bool = True,
        business: bool = False,
    ) -> msgspec.Raw:
        """One request, with retries for rate limits and timestamps. Business errors leave
        as ``_Business``; with ``business`` also the "busy" ones (the caller confirms the
        outcome itself), otherwise those are ``OutcomeUnknown``/``NotSent``."""
        what = f"{method} {path}"
        attempts = self.config.rate_limit_retries + 1
        backoff = self.config.rate_limit_backoff_s
        for attempt in range(attempts):
            await self._pace(path)
            resp = await self._send(what, method, path, params, signed=signed)
            answer = await self._answer(what, method, path, resp, signed=signed, business=business)
            if isinstance(answer, msgspec.Raw):
                return answer
            log.warning(
                "%s: %s, backing off %.3fs (attempt %d)", what, answer, backoff, attempt + 1
            )
            await self._sleep(backoff)
            backoff *= 2
        raise RateLimited(f"{what}: still rate limited after {attempts} attempts")

    async def _send(
        self,
        what: str,
        method: str,
        path: str,
        params: Mapping[str, ParamValue],
        *,
        signed: bool,
    ) -> httpx.Response:
        """One HTTP exchange (signed with the venue's time now); a transport failure leaves
        as ``NotSent`` if nothing can have reached the venue, else ``OutcomeUnknown``."""
        if signed:
            query = signed_query(
                params, self._creds.secret, self.server_clock.now(), self.config.recv_window
            )
        else:
            query = public_query(params)
        url = f"{self.config.endpoints.rest}{path}" + (f"?{query}" if query else "")
        headers = {API_KEY_HEADER: self._creds.api_key} if signed or path == LISTEN_KEY else {}
        try:
            resp = await self._client.request(method, url, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise NotSent(f"{what}: could not connect ({type(exc).__name__})") from None
        except httpx.TimeoutException as exc:
            raise OutcomeUnknown(f"{what}: no answer in time ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise OutcomeUnknown(
                f"{what}: connection failed after sending ({type(exc).__name__})"
            ) from None
        return resp

    async def _answer(
        self,
        what: str,
        method: str,
        path: str,
        resp: httpx.Response,
        *,
        signed: bool,
        business: bool,
    ) -> msgspec.Raw | str:
        """The answer's data, or why to back off and ask again; anything else raises."""
        status = resp.status_code
        self._note_rate_headers(path, resp.headers)
        if status in (429, 418):
            return f"HTTP {status}"
        if status in (401, 403):
            raise VenueFatal(f"{what}: HTTP {status} (credentials or permissions)")
        if status >= 500:
            # 504 explicitly means "may or may not have executed" (PROTOCOL.md §6.1).
            raise OutcomeUnknown(f"{what}: HTTP {status}")
        body = resp.content
        if path == LISTEN_KEY and method in ("PUT", "DELETE") and status < 300 and not body.strip():
            # documented by HTTP status only (PROTOCOL.md §3.12): an empty 200 is done
            return msgspec.Raw(b"null")
        env = _envelope(what, method, path, status, body)
        if env.code == 0 and status < 400:
            return env.data
        err = BingxError(env.code, env.msg or "")
        if resyncs_clock(err.code) and signed:
            await self.sync_clock()
        match err.error_class:
            case ErrorClass.RETRY_LATER | ErrorClass.TIMESTAMP:
                return str(err)
            case ErrorClass.FATAL:
                raise VenueFatal(f"{what}: {err}")
            case ErrorClass.UNAVAILABLE if business:
                raise _Business(err)
            case ErrorClass.UNAVAILABLE if method != "GET":
                raise OutcomeUnknown(f"{what}: {err}")
            case ErrorClass.UNAVAILABLE:
                raise NotSent(f"{what}: {err}")
            case _:
                raise _Business(err)

    async def _pace(self, path: str) -> None:
        """Wait for the endpoint's own limiter, and for a window the venue said is used up."""
        now = self._clock()
        wait = 0.0
        limiter = self._limiters.get(path)
        if limiter is not None:
            wait = limiter.delay_s(now)
        held = self._held_until.pop(path, None)
        if held is not None and held > now:
            wait = max(wait, (held - now) / 1000.0)
        if wait > 0:
            await self._sleep(wait)

    def _note_rate_headers(self, path: str, headers: Mapping[str, str]) -> None:
        """``X-RateLimit-Requests-Remain``/``-Expire`` (DOC25 rate_limit): when nothing
        remains, hold the endpoint until the window expires. Expire is read as a duration
        in ms, or as an epoch time in ms when it is that large (the docs do not say)."""
        remain_text = headers.get(RATE_REMAIN_HEADER)
        expire_text = headers.get(RATE_EXPIRE_HEADER)
        if remain_text is None or expire_text is None:
            return
        try:
            remain, expire = int(remain_text.strip()), int(expire_text.strip())
        except ValueError:
            return  # unreadable advice is no advice
        self.rate_limit_seen[path] = (remain, expire)
        if remain > 0 or expire <= 0:
            return
        if expire > 10**12:  # an epoch time (venue clock)
            hold = expire - self.server_clock.offset_ms
        else:
            hold = self._clock() + min(expire, 60_000)
        self._held_until[path] = hold

    # -- user-data stream ----------------------------------------------------------

    async def _ensure_listen_key(self) -> str:
        if self._listen_key is None:
            raw = await self._call("POST", LISTEN_KEY, {})
            with _reading("listen key"):
                self._listen_key = wire.decode(raw, wire.ListenKey).listen_key
        return self._listen_key

    async def _keepalive_loop(self) -> None:
        while True:
            await self._sleep(self.config.listen_key_refresh_s)
            key = self._listen_key
            if key is None:
                continue
            try:
                await self._call("PUT", LISTEN_KEY, {"listenKey": key})
            except (VenueError, _Business) as exc:
                log.warning("listen key refresh failed (%s); renewing", type(exc).__name__)
                await self._renew_listen_key()

    async def _clock_loop(self) -> None:
        while True:
            await self._sleep(self.config.clock_sync_s)
            await self.sync_clock()

    def _ensure_poller(self) -> None:
        """Start the protective-order poll if it is not running (it ends by itself when
        no protective order is followed any more)."""
        if self.config.protective_poll_s is None or self._closing:
            return
        if self._poller is not None and not self._poller.done():
            return
        self._poller = asyncio.create_task(self._protective_loop(), name="bingx-protective")

    async def _protective_loop(self) -> None:
        interval = self.config.protective_poll_s
        assert interval is not None
        while any(lo.protective for lo in self._tracker.live()):
            await self._sleep(interval)
            try:
                await self.poll_protective()
            except VenueFatal as exc:
                log.error("BingX protective order poll stopped: %s", exc)
                return
            except VenueError as exc:
                log.warning("BingX protective order poll failed: %s", exc)

    async def poll_protective(self) -> int:
        """Ask about every protective order this adapter follows (open orders once, then
        by venue order id those no longer open) and emit what the answers show that
        ``events()`` has not (a trigger and its fill BingX did not push, say). Returns how
        many were asked about. Runs every ``protective_poll_s``; tests call it directly."""
        followed = [lo for lo in self._tracker.live() if lo.protective and lo.venue_order_id]
        if not followed:
            return 0
        # one openOrders answers for every order still resting; only those it no longer
        # shows are asked about by id (the order endpoint's rate is shared with placing)
        raw = await self._call("GET", OPEN_ORDERS, {})
        with _reading("open orders"):
            open_by_id = {
                str(o.order_id): o for o in wire.decode(raw, wire.OrdersData).orders or []
            }
        asked = 0
        for lo in followed:
            rest = open_by_id.get(lo.venue_order_id)
            if rest is None:
                rest = await self._query_by_id(lo.symbol, lo.venue_order_id)
            asked += 1
            if rest is not None:
                with _reading(f"order {lo.venue_order_id}"):
                    events = self._tracker.on_rest(rest)
                await self._emit(events)
        return asked

    async def _renew_listen_key(self) -> None:
        self._listen_key = None
        self._renewing = True
        ws = self._ws
        if ws is not None:
            await ws.close()

    async def _stream_loop(self) -> None:
        delay = self.config.reconnect_initial_s
        while not self._closing:
            try:
                key = await self._ensure_listen_key()
                async with self._connect(f"{self.config.endpoints.ws}?listenKey={key}") as ws:
                    self._ws = ws
                    self.reconnects += 1
                    delay = self.config.reconnect_initial_s
                    await self._fill_gap()
                    self._stream_ready.set()
                    if self.reconnects > 1:
                        self._note_resumed()
                    async for frame in ws:
                        await self._on_frame(ws, frame)
            except asyncio.CancelledError:
                raise
            except VenueFatal as exc:
                log.error("BingX user-data stream stopped: %s", exc)
                self._fatal = exc
                self._stream_ready.set()
                return
            except (
                OSError,
                websockets.WebSocketException,
                VenueError,
                _Business,
                wire.WireError,
            ) as exc:
                if isinstance(exc, websockets.InvalidStatus):
                    self._listen_key = None  # the server refused the key: get a new one
                log.warning(
                    "BingX user-data stream lost (%s); reconnecting in %.2fs",
                    type(exc).__name__,
                    delay,
                )
            except Exception as exc:  # never let the stream die silently: events would stop
                log.error(
                    "BingX user-data stream failed (%s: %s); reconnecting", type(exc).__name__, exc
                )
            finally:
                self._ws = None
            if self._closing:
                return
            if self._renewing:  # we closed it ourselves to switch keys: reconnect at once
                self._renewing = False
                continue
            await self._sleep(delay)
            delay = min(delay * 2, self.config.reconnect_max_s)

    def _note_resumed(self) -> None:
        with contextlib.suppress(asyncio.QueueFull):  # one unread resumption is enough
            self._resumed.put_nowait(StreamResumed(self._clock(), self.reconnects - 1))

    async def resumptions(self) -> AsyncIterator[StreamResumed]:
        """One item per reconnect of the user-data stream after the first connect (the
        adapter has already caught up on the orders it follows; the engine reconciles).
        Resumptions nobody read yet collapse into one."""
        while (item := await self._resumed.get()) is not None:
            yield item
        with contextlib.suppress(asyncio.QueueFull):
            self._resumed.put_nowait(None)  # let any other reader see the end as well

    async def _on_frame(self, ws: ClientConnection, frame: str | bytes) -> None:
        try:
            text = gzip.decompress(frame).decode("utf-8") if isinstance(frame, bytes) else frame
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            log.error("undecodable BingX stream frame ignored (%s)", type(exc).__name__)
            return
        if text == "Ping":
            await ws.send("Pong")
            return
        try:
            head = wire.decode(text, wire.StreamHead)
        except wire.WireError as exc:
            log.error("unreadable BingX stream frame ignored: %s", exc)
            return
        event = head.e or ""
        try:
            match event:
                case "ORDER_TRADE_UPDATE" | "TRADE_UPDATE":
                    # TRADE_UPDATE: the name the 2025 docs' USDT-M example uses for the same
                    # order/fill frame; fills follow from z either way, so both count once
                    events = self._tracker.on_stream(wire.decode(text, wire.OrderTradeUpdate))
                    await self._emit(events)
                    if self._tracker.doubts:
                        self._tracker.doubts.clear()
                        self._spawn_gap_fill()
                case "ACCOUNT_UPDATE":
                    await self._on_account(wire.decode(text, wire.AccountUpdate))
                case "listenKeyExpired":
                    log.info("BingX listen key expired; renewing")
                    await self._renew_listen_key()
                case "":
                    if head.code:
                        log.warning("BingX stream error %s: %s", head.code, head.msg)
                case _:
                    pass  # ACCOUNT_CONFIG_UPDATE, SNAPSHOT, ...: not ours to act on
        except VenueError:
            raise
        except Exception as exc:  # an unreadable frame must not end the stream
            detail = str(exc) if isinstance(exc, wire.WireError) else type(exc).__name__
            log.error(
                "unreadable BingX %s frame ignored (%s); asking for our orders", event, detail
            )
            if event in ("ORDER_TRADE_UPDATE", "TRADE_UPDATE"):
                self._spawn_gap_fill()

    def _spawn_protective_poll(self) -> None:
        if self._kick is not None and not self._kick.done():
            return

        async def run() -> None:
            try:
                await self.poll_protective()
            except VenueError as exc:
                log.warning("BingX protective order query after a position change failed: %s", exc)

        self._kick = asyncio.create_task(run(), name="bingx-protective-kick")

    def _spawn_gap_fill(self) -> None:
        """Query our live orders soon (a frame about them could not be read)."""
        if self._gap_task is not None and not self._gap_task.done():
            return

        async def run() -> None:
            try:
                await self._fill_gap()
            except VenueError as exc:
                log.warning("BingX order query after an unreadable frame failed: %s", exc)

        self._gap_task = asyncio.create_task(run(), name="bingx-gap-fill")

    async def _on_account(self, ev: wire.AccountUpdate) -> None:
        positions = {
            (p.symbol, parse.text(p.position_side)): parse.account_position(p)
            for p in ev.account.positions or []
        }
        balance = None
        for b in ev.account.balances or []:
            if b.asset == self.config.settle_asset:
                wallet = parse.dec(b.wallet_balance, "wb")
                balance = BalanceReport(
                    b.asset, wallet, parse.dec_or(b.cross_wallet_balance, wallet, "cw")
                )
        funding = parse.funding_events(ev, self.config.settle_asset)
        self.account_positions.update(positions)
        if balance is not None:
            self.account_balance = balance
        await self._emit(funding)
        moved = {symbol for symbol, _ in positions}
        if any(lo.protective and lo.symbol in moved for lo in self._tracker.live()):
            # a position moved while a protective order of it rests: perhaps it triggered,
            # and BingX may push nothing about that (ISS36): ask now, not at the next poll
            self._spawn_protective_poll()

    async def _fill_gap(self) -> None:
        """After a (re)connect: whatever happened to our live orders while we were away."""
        live = self._tracker.live()
        if not live:
            return
        raw = await self._call("GET", OPEN_ORDERS, {})
        with _reading("open orders"):
            orders = wire.decode(raw, wire.OrdersData).orders or []
        open_now = {parse.text(o.client_order_id).lower(): o for o in orders}
        open_by_id = {str(o.order_id): o for o in orders}
        for lo in live:
            if lo.protective:
                rest = open_by_id.get(lo.venue_order_id) if lo.venue_order_id else None
                if rest is None and lo.venue_order_id:
                    rest = await self._query_by_id(lo.symbol, lo.venue_order_id)
            else:
                rest = open_now.get(lo.client_order_id)
                if rest is None:
                    rest = await self._query(lo.symbol, lo.client_order_id)
            if rest is not None:
                with _reading(f"order {lo.client_order_id}"):
                    events = self._tracker.on_rest(rest)
                await self._emit(events)


@contextlib.contextmanager
def _reading(what: str, *, mutation: bool = False) -> Iterator[None]:
    """Turn anything raised while reading an answer into a venue error: ``UnreadableOutcome``
    after a request that may have changed something, ``UnreadableAnswer`` after a read."""
    try:
        yield
    except VenueError:
        raise
    except Exception as exc:
        if isinstance(exc, wire.WireError):
            detail = str(exc)
        else:
            log.exception("BingX %s: unexpected error while reading the answer", what)
            detail = type(exc).__name__
        if mutation:
            raise UnreadableOutcome(f"{what}: answer not understood ({detail})") from None
        raise UnreadableAnswer(f"{what}: answer not understood ({detail})") from None


def _envelope(what: str, method: str, path: str, status: int, body: bytes) -> wire.Envelope:
    """The answer's BingX envelope; an unreadable one is fatal on an HTTP error status, and
    otherwise unreadable (a read) or of unknown outcome (a change)."""
    try:
        if path == LISTEN_KEY and method == "POST":
            # The one answer without an envelope: {"listenKey": ...} (PROTOCOL.md §3.12).
            lk = wire.decode(body, wire.ListenKeyAnswer)
            return wire.Envelope(lk.code, lk.msg, msgspec.Raw(body))
        return wire.envelope(body)
    except wire.WireError:
        if status >= 400:
            raise VenueFatal(f"{what}: HTTP {status} with no BingX body") from None
        if method == "GET":
            raise UnreadableAnswer(f"{what}: unreadable answer (HTTP {status})") from None
        raise UnreadableOutcome(f"{what}: unreadable answer (HTTP {status})") from None
