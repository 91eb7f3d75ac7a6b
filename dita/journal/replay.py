"""Rebuild a kernel from its journal, checking every step against what was journaled.

The journal holds everything needed: the ``run`` record gives the kernel's
constructor arguments, a ``snapshot`` record (optional) a restart point, and
the ``intent``/``venue_event`` records after it are re-run in seq order. The
kernel is deterministic, so each re-run outcome must equal the journaled
``outcome`` record field by field, and each ``snapshot`` record must equal
``Kernel.snapshot()`` at that point. Any difference raises ``ReplayMismatch``
naming the seq and the field.

Journal discipline this relies on: an ``outcome`` record follows its input
before the next input; a ``snapshot`` record is taken between steps, with
``input_seq`` = the last input before it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dita import codec
from dita.journal.errors import Difference, JournalError, ReplayMismatch
from dita.journal.records import (
    OutcomeRecord,
    RunMeta,
    SnapshotRecord,
    outcome_to_wire,
)
from dita.journal.records import RecordKind as K
from dita.journal.sqlite import SqliteJournal
from dita.kernel import Kernel, KernelIntent, KernelOutcome, VenueEvent

_MAX_SHOWN = 300


def replay(
    journal: SqliteJournal,
    *,
    from_snapshot: bool = True,
    require_outcomes: bool = True,
    progress: Callable[[int], None] | None = None,
) -> Kernel:
    """The kernel as of the journal's last committed record.

    ``from_snapshot``: start from the latest snapshot record instead of the
    first input (both must give the same kernel). ``require_outcomes``: an
    input followed by another input without its outcome in between is a
    mismatch (the last input may lack one: the crash came between them).
    ``progress(seq)`` is called every few thousand records (for a progress bar).
    """
    path = str(journal.path)
    run_rec = journal.first(K.RUN)
    if run_rec is None or not isinstance(run_rec.body, RunMeta):
        raise JournalError(f"{path}: no 'run' record, so the kernel's parameters are unknown")
    run = run_rec.body
    kernel = Kernel(
        run.slots,
        run.instrument_map(),
        run.initial_capital,
        run.client_id_prefix,
        run.position_mode,
    )

    boundary = 0
    start_snapshot_seq = 0
    if from_snapshot:
        snap_rec = journal.latest(K.SNAPSHOT)
        if snap_rec is not None and isinstance(snap_rec.body, SnapshotRecord):
            kernel = Kernel.restore(snap_rec.body.state, instruments=run.instrument_map())
            boundary = snap_rec.body.input_seq
            start_snapshot_seq = snap_rec.seq

    step = _Replay(path, kernel, run_rec.seq, run, boundary, start_snapshot_seq, require_outcomes)
    for rec in journal.read_from(boundary + 1):
        if progress is not None and rec.seq % 5000 == 0:
            progress(rec.seq)
        step.record(rec.seq, rec.body)
    return kernel


class _Replay:
    """One replay in progress: each journaled record checked against the re-run kernel."""

    def __init__(
        self,
        path: str,
        kernel: Kernel,
        run_seq: int,
        run: RunMeta,
        boundary: int,
        start_snapshot_seq: int,
        require_outcomes: bool,
    ) -> None:
        self.path = path
        self.kernel = kernel
        self.run_seq = run_seq
        self.run = run
        self.boundary = boundary  # inputs with seq <= boundary are inside the starting state
        self.start_snapshot_seq = start_snapshot_seq
        self.require_outcomes = require_outcomes
        self.pending: tuple[int, KernelOutcome] | None = None
        self.last_input = boundary

    def _mismatch(self, seq: int, what: str, journaled: str, replayed: str) -> ReplayMismatch:
        return ReplayMismatch(self.path, [Difference(seq, what, journaled, replayed)])

    def record(self, seq: int, body: object) -> None:
        match body:
            case KernelIntent() | VenueEvent():
                self.input(seq, body)
            case OutcomeRecord():
                self.outcome(seq, body)
            case SnapshotRecord():
                self.snapshot(seq, body)
            case RunMeta():
                if seq != self.run_seq:
                    diffs = _run_differences(seq, self.run, body)
                    if diffs:
                        raise ReplayMismatch(self.path, diffs)
            case _:
                pass  # notes and adjustments do not drive the kernel

    def input(self, seq: int, body: KernelIntent | VenueEvent) -> None:
        if self.pending is not None and self.require_outcomes:
            raise self._mismatch(
                seq, f"input seq {self.pending[0]} has no outcome record", "none", "an outcome"
            )
        if isinstance(body, KernelIntent):
            outcome = self.kernel.process_intent(body)
        else:
            outcome = self.kernel.on_venue_event(body)
        self.pending = (seq, outcome)
        self.last_input = seq

    def outcome(self, seq: int, body: OutcomeRecord) -> None:
        if body.input_seq <= self.boundary:
            return  # answers an input already inside the restored snapshot
        pending = self.pending
        if pending is None or pending[0] != body.input_seq:
            expected = "none" if pending is None else f"input seq {pending[0]}"
            raise self._mismatch(
                seq, "outcome record answers", f"input seq {body.input_seq}", expected
            )
        diffs = outcome_differences(seq, body.outcome, pending[1])
        if diffs:
            raise ReplayMismatch(self.path, diffs)
        self.pending = None

    def snapshot(self, seq: int, body: SnapshotRecord) -> None:
        if seq == self.start_snapshot_seq:
            return
        if body.input_seq != self.last_input:
            raise self._mismatch(
                seq, "snapshot taken after input", str(body.input_seq), str(self.last_input)
            )
        diffs = snapshot_differences(seq, body.state, self.kernel.snapshot())
        if diffs:
            raise ReplayMismatch(self.path, diffs)


def outcome_differences(
    seq: int, journaled: KernelOutcome, replayed: KernelOutcome
) -> list[Difference]:
    """Fields where two outcomes differ, compared by their exact JSON (so 1.0 != 1.00)."""
    a, b = outcome_to_wire(journaled), outcome_to_wire(replayed)
    out = []
    for name in a.__dataclass_fields__:
        ja, jb = codec.encode(getattr(a, name)), codec.encode(getattr(b, name))
        if ja != jb:
            out.append(Difference(seq, f"outcome.{name}", _show(ja), _show(jb)))
    return out


def snapshot_differences(
    seq: int, journaled: dict[str, Any], replayed: dict[str, Any]
) -> list[Difference]:
    """Paths where two kernel snapshots differ (after a JSON round trip of the replayed one)."""
    normalized = codec.decode(codec.encode(replayed), dict[str, Any])
    out: list[Difference] = []
    _diff(seq, "snapshot", journaled, normalized, out)
    return out


def _diff(seq: int, where: str, a: Any, b: Any, out: list[Difference]) -> None:
    if len(out) >= 20:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(a.keys() | b.keys()):
            _diff(seq, f"{where}.{key}", a.get(key, "<absent>"), b.get(key, "<absent>"), out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _diff(seq, f"{where}[{i}]", x, y, out)
    elif type(a) is not type(b) or a != b:
        out.append(Difference(seq, where, _show(codec.encode(a)), _show(codec.encode(b))))


def _run_differences(seq: int, first: RunMeta, later: RunMeta) -> list[Difference]:
    out = []
    for name in ("slots", "instruments", "initial_capital", "client_id_prefix", "position_mode"):
        ja, jb = codec.encode(getattr(first, name)), codec.encode(getattr(later, name))
        if ja != jb:
            out.append(
                Difference(
                    seq, f"run.{name} changed from the first run record", _show(ja), _show(jb)
                )
            )
    return out


def _show(raw: bytes) -> str:
    s = raw.decode()
    return s if len(s) <= _MAX_SHOWN else s[:_MAX_SHOWN] + "..."
