"""Properties of the matching engine over random order flow and random markets (hypothesis).

* determinism: the same config and inputs give the identical event list;
* conservation: per order, fills' ``last_qty`` sum to ``cum_qty``, which only
  grows, never passes the order quantity, and equals what the venue reports;
* fees are exactly ``qty * price * rate`` rounded half-up to the quantum;
* no bar gives limit orders of one side more than ``participation`` x volume;
* money: once everything is closed, wallet = initial + sell proceeds - buy
  cost - fees + funding, to the last digit.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dita.kernel.instruments import floor_to
from dita.kernel.model import EventKind, OrderSide, OrderStatus, OrderType, VenueEvent
from dita.venues.sim import FeeSchedule, OrderRequest, RandomBps, SimConfig, SimExchange
from tests.venues.sim.helpers import BTC, SYM, T0, D, bar

# Rates with 6 decimals make qty * price * rate run past the 8-decimal fee scale: rounding is exercised.
FEES = FeeSchedule(maker=D("-0.000125"), taker=D("0.000455"))
FILLS = (EventKind.PARTIAL_FILL, EventKind.FILL)

side_st = st.sampled_from([OrderSide.BUY, OrderSide.SELL])
limit_st = st.tuples(
    st.just("limit"), side_st, st.integers(1, 40), st.integers(-30, 30), st.booleans()
)
market_st = st.tuples(st.just("market"), side_st, st.integers(1, 40), st.booleans())
cancel_st = st.tuples(st.just("cancel"), st.integers(0, 60))
bar_st = st.tuples(
    st.just("bar"),
    st.integers(-20, 20),  # open vs last close, ticks
    st.integers(0, 30),  # high above max(open, close)
    st.integers(0, 30),  # low below min(open, close)
    st.integers(-20, 20),  # close vs open
    st.integers(0, 60),  # volume in 0.1
)
wait_st = st.tuples(st.just("wait"), st.integers(0, 12 * 3_600_000))
# Bars and limit orders weigh more: they are where matching happens.
step_st = st.one_of(bar_st, limit_st, bar_st, limit_st, market_st, cancel_st, wait_st)


@dataclass(frozen=True)
class Scenario:
    seed: int
    latency_ms: int
    participation: str
    steps: list[tuple[Any, ...]]


scenario_st = st.builds(
    Scenario,
    seed=st.integers(0, 2**32),
    latency_ms=st.sampled_from([0, 0, 40, 1500]),
    participation=st.sampled_from(["0.1", "0.5", "1"]),
    steps=st.lists(step_st, min_size=20, max_size=80),
)


@dataclass
class Run:
    events: list[VenueEvent]
    requests: dict[str, OrderRequest]
    bar_fills: list[tuple[Any, list[VenueEvent]]]
    exchange: SimExchange


def run(sc: Scenario) -> Run:
    x = SimExchange(
        SimConfig(
            instruments=(BTC,),
            initial_balance=D(50_000),
            leverage=D(5),
            fees=FEES,
            slippage=RandomBps(D(4)),
            participation=D(sc.participation),
            latency_ms=sc.latency_ms,
            latency_jitter_ms=sc.latency_ms // 4,
            funding_rate=D("0.0001"),
            seed=sc.seed,
        )
    )
    tick = BTC.tick_size
    events: list[VenueEvent] = []
    requests: dict[str, OrderRequest] = {}
    bar_fills: list[tuple[Any, list[VenueEvent]]] = []
    t = T0
    i = 0
    last = D(1000)
    events += x.on_bar(bar(0, "1000", "1000", "1000", "1000"))
    for n, step in enumerate(sc.steps):
        t += 1000
        match step:
            case ("limit", side, k, off, ro):
                price = max(last + off * tick, tick)
                req = OrderRequest(f"o{n}", SYM, side, OrderType.LIMIT, D(k) * D("0.01"), price, ro)
                requests[req.client_order_id] = req
                events += x.submit(req, t)
            case ("market", side, k, ro):
                req = OrderRequest(f"o{n}", SYM, side, OrderType.MARKET, D(k) * D("0.01"), None, ro)
                requests[req.client_order_id] = req
                events += x.submit(req, t)
            case ("cancel", j):
                cids = list(requests)
                if cids:
                    events += x.cancel(cids[j % len(cids)], t)
            case ("bar", o, h, lo, c, v):
                i = max(i + 1, (t - T0) // 60_000 + 1)
                op = max(last + o * tick, 20 * tick)
                cl = max(op + c * tick, 20 * tick)
                b = bar(
                    i,
                    str(op),
                    str(max(op, cl) + h * tick),
                    str(max(min(op, cl) - lo * tick, tick)),
                    str(cl),
                    str(D(v) / 10),
                )
                got = x.on_bar(b)
                bar_fills.append((b, [e for e in got if e.kind in FILLS]))
                events += got
                last = cl
                t = b.ts
            case ("wait", ms):
                t += ms
                events += x.advance(t)
    # Close everything: let what is in flight arrive, cancel what works, flatten, one last bar.
    settle = 2 * sc.latency_ms + 1
    t += settle
    events += x.advance(t)
    for report in x.open_orders():
        events += x.cancel(report.client_order_id, t)
    t += settle
    events += x.advance(t)
    pos = x.position_qty(SYM)
    if pos:
        side = OrderSide.SELL if pos > 0 else OrderSide.BUY
        req = OrderRequest("flat", SYM, side, OrderType.MARKET, abs(pos), None, True)
        requests["flat"] = req
        events += x.submit(req, t)
    t += settle
    events += x.advance(t)
    i = max(i + 1, (t - T0) // 60_000 + 1)
    events += x.on_bar(bar(i, str(last), str(last), str(last), str(last), "1"))
    return Run(events, requests, bar_fills, x)


@settings(max_examples=150, deadline=None)
@given(scenario_st)
def test_same_inputs_same_events(sc: Scenario) -> None:
    assert run(sc).events == run(sc).events


@settings(max_examples=200, deadline=None)
@given(scenario_st)
def test_fills_conserve_quantity_and_fees_are_exact(sc: Scenario) -> None:
    r = run(sc)
    assert len({e.event_id for e in r.events}) == len(r.events)
    filled: dict[str, D] = {}
    for e in r.events:
        if e.kind is EventKind.FUNDING:
            continue
        cid = e.client_order_id
        before = filled.get(cid, D(0))
        if e.kind in FILLS:
            assert e.last_qty is not None and e.last_qty > 0 and e.last_price is not None
            assert e.cum_qty == before + e.last_qty
            assert e.cum_qty <= r.requests[cid].quantity
            assert (e.kind is EventKind.FILL) == (e.cum_qty == r.requests[cid].quantity)
            rate = FEES.maker if e.reason == "maker" else FEES.taker
            assert e.fee == (e.last_qty * e.last_price * rate).quantize(
                FEES.quantum, rounding=ROUND_HALF_UP
            )
            filled[cid] = e.cum_qty
        elif e.kind is not EventKind.CANCEL_REJECT or e.venue_order_id:
            assert e.cum_qty == before, e
    for cid in r.requests:
        report = r.exchange.order(cid)
        if report is not None:
            assert report.cum_qty == filled.get(cid, D(0))
            assert report.status is not OrderStatus.WORKING  # everything was closed


@settings(max_examples=200, deadline=None)
@given(scenario_st)
def test_limit_fills_never_exceed_participation_of_bar_volume(sc: Scenario) -> None:
    r = run(sc)
    for b, fills in r.bar_fills:
        cap = floor_to(b.volume * D(sc.participation), BTC.step_size)
        for side in OrderSide:
            limit_qty = sum(
                (e.last_qty or D(0))
                for e in fills
                if r.requests[e.client_order_id].side is side
                and r.requests[e.client_order_id].order_type is OrderType.LIMIT
            )
            assert limit_qty <= cap


@settings(max_examples=200, deadline=None)
@given(scenario_st)
def test_wallet_is_exactly_cash_flow_when_flat(sc: Scenario) -> None:
    r = run(sc)
    assert r.exchange.positions() == []
    cash = D(0)
    for e in r.events:
        match e.kind:
            case EventKind.PARTIAL_FILL | EventKind.FILL:
                assert e.last_qty is not None and e.last_price is not None
                sign = 1 if r.requests[e.client_order_id].side is OrderSide.SELL else -1
                cash += sign * e.last_qty * e.last_price - e.fee
            case EventKind.FUNDING:
                assert e.amount is not None
                cash += e.amount
            case _:
                pass
    balance = r.exchange.balance()
    assert balance.wallet == D(50_000) + cash
    assert balance.available == balance.wallet
