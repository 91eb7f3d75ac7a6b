"""Hedge position mode in the matching engine: a LONG and a SHORT position per symbol.

Examples pin the rules (which side an order moves, closes are reduce-only by
nature, refusals name the position side); properties check over random flow
that one-way and hedge mode agree event for event when only one side is ever
used, that no fill ever takes a hedge side past flat, and that the capital
identity ``wallet = initial + realised - fees + funding`` holds exactly at
every step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dita.kernel.model import EventKind, OrderSide, OrderStatus, OrderType, PositionMode, Side
from dita.marketdata import Bar
from dita.venues.base import PositionReport
from dita.venues.sim import OrderRequest, RejectCode, SimExchange, hedge_side, reject_code
from tests.venues.sim.helpers import BUY, SELL, SYM, T0, D, bar, make

LONG, SHORT = Side.LONG, Side.SHORT
FILLS = (EventKind.PARTIAL_FILL, EventKind.FILL)
TICK = D("0.1")  # the flows' price step


def hedged(**overrides: object) -> SimExchange:
    return make(("main",), position_mode=PositionMode.HEDGE, **overrides)


def mkt(
    cid: str, side: OrderSide, qty: str, ps: Side | None = None, *, ro: bool = False
) -> OrderRequest:
    return OrderRequest(cid, SYM, side, OrderType.MARKET, D(qty), None, ro, ps)


def lim(cid: str, side: OrderSide, qty: str, price: str, ps: Side | None = None) -> OrderRequest:
    return OrderRequest(cid, SYM, side, OrderType.LIMIT, D(qty), D(price), False, ps)


def prime(x: SimExchange, price: str = "100") -> None:
    x.on_bar(bar(0, price, price, price, price))


def test_long_and_short_side_by_side_and_a_close_realises_only_its_side() -> None:
    x = hedged()
    prime(x)
    x.submit(mkt("l", BUY, "2", LONG), T0 + 1)
    x.submit(mkt("s", SELL, "1", SHORT), T0 + 1)
    x.on_bar(bar(1, "100", "100", "100", "100"))
    assert x.position_qty(SYM, position_side=LONG) == D(2)
    assert x.position_qty(SYM, position_side=SHORT) == D(-1)
    assert x.position_qty(SYM) == D(1)  # the net
    assert sorted(x.positions(), key=lambda p: p.side) == [
        PositionReport(SYM, LONG, D(2), D(100)),
        PositionReport(SYM, SHORT, D(1), D(100)),
    ]
    # SELL on LONG closes the long at 110 (+20); the short is untouched.
    x.submit(mkt("c", SELL, "2", LONG), T0 + 60_001)
    events = x.on_bar(bar(2, "110", "110", "110", "110"))
    assert [e.kind for e in events] == [EventKind.FILL]
    assert x.position_qty(SYM, position_side=LONG) == 0
    assert x.position_qty(SYM, position_side=SHORT) == D(-1)
    assert x.realized_pnl() == D(20)
    fees = D("0.1") + D("0.05") + D("0.11")  # taker 5 bps of 200, 100, 220
    assert x.balance().wallet == D(100_000) + D(20) - fees


def test_a_hedge_close_is_reduce_only_by_nature() -> None:
    x = hedged()
    prime(x)
    x.submit(mkt("l", BUY, "1", LONG), T0 + 1)
    x.on_bar(bar(1, "100", "100", "100", "100"))
    events = x.submit(mkt("big", SELL, "2", LONG), T0 + 60_001)  # more than held
    assert [e.kind for e in events] == [EventKind.REJECT]
    assert reject_code(events[0]) is RejectCode.REDUCE_ONLY
    events = x.submit(mkt("none", BUY, "1", SHORT), T0 + 60_001)  # no short to close
    assert reject_code(events[0]) is RejectCode.REDUCE_ONLY
    assert "no position" in events[0].reason
    # reduce-only on the opening side would increase it: refused
    events = x.submit(mkt("ro", BUY, "1", LONG, ro=True), T0 + 60_001)
    assert reject_code(events[0]) is RejectCode.REDUCE_ONLY
    # a close needs no margin and is exempt from the minimums when it closes all
    assert x.submit(mkt("all", SELL, "1", LONG), T0 + 60_001)[0].kind is EventKind.ACK


def test_a_resting_close_expires_when_its_side_closed_meanwhile() -> None:
    x = hedged()
    prime(x)
    x.submit(mkt("l", BUY, "1", LONG), T0 + 1)
    x.on_bar(bar(1, "100", "100", "100", "100"))
    x.submit(lim("tp", SELL, "1", "120", LONG), T0 + 60_001)
    x.submit(mkt("out", SELL, "1", LONG), T0 + 60_001)
    x.on_bar(bar(2, "100", "100", "100", "100"))
    events = x.on_bar(bar(3, "120", "125", "120", "120"))
    assert [e.kind for e in events] == [EventKind.EXPIRED]
    assert reject_code(events[0]) is RejectCode.REDUCE_ONLY
    assert x.position_qty(SYM, position_side=SHORT) == 0  # never opened the other side


def test_without_a_position_side_an_order_goes_where_the_bingx_adapter_sends_it() -> None:
    assert hedge_side(BUY, False) is LONG and hedge_side(SELL, False) is SHORT
    assert hedge_side(SELL, True) is LONG and hedge_side(BUY, True) is SHORT
    x = hedged()
    prime(x)
    x.submit(mkt("l", BUY, "1"), T0 + 1)
    x.submit(mkt("s", SELL, "1"), T0 + 1)
    x.on_bar(bar(1, "100", "100", "100", "100"))
    assert x.position_qty(SYM, position_side=LONG) == 1
    assert x.position_qty(SYM, position_side=SHORT) == -1
    x.submit(mkt("cl", SELL, "1", ro=True), T0 + 60_001)
    x.on_bar(bar(2, "100", "100", "100", "100"))
    assert x.position_qty(SYM, position_side=LONG) == 0
    assert x.position_qty(SYM, position_side=SHORT) == -1


def test_one_way_refuses_a_position_side() -> None:
    x = make()
    prime(x)
    events = x.submit(mkt("l", BUY, "1", LONG), T0 + 1)
    assert reject_code(events[0]) is RejectCode.POSITION_SIDE
    assert x.order("l") is not None and x.order("l").status is OrderStatus.REJECTED  # type: ignore[union-attr]


def test_position_mode_changes_only_when_flat_and_idle() -> None:
    x = make()
    prime(x)
    assert x.position_mode() is PositionMode.ONE_WAY
    x.submit(lim("w", BUY, "1", "90"), T0 + 1)
    with pytest.raises(ValueError, match="position mode"):
        x.set_position_mode(PositionMode.HEDGE)
    x.cancel("w", T0 + 1)
    x.set_position_mode(PositionMode.HEDGE)
    assert x.position_mode() is PositionMode.HEDGE
    x.submit(mkt("l", BUY, "1", LONG), T0 + 1)
    x.on_bar(bar(1, "100", "100", "100", "100"))
    with pytest.raises(ValueError, match="position mode"):
        x.set_position_mode(PositionMode.ONE_WAY)
    assert x.position_mode() is PositionMode.HEDGE


def test_leverage_per_hedge_side_sets_the_margin_each_side_needs() -> None:
    x = hedged(initial_balance=D(1_000))
    prime(x)
    x.set_leverage(SYM, D(10), position_side=LONG)
    assert x.leverage(SYM, position_side=LONG) == 10
    assert x.leverage(SYM, position_side=SHORT) == 1  # the config's
    assert x.submit(mkt("l", BUY, "50", LONG), T0 + 1)[0].kind is EventKind.ACK  # 5000 / 10
    refused = x.submit(mkt("s", SELL, "11", SHORT), T0 + 1)  # 1100 / 1 > 1000 - 500
    assert reject_code(refused[0]) is RejectCode.INSUFFICIENT_MARGIN


def test_funding_charges_each_side_on_its_own() -> None:
    x = hedged(funding_rate=D("0.001"))
    prime(x)
    x.submit(mkt("l", BUY, "3", LONG), T0 + 1)
    x.submit(mkt("s", SELL, "1", SHORT), T0 + 1)
    x.on_bar(bar(1, "100", "100", "100", "100"))
    events = x.advance(T0 + 8 * 3_600_000)
    amounts = sorted(e.amount for e in events if e.kind is EventKind.FUNDING and e.amount)
    assert amounts == [D("-0.3"), D("0.1")]  # the long pays, the short receives


# ------------------------------------------------------------------ properties

side_st = st.sampled_from([OrderSide.BUY, OrderSide.SELL])
pside_st = st.sampled_from([LONG, SHORT])
# ("open"|"close", market?, qty in 0.01, limit offset in ticks)
flow_step_st = st.one_of(
    st.tuples(
        st.sampled_from(["open", "close"]), st.booleans(), st.integers(1, 40), st.integers(-20, 20)
    ),
    st.tuples(
        st.just("bar"),
        st.integers(-20, 20),
        st.integers(0, 20),
        st.integers(0, 20),
        st.integers(0, 60),
    ),
    st.tuples(st.just("wait"), st.integers(0, 9 * 3_600_000)),
    st.tuples(st.just("cancel"), st.integers(0, 40)),
)


@dataclass(frozen=True)
class OneSided:
    long: bool
    latency_ms: int
    steps: list[tuple[Any, ...]]


def first_bar() -> Bar:
    """The bar every flow starts from: 100 flat, thin volume."""
    return bar(0, "100", "100", "100", "100", "10")


def flow_bar(i: int, t: int, last: D, o: int, h: int, lo: int, v: int) -> tuple[int, Bar]:
    """The bar of a flow's ``("bar", o, h, lo, v)`` step and its index: the next minute after
    bar ``i`` and time ``t``, opening ``o`` ticks from ``last`` (never below 20 ticks), ``h``
    ticks high, ``lo`` ticks low (never below one tick), closing at its open."""
    i = max(i + 1, (t - T0) // 60_000 + 1)
    op = max(last + o * TICK, 20 * TICK)
    b = bar(
        i,
        str(op),
        str(op + h * TICK),
        str(max(op - lo * TICK, TICK)),
        str(op),
        str(D(v) / 10),
    )
    return i, b


def drive(x: SimExchange, steps: list[tuple[Any, ...]], orders: Any, latency: int) -> list[Any]:
    """Feed ``steps`` to ``x``; ``orders(n, kind, market, qty, price)`` makes the request."""
    last, t, i = D(100), T0, 0
    out: list[Any] = []
    out += x.on_bar(first_bar())
    cids: list[str] = []
    for n, step in enumerate(steps):
        match step:
            case (("open" | "close") as what, is_market, k, off):
                price = max(last + off * TICK, TICK)
                req = orders(f"o{n}", what, is_market, D(k) * D("0.01"), price)
                cids.append(req.client_order_id)
                out += x.submit(req, t)
            case ("bar", o, h, lo, v):
                i, b = flow_bar(i, t, last, o, h, lo, v)
                out += x.on_bar(b)
                last, t = b.open, b.ts
            case ("wait", ms):
                t += ms
                out += x.advance(t)
            case ("cancel", j):
                if cids:
                    out += x.cancel(cids[j % len(cids)], t)
        out.append(("state", x.balance(), x.positions(), x.realized_pnl()))
    t += 2 * latency + 1
    out += x.advance(t)
    return out


@settings(max_examples=120, deadline=None)
@given(
    st.builds(
        OneSided,
        long=st.booleans(),
        latency_ms=st.sampled_from([0, 0, 40]),
        steps=st.lists(flow_step_st, max_size=40),
    )
)
def test_one_way_and_hedge_agree_when_only_one_side_is_used(sc: OneSided) -> None:
    opener, closer = (BUY, SELL) if sc.long else (SELL, BUY)

    def orders(hedge: bool) -> Any:
        def make_req(cid: str, what: str, is_market: bool, qty: D, price: D) -> OrderRequest:
            side = opener if what == "open" else closer
            ps = (LONG if sc.long else SHORT) if hedge else None
            # one-way: closes are reduce-only; hedge: a close is one by its side alone
            ro = what == "close" and not hedge
            otype = OrderType.MARKET if is_market else OrderType.LIMIT
            return OrderRequest(cid, SYM, side, otype, qty, None if is_market else price, ro, ps)

        return make_req

    one = drive(
        make(latency_ms=sc.latency_ms, funding_rate=D("0.0003")),
        sc.steps,
        orders(False),
        sc.latency_ms,
    )
    two = drive(
        hedged(latency_ms=sc.latency_ms, funding_rate=D("0.0003")),
        sc.steps,
        orders(True),
        sc.latency_ms,
    )
    assert one == two


@dataclass(frozen=True)
class TwoSided:
    latency_ms: int
    steps: list[tuple[Any, ...]]


two_sided_step_st = st.one_of(
    st.tuples(
        st.just("order"),
        side_st,
        pside_st,
        st.booleans(),
        st.booleans(),
        st.integers(1, 40),
        st.integers(-20, 20),
    ),
    flow_step_st,
)


@settings(max_examples=150, deadline=None)
@given(
    st.builds(
        TwoSided,
        latency_ms=st.sampled_from([0, 0, 40]),
        steps=st.lists(two_sided_step_st, max_size=50),
    )
)
def test_hedge_sides_never_flip_and_the_capital_identity_is_exact(sc: TwoSided) -> None:
    x = hedged(latency_ms=sc.latency_ms, funding_rate=D("0.0003"))
    initial = x.balance().wallet
    fees = funding = D(0)
    cash = D(0)  # sell proceeds - buy cost
    requests: dict[str, OrderRequest] = {}
    last, t, i = D(100), T0, 0

    def account(events: list[Any]) -> None:
        nonlocal fees, funding, cash
        for e in events:
            if e.kind in FILLS:
                req = requests[e.client_order_id]
                fees += e.fee
                value = e.last_qty * e.last_price
                cash += value if req.side is SELL else -value
            elif e.kind is EventKind.FUNDING:
                funding += e.amount
        assert x.position_qty(SYM, position_side=LONG) >= 0
        assert x.position_qty(SYM, position_side=SHORT) <= 0
        assert x.balance().wallet == initial + x.realized_pnl() - fees + funding

    account(x.on_bar(first_bar()))
    for n, step in enumerate(sc.steps):
        match step:
            case ("order", side, ps, ro, is_market, k, off):
                price = None if is_market else max(last + off * TICK, TICK)
                otype = OrderType.MARKET if is_market else OrderType.LIMIT
                req = OrderRequest(f"o{n}", SYM, side, otype, D(k) * D("0.01"), price, ro, ps)
                requests[req.client_order_id] = req
                account(x.submit(req, t))
            case ("bar", o, h, lo, v):
                i, b = flow_bar(i, t, last, o, h, lo, v)
                account(x.on_bar(b))
                last, t = b.open, b.ts
            case ("wait", ms):
                t += ms
                account(x.advance(t))
            case ("cancel", j):
                if requests:
                    account(x.cancel(list(requests)[j % len(requests)], t))
            case _:
                pass
    # Flatten both sides: then every realised PnL is cash that came back.
    t += 2 * sc.latency_ms + 1
    account(x.advance(t))
    for report in x.open_orders():
        account(x.cancel(report.client_order_id, t))
    for ps, side in ((LONG, SELL), (SHORT, BUY)):
        held = abs(x.position_qty(SYM, position_side=ps))
        if held:
            req = OrderRequest(f"flat-{ps}", SYM, side, OrderType.MARKET, held, None, False, ps)
            requests[req.client_order_id] = req
            account(x.submit(req, t))
    t += 2 * sc.latency_ms + 1
    account(x.advance(t))
    i = max(i + 1, (t - T0) // 60_000 + 1)
    account(x.on_bar(bar(i, str(last), str(last), str(last), str(last), "1000")))
    assert x.positions() == []
    assert x.realized_pnl() == cash
    assert x.balance().wallet == initial + cash - fees + funding
