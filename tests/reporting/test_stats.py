"""The report's statistics against an independent computation (docs/report.md's definitions).

The reference here is written separately from dita/reporting/stats.py: money in
``Fraction`` (exact), ratios in float with ``math``/``statistics``; a hand-worked
series pins the definitions themselves, and hypothesis compares the two
implementations on arbitrary series.
"""

from __future__ import annotations

import itertools
import math
import statistics
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from dita.kernel import ExitFill, Side, TradeRecord
from dita.reporting.stats import compute, drawdown, exposure

DAY = 86_400_000
YEAR = 365.25 * DAY


def _trade(i: int, net: str, side: Side = Side.LONG, asset: str = "BTC-USDT", hold: int = 60_000,
           fees: str = "1", funding: str = "0") -> TradeRecord:  # fmt: skip
    realized = Decimal(net) + Decimal(fees) - Decimal(funding)
    return TradeRecord(
        trade_id=f"t{i}", slot_id=0, asset=asset, side=side, entry_qty=Decimal(1),
        entry_cost=Decimal(100), exit_qty=Decimal(1), exit_proceeds=Decimal(100) + realized,
        exits=(ExitFill(f"x{i}", Decimal(1), Decimal(100) + realized),), realized_pnl=realized,
        fees=Decimal(fees), funding=Decimal(funding), opened_ts=i * DAY, closed_ts=i * DAY + hold,
    )  # fmt: skip


