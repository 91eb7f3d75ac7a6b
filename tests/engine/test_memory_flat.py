"""A running pipeline's memory does not grow with the run: the realized-capital curve it keeps
is thinned to a bounded number of points (the journal has every one), and a backtest holds no
list of ended orders."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from dita.app.runner import execute, prepare_sim_run
from dita.clock import SimClock
from dita.engine import Backtest
from dita.kernel import (
    EventKind,
    Kernel,
    KernelDiagnosticCode,
    KernelOutcome,
    LedgerDelta,
    VenueEvent,
)
from dita.reporting.runstats import EQUITY_POINTS, RunStats
from dita.venues.sim.exchange import SimExchange


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
