"""The real Engine against an emulator that answers the way BingX is recorded to answer.

Issue 10's "done when": a place reply with numeric decimals, the ambiguous codes
on an order that was in fact placed (80012, 80001, 101400, 109400), and a local
clock 6 s fast. Each drives the real ``Engine`` (kernel, SQLite journal,
reconciliation watch) through the real ``BingxVenue`` over loopback HTTP and
WebSocket, and checks the kernel against the emulator's own account.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from dita.clock import LiveClock
from dita.engine import Engine, EngineSettings, EngineState
from dita.journal import RunMeta, SqliteJournal
from dita.kernel import Kernel
from dita.kernel.model import TradeStage
from dita.policy import NullPolicy
from dita.venues.bingx import BingxConfig, BingxVenue, Credentials, Endpoints
from dita.venues.bingx.clock import wall_clock_ms
from dita.venues.bingx.venue import ORDER
from dita.venues.bingx_emulator import BingxEmulator, HttpFault
from dita.venues.bingx_emulator.answers import AnswerProfile
from tests import loopback
from tests.engine.test_engine_bingx_scenarios import (
    CAPITAL,
    RECONCILE,
    START_PRICE,
    SYMBOL,
    Harness,
)
from tests.venues.bingx.conftest import API_KEY, API_SECRET

D = Decimal


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """``await start(answers=..., skew_ms=...)`` -> a running ``Harness``."""
    opened: list[tuple[Harness, httpx.AsyncClient]] = []

    async def factory(answers: AnswerProfile | None = None, skew_ms: int = 0) -> Harness:
        emu = BingxEmulator(API_KEY, API_SECRET, initial_balance=CAPITAL, answers=answers)
        await emu.start()
        await emu.set_price(SYMBOL, START_PRICE)
        client = loopback.async_client(timeout=httpx.Timeout(5.0, connect=2.0))
        sleeps: list[float] = []

        async def sleep(seconds: float) -> None:
            sleeps.append(seconds)
            await asyncio.sleep(seconds)

        cfg = BingxConfig(
            endpoints=Endpoints.loopback(emu.port),
            rate_limit_backoff_s=0.01,
            confirm_delay_s=0.01,
            rate_limits={},  # the emulator limits no rate; pacing is tested on its own
        )
        venue = BingxVenue(
            client,
            Credentials(API_KEY, API_SECRET),
            cfg,
            clock=lambda: wall_clock_ms() + skew_ms,  # the local clock, off by skew_ms
            sleep=sleep,
        )
        await venue.sync_clock()
        inst = (await venue.load_instruments())[SYMBOL]
        path = tmp_path / f"journal-{len(opened)}.sqlite"
        eng = Engine(
            kernel=Kernel(1, [inst], CAPITAL),
            venue=venue,
            policy=NullPolicy(),
            journal=SqliteJournal.open(path),
            clock=LiveClock(),
            meta=RunMeta(slots=1, instruments=(inst,), initial_capital=CAPITAL, venue="bingx"),
            settings=EngineSettings(reconcile=RECONCILE),
        )
        task = asyncio.create_task(eng.run(), name="engine")
        h = Harness(emu, venue, eng, path, task, sleeps)
        opened.append((h, client))
        await h.until(lambda: bool(eng.reconciliations), "the engine to start")
        return h

    yield factory
    for h, client in opened:
        if h.engine.state is EngineState.RUNNING:
            h.engine.stop()
        if not h.task.done():
            h.task.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await h.task
        if h.engine.pipeline.journal is not None:
            h.engine.pipeline.journal.close()
        await client.aclose()
        await h.emu.close()


async def test_numeric_decimals_in_the_place_reply_keep_the_engine_trading(
    start: Callable[..., Any],
) -> None:
    # before: PlacedOrder typed price/quantity as strings, submit raised WireError after
    # the order was live, and Engine._send let it end the run
    h: Harness = await start(AnswerProfile(place_decimals="number"))
    await h.enter("0.01", limit="59000")
    await h.until(h.entry_acked, "the entry's ack")
    await h.emu.trade(SYMBOL, D("59000"), D("1"))
    await h.until(lambda: h.stage is TradeStage.POSITION_OPEN, "the fill")
    assert h.size == D("0.01")
    await h.emu.set_price(SYMBOL, D("59500.0"))
    await h.exit(D("59500"))
    await h.until(lambda: h.size == D("0.005") and not h.kernel.live_orders(), "the first leg")
    await h.exit(D("59500"))
    await h.until(lambda: h.stage in (TradeStage.IDLE, TradeStage.CLOSED), "the second leg")
    assert h.engine.state is EngineState.RUNNING
    assert h.engine.unknown_outcomes == []
    assert h.engine.stats.trades == 1 and h.engine.stats.rejects == 0
    assert h.kernel.account.realized_pnl == D("0.01") * D("500")
    await h.finish()


@pytest.mark.parametrize(
    ("code", "msg"),
    [
        (80012, "system busy, please try again later"),
        (80001, "network failed, please try again later"),
        (101400, "clientOrderID is duplicated"),
        (109400, "timestamp is invalid or skewed"),
    ],
)
async def test_ambiguous_code_on_a_placed_order_is_followed_not_rejected(
    start: Callable[..., Any], code: int, msg: str
) -> None:
    # before: each of these was a REJECT, then ACK and FILL came for the "rejected" order
    h: Harness = await start()
    h.emu.faults.append(HttpFault(ORDER, "POST", code=code, msg=msg, after_execute=True))
    h.emu.drop_stream_events(1)  # and its stream ACK is lost: only a query can tell
    order = await h.enter("0.01", limit="59000")
    await h.until(h.entry_acked, "the ack learned by asking")
    assert h.emu.request_count("POST", ORDER) == 1  # never a blind resend
    assert h.emu.request_count("GET", ORDER) >= 1  # the query by client order id
    await h.emu.trade(SYMBOL, D("59000"), D("1"))
    await h.until(lambda: h.stage is TradeStage.POSITION_OPEN, "the fill")
    assert h.size == D("0.01")
    assert h.emu.exchange.order_count() == 1
    assert h.engine.stats.rejects == 0 and h.engine.stats.orders == 1
    assert h.engine.stats.fills == 1
    assert h.kernel.slot(0).active_entry_order is None or (
        h.kernel.slot(0).active_entry_order.client_order_id == order.client_order_id
    )
    await h.finish()


async def test_a_code_that_really_refused_the_order_is_a_reject_after_the_venue_confirms(
    start: Callable[..., Any],
) -> None:
    # 80012 without the order existing ("margin is not enough"): REJECT, exactly once
    h: Harness = await start()
    h.emu.error_next(ORDER, 80012, "margin is not enough", method="POST")
    await h.enter("0.01", limit="59000")
    await h.until(lambda: h.engine.stats.rejects == 1, "the reject")
    assert h.emu.request_count("GET", ORDER) >= 1  # confirmed by asking first
    assert h.stage in (TradeStage.IDLE, TradeStage.CLOSED)
    assert h.emu.exchange.order_count() == 0
    await h.finish()


async def test_a_local_clock_six_seconds_fast_still_trades(start: Callable[..., Any]) -> None:
    h: Harness = await start(skew_ms=6000)
    offset = h.venue.server_clock.offset_ms
    assert -6500 < offset < -5500, offset  # measured against the venue's server time
    await h.enter("0.01")
    await h.until(lambda: h.stage is TradeStage.POSITION_OPEN, "the MARKET entry's fill")
    assert h.size == D("0.01")
    assert h.engine.stats.rejects == 0
    # and without the correction the same clock is refused: forget the offset, the next
    # signed call gets 100421, measures again and goes through
    h.venue.server_clock.offset_ms = 0
    measured = h.venue.server_clock.measured
    await h.venue.open_orders()
    # (at least once: a call of the engine's in flight at the same time may measure too)
    assert h.venue.server_clock.measured >= measured + 1
    assert -6500 < h.venue.server_clock.offset_ms < -5500
    await h.finish()


async def test_an_unreadable_reply_to_a_placed_order_is_outcome_unknown_not_the_end(
    start: Callable[..., Any],
) -> None:
    # HTTP 200 with a body that is not BingX JSON, after the order was placed: the engine
    # keeps running, reconciliation finds the order by its client order id, the fill lands
    h: Harness = await start()
    h.emu.faults.append(HttpFault(ORDER, "POST", status=200, after_execute=True))
    h.emu.drop_stream_events(1)
    await h.enter("0.01", limit="59000")
    await h.until(lambda: len(h.engine.unknown_outcomes) == 1, "the outcome-unknown submit")
    await h.until(h.entry_acked, "the ack recovered by reconciliation")
    await h.emu.trade(SYMBOL, D("59000"), D("1"))
    await h.until(lambda: h.stage is TradeStage.POSITION_OPEN, "the fill")
    assert h.engine.state is EngineState.RUNNING
    assert h.emu.request_count("POST", ORDER) == 1 and h.emu.exchange.order_count() == 1
    assert h.engine.stats.rejects == 0
    await h.finish()


async def test_start_does_not_ask_for_the_contracts_the_caller_already_loaded(
    start: Callable[..., Any],
) -> None:
    # the factory loads the instruments to build the kernel, then the engine starts the
    # venue: one contracts request, not two (the second waited out BingX's 1/s limit)
    h = await start()
    assert h.emu.request_count("GET", "/openApi/swap/v2/quote/contracts") == 1
