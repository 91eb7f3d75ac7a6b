"""The adapter signs with the venue's time: offset measured at start, periodically and on 100421.

The local clock is a ``SimClock`` the test drives; the venue is an ``httpx.MockTransport``.
"""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import pytest

from dita.clock import SimClock
from dita.venues.bingx import BingxConfig, BingxVenue, Credentials, Endpoints
from dita.venues.bingx.clock import ServerClock

LOCAL_START = 1_700_000_000_000
SERVER_AHEAD = 6_000  # the venue's clock is 6 s ahead of ours (ours is 6 s slow)


def make(local: SimClock, answers: list[bytes]) -> tuple[BingxVenue, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        local.advance(40)  # each round trip takes 40 ms of local time
        if request.url.path.endswith("/server/time"):
            server = local.now_ms() - 20 + SERVER_AHEAD  # answered half way through
            return httpx.Response(200, json={"code": 0, "msg": "", "data": {"serverTime": server}})
        ts = int(parse_qs(request.url.query.decode())["timestamp"][0])
        if abs(ts - (local.now_ms() - 20 + SERVER_AHEAD)) > 5000:
            return httpx.Response(200, json={"code": 100421, "msg": "timestamp mismatch"})
        return httpx.Response(200, content=answers.pop(0) if answers else b'{"code":0,"data":[]}')

    async def sleep(seconds: float) -> None:
        local.advance(int(seconds * 1000))

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    venue = BingxVenue(
        client,
        Credentials("clock-key", "clock-secret"),
        BingxConfig(Endpoints.loopback(1), rate_limits={}),
        clock=local.now_ms,
        sleep=sleep,
    )
    return venue, seen


def test_offset_is_the_server_time_minus_the_round_trip_midpoint() -> None:
    local = SimClock(1000)
    sc = ServerClock(local.now_ms)
    assert sc.measure(1000, 7020, 1040) == 6000
    assert sc.last_round_trip_ms == 40
    local.advance(500)
    assert sc.now() == 1500 + 6000
    with pytest.raises(ValueError, match="went back"):
        sc.measure(2000, 1, 1999)


async def test_signing_uses_the_measured_venue_time() -> None:
    local = SimClock(LOCAL_START)
    venue, seen = make(local, [])
    assert await venue.sync_clock() == SERVER_AHEAD
    assert await venue.positions() == []
    ts = int(parse_qs(seen[-1].url.query.decode())["timestamp"][0])
    assert ts == local.now_ms() - 40 + SERVER_AHEAD  # signed before the 40 ms round trip


async def test_a_timestamp_refusal_measures_again_and_resends() -> None:
    local = SimClock(LOCAL_START)
    venue, seen = make(local, [])
    assert venue.server_clock.offset_ms == 0  # never measured: 6 s off, refused
    assert await venue.positions() == []
    paths = [r.url.path.rsplit("/", 1)[-1] for r in seen]
    assert paths == ["positions", "time", "positions"]
    assert venue.server_clock.offset_ms == SERVER_AHEAD
    assert venue.server_clock.measured == 1
