"""A running pipeline's memory does not grow with the run: the realized-capital curve it keeps
is thinned to a bounded number of points (the journal has every one), and a backtest holds no
list of ended orders."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from dita.app.runner import execute, prepare_sim_run
from dita.clock import SimClock
from dita.engine import FORGET_CANCELS_AT, Backtest, Pipeline
from dita.kernel import (
    Action,
    EventKind,
    Kernel,
    KernelDiagnosticCode,
    KernelIntent,
    KernelOutcome,
    LedgerDelta,
    OrderType,
    Side,
    VenueEvent,
)
from dita.reporting.runstats import EQUITY_POINTS, RunStats
from dita.venues.sim.exchange import SimExchange
from tests.engine.test_recovery import CAP, INST, SYM, T0, Watcher


def _feed(stats: RunStats, moves: list[int]) -> None:
    ev = VenueEvent("e", 0, EventKind.FILL, "c")
    for n, m in enumerate(moves):
        out = KernelOutcome(True, KernelDiagnosticCode.OK, 0, None,
                            ledger=LedgerDelta(realized_pnl=D(m), fees=D("0.01")))  # fmt: skip
        stats.observe(ev, out, ts=n)


@settings(max_examples=60, deadline=None)
@given(
    cap=st.integers(2, 40),
    moves=st.lists(st.integers(-50, 50), min_size=0, max_size=400),
)
def test_a_capped_curve_is_bounded_and_an_even_subset_with_exact_totals(
    cap: int, moves: list[int]
) -> None:
    full, capped = RunStats(D(1000)), RunStats(D(1000))
    capped.equity_cap = cap
    _feed(full, moves)
    _feed(capped, moves)
    assert len(full.equity) == len(moves)
    assert len(capped.equity) < max(cap, 2)
    points = set(full.equity)
    assert all(p in points for p in capped.equity)
    assert capped.equity == sorted(capped.equity)
    if moves:
        assert capped.equity[0] == full.equity[0]  # the first change stays
        stride = capped._equity_stride
        assert capped.equity == full.equity[::stride]  # every stride-th change, evenly
    # the money is never thinned
    assert (capped.capital, capped.peak, capped.max_drawdown, capped.fees) == (
        full.capital, full.peak, full.max_drawdown, full.fees,
    )  # fmt: skip


def test_a_backtest_keeps_a_bounded_curve_and_no_ended_orders() -> None:
    run = prepare_sim_run()
    bt = Backtest(
        kernel=Kernel(run.slots, list(run.instruments), run.capital),
        venue=SimExchange(run.sim.config(run.instruments, run.capital, run.seed)),
        policy=run.policy, journal=None, clock=SimClock(),
    )  # fmt: skip
    result = bt.run(run.meta(), run.bars())
    assert result.stats.trades > 100
    assert 0 < len(result.stats.equity) < EQUITY_POINTS
    assert result.stats.equity_cap == EQUITY_POINTS
    assert bt.pipeline.ended_with_fills == []  # (only the live engine audits their fees)
    assert execute(prepare_sim_run()).stats == result.stats  # forgetting changes nothing


def test_requested_cancels_of_ended_orders_are_forgotten_those_that_can_matter_kept() -> None:
    # The ids whose cancel was requested are consulted only for orders still live or still
    # waiting to be sent; kept for every order, they grew by one per cancel (37,000 over a
    # million bars of bench/lifecycle_bench.py).
    clock = SimClock()
    clock.set(T0)
    p = Pipeline(Kernel(2, [INST], CAP), Watcher(), None, clock)
    held = p.submit_intents([_enter("held", 1)])[0].commands[0].order.client_order_id
    p.submit_intents([KernelIntent("held-x", T0, 1, Action.CANCEL, trade_id="held")])
    p.flush()  # slot 1: cancel requested, no answer yet (live)
    for n in range(FORGET_CANCELS_AT + 100):
        cid = p.submit_intents([_enter(f"t{n}", 0)])[0].commands[0].order.client_order_id
        p.submit_intents([KernelIntent(f"x{n}", T0, 0, Action.CANCEL, trade_id=f"t{n}")])
        p.flush()
        assert p.on_event(VenueEvent(f"a{n}", T0, EventKind.CANCEL_ACK, cid)).accepted
    assert len(p.cancel_requested) < FORGET_CANCELS_AT  # bounded, not one per cancel
    assert held in p.cancel_requested  # live with its cancel requested: kept
    order = p.kernel.order(held)
    assert order is not None and order.status.is_live


def _enter(trade_id: str, slot: int) -> KernelIntent:
    return KernelIntent(
        f"e-{trade_id}", T0, slot, Action.ENTER, trade_id=trade_id, asset=SYM, side=Side.LONG,
        size=D("0.1"), order_type=OrderType.LIMIT, limit_price=D(49_990),
    )  # fmt: skip
