"""Everything a report shows, read from a journal in one pass (the market data file is not needed).

Prices come from the ``bars`` notes the pipeline journals every 1000 bars (a
sample of the closes), so a run that stopped midway still has its price and
its bar count; journals written before those notes existed fall back to the
``prices`` note of the run's end. Orders are known from the kernel's SUBMIT
commands, so every fill, cancel and reject is tied to its slot, side,
purpose and instrument: per-symbol numbers come from the orders' and trades'
own instrument, whatever the number of symbols in the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from dita.journal import EngineNote, OutcomeRecord, RunMeta, SqliteJournal
from dita.journal.records import Adjustment
from dita.kernel import (
    EventKind,
    KernelIntent,
    Order,
    OrderPurpose,
    OrderSide,
    SubmitOrder,
    TradeRecord,
    VenueEvent,
)
from dita.reporting.runstats import RunStats
from dita.reporting.stats import Statistics, compute

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class FillRow:
    ts: int
    client_order_id: str
    slot_id: int
    asset: str
    side: OrderSide
    purpose: OrderPurpose
    qty: Decimal
    price: Decimal
    fee: Decimal
    partial: bool


@dataclass(frozen=True, slots=True)
class OrderEnd:
    """A cancel, expiry or venue reject of an order (no fill)."""

    ts: int
    kind: EventKind
    client_order_id: str
    slot_id: int
    asset: str
    side: OrderSide
    purpose: OrderPurpose
    price: Decimal | None
    reason: str


@dataclass(frozen=True, slots=True)
class Refusal:
    """A kernel input the kernel refused, with its diagnostic."""

    seq: int
    ts: int
    what: str  # "intent <id> <ACTION>" or "event <id> <KIND>"
    slot_id: int | None
    code: str
    message: str


@dataclass
class _Slot:
    qty: Decimal = ZERO
    cost: Decimal = ZERO  # qty * average entry price
    long: bool = True
    asset: str = ""
    opened: int = 0


@dataclass
class ReportData:
    meta: RunMeta
    stats: RunStats
    trades: list[TradeRecord]
    prices: dict[str, list[tuple[int, Decimal]]]
    fills: list[FillRow]
    ends: list[OrderEnd]
    refusals: list[Refusal]
    adjustments: list[Adjustment]
    notes: list[tuple[int, str, str]]  # (ts, topic, message), bar notes left out
    bars: int
    finished: bool
    equity_mtm: list[tuple[int, Decimal]]
    realized: list[tuple[int, Decimal]]
    open_intervals: list[tuple[int, int]]
    statistics: Statistics
    last_seq: int = 0
    open_positions: dict[int, tuple[str, bool, Decimal, Decimal]] = field(default_factory=dict)


@dataclass
class _Collector:
    """The report's running state while the journal is read once, record by record."""

    meta: RunMeta | None = None
    stats: RunStats | None = None
    inputs: dict[int, tuple[int, KernelIntent | VenueEvent]] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    fills: list[FillRow] = field(default_factory=list)
    ends: list[OrderEnd] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    adjustments: list[Adjustment] = field(default_factory=list)
    notes: list[tuple[int, str, str]] = field(default_factory=list)
    bar_prices: dict[str, list[tuple[int, Decimal]]] = field(default_factory=dict)
    end_prices: dict[str, list[tuple[int, Decimal]]] = field(default_factory=dict)
    bars_seen: int = 0
    end_bars: int | None = None
    # position changes, in journal order: (ts, slot, qty, cost, long, asset)
    changes: list[tuple[int, int, Decimal, Decimal, bool, str]] = field(default_factory=list)
    slots: dict[int, _Slot] = field(default_factory=dict)
    intervals: list[tuple[int, int]] = field(default_factory=list)
    last_ts: int = 0

    def record(self, seq: int, ts: int, body: object) -> None:
        self.last_ts = max(self.last_ts, ts)
        match body:
            case RunMeta():
                if self.meta is None:
                    self.meta = body
                    self.stats = RunStats(body.initial_capital)
            case KernelIntent() | VenueEvent():
                self.inputs[seq] = (ts, body)
            case OutcomeRecord():
                self.outcome(body)
            case EngineNote():
                self.note(ts, body)
            case Adjustment():
                self.adjustments.append(body)
            case _:
                pass

    def outcome(self, body: OutcomeRecord) -> None:
        got = self.inputs.pop(body.input_seq, None)
        if got is None or self.stats is None:
            return
        ts, src = got
        out = body.outcome
        self.stats.observe(src, out, ts)
        for cmd in out.commands:
            if isinstance(cmd, SubmitOrder):
                self.orders[cmd.order.client_order_id] = cmd.order
        if not out.accepted:
            if isinstance(src, KernelIntent):
                what = f"intent {src.intent_id} {src.action.value}"
                slot: int | None = src.slot_id
            else:
                what = f"event {src.event_id} {src.kind.value} {src.client_order_id}"
                slot = out.slot_id
            self.refusals.append(
                Refusal(body.input_seq, ts, what, slot, out.diagnostic_code.value, out.message)
            )
            return
        if isinstance(src, VenueEvent):
            self.venue_event(ts, src)

    def venue_event(self, ts: int, src: VenueEvent) -> None:
        o = self.orders.get(src.client_order_id)
        if o is None:
            return
        if src.kind in (EventKind.FILL, EventKind.PARTIAL_FILL) and src.last_qty:
            self.fill(ts, o, src, src.last_qty)
        elif src.kind in (EventKind.CANCEL_ACK, EventKind.EXPIRED, EventKind.REJECT):
            self.ends.append(
                OrderEnd(
                    ts, src.kind, o.client_order_id, o.slot_id, o.asset, o.side,
                    o.purpose, o.limit_price, src.reason,
                )
            )  # fmt: skip

    def fill(self, ts: int, o: Order, src: VenueEvent, qty: Decimal) -> None:
        price = src.last_price if src.last_price is not None else ZERO
        self.fills.append(
            FillRow(
                ts, o.client_order_id, o.slot_id, o.asset, o.side, o.purpose,
                qty, price, src.fee, src.kind is EventKind.PARTIAL_FILL,
            )
        )  # fmt: skip
        s = self.slots.setdefault(o.slot_id, _Slot())
        if o.purpose is OrderPurpose.ENTRY:
            if s.qty == 0:
                s.opened = ts
                s.long = o.side is OrderSide.BUY
                s.asset = o.asset
            s.qty += qty
            s.cost += qty * price
        elif s.qty > 0:
            q = min(qty, s.qty)
            s.cost -= s.cost * q / s.qty
            s.qty -= q
            if s.qty == 0:
                s.cost = ZERO
                self.intervals.append((s.opened, ts))
        self.changes.append((ts, o.slot_id, s.qty, s.cost, s.long, s.asset))

    def note(self, ts: int, body: EngineNote) -> None:
        data = body.data
        match body.topic:
            case "bars":
                self.bars_seen = max(self.bars_seen, int(data.get("bars", 0)))
                for sym, series in _series(data.get("series")).items():
                    self.bar_prices.setdefault(sym, []).extend(series)
            case "prices":
                sym = str(data.get("symbol", ""))
                pts = list(
                    zip(
                        (int(t) for t in data.get("ts", [])),
                        (Decimal(str(c)) for c in data.get("close", [])),
                        strict=False,
                    )
                )
                if sym and pts:
                    self.end_prices[sym] = pts
            case "end":
                self.end_bars = int(data.get("bars", 0))
                self.notes.append((ts, body.topic, body.message))
            case _:
                self.notes.append((ts, body.topic, body.message))


