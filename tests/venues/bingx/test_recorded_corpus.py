"""Every recorded BingX payload in ``recorded/`` goes through the adapter's decoders.

Each ``<name>.json`` is one payload as BingX's docs, a public client library's
test fixtures or a public issue thread show it; ``<name>.source`` names where it
comes from and which decoder reads it. REST payloads are served to the real
``BingxVenue`` by an ``httpx.MockTransport`` and read through its public methods;
stream frames go through its frame handler. A payload that does not decode is a
failure, whatever its shape.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from dita.kernel.model import EventKind, VenueEvent
from dita.venues.bingx import BingxConfig, BingxVenue, Credentials, Endpoints, parse, wire
from dita.venues.bingx.errors import classify
from dita.venues.bingx.tracker import OrderTracker
from dita.venues.bingx.venue import LISTEN_KEY
from tests.venues.bingx.conftest import make_order

HERE = Path(__file__).parent / "recorded"
PAYLOADS = sorted(HERE.glob("*.json"))
CONTRACTS = (
    b'{"code":0,"msg":"","data":['
    + b",".join(
        b'{"symbol":"%s","quantityPrecision":4,"pricePrecision":4,"tradeMinQuantity":0,'
        b'"tradeMinUSDT":0,"status":1,"apiStateOpen":"true","apiStateClose":"true"}' % s
        for s in (b"BTC-USDT", b"LTC-USDT", b"OP-USDT", b"ETH-USDT")
    )
    + b"]}"
)


def meta(path: Path) -> dict[str, str]:
    lines = path.with_suffix(".source").read_text(encoding="utf-8").splitlines()
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in lines) if v}


def test_every_payload_names_its_source_and_decoder() -> None:
    assert len(PAYLOADS) >= 30
    sidecars = sorted(HERE.glob("*.source"))
    assert [p.stem for p in sidecars] == [p.stem for p in PAYLOADS]
    for path in PAYLOADS:
        m = meta(path)
        assert m.get("source"), path.name
        assert m.get("decoder") in DECODERS, (path.name, m.get("decoder"))


class _Ws:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, text: str) -> None:
        self.sent.append(text)


@pytest.fixture
async def venue_for() -> AsyncIterator[Callable[[bytes], Any]]:
    opened: list[tuple[BingxVenue, httpx.AsyncClient]] = []

    async def make(body: bytes) -> BingxVenue:
        def handler(request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/quote/contracts"):
                return httpx.Response(200, content=CONTRACTS)
            return httpx.Response(200, content=body)

        async def sleep(seconds: float) -> None:
            return None

        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        venue = BingxVenue(
            client,
            Credentials("corpus-key", "corpus-secret"),
            BingxConfig(Endpoints.loopback(1), rate_limits={}),
            clock=lambda: 1_700_000_000_000,
            sleep=sleep,
        )
        await venue.load_instruments()
        opened.append((venue, client))
        return venue

    yield make
    for venue, client in opened:
        await venue.close()
        await client.aclose()


def drained(venue: BingxVenue) -> list[VenueEvent]:
    events = []
    while not venue._queue.empty():
        ev = venue._queue.get_nowait()
        if ev is not None:
            events.append(ev)
    return events


async def d_place(venue: BingxVenue, raw: bytes) -> list[Any]:
    symbol = wire.placed_order(wire.envelope(raw).data).symbol
    await venue.submit(make_order("corpus-1", price=None, qty="0.1", asset=symbol))
    events = drained(venue)
    assert [e.kind for e in events] == [EventKind.ACK]
    return events


async def d_order(venue: BingxVenue, raw: bytes) -> list[Any]:
    rest = wire.decode(wire.envelope(raw).data, wire.OrderData).order
    report = await venue.query_order(
        make_order(parse.text(rest.client_order_id), asset=rest.symbol)
    )
    assert report is not None and report.venue_order_id == str(rest.order_id)
    return [report]


async def d_orders(venue: BingxVenue, raw: bytes) -> list[Any]:
    reports = await venue.open_orders()
    rows = wire.decode(wire.envelope(raw).data, wire.OrdersData).orders or []
    assert len(reports) == len(rows)
    tracker = OrderTracker()
    return reports + [tracker.on_rest(o) for o in rows]


async def d_foreign_orders(venue: BingxVenue, raw: bytes) -> list[Any]:
    """Open orders of conditional types dita does not trade: left out, refused by name."""
    rows = wire.decode(wire.envelope(raw).data, wire.OrdersData).orders or []
    assert rows and not any(parse.is_dita_type(o.type) for o in rows)
    assert await venue.open_orders() == []
    for o in rows:
        with pytest.raises(wire.WireError, match="type: BingX order type"):
            parse.order_report(o)
    return rows


async def d_cancel_all(venue: BingxVenue, raw: bytes) -> list[Any]:
    data = wire.decode(wire.envelope(raw).data, wire.CancelAllData)
    ends = [OrderTracker().untracked_end(o) for o in data.success or []]
    assert all(e and e[0].kind is EventKind.CANCEL_ACK for e in ends)
    return ends


async def d_placed_list(venue: BingxVenue, raw: bytes) -> list[Any]:
    data = wire.decode(wire.envelope(raw).data, wire.PlacedOrdersData)
    return [parse.placed_order_id(p) for p in data.orders or []]


async def d_positions(venue: BingxVenue, raw: bytes) -> list[Any]:
    reports = await venue.positions()
    assert reports and all(r.quantity > 0 for r in reports)
    return reports


async def d_balance_v3(venue: BingxVenue, raw: bytes) -> list[Any]:
    report = await venue.balance()
    assert report.asset == "USDT" and report.wallet >= 0
    return [report]


async def d_contracts(venue: BingxVenue, raw: bytes) -> list[Any]:
    rows = wire.decode(wire.envelope(raw).data, list[wire.Contract])
    return [parse.instrument(c) for c in rows if parse.tradable(c)]


async def d_leverage(venue: BingxVenue, raw: bytes) -> list[Any]:
    return [wire.decode(wire.envelope(raw).data, wire.LeverageData)]


async def d_server_time(venue: BingxVenue, raw: bytes) -> list[Any]:
    return [await venue.server_time()]


async def d_listen_key(venue: BingxVenue, raw: bytes) -> list[Any]:
    key = await venue._ensure_listen_key()
    assert len(key) == 64
    return [key]


async def d_empty(venue: BingxVenue, raw: bytes) -> list[Any]:
    assert raw.strip() == b""
    for method in ("PUT", "DELETE"):  # refresh and delete answered by status only
        assert bytes(await venue._call(method, LISTEN_KEY, {"listenKey": "k"})) == b"null"
    return [raw]


async def d_envelope(venue: BingxVenue, raw: bytes) -> list[Any]:
    env = wire.envelope(raw)
    assert env.code == 0
    return [env]


async def d_error(venue: BingxVenue, raw: bytes) -> list[Any]:
    env = wire.envelope(raw)
    assert env.code != 0
    return [classify(env.code)]


async def d_stream(venue: BingxVenue, raw: bytes) -> list[Any]:
    ws = _Ws()
    await venue._on_frame(ws, raw.decode())  # type: ignore[arg-type]
    head = wire.decode(raw, wire.StreamHead)
    if head.e in ("ORDER_TRADE_UPDATE", "TRADE_UPDATE"):
        wire.decode(raw, wire.OrderTradeUpdate)  # decodes on its own too
    if head.e == "ACCOUNT_UPDATE":
        ev = wire.decode(raw, wire.AccountUpdate)
        for p in ev.account.positions or []:
            parse.account_position(p)
    return drained(venue)


DECODERS: dict[str, Callable[[BingxVenue, bytes], Any]] = {
    "place": d_place,
    "order": d_order,
    "orders": d_orders,
    "foreign_orders": d_foreign_orders,
    "cancel_all": d_cancel_all,
    "placed_list": d_placed_list,
    "positions": d_positions,
    "balance_v3": d_balance_v3,
    "contracts": d_contracts,
    "leverage": d_leverage,
    "server_time": d_server_time,
    "listen_key": d_listen_key,
    "empty": d_empty,
    "envelope": d_envelope,
    "error": d_error,
    "stream": d_stream,
}


@pytest.mark.parametrize("path", PAYLOADS, ids=[p.stem for p in PAYLOADS])
async def test_recorded_payload_decodes_through_the_adapter(
    path: Path, venue_for: Callable[[bytes], Any]
) -> None:
    raw = path.read_bytes()
    venue = await venue_for(raw)
    out = await DECODERS[meta(path)["decoder"]](venue, raw)
    assert out is not None


async def test_numeric_decimals_place_reply_keeps_the_19_digit_id(
    venue_for: Callable[[bytes], Any],
) -> None:
    raw = (HERE / "ccxt_pr20806_vst_place_numeric_decimals.json").read_bytes()
    (ack,) = await d_place(await venue_for(raw), raw)
    assert ack.venue_order_id == "1745839584339562496"
    placed = wire.placed_order(wire.envelope(raw).data)
    assert parse.dec(placed.quantity, "quantity") == Decimal("0.1")


async def test_unknown_status_frame_still_delivers_its_fill(
    venue_for: Callable[[bytes], Any],
) -> None:
    raw = (HERE / "docs_v3_stream_order_trade_update_unknown_status.json").read_bytes()
    events = await d_stream(await venue_for(b"{}"), raw)
    assert [e.kind for e in events] == [EventKind.ACK, EventKind.FILL]
    fill = events[1]
    assert (fill.last_qty, fill.last_price, fill.cum_qty) == (
        Decimal(10),
        Decimal("3.4367"),
        Decimal(10),
    )
    assert fill.fee == Decimal("0.00145488")


async def test_blank_usdc_row_does_not_break_the_balance(
    venue_for: Callable[[bytes], Any],
) -> None:
    raw = (HERE / "jkorf_get_balances2.json").read_bytes()
    (report,) = await d_balance_v3(await venue_for(raw), raw)
    assert (report.wallet, report.available) == (Decimal("300.0000"), Decimal("300.0000"))


async def test_filled_with_a_zero_cumulative_quantity_is_asked_about_not_assumed(
    venue_for: Callable[[bytes], Any],
) -> None:
    # the 2023 docs' example says X FILLED with z 0: no fill is invented, the order
    # stays followed and the venue is asked about it
    raw = (HERE / "doc23_stream_order_trade_update.json").read_bytes()
    venue = await venue_for(b'{"code":0,"msg":"","data":{"orders":[]}}')
    events = await d_stream(venue, raw)
    assert [e.kind for e in events] == [EventKind.ACK]
    assert [o.venue_order_id for o in venue._tracker.live()] == ["1627970445070303232"]
    assert venue._gap_task is not None
