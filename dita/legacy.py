"""The bridge from the old policy's ``LegacyIntent`` to ``KernelIntent`` (flaw 6).

The old policy keeps emitting ``LegacyIntent``. Converting it must lose
nothing: order type and limit price travel as real fields, ``decision_id``
becomes the intent id, ``confidence`` and ``bars_held`` travel in
``metadata``, and the slot is given explicitly. Anything that cannot be
carried over exactly is a ``LegacyConversionError``, never a silent default:

* a float that is NaN or infinite (floats are read through ``repr``, the
  shortest text that gives back the same float, so ``0.1`` becomes
  ``Decimal("0.1")`` and ``float()`` of it is ``0.1`` again);
* an unknown action, side or order type, or a MARKET order with a limit price;
* ``metadata`` that already holds ``confidence``/``bars_held`` (they would be
  overwritten);
* a timestamp with sub-millisecond precision.

``to_legacy`` is the inverse, so that ``to_kernel(to_legacy(k)) == k``.

A policy may return ``LegacyIntent``s (alone or mixed with ``KernelIntent``s):
the engine converts each one with ``legacy_to_kernel`` just before running it.
A ``LegacyIntent`` names no slot, so one is picked from the slots as they are
at that moment: an ENTER goes to the lowest free slot (IDLE or CLOSED), an
EXIT or CANCEL to the slot holding its ``trade_id``. With no free slot, or no slot holding the trade, the
intent goes to slot 0, where the kernel refuses it (SLOT_BUSY,
TRADE_ID_MISMATCH, NO_POSITION, ...) and the run's summary counts it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from dita.kernel.model import (
    Action,
    IntentError,
    KernelIntent,
    OrderType,
    Side,
    TradeSlot,
    TradeStage,
    flat_fields,
    from_flat,
)

Number = Decimal | float | int
_RESERVED = ("confidence", "bars_held")
_ZERO_SIZE_KEY = "legacy_zero_target_size"


class LegacyConversionError(ValueError):
    """A LegacyIntent that cannot be converted without losing information."""


@dataclass(frozen=True)
class LegacyIntent:
    """The old policy's intent type, with real ``order_type`` and ``limit_price`` fields."""

    timestamp: int | float | datetime  # epoch ms (int), epoch seconds (float) or aware datetime
    trade_id: str
    decision_id: str
    asset: str
    action: str
    side: str
    reason: str = ""
    target_size: Number | None = None
    leverage: Number = 1
    reference_price: Number | None = None
    confidence: Number | None = None
    bars_held: int | None = None
    exit_leg_ratios: tuple[Number, ...] = (1,)
    metadata: dict[str, Any] = field(default_factory=dict)
    order_type: str = "MARKET"
    limit_price: Number | None = None


def _dec(name: str, v: Number | None) -> Decimal | None:
    match v:
        case None:
            return None
        case bool():
            raise LegacyConversionError(f"{name}: a bool is not a number ({v!r})")
        case Decimal():
            if not v.is_finite():
                raise LegacyConversionError(f"{name}: {v} is not a finite number")
            return v
        case int():
            return Decimal(v)
        case float():
            if not math.isfinite(v):
                raise LegacyConversionError(f"{name}: {v} is not a finite number")
            return Decimal(repr(v))
        case _:
            raise LegacyConversionError(f"{name}: expected a number, got {type(v).__name__} {v!r}")


def _ts_ms(v: int | float | datetime) -> int:
    match v:
        case bool():
            raise LegacyConversionError(f"timestamp: a bool is not a time ({v!r})")
        case int():
            return v
        case float():
            ms = Decimal(repr(v)) * 1000
            if ms != ms.to_integral_value():
                raise LegacyConversionError(
                    f"timestamp {v}: sub-millisecond precision would be lost"
                )
            return int(ms)
        case datetime():
            if v.tzinfo is None:
                raise LegacyConversionError(f"timestamp {v}: a naive datetime has no time zone")
            if v.microsecond % 1000:
                raise LegacyConversionError(
                    f"timestamp {v}: sub-millisecond precision would be lost"
                )
            delta = v - datetime(1970, 1, 1, tzinfo=UTC)
            return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
        case _:
            raise LegacyConversionError(f"timestamp: unsupported type {type(v).__name__}")


def _enum(name: str, cls: type[Any], v: str) -> Any:
    try:
        return cls(v.upper() if isinstance(v, str) else v)
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise LegacyConversionError(f"{name}: {v!r} is not one of {allowed}") from None