def collect(journal: SqliteJournal, *, progress: Callable[[int], None] | None = None) -> ReportData:
    c = _Collector()
    for rec in journal.read_from(1):
        if progress is not None and rec.seq % 5000 == 0:
            progress(rec.seq)
        c.record(rec.seq, rec.ts, rec.body)
    meta, stats = c.meta, c.stats
    if meta is None or stats is None:
        raise ValueError(f"{journal.path}: no 'run' record; not a journal written by dita")
    prices = c.bar_prices or c.end_prices
    bars = c.end_bars if c.end_bars is not None else c.bars_seen
    stats.bars = bars
    intervals = c.intervals
    for s in c.slots.values():
        if s.qty > 0:
            intervals.append((s.opened, c.last_ts))
    realized = [(stats.first_ts or 0, meta.initial_capital), *stats.equity]
    equity = _mark_to_market(meta.initial_capital, realized, c.changes, prices, c.last_ts)
    trades = journal.trades()
    statistics = compute(
        initial_capital=meta.initial_capital,
        final_capital=stats.capital,
        equity=equity,
        trades=trades,
        open_intervals=intervals,
        fees=stats.fees,
        funding=stats.funding,
        prices=prices,
    )
    return ReportData(
        meta=meta,
        stats=stats,
        trades=trades,
        prices=prices,
        fills=c.fills,
        ends=c.ends,
        refusals=c.refusals,
        adjustments=c.adjustments,
        notes=c.notes,
        bars=bars,
        finished=c.end_bars is not None,
        equity_mtm=equity,
        realized=realized,
        open_intervals=intervals,
        statistics=statistics,
        last_seq=journal.last_seq,
        open_positions={
            k: (s.asset, s.long, s.qty, s.cost) for k, s in c.slots.items() if s.qty > 0
        },
    )


