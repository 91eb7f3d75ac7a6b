"""Fixtures: a real loopback BingX emulator and a real BingxVenue talking to it over HTTP + WebSocket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal

import httpx
import pytest

from dita.kernel.model import (
    EventKind,
    Order,
    OrderPurpose,
    OrderSide,
    OrderStatus,
    OrderType,
    VenueEvent,
)
from dita.venues.bingx import BingxConfig, BingxVenue, Credentials, Endpoints, PositionMode
from dita.venues.bingx_emulator import BingxEmulator, Mode
from tests import loopback
from tests.idle_clock import IdleClock, driving

API_KEY = "test-key-0123456789abcdef"
API_SECRET = "test-secret-ZYXWVUTSRQ-9876543210-do-not-log"


def make_order(
    cid: str,
    side: OrderSide = OrderSide.BUY,
    qty: str = "0.01",
    price: str | None = "59000",
    *,
    asset: str = "BTC-USDT",
    reduce_only: bool = False,
) -> Order:
    return Order(
        client_order_id=cid,
        venue_order_id="",
        slot_id=0,
        trade_id="t1",
        asset=asset,
        side=side,
        order_type=OrderType.LIMIT if price is not None else OrderType.MARKET,
        quantity=Decimal(qty),
        limit_price=Decimal(price) if price is not None else None,
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


@dataclass
class Session:
    emu: BingxEmulator
    venue: BingxVenue
    client: httpx.AsyncClient
    clock: IdleClock
    sleeps: list[float] = field(default_factory=list)
    _events: AsyncIterator[VenueEvent] | None = None

    async def next_event(self, timeout: float = 3.0) -> VenueEvent:
        if self._events is None:
            self._events = self.venue.events()
        return await asyncio.wait_for(anext(self._events), timeout)

    async def next_events(self, n: int, timeout: float = 3.0) -> list[VenueEvent]:
        return [await self.next_event(timeout) for _ in range(n)]

    async def expect(self, *kinds: EventKind) -> list[VenueEvent]:
        events = await self.next_events(len(kinds))
        assert [e.kind for e in events] == list(kinds), events
        return events


SessionFactory = Callable[..., "asyncio.Future[Session]"]


@pytest.fixture
async def open_session() -> AsyncIterator[Callable[..., object]]:
    """Factory: ``await open_session(mode=..., **config)`` -> a started Session; all closed at the end.

    The emulator and the adapter share one ``IdleClock``: every wait of either (pings,
    key expiry, rate-limit spacing, backoff) is on it, and it moves only when the event
    loop has nothing else to do, so no test waits in real time."""
    opened: list[Session] = []
    clock = IdleClock()

    async def factory(
        mode: Mode = Mode.ONE_WAY,
        venue_mode: PositionMode | None = None,
        secret: str = API_SECRET,
        emulator_kwargs: dict[str, object] | None = None,
        **config: object,
    ) -> Session:
        kwargs: dict[str, object] = {"clock": clock.now_ms, "sleep": clock.sleep}
        kwargs.update(emulator_kwargs or {})
        emu = BingxEmulator(API_KEY, API_SECRET, mode=mode, **kwargs)  # type: ignore[arg-type]
        await emu.start()
        client = loopback.async_client(timeout=httpx.Timeout(5.0, connect=2.0))
        sleeps: list[float] = []

        async def sleep(seconds: float) -> None:
            sleeps.append(seconds)
            await clock.sleep(seconds)

        pmode = venue_mode or (PositionMode.HEDGE if mode is Mode.HEDGE else PositionMode.ONE_WAY)
        cfg = BingxConfig(
            endpoints=Endpoints.loopback(emu.port),
            position_mode=pmode,
            rate_limit_backoff_s=0.01,
            **config,  # type: ignore[arg-type]
        )
        venue = BingxVenue(
            client, Credentials(API_KEY, secret), cfg, clock=clock.now_ms, sleep=sleep
        )
        session = Session(emu, venue, client, clock, sleeps)
        opened.append(session)
        await venue.start()
        return session

    with driving(clock):
        yield factory
        for s in opened:
            await s.venue.close()
            await s.client.aclose()
            await s.emu.close()


@pytest.fixture
async def session(open_session: Callable[..., object]) -> Session:
    """A one-way session on the emulator."""
    s = await open_session()  # type: ignore[misc]
    assert isinstance(s, Session)
    return s
