"""The per-symbol breakdown attributes each fill to its order's symbol without remembering every
order of a one-symbol run (its memory stays flat), and gives what remembering all of them gives."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from dita.kernel import (
    EventKind,
    KernelDiagnosticCode,
    KernelIntent,
    KernelOutcome,
    LedgerDelta,
    Order,
    OrderPurpose,
    OrderSide,
    OrderStatus,
    OrderType,
    SubmitOrder,
    VenueEvent,
)
from dita.kernel.model import Action
from dita.reporting.bysymbol import SymbolBreakdown


def _order(cid: str, asset: str) -> Order:
    return Order(cid, "", 0, "t", asset, OrderSide.BUY, OrderType.MARKET, D(1), None, False,
                 OrderPurpose.ENTRY, OrderStatus.REQUESTED, D(0), D(0), D(0), False, -1, -1)  # fmt: skip


def _reference(steps: list[tuple[str, int, str]]) -> dict[str, tuple[int, int, D]]:
    """Remember every order's symbol (what the breakdown did before)."""
    of: dict[str, str] = {}
    out: dict[str, list[object]] = {}
    for what, n, asset in steps:
        cid = f"c{n}"
        if what == "submit":
            of[cid] = asset
            out.setdefault(asset, [0, 0, D(0)])[0] += 1  # type: ignore[operator]
        else:
            sym = of.get(cid, "")
            if sym:
                row = out.setdefault(sym, [0, 0, D(0)])
                row[1] += 1  # type: ignore[operator]
                row[2] += D(1)  # type: ignore[operator]
    return {k: (int(v[0]), int(v[1]), D(v[2])) for k, v in out.items()}  # type: ignore[call-overload,arg-type]


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["submit", "fill"]),
            st.integers(0, 15),
            st.sampled_from(["BTC-USDT", "ETH-USDT", "SOL-USDT"]),
        ),
        max_size=40,
    )
)
def test_fills_go_to_their_orders_symbol_as_if_every_order_were_remembered(
    steps: list[tuple[str, int, str]],
) -> None:
    b = SymbolBreakdown()
    submitted: set[str] = set()
    kept: list[tuple[str, int, str]] = []
    for what, n, asset in steps:
        cid = f"c{n}"
        if what == "submit":
            if cid in submitted:
                continue  # client order ids are unique
            submitted.add(cid)
            intent = KernelIntent("i", 0, 0, Action.ENTER, asset=asset)
            b.observe(intent, KernelOutcome(True, KernelDiagnosticCode.OK, 0, None,
                                            commands=(SubmitOrder(_order(cid, asset)),)))  # fmt: skip
        else:
            if cid not in submitted:
                continue  # the kernel accepts events of its own orders only
            ev = VenueEvent("e", 0, EventKind.FILL, cid, last_qty=D(1), last_price=D(1))
            b.observe(ev, KernelOutcome(True, KernelDiagnosticCode.OK, 0, None,
                                        ledger=LedgerDelta(realized_pnl=D(1))))  # fmt: skip
        kept.append((what, n, asset))
    got = {k: (s.orders, s.fills, s.realized_pnl) for k, s in b.symbols.items()}
    assert got == _reference(kept)
    symbols = {a for w, _, a in kept if w == "submit"}
    if len(symbols) <= 1:
        assert b._order_symbol == {}  # a one-symbol run remembers no order
