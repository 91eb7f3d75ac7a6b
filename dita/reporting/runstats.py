"""A run's counters and money, from kernel inputs and outcomes only.

The live pipeline feeds ``RunStats`` as it goes (``dita.engine``);
``stats_from_journal`` feeds it from a journal, so ``dita run`` and ``dita
replay`` print the same summary. It depends on the kernel's types and the
journal's records, nothing above them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from dita.journal import EngineNote, JournalRecord, OutcomeRecord, RunMeta, SqliteJournal
from dita.journal.errors import JournalError
from dita.kernel import (
    EventKind,
    KernelIntent,
    KernelOutcome,
    LedgerDelta,
    SubmitOrder,
    VenueEvent,
)
from dita.reporting.bysymbol import SymbolBreakdown

ZERO = Decimal(0)

# A running pipeline keeps at most about this many points of its realized-capital curve
# (RunStats.equity, thinned evenly); the whole curve is in the journal (dita report).
EQUITY_POINTS = 4096


@dataclass
class RunStats:
    """Counters and money over a run, computed from kernel inputs and outcomes only.

    ``Pipeline`` feeds it live; ``stats_from_journal`` feeds it from a
    journal, so ``dita run`` and ``dita replay`` print the same summary.
    """

    initial_capital: Decimal
    capital: Decimal = ZERO
    peak: Decimal = ZERO
    max_drawdown: Decimal = ZERO
    bars: int = 0
    intents: int = 0
    refused_intents: int = 0
    venue_events: int = 0
    orders: int = 0
    cancel_requests: int = 0
    fills: int = 0
    partial_fills: int = 0
    cancels: int = 0
    rejects: int = 0
    trades: int = 0
    wins: int = 0
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    funding: Decimal = ZERO
    trade_net_pnl: Decimal = ZERO
    first_ts: int | None = None
    last_ts: int | None = None
    equity: list[tuple[int, Decimal]] = field(default_factory=list)
    refusals: dict[str, int] = field(default_factory=dict)  # refused intents by diagnostic

    def __post_init__(self) -> None:
        # Not dataclass fields: the run's totals (and their mirrors, e.g. the
        # ClickHouse RunReport) stay what they were; this is the per-symbol view.
        self.by_symbol: SymbolBreakdown = SymbolBreakdown()
        # None: ``equity`` keeps every point (a report reading the journal needs them
        # all); a number: at most about that many, evenly thinned as the run grows
        # (a running engine, whose memory must not grow with the run).
        self.equity_cap: int | None = None
        self._equity_stride = 1
        self._equity_seen = 0
        self.capital = self.initial_capital
        self.peak = self.initial_capital

    def _add_equity(self, ts: int, capital: Decimal) -> None:
        cap = self.equity_cap
        if cap is None:
            self.equity.append((ts, capital))
            return
        if self._equity_seen % self._equity_stride == 0:
            self.equity.append((ts, capital))
            while len(self.equity) >= max(cap, 2):
                self.equity = self.equity[::2]
                self._equity_stride *= 2
        self._equity_seen += 1

    @property
    def kernel_events(self) -> int:
        return self.intents + self.venue_events

    @property
    def win_rate(self) -> Decimal | None:
        return Decimal(self.wins) / Decimal(self.trades) if self.trades else None

    def observe(self, body: KernelIntent | VenueEvent, outcome: KernelOutcome, ts: int) -> None:
        if self.first_ts is None:
            self.first_ts = ts
        self.last_ts = ts
        self.by_symbol.observe(body, outcome)
        if isinstance(body, KernelIntent):
            self._count_intent(outcome)
        else:
            self._count_venue_event(body, outcome)
        for c in outcome.commands:
            if isinstance(c, SubmitOrder):
                self.orders += 1
            else:
                self.cancel_requests += 1
        self._count_ledger(outcome.ledger, ts)
        for t in outcome.trade_records:
            self.trades += 1
            self.trade_net_pnl += t.net_pnl
            if t.net_pnl > 0:
                self.wins += 1

    def _count_intent(self, outcome: KernelOutcome) -> None:
        self.intents += 1
        if not outcome.accepted:
            self.refused_intents += 1
            code = outcome.diagnostic_code.value
            self.refusals[code] = self.refusals.get(code, 0) + 1

    def _count_venue_event(self, body: VenueEvent, outcome: KernelOutcome) -> None:
        self.venue_events += 1
        if not outcome.accepted:
            return
        match body.kind:
            case EventKind.PARTIAL_FILL:
                self.fills += 1
                self.partial_fills += 1
            case EventKind.FILL:
                self.fills += 1
            case EventKind.CANCEL_ACK:
                self.cancels += 1
            case EventKind.REJECT:
                self.rejects += 1
            case _:
                pass

    def _count_ledger(self, d: LedgerDelta, ts: int) -> None:
        """Money moved by one input: the equity curve and the drawdown move with it."""
        if not (d.realized_pnl or d.fees or d.funding):
            return
        self.realized_pnl += d.realized_pnl
        self.fees += d.fees
        self.funding += d.funding
        self.capital += d.capital
        self._add_equity(ts, self.capital)
        if self.capital > self.peak:
            self.peak = self.capital
        dd = self.peak - self.capital
        if dd > self.max_drawdown:
            self.max_drawdown = dd


def stats_from_journal(
    journal: SqliteJournal, *, progress: Callable[[int], None] | None = None
) -> tuple[RunMeta, RunStats]:
    """Recompute ``RunStats`` from a journal's inputs and outcome records
    (``progress(seq)`` every few thousand records, for a progress bar)."""
    meta: RunMeta | None = None
    stats: RunStats | None = None
    inputs: dict[int, JournalRecord] = {}
    for rec in journal.read_from(1):
        if progress is not None and rec.seq % 5000 == 0:
            progress(rec.seq)
        body = rec.body
        match body:
            case RunMeta():
                if meta is None:
                    meta = body
                    stats = RunStats(body.initial_capital)
            case KernelIntent() | VenueEvent():
                inputs[rec.seq] = rec
            case OutcomeRecord():
                src = inputs.pop(body.input_seq, None)
                if stats is not None and src is not None:
                    assert isinstance(src.body, KernelIntent | VenueEvent)
                    stats.observe(src.body, body.outcome, src.ts)
            case EngineNote(topic="end", data=data):
                if stats is not None:
                    stats.bars = int(data.get("bars", 0))
            case _:
                pass
    if meta is None or stats is None:
        raise JournalError(f"{journal.path}: no 'run' record; not a journal written by dita run")
    return meta, stats
