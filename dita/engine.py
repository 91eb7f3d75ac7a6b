"""The engine: policy -> kernel -> journal -> venue, and venue -> journal -> kernel.

Theory of operation
-------------------
Everything that reaches the kernel goes through one ``Pipeline``, a small
synchronous object shared by both drivers below. One step is:

1. append the input (intent or venue event) to the journal;
2. run it through the kernel;
3. append the outcome (its ``input_seq`` is the input's seq);
4. hand the outcome to the policy, whose new intents are steps of their own,
   in order, before anything else happens.

Commands the kernel returns are *held* in the pipeline's outbox. ``flush()``
commits the journal (one fsync for everything appended since the last one:
group commit) and only then releases the commands. That is the write-ahead
contract: **no command reaches a venue before the input that caused it is
durable.** A venue event is appended before the kernel sees it; it becomes
durable with the next commit, which always precedes any command it causes.

Two drivers:

* ``Backtest`` drives the synchronous sim core (``SimExchange``) from bars,
  with a ``SimClock`` set from the market data: deterministic, so the same
  data and seed give byte-identical journals and trade tables. With
  ``journal=None`` it runs without a journal (benchmarks).
* ``Engine`` drives any async ``Venue`` (sim wrapper, BingX, mock) under one
  ``asyncio.TaskGroup``: a venue-event pump, a bar pump, the processor (the
  only task that touches the kernel and the journal) and the command sender,
  joined by bounded queues. Its lifecycle is an explicit ``EngineState``;
  an illegal move raises ``EngineStateError`` naming the state.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence, Set
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from dita.clock import Clock, SimClock
from dita.journal import (
    Adjustment,
    EngineNote,
    OutcomeRecord,
    RecordRejected,
    RunMeta,
    SnapshotRecord,
    SqliteJournal,
)
from dita.kernel import (
    CancelOrder,
    Command,
    EventKind,
    Kernel,
    KernelIntent,
    KernelOutcome,
    Order,
    OrderStatus,
    SubmitOrder,
    TradeStage,
    VenueEvent,
)
from dita.legacy import LegacyConversionError, LegacyIntent, legacy_to_kernel
from dita.marketdata import Bar
from dita.policy import Policy, PolicyView
from dita.recovery import (
    Reconciler,
    ReconcileReport,
    ReconcileSettings,
    ReconcileSink,
    RetryPolicy,
    journaled_adjustment_ids,
)
from dita.reporting.runstats import EQUITY_POINTS, RunStats, stats_from_journal
from dita.venues.base import (
    NotSent,
    StreamResumed,
    Venue,
    VenueError,
    VenueFatal,
)

ZERO = Decimal(0)


class EngineError(Exception):
    """The engine cannot go on. The message names the state and the input."""


class EngineStateError(EngineError):
    """A lifecycle method was called in a state that does not allow it."""


class PolicyFault(EngineError):
    """The policy produced something the engine cannot journal faithfully, or raised."""


class Durability(StrEnum):
    """When the pipeline commits the journal (with ``synchronous=FULL``: one fsync per commit).

    * ``WRITE_AHEAD``: before any command leaves the pipeline, the commit covering
      the input that caused it has returned. One commit per step that sends a
      command. The only mode of ``Engine`` (live venues, the BingX emulator)
      and the default of ``Backtest``.
    * ``GROUPED``: for a ``Backtest`` only, whose venue (``SimExchange``) lives in
      the same process: no command leaves the process, so nothing outside can
      have acted on a record that is not durable yet. The journal is committed
      once at least ``group_records`` records are pending or a ``bars`` progress
      note (every 1,000 bars) was written (checked after each instant of market
      data), and at the end. Records are appended in exactly the
      same order as with ``WRITE_AHEAD`` (the journals are identical record for
      record; only the ``commits`` rows differ). A crash loses the uncommitted
      tail of the simulation (at most 1,000 bars or about one group), which
      ``dita run --resume`` plays again from the data.
    """

    WRITE_AHEAD = "write-ahead"
    GROUPED = "grouped"


DEFAULT_GROUP_RECORDS = 20_000
# requested cancels remembered before the ended orders' ones are forgotten (Pipeline)
FORGET_CANCELS_AT = 4096


def cancel_requested_in(journal: SqliteJournal) -> set[str]:
    """Client order ids of every order whose cancel a journaled outcome commanded."""
    out: set[str] = set()
    for rec in journal.read_from(1):
        if isinstance(rec.body, OutcomeRecord):
            for c in rec.body.outcome.commands:
                if isinstance(c, CancelOrder):
                    out.add(c.order.client_order_id)
    return out


# --------------------------------------------------------------------------- pipeline


class PriceTrail:
    """A bounded, deterministic downsample of closes for reports (at most ``cap`` points)."""

    def __init__(self, cap: int = 4000) -> None:
        self.cap = cap
        self.stride = 1
        self._n = 0
        self.ts: list[int] = []
        self.close: list[str] = []

    def add(self, bar: Bar) -> None:
        if self._n % self.stride == 0:
            self.ts.append(bar.close_ts)
            self.close.append(str(bar.close))
            if len(self.ts) >= self.cap:
                self.ts = self.ts[::2]
                self.close = self.close[::2]
                self.stride *= 2
        self._n += 1


class BarNotes:
    """Closes of every ``sample``-th bar per symbol, journaled as a ``bars`` note every
    ``every`` bars, so the report and ``dita serve`` see the price (and the bar count) of a
    run that never reached its end (interrupted, or still running)."""

    def __init__(self, every: int = 1000, sample: int = 10) -> None:
        self.every = every
        self.sample = sample
        self._seen: dict[str, int] = {}
        self._last: dict[str, Bar] = {}
        self._series: dict[str, dict[str, list[Any]]] = {}

    def add(self, bar: Bar) -> None:
        n = self._seen.get(bar.symbol, 0)
        self._seen[bar.symbol] = n + 1
        if n % self.sample == 0:
            self._append(bar)
            self._last.pop(bar.symbol, None)
        else:
            self._last[bar.symbol] = bar

    def _append(self, bar: Bar) -> None:
        s = self._series.setdefault(bar.symbol, {"ts": [], "close": []})
        s["ts"].append(bar.close_ts)
        s["close"].append(str(bar.close))

    def take(self) -> dict[str, dict[str, list[Any]]]:
        """The closes since the last take, each symbol's latest bar included."""
        for bar in self._last.values():
            self._append(bar)
        self._last = {}
        out, self._series = self._series, {}
        return out


