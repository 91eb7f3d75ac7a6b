"""The venue contract: what every ``Venue`` (sim, BingX adapter over its emulator, ...) must do.

Use it by subclassing ``VenueContract`` in a test module and providing a
``harness`` fixture that yields a fresh, started ``VenueHarness``::

    class TestSimVenueContract(VenueContract):
        @pytest.fixture
        async def harness(self) -> AsyncIterator[VenueHarness]:
            h = await SimHarness.create()
            yield h
            await h.venue.close()

The harness interface is deliberately small:

* ``venue``: the ``Venue`` under test, already started, with an account funded
  well beyond 50 x ``instrument.min_notional`` at ``price`` (leverage >= 1),
  no orders and no position.
* ``instrument``: the instrument traded. Its ``min_quantity`` must be larger
  than its ``step_size`` (the below-minimum test needs a quantity in between).
* ``price``: a price on the tick grid, well above 10 ticks, where the market
  last traded when the test starts (the venue knows it: MARKET orders can be
  priced).
* ``await trade(symbol, price, volume)``: a public trade prints at ``price``
  for ``volume``. The venue must treat it like the real market would: a
  working buy LIMIT at or above ``price`` (sell at or below) fills, at its
  limit price, up to ``volume`` in total across orders (no participation
  haircut); a working MARKET order fills completely at ``price``; the print
  becomes the last price. Before it returns, every event the print causes
  must be on its way to ``venue.events()``.

Every event caused by ``submit``/``cancel`` must also reach ``events()``
without further market activity (the sim harness uses zero latency; a
loopback emulator answers on its own). Tests wait at most ``TIMEOUT`` seconds
for an event, so a venue that stays silent fails instead of hanging.

Decisions this contract pins down (they matter to the kernel):

* ``cum_qty`` is cumulative and authoritative; ``last_qty`` of the fills of
  one order sum to it; a cancel acknowledges with ``cum_qty`` = what filled.
* A cancel that reaches the venue after the order filled is answered with
  CANCEL_REJECT (not an exception).
* A duplicate client order id is refused by raising a ``VenueError`` that is
  neither ``NotSent`` nor ``OutcomeUnknown`` (the venue has the order; a
  retry cannot help), and emits no event: in particular no REJECT that the
  kernel could take for a reject of the live original.
* Rejects (below minimum quantity, reduce-only that would increase a
  position) are REJECT events, not exceptions; ``query_order`` then answers
  ``None`` or a REJECTED report.
"""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal
from typing import Protocol

import pytest

from dita.kernel.model import (
    EventKind,
    Instrument,
    Order,
    OrderPurpose,
    OrderSide,
    OrderStatus,
    OrderType,
    VenueEvent,
)
from dita.venues.base import NotSent, OutcomeUnknown, Venue, VenueError

TIMEOUT = 5.0


class VenueHarness(Protocol):
    venue: Venue
    instrument: Instrument
    price: Decimal

    async def trade(self, symbol: str, price: Decimal, volume: Decimal) -> None: ...


_cid_counter = itertools.count(1)


def new_cid(tag: str) -> str:
    """A fresh client order id in the kernel's format (lower-case, '-', <= 40 chars)."""
    return f"ct-{tag}-{next(_cid_counter)}"


def make_order(
    inst: Instrument,
    side: OrderSide,
    qty: Decimal,
    *,
    price: Decimal | None = None,
    reduce_only: bool = False,
    cid: str | None = None,
) -> Order:
    return Order(
        client_order_id=cid or new_cid("x" if reduce_only else "e"),
        venue_order_id="",
        slot_id=0,
        trade_id="contract",
        asset=inst.symbol,
        side=side,
        order_type=OrderType.MARKET if price is None else OrderType.LIMIT,
        quantity=qty,
        limit_price=price,
        reduce_only=reduce_only,
        purpose=OrderPurpose.EXIT if reduce_only else OrderPurpose.ENTRY,
        status=OrderStatus.REQUESTED,
        filled_qty=Decimal(0),
        filled_cost=Decimal(0),
        fees=Decimal(0),
        acked=False,
        first_leg=-1,
        last_leg=-1,
    )


