"""Crash recovery: reopen a journal, rebuild the kernel, reconcile with the venue.

Theory of operation
-------------------
The journal is the truth about what the engine *decided*; the venue is the
truth about what *happened*. After a crash the two may disagree in exactly the
ways the write-ahead contract allows: a submit or cancel that was committed
but never reached the venue, fills and acks the venue sent that were never
journaled. Start-up therefore runs in this order, before any new intent:

1. ``open_journal_for_recovery``: open the journal; a torn last commit group
   (never durable, so never acted upon) is moved aside and reported; damage
   anywhere else raises ``JournalCorrupted`` and the file is left untouched.
2. ``dita.journal.replay``: the kernel from the last snapshot plus the tail.
3. ``Reconciler.run``: every order the kernel believes may be live is queried
   by client order id; ``dita.reconcile`` turns each answer into a verdict.
   Synthetic events (deterministic ids) go through the engine's normal
   pipeline, journal first. Orders the venue never received are resubmitted
   with the *same* client order id; cancels that never arrived are sent
   again; a pending cancel the venue cannot confirm is queried again, a
   bounded number of times, then ``ReconcileError``.
4. Positions (and, if asked, the balance) are compared with the kernel's. A
   difference is journaled as an ``Adjustment`` record and reported, never
   applied; with ``OnMismatch.HALT`` the engine refuses to trade
   (``ReconcileHalted``) until a human has looked and restarts with
   ``continue``.

Reconciling again right after changes nothing: every synthetic event carries
an id the kernel has already applied, and an adjustment already journaled
(same deterministic id) is not journaled twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Set
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from dita import reconcile as rc
from dita.journal import (
    Adjustment,
    RecordKind,
    RunMeta,
    SnapshotRecord,
    SqliteJournal,
    TornTail,
    replay,
)
from dita.kernel import EventKind, Kernel, Order, Side, TradeStage, VenueEvent
from dita.venues.base import OrderReport, Venue, VenueError, VenueFatal

_T = TypeVar("_T")


class RecoveryError(Exception):
    """Recovery cannot go on; the message says what and what to do next."""


class ReconcileError(RecoveryError):
    """The venue's answers stayed inconclusive or contradict the journal."""


class ReconcileConflict(ReconcileError):
    """The venue contradicts the journal about an order: a human must decide."""


RESOLVE_HINT = "dita recover JOURNAL --endpoint ENDPOINT --resolve accept"


class ReconcileHalted(RecoveryError):
    """The venue's account differs from the kernel's and ``OnMismatch.HALT`` was chosen."""


class OnMismatch(StrEnum):
    HALT = "halt"  # refuse to trade until a human confirms
    CONTINUE = "continue"  # record the adjustment, report it, and trade on


@dataclass(frozen=True)
class Recovered:
    """A journal reopened for a resumed run, and the kernel it rebuilt."""

    journal: SqliteJournal
    kernel: Kernel
    meta: RunMeta
    last_input_seq: int
    torn: TornTail | None  # the torn tail that was moved aside, if any


def last_input_seq(journal: SqliteJournal) -> int:
    """Seq of the last kernel input (intent or venue event) in the journal, 0 if none."""
    seqs = [0]
    for kind in (RecordKind.INTENT, RecordKind.VENUE_EVENT):
        rec = journal.latest(kind)
        if rec is not None:
            seqs.append(rec.seq)
    snap = journal.latest(RecordKind.SNAPSHOT)
    if snap is not None and isinstance(snap.body, SnapshotRecord):
        seqs.append(snap.body.input_seq)
    return max(seqs)


