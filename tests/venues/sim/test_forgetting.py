"""With ``keep_finished=N`` the sim engine forgets finished orders N finishes later, never a
working one, so a long backtest's memory does not grow with its orders."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dita.kernel.model import EventKind, Instrument, OrderSide, OrderType
from dita.marketdata.model import Bar
from dita.venues.sim import OrderRequest, SimConfig, SimExchange
from dita.venues.sim.exchange import DEFAULT_ACCOUNT

BTC = Instrument("BTC-USDT", D("0.1"), D("0.001"), D("0.001"), D("1"))


def _sim(keep: int | None) -> SimExchange:
    return SimExchange(
        SimConfig(instruments=(BTC,), initial_balance=D(10_000_000), participation=D(1)),
        keep_finished=keep,
    )


def _bar(t: int, low: str, high: str) -> Bar:
    return Bar(
        "BTC-USDT", t * 60_000, D(high), D(high), D(low), D(low), D(100), t * 60_000 + 59_999
    )


def _limit(
    cid: str, price: str, side: OrderSide = OrderSide.BUY, qty: str = "0.010"
) -> OrderRequest:
    return OrderRequest(cid, "BTC-USDT", side, OrderType.LIMIT, D(qty), D(price))


def test_finished_orders_are_forgotten_after_n_more_finish_working_ones_never() -> None:
    sim = _sim(3)
    sim.on_bar(_bar(0, "100", "101"))
    sim.submit(_limit("rest", "50.0", qty="1.000"), 60_000)  # never crosses: works throughout
    for i in range(6):
        sim.submit(_limit(f"o{i}", "100.0"), 60_000 + i)
    sim.on_bar(_bar(2, "99", "100"))  # fills o0..o5 in order
    assert [sim.order(f"o{i}") is None for i in range(6)] == [True] * 3 + [False] * 3
    assert sim.order("rest") is not None and sim.order("rest").status.is_live  # type: ignore[union-attr]
    assert sim.order_by_venue_id(sim.order("o5").venue_order_id) is not None  # type: ignore[union-attr]
    # a forgotten order is unknown to a cancel; a remembered finished one is "finished"
    [gone] = sim.cancel("o0", 180_000)
    [kept] = sim.cancel("o5", 180_000)
    assert gone.kind is EventKind.CANCEL_REJECT and gone.reason.startswith("UNKNOWN_ORDER")
    assert kept.kind is EventKind.CANCEL_REJECT and kept.reason.startswith("ORDER_FINISHED")
    # a rejected order is finished too
    sim.submit(OrderRequest("bad", "BTC-USDT", OrderSide.BUY, OrderType.LIMIT, D("0.0101"),
                            D("100.0")), 180_000)  # fmt: skip
    assert sim.order("bad") is not None and sim.order("o3") is None
    assert len(sim._account(DEFAULT_ACCOUNT).orders) == 4  # rest + the last 3 finished


def test_without_keep_finished_every_order_is_kept() -> None:
    sim = _sim(None)
    sim.on_bar(_bar(0, "100", "101"))
    for i in range(20):
        sim.submit(_limit(f"o{i}", "100.0"), 60_000)
    sim.on_bar(_bar(2, "99", "100"))
    assert all(sim.order(f"o{i}") is not None for i in range(20))


def test_keep_finished_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="keep_finished must be >= 0, got -1"):
        _sim(-1)


@settings(max_examples=40, deadline=None)
@given(
    keep=st.integers(0, 5),
    steps=st.lists(st.tuples(st.sampled_from("bsc"), st.integers(0, 30)), max_size=60),
)
def test_forgetting_changes_no_event_of_a_run_that_never_looks_back(
    keep: int, steps: list[tuple[str, int]]
) -> None:
    # A driver that only cancels working orders (as the kernel does) sees the same events
    # whatever the engine remembers.
    a, b = _sim(keep), _sim(None)
    t = 0
    for sim in (a, b):
        sim.on_bar(_bar(0, "100", "101"))
    for n, (what, x) in enumerate(steps):
        t += 60_000
        outs = []
        for sim in (a, b):
            match what:
                case "b":
                    out = sim.on_bar(_bar(t // 60_000, str(95 + x % 10), "105"))
                case "s":
                    side = OrderSide.BUY if x % 2 else OrderSide.SELL
                    out = sim.submit(_limit(f"c{n}", str(95 + x % 10) + ".0", side), t)
                case _:
                    live = [r.client_order_id for r in sim.open_orders()]
                    out = sim.cancel(live[x % len(live)], t) if live else []
            outs.append(out)
        assert outs[0] == outs[1]
    assert len(a._account(DEFAULT_ACCOUNT).orders) <= len(a.open_orders()) + keep
