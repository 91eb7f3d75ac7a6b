"""The one decimal context in which dita computes and checks money and quantities.

Every arithmetic step on money runs inside ``money()``: the kernel's steps,
the invariant checks (``state_problems``), snapshot restore, the journal's
derived columns, ``dita replay``'s capital identity and reconciliation. A
check done at another precision than the computation it checks reports
differences that are only rounding (Python's default context has 28 digits,
the kernel computes at 60), so there is exactly one context, declared here.

Sums and products of venue numbers are exact at 60 digits; a division can
repeat forever (``180121 / 3``), and a repeating decimal rounded at the 60th
digit is a digit the venue never had: two ways of adding it up then differ
in the last place. ``exact_fills`` is how a fill made up from cumulative
numbers (reconciliation: "the venue has filled 3 more, worth 180121 in all")
avoids that: it returns fills whose prices are finite decimals and whose
values add up to the venue's value exactly.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Context, Decimal, Inexact, localcontext

PRECISION = 60
MONEY_CONTEXT = Context(prec=PRECISION, rounding=ROUND_HALF_EVEN)
_EXACT = Context(prec=PRECISION, rounding=ROUND_HALF_EVEN, traps=[Inexact])
# An average price (a trade's entry or exit cost / quantity) is a quotient for
# reports, never an input to ledger arithmetic: it is shown to 28 significant
# digits (what the trades table and the ClickHouse Decimal(76, 38) hold).
AVERAGE_CONTEXT = Context(prec=28, rounding=ROUND_HALF_EVEN)


def average(total: Decimal, qty: Decimal) -> Decimal:
    """``total / qty`` as an average price for reports (28 significant digits)."""
    return AVERAGE_CONTEXT.divide(total, qty)


def money() -> AbstractContextManager[Context]:
    """``with money():`` every Decimal operation in the block uses the money context."""
    return localcontext(MONEY_CONTEXT)


def exact_quotient(a: Decimal, b: Decimal) -> Decimal | None:
    """``a / b`` if it is a finite decimal of at most 60 digits, else None."""
    try:
        return _EXACT.divide(a, b)
    except Inexact:
        return None


def exact_fills(
    value: Decimal, qty: Decimal, step: Decimal, tick: Decimal
) -> tuple[tuple[Decimal, Decimal], ...]:
    """(quantity, price) fills worth ``value`` in all for ``qty`` in all, with finite prices.

    One fill at ``value / qty`` when that division is exact. Otherwise two:
    ``qty - step`` at the average rounded down to the ``tick``, and one
    ``step`` at whatever makes the total exactly ``value`` (within a few ticks
    of the average; finite whenever ``step`` is a power of ten, as every
    venue's step is). Only if even that division repeats (a step like 0.003)
    is the price rounded to the tick, and the fill's value then differs from
    the venue's by less than ``qty * tick / 2``. No price has more decimals than
    ``tick``. ``qty`` is on the ``step`` grid, ``value`` and ``qty`` > 0.
    """
    with money():
        whole = _on_tick(exact_quotient(value, qty), tick)
        if whole is not None:
            return ((qty, whole),)
        if qty > step:
            first_qty = qty - step
            first_price = (value / qty).quantize(tick, rounding=ROUND_DOWN)
            if first_price > 0:
                rest = _on_tick(exact_quotient(value - first_qty * first_price, step), tick)
                if rest is not None and rest > 0:
                    return ((first_qty, first_price), (step, rest))
        return ((qty, (value / qty).quantize(tick, rounding=ROUND_HALF_EVEN)),)


def _on_tick(price: Decimal | None, tick: Decimal) -> Decimal | None:
    """``price`` if it has no more decimals than ``tick`` (a price of 60 digits is exact
    but one no venue sends, and the kernel refuses it), else None."""
    if price is None:
        return None
    exp, tick_exp = price.as_tuple().exponent, tick.as_tuple().exponent
    assert isinstance(exp, int) and isinstance(tick_exp, int)
    if exp >= tick_exp:
        return price
    on_tick = price.quantize(tick)  # trailing zeros beyond the tick are no digits
    return on_tick if on_tick == price else None


FILL_PRICE_TICK = Decimal("1e-18")  # the kernel takes outside prices with at most 18 decimals


def recovered_fills(value: Decimal, qty: Decimal) -> tuple[tuple[Decimal, Decimal], ...]:
    """(quantity, price) fills for ``qty`` worth ``value`` in all, recovered from a venue's
    cumulative numbers (fills it made that we never saw one by one): ``exact_fills`` on
    the grid of ``qty``'s last digit, so each price has at most 18 decimals and their
    values add up to ``value`` exactly. One fill at a rounded ``value / qty`` would
    leave capital off the venue's wallet in the 21st decimal (crash torture)."""
    exp = qty.as_tuple().exponent
    assert isinstance(exp, int)
    return exact_fills(value, qty, Decimal(1).scaleb(min(exp, 0)), FILL_PRICE_TICK)
