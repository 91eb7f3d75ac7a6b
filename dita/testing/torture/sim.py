"""In-process crash torture on the sim venue, at exact instants.

The engine's synchronous pipeline drives a ``SimExchange`` bar by bar (as the
backtest does). Crash points are counted as the run goes:

* ``commit->venue``: a command was committed and is about to be sent (lost);
* ``venue->journal``: the venue answered (a submit, a cancel, a bar's fills)
  and the events are about to be journaled (lost);
* ``journal->commit``: inputs were appended but not committed (lost).

At the chosen point the "process dies": everything uncommitted is dropped
(``close(discard_pending=True)``), while the exchange lives on. Recovery then
goes through ``dita.recovery`` exactly as a restarted engine does: reopen the
journal, replay, reconcile against the exchange, and continue with the next bar.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from dita.clock import SimClock
from dita.engine import Pipeline
from dita.journal import RunMeta, SqliteJournal
from dita.kernel import CancelOrder, Instrument, Kernel, Order, SubmitOrder, VenueEvent
from dita.marketdata import Bar
from dita.recovery import (
    OnMismatch,
    Reconciler,
    ReconcileReport,
    ReconcileSettings,
    ReconcileSink,
    journaled_adjustment_ids,
    open_journal_for_recovery,
)
from dita.testing.torture.checks import VenueTruth, check
from dita.testing.torture.policy import TorturePolicy
from dita.venues.base import BalanceReport, OrderReport, PositionReport
from dita.venues.sim.exchange import DEFAULT_ACCOUNT, FeeSchedule, SimConfig, SimExchange


class _Crash(Exception):
    def __init__(self, where: str) -> None:
        super().__init__(where)
        self.where = where


class _Points:
    def __init__(self, crash_at: int | None) -> None:
        self.n = 0
        self.crash_at = crash_at

    def hit(self, where: str) -> None:
        self.n += 1
        if self.n == self.crash_at:
            raise _Crash(where)


class _ExchangeVenue:
    """The Venue protocol over the surviving exchange, for the reconciler: answers of
    a resubmit or a re-sent cancel go through the pipeline like any venue event."""

    name = "sim"

    def __init__(self, run: _Run) -> None:
        self.run = run

    async def query_order(self, order: Order) -> OrderReport | None:
        return self.run.exchange.order(order.client_order_id)

    async def submit(self, order: Order) -> None:
        self.run.feed(self.run.exchange.submit(order, self.run.clock.now_ms()))

    async def cancel(self, order: Order) -> None:
        self.run.feed(self.run.exchange.cancel(order, self.run.clock.now_ms()))

    async def positions(self) -> list[PositionReport]:
        return self.run.exchange.positions()

    async def balance(self) -> BalanceReport:
        return self.run.exchange.balance()


class _Run:
    def __init__(
        self, exchange: SimExchange, pipeline: Pipeline, clock: SimClock, points: _Points
    ) -> None:
        self.exchange = exchange
        self.p = pipeline
        self.clock = clock
        self.points = points

    def feed(self, events: Sequence[VenueEvent]) -> None:
        if events:
            self.points.hit("venue->journal")
        for ev in events:
            self.p.on_event(ev)
        if events:
            self.points.hit("journal->commit")

    def send_all(self) -> None:
        while self.p.has_commands:
            for cmd in self.p.flush():
                self.points.hit("commit->venue")
                now = self.clock.now_ms()
                match cmd:
                    case SubmitOrder(order=o):
                        events = self.exchange.submit(o, now)
                    case CancelOrder(order=o):
                        events = self.exchange.cancel(o, now)
                self.feed(events)

    async def _commit(self) -> None:
        self.send_all()

    def reconcile(self, settings: ReconcileSettings) -> ReconcileReport:
        def feed(ev: VenueEvent) -> None:
            self.p.on_event(ev)

        sink = ReconcileSink(
            kernel=lambda: self.p.kernel,
            feed=feed,
            commit=self._commit,
            record=self.p.record,
            journaled_adjustments=lambda: journaled_adjustment_ids(self.p.journal),
            now_ms=self.clock.now_ms,
        )
        venue = _ExchangeVenue(self)
        report = asyncio.run(
            Reconciler(venue, sink, settings).run("start")  # type: ignore[arg-type]
        )
        self.send_all()
        return report


@dataclass
class SimTortureResult:
    crashes: list[str] = field(default_factory=list)  # where each crash happened
    points_in_last_life: int = 0
    violations: list[str] = field(default_factory=list)
    reconciliations: list[ReconcileReport] = field(default_factory=list)


def instrument() -> Instrument:
    return Instrument("BTC-USDT", Decimal("0.1"), Decimal("0.001"), Decimal("0.001"), Decimal(5))


def run_sim_torture(
    path: Path,
    bars: Sequence[Bar],
    crash_schedule: Sequence[int],
    *,
    capital: Decimal = Decimal(100_000),
    slots: int = 2,
    size: Decimal = Decimal("0.8"),
    participation: Decimal = Decimal("0.002"),
    reconcile: bool = True,
) -> SimTortureResult:
    """Run the scripted scenario over ``bars``, crashing at the n-th crash point of each
    process life (``crash_schedule[k]`` for the k-th life), recovering every time."""
    inst = instrument()
    exchange = SimExchange(
        SimConfig(
            instruments=(inst,),
            initial_balance=capital,
            fees=FeeSchedule(maker=Decimal("0.0002"), taker=Decimal("0.0005")),
            participation=participation,
            funding_rate=Decimal(0),  # funding events are account events: see the report
            seed=1,
        )
    )
    meta = RunMeta(slots=slots, instruments=(inst,), initial_capital=capital, venue="sim")
    settings = ReconcileSettings(on_mismatch=OnMismatch.CONTINUE, max_rounds=4, requery_delay_s=0)
    result = SimTortureResult()
    next_bar = 0
    life = 0
    while True:
        crash_at = crash_schedule[life] if life < len(crash_schedule) else None
        life += 1
        points = _Points(crash_at)
        clock = SimClock()
        clock.set(bars[min(next_bar, len(bars) - 1)].ts)
        policy = TorturePolicy(
            generation=life, size=size, wind_down_from=bars[max(0, len(bars) - 60)].ts
        )
        journal: SqliteJournal | None = None
        try:
            if life == 1:
                journal = SqliteJournal.open(path)
                p = Pipeline(Kernel(slots, [inst], capital), policy, journal, clock)
                run = _Run(exchange, p, clock, points)
                p.begin(meta)
            else:
                rec = open_journal_for_recovery(path)
                journal = rec.journal
                p = Pipeline(rec.kernel, policy, journal, clock)
                p.resume(rec.last_input_seq)
                run = _Run(exchange, p, clock, points)
                if reconcile:  # (False only to prove the checks catch what it prevents)
                    result.reconciliations.append(run.reconcile(settings))
            while next_bar < len(bars):
                bar = bars[next_bar]
                if bar.ts > clock.now_ms():
                    clock.set(bar.ts)
                events = exchange.on_bar(bar)
                next_bar += 1  # the market moved on, whatever happens to us
                run.feed(events)
                clock.set(bar.close_ts)
                p.on_bar(bar)
                run.send_all()
            p.finish()
            journal.close()
            result.points_in_last_life = points.n
            break
        except _Crash as c:
            result.crashes.append(c.where)
            if journal is not None:
                journal.close(discard_pending=True)  # what was not committed never happened
    truth = VenueTruth(
        orders=exchange_orders(exchange),
        positions=exchange.positions(),
        balance=exchange.balance(),
    )
    result.violations = check(path, truth, expect_flat=True)
    return result


def exchange_orders(exchange: SimExchange) -> list[OrderReport]:
    """Every order the exchange accepted (test access to its book of record)."""
    return [o.report() for o in exchange._account(DEFAULT_ACCOUNT).orders.values()]
