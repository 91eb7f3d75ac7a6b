"""SimVenue: the async Venue wrapper around the matching engine (lifecycle, queue, accounts, time)."""

from __future__ import annotations

import asyncio

import pytest

from dita.kernel.model import EventKind
from dita.marketdata.model import Trade
from dita.venues.base import NotSent, Venue
from dita.venues.sim import SimVenue
from tests.venues.contract import EventReader, make_order
from tests.venues.sim.helpers import BTC, BUY, MIN, SYM, T0, D, bar, make


async def started(venue: SimVenue) -> SimVenue:
    await venue.start()
    await venue.on_bar(bar(0, "100", "100", "100", "100"))
    return venue


def test_sim_venue_is_a_venue() -> None:
    assert isinstance(SimVenue(make()), Venue)


async def test_submit_before_start_and_after_close_is_not_sent() -> None:
    venue = SimVenue(make())
    order = make_order(BTC, BUY, D(1), price=D(99))
    with pytest.raises(NotSent, match="NEW"):
        await venue.submit(order)
    await venue.start()
    await venue.close()
    with pytest.raises(NotSent, match="CLOSED"):
        await venue.cancel(order)
    assert venue.exchange.order(order.client_order_id) is None


async def test_events_stream_in_order_and_ends_after_close() -> None:
    venue = await started(SimVenue(make(participation=D(1))))
    order = make_order(BTC, BUY, D(1), price=D(99))
    await venue.submit(order)
    await venue.on_bar(bar(1, "100", "100", "98", "99"))
    await venue.close()
    got = [(e.client_order_id, e.kind) async for e in venue.events()]
    assert got == [(order.client_order_id, EventKind.ACK), (order.client_order_id, EventKind.FILL)]


async def test_latency_is_simulated_time_moved_by_the_market_or_advance() -> None:
    venue = await started(SimVenue(make(latency_ms=300)))
    reader = EventReader(venue)
    order = make_order(BTC, BUY, D(1), price=D(99))
    await venue.submit(order)  # sent at T0 (the last bar's time)
    assert await venue.advance(T0 + 299) == []
    [ack] = await venue.advance(T0 + 300)
    assert ack.ts == T0 + 300
    assert (await reader.next()) == ack


async def test_each_venue_sees_only_its_own_accounts_events() -> None:
    x = make(accounts=("a", "b"), participation=D(1))
    va, vb = SimVenue(x, account="a"), SimVenue(x, account="b")
    await va.start()
    await vb.start()
    await va.on_bar(bar(0, "100", "100", "100", "100"))
    order = make_order(BTC, BUY, D(1), price=D(99))
    await va.submit(order)
    assert await vb.on_bar(bar(1, "100", "100", "98", "99")) == []
    assert await vb.query_order(order) is None
    report = await va.query_order(order)
    assert report is not None and report.cum_qty == 1
    assert len(await va.positions()) == 1 and await vb.positions() == []
    assert (await vb.balance()).wallet == D(100_000)


async def test_a_full_queue_holds_the_market_back_until_events_are_read() -> None:
    venue = await started(SimVenue(make(participation=D(1)), max_queued_events=2))
    a = make_order(BTC, BUY, D(1), price=D(99))
    b = make_order(BTC, BUY, D(1), price=D(98))
    await venue.submit(a)
    await venue.submit(b)  # queue now full: two ACKs
    feeding = asyncio.create_task(venue.on_trade(Trade(SYM, T0 + MIN, D(97), D(5))))
    await asyncio.sleep(0)
    assert not feeding.done()
    reader = EventReader(venue)
    kinds = [(await reader.next()).kind for _ in range(4)]
    assert kinds == [EventKind.ACK, EventKind.ACK, EventKind.FILL, EventKind.FILL]
    assert len(await feeding) == 2
