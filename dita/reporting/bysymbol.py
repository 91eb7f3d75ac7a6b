"""Run results broken down by symbol, from kernel inputs and outcomes only.

``RunStats`` feeds one ``SymbolBreakdown`` as it observes each step, live or
from a journal, so ``dita run`` and ``dita replay`` show the same per-symbol
numbers. A fill is attributed through the order it belongs to (the kernel's
``SubmitOrder`` names the symbol), funding through the event's ``asset``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from dita.kernel import Enter, EventKind, Exit, KernelIntent, KernelOutcome, SubmitOrder, VenueEvent

_ZERO = Decimal(0)


@dataclass
class SymbolStats:
    """One symbol's share of a run; ``net`` = realized - fees + funding."""

    orders: int = 0
    fills: int = 0
    trades: int = 0
    wins: int = 0
    realized_pnl: Decimal = _ZERO
    fees: Decimal = _ZERO
    funding: Decimal = _ZERO

    @property
    def net(self) -> Decimal:
        return self.realized_pnl - self.fees + self.funding


@dataclass
class SymbolBreakdown:
    symbols: dict[str, SymbolStats] = field(default_factory=dict)
    # The symbol of each order not of ``_first`` (the first order's symbol): every order
    # submitted before another symbol's is ``_first``'s, so a one-symbol run, however long,
    # stores nothing per order.
    _order_symbol: dict[str, str] = field(default_factory=dict, repr=False)
    _first: str = field(default="", repr=False)

    def _of(self, symbol: str) -> SymbolStats:
        s = self.symbols.get(symbol)
        if s is None:
            s = self.symbols[symbol] = SymbolStats()
        return s

    def observe(self, body: KernelIntent | VenueEvent, outcome: KernelOutcome) -> None:
        for c in outcome.commands:
            if isinstance(c, SubmitOrder):
                asset = c.order.asset
                if not self._first:
                    self._first = asset
                if asset != self._first:
                    self._order_symbol[c.order.client_order_id] = asset
                self._of(asset).orders += 1
        symbol = ""
        if isinstance(body, VenueEvent):
            symbol = body.asset or (
                self._order_symbol.get(body.client_order_id, self._first)
                if body.client_order_id
                else ""
            )
            if (
                outcome.accepted
                and symbol
                and body.kind in (EventKind.FILL, EventKind.PARTIAL_FILL)
            ):
                self._of(symbol).fills += 1
        else:
            symbol = body.asset if isinstance(body, Enter | Exit) else ""
        d = outcome.ledger
        if symbol and (d.realized_pnl or d.fees or d.funding):
            s = self._of(symbol)
            s.realized_pnl += d.realized_pnl
            s.fees += d.fees
            s.funding += d.funding
        for t in outcome.trade_records:
            s = self._of(t.asset)
            s.trades += 1
            if t.net_pnl > 0:
                s.wins += 1
