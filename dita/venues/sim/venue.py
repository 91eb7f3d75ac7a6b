"""``SimVenue``: the simulated matching engine behind the async ``Venue`` protocol.

The venue has no clock of its own: the market data it is fed (``on_bar``,
``on_trade``) and explicit ``advance`` calls move time, and a submit or cancel
is stamped with the engine's current time. Events go to one bounded
``asyncio.Queue``; when it is full, feeding the market waits for the consumer
(backpressure, never a dropped fill). ``events()`` ends after ``close()``.

Lifecycle: NEW --start()--> RUNNING --close()--> CLOSED. Submitting or
cancelling outside RUNNING raises ``NotSent`` (nothing reached the engine).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from enum import StrEnum
from typing import TYPE_CHECKING

from dita.kernel.model import Order, VenueEvent
from dita.marketdata.model import Bar, Trade
from dita.venues.base import (
    BalanceReport,
    NotSent,
    OrderReport,
    PositionReport,
    StreamResumed,
    Venue,
)
from dita.venues.sim.exchange import DEFAULT_ACCOUNT, SimExchange


class _Lifecycle(StrEnum):
    NEW = "NEW"
    RUNNING = "RUNNING"
    CLOSED = "CLOSED"


_END = object()


class SimVenue:
    """One account of a ``SimExchange``, spoken to through the ``Venue`` protocol."""

    name = "sim"

    def __init__(
        self,
        exchange: SimExchange,
        *,
        account: str = DEFAULT_ACCOUNT,
        start_ts: int = 0,
        max_queued_events: int = 10_000,
    ) -> None:
        self.exchange = exchange
        self.account = account
        self._start_ts = start_ts
        self._queue: asyncio.Queue[VenueEvent | object] = asyncio.Queue(maxsize=max_queued_events)
        self._state = _Lifecycle.NEW

    @property
    def now(self) -> int:
        """The engine's clock, or ``start_ts`` before anything happened."""
        now = self.exchange.now
        return self._start_ts if now is None else now

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._state is not _Lifecycle.NEW:
            raise RuntimeError(f"start() not valid in {self._state}")
        self._state = _Lifecycle.RUNNING

    async def close(self) -> None:
        if self._state is _Lifecycle.CLOSED:
            return
        self._state = _Lifecycle.CLOSED
        await self._queue.put(_END)

    # ------------------------------------------------------------ commands

    async def submit(self, order: Order) -> None:
        self._require_running("submit", order)
        await self._publish(self.exchange.submit(order, self.now, self.account))

    async def cancel(self, order: Order) -> None:
        self._require_running("cancel", order)
        await self._publish(self.exchange.cancel(order, self.now, self.account))

    # ------------------------------------------------------------ queries

    async def query_order(self, order: Order) -> OrderReport | None:
        return self.exchange.order(order.client_order_id, self.account)

    async def open_orders(self) -> list[OrderReport]:
        return self.exchange.open_orders(self.account)

    async def positions(self) -> list[PositionReport]:
        return self.exchange.positions(self.account)

    async def balance(self) -> BalanceReport:
        return self.exchange.balance(self.account)

    async def resumptions(self) -> AsyncIterator[StreamResumed]:
        """An in-process stream never breaks."""
        return
        yield

    async def events(self) -> AsyncIterator[VenueEvent]:
        while True:
            item = await self._queue.get()
            if item is _END:
                # Let any other reader see the end as well.
                self._queue.put_nowait(_END)
                return
            assert isinstance(item, VenueEvent)
            yield item

    # ------------------------------------------------------------ the market

    async def on_bar(self, bar: Bar) -> list[VenueEvent]:
        """Feed one bar; returns (and queues) this account's events it caused."""
        return await self._publish(self.exchange.on_bar(bar))

    async def on_trade(self, trade: Trade) -> list[VenueEvent]:
        """Feed one public trade; returns (and queues) this account's events it caused."""
        return await self._publish(self.exchange.on_trade(trade))

    async def advance(self, now: int) -> list[VenueEvent]:
        """Let simulated time pass (latency, funding) without market data."""
        return await self._publish(self.exchange.advance(now))

    # ------------------------------------------------------------ internals

    def _require_running(self, what: str, order: Order) -> None:
        if self._state is not _Lifecycle.RUNNING:
            raise NotSent(
                f"sim venue is {self._state}: {what} of {order.client_order_id!r} not sent"
            )

    async def _publish(self, events: list[VenueEvent]) -> list[VenueEvent]:
        mine = [e for e in events if self.exchange.account_of(e) == self.account]
        for e in mine:
            await self._queue.put(e)
        return mine


if TYPE_CHECKING:

    def _speaks_the_venue_protocol(v: SimVenue) -> Venue:
        return v  # mypy proves SimVenue satisfies Venue
