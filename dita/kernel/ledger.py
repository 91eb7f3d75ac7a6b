"""The kernel's ledger: capital and what moved it, exact, with its identity.

capital == initial_capital + realized - fees + funding holds after every step;
every change goes through one of the booking methods below, so the identity
is kept by construction and checked by ``problems``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)
ONE = Decimal(1)
COST_QUANTUM = Decimal("1e-20")
COST_EXPONENT = -20


@dataclass(slots=True)
class Ledger:
    initial_capital: Decimal
    capital: Decimal
    realized: Decimal = ZERO
    fees: Decimal = ZERO
    funding: Decimal = ZERO

    @classmethod
    def opening(cls, capital: Decimal) -> Ledger:
        return cls(initial_capital=capital, capital=capital)

    def book_fill(self, realized: Decimal, fee: Decimal) -> None:
        self.realized += realized
        self.fees += fee
        self.capital += realized - fee

    def book_fee(self, fee: Decimal) -> None:
        self.fees += fee
        self.capital -= fee

    def book_funding(self, amount: Decimal) -> None:
        self.funding += amount
        self.capital += amount

    def problems(self) -> list[str]:
        """The ledger's own invariants (evaluate in the money context)."""
        p: list[str] = []
        if self.capital != self.initial_capital + self.realized - self.fees + self.funding:
            p.append(
                f"ledger: capital {self.capital} != initial {self.initial_capital} + realized "
                f"{self.realized} - fees {self.fees} + funding {self.funding}"
            )
        if self.initial_capital < 0:
            p.append(f"ledger: initial_capital {self.initial_capital} is negative")
        return p
