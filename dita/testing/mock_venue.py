"""A scripted venue: a test double whose answers are written down in advance.

Each order gets a *script*, a list of steps played when the order is
submitted, and a *cancel script* played when a cancel for it arrives. Scripts
are chosen per order (by client order id), else per leg (``"exit:1"``), else
per purpose (``"entry"``/``"exit"``), else the default. So an entry can fill
fully while the exit fills 30% then 70% (flaw 7), and any race can be staged:

    MockVenue(instruments, scripts={
        "entry": [Ack(), Fill(Decimal("0.3")), Fill()],     # ack, 30%, the rest
        "exit": [Reject("reduce-only would increase")],
    }, cancel_scripts={"entry": [Fill(), CancelReject("filled")]})

Steps: ``Ack``, ``Fill(ratio=None, price=None)`` (ratio of the order quantity,
rounded down to the step; ``None`` = whatever remains), ``Reject``,
``Expire``, ``CancelAck``, ``CancelReject``, ``Duplicate`` (send the previous
event again, same event id) and ``Hold`` (stop here; the rest of the script
is played by ``release``). The core (``on_submit``/``on_cancel``) is
synchronous and deterministic; ``MockVenue`` also speaks the async ``Venue``
protocol for engine tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from dita.kernel.instruments import floor_to
from dita.kernel.model import EventKind, Instrument, Order, OrderStatus, VenueEvent
from dita.venues.base import BalanceReport, OrderReport, PositionReport, StreamResumed


@dataclass(frozen=True)
class Ack:
    pass


@dataclass(frozen=True)
class Fill:
    ratio: Decimal | None = None  # of the order quantity; None = the remainder
    price: Decimal | None = None  # None = limit price, else the venue's mark price
    fee_rate: Decimal = Decimal("0.0005")


@dataclass(frozen=True)
class Reject:
    reason: str = "rejected by script"


@dataclass(frozen=True)
class Expire:
    pass


@dataclass(frozen=True)
class CancelAck:
    pass


@dataclass(frozen=True)
class CancelReject:
    reason: str = "cancel rejected by script"


@dataclass(frozen=True)
class Duplicate:
    pass


@dataclass(frozen=True)
class Hold:
    pass


Step = Ack | Fill | Reject | Expire | CancelAck | CancelReject | Duplicate | Hold

DEFAULT_SCRIPT: tuple[Step, ...] = (Ack(), Fill())
DEFAULT_CANCEL_SCRIPT: tuple[Step, ...] = (CancelAck(),)


@dataclass
class _MockOrder:
    order: Order
    venue_order_id: str
    cum_qty: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    done: bool = False
    status: OrderStatus = OrderStatus.REQUESTED
    held: list[Step] = field(default_factory=list)
    last_event: VenueEvent | None = None


class MockVenue:
    """Scripted venue. See the module docstring for the script language."""

    name = "mock"

    def __init__(
        self,
        instruments: Iterable[Instrument],
        *,
        scripts: Mapping[str, Sequence[Step]] | None = None,
        cancel_scripts: Mapping[str, Sequence[Step]] | None = None,
        mark_prices: Mapping[str, Decimal] | None = None,
        ts: int = 0,
    ) -> None:
        self._instruments = {i.symbol: i for i in instruments}
        self._scripts = dict(scripts or {})
        self._cancel_scripts = dict(cancel_scripts or {})
        self._marks = dict(mark_prices or {})
        self._orders: dict[str, _MockOrder] = {}
        self._seq = 0
        self.ts = ts
        self.submitted: list[Order] = []
        self.cancels: list[Order] = []
        self._queue: asyncio.Queue[VenueEvent] | None = None

    # -------------------------------------------------------------- scripting

    def _script_for(
        self, order: Order, table: Mapping[str, Sequence[Step]], default: Sequence[Step]
    ) -> list[Step]:
        purpose = order.purpose.value.lower()
        for key in (order.client_order_id, f"{purpose}:{order.first_leg}", purpose):
            if key in table:
                return list(table[key])
        return list(default)

    def _event(self, mo: _MockOrder, kind: EventKind, **kw: object) -> VenueEvent:
        self._seq += 1
        self.ts += 1
        ev = VenueEvent(
            event_id=f"mock-{self._seq}",
            ts=self.ts,
            kind=kind,
            client_order_id=mo.order.client_order_id,
            venue_order_id=mo.venue_order_id,
            **kw,  # type: ignore[arg-type]
        )
        mo.last_event = ev
        return ev

    def _play(self, mo: _MockOrder, steps: list[Step]) -> list[VenueEvent]:
        out: list[VenueEvent] = []
        inst = self._instruments[mo.order.asset]
        while steps:
            step = steps.pop(0)
            match step:
                case Hold():
                    mo.held = steps
                    return out
                case Ack():
                    out.append(self._event(mo, EventKind.ACK))
                    if mo.status is OrderStatus.REQUESTED:
                        mo.status = OrderStatus.WORKING
                case Fill(ratio=ratio, price=price, fee_rate=fee_rate):
                    remaining = mo.order.quantity - mo.cum_qty
                    qty = (
                        remaining
                        if ratio is None
                        else floor_to(mo.order.quantity * ratio, inst.step_size)
                    )
                    qty = min(qty, remaining)
                    if qty <= 0:
                        continue
                    px = price or mo.order.limit_price or self._marks[mo.order.asset]
                    fee = (qty * px * fee_rate).quantize(Decimal("1e-8"))
                    mo.cum_qty += qty
                    mo.cost += qty * px
                    mo.fees += fee
                    full = mo.cum_qty == mo.order.quantity
                    if full:
                        mo.status = OrderStatus.FILLED
                        mo.done = True
                    out.append(
                        self._event(
                            mo,
                            EventKind.FILL if full else EventKind.PARTIAL_FILL,
                            last_qty=qty,
                            last_price=px,
                            cum_qty=mo.cum_qty,
                            fee=fee,
                        )
                    )
                case Reject(reason=reason):
                    mo.done = True
                    mo.status = OrderStatus.REJECTED
                    out.append(self._event(mo, EventKind.REJECT, reason=reason))
                case Expire():
                    mo.done = True
                    mo.status = OrderStatus.EXPIRED
                    out.append(self._event(mo, EventKind.EXPIRED, cum_qty=mo.cum_qty))
                case CancelAck():
                    mo.done = True
                    mo.status = OrderStatus.CANCELED
                    out.append(self._event(mo, EventKind.CANCEL_ACK, cum_qty=mo.cum_qty))
                case CancelReject(reason=reason):
                    out.append(self._event(mo, EventKind.CANCEL_REJECT, reason=reason))
                case Duplicate():
                    if mo.last_event is not None:
                        out.append(mo.last_event)
        mo.held = []
        return out

    def set_script(self, key: str, steps: Sequence[Step]) -> None:
        """Script the orders matching ``key`` (a client order id, ``"exit:1"``, ``"entry"``)."""
        self._scripts[key] = list(steps)

    def set_cancel_script(self, key: str, steps: Sequence[Step]) -> None:
        self._cancel_scripts[key] = list(steps)

    def set_mark(self, asset: str, price: Decimal) -> None:
        """The price MARKET orders (and fills without a price) execute at from now on."""
        self._marks[asset] = price

    # -------------------------------------------------------------- sync core

    def on_submit(self, order: Order) -> list[VenueEvent]:
        """Play the order's script; return the events it produces, in order."""
        self.submitted.append(order)
        if order.client_order_id in self._orders:
            mo = self._orders[order.client_order_id]
            return [self._event(mo, EventKind.REJECT, reason="duplicate client order id")]
        mo = _MockOrder(order=order, venue_order_id=f"{9000000000000000000 + len(self._orders)}")
        self._orders[order.client_order_id] = mo
        return self._play(mo, self._script_for(order, self._scripts, DEFAULT_SCRIPT))

    def on_cancel(self, order: Order) -> list[VenueEvent]:
        """Play the order's cancel script (a cancel for a finished order is rejected)."""
        self.cancels.append(order)
        mo = self._orders.get(order.client_order_id)
        if mo is None:
            return []
        if mo.done:
            return [self._event(mo, EventKind.CANCEL_REJECT, reason=f"order is {mo.status}")]
        mo.held = []
        return self._play(mo, self._script_for(order, self._cancel_scripts, DEFAULT_CANCEL_SCRIPT))

    def release(self, client_order_id: str) -> list[VenueEvent]:
        """Play the rest of a script that stopped at ``Hold``."""
        mo = self._orders[client_order_id]
        return self._play(mo, list(mo.held))

    def report(self, client_order_id: str) -> OrderReport | None:
        mo = self._orders.get(client_order_id)
        if mo is None:
            return None
        o = mo.order
        return OrderReport(
            client_order_id=o.client_order_id,
            venue_order_id=mo.venue_order_id,
            asset=o.asset,
            side=o.side,
            order_type=o.order_type,
            quantity=o.quantity,
            limit_price=o.limit_price,
            reduce_only=o.reduce_only,
            status=mo.status,
            cum_qty=mo.cum_qty,
            avg_price=mo.cost / mo.cum_qty if mo.cum_qty else None,
            fees=mo.fees,
            ts=self.ts,
            cum_quote=mo.cost if mo.cum_qty else None,
        )

    # -------------------------------------------------------------- async Venue protocol

    def _q(self) -> asyncio.Queue[VenueEvent]:
        if self._queue is None:
            self._queue = asyncio.Queue(maxsize=10_000)
        return self._queue

    async def start(self) -> None:
        self._q()

    async def close(self) -> None:
        return None

    async def submit(self, order: Order) -> None:
        for ev in self.on_submit(order):
            await self._q().put(ev)

    async def cancel(self, order: Order) -> None:
        for ev in self.on_cancel(order):
            await self._q().put(ev)

    async def query_order(self, order: Order) -> OrderReport | None:
        return self.report(order.client_order_id)

    async def open_orders(self) -> list[OrderReport]:
        out = []
        for cid, mo in self._orders.items():
            if not mo.done:
                rep = self.report(cid)
                assert rep is not None
                out.append(rep)
        return out

    async def positions(self) -> list[PositionReport]:
        return []

    async def balance(self) -> BalanceReport:
        raise NotImplementedError("the scripted venue keeps no account")

    async def resumptions(self) -> AsyncIterator[StreamResumed]:
        """The scripted stream never breaks."""
        return
        yield

    async def events(self) -> AsyncIterator[VenueEvent]:
        q = self._q()
        while True:
            yield await q.get()
