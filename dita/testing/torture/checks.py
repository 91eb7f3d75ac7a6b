"""The invariants a crash must not break, checked from the journal and the venue's own records."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from dita.engine import cancel_requested_in
from dita.journal import EngineNote, JournalError, OutcomeRecord, SqliteJournal, replay
from dita.kernel import (
    CancelOrder,
    EventKind,
    Kernel,
    KernelIntent,
    Side,
    SubmitOrder,
    VenueEvent,
)
from dita.recovery import kernel_positions
from dita.venues.base import BalanceReport, OrderReport, PositionReport
from dita.verify import VerifyError, verify_journal

ZERO = Decimal(0)


@dataclass(frozen=True)
class VenueTruth:
    """Everything the venue knows: every order it accepted (one per client order id), how
    many place requests it saw per client order id, the account."""

    orders: list[OrderReport]
    positions: list[PositionReport]
    balance: BalanceReport
    place_requests: Counter[str] | None = None
    # client order ids the venue was asked to place after it was asked to cancel them
    placed_after_cancel: frozenset[str] = frozenset()


def cancelled_then_resent(journal: SqliteJournal) -> set[str]:
    """Orders whose cancel the kernel commanded and that reconciliation then resubmitted
    (the journal's reconcile notes): the policy's cancel lost to a resend."""
    cancelled: set[str] = set()
    out: set[str] = set()
    for rec in journal.read_from(1):
        body = rec.body
        if isinstance(body, OutcomeRecord):
            cancelled |= {
                c.order.client_order_id for c in body.outcome.commands if isinstance(c, CancelOrder)
            }
        elif isinstance(body, EngineNote) and body.topic == "reconcile":
            resent = body.data.get("resubmitted", [])
            if isinstance(resent, list):
                out |= {str(c) for c in resent if str(c) in cancelled}
    return out


def journal_facts(journal: SqliteJournal) -> tuple[Counter[str], dict[str, Decimal]]:
    """(SubmitOrder commands per client order id, Σ accepted fill quantity per order)."""
    submits: Counter[str] = Counter()
    filled: dict[str, Decimal] = {}
    inputs: dict[int, KernelIntent | VenueEvent] = {}
    for rec in journal.read_from(1):
        body = rec.body
        if isinstance(body, KernelIntent | VenueEvent):
            inputs[rec.seq] = body
        elif isinstance(body, OutcomeRecord):
            src = inputs.pop(body.input_seq, None)
            out = body.outcome
            for c in out.commands:
                if isinstance(c, SubmitOrder):
                    submits[c.order.client_order_id] += 1
            if (
                isinstance(src, VenueEvent)
                and out.accepted
                and src.kind in (EventKind.FILL, EventKind.PARTIAL_FILL)
                and src.last_qty is not None
            ):
                cid = src.client_order_id
                filled[cid] = filled.get(cid, ZERO) + src.last_qty
    return submits, filled


def check(path: Path, truth: VenueTruth, *, expect_flat: bool = False) -> list[str]:
    """Every violation found (empty: the run survived)."""
    v: list[str] = []
    try:
        verified = verify_journal(path)
    except VerifyError as e:
        return [f"journal replay: {e}"]
    except JournalError as e:  # no journal at all, or one that cannot be read
        return [f"journal: {e}"]
    kernel: Kernel = verified.kernel
    with SqliteJournal.open(path, readonly=True, create=False) as j:
        submits, filled = journal_facts(j)
        from_snapshot = replay(j)
        resent = cancelled_then_resent(j)
        cancelled = cancel_requested_in(j)
    # a requested cancel always wins: an order the policy cancelled never goes (back) out
    for cid in sorted(resent):
        v.append(f"order {cid} was resubmitted after its cancel was requested")
    for cid in sorted(truth.placed_after_cancel & cancelled):
        v.append(f"order {cid} was sent to the venue after its cancel was requested")
    if from_snapshot.snapshot() != kernel.snapshot():
        v.append("replay from the last snapshot differs from replay from the first record")
    v += _order_violations(submits, filled, truth)
    mine_pos = _net_positions(kernel)
    v += _money_violations(kernel, mine_pos, truth)
    v += _live_violations(kernel, mine_pos, truth, expect_flat=expect_flat)
    return v


def _order_violations(
    submits: Counter[str], filled: dict[str, Decimal], truth: VenueTruth
) -> list[str]:
    """Each order issued once, known to both sides, and every fill applied exactly once."""
    v: list[str] = []
    for cid, n in sorted(submits.items()):
        if n > 1:
            v.append(f"the kernel issued order {cid} {n} times")
    venue_cids = Counter(o.client_order_id for o in truth.orders)
    for cid, n in sorted(venue_cids.items()):
        if n > 1:
            v.append(f"the venue holds {n} orders with client order id {cid}")
        if cid not in submits:
            v.append(f"the venue has order {cid} that the journal never submitted")
    if truth.place_requests is not None:
        # one leg attempt = one client order id; resending it is fine (deduplicated)
        for cid in truth.place_requests:
            if cid not in submits:
                v.append(f"the venue was asked to place {cid}, which the journal never submitted")
    for o in truth.orders:
        mine = filled.get(o.client_order_id, ZERO)
        if mine != o.cum_qty:
            v.append(
                f"order {o.client_order_id}: venue filled {o.cum_qty}, kernel applied {mine} "
                f"(each fill must be in the kernel exactly once)"
            )
    for cid, q in sorted(filled.items()):
        if cid not in venue_cids and q:
            v.append(f"kernel applied fills {q} for {cid}, which the venue does not have")
    return v


def _net_positions(kernel: Kernel) -> dict[str, Decimal]:
    """The kernel's net position per asset (long positive)."""
    mine_pos: dict[str, Decimal] = {}
    for asset, side, qty in kernel_positions(kernel):
        mine_pos[asset] = mine_pos.get(asset, ZERO) + (qty if side is Side.LONG else -qty)
    return mine_pos


def _money_violations(kernel: Kernel, mine_pos: dict[str, Decimal], truth: VenueTruth) -> list[str]:
    """Positions and capital: the kernel's against the venue's."""
    v: list[str] = []
    theirs: dict[str, Decimal] = {}
    for p in truth.positions:
        theirs[p.asset] = theirs.get(p.asset, ZERO) + (
            p.quantity if p.side is Side.LONG else -p.quantity
        )
    for asset in sorted(set(mine_pos) | set(theirs)):
        a, b = mine_pos.get(asset, ZERO), theirs.get(asset, ZERO)
        if a != b:
            v.append(f"position {asset}: kernel {a}, venue {b}")
    if kernel.account.capital != truth.balance.wallet:
        v.append(
            f"capital: kernel {kernel.account.capital}, venue wallet {truth.balance.wallet} "
            f"(difference {truth.balance.wallet - kernel.account.capital})"
        )
    return v


def _live_violations(
    kernel: Kernel, mine_pos: dict[str, Decimal], truth: VenueTruth, *, expect_flat: bool
) -> list[str]:
    """Orders the kernel follows against those open at the venue; and flat when expected."""
    v: list[str] = []
    live = {o.client_order_id for o in kernel.live_orders()}
    venue_open = {o.client_order_id for o in truth.orders if o.status.is_live}
    if live != venue_open:
        v.append(
            f"stuck: kernel believes {sorted(live - venue_open)} live, venue has "
            f"{sorted(venue_open - live)} open that the kernel does not follow"
        )
    if expect_flat and (live or (mine_pos and any(mine_pos.values()))):
        v.append(f"scenario ended with live orders {sorted(live)} or positions {mine_pos}")
    return v
