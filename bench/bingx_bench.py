"""Round-trip latency of the BingX adapter against the loopback emulator.

Measures, over real loopback HTTP + WebSocket (127.0.0.1 only):
  * submit -> ack : a LIMIT order far from the market (rests), from the call to
    ``venue.submit`` until its ACK event comes out of ``venue.events()``;
  * submit -> fill: a MARKET order, from the call until its FILL event.
The adapter's client-side rate limiter is raised for the run (``--rate``) so
that the numbers are the round trip, not BingX's 5 orders/s pacing; with
``--rate 5`` you see what a real account would.

Reproduce:  .venv/bin/python bench/bingx_bench.py --orders 300
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from decimal import Decimal

import httpx

from dita.kernel.model import EventKind, Order, OrderPurpose, OrderSide, OrderStatus, OrderType
from dita.venues.bingx import BingxConfig, BingxVenue, Credentials, Endpoints
from dita.venues.bingx.venue import DEFAULT_RATE_LIMITS, ORDER
from dita.venues.bingx_emulator import BingxEmulator

D = Decimal
KEY, SECRET = "bench-key", "bench-secret"


def order(
    cid: str, side: OrderSide, qty: str, price: str | None, reduce_only: bool = False
) -> Order:
    return Order(
        client_order_id=cid, venue_order_id="", slot_id=0, trade_id="bench", asset="BTC-USDT",
        side=side, order_type=OrderType.LIMIT if price else OrderType.MARKET, quantity=D(qty),
        limit_price=D(price) if price else None, reduce_only=reduce_only,
        purpose=OrderPurpose.EXIT if reduce_only else OrderPurpose.ENTRY, status=OrderStatus.REQUESTED,
        filled_qty=D(0), filled_cost=D(0), fees=D(0), acked=False, first_leg=-1, last_leg=-1,
    )  # fmt: skip


def summary(name: str, ns: list[int]) -> str:
    s = sorted(ns)
    p99 = s[min(len(s) - 1, int(len(s) * 0.99))]
    return f"{name:<15} n={len(s):<5} median {statistics.median(s) / 1e6:7.2f} ms   p99 {p99 / 1e6:7.2f} ms"


async def wait_for(events, cid: str, kind: EventKind):  # type: ignore[no-untyped-def]
    async for ev in events:
        if ev.client_order_id == cid and ev.kind is kind:
            return ev
    raise RuntimeError("event stream ended")


async def run(n: int, rate: float) -> None:
    async with BingxEmulator(KEY, SECRET, initial_balance=D(10_000_000)) as emu:
        await emu.set_price("BTC-USDT", D("60000"))
        limits = dict(DEFAULT_RATE_LIMITS)
        limits[ORDER] = rate
        async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as client:
            cfg = BingxConfig(endpoints=Endpoints.loopback(emu.port), rate_limits=limits)
            venue = BingxVenue(client, Credentials(KEY, SECRET), cfg)
            await venue.start()
            events = venue.events()
            acks: list[int] = []
            fills: list[int] = []
            try:
                for i in range(n):
                    resting = order(f"bench-a-{i}", OrderSide.BUY, "0.001", "30000.0")
                    t0 = time.perf_counter_ns()
                    await venue.submit(resting)
                    await asyncio.wait_for(
                        wait_for(events, resting.client_order_id, EventKind.ACK), 5
                    )
                    acks.append(time.perf_counter_ns() - t0)
                    await venue.cancel(resting)
                    await asyncio.wait_for(
                        wait_for(events, resting.client_order_id, EventKind.CANCEL_ACK), 5
                    )
                    side = OrderSide.BUY if i % 2 == 0 else OrderSide.SELL
                    market = order(f"bench-m-{i}", side, "0.001", None, reduce_only=i % 2 == 1)
                    t0 = time.perf_counter_ns()
                    await venue.submit(market)
                    await asyncio.wait_for(
                        wait_for(events, market.client_order_id, EventKind.FILL), 5
                    )
                    fills.append(time.perf_counter_ns() - t0)
            finally:
                await venue.close()
    print(f"BingX adapter <-> loopback emulator, {n} orders each, client rate limit {rate}/s")
    print(summary("submit -> ack", acks))
    print(summary("submit -> fill", fills))
    print(f"reproduce: .venv/bin/python bench/bingx_bench.py --orders {n} --rate {rate:g}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--orders", type=int, default=300)
    ap.add_argument(
        "--rate", type=float, default=1000.0, help="adapter's order-path rate limit, per second"
    )
    a = ap.parse_args()
    asyncio.run(run(a.orders, a.rate))
