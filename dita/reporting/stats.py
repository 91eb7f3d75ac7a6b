"""The statistics of a run's report, from an equity series and the finished trades.

Every statistic is defined in ``docs/report.md``; this module is the one
implementation, and ``tests/reporting/test_stats.py`` checks it against an
independent one. Money (PnL, drawdown amount, fees, expectancy) stays exact
``Decimal``; ratios (Sharpe, CAGR, ...) are ``Decimal`` too, computed in
``STATS_CONTEXT`` (they are estimates, not money: their last digits carry no
meaning, so the page shows a few).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Context, Decimal, Overflow, localcontext

from dita.kernel import Side, TradeRecord

STATS_CONTEXT = Context(prec=40)
MS_PER_YEAR = Decimal(365.25 * 24 * 3600 * 1000)
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Drawdown:
    amount: Decimal  # largest peak-to-trough fall of equity, money
    pct: Decimal  # largest (peak - equity) / peak, a fraction
    duration_ms: int  # longest time from a peak until equity is back at it (or the end)


@dataclass(frozen=True, slots=True)
class TradeGroup:
    """Trade statistics over one group of trades (all, long, short, one symbol)."""

    trades: int = 0
    wins: int = 0
    losses: int = 0
    net_pnl: Decimal = ZERO
    gross_profit: Decimal = ZERO
    gross_loss: Decimal = ZERO  # positive number: the sum of the losing trades' |net PnL|
    fees: Decimal = ZERO
    funding: Decimal = ZERO
    win_rate: Decimal | None = None
    avg_win: Decimal | None = None
    avg_loss: Decimal | None = None  # negative number
    profit_factor: Decimal | None = None  # None with no losing trade
    expectancy: Decimal | None = None
    avg_holding_ms: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Statistics:
    initial_capital: Decimal
    final_equity: Decimal
    final_capital: Decimal  # realized: initial + realized PnL - fees + funding
    net_pnl: Decimal  # final_equity - initial_capital (marked to market)
    realized_net_pnl: Decimal  # final_capital - initial_capital
    total_return: Decimal
    span_ms: int
    cagr: Decimal | None
    sharpe: Decimal | None
    sortino: Decimal | None
    calmar: Decimal | None
    drawdown: Drawdown
    exposure: Decimal | None
    fees: Decimal
    funding: Decimal
    all: TradeGroup
    long: TradeGroup
    short: TradeGroup
    per_symbol: dict[str, TradeGroup] = field(default_factory=dict)
    buy_hold_return: dict[str, Decimal] = field(default_factory=dict)


def drawdown(equity: Sequence[tuple[int, Decimal]]) -> Drawdown:
    amount = pct = ZERO
    longest = 0
    if not equity:
        return Drawdown(ZERO, ZERO, 0)
    peak, peak_ts = equity[0][1], equity[0][0]
    under = False
    with localcontext(STATS_CONTEXT):
        for ts, e in equity:
            if e >= peak:
                if under:
                    longest = max(longest, ts - peak_ts)
                    under = False
                peak, peak_ts = e, ts
                continue
            under = True
            amount = max(amount, peak - e)
            if peak > 0:
                pct = max(pct, (peak - e) / peak)
        if under:
            longest = max(longest, equity[-1][0] - peak_ts)
    return Drawdown(amount, pct, longest)


def _returns(equity: Sequence[tuple[int, Decimal]]) -> list[Decimal]:
    out = []
    for (_, a), (_, b) in itertools.pairwise(equity):
        if a > 0:
            out.append(b / a - 1)
    return out


def _median_step(equity: Sequence[tuple[int, Decimal]]) -> int:
    steps = sorted(b[0] - a[0] for a, b in itertools.pairwise(equity))
    return steps[len(steps) // 2] if steps else 0


def ratios(
    equity: Sequence[tuple[int, Decimal]],
) -> tuple[Decimal | None, Decimal | None]:
    """(Sharpe, Sortino), annualized, risk-free rate 0, on the series' own step."""
    with localcontext(STATS_CONTEXT):
        r = _returns(equity)
        step = _median_step(equity)
        if len(r) < 2 or step <= 0:
            return None, None
        n = Decimal(len(r))
        mean = sum(r, ZERO) / n
        var = sum(((x - mean) ** 2 for x in r), ZERO) / (n - 1)
        annual = (MS_PER_YEAR / step).sqrt()
        sharpe = mean / var.sqrt() * annual if var > 0 else None
        down = sum((min(x, ZERO) ** 2 for x in r), ZERO) / n
        sortino = mean / down.sqrt() * annual if down > 0 else None
        return sharpe, sortino