class Pipeline:
    """The one path into the kernel: journal, kernel, outcome, policy; commands held for flush.

    Not thread-safe and not async: exactly one task owns it.
    """

    def __init__(
        self,
        kernel: Kernel,
        policy: Policy,
        journal: SqliteJournal | None,
        clock: Clock,
        *,
        snapshot_every: int = 50_000,
        durability: Durability = Durability.WRITE_AHEAD,
        group_records: int = DEFAULT_GROUP_RECORDS,
    ) -> None:
        if group_records < 1:
            raise ValueError(f"group_records must be >= 1, got {group_records}")
        self.kernel = kernel
        self.policy = policy
        self.journal = journal
        self.clock = clock
        self.durability = Durability(durability)
        self.group_records = group_records
        self.view = PolicyView(kernel)
        self.stats = RunStats(kernel.account.initial_capital)
        self.stats.equity_cap = EQUITY_POINTS
        self.snapshot_every = snapshot_every
        self.prices: dict[str, PriceTrail] = {}  # per symbol, in order of first bar
        self._bar_notes = BarNotes()
        self._progress_noted = False  # a bars note since the last commit_due
        self._outbox: list[Command] = []
        self._since_snapshot = 0
        self._last_input_seq = 0
        self._queue: deque[KernelIntent] = deque()
        self._collect: list[KernelOutcome] | None = None
        # client order ids whose cancel the kernel commanded: such an order is never
        # (re)sent, whatever the venue said about the cancel (DESIGN: a requested cancel
        # always wins over a resubmission)
        self.cancel_requested: set[str] = set()
        # ids with a command handed on and not yet sent (the live engine's sender sets this)
        self.sending: Callable[[], Set[str]] = frozenset
        self._forget_cancels_at = FORGET_CANCELS_AT
        # orders that ended with fills since the engine last audited their fees
        self.ended_with_fills: list[Order] = []

    # ------------------------------------------------------------------ journal helpers

    def note(self, topic: str, message: str = "", **data: Any) -> None:
        if self.journal is not None:
            self.journal.append(EngineNote(topic, message, data), ts=self.clock.now_ms())

    def snapshot(self) -> None:
        if self.journal is not None:
            self.journal.append(
                SnapshotRecord(self._last_input_seq, self.kernel.snapshot()), ts=self.clock.now_ms()
            )
        self._since_snapshot = 0

    def begin(self, meta: RunMeta) -> None:
        """Journal the run record and the starting snapshot, durably."""
        if self.journal is not None:
            self.journal.append(meta, ts=self.clock.now_ms())
            self.snapshot()
            self.journal.commit()

    def resume(self, last_input_seq: int) -> None:
        """Continue a journal whose kernel was rebuilt by replay (crash recovery).

        Instead of a second run record, a ``resume`` note; snapshots taken from
        here on name the right last input. Stats are recomputed from the journal.
        """
        self._last_input_seq = last_input_seq
        if self.journal is not None:
            self.stats = stats_from_journal(self.journal)[1]
            self.stats.equity_cap = EQUITY_POINTS
            self.cancel_requested = cancel_requested_in(self.journal)
            self._forget_cancels()
            self.note(
                "resume", "kernel rebuilt from the journal; reconciling", input_seq=last_input_seq
            )
            self.journal.commit()

    def record(self, body: Adjustment) -> None:
        """Journal a reconciliation finding (not a kernel input: replay skips it)."""
        if self.journal is not None:
            self.journal.append(body, ts=self.clock.now_ms())

    # ------------------------------------------------------------------ steps

    def on_bar(self, bar: Bar) -> None:
        """Give a closed bar to the policy and run the intents it returns."""
        self.view.now_ms = self.clock.now_ms()
        self.stats.bars += 1
        trail = self.prices.get(bar.symbol)
        if trail is None:
            trail = self.prices[bar.symbol] = PriceTrail()
        trail.add(bar)
        self._bar_notes.add(bar)
        if self.stats.bars % self._bar_notes.every == 0:
            self.note("bars", bars=self.stats.bars, series=self._bar_notes.take())
            self._progress_noted = True
        try:
            intents = self.policy.on_bar(bar, self.view)
        except Exception as e:
            raise PolicyFault(
                f"policy raised in on_bar (bar ts {bar.ts}): {type(e).__name__}: {e}"
            ) from e
        self._run_intents(intents or ())  # None: nothing to do

    def submit_intents(self, intents: Iterable[KernelIntent]) -> list[KernelOutcome]:
        """Run intents from outside the policy; the outcomes of these steps and of the
        policy's reactions to them, in order."""
        self.view.now_ms = self.clock.now_ms()
        self._collect = []
        try:
            self._run_intents(intents)
            return self._collect
        finally:
            self._collect = None

    def on_event(self, event: VenueEvent) -> KernelOutcome:
        """One venue event: journal, kernel, policy reaction."""
        ts = self.clock.now_ms()
        seq = self._append_input(event, ts)
        outcome = self.kernel.on_venue_event(event)
        if outcome.accepted and event.kind is not EventKind.FUNDING:
            o = self.kernel.order(event.client_order_id)
            if o is not None and not o.status.is_live and o.filled_qty > 0:
                self.ended_with_fills.append(o)
        self._after(event, outcome, seq, ts)
        self._drain()
        return outcome

    def _run_intents(self, intents: Iterable[KernelIntent]) -> None:
        self._queue.extend(intents)
        self._drain()

    def _drain(self) -> None:
        q = self._queue
        while q:
            intent = q.popleft()
            if isinstance(intent, LegacyIntent):  # the old policy's type: converted losslessly
                try:
                    intent = legacy_to_kernel(intent, self.kernel)
                except LegacyConversionError as e:
                    raise PolicyFault(
                        f"policy returned a LegacyIntent dita cannot carry: {e}"
                    ) from e
            if not isinstance(intent, KernelIntent):
                raise PolicyFault(
                    f"policy returned {type(intent).__name__}, not a KernelIntent: {intent!r}"
                )
            ts = self.clock.now_ms()
            seq = self._append_input(intent, ts)
            outcome = self.kernel.process_intent(intent)
            self._after(intent, outcome, seq, ts)

    def _append_input(self, body: KernelIntent | VenueEvent, ts: int) -> int:
        if self.journal is None:
            self._last_input_seq += 1
            return self._last_input_seq
        try:
            seq = self.journal.append(body, ts=ts)
        except RecordRejected as e:
            what = "intent" if isinstance(body, KernelIntent) else "venue event"
            raise PolicyFault(
                f"{what} cannot be journaled faithfully, so it was not applied: {e}"
            ) from e
        self._last_input_seq = seq
        return seq

    def _after(
        self, body: KernelIntent | VenueEvent, outcome: KernelOutcome, seq: int, ts: int
    ) -> None:
        if self.journal is not None:
            self.journal.append(OutcomeRecord(seq, outcome), ts=ts)
        if self._collect is not None:
            self._collect.append(outcome)
        self.stats.observe(body, outcome, ts)
        if outcome.commands:
            self._outbox.extend(outcome.commands)
            for c in outcome.commands:
                if isinstance(c, CancelOrder):
                    self.cancel_requested.add(c.order.client_order_id)
            if len(self.cancel_requested) >= self._forget_cancels_at:
                self._forget_cancels()
        self._since_snapshot += 1
        if self._since_snapshot >= self.snapshot_every:
            self.snapshot()
        self.view.now_ms = ts
        try:
            more = self.policy.on_outcome(outcome, self.view)
        except Exception as e:
            raise PolicyFault(
                f"policy raised in on_outcome (input seq {seq}): {type(e).__name__}: {e}"
            ) from e
        if more:
            self._queue.extend(more)

    def _forget_cancels(self) -> None:
        """Keep a requested cancel only while it can still matter: its order is live in the
        kernel, or a command for it waits here or in the sender. An ended order is never
        sent again, so its id would only make memory grow with the run (one id per cancel,
        37,000 over a million bars of the lifecycle benchmark). The next pass comes when
        the set has doubled, so the work stays constant per cancel."""
        k = self.kernel
        waiting = {c.order.client_order_id for c in self._outbox} | set(self.sending())
        keep = set()
        for cid in self.cancel_requested:
            o = k.order(cid)
            if cid in waiting or (o is not None and o.status.is_live):
                keep.add(cid)
        self.cancel_requested = keep
        self._forget_cancels_at = max(FORGET_CANCELS_AT, 2 * len(keep))

    # ------------------------------------------------------------------ write-ahead

    @property
    def has_commands(self) -> bool:
        return bool(self._outbox)

    def flush(self) -> list[Command]:
        """Release the held commands: with ``WRITE_AHEAD`` after committing everything
        appended; with ``GROUPED`` (an in-process sim venue) committing only when a
        group is full (``commit_due``)."""
        if self.durability is Durability.WRITE_AHEAD:
            if self.journal is not None and self.journal.pending:
                self.journal.commit()
        else:
            self.commit_due()
        out, self._outbox = self._outbox, []
        return out

    def commit_due(self) -> None:
        """``GROUPED``: commit once ``group_records`` records are pending or a ``bars`` note
        (every 1,000 bars) was appended, so a reader (``dita serve``, a report of an
        interrupted run) sees the run's progress."""
        j = self.journal
        if j is not None and (self._progress_noted or j.pending >= self.group_records):
            j.commit()
        self._progress_noted = False

    def take_commands_after(self, committed: int) -> list[Command]:
        """Release held commands once an asynchronous commit up to ``committed`` returned."""
        if self.journal is not None and self.journal.last_seq < committed:
            raise EngineError(
                f"write-ahead violated: commands requested before seq {committed} was durable "
                f"(journal has {self.journal.last_seq})"
            )
        out, self._outbox = self._outbox, []
        return out

    def finish(self, **data: Any) -> None:
        """Price trails (for reports; one note per symbol), end note and final snapshot, committed."""
        rest = self._bar_notes.take()
        if rest:
            self.note("bars", bars=self.stats.bars, series=rest)
        for symbol, trail in self.prices.items():
            self.note("prices", symbol=symbol, ts=trail.ts, close=trail.close)
        self.note("end", bars=self.stats.bars, **data)
        self.snapshot()
        if self.journal is not None:
            self.journal.commit()


