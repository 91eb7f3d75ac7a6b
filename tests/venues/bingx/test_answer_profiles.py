"""Each documented BingX answer form (an ``AnswerProfile`` switch of the emulator) against the
real adapter over loopback HTTP/WebSocket: the adapter reads every one of them right.

(Numeric place decimals and the timestamp window are also driven through the whole
Engine in ``test_bingx_engine_real_answers.py``.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from dita.kernel.model import EventKind, OrderSide, OrderStatus, Side
from dita.venues.bingx.venue import BALANCE_V3, LISTEN_KEY, OPEN_ORDERS, POSITIONS
from dita.venues.bingx_emulator.answers import AnswerProfile
from tests.venues.bingx.conftest import Session, make_order

D = Decimal
Open = Callable[..., Any]


async def _session(open_session: Open, profile: AnswerProfile, **config: Any) -> Session:
    s = await open_session(emulator_kwargs={"answers": profile}, **config)
    assert isinstance(s, Session)
    return s


async def _raw(s: Session, path: str, **params: str) -> Any:
    """The emulator's answer as it is on the wire (signed like the adapter signs)."""
    from dita.venues.bingx.signing import API_KEY_HEADER, signed_query

    query = signed_query(params, s.venue._creds.secret, s.venue.server_clock.now(), 5000)
    r = await s.client.get(
        f"{s.emu.rest_url}{path}?{query}", headers={API_KEY_HEADER: s.venue._creds.api_key}
    )
    return r


@pytest.mark.parametrize("status", ["PENDING", "NEW"])
async def test_resting_orders_in_either_status_are_working(open_session: Open, status: str) -> None:
    s = await _session(open_session, AnswerProfile(resting_status=status))  # type: ignore[arg-type]
    order = make_order("prof-rest-1", qty="0.01", price="59000")
    await s.venue.submit(order)
    await s.expect(EventKind.ACK)
    raw = (await _raw(s, OPEN_ORDERS)).json()
    assert [o["status"] for o in raw["data"]["orders"]] == [status]
    (report,) = await s.venue.open_orders()
    assert report.status is OrderStatus.WORKING
    queried = await s.venue.query_order(order)
    assert queried is not None and queried.status is OrderStatus.WORKING


@pytest.mark.parametrize("reply", ["actual", "PENDING"])
async def test_a_cancel_reply_that_still_says_pending_ends_in_one_cancel_ack(
    open_session: Open, reply: str
) -> None:
    s = await _session(open_session, AnswerProfile(cancel_reply_status=reply))  # type: ignore[arg-type]
    order = make_order("prof-cancel-1", qty="0.01", price="59000")
    await s.venue.submit(order)
    await s.expect(EventKind.ACK)
    await s.venue.cancel(order)
    (end,) = await s.expect(EventKind.CANCEL_ACK)  # from the stream when the reply says PENDING
    assert end.client_order_id == "prof-cancel-1"
    with pytest.raises(TimeoutError):
        await s.next_event(timeout=0.3)  # nothing more (no second ack, no reject)


@pytest.mark.parametrize("usdc", ["zeros", "blank", "none"])
async def test_balance_with_any_usdc_row(open_session: Open, usdc: str) -> None:
    s = await _session(open_session, AnswerProfile(usdc_row=usdc))  # type: ignore[arg-type]
    rows = (await _raw(s, BALANCE_V3)).json()["data"]
    assert [r["asset"] for r in rows] == (["USDT"] if usdc == "none" else ["USDT", "USDC"])
    if usdc == "blank":
        assert rows[1]["balance"] == "" and rows[1]["availableMargin"] == ""
    report = await s.venue.balance()
    assert (report.asset, report.wallet) == ("USDT", D(10_000))


async def test_unknown_status_on_a_fill_frame_still_fills(open_session: Open) -> None:
    s = await _session(open_session, AnswerProfile(trade_status_unknown=True))
    order = make_order("prof-unknown-1", qty="0.01", price="59000")
    await s.venue.submit(order)
    await s.expect(EventKind.ACK)
    await s.emu.trade("BTC-USDT", D("59000"), D("0.004"))
    (part,) = await s.expect(EventKind.PARTIAL_FILL)
    await s.emu.trade("BTC-USDT", D("59000"), D("1"))
    (fill,) = await s.expect(EventKind.FILL)  # the quantity says it is complete
    assert (part.last_qty, fill.last_qty, fill.cum_qty) == (D("0.004"), D("0.006"), D("0.01"))
    assert not s.venue._tracker.knows("prof-unknown-1")  # finished, not left dangling


