"""Kernel throughput: venue events per second and intent -> command latency.

Workload: per trade, a LIMIT entry acked and filled in 10 partial fills, then
a two-leg exit (each leg acked and filled in 5 partial fills), over N slots
round-robin. Events are built before timing; only kernel calls are timed.

Reproduce:  .venv/bin/python bench/kernel_bench.py --trades 20000
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from decimal import Decimal

from dita.kernel import (
    Action,
    EventKind,
    Instrument,
    Kernel,
    KernelIntent,
    OrderType,
    Side,
    VenueEvent,
)

D = Decimal
BTC = Instrument("BTC-USDT", D("0.1"), D("0.001"), D("0.001"), D("5"))


def fills(cid: str, qty: Decimal, n: int, price: Decimal, tag: str) -> list[VenueEvent]:
    part = qty / n
    out = [VenueEvent(f"{tag}-a", 0, EventKind.ACK, cid, f"v{tag}")]
    for i in range(n):
        out.append(
            VenueEvent(
                f"{tag}-{i}",
                i,
                EventKind.FILL if i == n - 1 else EventKind.PARTIAL_FILL,
                cid,
                last_qty=part,
                last_price=price,
                cum_qty=part * (i + 1),
                fee=D("0.0125"),
            )
        )
    return out


def run(trades: int, slots: int) -> None:
    k = Kernel(slots=slots, instruments=[BTC], initial_capital=D("1000000000"))
    events = 0
    latencies: list[int] = []
    event_ns = 0
    gc.disable()
    t_all = time.perf_counter_ns()
    for t in range(trades):
        slot = t % slots
        intent = KernelIntent(
            f"i{t}",
            t,
            slot,
            Action.ENTER,
            f"t{t}",
            "BTC-USDT",
            Side.LONG,
            D("1.000"),
            OrderType.LIMIT,
            D("50000.0"),
            exit_leg_ratios=(D("0.5"), D("0.5")),
        )
        t0 = time.perf_counter_ns()
        out = k.process_intent(intent)
        latencies.append(time.perf_counter_ns() - t0)
        assert out.accepted, out.message
        entry_events = fills(
            out.commands[0].order.client_order_id, D("1.000"), 10, D("50000"), f"e{t}"
        )
        t0 = time.perf_counter_ns()
        for e in entry_events:
            k.on_venue_event(e)
        event_ns += time.perf_counter_ns() - t0
        events += len(entry_events)
        for leg in range(2):
            x = KernelIntent(f"x{t}-{leg}", t, slot, Action.EXIT, reference_price=D("50100"))
            t0 = time.perf_counter_ns()
            out = k.process_intent(x)
            latencies.append(time.perf_counter_ns() - t0)
            assert out.accepted, out.message
            leg_events = fills(
                out.commands[0].order.client_order_id, D("0.500"), 5, D("50100"), f"x{t}-{leg}"
            )
            t0 = time.perf_counter_ns()
            for e in leg_events:
                k.on_venue_event(e)
            event_ns += time.perf_counter_ns() - t0
            events += len(leg_events)
    total = time.perf_counter_ns() - t_all
    gc.enable()
    assert k.check_invariants() == []
    lat = sorted(latencies)
    print(f"trades:            {trades} over {slots} slots")
    print(f"venue events:      {events}")
    print(f"events/s:          {events / (event_ns / 1e9):,.0f}  (kernel time on events only)")
    print(
        f"intent->command:   median {statistics.median(lat) / 1000:.1f} us, p99 {lat[int(len(lat) * 0.99)] / 1000:.1f} us"
    )
    print(f"wall (incl. building events): {total / 1e9:.2f} s")
    print(f"final capital:     {k.account.capital}")
    print(
        "reproduce:         .venv/bin/python bench/kernel_bench.py "
        f"--trades {trades} --slots {slots}"
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--trades", type=int, default=20_000)
    ap.add_argument("--slots", type=int, default=8)
    a = ap.parse_args()
    run(a.trades, a.slots)
