"""Protective orders end to end (issue 16): the real BingxVenue against the loopback
emulator over HTTP and WebSocket on 127.0.0.1. A stop that triggers and fills, followed
by its stream frame and, in BingX-swap-api-doc #36's reading, without one; a take-profit
cancelled by venue order id; a protective order found by query after a restart."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from dita.kernel.model import EventKind, Order, OrderSide, OrderStatus, OrderType
from dita.venues.base import OutcomeUnknown
from dita.venues.bingx.venue import OPEN_ORDERS, ORDER, BingxVenue
from dita.venues.bingx_emulator import Mode
from dita.venues.bingx_emulator.answers import AnswerProfile
from tests.venues.bingx.conftest import Session, make_order

D = Decimal
TAKER = D("0.0005")
SILENT = {"answers": AnswerProfile(protective_trigger_frames=False)}


def protective(
    cid: str,
    otype: OrderType = OrderType.STOP_MARKET,
    stop: str = "59000.0",
    qty: str = "0.01",
    *,
    close_position: bool = False,
) -> Order:
    base = make_order(cid, OrderSide.SELL, qty="0" if close_position else qty, price=None,
                      reduce_only=not close_position)  # fmt: skip
    return replace(base, order_type=otype, stop_price=D(stop), close_position=close_position)


async def open_long(s: Session, qty: str = "0.01") -> None:
    await s.venue.submit(make_order("dita-e-1", qty=qty, price=None))
    await s.expect(EventKind.ACK, EventKind.FILL)


def sent(s: Session, method: str, path: str) -> list[dict[str, Any]]:
    return [dict(r.params) for r in s.emu.requests if r.method == method and r.path == path]


async def test_a_stop_triggers_and_fills_followed_by_its_stream_frame(
    open_session: Any,
) -> None:
    s: Session = await open_session(protective_poll_s=None)
    await open_long(s)
    order = protective("dita-t1-sl-0")
    s.emu.stream_before_rest = True  # the NEW frame, naming no client id, beats the reply
    await s.venue.submit(order)
    s.emu.stream_before_rest = False
    (ack,) = await s.expect(EventKind.ACK)
    assert (ack.client_order_id, len(ack.venue_order_id)) == ("dita-t1-sl-0", 19)
    (placed,) = [p for p in sent(s, "POST", ORDER) if p.get("type") == "STOP_MARKET"]
    assert (placed["stopPrice"], placed["workingType"], placed["reduceOnly"]) == (
        "59000.0", "MARK_PRICE", "true"
    )  # fmt: skip
    assert "clientOrderId" not in placed

    await s.emu.set_price("BTC-USDT", D("59500.0"))  # not reached
    await s.emu.set_price("BTC-USDT", D("58990.0"))  # gapped past: fills at the print
    (fill,) = await s.expect(EventKind.FILL)
    assert (fill.client_order_id, fill.venue_order_id) == ("dita-t1-sl-0", ack.venue_order_id)
    assert (fill.last_qty, fill.last_price, fill.cum_qty) == (D("0.01"), D("58990.0"), D("0.01"))
    assert fill.fee == D("0.01") * D("58990.0") * TAKER
    assert await s.venue.positions() == []
    assert await s.venue.open_orders() == []


async def test_a_stop_whose_trigger_pushes_no_frame_is_asked_about_when_its_position_moves(
    open_session: Any,
) -> None:
    s: Session = await open_session(protective_poll_s=None, emulator_kwargs=SILENT)
    await open_long(s)
    await s.venue.submit(protective("dita-t1-sl-0"))
    await s.expect(EventKind.ACK)
    # no ORDER_TRADE_UPDATE (issue #36's reading); the ACCOUNT_UPDATE that still comes
    # shows the position moved, and the adapter asks about the stop at once
    await s.emu.set_price("BTC-USDT", D("58000.0"))
    (fill,) = await s.expect(EventKind.FILL)
    assert (fill.client_order_id, fill.last_qty, fill.last_price) == (
        "dita-t1-sl-0", D("0.01"), D("58000.0")
    )  # fmt: skip


async def test_a_stop_whose_trigger_pushes_nothing_at_all_is_found_by_the_poll(
    open_session: Any,
) -> None:
    s: Session = await open_session(protective_poll_s=None, emulator_kwargs=SILENT)
    await open_long(s)
    order = protective("dita-t1-sl-0")
    await s.venue.submit(order)
    (ack,) = await s.expect(EventKind.ACK)
    (listed,) = await s.venue.open_orders()  # named although BingX's row has no client id
    assert (listed.client_order_id, listed.order_type, listed.stop_price) == (
        "dita-t1-sl-0", OrderType.STOP_MARKET, D("59000.0")
    )  # fmt: skip

    # while it rests, a poll is one openOrders call, nothing on the order endpoint
    before = (len(sent(s, "GET", ORDER)), len(sent(s, "GET", OPEN_ORDERS)))
    assert await s.venue.poll_protective() == 1 and s.venue._queue.empty()
    assert (len(sent(s, "GET", ORDER)), len(sent(s, "GET", OPEN_ORDERS))) == (
        before[0], before[1] + 1
    )  # fmt: skip

    s.emu.drop_stream_events(1)  # the ACCOUNT_UPDATE is lost too
    await s.emu.set_price("BTC-USDT", D("58000.0"))
    assert await s.venue.positions() == []  # it filled on the venue, and nothing was pushed
    assert s.venue._queue.empty()
    assert await s.venue.poll_protective() == 1
    (fill,) = await s.expect(EventKind.FILL)
    assert (fill.client_order_id, fill.last_qty, fill.last_price) == (
        "dita-t1-sl-0", D("0.01"), D("58000.0")
    )  # fmt: skip
    assert fill.fee == D("0.01") * D("58000.0") * TAKER
    assert await s.venue.poll_protective() == 0  # finished: no longer asked about
    queries = sent(s, "GET", ORDER)
    assert queries and all(q.get("orderId") == ack.venue_order_id for q in queries)
    assert not any("clientOrderId" in q for q in queries)


async def test_the_poll_runs_by_itself_while_a_protective_order_is_followed(
    open_session: Any,
) -> None:
    s: Session = await open_session(protective_poll_s=0.01, emulator_kwargs=SILENT)
    await open_long(s)
    await s.venue.submit(protective("dita-t1-sl-0"))
    await s.expect(EventKind.ACK)
    s.emu.drop_stream_events(1)
    await s.emu.set_price("BTC-USDT", D("58000.0"))
    (fill,) = await s.expect(EventKind.FILL)
    assert fill.client_order_id == "dita-t1-sl-0"
    assert 0.01 in s.sleeps


async def test_without_frame_or_poll_the_reconciliation_query_finds_the_fill(
    open_session: Any,
) -> None:
    s: Session = await open_session(protective_poll_s=None, emulator_kwargs=SILENT)
    await open_long(s)
    order = protective("dita-t1-sl-0")
    await s.venue.submit(order)
    (ack,) = await s.expect(EventKind.ACK)
    s.emu.drop_stream_events(1)
    await s.emu.set_price("BTC-USDT", D("58500.0"))
    # what the engine's watcher does for a working order silent too long
    report = await s.venue.query_order(replace(order, venue_order_id=ack.venue_order_id))
    assert report is not None
    assert (report.client_order_id, report.status, report.cum_qty, report.stop_price) == (
        "dita-t1-sl-0", OrderStatus.FILLED, D("0.01"), D("59000.0")
    )  # fmt: skip
    (fill,) = await s.expect(EventKind.FILL)
    assert fill.last_price == D("58500.0")


async def test_a_take_profit_is_cancelled_by_venue_order_id(open_session: Any) -> None:
    s: Session = await open_session(protective_poll_s=None)
    await open_long(s)
    order = protective("dita-t1-tp-0", OrderType.TAKE_PROFIT_MARKET, "61000.0",
                       close_position=True)  # fmt: skip
    await s.venue.submit(order)
    (ack,) = await s.expect(EventKind.ACK)
    (placed,) = [p for p in sent(s, "POST", ORDER) if p.get("type") == "TAKE_PROFIT_MARKET"]
    assert placed["closePosition"] == "true"
    assert "quantity" not in placed and "reduceOnly" not in placed

    await s.venue.cancel(order)  # the kernel's Order may not carry the venue id yet
    (cxl,) = await s.expect(EventKind.CANCEL_ACK)
    assert (cxl.client_order_id, cxl.venue_order_id) == ("dita-t1-tp-0", ack.venue_order_id)
    (deleted,) = sent(s, "DELETE", ORDER)
    assert deleted["orderId"] == ack.venue_order_id and "clientOrderId" not in deleted
    await s.emu.set_price("BTC-USDT", D("61500.0"))  # cancelled: nothing triggers
    (pos,) = await s.venue.positions()
    assert pos.quantity == D("0.01")


async def test_a_protective_order_is_found_by_query_after_a_restart(
    open_session: Any,
) -> None:
    first: Session = await open_session(protective_poll_s=None, emulator_kwargs=SILENT)
    await open_long(first)
    order = protective("dita-t1-sl-0")
    await first.venue.submit(order)
    (ack,) = await first.expect(EventKind.ACK)
    await first.venue.close()  # dita dies; the stop rests on the venue

    # a new process on the same account: the journal knows the venue order id
    second = BingxVenue(first.client, first.venue._creds, first.venue.config,
                        sleep=first.venue._sleep)  # fmt: skip
    await second.start()
    try:
        # journaled before its ACK: no venue id; found among the open orders by what it is
        lost_id = await second.query_order(replace(order, venue_order_id=""))
        assert lost_id is not None and lost_id.venue_order_id == ack.venue_order_id
        assert sent(first, "GET", OPEN_ORDERS)[-1]["symbol"] == "BTC-USDT"
        journaled = replace(order, venue_order_id=ack.venue_order_id, acked=True)
        report = await second.query_order(journaled)
        assert report is not None
        assert (report.client_order_id, report.status, report.stop_price, report.quantity) == (
            "dita-t1-sl-0", OrderStatus.WORKING, D("59000.0"), D("0.01")
        )  # fmt: skip
        assert sent(first, "GET", ORDER)[-1]["orderId"] == ack.venue_order_id

        first.emu.drop_stream_events(1)
        await first.emu.set_price("BTC-USDT", D("58800.0"))
        assert await second.poll_protective() == 1  # followed again after the restart
        fill = await anext(second.events())
        assert (fill.kind, fill.client_order_id, fill.last_price) == (
            EventKind.FILL, "dita-t1-sl-0", D("58800.0")
        )  # fmt: skip
    finally:
        await second.close()


async def test_a_refused_protective_order_is_a_reject_naming_the_reason(
    open_session: Any,
) -> None:
    s: Session = await open_session(protective_poll_s=None)
    await open_long(s)
    await s.venue.submit(protective("dita-t1-sl-0", stop="60100.0"))  # above the price
    (rej,) = await s.expect(EventKind.REJECT)
    assert "110411" in rej.reason
    await s.venue.submit(protective("dita-t1-sl-1", stop="59000.05"))  # off the tick
    (rej,) = await s.expect(EventKind.REJECT)
    assert "stop_price 59000.05 is not a multiple of 0.1" in rej.reason
    assert not [p for p in sent(s, "POST", ORDER) if p.get("stopPrice") == "59000.05"]


async def test_a_place_of_unknown_outcome_is_found_by_what_it_is_and_followed(
    open_session: Any,
) -> None:
    s: Session = await open_session(protective_poll_s=None)
    await open_long(s)
    order = protective("dita-t1-sl-0")
    s.emu.fail_next(ORDER, status=504, method="POST", after_execute=True)  # placed, then 504
    with pytest.raises(OutcomeUnknown):
        await s.venue.submit(order)
    # the engine reconciles an outcome-unknown submit by asking for the order
    report = await s.venue.query_order(order)
    assert report is not None and report.status is OrderStatus.WORKING
    await s.emu.set_price("BTC-USDT", D("58900.0"))
    # BingX's NEW frame named no order: if it was read before the query claimed the
    # order, its ACK went to "#<venue id>", which is no order of the kernel's
    ours = []
    while len(ours) < 2:
        ev = await s.next_event()
        if ev.client_order_id.startswith("#"):
            assert ev.venue_order_id == report.venue_order_id
            continue
        ours.append(ev)
    ack, fill = ours
    assert (ack.kind, ack.client_order_id, ack.venue_order_id) == (
        EventKind.ACK, "dita-t1-sl-0", report.venue_order_id
    )  # fmt: skip
    assert (fill.kind, fill.client_order_id, fill.last_price) == (
        EventKind.FILL, "dita-t1-sl-0", D("58900.0")
    )  # fmt: skip


async def test_a_protective_order_left_by_a_dead_process_is_cancelled_by_its_venue_id(
    open_session: Any,
) -> None:
    first: Session = await open_session(protective_poll_s=None)
    await open_long(first)
    order = protective("dita-t1-tp-0", OrderType.TAKE_PROFIT_MARKET, "61000.0")
    await first.venue.submit(order)
    (ack,) = await first.expect(EventKind.ACK)
    await first.venue.close()
    second = BingxVenue(first.client, first.venue._creds, first.venue.config,
                        sleep=first.venue._sleep)  # fmt: skip
    await second.start()
    try:
        await second.cancel(replace(order, venue_order_id=ack.venue_order_id, acked=True))
        cxl = await anext(second.events())
        assert (cxl.kind, cxl.client_order_id, cxl.venue_order_id) == (
            EventKind.CANCEL_ACK, "dita-t1-tp-0", ack.venue_order_id
        )  # fmt: skip
        assert await second.open_orders() == []
    finally:
        await second.close()


@pytest.mark.parametrize("frames", [True, False], ids=["frames", "issue-36"])
async def test_a_close_position_take_profit_with_nothing_left_to_close_expires(
    open_session: Any, frames: bool
) -> None:
    answers = AnswerProfile(protective_trigger_frames=frames)
    s: Session = await open_session(protective_poll_s=None, emulator_kwargs={"answers": answers})
    await open_long(s)
    order = protective("dita-t1-tp-0", OrderType.TAKE_PROFIT_MARKET, "61000.0",
                       close_position=True)  # fmt: skip
    await s.venue.submit(order)
    (ack,) = await s.expect(EventKind.ACK)
    exit_ = make_order("dita-t1-x-0", OrderSide.SELL, qty="0.01", price=None, reduce_only=True)
    await s.venue.submit(exit_)  # the position is closed by another order first
    await s.expect(EventKind.ACK, EventKind.FILL)
    if not frames:
        s.emu.drop_stream_events(1)  # (its ACCOUNT_UPDATE, if any, says nothing new)
    await s.emu.set_price("BTC-USDT", D("61000.0"))
    if not frames:
        assert await s.venue.poll_protective() == 1
    (end,) = await s.expect(EventKind.EXPIRED)
    assert (end.client_order_id, end.venue_order_id, end.cum_qty) == (
        "dita-t1-tp-0", ack.venue_order_id, D(0)
    )  # fmt: skip


async def test_hedge_mode_stop_closes_the_long_by_position_side(open_session: Any) -> None:
    s: Session = await open_session(mode=Mode.HEDGE, protective_poll_s=None)
    await s.venue.submit(make_order("dita-h-e-0", qty="0.01", price=None))
    await s.expect(EventKind.ACK, EventKind.FILL)
    await s.venue.submit(protective("dita-h-sl-0"))
    await s.expect(EventKind.ACK)
    (placed,) = [p for p in sent(s, "POST", ORDER) if p.get("type") == "STOP_MARKET"]
    assert placed["positionSide"] == "LONG" and "reduceOnly" not in placed
    await s.emu.set_price("BTC-USDT", D("58000.0"))
    (fill,) = await s.expect(EventKind.FILL)
    assert (fill.client_order_id, fill.last_qty) == ("dita-h-sl-0", D("0.01"))
    assert await s.venue.positions() == []


async def test_a_lost_place_that_already_filled_is_not_called_never_placed(
    open_session: Any,
) -> None:
    s: Session = await open_session(protective_poll_s=None)
    await open_long(s)
    order = protective("dita-t1-sl-0")
    s.emu.fail_next(ORDER, status=504, method="POST", after_execute=True)
    with pytest.raises(OutcomeUnknown):
        await s.venue.submit(order)
    await s.emu.set_price("BTC-USDT", D("58000.0"))  # it triggers and fills at once
    assert await s.venue.open_orders() == []
    # not open, yet a finished stop just like it is in the history: not "never placed"
    with pytest.raises(OutcomeUnknown, match=r"finished order\(s\) \d{19} \(FILLED\)"):
        await s.venue.query_order(order)
    # an order nothing like it on the venue is still answered "never placed"
    assert await s.venue.query_order(protective("dita-t1-sl-1", stop="50000.0")) is None