# --------------------------------------------------------------------------- backtest driver


class SimCore(Protocol):
    """What the backtest needs from a synchronous venue core (``SimExchange`` has it)."""

    def submit(self, order: Order, now: int) -> list[VenueEvent]: ...

    def cancel(self, order: Order, now: int) -> list[VenueEvent]: ...

    def on_bar(self, bar: Bar) -> list[VenueEvent]: ...


@dataclass(frozen=True, slots=True)
class BacktestResult:
    stats: RunStats
    kernel: Kernel
    open_slots: int


class Backtest:
    """Deterministic driver: bars move the SimClock and the sim core; no asyncio, no wall time."""

    def __init__(
        self,
        *,
        kernel: Kernel,
        venue: SimCore,
        policy: Policy,
        journal: SqliteJournal | None,
        clock: SimClock | None = None,
        snapshot_every: int = 50_000,
        progress: Callable[[int], None] | None = None,
        progress_every: int = 1000,
        durability: Durability = Durability.WRITE_AHEAD,
        group_records: int = DEFAULT_GROUP_RECORDS,
    ) -> None:
        """``durability``: ``Durability.GROUPED`` commits the journal every
        ``group_records`` records and at the end instead of before every command
        (see ``Durability``); only for a venue inside the process."""
        self.clock = clock or SimClock()
        self.venue = venue
        self.pipeline = Pipeline(
            kernel, policy, journal, self.clock, snapshot_every=snapshot_every,
            durability=durability, group_records=group_records,
        )  # fmt: skip
        self.progress = progress
        self.progress_every = progress_every

    def run(self, meta: RunMeta, bars: Iterable[Bar]) -> BacktestResult:
        p = self.pipeline
        started = False
        n = 0
        # Bars sharing an open time (several symbols) are one instant: the venue
        # matches each symbol's book first, then the policy sees each bar.
        try:
            for _ts, group in itertools.groupby(bars, key=lambda b: b.ts):
                instant = list(group)
                if not started:
                    self.clock.set(instant[0].ts)
                    p.begin(meta)
                    started = True
                for bar in instant:
                    self._feed(self.venue.on_bar(bar))
                self.clock.set(max(self.clock.now_ms(), max(b.close_ts for b in instant)))
                for bar in instant:
                    p.on_bar(bar)
                    n += 1
                    if self.progress is not None and n % self.progress_every == 0:
                        self.progress(n)
                self._send_all()
                p.ended_with_fills.clear()  # for the live engine's fee audit; a backtest has none
                if p.durability is Durability.GROUPED:
                    p.commit_due()
        except PolicyFault:
            # A policy fault is raised between whole steps (before an intent is appended, or
            # after an outcome), and with GROUPED the commands of every appended step already
            # reached the sim: keep them, as a write-ahead run keeps what it had committed.
            if p.durability is Durability.GROUPED and p.journal is not None and started:
                p.journal.commit()
            raise
        if not started:
            raise EngineError("no bars: nothing to run")
        if self.progress is not None:
            self.progress(n)
        kernel = p.kernel
        open_slots = sum(1 for i in range(kernel.slot_count) if kernel.slot(i).stage not in _FREE)
        p.finish(open_slots=open_slots)
        return BacktestResult(p.stats, kernel, open_slots)

    def _feed(self, events: Sequence[VenueEvent]) -> None:
        for ev in events:
            if ev.ts > self.clock.now_ms():
                self.clock.set(ev.ts)
            self.pipeline.on_event(ev)

    def _send_all(self) -> None:
        p = self.pipeline
        while p.has_commands:
            for cmd in p.flush():
                now = self.clock.now_ms()
                match cmd:
                    case SubmitOrder(order=o):
                        events = self.venue.submit(o, now)
                    case CancelOrder(order=o):
                        events = self.venue.cancel(o, now)
                self._feed(events)


