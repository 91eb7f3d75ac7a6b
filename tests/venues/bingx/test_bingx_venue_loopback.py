"""BingxVenue against the loopback emulator, over real HTTP and WebSocket on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import pytest

from dita.kernel.model import EventKind, OrderSide, OrderStatus, OrderType, Side
from dita.venues.base import NotSent, OutcomeUnknown, Venue, VenueFatal
from dita.venues.bingx import DuplicateClientOrderId, PositionMode, RateLimited
from dita.venues.bingx.venue import LISTEN_KEY, ORDER
from dita.venues.bingx_emulator import Mode
from tests.venues.bingx.conftest import API_KEY, API_SECRET, Session, make_order

D = Decimal
MAKER = D("0.0002")
TAKER = D("0.0005")


async def test_adapter_satisfies_the_venue_protocol_and_loads_real_precisions(
    session: Session,
) -> None:
    assert isinstance(session.venue, Venue)
    inst = session.venue.instruments
    assert set(inst) == {"BTC-USDT", "ETH-USDT", "TRX-USDT"}
    assert (inst["BTC-USDT"].tick_size, inst["BTC-USDT"].step_size) == (D("0.1"), D("0.0001"))
    assert inst["TRX-USDT"].step_size == D(1)
    assert inst["BTC-USDT"].min_notional == D(2)


async def test_limit_order_ack_partial_fill_then_cancel_of_the_rest(session: Session) -> None:
    order = make_order("dita-aa-1-e-0", qty="0.01", price="59000")
    await session.venue.submit(order)
    (ack,) = await session.expect(EventKind.ACK)
    assert ack.client_order_id == "dita-aa-1-e-0"
    assert len(ack.venue_order_id) == 19

    await session.emu.trade("BTC-USDT", D("58900"), D("0.004"))
    (fill,) = await session.expect(EventKind.PARTIAL_FILL)
    assert (fill.last_qty, fill.last_price, fill.cum_qty) == (D("0.004"), D("59000"), D("0.004"))
    assert fill.fee == D("0.004") * D("59000") * MAKER

    await session.venue.cancel(order)
    (cxl,) = await session.expect(EventKind.CANCEL_ACK)
    assert cxl.cum_qty == D("0.004")

    report = await session.venue.query_order(order)
    assert report is not None
    assert (report.status, report.cum_qty, report.avg_price) == (
        OrderStatus.CANCELED,
        D("0.004"),
        D("59000"),
    )
    assert report.fees == fill.fee
    (pos,) = await session.venue.positions()
    assert (pos.asset, pos.side, pos.quantity, pos.entry_price) == (
        "BTC-USDT",
        Side.LONG,
        D("0.004"),
        D("59000"),
    )
    bal = await session.venue.balance()
    assert bal.wallet == D(10_000) - fill.fee


async def test_market_entry_and_reduce_only_exit_settle_exact_money(session: Session) -> None:
    await session.venue.submit(make_order("m-1", qty="0.01", price=None))
    _, fill = await session.expect(EventKind.ACK, EventKind.FILL)
    assert (fill.last_qty, fill.last_price) == (D("0.01"), D("60000.0"))
    await session.emu.set_price("BTC-USDT", D("60500.0"))
    await session.venue.submit(
        make_order("m-2", OrderSide.SELL, qty="0.01", price=None, reduce_only=True)
    )
    _, exit_fill = await session.expect(EventKind.ACK, EventKind.FILL)
    assert exit_fill.last_price == D("60500.0")
    assert await session.venue.positions() == []
    realized = D("0.01") * (D("60500") - D("60000"))
    bal = await session.venue.balance()
    assert bal.wallet == D(10_000) + realized - fill.fee - exit_fill.fee
    assert fill.fee == D("0.01") * D("60000") * TAKER


async def test_cancel_after_fill_is_a_cancel_reject_not_an_ack(session: Session) -> None:
    order = make_order("c-1", qty="0.002", price="59000")
    await session.venue.submit(order)
    await session.expect(EventKind.ACK)
    await session.emu.trade("BTC-USDT", D("59000"), D("1"))
    await session.expect(EventKind.FILL)
    await session.venue.cancel(order)
    (rej,) = await session.expect(EventKind.CANCEL_REJECT)
    assert "80018" in rej.reason and "FILLED" in rej.reason
    assert rej.cum_qty == D("0.002")


async def test_double_cancel_gives_ack_then_reject(session: Session) -> None:
    order = make_order("c-2")
    await session.venue.submit(order)
    await session.expect(EventKind.ACK)
    await session.venue.cancel(order)
    await session.expect(EventKind.CANCEL_ACK)
    await session.venue.cancel(order)
    (rej,) = await session.expect(EventKind.CANCEL_REJECT)
    assert "CANCELLED" in rej.reason


@pytest.mark.parametrize(
    ("order_args", "code"),
    [
        ({"qty": "0.0001", "price": "10000"}, "101400"),  # 1 USDT < 2u minimum notional
        ({"qty": "1", "price": "59000"}, "101204"),  # 59000 USDT at 5x > 10000
        ({"qty": "0.01", "price": None, "side": OrderSide.SELL, "reduce_only": True}, "101205"),
    ],
)
async def test_venue_refusals_arrive_as_reject_events(
    session: Session, order_args: dict[str, object], code: str
) -> None:
    await session.venue.submit(make_order("r-1", **order_args))  # type: ignore[arg-type]
    (rej,) = await session.expect(EventKind.REJECT)
    assert code in rej.reason
    assert rej.client_order_id == "r-1"
    assert await session.venue.query_order(make_order("r-1")) is None


async def test_off_grid_order_is_refused_before_sending(session: Session) -> None:
    await session.venue.submit(make_order("g-1", qty="0.00015"))
    (rej,) = await session.expect(EventKind.REJECT)
    assert "not sent" in rej.reason
    assert session.emu.request_count("POST", ORDER) == 0


async def test_query_of_an_order_never_sent_is_none(session: Session) -> None:
    assert await session.venue.query_order(make_order("never-1")) is None


async def test_open_orders_lists_resting_orders(session: Session) -> None:
    await session.venue.submit(make_order("o-1", price="58000"))
    await session.venue.submit(make_order("o-2", OrderSide.SELL, price="62000"))
    await session.expect(EventKind.ACK, EventKind.ACK)
    reports = await session.venue.open_orders()
    assert sorted(r.client_order_id for r in reports) == ["o-1", "o-2"]
    assert all(r.status is OrderStatus.WORKING and r.order_type is OrderType.LIMIT for r in reports)


async def test_504_after_placement_then_query_by_client_id_recovers_exactly_one_order(
    session: Session,
) -> None:
    order = make_order("t504-1")
    session.emu.fail_next(ORDER, status=504, method="POST", after_execute=True)
    with pytest.raises(OutcomeUnknown, match="504"):
        await session.venue.submit(order)
    report = await session.venue.query_order(order)
    assert report is not None and report.status is OrderStatus.WORKING
    (ack,) = await session.expect(EventKind.ACK)
    # a blind resubmit with the same id cannot open a second order
    with pytest.raises(DuplicateClientOrderId) as dup:
        await session.venue.submit(order)
    assert not isinstance(dup.value, NotSent | OutcomeUnknown)
    assert session.emu.exchange.order_count() == 1
    await session.emu.trade("BTC-USDT", D("59000"), D("1"))
    (fill,) = await session.expect(EventKind.FILL)
    assert fill.venue_order_id == ack.venue_order_id


async def test_504_before_placement_then_query_finds_nothing_and_resubmit_places_one(
    session: Session,
) -> None:
    order = make_order("t504-2")
    session.emu.fail_next(ORDER, status=504, method="POST")
    with pytest.raises(OutcomeUnknown):
        await session.venue.submit(order)
    assert await session.venue.query_order(order) is None
    await session.venue.submit(order)
    await session.expect(EventKind.ACK)
    assert session.emu.exchange.order_count() == 1


async def test_fill_pushed_on_the_stream_before_the_rest_ack(session: Session) -> None:
    session.emu.stream_before_rest = True
    await session.venue.submit(make_order("fb-1", qty="0.01", price=None))
    _, fill = await session.expect(EventKind.ACK, EventKind.FILL)
    assert fill.cum_qty == D("0.01")
    # the late REST ack adds nothing: the next event belongs to the next order
    session.emu.stream_before_rest = False
    await session.venue.submit(make_order("fb-2"))
    (nxt,) = await session.expect(EventKind.ACK)
    assert nxt.client_order_id == "fb-2"


async def test_duplicated_stream_frames_are_reported_once(session: Session) -> None:
    await session.venue.submit(make_order("dup-1"))
    await session.expect(EventKind.ACK)
    session.emu.duplicate_stream_events(4)
    await session.emu.trade("BTC-USDT", D("59000"), D("0.003"))
    await session.emu.trade("BTC-USDT", D("59000"), D("0.003"))
    f1, f2 = await session.expect(EventKind.PARTIAL_FILL, EventKind.PARTIAL_FILL)
    assert (f1.cum_qty, f2.cum_qty) == (D("0.003"), D("0.006"))
    await session.venue.cancel(make_order("dup-1"))
    (cxl,) = await session.expect(EventKind.CANCEL_ACK)
    assert cxl.cum_qty == D("0.006")


async def test_a_lost_fill_frame_is_recovered_from_the_next_cumulative_quantity(
    session: Session,
) -> None:
    await session.venue.submit(make_order("lost-1"))
    await session.expect(EventKind.ACK)
    session.emu.drop_stream_events(2)  # the first TRADE frame and its ACCOUNT_UPDATE
    await session.emu.trade("BTC-USDT", D("59000"), D("0.003"))
    await session.emu.trade("BTC-USDT", D("59000"), D("0.002"))
    (fill,) = await session.expect(EventKind.PARTIAL_FILL)
    assert (fill.last_qty, fill.last_price, fill.cum_qty) == (D("0.005"), D("59000"), D("0.005"))


async def test_stream_disconnect_gap_is_filled_by_rest_after_reconnect(
    open_session: object,
) -> None:
    session: Session = await open_session(reconnect_initial_s=0.3)  # type: ignore[operator]
    resting, gone = make_order("gap-1", qty="0.01"), make_order("gap-2", qty="0.002", price="59500")
    await session.venue.submit(resting)
    await session.venue.submit(gone)
    await session.expect(EventKind.ACK, EventKind.ACK)
    await session.emu.disconnect_streams()
    # while nobody listens: gap-2 fills completely (leaves open orders), gap-1 partly
    await session.emu.trade("BTC-USDT", D("59000"), D("0.006"))
    events = await session.next_events(2)
    by_cid = {e.client_order_id: e for e in events}
    assert by_cid["gap-2"].kind is EventKind.FILL
    assert (by_cid["gap-2"].last_qty, by_cid["gap-2"].last_price) == (D("0.002"), D("59500"))
    assert by_cid["gap-1"].kind is EventKind.PARTIAL_FILL
    assert (by_cid["gap-1"].last_qty, by_cid["gap-1"].last_price) == (D("0.004"), D("59000"))
    assert session.venue.reconnects == 2
    # the engine learns that the stream came back (it reconciles on that)
    resumed = await asyncio.wait_for(anext(session.venue.resumptions()), 3)
    assert resumed.resumptions == 1
    # and the new stream is live
    await session.emu.trade("BTC-USDT", D("59000"), D("0.006"))
    (rest,) = await session.expect(EventKind.FILL)
    assert rest.cum_qty == D("0.01")


async def test_listen_key_expiry_renews_the_key_and_loses_nothing(session: Session) -> None:
    await session.venue.submit(make_order("lk-1"))
    await session.expect(EventKind.ACK)
    await session.emu.expire_listen_keys()
    await session.emu.trade("BTC-USDT", D("59000"), D("0.004"))
    (fill,) = await session.expect(EventKind.PARTIAL_FILL)
    assert fill.cum_qty == D("0.004")
    assert session.emu.request_count("POST", LISTEN_KEY) == 2


async def test_rate_limit_100410_is_backed_off_and_retried(session: Session) -> None:
    session.emu.rate_limit_next(ORDER, method="POST", times=2)
    await session.venue.submit(make_order("rl-1"))
    await session.expect(EventKind.ACK)
    assert [s for s in session.sleeps if s in (0.01, 0.02)] == [0.01, 0.02]
    assert session.emu.request_count("POST", ORDER) == 3
    assert session.emu.exchange.order_count() == 1


async def test_rate_limit_that_never_lifts_is_not_sent(session: Session) -> None:
    session.emu.rate_limit_next(ORDER, method="POST", times=100)
    with pytest.raises(RateLimited) as info:
        await session.venue.submit(make_order("rl-2"))
    assert isinstance(info.value, NotSent)
    assert session.emu.exchange.order_count() == 0


async def test_hedge_mode_open_long_and_close_it_by_sell_long(open_session: object) -> None:
    session: Session = await open_session(mode=Mode.HEDGE)  # type: ignore[operator]
    await session.venue.submit(make_order("h-1", qty="0.01", price=None))
    await session.expect(EventKind.ACK, EventKind.FILL)
    (pos,) = await session.venue.positions()
    assert (pos.side, pos.quantity) == (Side.LONG, D("0.01"))
    await session.venue.submit(
        make_order("h-2", OrderSide.SELL, qty="0.004", price=None, reduce_only=True)
    )
    await session.expect(EventKind.ACK, EventKind.FILL)
    (pos,) = await session.venue.positions()
    assert pos.quantity == D("0.006")
    placed = [r.params for r in session.emu.requests if r.method == "POST" and r.path == ORDER]
    assert [p["positionSide"] for p in placed] == ["LONG", "LONG"]
    assert all("reduceOnly" not in p for p in placed)


async def test_one_way_adapter_against_hedge_account_is_rejected_109400(
    open_session: object,
) -> None:
    session: Session = await open_session(mode=Mode.HEDGE, venue_mode=PositionMode.ONE_WAY)  # type: ignore[operator]
    await session.venue.submit(make_order("mm-1"))
    (rej,) = await session.expect(EventKind.REJECT)
    assert "109400" in rej.reason


async def test_set_leverage_changes_margin_available(session: Session) -> None:
    await session.venue.set_leverage("BTC-USDT", 20)
    await session.venue.submit(make_order("lev-1", qty="1", price="59000"))  # 2950 margin at 20x
    await session.expect(EventKind.ACK)
    bal = await session.venue.balance()
    assert bal.available == D(10_000) - D("59000") / 20


async def test_wrong_secret_is_fatal_at_start(open_session: object) -> None:
    with pytest.raises(VenueFatal, match="100001"):
        await open_session(secret="not-the-secret")  # type: ignore[operator]


async def test_secret_never_reaches_logs_errors_or_reprs(
    open_session: object, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    session: Session = await open_session(reconnect_initial_s=0.05)  # type: ignore[operator]
    texts: list[str] = [repr(session.venue), str(session.venue.config)]
    session.emu.fail_next(ORDER, status=504, method="POST")
    with pytest.raises(OutcomeUnknown) as e1:
        await session.venue.submit(make_order("s-1"))
    texts.append(str(e1.value))
    session.emu.rate_limit_next(None, times=100)
    with pytest.raises(RateLimited) as e2:
        await session.venue.balance()
    texts.append(str(e2.value))
    session.emu.faults.clear()
    await session.emu.disconnect_streams()
    await session.venue.submit(make_order("s-2"))
    await session.expect(EventKind.ACK)
    texts += [r.getMessage() for r in caplog.records]
    assert len(texts) > 4
    for text in texts:
        assert API_SECRET not in text
        assert API_KEY not in text


async def test_listen_key_is_kept_alive_and_renewed_when_the_venue_forgets_it(
    open_session: object,
) -> None:
    # listen-key calls are limited to 2/s (PROTOCOL.md §6.3), so the waits are in seconds
    session: Session = await open_session(listen_key_refresh_s=0.1)  # type: ignore[operator]
    await session.clock.sleep(1.3)
    assert session.emu.request_count("PUT", LISTEN_KEY) >= 2
    session.emu.listen_keys.clear()  # the venue lost our key: PUT answers 404, the stream goes quiet
    await session.clock.sleep(1.5)
    assert session.emu.request_count("POST", LISTEN_KEY) == 2
    await session.venue.submit(make_order("ka-1"))
    await session.expect(EventKind.ACK)
    await session.emu.trade("BTC-USDT", D("59000"), D("0.003"))
    (fill,) = await session.expect(EventKind.PARTIAL_FILL)  # only the renewed stream can bring this
    assert fill.cum_qty == D("0.003")


async def test_hedge_mode_short_opens_sell_short_and_closes_buy_short(open_session: object) -> None:
    session: Session = await open_session(mode=Mode.HEDGE)  # type: ignore[operator]
    await session.venue.submit(make_order("hs-1", OrderSide.SELL, qty="0.01", price=None))
    await session.expect(EventKind.ACK, EventKind.FILL)
    (pos,) = await session.venue.positions()
    assert (pos.side, pos.quantity) == (Side.SHORT, D("0.01"))
    await session.emu.set_price("BTC-USDT", D("59000.0"))
    await session.venue.submit(
        make_order("hs-2", OrderSide.BUY, qty="0.01", price=None, reduce_only=True)
    )
    _, fill = await session.expect(EventKind.ACK, EventKind.FILL)
    assert await session.venue.positions() == []
    placed = [r.params for r in session.emu.requests if r.method == "POST" and r.path == ORDER]
    assert [(p["side"], p["positionSide"]) for p in placed] == [("SELL", "SHORT"), ("BUY", "SHORT")]
    bal = await session.venue.balance()
    fees = D("0.01") * D("60000") * TAKER + fill.fee
    assert bal.wallet == D(10_000) + D("0.01") * D(1000) - fees


async def test_adapter_answers_every_ping_so_the_venue_keeps_the_stream(
    open_session: object,
) -> None:
    session: Session = await open_session(  # type: ignore[operator]
        emulator_kwargs={"ping_interval": 0.02, "missed_pongs_allowed": 1}
    )
    await session.clock.sleep(0.5)  # ~25 pings; two unanswered ones would close the stream
    assert session.emu.stream_connections == 1
    assert session.venue.reconnects == 1