def test_a_hand_worked_series() -> None:
    eq = [(0, Decimal(100)), (DAY, Decimal(110)), (2 * DAY, Decimal(99)),
          (3 * DAY, Decimal(120)), (4 * DAY, Decimal(108))]  # fmt: skip
    dd = drawdown(eq)
    # 110 -> 99 is 11 (10%), recovered at day 3 (2 days under water); 120 -> 108 is 12 (10%)
    assert (dd.amount, dd.pct, dd.duration_ms) == (Decimal(12), Decimal("0.1"), 2 * DAY)
    trades = [_trade(0, "30"), _trade(1, "-10", Side.SHORT), _trade(2, "-5"),
              _trade(3, "20", asset="ETH-USDT", hold=180_000)]  # fmt: skip
    s = compute(initial_capital=Decimal(100), final_capital=Decimal(105), equity=eq,
                trades=trades, open_intervals=[(0, DAY), (DAY // 2, 2 * DAY), (3 * DAY, 5 * DAY)],
                fees=Decimal(4), funding=Decimal(0),
                prices={"BTC-USDT": [(0, Decimal(50)), (4 * DAY, Decimal(60))]})  # fmt: skip
    assert s.net_pnl == 8 and s.realized_net_pnl == 5 and s.total_return == Decimal("0.08")
    g = s.all
    assert (g.trades, g.wins, g.losses) == (4, 2, 2)
    assert g.win_rate == Decimal("0.5") and g.net_pnl == 35
    assert abs(Fraction(g.profit_factor or 0) - Fraction(50, 15)) < Fraction(1, 10**35)
    assert g.expectancy == Decimal("8.75") and g.avg_win == 25 and g.avg_loss == Decimal("-7.5")
    assert g.avg_holding_ms == Decimal(90_000)
    assert s.long.trades == 3 and s.short.trades == 1 and s.short.net_pnl == -10
    assert set(s.per_symbol) == {"BTC-USDT", "ETH-USDT"} and s.per_symbol["ETH-USDT"].net_pnl == 20
    # open [0, 2d] and [3d, 4d] (clipped at the series' end) out of 4 days
    assert s.exposure == Decimal("0.75")
    assert s.buy_hold_return == {"BTC-USDT": Decimal("0.2")}
    cagr = 1.08 ** (YEAR / (4 * DAY)) - 1
    assert math.isclose(float(s.cagr or 0), cagr, rel_tol=1e-12)
    assert math.isclose(float(s.calmar or 0), cagr / 0.1, rel_tol=1e-12)
    r = [1.1, 0.9, 120 / 99, 0.9]
    r = [x - 1 for x in r]
    ann = math.sqrt(YEAR / DAY)
    assert math.isclose(float(s.sharpe or 0), statistics.mean(r) / statistics.stdev(r) * ann,
                        rel_tol=1e-12)  # fmt: skip
    down = math.sqrt(sum(min(x, 0) ** 2 for x in r) / len(r))
    assert math.isclose(float(s.sortino or 0), statistics.mean(r) / down * ann, rel_tol=1e-12)


def _ref_drawdown(eq: list[tuple[int, int]]) -> tuple[Fraction, Fraction, int]:
    """Brute force: every (peak, later point) pair; duration = the longest stretch of points
    strictly below the running maximum, from the time that maximum was set."""
    amount = pct = Fraction(0)
    for i, (_, a) in enumerate(eq):
        for _, b in eq[i + 1 :]:
            if b < a:
                amount = max(amount, Fraction(a - b))
                if a > 0:
                    pct = max(pct, Fraction(a - b, a))
    longest = 0
    best, best_ts = eq[0][1], eq[0][0]
    below_since: int | None = None
    for ts, v in eq:
        if v >= best:
            if below_since is not None:
                longest = max(longest, ts - below_since)
            below_since = None
            best, best_ts = v, ts
        elif below_since is None:
            below_since = best_ts
    if below_since is not None:
        longest = max(longest, eq[-1][0] - below_since)
    return amount, pct, longest


series = st.lists(st.integers(min_value=1, max_value=10_000), min_size=2, max_size=60)


@settings(max_examples=300, deadline=None)
@given(series, st.integers(min_value=1, max_value=DAY))
def test_drawdown_and_ratios_match_an_independent_computation(values: list[int], step: int) -> None:
    eq_int = [(i * step, v) for i, v in enumerate(values)]
    eq = [(t, Decimal(v)) for t, v in eq_int]
    dd = drawdown(eq)
    amount, pct, longest = _ref_drawdown(eq_int)
    assert dd.amount == amount and dd.duration_ms == longest
    assert math.isclose(float(dd.pct), float(pct), rel_tol=1e-15, abs_tol=1e-30)
    s = compute(initial_capital=Decimal(values[0]), final_capital=Decimal(values[-1]), equity=eq,
                trades=[], open_intervals=[], fees=Decimal(0), funding=Decimal(0), prices={})  # fmt: skip
    r = [b / a - 1 for a, b in itertools.pairwise(values)]
    ann = math.sqrt(YEAR / step)
    if statistics.pstdev(r) > 1e-12:
        assert math.isclose(float(s.sharpe or 0), statistics.mean(r) / statistics.stdev(r) * ann,
                            rel_tol=1e-9)  # fmt: skip
    neg = sum(min(x, 0) ** 2 for x in r)
    if neg > 0 and len(r) >= 2:
        ref = statistics.mean(r) / math.sqrt(neg / len(r)) * ann
        assert math.isclose(float(s.sortino or 0), ref, rel_tol=1e-9)
    assert s.net_pnl == values[-1] - values[0]


nets = st.lists(st.integers(min_value=-500, max_value=500), min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(nets)
def test_trade_statistics_match_an_independent_computation(pnl: list[int]) -> None:
    trades = [_trade(i, str(p), Side.LONG if i % 3 else Side.SHORT) for i, p in enumerate(pnl)]
    s = compute(initial_capital=Decimal(1000), final_capital=Decimal(1000), equity=[],
                trades=trades, open_intervals=[], fees=Decimal(0), funding=Decimal(0), prices={})  # fmt: skip
    wins = [Fraction(p) for p in pnl if p > 0]
    losses = [Fraction(p) for p in pnl if p < 0]
    g = s.all
    tiny = Fraction(1, 10**35)
    assert g.net_pnl == sum(pnl)
    assert abs(Fraction(g.expectancy or 0) - Fraction(sum(pnl), len(pnl))) < tiny
    assert abs(Fraction(g.win_rate or 0) - Fraction(len(wins), len(pnl))) < tiny
    if losses:
        pf = sum(wins, Fraction(0)) / -sum(losses, Fraction(0))
        assert g.profit_factor is not None and abs(Fraction(g.profit_factor) - pf) < Fraction(
            1, 10**30
        )
    else:
        assert g.profit_factor is None
    assert s.long.trades + s.short.trades == len(pnl)
    assert s.long.net_pnl + s.short.net_pnl == sum(pnl)


@given(st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 1000)), max_size=20))
def test_exposure_is_the_measure_of_the_union(raw: list[tuple[int, int]]) -> None:
    intervals = [(min(a, b), max(a, b)) for a, b in raw]
    covered = {x for a, b in intervals for x in range(max(a, 100), min(b, 900))}
    assert Fraction(exposure(intervals, 100, 900) or 0) == Fraction(len(covered), 800)
