"""A live, read-only view of a journal: the kernel from the last snapshot plus the tail, then
kept current from each new committed record (never replayed from the start again).

``JournalView.open(path)`` opens the journal read-only (checksums of the last
commit group only: the writer may be running), restores the kernel from the
latest snapshot record and re-runs the inputs after it. ``poll()`` reads the
records committed since the last seen seq and applies them. Both ``dita
status`` and ``dita serve`` use it. The view is not a verifier: ``dita
replay`` checks every outcome; the view trusts the journal it shows, but a
record that fails its checksum still raises ``JournalCorrupted``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from dita.journal import (
    Adjustment,
    EngineNote,
    JournalError,
    OutcomeRecord,
    RecordKind,
    RunMeta,
    SnapshotRecord,
    SqliteJournal,
)
from dita.kernel import Kernel, KernelIntent, Side, VenueEvent

RECENT = 50


@dataclass(frozen=True, slots=True)
class Step:
    seq: int
    ts: int
    what: str
    accepted: bool
    code: str
    slot_id: int | None
    stage: str
    message: str


@dataclass
class JournalView:
    path: Path
    journal: SqliteJournal
    meta: RunMeta
    kernel: Kernel
    last_seq: int = 0
    start_seq: int = 0  # the snapshot the view started from (0: the run record)
    trades: int = 0
    bars: int = 0
    last_price: dict[str, tuple[int, Decimal]] = field(default_factory=dict)
    steps: deque[Step] = field(default_factory=lambda: deque(maxlen=RECENT))
    refusals: deque[Step] = field(default_factory=lambda: deque(maxlen=RECENT))
    notes: deque[tuple[int, int, str, str]] = field(default_factory=lambda: deque(maxlen=RECENT))
    adjustments: deque[tuple[int, Adjustment]] = field(default_factory=lambda: deque(maxlen=RECENT))
    finished: bool = False
    resumes: int = 0
    halted: str = ""
    last_ts: int = 0

    @classmethod
    def open(cls, path: Path) -> JournalView:
        if not path.exists():
            raise JournalError(f"{path}: no such journal")
        if path.is_dir():
            raise JournalError(f"{path}: is a directory, not a journal file")
        j = SqliteJournal.open(path, readonly=True, create=False, verify="tail")
        try:
            run_rec = j.first(RecordKind.RUN)
            if run_rec is None or not isinstance(run_rec.body, RunMeta):
                raise JournalError(f"{path}: no 'run' record; not a journal written by dita")
            meta = run_rec.body
            snap = j.latest(RecordKind.SNAPSHOT)
            if snap is not None and isinstance(snap.body, SnapshotRecord):
                kernel = Kernel.restore(snap.body.state, instruments=meta.instrument_map())
                start = snap.body.input_seq
            else:
                kernel = Kernel(
                    meta.slots,
                    meta.instrument_map(),
                    meta.initial_capital,
                    meta.client_id_prefix,
                    meta.position_mode,
                )
                start = run_rec.seq
            view = cls(path, j, meta, kernel, last_seq=start, start_seq=start)
            view._load_history(start)
            view.poll()
            return view
        except BaseException:
            j.close()
            raise

    def _load_history(self, before: int) -> None:
        """What the records before the starting point contribute, by small indexed queries:
        trade count, resumes, the last bar count and price, the last notes and adjustments."""
        j = self.journal
        self.trades = int(j.execute("SELECT COUNT(*) FROM trades WHERE seq <= ?", (before,))[0][0])
        for (seq,) in j.execute(
            "SELECT seq FROM records WHERE kind = ? AND seq <= ? ORDER BY seq DESC LIMIT ?",
            (RecordKind.NOTE.value, before, RECENT),
        )[::-1]:
            rec = j.get(int(seq))
            self._apply_note(rec.seq, rec.ts, rec.body)
        self.resumes = int(
            j.execute(
                "SELECT COUNT(*) FROM records WHERE kind = ? AND seq <= ? AND payload LIKE ?",
                (RecordKind.NOTE.value, before, '{"topic":"resume"%'),
            )[0][0]
        ) - sum(1 for n in self.notes if n[2] == "resume")
        for (seq,) in j.execute(
            "SELECT seq FROM records WHERE kind = ? AND seq <= ? ORDER BY seq DESC LIMIT ?",
            (RecordKind.ADJUSTMENT.value, before, RECENT),
        )[::-1]:
            rec = j.get(int(seq))
            if isinstance(rec.body, Adjustment):
                self._apply_adjustment(rec.seq, rec.body)

    def poll(self, limit: int | None = None) -> int:
        """Apply the records committed since the last poll; returns how many."""
        n = 0
        for rec in self.journal.read_from(self.last_seq + 1, limit):
            self.last_seq = rec.seq
            self.last_ts = max(self.last_ts, rec.ts)
            n += 1
            body = rec.body
            match body:
                case KernelIntent():
                    out = self.kernel.process_intent(body)
                    self._step(rec.seq, rec.ts, f"intent {body.intent_id} {body.action.value}", out)
                case VenueEvent():
                    out = self.kernel.on_venue_event(body)
                    what = f"event {body.event_id} {body.kind.value} {body.client_order_id}".strip()
                    self._step(rec.seq, rec.ts, what, out)
                case OutcomeRecord():
                    self.trades += len(body.outcome.trade_records)
                case EngineNote():
                    self._apply_note(rec.seq, rec.ts, body)
                case Adjustment():
                    self._apply_adjustment(rec.seq, body)
                case _:
                    pass
        return n

    def _step(self, seq: int, ts: int, what: str, out: Any) -> None:
        st = Step(
            seq,
            ts,
            what,
            out.accepted,
            out.diagnostic_code.value,
            out.slot_id,
            out.state.value if out.state is not None else "",
            out.message,
        )
        self.steps.append(st)
        self.halted = ""  # the kernel is being driven again: the halt was lifted
        if not out.accepted:
            self.refusals.append(st)

    def _apply_note(self, seq: int, ts: int, body: Any) -> None:
        if not isinstance(body, EngineNote):
            return
        if body.topic == "bars":
            self.bars = max(self.bars, int(body.data.get("bars", 0)))
            series = body.data.get("series")
            if isinstance(series, dict):
                for sym, s in series.items():
                    if isinstance(s, dict) and s.get("ts"):
                        self.last_price[str(sym)] = (int(s["ts"][-1]), Decimal(str(s["close"][-1])))
            return
        if body.topic == "prices":
            return
        if body.topic == "end":
            self.finished = True
            self.bars = int(body.data.get("bars", self.bars))
        elif body.topic == "resume":
            self.finished = False
            self.resumes += 1
        if "halt" in body.topic:
            self.halted = body.message or body.topic
        self.notes.append((seq, ts, body.topic, body.message))

    def _apply_adjustment(self, seq: int, adj: Adjustment) -> None:
        self.adjustments.append((seq, adj))
        if "halt" in adj.action:
            self.halted = f"{adj.adjustment_id}: {adj.reason}"

    # ------------------------------------------------------------------ what is shown

    def positions(self) -> dict[str, Decimal]:
        net: dict[str, Decimal] = {}
        for i in range(self.kernel.slot_count):
            s = self.kernel.slot(i)
            if s.side is not None and s.size > 0:
                net[s.asset] = net.get(s.asset, Decimal(0)) + (
                    s.size if s.side is Side.LONG else -s.size
                )
        return net

    def equity(self) -> Decimal:
        """Capital plus the open positions valued at the last journaled close."""
        total = self.kernel.account.capital
        for i in range(self.kernel.slot_count):
            s = self.kernel.slot(i)
            p = self.last_price.get(s.asset)
            if s.side is None or s.size <= 0 or s.entry_price is None or p is None:
                continue
            diff = p[1] - s.entry_price
            total += diff * s.size if s.side is Side.LONG else -diff * s.size
        return total

    def state(self) -> str:
        if self.halted:
            return "halted"
        return "finished" if self.finished else "running or stopped midway"

    def to_json(self) -> dict[str, Any]:
        """Everything the dashboard shows; money as exact strings."""
        k = self.kernel
        a = k.account
        slots = []
        for i in range(k.slot_count):
            s = k.slot(i)
            slots.append(
                {
                    "slot": i,
                    "stage": s.stage.value,
                    "trade": s.trade_id,
                    "asset": s.asset,
                    "side": s.side.value if s.side else "",
                    "size": str(s.size),
                    "entry_price": "" if s.entry_price is None else str(s.entry_price),
                    "realized": str(s.realized_pnl),
                    "fees": str(s.fees),
                }
            )
        orders = [
            {
                "cid": o.client_order_id,
                "venue_id": o.venue_order_id,
                "slot": o.slot_id,
                "asset": o.asset,
                "purpose": o.purpose.value,
                "side": o.side.value,
                "type": o.order_type.value,
                "qty": str(o.quantity),
                "price": "" if o.limit_price is None else str(o.limit_price),
                "filled": str(o.filled_qty),
                "status": o.status.value,
            }
            for o in k.live_orders()
        ]

        def step(s: Step) -> dict[str, Any]:
            return {
                "seq": s.seq,
                "ts": s.ts,
                "what": s.what,
                "accepted": s.accepted,
                "code": s.code,
                "slot": s.slot_id,
                "stage": s.stage,
                "message": s.message,
            }

        return {
            "journal": str(self.path),
            "policy": self.meta.policy,
            "venue": self.meta.venue,
            "seq": self.last_seq,
            "ts": self.last_ts,
            "state": self.state(),
            "halted": self.halted,
            "bars": self.bars,
            "trades": self.trades,
            "resumes": self.resumes,
            "capital": str(a.capital),
            "equity": str(self.equity()),
            "initial_capital": str(a.initial_capital),
            "realized": str(a.realized_pnl),
            "fees": str(a.fees),
            "funding": str(a.funding),
            "margin_used": str(a.margin_used),
            "available": str(a.available),
            "prices": {s: [t, str(p)] for s, (t, p) in sorted(self.last_price.items())},
            "positions": {s: str(q) for s, q in sorted(self.positions().items())},
            "slots": slots,
            "orders": orders,
            "steps": [step(s) for s in list(self.steps)[-20:]],
            "refusals": [step(s) for s in self.refusals],
            "notes": [
                {"seq": seq, "ts": ts, "topic": t, "message": m} for seq, ts, t, m in self.notes
            ],
            "adjustments": [
                {
                    "seq": seq,
                    "id": adj.adjustment_id,
                    "subject": adj.subject,
                    "asset": adj.asset,
                    "action": adj.action,
                    "reason": adj.reason,
                }
                for seq, adj in self.adjustments
            ],
        }

    def close(self) -> None:
        self.journal.close()

    def __enter__(self) -> JournalView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
