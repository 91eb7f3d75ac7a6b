"""Sim throughput: synthetic bars generated and bars matched per second.

Workload: N synthetic BTC-USDT 1m bars; every 10th bar a LIMIT buy 5 ticks
below the close and a reduce-only LIMIT sell 5 ticks above it when long, so
orders rest, fill partly by participation (10% of bar volume) and get
cancelled; latency 50 ms, random slippage, funding every 8 h.

Reproduce:  .venv/bin/python bench/sim_bench.py --bars 1000000
"""

from __future__ import annotations

import argparse
import time
from decimal import Decimal

from dita.kernel.model import Instrument, OrderSide, OrderType
from dita.marketdata import synthetic_bars
from dita.venues.sim import OrderRequest, RandomBps, SimConfig, SimExchange

D = Decimal
BTC = Instrument("BTC-USDT", D("0.1"), D("0.001"), D("0.001"), D("5"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bars", type=int, default=200_000)
    args = ap.parse_args()
    n = args.bars

    t = time.perf_counter()
    count = sum(1 for _ in synthetic_bars(BTC.symbol, n, 1, D("42000")))
    gen = time.perf_counter() - t
    print(f"generate: {count:,} bars in {gen:.2f}s = {count / gen:,.0f} bars/s")

    sim = SimExchange(
        SimConfig(
            instruments=(BTC,),
            initial_balance=D(1_000_000),
            slippage=RandomBps(D(2)),
            latency_ms=50,
            participation=D("0.1"),
            seed=1,
        )
    )
    events = 0
    orders = 0
    t = time.perf_counter()
    for i, bar in enumerate(synthetic_bars(BTC.symbol, n, 1, D("42000"))):
        events += len(sim.on_bar(bar))
        if i % 10 == 0:
            now = bar.close_ts
            for report in sim.open_orders():
                events += len(sim.cancel(report.client_order_id, now))
            orders += 1
            buy = OrderRequest(
                f"b{i}", BTC.symbol, OrderSide.BUY, OrderType.LIMIT, D("2"), bar.close - D("0.5")
            )
            events += len(sim.submit(buy, now))
            pos = sim.position_qty(BTC.symbol)
            if pos > 0:
                orders += 1
                sell = OrderRequest(
                    f"s{i}",
                    BTC.symbol,
                    OrderSide.SELL,
                    OrderType.LIMIT,
                    pos,
                    bar.close + D("0.5"),
                    True,
                )
                events += len(sim.submit(sell, now))
    run = time.perf_counter() - t
    print(
        f"match:    {n:,} bars (incl. generation), {orders:,} orders, {events:,} events "
        f"in {run:.2f}s = {n / run:,.0f} bars/s, {events / run:,.0f} events/s"
    )
    b = sim.balance()
    print(f"final wallet {b.wallet} {b.asset}, position {sim.position_qty(BTC.symbol)}")


if __name__ == "__main__":
    main()