@pytest.mark.parametrize("form", ["BOTH", "LONG_SHORT"])
async def test_one_way_positions_in_either_form(open_session: Open, form: str) -> None:
    s = await _session(open_session, AnswerProfile(one_way_positions=form))  # type: ignore[arg-type]
    await s.venue.submit(make_order("prof-pos-1", OrderSide.SELL, qty="0.01", price=None))
    await s.expect(EventKind.ACK, EventKind.FILL)
    (row,) = (await _raw(s, POSITIONS)).json()["data"]
    expected = ("BOTH", D("-0.01")) if form == "BOTH" else ("SHORT", D("0.01"))
    assert (row["positionSide"], D(row["positionAmt"])) == expected
    (pos,) = await s.venue.positions()
    assert (pos.side, pos.quantity) == (Side.SHORT, D("0.01"))
    # and the stream's ACCOUNT_UPDATE says the same
    streamed = [p for p in s.venue.account_positions.values() if p is not None]
    assert [(p.side, p.quantity) for p in streamed] == [(Side.SHORT, D("0.01"))]


@pytest.mark.parametrize(("cap", "refused"), [(5000, True), (None, False)])
async def test_capped_recv_window_is_met_by_the_clock_sync(
    open_session: Open, cap: int | None, refused: bool
) -> None:
    # a local clock 7 s slow, a 60 s recvWindow: accepted only where the window is not capped
    s = await _session(
        open_session,
        AnswerProfile(recv_window_max=cap),
        recv_window=60_000,
    )
    s.venue.server_clock._local = lambda: s.clock.now_ms() - 7000
    s.venue.server_clock.offset_ms = 0
    measured = s.venue.server_clock.measured
    assert await s.venue.open_orders() == []
    assert s.venue.server_clock.measured == measured + (1 if refused else 0)


@pytest.mark.parametrize("empty", [True, False])
async def test_listen_key_refresh_answered_either_way_keeps_the_key(
    open_session: Open, empty: bool
) -> None:
    s = await _session(
        open_session, AnswerProfile(listen_key_empty_body=empty), listen_key_refresh_s=0.05
    )
    key = s.venue._listen_key
    async with asyncio.timeout(5):
        while s.emu.request_count("PUT", LISTEN_KEY) < 3:
            await s.clock.sleep(0.02)
    assert s.venue._listen_key == key  # never renewed
    assert s.emu.request_count("POST", LISTEN_KEY) == 1
    assert s.venue.reconnects == 1


async def test_rate_limit_headers_hold_an_exhausted_endpoint(open_session: Open) -> None:
    s = await _session(
        open_session,
        AnswerProfile(rate_limit_per_window=2, rate_limit_window_ms=400),
        rate_limits={},
    )
    s.sleeps.clear()
    for _ in range(3):
        await s.venue.positions()
    remain, expire = s.venue.rate_limit_seen[POSITIONS]
    assert remain in (0, 1) and 0 <= expire <= 400
    held = [w for w in s.sleeps if 0.05 < w <= 0.4]
    assert held, s.sleeps  # the third call waited for the window instead of being refused
    r = await _raw(s, POSITIONS)
    assert "X-RateLimit-Requests-Remain" in r.headers and "X-RateLimit-Requests-Expire" in r.headers


async def test_no_rate_limit_headers_when_switched_off(open_session: Open) -> None:
    s = await _session(open_session, AnswerProfile(rate_limit_headers=False))
    r = await _raw(s, POSITIONS)
    assert "X-RateLimit-Requests-Remain" not in r.headers
    await s.venue.positions()
    assert POSITIONS not in s.venue.rate_limit_seen


async def test_numeric_place_decimals_reach_the_adapter_as_numbers(open_session: Open) -> None:
    s = await _session(open_session, AnswerProfile(place_decimals="number"))
    seen: list[bytes] = []
    hook = s.client.event_hooks.setdefault("response", [])

    async def keep(response: httpx.Response) -> None:
        if response.request.method == "POST" and response.request.url.path.endswith("/order"):
            seen.append(await response.aread())

    hook.append(keep)
    await s.venue.submit(make_order("prof-num-1", qty="0.01", price="59000"))
    (ack,) = await s.expect(EventKind.ACK)
    assert b'"price":59000' in seen[0] and b'"quantity":0.01' in seen[0]
    assert len(ack.venue_order_id) == 19
