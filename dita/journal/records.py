"""What the journal stores: one record per kernel input, output or engine fact.

Every record has a ``seq`` (1, 2, 3, ... without gaps), a ``kind``, a ``ts``
(epoch milliseconds from the engine's clock) and a body whose JSON payload is
produced by ``dita.codec`` (msgspec; Decimals as strings). Kinds:

=============  ====================  ==============================================
kind           body                  meaning
=============  ====================  ==============================================
run            ``RunMeta``           kernel parameters and run context; enough to
                                     rebuild the kernel with no outside help
intent         ``KernelIntent``      kernel input, exactly as given to the kernel
                                     (stored flat: ``FlatIntent``)
venue_event    ``VenueEvent``        kernel input, exactly as given to the kernel
outcome        ``OutcomeRecord``     the kernel's answer to input ``input_seq``
snapshot       ``SnapshotRecord``    ``Kernel.snapshot()`` after input ``input_seq``
note           ``EngineNote``        an engine fact (start, stop, reconnect, ...)
adjustment     ``Adjustment``        a venue/kernel difference found by
                                     reconciliation: recorded, never applied
=============  ====================  ==============================================

Format rules (msgspec schema evolution): new fields get defaults, fields are
never renamed or re-typed, kind names are never reused. A change that breaks
them bumps ``SCHEMA_VERSION`` in ``dita.journal.sqlite``.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass, field, fields
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any, Literal

import msgspec

from dita import codec
from dita.journal.errors import RecordRejected
from dita.kernel.model import (
    Cancel,
    CancelOrder,
    Enter,
    Exit,
    FlatIntent,
    Instrument,
    KernelDiagnosticCode,
    KernelIntent,
    KernelOutcome,
    LedgerDelta,
    Order,
    PositionMode,
    SubmitOrder,
    TradeRecord,
    TradeStage,
    Transition,
    VenueEvent,
)


class RecordKind(StrEnum):
    RUN = "run"
    INTENT = "intent"
    VENUE_EVENT = "venue_event"
    OUTCOME = "outcome"
    SNAPSHOT = "snapshot"
    NOTE = "note"
    ADJUSTMENT = "adjustment"

    @property
    def is_input(self) -> bool:
        return self in (RecordKind.INTENT, RecordKind.VENUE_EVENT)


@dataclass(frozen=True, slots=True)
class RunMeta:
    """Kernel parameters plus the run's context (policy, seed, venue).

    ``slots``, ``instruments``, ``initial_capital``, ``client_id_prefix`` and
    ``position_mode`` are exactly the ``Kernel`` constructor's arguments; the rest is for people and
    reports. ``params`` holds JSON-native extras (no secrets: API keys never
    reach the journal).
    """

    slots: int
    instruments: tuple[Instrument, ...]
    initial_capital: Decimal
    client_id_prefix: str = "dt"
    policy: str = ""
    seed: int | None = None
    venue: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    # a later field, so journals written before it read as the kernel's default
    position_mode: PositionMode = PositionMode.ONE_WAY

    def instrument_map(self) -> dict[str, Instrument]:
        return {i.symbol: i for i in self.instruments}


@dataclass(frozen=True, slots=True)
class OutcomeRecord:
    """The kernel's outcome for the input journaled at ``input_seq``."""

    input_seq: int
    outcome: KernelOutcome


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """``Kernel.snapshot()`` taken after the input at ``input_seq`` (0: before any input)."""

    input_seq: int
    state: dict[str, Any]


