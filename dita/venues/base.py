"""The one protocol every venue speaks (mock, sim, bingx), and the errors at its edge.

Transport failures are translated once, here, into the only distinction that
matters for trading:

* ``NotSent``: the request certainly never reached the venue; retrying with the
  same client order id is safe.
* ``OutcomeUnknown``: it may or may not have reached the venue; before anything
  else, query the order by its client order id.

Venue *answers* (acks, fills, rejects, cancel rejects) are never exceptions:
they arrive as ``VenueEvent``s on ``events()``. When that stream broke and came
back, events in the gap may be lost: the venue says so with a ``StreamResumed``
on ``resumptions()``, and the engine asks the venue (reconciliation) instead of
waiting for answers that will never come.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, runtime_checkable

from dita.kernel.model import Order, OrderSide, OrderStatus, OrderType, Side, VenueEvent


class VenueError(Exception):
    """Base of every error a venue adapter raises. Messages never carry secrets."""


class NotSent(VenueError):
    """The request certainly did not reach the venue: safe to retry as is."""


class OutcomeUnknown(VenueError):
    """The request may have reached the venue: query by client order id first."""


class VenueFatal(VenueError):
    """Retrying cannot help (bad credentials, account disabled, ...): stop and tell a human."""


@dataclass(frozen=True, slots=True)
class OrderReport:
    """The venue's own account of one order, used by reconciliation."""

    client_order_id: str
    venue_order_id: str
    asset: str
    side: OrderSide
    order_type: OrderType
    quantity: Decimal
    limit_price: Decimal | None
    reduce_only: bool
    status: OrderStatus  # mapped onto the kernel's statuses (REQUESTED never appears)
    cum_qty: Decimal
    avg_price: Decimal | None
    fees: Decimal  # cumulative, positive = paid
    ts: int
    # what the fills are worth in all (Σ qty x price), when the venue says so exactly;
    # reconciliation then needs no average price (which may be rounded)
    cum_quote: Decimal | None = None
    # the trigger price of a STOP_MARKET / TAKE_PROFIT_MARKET order (None for others)
    stop_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PositionReport:
    asset: str
    side: Side
    quantity: Decimal  # > 0
    entry_price: Decimal


@dataclass(frozen=True, slots=True)
class BalanceReport:
    asset: str  # settlement currency, e.g. USDT
    wallet: Decimal  # deposits + realized PnL - fees + funding
    available: Decimal


@dataclass(frozen=True, slots=True)
class StreamResumed:
    """The venue's event stream is back after a break; events sent in the gap may be lost."""

    ts: int  # when it resumed (epoch ms, the adapter's clock)
    resumptions: int  # how many times this venue's stream has resumed, this one included


@runtime_checkable
class Venue(Protocol):
    """An execution venue. Commands in (submit/cancel), facts out (``events()``)."""

    name: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def submit(self, order: Order) -> None:
        """Send a new order. Raises ``NotSent`` or ``OutcomeUnknown`` on transport trouble."""

    async def cancel(self, order: Order) -> None:
        """Ask the venue to cancel. The answer comes as CANCEL_ACK / CANCEL_REJECT."""

    async def query_order(self, order: Order) -> OrderReport | None:
        """The venue's view of the order by client order id; None if it never saw it."""

    async def open_orders(self) -> list[OrderReport]: ...

    async def positions(self) -> list[PositionReport]: ...

    async def balance(self) -> BalanceReport: ...

    def events(self) -> AsyncIterator[VenueEvent]:
        """Every event the venue reports, in the order it reports them."""

    def resumptions(self) -> AsyncIterator[StreamResumed]:
        """One ``StreamResumed`` each time ``events()`` came back after a break; ends after
        ``close()``. A venue whose stream cannot break (mock, sim) yields none."""