class EventReader:
    """Reads a venue's event stream, skipping account events (FUNDING)."""

    def __init__(self, venue: Venue) -> None:
        self._it = aiter(venue.events())

    async def next(self) -> VenueEvent:
        while True:
            event = await asyncio.wait_for(anext(self._it), TIMEOUT)
            if event.kind is not EventKind.FUNDING:
                return event

    async def next_for(self, cid: str) -> VenueEvent:
        """The next event about order ``cid`` (events of other orders are skipped)."""
        while True:
            event = await self.next()
            if event.client_order_id == cid:
                return event

    async def expect(self, cid: str, *kinds: EventKind) -> list[VenueEvent]:
        """The next events of ``cid`` must be exactly ``kinds``, in order."""
        got = [await self.next_for(cid) for _ in kinds]
        assert [e.kind for e in got] == list(kinds), got
        return got


class VenueContract:
    """Every test here must pass against every venue. Subclasses provide ``harness``."""

    @pytest.fixture
    def reader(self, harness: VenueHarness) -> EventReader:
        return EventReader(harness.venue)

    def _below(self, h: VenueHarness, ticks: int) -> Decimal:
        return h.price - h.instrument.tick_size * ticks

    def _qty(self, h: VenueHarness, multiple: int) -> Decimal:
        """A quantity of ``multiple`` x max(min quantity, min notional / price), on the step grid."""
        inst = h.instrument
        base = max(inst.min_quantity, inst.min_notional / h.price)
        steps = -(-base // inst.step_size)  # ceil
        return steps * inst.step_size * multiple

    async def _open_long(self, h: VenueHarness, reader: EventReader, qty: Decimal) -> None:
        order = make_order(h.instrument, OrderSide.BUY, qty)
        await h.venue.submit(order)
        await reader.expect(order.client_order_id, EventKind.ACK)
        await h.trade(h.instrument.symbol, h.price, qty * 10)
        (fill,) = await reader.expect(order.client_order_id, EventKind.FILL)
        assert fill.cum_qty == qty

    # ------------------------------------------------------------------ tests

    async def test_submit_limit_is_acked_and_working(
        self, harness: VenueHarness, reader: EventReader
    ) -> None:
        h = harness
        order = make_order(h.instrument, OrderSide.BUY, self._qty(h, 2), price=self._below(h, 10))
        await h.venue.submit(order)
        (ack,) = await reader.expect(order.client_order_id, EventKind.ACK)
        assert ack.venue_order_id
        assert not ack.cum_qty
        report = await h.venue.query_order(order)
        assert report is not None
        assert report.status is OrderStatus.WORKING
        assert report.cum_qty == 0
        assert report.venue_order_id == ack.venue_order_id
        assert [r.client_order_id for r in await h.venue.open_orders()] == [order.client_order_id]

    async def test_partial_fill_then_fill_cum_qty_monotone_and_sums(
        self, harness: VenueHarness, reader: EventReader
    ) -> None:
        h = harness
        qty = self._qty(h, 5)
        part = self._qty(h, 2)
        limit = self._below(h, 5)
        order = make_order(h.instrument, OrderSide.BUY, qty, price=limit)
        await h.venue.submit(order)
        await reader.expect(order.client_order_id, EventKind.ACK)
        await h.trade(h.instrument.symbol, limit, part)
        (p,) = await reader.expect(order.client_order_id, EventKind.PARTIAL_FILL)
        assert p.cum_qty == part
        assert p.last_qty == part
        assert p.last_price == limit
        await h.trade(h.instrument.symbol, limit, qty * 3)
        (f,) = await reader.expect(order.client_order_id, EventKind.FILL)
        assert p.cum_qty is not None and f.cum_qty is not None
        assert f.cum_qty > p.cum_qty
        assert f.cum_qty == qty
        assert (p.last_qty or 0) + (f.last_qty or 0) == f.cum_qty
        assert p.event_id != f.event_id
        report = await h.venue.query_order(order)
        assert report is not None
        assert (report.status, report.cum_qty, report.avg_price) == (OrderStatus.FILLED, qty, limit)
        assert await h.venue.open_orders() == []
        [pos] = await h.venue.positions()
        assert (pos.asset, pos.quantity, pos.entry_price) == (h.instrument.symbol, qty, limit)

    async def test_cancel_resting_order_is_acked(
        self, harness: VenueHarness, reader: EventReader
    ) -> None:
        h = harness
        order = make_order(h.instrument, OrderSide.BUY, self._qty(h, 1), price=self._below(h, 20))
        await h.venue.submit(order)
        await reader.expect(order.client_order_id, EventKind.ACK)
        await h.venue.cancel(order)
        (c,) = await reader.expect(order.client_order_id, EventKind.CANCEL_ACK)
        assert c.cum_qty == 0
        report = await h.venue.query_order(order)
        assert report is not None
        assert report.status is OrderStatus.CANCELED
        assert await h.venue.open_orders() == []

    async def test_cancel_of_partly_filled_order_acks_with_filled_qty(
        self, harness: VenueHarness, reader: EventReader
    ) -> None:
        h = harness
        qty, part = self._qty(h, 4), self._qty(h, 1)
        limit = self._below(h, 3)
        order = make_order(h.instrument, OrderSide.BUY, qty, price=limit)
        await h.venue.submit(order)
        await reader.expect(order.client_order_id, EventKind.ACK)
        await h.trade(h.instrument.symbol, limit, part)
        await reader.expect(order.client_order_id, EventKind.PARTIAL_FILL)
        await h.venue.cancel(order)
        (c,) = await reader.expect(order.client_order_id, EventKind.CANCEL_ACK)
        assert c.cum_qty == part
        [pos] = await h.venue.positions()
        assert pos.quantity == part

    async def test_cancel_after_fill_is_rejected(
        self, harness: VenueHarness, reader: EventReader
    ) -> None:
        h = harness
        qty = self._qty(h, 1)
        limit = self._below(h, 2)
        order = make_order(h.instrument, OrderSide.BUY, qty, price=limit)
        await h.venue.submit(order)
        await reader.expect(order.client_order_id, EventKind.ACK)
        await h.trade(h.instrument.symbol, limit, qty * 2)
        await reader.expect(order.client_order_id, EventKind.FILL)
        # The cancel was decided before we saw the fill; it reaches the venue after it.
        await h.venue.cancel(order)
        (r,) = await reader.expect(order.client_order_id, EventKind.CANCEL_REJECT)
        assert r.cum_qty in (None, qty)
        report = await h.venue.query_order(order)
        assert report is not None
        assert (report.status, report.cum_qty) == (OrderStatus.FILLED, qty)

    async def test_market_order_fills_at_next_print(
        self, harness: VenueHarness, reader: EventReader
    ) -> None:
        h = harness
        qty = self._qty(h, 1)
        order = make_order(h.instrument, OrderSide.BUY, qty)
        await h.venue.submit(order)
        await reader.expect(order.client_order_id, EventKind.ACK)
        print_price = h.price + h.instrument.tick_size
        await h.trade(h.instrument.symbol, print_price, qty * 10)
        (f,) = await reader.expect(order.client_order_id, EventKind.FILL)
        assert (f.last_qty, f.cum_qty, f.last_price) == (qty, qty, print_price)
        assert f.fee >= 0

    async def test_reject_below_min_quantity(
        self, harness: VenueHarness, reader: EventReader
    ) -> None:
        h = harness
        inst = h.instrument
        assert inst.min_quantity > inst.step_size, (
            "harness instrument must have min_quantity > step_size"
        )
        # Priced high enough that only the quantity is wrong, not the notional.
        order = make_order(
            inst, OrderSide.BUY, inst.min_quantity - inst.step_size, price=self._below(h, 1)
        )
        await h.venue.submit(order)
        (r,) = await reader.expect(order.client_order_id, EventKind.REJECT)
        assert r.reason
        report = await h.venue.query_order(order)
        assert report is None or report.status is OrderStatus.REJECTED
        assert await h.venue.open_orders() == []

    async def test_reject_reduce_only_without_position(
        self, harness: VenueHarness, reader: EventReader
    ) -> None:
        h = harness
        order = make_order(h.instrument, OrderSide.SELL, self._qty(h, 1), reduce_only=True)
        await h.venue.submit(order)
        await reader.expect(order.client_order_id, EventKind.REJECT)
        assert await h.venue.positions() == []

    async def test_reject_reduce_only_that_would_increase_position(
        self, harness: VenueHarness, reader: EventReader
    ) -> None:
        h = harness
        qty = self._qty(h, 2)
        await self._open_long(h, reader, qty)
        order = make_order(h.instrument, OrderSide.BUY, self._qty(h, 1), reduce_only=True)
        await h.venue.submit(order)
        await reader.expect(order.client_order_id, EventKind.REJECT)
        await h.trade(h.instrument.symbol, h.price, qty * 10)
        [pos] = await h.venue.positions()
        assert pos.quantity == qty

    async def test_reduce_only_exit_closes_position(
        self, harness: VenueHarness, reader: EventReader
    ) -> None:
        h = harness
        qty = self._qty(h, 2)
        await self._open_long(h, reader, qty)
        order = make_order(h.instrument, OrderSide.SELL, qty, reduce_only=True)
        await h.venue.submit(order)
        await reader.expect(order.client_order_id, EventKind.ACK)
        await h.trade(h.instrument.symbol, h.price, qty * 10)
        (f,) = await reader.expect(order.client_order_id, EventKind.FILL)
        assert f.cum_qty == qty
        assert await h.venue.positions() == []

    async def test_query_order_by_client_order_id(
        self, harness: VenueHarness, reader: EventReader
    ) -> None:
        h = harness
        order = make_order(
            h.instrument,
            OrderSide.SELL,
            self._qty(h, 3),
            price=h.price + h.instrument.tick_size * 7,
        )
        assert await h.venue.query_order(order) is None  # never sent
        await h.venue.submit(order)
        (ack,) = await reader.expect(order.client_order_id, EventKind.ACK)
        report = await h.venue.query_order(order)
        assert report is not None
        assert report.client_order_id == order.client_order_id
        assert report.venue_order_id == ack.venue_order_id
        assert (report.asset, report.side, report.order_type) == (
            order.asset,
            order.side,
            order.order_type,
        )
        assert (report.quantity, report.limit_price, report.reduce_only) == (
            order.quantity,
            order.limit_price,
            False,
        )
        assert report.status is OrderStatus.WORKING

    async def test_duplicate_client_order_id_is_refused(
        self, harness: VenueHarness, reader: EventReader
    ) -> None:
        h = harness
        order = make_order(h.instrument, OrderSide.BUY, self._qty(h, 1), price=self._below(h, 10))
        await h.venue.submit(order)
        await reader.expect(order.client_order_id, EventKind.ACK)
        again = make_order(
            h.instrument,
            OrderSide.BUY,
            self._qty(h, 2),
            price=self._below(h, 11),
            cid=order.client_order_id,
        )
        with pytest.raises(VenueError) as info:
            await h.venue.submit(again)
        assert not isinstance(info.value, NotSent | OutcomeUnknown)
        report = await h.venue.query_order(order)
        assert report is not None
        assert (report.status, report.quantity, report.limit_price) == (
            OrderStatus.WORKING,
            order.quantity,
            order.limit_price,
        )
        # No event about the duplicate: the next event of this id answers our cancel.
        await h.venue.cancel(order)
        await reader.expect(order.client_order_id, EventKind.CANCEL_ACK)