_FREE = (TradeStage.IDLE, TradeStage.CLOSED)


# --------------------------------------------------------------------------- async engine


class EngineState(StrEnum):
    CREATED = "CREATED"
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    FAILED = "FAILED"


# What the processor's inbox carries: one frozen type per kind of input, so the processor
# matches on the type (never on a tag string) and mypy sees each payload's shape.


@dataclass(frozen=True, slots=True)
class BarClosed:
    """A closed bar from the feed, for the policy's ``on_bar``."""

    bar: Bar


@dataclass(frozen=True, slots=True)
class VenueReported:
    """An event the venue reported on its stream, for the kernel."""

    event: VenueEvent


@dataclass(frozen=True, slots=True)
class IntentsSubmitted:
    """Intents from outside the policy (``Engine.submit``); ``answer`` gets their outcomes."""

    intents: tuple[KernelIntent, ...]
    answer: asyncio.Future[list[KernelOutcome]]


@dataclass(frozen=True, slots=True)
class FeedEnded:
    """The bar feed ended: stop once nothing is live (or after the drain timeout)."""


@dataclass(frozen=True, slots=True)
class ReconcileAsked:
    """The watcher found a reason to reconcile with the venue (a stale order, say)."""

    reason: str


@dataclass(frozen=True, slots=True)
class SubmitWithheld:
    """The sender held back a submit because the policy had cancelled the order before it
    left: the order never reached the venue, and the processor ends it now
    (``Engine._withheld``)."""