@dataclass(frozen=True, slots=True)
class EngineNote:
    """Something the engine wants on the record that is not a kernel input."""

    topic: str
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A difference between the venue's account and the kernel's, found by reconciliation.

    Recorded and reported, never silently applied to the kernel: fills the
    kernel missed enter as synthetic ``venue_event`` records of their own.
    ``adjustment_id`` is deterministic (reconciling twice gives the same id).
    """

    adjustment_id: str
    subject: str  # "position", "balance", "order", ...
    asset: str = ""
    slot_id: int | None = None
    client_order_id: str = ""
    kernel_value: Decimal | None = None
    venue_value: Decimal | None = None
    action: str = ""  # what the engine did: "recorded", "halted", "synthetic_event", ...
    reason: str = ""
    data: dict[str, Any] = field(default_factory=dict)


RecordBody = (
    RunMeta | KernelIntent | VenueEvent | OutcomeRecord | SnapshotRecord | EngineNote | Adjustment
)


@dataclass(frozen=True, slots=True)
class JournalRecord:
    """One stored record, decoded and checksum-verified."""

    seq: int
    kind: RecordKind
    ts: int
    body: RecordBody


# --------------------------------------------------------------------------- outcome wire form
#
# ``KernelOutcome.commands`` is a union of two dataclasses that encode to the
# same JSON shape ({"order": ...}); msgspec cannot (and nobody could) tell them
# apart on the way back, so on the wire each command carries its type.


@dataclass(frozen=True, slots=True)
class _CommandWire:
    type: Literal["SUBMIT", "CANCEL"]
    order: Order


@dataclass(frozen=True, slots=True)
class _OutcomeWire:
    accepted: bool
    diagnostic_code: KernelDiagnosticCode
    slot_id: int | None
    state: TradeStage | None
    transitions: tuple[Transition, ...] = ()
    commands: tuple[_CommandWire, ...] = ()
    ledger: LedgerDelta = LedgerDelta()  # noqa: RUF009 (frozen, shared safely; as in KernelOutcome)
    trade_records: tuple[TradeRecord, ...] = ()
    message: str = ""


@dataclass(frozen=True, slots=True)
class _OutcomeRecordWire:
    input_seq: int
    outcome: _OutcomeWire


_OUTCOME_FIELDS = tuple(f.name for f in fields(KernelOutcome))
assert tuple(f.name for f in fields(_OutcomeWire)) == _OUTCOME_FIELDS, "update _OutcomeWire"


def _command_to_wire(c: SubmitOrder | CancelOrder) -> _CommandWire:
    match c:
        case SubmitOrder(order=o):
            return _CommandWire("SUBMIT", o)
        case CancelOrder(order=o):
            return _CommandWire("CANCEL", o)
    raise TypeError(f"not a command: {c!r}")


def _command_from_wire(c: _CommandWire) -> SubmitOrder | CancelOrder:
    return SubmitOrder(c.order) if c.type == "SUBMIT" else CancelOrder(c.order)


def outcome_to_wire(o: KernelOutcome) -> _OutcomeWire:
    values = {name: getattr(o, name) for name in _OUTCOME_FIELDS}
    values["commands"] = tuple(_command_to_wire(c) for c in o.commands)
    return _OutcomeWire(**values)


def outcome_from_wire(w: _OutcomeWire) -> KernelOutcome:
    values = {name: getattr(w, name) for name in _OUTCOME_FIELDS}
    values["commands"] = tuple(_command_from_wire(c) for c in w.commands)
    return KernelOutcome(**values)


def encode_outcome(o: KernelOutcome) -> bytes:
    """JSON for one outcome (commands tagged ``SUBMIT``/``CANCEL``)."""
    return codec.encode(outcome_to_wire(o))


# --------------------------------------------------------------------------- intent wire form
#
# An intent is an ``Enter``, ``Exit`` or ``Cancel`` (dita.kernel.model), each with only the
# fields its action reads. The journal stores it in the flat form every journal has held
# since schema 1: every field of the old single intent type, in its order, the action among
# them and the default in each field the action does not carry. So records are
# byte-identical to what dita wrote before the types were split (no schema bump; a run
# started before resumes byte for byte) and old records read as they always did, including
# a refused ENTER with a null side or size, or an EXIT holding the side an old policy filled
# in (dropped on reading: it never had an effect).


def _intent_to_wire(intent: KernelIntent) -> FlatIntent:
    return FlatIntent.of(intent)


def _intent_from_wire(w: FlatIntent, payload: bytes | str) -> KernelIntent:
    if codec.encode(w) != (payload.encode() if isinstance(payload, str) else payload):
        # not what dita writes: find the field (a JSON number where a Decimal belongs
        # decodes, but is no Decimal the journal ever held)
        raw = msgspec.json.decode(payload)
        for f in fields(FlatIntent):
            if f.name in raw and codec.encode(raw[f.name]) != codec.encode(getattr(w, f.name)):
                raise msgspec.ValidationError(
                    f"intent field {f.name} holds {raw[f.name]!r}, not as dita writes it "
                    f"({codec.encode(getattr(w, f.name)).decode()}) - at `$.{f.name}`"
                )
    return w.intent()


# --------------------------------------------------------------------------- payload codec

_BODY_TYPES: dict[RecordKind, type[Any]] = {
    RecordKind.RUN: RunMeta,
    RecordKind.INTENT: FlatIntent,
    RecordKind.VENUE_EVENT: VenueEvent,
    RecordKind.OUTCOME: _OutcomeRecordWire,
    RecordKind.SNAPSHOT: SnapshotRecord,
    RecordKind.NOTE: EngineNote,
    RecordKind.ADJUSTMENT: Adjustment,
}


_KIND_BY_TYPE: dict[type[Any], RecordKind] = {
    RunMeta: RecordKind.RUN,
    Enter: RecordKind.INTENT,
    Exit: RecordKind.INTENT,
    Cancel: RecordKind.INTENT,
    VenueEvent: RecordKind.VENUE_EVENT,
    OutcomeRecord: RecordKind.OUTCOME,
    SnapshotRecord: RecordKind.SNAPSHOT,
    EngineNote: RecordKind.NOTE,
    Adjustment: RecordKind.ADJUSTMENT,
}

# Outcomes and snapshots are the kernel's own facts and are not re-checked;
# inputs come from outside and free-form dicts from anywhere.
_CHECKED = frozenset(_KIND_BY_TYPE.values()) - {RecordKind.OUTCOME, RecordKind.SNAPSHOT}


def kind_of(body: RecordBody) -> RecordKind:
    kind = _KIND_BY_TYPE.get(type(body))
    if kind is None:
        raise RecordRejected(f"not a journal record body: {type(body).__name__}")
    return kind


def encode_body(body: RecordBody, *, check: bool = True) -> tuple[RecordKind, bytes]:
    """(kind, JSON payload) for a body.

    With ``check``, an input or free-form body (every kind but outcome and
    snapshot) is decoded and re-encoded; if that does not give the same bytes
    and an equal value (a float or str where a Decimal belongs, an enum value
    that does not exist, a Decimal or tuple inside ``metadata``), the body is
    refused with ``RecordRejected``: replay must feed the kernel exactly what
    it saw live.
    """
    kind = kind_of(body)
    wire: Any = body
    if isinstance(body, OutcomeRecord) and body.outcome.commands:
        # Without commands the outcome's JSON already is the wire form.
        wire = _OutcomeRecordWire(body.input_seq, outcome_to_wire(body.outcome))
    elif isinstance(body, KernelIntent):
        wire = _intent_to_wire(body)
    try:
        payload = codec.encode(wire)
    except (TypeError, ValueError, OverflowError) as e:
        raise RecordRejected(f"{kind} record cannot be encoded: {e}") from e
    if check and kind in _CHECKED and not plainly_faithful(wire):
        try:
            decoded = codec.decode(payload, _BODY_TYPES[kind])
            again = codec.encode(decoded)
        except msgspec.ValidationError as e:
            raise RecordRejected(
                f"{kind} record would not decode to what was given ({e}); payload {payload[:200]!r}"
            ) from e
        if not _same(decoded, wire) or _enum_as_text(decoded, wire):
            for f in fields(wire):
                given, back = getattr(wire, f.name), getattr(decoded, f.name)
                if repr(given) != repr(back):
                    raise RecordRejected(
                        f"{kind} record: {f.name}={given!r} would come back from the journal as "
                        f"{back!r} (money must be Decimal, an enum field the enum itself; "
                        f"free-form dicts JSON-native: str, int, float, bool, None, list, dict)"
                    )
        if again != payload:
            raise RecordRejected(
                f"{kind} record does not survive the journal unchanged: "
                f"{payload[:200]!r} comes back as {again[:200]!r}"
            )
    return kind, payload


# --------------------------------------------------------------------------- the fast check

# A kernel input whose every field holds exactly its declared type (a finite Decimal, a str,
# an int that JSON carries, the enum itself, None where allowed, a tuple of finite Decimals,
# an empty metadata dict) decodes to itself by construction of the codec: it needs no decode
# and re-encode. Anything else (a float, a subclass, a non-finite Decimal, metadata with
# content) takes the full round trip above. tests/journal/test_records.py checks that every
# body this accepts also passes the full round trip.
_STR, _INT, _DEC, _DEC_TUPLE, _EMPTY_DICT = range(5)
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def _field_checks(cls: type[Any]) -> tuple[tuple[str, object, bool], ...] | None:
    import types
    import typing

    hints = typing.get_type_hints(cls)
    out: list[tuple[str, object, bool]] = []
    for f in fields(cls):
        hint = hints[f.name]
        optional = False
        if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            if len(args) != 1 or len(typing.get_args(hint)) != 2:
                return None
            hint, optional = args[0], True
        code: object
        if hint is str:
            code = _STR
        elif hint is int:
            code = _INT
        elif hint is Decimal:
            code = _DEC
        elif isinstance(hint, type) and issubclass(hint, Enum):
            code = hint
        elif typing.get_origin(hint) is tuple and typing.get_args(hint) == (Decimal, ...):
            code = _DEC_TUPLE
        elif typing.get_origin(hint) is dict:
            code = _EMPTY_DICT
        else:
            return None
        out.append((f.name, code, optional))
    return tuple(out)


_FAST: dict[type[Any], tuple[tuple[str, object, bool], ...]] = {
    cls: checks for cls in (FlatIntent, VenueEvent) if (checks := _field_checks(cls)) is not None
}


def plainly_faithful(body: object) -> bool:
    """True if ``body`` (an intent or venue event) is made only of exactly-typed plain values,
    so its JSON decodes back to it; False means "not known": take the full round trip."""
    checks = _FAST.get(type(body))
    if checks is None:
        return False
    for name, code, optional in checks:
        v = getattr(body, name)
        if v is None:
            if optional:
                continue
            return False
        if not _plain_value(code, v):
            return False
    return True


def _plain_value(code: object, v: Any) -> bool:
    """``v`` (not None) is exactly of the field's kind ``code`` (see ``_field_checks``)."""
    t = type(v)
    if code is _STR:
        return t is str
    if code is _DEC:
        return t is Decimal and bool(v.is_finite())
    if code is _INT:
        return t is int and _INT_MIN <= v <= _INT_MAX
    if code is _DEC_TUPLE:
        return t is tuple and all(type(x) is Decimal and x.is_finite() for x in v)
    if code is _EMPTY_DICT:
        return t is dict and not v
    return t is code  # an enum: exactly that enum


def _enum_as_text(decoded: object, given: object) -> bool:
    """A plain string where an enum belongs (``"LONG"`` equals ``Side.LONG``, is not one)."""
    return any(
        isinstance(back := getattr(decoded, f.name), Enum)
        and type(getattr(given, f.name)) is not type(back)
        for f in fields(given)  # type: ignore[arg-type]
    )


def _same(a: object, b: object) -> bool:
    try:
        if a == b:
            return True
    except decimal.InvalidOperation:  # a signalling NaN refuses to be compared
        pass
    return repr(a) == repr(b)  # Decimal NaN != NaN, but they are the same value for us


def decode_body(kind: RecordKind, payload: bytes | str) -> RecordBody:
    """The body of a stored record; raises ``msgspec.ValidationError`` on a bad payload."""
    obj = codec.decode(payload, _BODY_TYPES[kind])
    if isinstance(obj, _OutcomeRecordWire):
        return OutcomeRecord(obj.input_seq, outcome_from_wire(obj.outcome))
    if isinstance(obj, FlatIntent):
        return _intent_from_wire(obj, payload)
    body: RecordBody = obj
    return body