def _series(raw: Any) -> dict[str, list[tuple[int, Decimal]]]:
    out: dict[str, list[tuple[int, Decimal]]] = {}
    if not isinstance(raw, dict):
        return out
    for sym, s in raw.items():
        if isinstance(s, dict):
            out[str(sym)] = [
                (int(t), Decimal(str(c)))
                for t, c in zip(s.get("ts", []), s.get("close", []), strict=False)
            ]
    return out


def _mark_to_market(
    initial: Decimal,
    realized: list[tuple[int, Decimal]],
    changes: list[tuple[int, int, Decimal, Decimal, bool, str]],
    prices: dict[str, list[tuple[int, Decimal]]],
    last_ts: int,
) -> list[tuple[int, Decimal]]:
    """Equity at every price point: realized capital + open positions valued at the last close.

    A position whose instrument has no price yet is valued at its entry price (zero
    unrealized PnL)."""
    grid = sorted({t for s in prices.values() for t, _ in s} | {t for t, _ in realized})
    if not grid:
        return [(0, initial)]
    by_ts: dict[int, list[tuple[str, Decimal]]] = {}
    for sym, s in prices.items():
        for t, c in s:
            by_ts.setdefault(t, []).append((sym, c))
    ri = ci = 0
    capital = initial
    last_price: dict[str, Decimal] = {}
    pos: dict[int, tuple[Decimal, Decimal, bool, str]] = {}
    out: list[tuple[int, Decimal]] = []
    for t in grid:
        while ri < len(realized) and realized[ri][0] <= t:
            capital = realized[ri][1]
            ri += 1
        while ci < len(changes) and changes[ci][0] <= t:
            _, slot, q, cost, long, asset = changes[ci]
            pos[slot] = (q, cost, long, asset)
            ci += 1
        for sym, c in by_ts.get(t, ()):
            last_price[sym] = c
        out.append((t, capital + _unrealized(pos, last_price)))
    if last_ts > grid[-1]:
        for _, slot, q, cost, long, asset in changes[ci:]:
            pos[slot] = (q, cost, long, asset)
        if ri < len(realized):
            capital = realized[-1][1]
        out.append((last_ts, capital + _unrealized(pos, last_price)))
    return out


def _unrealized(
    pos: dict[int, tuple[Decimal, Decimal, bool, str]], last_price: dict[str, Decimal]
) -> Decimal:
    total = ZERO
    for q, cost, long, asset in pos.values():
        if q == 0 or asset not in last_price:
            continue
        value = q * last_price[asset]
        total += value - cost if long else cost - value
    return total