def trade_group(trades: Sequence[TradeRecord]) -> TradeGroup:
    if not trades:
        return TradeGroup()
    with localcontext(STATS_CONTEXT):
        wins = [t.net_pnl for t in trades if t.net_pnl > 0]
        losses = [t.net_pnl for t in trades if t.net_pnl < 0]
        n = Decimal(len(trades))
        net = sum((t.net_pnl for t in trades), ZERO)
        gp = sum(wins, ZERO)
        gl = -sum(losses, ZERO)
        return TradeGroup(
            trades=len(trades),
            wins=len(wins),
            losses=len(losses),
            net_pnl=net,
            gross_profit=gp,
            gross_loss=gl,
            fees=sum((t.fees for t in trades), ZERO),
            funding=sum((t.funding for t in trades), ZERO),
            win_rate=Decimal(len(wins)) / n,
            avg_win=gp / len(wins) if wins else None,
            avg_loss=-gl / len(losses) if losses else None,
            profit_factor=gp / gl if gl > 0 else None,
            expectancy=net / n,
            avg_holding_ms=Decimal(sum(t.closed_ts - t.opened_ts for t in trades)) / n,
        )


def exposure(intervals: Sequence[tuple[int, int]], start: int, end: int) -> Decimal | None:
    """Fraction of [start, end] during which at least one position was open."""
    if end <= start:
        return None
    covered = 0
    cur_a = cur_b = None
    for a, b in sorted((max(a, start), min(b, end)) for a, b in intervals):
        if b <= a:
            continue
        if cur_b is None or a > cur_b:
            if cur_a is not None and cur_b is not None:
                covered += cur_b - cur_a
            cur_a, cur_b = a, b
        else:
            cur_b = max(cur_b, b)
    if cur_a is not None and cur_b is not None:
        covered += cur_b - cur_a
    with localcontext(STATS_CONTEXT):
        return Decimal(covered) / Decimal(end - start)


def compute(
    *,
    initial_capital: Decimal,
    final_capital: Decimal,
    equity: Sequence[tuple[int, Decimal]],
    trades: Sequence[TradeRecord],
    open_intervals: Sequence[tuple[int, int]],
    fees: Decimal,
    funding: Decimal,
    prices: Mapping[str, Sequence[tuple[int, Decimal]]],
) -> Statistics:
    """``equity``: (ts, equity marked to market), starting with the initial capital."""
    final_equity = equity[-1][1] if equity else final_capital
    start = equity[0][0] if equity else 0
    end = equity[-1][0] if equity else 0
    span = end - start
    dd = drawdown(equity)
    sharpe, sortino = ratios(equity)
    with localcontext(STATS_CONTEXT):
        total = (final_equity - initial_capital) / initial_capital
        cagr: Decimal | None = None
        if span > 0 and final_equity > 0:
            try:
                cagr = (final_equity / initial_capital) ** (MS_PER_YEAR / span) - 1
            except Overflow:  # a short span compounds into a number too large to mean anything
                cagr = None
        calmar = cagr / dd.pct if cagr is not None and dd.pct > 0 else None
        bh = {
            sym: s[-1][1] / s[0][1] - 1 for sym, s in prices.items() if len(s) >= 2 and s[0][1] > 0
        }
    per_symbol: dict[str, list[TradeRecord]] = {}
    for t in trades:
        per_symbol.setdefault(t.asset, []).append(t)
    return Statistics(
        initial_capital=initial_capital,
        final_equity=final_equity,
        final_capital=final_capital,
        net_pnl=final_equity - initial_capital,
        realized_net_pnl=final_capital - initial_capital,
        total_return=total,
        span_ms=span,
        cagr=cagr,
        sharpe=sharpe,
        sortino=sortino,
        calmar=calmar,
        drawdown=dd,
        exposure=exposure(open_intervals, start, end),
        fees=fees,
        funding=funding,
        all=trade_group(trades),
        long=trade_group([t for t in trades if t.side is Side.LONG]),
        short=trade_group([t for t in trades if t.side is Side.SHORT]),
        per_symbol={k: trade_group(v) for k, v in sorted(per_symbol.items())},
        buy_hold_return=bh,
    )