def open_journal_for_recovery(path: str | Path, *, readonly: bool = False) -> Recovered:
    """Open an existing journal and rebuild its kernel (see the module docstring).

    Raises ``JournalError``/``JournalCorrupted`` (file untouched) when the
    journal cannot be trusted, ``RecoveryError`` when there is none.
    """
    p = Path(path)
    if not p.exists():
        raise RecoveryError(f"{p}: no journal to recover from")
    torn: TornTail | None = None
    try:
        journal = SqliteJournal.open(p, create=False, readonly=readonly)
    except TornTail as e:
        if readonly:
            raise
        torn = e
        journal = SqliteJournal.open(p, create=False, repair_torn_tail=True)
    try:
        run = journal.first(RecordKind.RUN)
        if run is None or not isinstance(run.body, RunMeta):
            raise RecoveryError(f"{p}: no 'run' record; not a journal written by dita")
        kernel = replay(journal)
        return Recovered(journal, kernel, run.body, last_input_seq(journal), torn)
    except BaseException:
        journal.close()
        raise


# --------------------------------------------------------------------------- reconciliation


@dataclass
class ReconcileReport:
    """What one reconciliation found and did."""

    reason: str
    rounds: int = 0
    queried: int = 0
    events: list[VenueEvent] = field(default_factory=list)
    resubmitted: list[str] = field(default_factory=list)
    cancels_resent: list[str] = field(default_factory=list)
    requeried: list[str] = field(default_factory=list)
    adjustments: list[Adjustment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # checks left for a later reconciliation (not news: nothing is journaled for them)
    skipped: list[str] = field(default_factory=list)

    @property
    def changed_anything(self) -> bool:
        return bool(self.events or self.resubmitted or self.cancels_resent or self.adjustments)

    def summary(self) -> str:
        return (
            f"reconciliation ({self.reason}): {self.queried} orders queried in {self.rounds} "
            f"round(s); {len(self.events)} synthetic events, {len(self.resubmitted)} resubmitted, "
            f"{len(self.cancels_resent)} cancels re-sent, {len(self.adjustments)} adjustments"
        )


@dataclass(frozen=True)
class RetryPolicy:
    """How a read-only venue query is retried: ``attempts`` in all, waiting
    ``first_delay_s``, then ``factor`` times longer each time, at most ``max_delay_s``.
    A read changes nothing on the venue, so retrying it is always safe; only
    ``VenueFatal`` (credentials, a disabled account) is not retried."""

    attempts: int = 6
    first_delay_s: float = 0.2
    factor: float = 2.0
    max_delay_s: float = 5.0

    def delays(self) -> list[float]:
        """The waits between attempts (``attempts - 1`` of them)."""
        out, d = [], self.first_delay_s
        for _ in range(max(0, self.attempts - 1)):
            out.append(min(d, self.max_delay_s))
            d *= self.factor
        return out


READ_RETRY = RetryPolicy()


class TransientReadError(ReconcileError):
    """A read-only query kept failing for a transient reason (not a contradiction):
    restarting later is the remedy (``dita run`` supervision does it)."""


@dataclass(frozen=True)
class ReconcileSettings:
    on_mismatch: OnMismatch = OnMismatch.HALT
    max_rounds: int = 8
    requery_delay_s: float = 0.25
    check_balance: bool = False
    resubmit_unsent: bool = True
    # while running: query an order still waiting for an answer (submitted, or cancel
    # requested) after this long; a working order silent for working_recheck_s
    stale_after_s: float = 3.0
    working_recheck_s: float = 60.0
    check_every_s: float = 1.0
    read_retry: RetryPolicy = READ_RETRY
    # query every order that ended with fills once more, for the fees a lost stream
    # frame may have taken with it (a fill recovered from the cumulative quantity)
    audit_fees: bool = True
    # the operator's way out of a halt (``dita recover --resolve accept``): an order the
    # venue contradicts is ended in the journal (cancelled on the venue first if it is
    # live there), account differences are accepted as they are; all journaled
    resolve: bool = False

    def __post_init__(self) -> None:
        if self.max_rounds < 2:
            # "no such order" for a cancelled order is believed on the second round
            raise ValueError(f"max_rounds must be >= 2, got {self.max_rounds}")


class ReconcileSink:
    """What the reconciler needs from the engine: the pipeline's step, commit and send."""

    def __init__(
        self,
        *,
        kernel: Callable[[], Kernel],
        feed: Callable[[VenueEvent], None],
        commit: Callable[[], Awaitable[None]],
        record: Callable[[Adjustment], None],
        journaled_adjustments: Callable[[], set[str]],
        now_ms: Callable[[], int],
        cancel_requested: Callable[[], Set[str]] = frozenset,
        in_flight: Callable[[], Set[str]] = frozenset,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.kernel = kernel
        self.feed = feed
        self.commit = commit
        self.record = record
        self.journaled_adjustments = journaled_adjustments
        self.now_ms = now_ms
        self.cancel_requested = cancel_requested  # ids whose cancel the policy requested
        # ids with a command handed to the sender and not yet sent: their own send is
        # still to come, so a query now says nothing (and a resubmit would send twice)
        self.in_flight = in_flight
        self.sleep = sleep  # the engine's timer (a driven clock in tests)


def kernel_positions(kernel: Kernel) -> list[tuple[str, Side, Decimal]]:
    out = []
    for i in range(kernel.slot_count):
        s = kernel.slot(i)
        if s.side is not None and s.size > 0 and s.stage not in (TradeStage.IDLE,):
            out.append((s.asset, s.side, s.size))
    return out


class Reconciler:
    """Runs the venue queries and turns ``dita.reconcile`` verdicts into journaled steps."""

    def __init__(self, venue: Venue, sink: ReconcileSink, settings: ReconcileSettings) -> None:
        self.venue = venue
        self.sink = sink
        self.settings = settings

    async def run(self, reason: str, *, positions: bool = True) -> ReconcileReport:
        report = ReconcileReport(reason)
        st = self.settings
        acted: set[tuple[str, rc.Action]] = set()
        pending: list[str] = []
        absent: set[str] = set()  # the venue said "no such order" in an earlier round
        for round_no in range(1, st.max_rounds + 1):
            report.rounds = round_no
            sending = self.sink.in_flight()
            live = [o for o in self.sink.kernel().live_orders() if o.client_order_id not in sending]
            if not live:
                pending = []
                break
            reports: dict[str, OrderReport | None] = {}
            for o in live:
                reports[o.client_order_id] = await self._query(o)
            report.queried += len(live)
            result = rc.reconcile(
                live,
                reports,
                ts=self.sink.now_ms(),
                resubmit_unsent=st.resubmit_unsent,
                cancel_requested=self.sink.cancel_requested(),
                absent_before=absent,
            )
            absent |= {cid for cid, r in reports.items() if r is None}
            pending, fed = await self._act(result, reports, report, acted)
            if fed:
                await self.sink.commit()
            if not pending:
                break
            await self.sink.sleep(st.requery_delay_s)
        if pending:
            raise ReconcileError(
                f"reconciliation ({reason}) not conclusive after {st.max_rounds} rounds for "
                f"{', '.join(sorted(set(pending)))}: the venue never confirmed these orders' "
                "state. Check them on the venue, then restart"
            )
        if positions:
            await self._compare_account(report)
        return report

    async def _act(
        self,
        result: rc.Reconciliation,
        reports: dict[str, OrderReport | None],
        report: ReconcileReport,
        acted: set[tuple[str, rc.Action]],
    ) -> tuple[list[str], bool]:
        """One round's verdicts: feed their events and take their actions (each resubmit or
        resent cancel once per order, unless sending failed). Returns the orders still
        unsettled and whether anything was fed (to commit)."""
        st = self.settings
        pending: list[str] = []
        fed = False
        for v in result.verdicts:
            cid = v.order.client_order_id
            for ev in v.events:
                self.sink.feed(ev)
                report.events.append(ev)
                fed = True
            match v.action:
                case rc.Action.CONFLICT if st.resolve:
                    if not await self._resolve_order(v, reports.get(cid), report):
                        pending.append(cid)
                        fed = True
                case rc.Action.CONFLICT:
                    raise ReconcileConflict(
                        f"order {cid} (slot {v.order.slot_id}, {v.order.status}): {v.note}. "
                        "The venue contradicts the journal; nothing was changed. Check the "
                        "order on the venue; to take the venue's account as the truth, run "
                        f"`{RESOLVE_HINT}`"
                    )
                case rc.Action.RESUBMIT:
                    pending.append(cid)
                    if (cid, v.action) not in acted:
                        acted.add((cid, v.action))
                        report.resubmitted.append(cid)
                        if not await self._send(self.venue.submit, v.order):
                            acted.discard((cid, v.action))  # failed: again next round
                case rc.Action.RESEND_CANCEL:
                    pending.append(cid)
                    if (cid, v.action) not in acted:
                        acted.add((cid, v.action))
                        report.cancels_resent.append(cid)
                        if not await self._send(self.venue.cancel, v.order):
                            acted.discard((cid, v.action))
                case rc.Action.REQUERY:
                    pending.append(cid)
                    report.requeried.append(cid)
                case _:
                    pass
        return pending, fed

    async def _resolve_order(
        self, v: rc.OrderVerdict, venue: OrderReport | None, report: ReconcileReport
    ) -> bool:
        """``--resolve accept`` for an order the venue contradicts: cancel it on the venue
        if it is live there, then end it in the journal (its applied fills kept) and record
        what differed. False if the cancel could not be sent (tried again next round)."""
        o = v.order
        if venue is not None and venue.status.is_live:
            if not await self._send(self.venue.cancel, o):
                return False
            report.cancels_resent.append(o.client_order_id)
        adj = Adjustment(
            adjustment_id=f"adj:order:{o.client_order_id}:{o.filled_qty}:"
            f"{venue.cum_qty if venue else 'absent'}:accepted",
            subject="order",
            asset=o.asset,
            kernel_value=o.filled_qty,
            venue_value=venue.cum_qty if venue else Decimal(0),
            action="accepted by operator",
            reason=f"order {o.client_order_id}: {v.note}; ended in the journal by "
            "--resolve accept (fills already applied kept)",
        )
        if adj.adjustment_id not in self.sink.journaled_adjustments():
            self.sink.record(adj)
            report.adjustments.append(adj)
        ev = VenueEvent(
            event_id=rc.synthetic_id(o.client_order_id, EventKind.CANCEL_ACK, o.filled_qty),
            ts=self.sink.now_ms(),
            kind=EventKind.CANCEL_ACK,
            client_order_id=o.client_order_id,
            venue_order_id=o.venue_order_id,
            reason=f"operator resolved (--resolve accept): {v.note}",
        )
        self.sink.feed(ev)
        report.events.append(ev)
        report.notes.append(f"resolved {o.client_order_id}: {v.note}")
        return True

    async def audit(self, orders: list[Order]) -> list[VenueEvent]:
        """Query ended orders once more and feed what their money says (a fee a lost
        stream frame took, a late fill); see ``dita.reconcile._reconcile_ended``."""
        fed: list[VenueEvent] = []
        for o in orders:
            now = self.sink.kernel().order(o.client_order_id)
            if now is None or now.status.is_live:
                continue  # let go meanwhile, or live again: the normal path follows it
            v = rc.reconcile_order(now, await self._query(now), ts=self.sink.now_ms())
            if v.action is rc.Action.CONFLICT and self.settings.resolve:
                continue  # ended already; the operator accepts what the venue says
            if v.action is rc.Action.CONFLICT:
                raise ReconcileConflict(
                    f"order {o.client_order_id} ({now.status}): {v.note}. The venue contradicts "
                    f"the journal; to take the venue's account as the truth, run "
                    f"`{RESOLVE_HINT}`"
                )
            for ev in v.events:
                self.sink.feed(ev)
                fed.append(ev)
        if fed:
            await self.sink.commit()
        return fed

    async def _read(self, what: str, call: Callable[[], Awaitable[_T]]) -> _T:
        """A read-only query, retried with backoff (``settings.read_retry``)."""
        delays = self.settings.read_retry.delays()
        for attempt in range(len(delays) + 1):
            try:
                return await call()
            except VenueFatal as e:
                raise ReconcileError(f"cannot {what} on {self.venue.name}: {e}") from e
            except VenueError as e:
                if attempt == len(delays):
                    raise TransientReadError(
                        f"cannot {what} on {self.venue.name} after {attempt + 1} attempts: {e}. "
                        "Nothing contradicts the journal; restarting later resumes the run"
                    ) from e
                await self.sink.sleep(delays[attempt])
        raise AssertionError("unreachable")

    async def _query(self, order: Order) -> OrderReport | None:
        return await self._read(
            f"query order {order.client_order_id}", lambda: self.venue.query_order(order)
        )

    async def _send(self, call: Callable[[Order], Awaitable[None]], order: Order) -> bool:
        """Send once; False if the venue call failed (NotSent, OutcomeUnknown, ...): the
        next round's query says whether it arrived, and a failed send is tried again
        then (same client order id: never a blind second order)."""
        try:
            await call(order)
        except VenueFatal:
            raise
        except VenueError:
            return False
        return True

    async def _compare_account(self, report: ReconcileReport) -> None:
        kernel = self.sink.kernel()
        venue_positions = await self._read("read positions", self.venue.positions)
        # A symbol with an order still live can fill while we read positions: its
        # fill event is on its way, not lost, so comparing now would report a false
        # mismatch (and halt). Such symbols are compared at a later, quiet check.
        busy = sorted({o.asset for o in kernel.live_orders()})
        if busy:
            report.skipped.append(f"position check for {', '.join(busy)}: orders still working")
        diffs = [
            d
            for d in rc.position_diffs(kernel_positions(kernel), venue_positions)
            if d.asset not in busy
        ]
        seen = self.sink.journaled_adjustments()
        found: list[Adjustment] = []
        for d in diffs:
            found.append(
                Adjustment(
                    adjustment_id=f"adj:position:{d.asset}:{d.kernel_qty}:{d.venue_qty}",
                    subject="position",
                    asset=d.asset,
                    kernel_value=d.kernel_qty,
                    venue_value=d.venue_qty,
                    action=self.settings.on_mismatch.value,
                    reason=f"venue net position {d.venue_qty} differs from the kernel's "
                    f"{d.kernel_qty} by {d.difference}",
                )
            )
        if self.settings.check_balance and busy:
            report.skipped.append("balance check: orders still working")
        elif self.settings.check_balance:
            bal = await self._read("read the balance", self.venue.balance)
            capital = kernel.account.capital
            if bal.wallet != capital:
                found.append(
                    Adjustment(
                        adjustment_id=f"adj:balance:{bal.asset}:{capital}:{bal.wallet}",
                        subject="balance",
                        asset=bal.asset,
                        kernel_value=capital,
                        venue_value=bal.wallet,
                        action=self.settings.on_mismatch.value,
                        reason=f"venue wallet {bal.wallet} differs from the kernel's capital "
                        f"{capital} by {bal.wallet - capital}",
                    )
                )
        # differences an operator accepted (--resolve accept) no longer halt; a new one does
        found = [a for a in found if f"{a.adjustment_id}:accepted" not in seen]
        if self.settings.resolve:
            found = [
                b
                for a in found
                for b in (
                    a,
                    replace(
                        a,
                        adjustment_id=f"{a.adjustment_id}:accepted",
                        action="accepted by operator",
                    ),
                )
            ]
        new = [a for a in found if a.adjustment_id not in seen]
        for a in new:
            self.sink.record(a)
        if new:
            await self.sink.commit()
        report.adjustments.extend(new)
        if self.settings.resolve:
            found = []
        if found and self.settings.on_mismatch is OnMismatch.HALT:
            lines = "\n".join(f"  {a.subject} {a.asset}: {a.reason}" for a in found)
            raise ReconcileHalted(
                f"the venue's account differs from the journal's (recorded as adjustment "
                f"records, nothing was changed):\n{lines}\nCheck the account; to trade anyway, "
                "restart with --on-mismatch continue; to take the venue's account as the truth, "
                f"run `{RESOLVE_HINT}`"
            )


def journaled_adjustment_ids(journal: SqliteJournal | None) -> set[str]:
    if journal is None:
        return set()
    out: set[str] = set()
    for rec in journal.records_of(RecordKind.ADJUSTMENT):
        if isinstance(rec.body, Adjustment):
            out.add(rec.body.adjustment_id)
    return out
