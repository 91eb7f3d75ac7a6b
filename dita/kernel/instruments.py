"""Quantization onto an instrument's grid (flaw 8: precision is the kernel's job).

Rules (DESIGN.md, "Quantization"): quantities round down to the step; BUY
limit prices round down to the tick and SELL limit prices round up, so a
quantized price is never more aggressive than the one asked for.
"""

from __future__ import annotations

from decimal import Decimal

from dita.kernel.model import Instrument, OrderSide

_ZERO = Decimal(0)
ONE = Decimal(1)
MAX_LEVERAGE_CAP = Decimal(1000)
GRID_DIGITS = 24


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    """Largest multiple of ``step`` that is <= ``value`` (value >= 0)."""
    return (value // step) * step


def ceil_to(value: Decimal, step: Decimal) -> Decimal:
    """Smallest multiple of ``step`` that is >= ``value`` (value >= 0)."""
    q = value // step
    if q * step < value:
        q += 1
    return q * step


def quantize_qty(inst: Instrument, qty: Decimal) -> Decimal:
    return floor_to(qty, inst.step_size)


def quantize_price(inst: Instrument, side: OrderSide, price: Decimal) -> Decimal:
    if side is OrderSide.BUY:
        return floor_to(price, inst.tick_size)
    return ceil_to(price, inst.tick_size)


def on_grid(value: Decimal, step: Decimal) -> bool:
    return value % step == _ZERO


def instrument_problems(inst: Instrument) -> list[str]:
    """Everything wrong with an instrument definition (empty list if none)."""
    problems: list[str] = []
    for name in ("tick_size", "step_size"):
        v = getattr(inst, name)
        if not isinstance(v, Decimal) or not v.is_finite() or v <= 0:
            problems.append(
                f"instrument {inst.symbol!r}: {name} must be a positive Decimal, got {v!r}"
            )
    for name in ("min_quantity", "min_notional"):
        v = getattr(inst, name)
        if not isinstance(v, Decimal) or not v.is_finite() or v < 0:
            problems.append(f"instrument {inst.symbol!r}: {name} must be a Decimal >= 0, got {v!r}")
    for name in ("max_price", "max_quantity"):
        v = getattr(inst, name)
        if not isinstance(v, Decimal) or not v.is_finite() or v <= 0:
            problems.append(
                f"instrument {inst.symbol!r}: {name} must be a positive Decimal, got {v!r}"
            )
    ml = inst.max_leverage
    if not isinstance(ml, Decimal) or not ml.is_finite() or not ONE <= ml <= MAX_LEVERAGE_CAP:
        problems.append(
            f"instrument {inst.symbol!r}: max_leverage must be a Decimal in [1, {MAX_LEVERAGE_CAP}], "
            f"got {ml!r}"
        )
    if not problems:
        # every price and quantity on the grid, up to the limits, has at most
        # about GRID_DIGITS digits: products of two stay exact in the kernel's context
        for limit, step, what in (
            (inst.max_price, inst.tick_size, "max_price / tick_size"),
            (inst.max_quantity, inst.step_size, "max_quantity / step_size"),
        ):
            if limit.adjusted() - step.adjusted() > GRID_DIGITS:
                problems.append(
                    f"instrument {inst.symbol!r}: {what} must stay below 1e{GRID_DIGITS + 1}, "
                    f"got {limit} / {step}"
                )
    if not inst.symbol:
        problems.append("instrument with an empty symbol")
    return problems
