"""Transport failures are mapped once, at the edge: NotSent vs OutcomeUnknown vs VenueFatal.

httpx.MockTransport stands in for the network here only because these failures
(refused connections, read timeouts, broken responses) are what we test; the
adapter's behaviour against a real server is in test_bingx_venue_loopback.py.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import httpx
import pytest

from dita.kernel.model import OrderSide
from dita.venues.base import NotSent, OutcomeUnknown, VenueError, VenueFatal
from dita.venues.bingx import BingxConfig, BingxVenue, Credentials, Endpoints, RateLimited
from dita.venues.bingx.venue import UnreadableOutcome
from tests.venues.bingx.conftest import make_order

SECRET = "transport-secret-must-not-leak"
CONTRACTS = (
    b'{"code":0,"msg":"","data":[{"symbol":"BTC-USDT","quantityPrecision":4,"pricePrecision":1,'
    b'"tradeMinQuantity":0.0001,"tradeMinUSDT":2,"status":1,"apiStateOpen":"true","apiStateClose":"true"}]}'
)
OPEN_ORDERS_OK = b'{"code":0,"msg":"","data":{"orders":[]}}'
PLACED_OK = b'{"code":0,"msg":"","data":{"order":{"symbol":"BTC-USDT","orderId":1900000000000000001,"side":"BUY","positionSide":"BOTH","type":"LIMIT","clientOrderID":"x-1"}}}'

Behaviour = Callable[[httpx.Request], httpx.Response]


async def make_venue(behaviour: Behaviour) -> tuple[BingxVenue, list[httpx.Request], list[float]]:
    seen: list[httpx.Request] = []
    sleeps: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/quote/contracts"):
            return httpx.Response(200, content=CONTRACTS)
        seen.append(request)
        return behaviour(request)

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    venue = BingxVenue(
        client,
        Credentials("transport-key", SECRET),
        BingxConfig(Endpoints.loopback(1), rate_limits={}),
        clock=lambda: 1_700_000_000_000,
        sleep=sleep,
    )
    await venue.load_instruments()
    return venue, seen, sleeps


def raising(exc: type[httpx.TransportError]) -> Behaviour:
    def behaviour(request: httpx.Request) -> httpx.Response:
        raise exc("boom", request=request)

    return behaviour


def answering(status: int, body: bytes = b"") -> Behaviour:
    return lambda request: httpx.Response(status, content=body)


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        (raising(httpx.ConnectError), NotSent),
        (raising(httpx.ConnectTimeout), NotSent),
        (raising(httpx.PoolTimeout), NotSent),
        (raising(httpx.ReadTimeout), OutcomeUnknown),
        (raising(httpx.WriteTimeout), OutcomeUnknown),
        (raising(httpx.ReadError), OutcomeUnknown),
        (raising(httpx.RemoteProtocolError), OutcomeUnknown),
        (answering(504, b"<html>504 Gateway Time-out</html>"), OutcomeUnknown),
        (answering(500), OutcomeUnknown),
        (answering(502, b"bad gateway"), OutcomeUnknown),
        (answering(200, b"<html>not json</html>"), UnreadableOutcome),
        (answering(200, b""), UnreadableOutcome),
        (
            answering(200, b'{"code":0,"msg":"","data":{"order":{"orderId":"x"}}}'),
            UnreadableOutcome,
        ),
        (answering(200, b'{"code":0,"data":{"order":{"orderId":-5}}}'), UnreadableOutcome),
        (answering(401), VenueFatal),
        (answering(403), VenueFatal),
        (answering(200, b'{"code":100001,"msg":"Signature verification failed"}'), VenueFatal),
        (answering(200, b'{"code":100413,"msg":"Incorrect apiKey"}'), VenueFatal),
        (answering(200, b'{"code":101500,"msg":"rpc timeout"}'), OutcomeUnknown),
    ],
)
async def test_submit_failures_map_to_exactly_one_error_class(
    behaviour: Behaviour, expected: type[VenueError]
) -> None:
    venue, seen, _ = await make_venue(behaviour)
    with pytest.raises(VenueError) as info:
        await venue.submit(make_order("x-1"))
    assert type(info.value) is expected
    assert SECRET not in str(info.value)
    assert info.value.__cause__ is None  # the httpx error (and its URL) is not chained in
    # one place; a "busy" code is followed by the query that asks whether the order exists
    assert [r.method for r in seen] == ["POST"] + (["GET"] if b"101500" in _body(behaviour) else [])


def _body(behaviour: Behaviour) -> bytes:
    try:
        return behaviour(httpx.Request("GET", "http://127.0.0.1/")).content
    except httpx.TransportError:
        return b""


async def test_busy_code_on_a_read_is_safe_to_retry() -> None:
    venue, _, _ = await make_venue(answering(200, b'{"code":100500,"msg":"busy"}'))
    with pytest.raises(NotSent):
        await venue.open_orders()


async def test_http_429_backs_off_then_succeeds() -> None:
    answers = iter([answering(429), answering(429), answering(200, OPEN_ORDERS_OK)])
    venue, seen, sleeps = await make_venue(lambda r: next(answers)(r))
    assert await venue.open_orders() == []
    assert len(seen) == 3
    assert sleeps == [0.2, 0.4]


async def test_rate_limit_code_exhausts_into_rate_limited() -> None:
    venue, seen, sleeps = await make_venue(answering(200, b'{"code":100410,"msg":"limited"}'))
    with pytest.raises(RateLimited):
        await venue.submit(make_order("x-1"))
    assert len(seen) == 6
    assert sleeps == [0.2, 0.4, 0.8, 1.6, 3.2, 6.4]


async def test_requests_are_signed_with_key_header_and_sorted_query() -> None:
    venue, seen, _ = await make_venue(answering(200, PLACED_OK))
    await venue.submit(make_order("x-1", OrderSide.BUY, qty="0.01", price="59000"))
    (req,) = seen
    assert req.method == "POST"
    assert req.headers["X-BX-APIKEY"] == "transport-key"
    query = req.url.query.decode()
    keys = [pair.split("=")[0] for pair in query.split("&")]
    assert keys[:-1] == sorted(keys[:-1]) and keys[-1] == "signature"
    assert "positionSide=BOTH" in query and "timeInForce=GTC" in query
    assert "price=59000&quantity=0.01" in query
    assert SECRET not in str(req.url)
    assert req.content == b""  # everything travels in the query string, like ccxt


def test_rate_limiter_spaces_calls_per_endpoint() -> None:
    from dita.venues.bingx.venue import _Limiter

    lim = _Limiter(5.0)
    assert [lim.delay_s(1000) for _ in range(3)] == [0.0, 0.2, 0.4]
    assert lim.delay_s(2000) == 0.0
    assert Decimal(str(lim.delay_s(2000))) == Decimal("0.2")


async def test_stream_setup_failures_back_off_instead_of_spinning() -> None:
    """A listen key that cannot be created (venue busy) is retried with growing delays."""
    import asyncio

    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/quote/contracts"):
            return httpx.Response(200, content=CONTRACTS)
        calls.append(request.url.path)
        return httpx.Response(503)

    waited: list[float] = []
    gate = asyncio.Event()

    async def sleep(seconds: float) -> None:
        waited.append(seconds)
        if len(waited) >= 4:
            gate.set()
            await asyncio.Event().wait()  # park the loop here

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    venue = BingxVenue(
        client,
        Credentials("k", SECRET),
        BingxConfig(Endpoints.loopback(1), rate_limits={}, start_timeout_s=5),
        sleep=sleep,
    )
    start = asyncio.create_task(venue.start())
    await asyncio.wait_for(gate.wait(), 5)
    # each failed attempt is followed by a doubling delay (the keepalive's 1800 s aside)
    stream = [w for w in waited if w not in (1800.0, 300.0)]  # keepalive, clock sync
    assert len(stream) >= 3
    assert stream == [0.1 * 2**i for i in range(len(stream))]
    assert len([c for c in calls if c.endswith("userDataStream")]) == len(stream)
    start.cancel()
    await venue.close()
    await client.aclose()
