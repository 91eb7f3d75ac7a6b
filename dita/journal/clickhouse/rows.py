"""Journal records -> ClickHouse rows (pure: no I/O).

``RawRecord`` is a record as the SQLite journal stores it (the exact JSON
payload and its CRC); ``build_batch`` checks each CRC, decodes what the
derived tables need and returns the rows for every table.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import msgspec

from dita import codec
from dita.journal.errors import JournalCorrupted
from dita.journal.records import OutcomeRecord, RecordKind, RunMeta, decode_body
from dita.journal.sqlite import record_crc
from dita.kernel.model import KernelIntent, SubmitOrder, VenueEvent

from .schema import TABLES

_SCALE = 38
_QUANTUM = Decimal(1).scaleb(-_SCALE)
_LIMIT = Decimal(10) ** (76 - _SCALE)
_EXACT = decimal.Context(prec=200, traps=[decimal.Inexact, decimal.InvalidOperation])


class NotExact(ValueError):
    """A money value that ``Decimal(76, 38)`` cannot hold exactly; it is refused, not rounded."""


@dataclass(frozen=True, slots=True)
class RawRecord:
    seq: int
    kind: str
    ts: int
    payload: str
    crc: int


@dataclass(frozen=True, slots=True)
class InputInfo:
    """What an outcome row needs to know about the input it answers."""

    kind: str  # "intent" | "venue_event"
    type: str  # the intent's action or the event's kind
    ts: int


@dataclass
class Batch:
    """Rows for every table, for records ``first..last`` of one kernel."""

    first: int
    last: int
    tables: dict[str, list[tuple[Any, ...]]] = field(
        default_factory=lambda: {name: [] for name in TABLES}
    )

    @property
    def records(self) -> int:
        return len(self.tables["records"])


def money(value: Decimal | None, what: str) -> Decimal:
    """``value`` unchanged if ``Decimal(76, 38)`` holds it exactly, else ``NotExact``."""
    if value is None or not value.is_finite() or abs(value) >= _LIMIT:
        raise NotExact(f"{what} = {value!r} does not fit Decimal(76, 38)")
    try:
        value.quantize(_QUANTUM, context=_EXACT)
    except (decimal.Inexact, decimal.InvalidOperation):
        raise NotExact(
            f"{what} = {value} has more than {_SCALE} decimals; Decimal(76, 38) would round it"
        ) from None
    return value


def _opt_money(value: Decimal | None, what: str) -> Decimal | None:
    return None if value is None else money(value, what)


def input_info(rec: RawRecord, path: str) -> InputInfo:
    body = _decode(rec, path)
    match body:
        case KernelIntent(action=action):
            return InputInfo(rec.kind, str(action), rec.ts)
        case VenueEvent(kind=kind):
            return InputInfo(rec.kind, str(kind), rec.ts)
    raise JournalCorrupted(f"{path}: record seq {rec.seq} ({rec.kind}) is not an input", rec.seq)


def _decode(rec: RawRecord, path: str) -> Any:
    try:
        return decode_body(RecordKind(rec.kind), rec.payload)
    except (ValueError, msgspec.ValidationError) as e:
        raise JournalCorrupted(
            f"{path}: record seq {rec.seq} ({rec.kind}) cannot be decoded: {e}", rec.seq
        ) from e


def build_batch(
    kernel_id: str,
    raw: Sequence[RawRecord],
    *,
    path: str,
    expect_first: int,
    lookup_input: Callable[[int], InputInfo | None],
) -> Batch:
    """Rows for ``raw`` (consecutive records starting at ``expect_first``).

    Raises ``JournalCorrupted`` for a CRC mismatch or a hole, ``NotExact``
    for a money value ClickHouse cannot hold exactly. ``lookup_input`` finds
    an input that precedes the batch (an outcome's input is usually in it).
    """
    batch = Batch(expect_first, expect_first + len(raw) - 1)
    t = batch.tables
    inputs: dict[int, InputInfo] = {}
    expected = expect_first
    for rec in raw:
        if rec.seq != expected:
            raise JournalCorrupted(f"{path}: record seq {expected} is missing", expected)
        expected += 1
        if rec.crc != record_crc(rec.seq, rec.kind, rec.ts, rec.payload.encode()):
            raise JournalCorrupted(f"{path}: record seq {rec.seq} fails its checksum", rec.seq)
        t["records"].append((kernel_id, rec.seq, rec.kind, rec.ts, rec.payload, rec.crc))
        match rec.kind:
            case RecordKind.INTENT | RecordKind.VENUE_EVENT:
                inputs[rec.seq] = input_info(rec, path)
            case RecordKind.OUTCOME:
                body = _decode(rec, path)
                assert isinstance(body, OutcomeRecord)
                info = inputs.pop(body.input_seq, None) or lookup_input(body.input_seq)
                _outcome_rows(kernel_id, rec, body, info, t)
            case RecordKind.RUN:
                run = _decode(rec, path)
                assert isinstance(run, RunMeta)
                t["runs"].append(
                    (
                        kernel_id, rec.seq, rec.ts, run.slots,
                        money(run.initial_capital, f"seq {rec.seq} initial_capital"),
                        run.client_id_prefix, run.policy, run.venue, run.seed,
                        [codec.encode(i).decode() for i in run.instruments],
                    )
                )  # fmt: skip
            case _:
                pass  # snapshots, notes, adjustments: in ``records`` only
    return batch


def _outcome_rows(
    kernel_id: str,
    rec: RawRecord,
    body: OutcomeRecord,
    info: InputInfo | None,
    t: dict[str, list[tuple[Any, ...]]],
) -> None:
    o = body.outcome
    seq = rec.seq
    where = f"seq {seq}"
    submits = sum(1 for c in o.commands if isinstance(c, SubmitOrder))
    t["outcomes"].append(
        (
            kernel_id, seq, rec.ts, body.input_seq,
            info.kind if info else "", info.type if info else "", info.ts if info else 0,
            o.accepted, str(o.diagnostic_code), o.slot_id,
            None if o.state is None else str(o.state),
            money(o.ledger.realized_pnl, f"{where} ledger.realized_pnl"),
            money(o.ledger.fees, f"{where} ledger.fees"),
            money(o.ledger.funding, f"{where} ledger.funding"),
            submits, len(o.commands) - submits, len(o.trade_records), o.message,
        )
    )  # fmt: skip
    for i, tr in enumerate(o.transitions):
        t["transitions"].append(
            (kernel_id, seq, i, rec.ts, tr.slot_id, str(tr.from_stage), str(tr.to_stage), tr.cause)
        )
    for i, c in enumerate(o.commands):
        od = c.order
        t["commands"].append(
            (
                kernel_id, seq, i, rec.ts, "SUBMIT" if isinstance(c, SubmitOrder) else "CANCEL",
                od.client_order_id, od.venue_order_id, od.slot_id, od.trade_id, od.asset,
                str(od.side), str(od.order_type), str(od.purpose),
                money(od.quantity, f"{where} command {i} quantity"),
                _opt_money(od.limit_price, f"{where} command {i} limit_price"),
                od.reduce_only,
            )
        )  # fmt: skip
    for i, trade in enumerate(o.trade_records):
        w = f"{where} trade {trade.trade_id}"
        t["trades"].append(
            (
                kernel_id, seq, i, trade.trade_id, trade.slot_id, trade.asset, str(trade.side),
                money(trade.entry_qty, f"{w} entry_qty"), money(trade.entry_cost, f"{w} entry_cost"),
                money(trade.entry_price, f"{w} entry_price") if trade.entry_qty else None,
                money(trade.exit_qty, f"{w} exit_qty"), money(trade.exit_proceeds, f"{w} exit_proceeds"),
                money(trade.exit_price, f"{w} exit_price") if trade.exit_qty else None,
                money(trade.realized_pnl, f"{w} realized_pnl"), money(trade.fees, f"{w} fees"),
                money(trade.funding, f"{w} funding"), money(trade.net_pnl, f"{w} net_pnl"),
                trade.opened_ts, trade.closed_ts,
                [x.client_order_id for x in trade.exits],
                [money(x.qty, f"{w} exit qty") for x in trade.exits],
                [money(x.proceeds, f"{w} exit proceeds") for x in trade.exits],
            )
        )  # fmt: skip
