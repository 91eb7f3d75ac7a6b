"""The kernel's mutable state: orders, trades, slots, the ledger, and the whole as one value.

Only the kernel mutates it (``dita.kernel.kernel``); the snapshot module reads
and rebuilds it (``dita.kernel.snapshot``) without reaching into the kernel.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from dita.kernel.ledger import ZERO, Ledger
from dita.kernel.model import (
    Instrument,
    Order,
    OrderPurpose,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionMode,
    Side,
    TradeStage,
)


class OrderState:
    __slots__ = (
        "acked",
        "asset",
        "client_order_id",
        "fees",
        "filled_cost",
        "filled_qty",
        "first_leg",
        "last_leg",
        "limit_price",
        "order_type",
        "purpose",
        "quantity",
        "reduce_only",
        "seen_event_ids",
        "side",
        "slot_id",
        "status",
        "trade_id",
        "venue_order_id",
    )

    def __init__(
        self,
        *,
        client_order_id: str,
        slot_id: int,
        trade_id: str,
        asset: str,
        side: OrderSide,
        order_type: OrderType,
        quantity: Decimal,
        limit_price: Decimal | None,
        reduce_only: bool,
        purpose: OrderPurpose,
        first_leg: int,
        last_leg: int,
        venue_order_id: str = "",
        status: OrderStatus = OrderStatus.REQUESTED,
        filled_qty: Decimal = ZERO,
        filled_cost: Decimal = ZERO,
        fees: Decimal = ZERO,
        acked: bool = False,
        seen_event_ids: list[str] | None = None,
    ) -> None:
        self.client_order_id = client_order_id
        self.venue_order_id = venue_order_id
        self.slot_id = slot_id
        self.trade_id = trade_id
        self.asset = asset
        self.side = side
        self.order_type = order_type
        self.quantity = quantity
        self.limit_price = limit_price
        self.reduce_only = reduce_only
        self.purpose = purpose
        self.status = status
        self.filled_qty = filled_qty
        self.filled_cost = filled_cost
        self.fees = fees
        self.acked = acked
        self.first_leg = first_leg
        self.last_leg = last_leg
        # insertion-ordered so that snapshots are deterministic
        self.seen_event_ids: dict[str, None] = dict.fromkeys(seen_event_ids or ())

    def view(self) -> Order:
        return Order(
            client_order_id=self.client_order_id,
            venue_order_id=self.venue_order_id,
            slot_id=self.slot_id,
            trade_id=self.trade_id,
            asset=self.asset,
            side=self.side,
            order_type=self.order_type,
            quantity=self.quantity,
            limit_price=self.limit_price,
            reduce_only=self.reduce_only,
            purpose=self.purpose,
            status=self.status,
            filled_qty=self.filled_qty,
            filled_cost=self.filled_cost,
            fees=self.fees,
            acked=self.acked,
            first_leg=self.first_leg,
            last_leg=self.last_leg,
        )

    @property
    def live(self) -> bool:
        return self.status.is_live

    def remaining_qty(self) -> Decimal:
        return self.quantity - self.filled_qty


class TradeState:
    __slots__ = (
        "asset",
        "attempts",
        "entry_cid",
        "entry_cost",
        "entry_price",
        "exit_cid",
        "exit_proceeds",
        "exit_qty",
        "explicit_exits",
        "fees",
        "funding",
        "initial_size",
        "intent_ids",
        "leg_index",
        "leg_ratios",
        "leverage",
        "open_cost",
        "opened_ts",
        "orders",
        "realized",
        "side",
        "size",
        "trade_id",
        "trade_seq",
    )

    def __init__(
        self,
        *,
        trade_id: str,
        trade_seq: int,
        asset: str,
        side: Side,
        leverage: Decimal,
        leg_ratios: tuple[Decimal, ...],
        entry_price: Decimal,
        opened_ts: int,
    ) -> None:
        self.trade_id = trade_id
        self.trade_seq = trade_seq
        self.asset = asset
        self.side = side
        self.leverage = leverage
        self.leg_ratios = leg_ratios
        self.entry_price = entry_price  # limit price or reference price: margin reservation
        self.opened_ts = opened_ts
        self.size = ZERO
        self.initial_size = ZERO
        self.entry_cost = ZERO
        self.open_cost = ZERO
        self.exit_qty = ZERO
        self.exit_proceeds = ZERO
        self.realized = ZERO
        self.fees = ZERO
        self.funding = ZERO
        self.leg_index = 0
        self.explicit_exits = 0
        self.orders: dict[str, OrderState] = {}
        self.entry_cid = ""
        self.exit_cid = ""
        self.attempts: dict[str, int] = {}
        self.intent_ids: list[str] = []

    @property
    def entry_order(self) -> OrderState | None:
        return self.orders.get(self.entry_cid) if self.entry_cid else None

    @property
    def exit_order(self) -> OrderState | None:
        return self.orders.get(self.exit_cid) if self.exit_cid else None

    def live_entry(self) -> OrderState | None:
        o = self.entry_order
        return o if o is not None and o.live else None

    def live_exit(self) -> OrderState | None:
        o = self.exit_order
        return o if o is not None and o.live else None

    def margin(self) -> Decimal:
        """Margin held by the open position plus margin reserved by the working entry."""
        m = self.open_cost / self.leverage
        entry = self.live_entry()
        if entry is not None:
            m += entry.remaining_qty() * self.entry_price / self.leverage
        return m


def derive_stage(trade: TradeState | None, last_closed: bool) -> TradeStage:
    """The one place a slot's stage is decided, from its trade's orders and position."""
    if trade is None:
        return TradeStage.CLOSED if last_closed else TradeStage.IDLE
    entry = trade.live_entry()
    if entry is not None:
        if entry.acked or entry.filled_qty > 0:
            return TradeStage.ENTRY_WORKING
        return TradeStage.ORDER_REQUESTED
    if trade.live_exit() is not None:
        # (with size 0 only after a late fill of an earlier exit: the live exit
        # must still end before the trade can close)
        return TradeStage.EXIT_WORKING
    if trade.size > 0:
        return TradeStage.POSITION_OPEN
    if trade.exit_qty > 0:
        return TradeStage.CLOSED
    return TradeStage.IDLE


class SlotState:
    __slots__ = ("ended", "slot_id", "stage", "trade")

    def __init__(self, slot_id: int) -> None:
        self.slot_id = slot_id
        self.stage = TradeStage.IDLE
        self.trade: TradeState | None = None
        # A trade that ended with nothing filled (entry cancelled or rejected).
        # Kept until the next ENTER so that a late fill for it is still applied:
        # fills are money that moved.
        self.ended: TradeState | None = None


# Duplicate-intent memory: every intent of a trade still in its slot, plus the ids of the
# last RECENT_INTENT_IDS accepted intents (bounded, so a long run's memory stays flat: about
# 105 bytes an id with short ids, 10.6 MB when full; an OrderedDict took twice that; measured
# with tracemalloc; kept in snapshots).
RECENT_INTENT_IDS = 100_000


class RecentIds:
    """The last ``limit`` ids remembered, oldest first: a set to ask, a deque to forget the
    oldest (half the memory of an OrderedDict of the same ids)."""

    __slots__ = ("_ids", "_order", "limit")

    def __init__(self, limit: int, ids: Iterable[str] = ()) -> None:
        self.limit = limit
        self._ids: set[str] = set()
        self._order: deque[str] = deque()
        for i in ids:
            self.add(i)

    def add(self, intent_id: str) -> None:
        if intent_id in self._ids:
            return
        self._ids.add(intent_id)
        self._order.append(intent_id)
        while len(self._order) > self.limit:
            self._ids.discard(self._order.popleft())

    def __contains__(self, intent_id: object) -> bool:
        return intent_id in self._ids

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RecentIds):
            return NotImplemented
        return self.limit == other.limit and self._order == other._order

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RecentIds(limit={self.limit}, {len(self)} ids)"


@dataclass(slots=True)
class KernelState:
    """Everything a kernel holds; a snapshot is exactly this, and a restore rebuilds it."""

    position_mode: PositionMode
    instruments: dict[str, Instrument]
    prefix: str
    ledger: Ledger
    slots: list[SlotState]
    next_trade_seq: int = 0
    recent_intents: RecentIds = field(default_factory=lambda: RecentIds(RECENT_INTENT_IDS))
    order_slot: dict[str, int] = field(default_factory=dict)  # client order id -> slot (retained)
    funding_seen: dict[str, int] = field(default_factory=dict)  # asset -> ts of last funding