def to_kernel_intent(legacy: LegacyIntent, slot_id: int) -> KernelIntent:
    """Convert losslessly, or raise ``LegacyConversionError`` saying what would be lost."""
    action = _enum("action", Action, legacy.action)
    side: Side | None = None
    if legacy.side and legacy.side.upper() != "FLAT":
        side = _enum("side", Side, legacy.side)
    order_type = _enum("order_type", OrderType, legacy.order_type)
    limit_price = _dec("limit_price", legacy.limit_price)
    if order_type is OrderType.MARKET and limit_price is not None:
        raise LegacyConversionError(
            f"order_type MARKET with limit_price {legacy.limit_price}: the price would be ignored"
        )
    if order_type is OrderType.LIMIT and limit_price is None:
        raise LegacyConversionError("order_type LIMIT without limit_price")
    clash = [k for k in (*_RESERVED, _ZERO_SIZE_KEY) if k in legacy.metadata]
    if clash:
        raise LegacyConversionError(f"metadata already holds {clash}: they would be overwritten")
    metadata = dict(legacy.metadata)
    if legacy.confidence is not None:
        metadata["confidence"] = str(_dec("confidence", legacy.confidence))
    if legacy.bars_held is not None:
        if not isinstance(legacy.bars_held, int) or isinstance(legacy.bars_held, bool):
            raise LegacyConversionError(f"bars_held: expected an integer, got {legacy.bars_held!r}")
        metadata["bars_held"] = legacy.bars_held
    size = _dec("target_size", legacy.target_size)
    if size == 0 and action is not Action.ENTER:
        # the old policy sent 0 for "no explicit size" on EXIT/CANCEL
        metadata[_ZERO_SIZE_KEY] = True
        size = None
    leverage = _dec("leverage", legacy.leverage)
    if leverage is None:
        raise LegacyConversionError("leverage: None is not a leverage")
    ratios = tuple(_dec(f"exit_leg_ratios[{i}]", r) for i, r in enumerate(legacy.exit_leg_ratios))
    # the old policy filled every field; from_flat leaves out those the action does not read
    values: dict[str, Any] = dict(
        intent_id=legacy.decision_id,
        ts=_ts_ms(legacy.timestamp),
        slot_id=slot_id,
        trade_id=legacy.trade_id,
        asset=legacy.asset,
        side=side,
        size=size,
        order_type=order_type,
        limit_price=limit_price,
        leverage=leverage,
        exit_leg_ratios=tuple(r for r in ratios if r is not None),
        reference_price=_dec("reference_price", legacy.reference_price),
        reason=legacy.reason,
        metadata=metadata,
    )
    try:
        return from_flat(action, values)
    except IntentError as e:
        raise LegacyConversionError(str(e)) from e


def to_legacy(intent: KernelIntent) -> LegacyIntent:
    """The inverse of ``to_kernel_intent`` (numbers stay ``Decimal``)."""
    f = flat_fields(intent)
    metadata = dict(intent.metadata)
    confidence = metadata.pop("confidence", None)
    bars_held = metadata.pop("bars_held", None)
    zero = metadata.pop(_ZERO_SIZE_KEY, False)
    return LegacyIntent(
        timestamp=intent.ts,
        trade_id=intent.trade_id,
        decision_id=intent.intent_id,
        asset=f["asset"],
        action=intent.action.value,
        side=f["side"].value if f["side"] else "FLAT",
        reason=intent.reason,
        target_size=Decimal(0) if zero else f["size"],
        leverage=f["leverage"],
        reference_price=f["reference_price"],
        confidence=Decimal(confidence) if confidence is not None else None,
        bars_held=bars_held,
        exit_leg_ratios=f["exit_leg_ratios"],
        metadata=metadata,
        order_type=f["order_type"].value,
        limit_price=f["limit_price"],
    )


# --------------------------------------------------------------------------- policies


_FREE = (TradeStage.IDLE, TradeStage.CLOSED)


class SlotSource(Protocol):
    """What ``legacy_to_kernel`` needs to pick a slot (a ``Kernel`` or a ``PolicyView``)."""

    @property
    def slot_count(self) -> int: ...

    def slot(self, n: int) -> TradeSlot: ...


def legacy_to_kernel(legacy: LegacyIntent, kernel: SlotSource) -> KernelIntent:
    """The ``KernelIntent`` for a policy's ``LegacyIntent``, given the slots as they are now.

    Called by the engine just before the intent runs, so an ENTER earlier in
    the same batch has already taken its slot. See the module doc for how
    the slot is chosen.
    """
    slots = [kernel.slot(n) for n in range(kernel.slot_count)]
    return to_kernel_intent(legacy, _slot_for(legacy, slots))


def _slot_for(legacy: LegacyIntent, slots: Sequence[TradeSlot]) -> int:
    action = _enum("action", Action, legacy.action)
    if action is Action.ENTER:
        for s in slots:
            if s.stage in _FREE:
                return s.slot_id
        return 0  # none free: the kernel refuses it (SLOT_BUSY)
    if not legacy.trade_id:
        raise LegacyConversionError(
            f"{action} {legacy.decision_id!r} without a trade_id: the slot it means is unknown"
        )
    for s in slots:
        if s.trade_id == legacy.trade_id and s.stage not in _FREE:
            return s.slot_id
    return 0  # no slot holds it: the kernel refuses it (TRADE_ID_MISMATCH, NO_POSITION, ...)