InboxItem = (
    BarClosed
    | VenueReported
    | IntentsSubmitted
    | FeedEnded
    | ReconcileAsked
    | StreamResumed
    | SubmitWithheld
)


def never_sent(order: Order, ts: int) -> VenueEvent:
    """The event that ends an order the engine cancelled before sending it: it never
    reached the venue, so nothing there can fill (a CANCEL_ACK only the engine gives)."""
    return VenueEvent(
        event_id=f"engine:unsent:{order.client_order_id}",
        ts=ts,
        kind=EventKind.CANCEL_ACK,
        client_order_id=order.client_order_id,
        venue_order_id=order.venue_order_id,
        reason="cancelled before it was sent: it never reached the venue",
    )


def cancelled_before_sending(
    commands: Sequence[Command],
) -> tuple[list[Command], list[Order]]:
    """Split released commands into those to send and the orders whose submit and cancel
    both wait here: sending neither is the only way the policy's cancel certainly wins
    (sent alone, the cancel finds no order, the venue refuses it, and the order, back to
    REQUESTED, looks live until the policy cancels again)."""
    submits = {c.order.client_order_id for c in commands if isinstance(c, SubmitOrder)}
    dropped: dict[str, Order] = {
        c.order.client_order_id: c.order
        for c in commands
        if isinstance(c, CancelOrder) and c.order.client_order_id in submits
    }
    if not dropped:
        return list(commands), []
    keep = [c for c in commands if c.order.client_order_id not in dropped]
    return keep, list(dropped.values())


# A NotSent command certainly never reached the venue, so sending it again with the same
# client order id is as safe as re-reading: three attempts, 0.2 s then 0.4 s apart.
SEND_RETRY = RetryPolicy(attempts=3, first_delay_s=0.2, factor=2.0)


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """How an ``Engine`` runs, in one place (the defaults are a live run's).

    ``reconcile``: reconcile with the venue before the first intent, then keep
    checking while running (stale orders, stream resumptions); ``None``: never,
    unless the engine resumes a journal (then with default settings).
    """

    queue_size: int = 1024  # bound of the inbox and of the command queue
    drain_timeout_s: float = 5.0  # after the feed ended: wait at most this for live orders
    snapshot_every: int = 50_000  # kernel inputs between journaled snapshots
    send_retry: RetryPolicy = SEND_RETRY  # how a NotSent submit or cancel is sent again
    reconcile: ReconcileSettings | None = None

    def __post_init__(self) -> None:
        if self.queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {self.queue_size}")
        if not self.drain_timeout_s >= 0:
            raise ValueError(f"drain_timeout_s must be >= 0, got {self.drain_timeout_s}")
        if self.snapshot_every < 1:
            raise ValueError(f"snapshot_every must be >= 1, got {self.snapshot_every}")
        if self.send_retry.attempts < 1:
            raise ValueError(f"send_retry.attempts must be >= 1, got {self.send_retry.attempts}")


