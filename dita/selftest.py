"""``dita selftest bingx``: a bounded conformance run of the BingX adapter against a venue.

One script, the smallest legal orders, resting orders far from the market.
Each step is a ``Check``: what the venue answered (the shape of its answer and
the status values in it, read from the raw wire through a ``tap``), whether
the adapter understood it, and PASS/FAIL with what differed. In order:

server time and clock offset; contracts and precision; balance v2 and v3
(the same wallet); position mode and leverage (read, then set to what it is);
a resting LIMIT with a client order id, queried by that id, seen in open
orders and on the user-data stream; its cancel, seen on REST and the stream; a
minimum MARKET fill and its reduce-only close, fees and position compared on
REST and the stream; a price off the tick grid (refused, or truncated onto the
grid as PROTOCOL.md §3.1 allows: either passes, an off-grid order fails); a
duplicate client order id; a listen-key refresh; and last, always, that the
account is flat again (every order the run placed is gone, no position it
opened is left).

Nothing secret is in a ``Check`` (answers are summarised: keys, codes, status
values and the figures compared).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

import httpx

from dita.clock import Clock, LiveClock
from dita.kernel.model import (
    EventKind,
    Instrument,
    Order,
    OrderPurpose,
    OrderSide,
    OrderStatus,
    OrderType,
    Side,
    VenueEvent,
)
from dita.venues.base import PositionReport, VenueError
from dita.venues.bingx import BingxConfig, BingxVenue, Credentials, DuplicateClientOrderId
from dita.venues.bingx.tap import Connect, Tap, TapClock, TapTransport, tap_connect
from dita.venues.bingx.venue import LISTEN_KEY, ORDER, V2, Endpoints, _Business

BALANCE_V2 = f"{V2}/user/balance"
LEVERAGE = f"{V2}/trade/leverage"
POSITION_MODE = "/openApi/swap/v1/positionSide/dual"
PRICE = f"{V2}/quote/price"
FAR = Decimal("0.85")  # a resting buy at 85% of the market price


@dataclass
class Check:
    name: str
    answered: str = ""
    understood: str = ""
    passed: bool = False
    detail: str = ""


@dataclass
class _Seen:
    """What passed on the wire (a ``tap.Tap``), forwarded to another tap (a recorder)."""

    forward: Tap | None = None
    answers: list[tuple[str, str, int, Any]] = field(default_factory=list)
    frames: list[dict[str, Any]] = field(default_factory=list)
    moved: asyncio.Event | None = None

    def _poke(self) -> None:
        if self.moved is not None:
            self.moved.set()

    def on_http_send(self, request: httpx.Request) -> None:
        if self.forward:
            self.forward.on_http_send(request)

    def on_http(self, request: httpx.Request, response: Any, body: bytes, error: Any) -> None:
        if self.forward:
            self.forward.on_http(request, response, body, error)
        try:
            obj = json.loads(body) if body.strip() else None
        except ValueError:
            obj = "<not JSON>"
        status = response.status_code if response is not None else 0
        self.answers.append((request.method, request.url.path, status, obj))

    def on_ws_open(self, url: str, error: Any) -> None:
        if self.forward:
            self.forward.on_ws_open(url, error)

    def on_frame(self, frame: str | bytes) -> None:
        if self.forward:
            self.forward.on_frame(frame)
        try:
            text = gzip.decompress(frame).decode() if isinstance(frame, bytes) else frame
            obj = json.loads(text)
        except (OSError, EOFError, ValueError):
            return
        if isinstance(obj, dict):
            self.frames.append(obj)
            self._poke()

    def on_send(self, text: str) -> None:
        if self.forward:
            self.forward.on_send(text)

    def on_ws_end(self, error: Any) -> None:
        if self.forward:
            self.forward.on_ws_end(error)

    def on_clock(self, ms: int, task: str) -> None:
        if self.forward:
            self.forward.on_clock(ms, task)

    def last(self, method: str, path: str) -> Any:
        for m, p, _status, obj in reversed(self.answers):
            if m == method and p == path:
                return obj
        return None


def shape(obj: Any) -> str:
    """A BingX answer in brief: its code, the keys of its data and every status value."""
    if obj is None:
        return "empty body"
    if not isinstance(obj, dict):
        return str(obj)[:40]
    parts = []
    if "code" in obj:
        parts.append(
            f"code {obj['code']}" + (f" {str(obj.get('msg'))[:40]!r}" if obj["code"] else "")
        )
    data = obj.get("data", obj)
    if isinstance(data, dict):
        parts.append("{" + ",".join(sorted(data)[:6]) + ("…" if len(data) > 6 else "") + "}")
    elif isinstance(data, list):
        parts.append(f"[{len(data)} rows]")
    statuses = sorted(set(_statuses(obj)))
    if statuses:
        parts.append("status " + "/".join(statuses))
    return " ".join(parts)


def _statuses(obj: Any) -> Iterable[str]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("status", "X") and isinstance(v, str):
                yield v
            else:
                yield from _statuses(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _statuses(v)


def frame_shape(frame: dict[str, Any]) -> str:
    o = frame.get("o") if isinstance(frame.get("o"), dict) else {}
    assert isinstance(o, dict)
    return f"{frame.get('e')} X {o.get('X')} x {o.get('x')}".strip()


def _order(
    cid: str,
    symbol: str,
    side: OrderSide,
    qty: Decimal,
    price: Decimal | None,
    *,
    reduce_only: bool = False,
) -> Order:
    return Order(
        client_order_id=cid, venue_order_id="", slot_id=0, trade_id=f"selftest-{cid}",
        asset=symbol, side=side, order_type=OrderType.LIMIT if price is not None else OrderType.MARKET,
        quantity=qty, limit_price=price, reduce_only=reduce_only,
        purpose=OrderPurpose.EXIT if reduce_only else OrderPurpose.ENTRY,
        status=OrderStatus.REQUESTED, filled_qty=Decimal(0), filled_cost=Decimal(0),
        fees=Decimal(0), acked=False, first_leg=-1, last_leg=-1,
    )  # fmt: skip


def _up(x: Decimal, step: Decimal) -> Decimal:
    return (x / step).to_integral_value(ROUND_CEILING) * step


def _down(x: Decimal, step: Decimal) -> Decimal:
    return (x / step).to_integral_value(ROUND_FLOOR) * step


def _data(obj: Any) -> Any:
    return obj.get("data") if isinstance(obj, dict) else None


class SelfTest:
    """The script (see the module doc). ``run()`` returns every check, the flat check last."""

    def __init__(
        self,
        endpoints: Endpoints,
        credentials: Credentials,
        symbol: str,
        *,
        record: Tap | None = None,
        pacing: bool = True,
        clock: Clock | None = None,
        timeout_s: float = 10.0,
        connect: Connect | None = None,
    ) -> None:
        self.endpoints = endpoints
        self.credentials = credentials
        self.symbol = symbol
        self.seen = _Seen(forward=record)
        self.pacing = pacing
        self.clock = TapClock(clock or LiveClock(), self.seen)
        self.timeout_s = timeout_s
        self.checks: list[Check] = []
        self.events: list[VenueEvent] = []
        self._connect = connect
        self._placed: dict[str, Order] = {}  # every order we sent
        self._opened = Decimal(0)  # net long quantity the run opened
        self._baseline = Decimal(0)  # the account's net position on the symbol before the run
        self._n = 0
        n = (self.clock.now_ms() // 1000) % 36**5
        digits = ""
        for _ in range(5):
            n, r = divmod(n, 36)
            digits = "0123456789abcdefghijklmnopqrstuvwxyz"[r] + digits
        self._prefix = f"st{digits}"

    # -- plumbing ------------------------------------------------------------------------

    def _cid(self) -> str:
        self._n += 1
        return f"{self._prefix}-{self._n}"

    async def _wait(self, ready: Callable[[], Any], what: str) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        while True:
            got = ready()
            if got:
                return got
            self.seen.moved = asyncio.Event()
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"no {what} within {self.timeout_s:g}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.seen.moved.wait(), min(left, 0.2))

    def _min_qty(self, price: Decimal) -> Decimal:
        """The smallest quantity the venue takes at ``price``, with 5% room over its minimum
        notional."""
        inst = self.inst
        return max(
            inst.min_quantity, _up(inst.min_notional * Decimal("1.05") / price, inst.step_size)
        )

    async def _fill(self, order: Order, what: str) -> list[VenueEvent]:
        """Send a market order and wait until its FILL events add up to its quantity."""
        cid = order.client_order_id
        self._placed[cid] = order
        await self.venue.submit(order)

        def filled() -> list[VenueEvent] | None:
            fills = [
                e for e in self.events if e.client_order_id == cid and e.kind is EventKind.FILL
            ]
            return fills if fills and fills[-1].cum_qty == order.quantity else None

        fills: list[VenueEvent] = await self._wait(filled, what)
        return fills

    def _event(self, cid: str, kind: EventKind) -> Callable[[], VenueEvent | None]:
        return lambda: next(
            (e for e in self.events if e.client_order_id == cid and e.kind is kind), None
        )

    def _frame(self, cid: str, *statuses: str) -> Callable[[], dict[str, Any] | None]:
        def find() -> dict[str, Any] | None:
            for f in self.seen.frames:
                o = f.get("o")
                if (
                    f.get("e") in ("ORDER_TRADE_UPDATE", "TRADE_UPDATE")
                    and isinstance(o, dict)
                    and str(o.get("c", "")).lower() == cid
                    and (
                        not statuses
                        or o.get("X") in statuses
                        or ("TRADE" in statuses and o.get("x") == "TRADE")
                    )
                ):
                    return f
            return None

        return find

    async def _check(
        self, name: str, step: Callable[[Check], Awaitable[None]], *, needs: Iterable[str] = ()
    ) -> Check:
        check = Check(name)
        self.checks.append(check)
        failed = [c.name for c in self.checks if c.name in set(needs) and not c.passed]
        if failed:
            check.detail = f"not run: {', '.join(failed)} failed"
            return check
        try:
            await step(check)
        except (VenueError, _Business, TimeoutError, ValueError, KeyError, TypeError) as e:
            check.passed = False
            check.detail = check.detail or f"{type(e).__name__}: {e}"
            if not check.understood:
                check.understood = "no"
        return check

    # -- the script ------------------------------------------------------------------------

    async def run(self) -> list[Check]:
        limits: dict[str, float] | None = None if self.pacing else {}
        cfg = BingxConfig(self.endpoints) if limits is None else BingxConfig(
            self.endpoints, rate_limits=limits
        )  # fmt: skip
        transport = TapTransport(self.seen)
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(10.0, connect=5.0), transport=transport
        ) as client:
            venue = BingxVenue(
                client, self.credentials, cfg, clock=self.clock.now_ms,
                connect=tap_connect(self.seen, self._connect),
            )  # fmt: skip
            self.venue = venue
            await self._check("server time and clock offset", self.c_time)
            await self._check("contracts and precision", self.c_contracts)
            await venue.start()
            pump = asyncio.create_task(self._pump(), name="selftest-events")
            try:
                await self._script()
            finally:
                await self._check("ends flat", self.c_flat)
                await venue.close()
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pump
        return self.checks

    async def _pump(self) -> None:
        async for event in self.venue.events():
            self.events.append(event)
            self.seen._poke()

    async def _net(self, reports: Iterable[PositionReport] | None = None) -> Decimal:
        """The net (long minus short) position on the symbol, from REST unless given."""
        if reports is None:
            reports = await self.venue.positions()
        return sum(
            (p.quantity if p.side is Side.LONG else -p.quantity for p in reports
             if p.asset == self.symbol),
            Decimal(0),
        )  # fmt: skip

    async def _script(self) -> None:
        with contextlib.suppress(VenueError):
            self._baseline = await self._net()
        await self._check("balance v2 and v3", self.c_balance)
        await self._check("position mode and leverage", self.c_mode)
        await self._check("resting LIMIT with a client order id", self.c_rest)
        rest = ["resting LIMIT with a client order id"]
        await self._check("query by client order id", self.c_query, needs=rest)
        await self._check("open orders show it", self.c_open, needs=rest)
        await self._check("user-data stream shows it", self.c_stream_new, needs=rest)
        await self._check("cancel, seen on REST and stream", self.c_cancel, needs=rest)
        await self._check("minimum MARKET fills", self.c_market)
        filled = ["minimum MARKET fills"]
        await self._check("fees on REST and stream", self.c_fees, needs=filled)
        await self._check("position on REST and stream", self.c_position, needs=filled)
        await self._check("reduce-only MARKET close", self.c_close, needs=filled)
        await self._check("price off the tick grid", self.c_precision)
        await self._check("duplicate client order id", self.c_duplicate)
        await self._check("listen-key refresh", self.c_listen_key)

    # -- checks ----------------------------------------------------------------------------

    async def c_time(self, c: Check) -> None:
        offset = await self.venue.sync_clock()
        c.answered = shape(self.seen.last("GET", f"{V2}/server/time"))
        if offset is None:
            c.understood = "no"
            c.detail = "no offset measured"
            return
        c.understood = (
            f"offset {offset:+d} ms, round trip {self.venue.server_clock.last_round_trip_ms} ms"
        )
        c.passed = abs(offset) < 5000
        if not c.passed:
            c.detail = f"the venue's clock is {offset:+d} ms from ours (signing allows 5000)"

    async def c_contracts(self, c: Check) -> None:
        instruments = await self.venue.load_instruments()
        obj = self.seen.last("GET", f"{V2}/quote/contracts")
        c.answered = shape(obj)
        row = next(
            (r for r in _data(obj) or [] if isinstance(r, dict) and r.get("symbol") == self.symbol),
            None,
        )
        inst = instruments.get(self.symbol)
        if inst is None or row is None:
            c.understood = "no"
            c.detail = f"{self.symbol} is not a tradable contract here"
            return
        self.inst: Instrument = inst
        c.answered += f"; {self.symbol} pricePrecision {row.get('pricePrecision')} quantityPrecision {row.get('quantityPrecision')}"
        c.understood = f"tick {inst.tick_size}, step {inst.step_size}, min qty {inst.min_quantity}, min notional {inst.min_notional}"
        want_tick = Decimal(10) ** -int(row["pricePrecision"])
        want_step = Decimal(10) ** -int(row["quantityPrecision"])
        differs = []
        if inst.tick_size != want_tick:
            differs.append(f"tick {inst.tick_size} vs pricePrecision {want_tick}")
        if inst.step_size != want_step:
            differs.append(f"step {inst.step_size} vs quantityPrecision {want_step}")
        c.passed = not differs
        c.detail = "; ".join(differs)

    async def c_balance(self, c: Check) -> None:
        v3 = await self.venue.balance()
        raw2 = await self.venue._call("GET", BALANCE_V2, {})
        v2 = json.loads(bytes(raw2))
        c.answered = f"v2 {shape(self.seen.last('GET', BALANCE_V2))}; v3 {shape(self.seen.last('GET', '/openApi/swap/v3/user/balance'))}"
        row = v2.get("balance") if isinstance(v2, dict) else None
        if not isinstance(row, dict):
            c.understood = f"v3 wallet {v3.wallet}; v2 not read"
            c.detail = "v2 has no balance object"
            return
        wallet2 = Decimal(str(row.get("balance")))
        c.understood = f"v3 wallet {v3.wallet} available {v3.available}; v2 balance {wallet2}"
        c.passed = row.get("asset") == v3.asset and wallet2 == v3.wallet
        if not c.passed:
            c.detail = f"v2 says {row.get('asset')} {wallet2}, v3 says {v3.asset} {v3.wallet}"

    async def c_mode(self, c: Check) -> None:
        mode = json.loads(bytes(await self.venue._call("GET", POSITION_MODE, {})))
        lev = json.loads(bytes(await self.venue._call("GET", LEVERAGE, {"symbol": self.symbol})))
        c.answered = f"mode {shape(self.seen.last('GET', POSITION_MODE))}; leverage {shape(self.seen.last('GET', LEVERAGE))}"
        dual = str(mode.get("dualSidePosition", "")).lower() if isinstance(mode, dict) else ""
        current = int(Decimal(str(lev.get("longLeverage")))) if isinstance(lev, dict) else 0
        await self.venue.set_leverage(self.symbol, current)  # set to what it is: no change
        c.understood = f"dual side {dual}, leverage x{current} (set again unchanged)"
        c.passed = dual == "false" and current >= 1
        if dual != "false":
            c.detail = f"hedge mode (dualSidePosition {dual}); the self-test runs one-way"

    async def c_rest(self, c: Check) -> None:
        price = await self._price()
        inst = self.inst
        limit = _down(price * FAR, inst.tick_size)
        qty = self._min_qty(limit)
        order = _order(self._cid(), self.symbol, OrderSide.BUY, qty, limit)
        self.resting = order
        self._placed[order.client_order_id] = order
        await self.venue.submit(order)
        ack = await self._wait(self._event(order.client_order_id, EventKind.ACK), "ACK")
        c.answered = shape(self.seen.last("POST", ORDER))
        c.understood = f"ACK {ack.venue_order_id} (BUY {qty} @ {limit}, market {price})"
        c.passed = True

    async def _price(self) -> Decimal:
        raw = await self.venue._call("GET", PRICE, {"symbol": self.symbol}, signed=False)
        data = json.loads(bytes(raw))
        return Decimal(str(data["price"]))

    async def c_query(self, c: Check) -> None:
        order = self.resting
        report = await self.venue.query_order(order)
        c.answered = shape(self.seen.last("GET", ORDER))
        if report is None:
            c.understood = "not found"
            c.detail = f"the venue does not know {order.client_order_id}"
            return
        c.understood = f"{report.status.value} {report.quantity} @ {report.limit_price}"
        differs = []
        if report.client_order_id.lower() != order.client_order_id:
            differs.append(
                f"client order id: sent {order.client_order_id}, venue {report.client_order_id}"
            )
        if report.limit_price != order.limit_price:
            differs.append(f"price: sent {order.limit_price}, venue {report.limit_price}")
        if report.quantity != order.quantity:
            differs.append(f"quantity: sent {order.quantity}, venue {report.quantity}")
        if report.status is not OrderStatus.WORKING:
            differs.append(f"status: expected working, venue {report.status.value}")
        c.passed = not differs
        c.detail = "; ".join(differs)

    async def c_open(self, c: Check) -> None:
        reports = await self.venue.open_orders()
        c.answered = shape(self.seen.last("GET", f"{V2}/trade/openOrders"))
        ours = [r for r in reports if r.client_order_id.lower() == self.resting.client_order_id]
        c.understood = f"{len(reports)} open order(s), ours {'among them' if ours else 'missing'}"
        c.passed = len(ours) == 1 and ours[0].status is OrderStatus.WORKING
        if not c.passed:
            c.detail = f"{self.resting.client_order_id} is not among the {len(reports)} open orders"

    async def c_stream_new(self, c: Check) -> None:
        frame = await self._wait(
            self._frame(self.resting.client_order_id, "NEW", "PENDING"), "stream frame"
        )
        c.answered = frame_shape(frame)
        c.understood = "ACK (merged with the REST answer, once)"
        acks = [
            e
            for e in self.events
            if e.client_order_id == self.resting.client_order_id and e.kind is EventKind.ACK
        ]
        c.passed = len(acks) == 1
        if not c.passed:
            c.detail = f"{len(acks)} ACK events"

    async def c_cancel(self, c: Check) -> None:
        cid = self.resting.client_order_id
        await self.venue.cancel(self.resting)
        await self._wait(self._event(cid, EventKind.CANCEL_ACK), "CANCEL_ACK")
        frame = await self._wait(self._frame(cid, "CANCELED", "CANCELLED"), "cancel frame")
        report = await self.venue.query_order(self.resting)
        c.answered = f"cancel {shape(self.seen.last('DELETE', ORDER))}; stream {frame_shape(frame)}; query {shape(self.seen.last('GET', ORDER))}"
        c.understood = f"CANCEL_ACK; query: {report.status.value if report else 'not found'}"
        c.passed = report is not None and report.status is OrderStatus.CANCELED
        if not c.passed:
            c.detail = (
                f"after the cancel the venue reports {report.status.value if report else 'nothing'}"
            )

    async def c_market(self, c: Check) -> None:
        price = await self._price()
        qty = self._min_qty(price)
        order = _order(self._cid(), self.symbol, OrderSide.BUY, qty, None)
        self.market = order
        fills = await self._fill(order, "complete fill")
        cid = order.client_order_id
        self._opened += qty
        frame = await self._wait(self._frame(cid, "FILLED", "TRADE"), "fill frame")
        self.fills = fills
        self.fill_frame = frame
        c.answered = f"place {shape(self.seen.last('POST', ORDER))}; stream {frame_shape(frame)}"
        c.understood = f"{len(fills)} FILL(s), {qty} @ {fills[-1].last_price}"
        c.passed = True

    async def c_fees(self, c: Check) -> None:
        report = await self.venue.query_order(self.market)
        stream_fee = sum((e.fee for e in self.fills), Decimal(0))
        c.answered = f"query {shape(self.seen.last('GET', ORDER))}; stream n {self.fill_frame.get('o', {}).get('n')}"
        rest_fee = report.fees if report else None
        c.understood = f"fee REST {rest_fee}, stream {stream_fee}"
        c.passed = rest_fee is not None and rest_fee == stream_fee and stream_fee >= 0
        if not c.passed:
            c.detail = f"fee: REST {rest_fee}, stream {stream_fee}"

    async def c_position(self, c: Check) -> None:
        rest_qty = await self._net() - self._baseline
        c.answered = shape(self.seen.last("GET", f"{V2}/user/positions"))

        def on_stream() -> Any:
            got = [
                p for (sym, _side), p in self.venue.account_positions.items()
                if sym == self.symbol and p is not None
            ]  # fmt: skip
            return got or None

        stream = await self._wait(on_stream, "ACCOUNT_UPDATE position")
        stream_qty = await self._net(stream) - self._baseline
        c.answered += "; stream ACCOUNT_UPDATE"
        c.understood = f"REST {rest_qty}, stream {stream_qty}, opened {self._opened}"
        differs = []
        if rest_qty != self._opened:
            differs.append(f"REST position {rest_qty}, filled {self._opened}")
        if stream_qty != self._opened:
            differs.append(f"stream position {stream_qty}, filled {self._opened}")
        c.passed = not differs
        c.detail = "; ".join(differs)

    async def c_close(self, c: Check) -> None:
        qty = self._opened
        order = _order(self._cid(), self.symbol, OrderSide.SELL, qty, None, reduce_only=True)
        fills = await self._fill(order, "close fill")
        self._opened -= qty
        c.answered = shape(self.seen.last("POST", ORDER))
        c.understood = f"{len(fills)} FILL(s), {qty} @ {fills[-1].last_price}"
        c.passed = True

    async def c_precision(self, c: Check) -> None:
        inst = self.inst
        price = _down(await self._price() * FAR, inst.tick_size)
        bad = price + inst.tick_size / 2  # half a tick: off the grid
        qty = self._min_qty(price)
        cid = self._cid()
        order = _order(cid, self.symbol, OrderSide.BUY, qty, price)
        self._placed[cid] = order
        params = self.venue._order_params(order) | {"price": format(bad, "f")}
        try:
            await self.venue._call("POST", ORDER, params, business=True)
        except _Business as b:
            report = await self.venue.query_order(order)
            c.answered = shape(self.seen.last("POST", ORDER))
            c.understood = f"refused ({b.err.code}); query: {'nothing placed' if report is None else report.status.value}"
            c.passed = report is None
            if not c.passed:
                c.detail = "refused, yet the order exists"
            return
        report = await self.venue.query_order(order)
        c.answered = shape(self.seen.last("POST", ORDER))
        if report is None:
            c.understood = "accepted, then not found"
            c.detail = "the venue accepted an order it does not know"
            return
        await self.venue.cancel(order)
        gone = await self.venue.query_order(order)
        c.understood = f"accepted at {report.limit_price} (sent {bad}); cancelled: " + (
            gone.status.value if gone else "gone"
        )
        c.passed = report.limit_price is not None and report.limit_price % inst.tick_size == 0
        if not c.passed:
            c.detail = f"resting off the grid at {report.limit_price}"

    async def c_duplicate(self, c: Check) -> None:
        inst = self.inst
        price = _down(await self._price() * FAR, inst.tick_size)
        qty = self._min_qty(price)
        order = _order(self._cid(), self.symbol, OrderSide.BUY, qty, price)
        self._placed[order.client_order_id] = order
        await self.venue.submit(order)
        await self._wait(self._event(order.client_order_id, EventKind.ACK), "ACK")
        try:
            await self.venue.submit(order)
        except DuplicateClientOrderId:
            c.answered = shape(self.seen.last("POST", ORDER))
            c.understood = "DuplicateClientOrderId, the first order unchanged"
            first = await self.venue.query_order(order)  # the first order, unchanged
            c.passed = (
                first is not None
                and first.status is OrderStatus.WORKING
                and first.quantity == order.quantity
                and first.cum_qty == 0
            )
            if not c.passed:
                c.detail = "the first order changed: " + (
                    f"{first.status.value} {first.cum_qty}/{first.quantity}" if first else "gone"
                )
            await self.venue.cancel(order)
            await self._wait(self._event(order.client_order_id, EventKind.CANCEL_ACK), "CANCEL_ACK")
            return
        c.answered = shape(self.seen.last("POST", ORDER))
        c.understood = "accepted a second time"
        c.detail = "the venue took a repeated client order id"

    async def c_listen_key(self, c: Check) -> None:
        key = self.venue._listen_key
        if key is None:
            c.detail = "no listen key"
            return
        await self.venue._call("PUT", LISTEN_KEY, {"listenKey": key})
        c.answered = shape(self.seen.last("PUT", LISTEN_KEY))
        c.understood = "refreshed"
        c.passed = True

    async def c_flat(self, c: Check) -> None:
        """Cancel whatever we left, close what we opened, and check both on REST."""
        open_now = await self.venue.open_orders()
        ended = {
            e.client_order_id
            for e in self.events
            if e.kind in (EventKind.CANCEL_ACK, EventKind.REJECT)
            or (
                e.kind is EventKind.FILL
                and e.cum_qty == getattr(self._placed.get(e.client_order_id), "quantity", None)
            )
        }
        # whatever we placed and did not see end, and whatever open orders show of ours
        ours = {r.client_order_id.lower() for r in open_now} & set(self._placed)
        ours |= {
            cid for cid, o in self._placed.items() if o.limit_price is not None and cid not in ended
        }
        for cid in sorted(ours):
            with contextlib.suppress(VenueError):
                await self.venue.cancel(self._placed[cid])
        if self._opened > 0:
            with contextlib.suppress(VenueError):
                await self.venue.submit(
                    _order(
                        self._cid(),
                        self.symbol,
                        OrderSide.SELL,
                        self._opened,
                        None,
                        reduce_only=True,
                    )
                )
                self._opened = Decimal(0)
        await asyncio.sleep(0)
        left = [
            r for r in await self.venue.open_orders() if r.client_order_id.lower() in self._placed
        ]
        net = await self._net()
        c.answered = f"open orders {shape(self.seen.last('GET', f'{V2}/trade/openOrders'))}; positions {shape(self.seen.last('GET', f'{V2}/user/positions'))}"
        c.understood = (
            f"cancelled {len(ours)} left over; {len(left)} of ours open, "
            f"net position {net} (before the run {self._baseline})"
        )
        c.passed = not left and net == self._baseline
        if not c.passed:
            c.detail = (
                f"not flat: {len(left)} order(s) of ours open, net position {net} "
                f"(before the run {self._baseline})"
            )