class Engine:
    """Drives a kernel against an async ``Venue``; one ``TaskGroup`` owns every task.

    ``bars`` (optional) is the market data feed the policy's ``on_bar`` sees.
    When it ends, the engine stops once no order is live (or after
    ``settings.drain_timeout_s``); without a feed it runs until ``stop()``, which
    stops it at any time. ``submit()`` lets intents in from outside the policy.
    Lifecycle: CREATED --run()--> RUNNING --stop() or end of feed--> STOPPING
    --> STOPPED, or FAILED when any task raised (the journal keeps only what
    was committed, as after a crash).
    """

    def __init__(
        self,
        *,
        kernel: Kernel,
        venue: Venue,
        policy: Policy,
        journal: SqliteJournal | None,
        clock: Clock,
        meta: RunMeta,
        bars: AsyncIterator[Bar] | None = None,
        settings: EngineSettings | None = None,
        resume_from: int | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        """``resume_from``: the kernel was rebuilt from ``journal`` (see ``dita.recovery``)
        and this is the seq of its last input; the run continues that journal (and
        always reconciles, with default settings if ``settings.reconcile`` is None).
        Time: every timer of the engine runs on ``clock`` (``clock.sleep``), so a
        ``SimClock`` that a test moves drives the reconciliation watch, and a
        ``LiveClock`` waits in real time. ``sleep`` overrides only the waits between
        attempts (send retries, reconciliation re-queries): a test passes one that
        moves its clock by each wait at once, and a run whose stamps are market time
        but whose venue is a real server passes ``asyncio.sleep``. Only the drain
        after the feed ended is bounded in the event loop's time: in a simulation the
        clock stops with the feed."""
        self.venue = venue
        self.meta = meta
        self._resume_from = resume_from
        settings = settings or EngineSettings()
        if settings.reconcile is None and resume_from is not None:
            settings = dataclasses.replace(settings, reconcile=ReconcileSettings())
        self.settings = settings
        self._reconcile_settings = settings.reconcile
        self._reconcile_requested = False
        self.reconciliations: list[ReconcileReport] = []
        self.pipeline = Pipeline(
            kernel, policy, journal, clock, snapshot_every=settings.snapshot_every
        )
        self._bars = bars
        self._inbox: asyncio.Queue[InboxItem] = asyncio.Queue(maxsize=settings.queue_size)
        self._commands: asyncio.Queue[Command] = asyncio.Queue(maxsize=settings.queue_size)
        self._state = EngineState.CREATED
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._progress = asyncio.Condition()
        self._released = 0
        self._sent = 0
        # client order id -> commands released for it and not yet sent (or given up)
        self._in_flight: Counter[str] = Counter()
        # submits the sender held back (their cancel was requested before they left);
        # the processor ends each order (never_sent) and the sender drops its cancel
        self._withheld: set[str] = set()
        self._withheld_orders: list[Order] = []
        self.pipeline.sending = self._in_flight.keys
        # commands whose outcome only a query can tell (they may have reached the venue)
        self.unknown_outcomes: list[Command] = []
        # commands that certainly never reached the venue, after every attempt of
        # settings.send_retry (reconciliation finds such an order missing and resubmits it)
        self.not_sent: list[Command] = []
        self._sleep = sleep or clock.sleep
        self._failure: BaseException | None = None
        self._waiting: set[asyncio.Future[list[KernelOutcome]]] = set()

    @property
    def state(self) -> EngineState:
        return self._state

    @property
    def kernel(self) -> Kernel:
        return self.pipeline.kernel

    @property
    def stats(self) -> RunStats:
        return self.pipeline.stats

    async def submit(self, intents: Sequence[KernelIntent]) -> list[KernelOutcome]:
        """Run intents from outside the policy (an operator, a JSONL stream, a test).

        Returns once they were journaled, run and their commands committed and
        handed to the sender: the outcomes of these steps and of the policy's
        reactions to them, in order.
        """
        if self._failure is not None:
            raise EngineStateError(
                f"submit() not valid in {self._state}: the engine failed: {_cause(self._failure)}"
            )
        if self._state is not EngineState.RUNNING:
            raise EngineStateError(
                f"submit() not valid in {self._state}: the engine is not running"
            )
        answer: asyncio.Future[list[KernelOutcome]] = asyncio.get_running_loop().create_future()
        self._waiting.add(answer)
        try:
            await self._inbox.put(IntentsSubmitted(tuple(intents), answer))
            return await answer
        finally:
            self._waiting.discard(answer)

    async def wait_settled(self, bars: int) -> None:
        """Wait until ``bars`` bars were processed and every command they caused was sent.

        For feeds that replay recorded data into a simulated venue: pacing the
        feed on this keeps the venue's market from running ahead of the policy,
        as real time would.
        """
        async with self._progress:
            await self._progress.wait_for(
                lambda: self.stats.bars >= bars and self._sent == self._released
            )

    async def _notify(self) -> None:
        async with self._progress:
            self._progress.notify_all()

    def stop(self) -> None:
        """Ask a running engine to stop after the input it is processing."""
        if self._state is not EngineState.RUNNING:
            raise EngineStateError(f"stop() not valid in {self._state}: the engine is not running")
        self._state = EngineState.STOPPING
        self._stop.set()

    async def run(self) -> RunStats:
        """Run until the bar feed ends and nothing is live, or ``stop()``. Runs once."""
        if self._state is not EngineState.CREATED:
            raise EngineStateError(f"run() not valid in {self._state}: an engine runs once")
        self._state = EngineState.RUNNING
        try:
            await self.venue.start()
            if self._resume_from is not None:
                self.pipeline.resume(self._resume_from)
            else:
                self.pipeline.begin(self.meta)
            if self._reconcile_settings is not None:
                # before any intent: the kernel must know what it owns first
                await self.reconcile("start")
                if self._resume_from is not None and self._reconcile_settings.audit_fees:
                    # fills recovered before the crash may have lost their fees
                    ended = [
                        o
                        for o in self.kernel.held_orders()
                        if not o.status.is_live and o.filled_qty > 0
                    ]
                    await self.audit(ended)
            async with asyncio.TaskGroup() as tg:
                self._tasks = [
                    tg.create_task(self._pump_events(), name="venue-events"),
                    tg.create_task(self._send_commands(), name="commands"),
                ]
                if self._reconcile_settings is not None:
                    self._tasks.append(tg.create_task(self._watch(), name="reconcile-watch"))
                    self._tasks.append(
                        tg.create_task(self._pump_resumptions(), name="venue-resumptions")
                    )
                if self._bars is not None:
                    self._tasks.append(tg.create_task(self._pump_bars(self._bars), name="bars"))
                tg.create_task(self._process(), name="processor")
            self.pipeline.finish(open_slots=self.open_slots())
        except BaseException as e:
            self._state = EngineState.FAILED
            self._failure = e
            # every submit() still waiting learns why, now (before anything else can hang)
            self._fail_waiting(e)
            if self.pipeline.journal is not None:
                # what was not committed never happened, exactly as in a crash
                self.pipeline.journal.close(discard_pending=True)
            raise
        finally:
            self._refuse_waiting_submits()
            await self.venue.close()
        self._state = EngineState.STOPPED
        return self.pipeline.stats

    def _fail_waiting(self, e: BaseException) -> None:
        for answer in list(self._waiting):
            if not answer.done():
                answer.set_exception(
                    EngineStateError(f"submit() not served: the engine failed: {_cause(e)}")
                )

    def _refuse_waiting_submits(self) -> None:
        while not self._inbox.empty():
            item = self._inbox.get_nowait()
            if isinstance(item, IntentsSubmitted):
                answer = item.answer
                if not answer.done():
                    answer.set_exception(
                        EngineStateError(
                            f"submit() not served: the engine stopped ({self._state}) first"
                        )
                    )

    def open_slots(self) -> int:
        """Slots holding a trade that has not ended."""
        k = self.kernel
        return sum(1 for i in range(k.slot_count) if k.slot(i).stage not in _FREE)

    async def _pump_events(self) -> None:
        async for ev in self.venue.events():
            await self._inbox.put(VenueReported(ev))

    async def _pump_resumptions(self) -> None:
        async for resumed in self.venue.resumptions():
            await self._inbox.put(resumed)

    async def _pump_bars(self, bars: AsyncIterator[Bar]) -> None:
        async for bar in bars:
            await self._inbox.put(BarClosed(bar))
        await self._inbox.put(FeedEnded())

    async def _process(self) -> None:
        """The only task that touches the kernel and the journal."""
        stop_wait = asyncio.ensure_future(self._stop.wait())
        try:
            await self._process_until_done(stop_wait)
        finally:
            stop_wait.cancel()
        # Normal end only: on an error the TaskGroup cancels the other tasks, and
        # commands of a failed engine are better left to reconciliation.
        await self._release()
        await self._commands.join()
        for t in self._tasks:
            t.cancel()

    async def _process_until_done(self, stop_wait: asyncio.Future[Any]) -> None:
        ended = False  # without a bar feed, the engine runs until stop()
        deadline: float | None = None
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            if ended and not self.kernel.live_orders() and self._commands.empty():
                return
            get = asyncio.ensure_future(self._inbox.get())
            timeout = None if deadline is None else max(0.0, deadline - loop.time())
            done, _ = await asyncio.wait(
                {get, stop_wait}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if get not in done:
                get.cancel()
                return  # stopped, or the drain timeout passed
            # group commit: take everything already waiting, then commit once
            batch = [get.result()]
            while not self._inbox.empty() and len(batch) < 512:
                batch.append(self._inbox.get_nowait())
            answered: list[tuple[asyncio.Future[list[KernelOutcome]], list[KernelOutcome]]] = []
            reconcile_reason: str | None = None
            for item in batch:
                match item:
                    case IntentsSubmitted(intents=intents, answer=answer):
                        answered.append((answer, self.pipeline.submit_intents(intents)))
                    case FeedEnded():
                        ended = True
                        deadline = loop.time() + self.settings.drain_timeout_s
                    case _:
                        reconcile_reason = self._take(item) or reconcile_reason
            self._end_withheld()
            await self._release()
            await self._after_batch(reconcile_reason)
            for answer, outcomes in answered:
                if not answer.done():
                    answer.set_result(outcomes)

    def _take(self, item: InboxItem) -> str | None:
        """One inbox item that is neither intents nor the feed's end; a reason to reconcile
        with the venue when the item gives one."""
        p = self.pipeline
        match item:
            case BarClosed(bar=bar):
                if isinstance(p.clock, SimClock) and bar.close_ts > p.clock.now_ms():
                    p.clock.set(bar.close_ts)
                p.on_bar(bar)
            case VenueReported(event=ev):
                p.on_event(ev)
            case ReconcileAsked(reason=reason):
                return reason
            case StreamResumed():
                return "venue stream reconnected"  # events may have been lost in the gap
            case SubmitWithheld():
                pass  # a wake-up: _end_withheld ends the orders
        return None

    def _end_withheld(self) -> None:
        """End the orders whose submit the sender held back (``never_sent``)."""
        orders, self._withheld_orders = self._withheld_orders, []
        p = self.pipeline
        for o in orders:
            now = p.kernel.order(o.client_order_id)
            if now is not None and now.status.is_live:
                p.on_event(never_sent(now, p.clock.now_ms()))

    async def _after_batch(self, reconcile_reason: str | None) -> None:
        """After a batch was released: audit the fees of orders that ended with fills, and
        reconcile when something asked for it."""
        p = self.pipeline
        if (
            p.ended_with_fills
            and self._reconcile_settings is not None
            and self._reconcile_settings.audit_fees
        ):
            to_audit, p.ended_with_fills = p.ended_with_fills, []
            await self.audit(to_audit)
        else:
            p.ended_with_fills.clear()
        if reconcile_reason is not None:
            await self.reconcile(reconcile_reason)
            self._reconcile_requested = False

    async def _release(self) -> None:
        """Commit what was appended, then hand the commands it allows to the sender; an
        order whose submit and cancel are both among them is sent neither way and ended
        at once (``cancelled_before_sending``), and what the policy answers to that is
        committed and released in turn."""
        p = self.pipeline
        while True:
            if p.journal is not None and p.journal.pending:
                committed = await p.journal.acommit()
            else:
                committed = p.journal.last_seq if p.journal is not None else 0
            commands, unsent = cancelled_before_sending(p.take_commands_after(committed))
            for cmd in commands:
                self._released += 1
                self._in_flight[cmd.order.client_order_id] += 1
                await self._commands.put(cmd)
            if not unsent:
                break
            for o in unsent:
                now = p.kernel.order(o.client_order_id)
                if now is not None and now.status.is_live:
                    p.on_event(never_sent(now, p.clock.now_ms()))
        await self._notify()

    async def reconcile(self, reason: str) -> ReconcileReport:
        """Query every order the kernel believes live and feed the verdicts through the
        pipeline (journal first); compare positions. Only the processor (or start-up,
        before it runs) may call this: it touches the kernel."""
        settings = self._reconcile_settings or ReconcileSettings()
        p = self.pipeline
        report = await Reconciler(self.venue, self._sink(), settings).run(reason)
        if report.changed_anything or report.notes:
            p.note(
                "reconcile",
                report.summary(),
                reason=reason,
                events=[e.event_id for e in report.events],
                resubmitted=report.resubmitted,
                cancels_resent=report.cancels_resent,
                adjustments=[a.adjustment_id for a in report.adjustments],
            )
            await self._release()
        self.reconciliations.append(report)
        return report

    def _sink(self) -> ReconcileSink:
        p = self.pipeline

        def feed(ev: VenueEvent) -> None:
            p.on_event(ev)

        return ReconcileSink(
            kernel=lambda: p.kernel,
            feed=feed,
            commit=self._release,
            record=p.record,
            journaled_adjustments=lambda: journaled_adjustment_ids(p.journal),
            now_ms=p.clock.now_ms,
            cancel_requested=lambda: p.cancel_requested,
            in_flight=lambda: self._in_flight.keys(),
            sleep=self._sleep,
        )

    async def audit(self, orders: Sequence[Order]) -> list[VenueEvent]:
        """Query orders that ended with fills once more and journal what their money says
        (a fee a lost stream frame took with it). Processor or start-up only."""
        settings = self._reconcile_settings or ReconcileSettings()
        p = self.pipeline
        unique = list({o.client_order_id: o for o in orders}.values())
        fed = await Reconciler(self.venue, self._sink(), settings).audit(unique)
        p.ended_with_fills.clear()  # (its own events may have ended nothing new)
        if fed:
            p.note("fee-audit", f"{len(fed)} event(s) from the venue's cumulative fees",
                   events=[e.event_id for e in fed])  # fmt: skip
            await self._release()
        return fed

    async def _watch(self) -> None:
        """Ask the processor to reconcile when an order waits for an answer too long
        (submitted or cancel requested, no word for ``stale_after_s``) or a working order
        has been silent for ``working_recheck_s``. (A stream that came back after a break
        is the venue's ``StreamResumed``, which the processor reconciles on at once.)"""
        settings = self._reconcile_settings
        assert settings is not None
        clock = self.pipeline.clock
        since: dict[str, tuple[tuple[object, ...], float]] = {}  # cid -> (state, unchanged since)
        while True:
            await clock.sleep(settings.check_every_s)
            now = clock.now_ms() / 1000
            live = {o.client_order_id: o for o in self.kernel.live_orders()}
            for cid in [c for c in since if c not in live]:
                del since[cid]
            for cid, o in live.items():
                state: tuple[object, ...] = (o.status, o.acked, o.filled_qty)
                if cid not in since or since[cid][0] != state:
                    since[cid] = (state, now)
            reason: str | None = None
            if self._sent == self._released:
                stale = sorted(
                    cid
                    for cid, (_, t) in since.items()
                    if now - t
                    >= (
                        settings.working_recheck_s
                        if live[cid].status is OrderStatus.WORKING
                        else settings.stale_after_s
                    )
                )
                if stale:
                    reason = f"no word for too long: {', '.join(stale)}"
            if reason is not None and not self._reconcile_requested:
                self._reconcile_requested = True
                for cid, (known, _) in list(since.items()):
                    since[cid] = (known, now)
                await self._inbox.put(ReconcileAsked(reason))

    async def _send_commands(self) -> None:
        while True:
            cmd = await self._commands.get()
            try:
                await self._send(cmd)
            finally:
                cid = cmd.order.client_order_id
                self._in_flight[cid] -= 1
                if self._in_flight[cid] <= 0:
                    del self._in_flight[cid]
                self._sent += 1
                self._commands.task_done()
                await self._notify()

    def _withhold(self, cmd: Command) -> bool:
        """True if ``cmd`` must not go out: a submit whose cancel the policy requested
        before it left (the cancel wins: it is never sent, and the processor ends the
        order), or the cancel of such a submit (there is nothing on the venue to cancel;
        sent, the venue would refuse it and the order would look live again)."""
        cid = cmd.order.client_order_id
        if isinstance(cmd, CancelOrder):
            if cid in self._withheld:
                self._withheld.discard(cid)
                return True
            return False
        if cid not in self.pipeline.cancel_requested:
            return False
        self._withheld.add(cid)
        self._withheld_orders.append(cmd.order)
        with contextlib.suppress(asyncio.QueueFull):
            # a full inbox wakes the processor anyway, and it ends the order then
            self._inbox.put_nowait(SubmitWithheld())
        return True

    async def _send(self, cmd: Command) -> None:
        waits = self.settings.send_retry.delays()
        for attempt in range(len(waits) + 1):
            if self._withhold(cmd):
                return
            if attempt:
                await self._sleep(waits[attempt - 1])
                if self._withhold(cmd):
                    return
            try:
                match cmd:
                    case SubmitOrder(order=o):
                        await self.venue.submit(o)
                    case CancelOrder(order=o):
                        await self.venue.cancel(o)
                return
            except NotSent:
                continue  # certainly not sent: same client order id, safe to retry
            except VenueFatal as e:
                raise EngineError(
                    f"venue {self.venue.name} refused for good while sending {type(cmd).__name__} "
                    f"{cmd.order.client_order_id}: {e}"
                ) from e
            except VenueError:
                # OutcomeUnknown (or an error that does not say): it may have reached the
                # venue, so reconciliation (query by client order id) decides, never a
                # blind resend
                self.unknown_outcomes.append(cmd)
                return
        self.not_sent.append(cmd)


def _cause(e: BaseException) -> str:
    """The first real error inside ``e`` (a TaskGroup wraps them), as ``Type: message``."""
    while isinstance(e, BaseExceptionGroup) and e.exceptions:
        e = e.exceptions[0]
    return f"{type(e).__name__}: {e}"
