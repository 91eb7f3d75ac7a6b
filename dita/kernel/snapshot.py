"""Versioned snapshots of a kernel, and a restore that trusts nothing (flaw 11).

``restore`` parses every field, then checks the restored state with the same
invariants the live kernel is held to (stage vs position and live orders,
order fills vs trade totals, ledger identity, id uniqueness, instruments). It
either returns a complete kernel or raises one ``SnapshotError`` that lists
every violation, naming the slot, order and field.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from dita.kernel import ids
from dita.kernel.instruments import instrument_problems
from dita.kernel.ledger import ZERO, Ledger
from dita.kernel.model import (
    Instrument,
    OrderPurpose,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionMode,
    Side,
    TradeStage,
)
from dita.kernel.money import money
from dita.kernel.state import (
    RECENT_INTENT_IDS,
    KernelState,
    OrderState,
    RecentIds,
    SlotState,
    TradeState,
    derive_stage,
)

FORMAT = "dita.kernel.snapshot"
VERSION = 1

E = TypeVar("E")


class SnapshotError(ValueError):
    """A snapshot that cannot be restored; ``problems`` lists every violation."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            f"snapshot rejected, {len(problems)} problem(s):\n"
            + "\n".join(f"  - {p}" for p in problems)
        )


def _d(v: Decimal | None) -> str | None:
    return None if v is None else str(v)


def _order_dict(o: OrderState) -> dict[str, Any]:
    return {
        "client_order_id": o.client_order_id,
        "venue_order_id": o.venue_order_id,
        "slot_id": o.slot_id,
        "trade_id": o.trade_id,
        "asset": o.asset,
        "side": o.side.value,
        "order_type": o.order_type.value,
        "quantity": str(o.quantity),
        "limit_price": _d(o.limit_price),
        "reduce_only": o.reduce_only,
        "purpose": o.purpose.value,
        "status": o.status.value,
        "filled_qty": str(o.filled_qty),
        "filled_cost": str(o.filled_cost),
        "fees": str(o.fees),
        "acked": o.acked,
        "first_leg": o.first_leg,
        "last_leg": o.last_leg,
        "seen_event_ids": list(o.seen_event_ids),
    }


def _trade_dict(t: TradeState) -> dict[str, Any]:
    return {
        "trade_id": t.trade_id,
        "trade_seq": t.trade_seq,
        "asset": t.asset,
        "side": t.side.value,
        "leverage": str(t.leverage),
        "leg_ratios": [str(r) for r in t.leg_ratios],
        "entry_price": str(t.entry_price),
        "opened_ts": t.opened_ts,
        "size": str(t.size),
        "initial_size": str(t.initial_size),
        "entry_cost": str(t.entry_cost),
        "open_cost": str(t.open_cost),
        "exit_qty": str(t.exit_qty),
        "exit_proceeds": str(t.exit_proceeds),
        "realized_pnl": str(t.realized),
        "fees": str(t.fees),
        "funding": str(t.funding),
        "leg_index": t.leg_index,
        "explicit_exits": t.explicit_exits,
        "entry_cid": t.entry_cid,
        "exit_cid": t.exit_cid,
        "attempts": dict(t.attempts),
        "intent_ids": list(t.intent_ids),
        "orders": [_order_dict(o) for o in t.orders.values()],
    }


def take_snapshot(k: KernelState) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "slots": len(k.slots),
        "client_id_prefix": k.prefix,
        "position_mode": k.position_mode.value,
        "ledger": {
            "initial_capital": str(k.ledger.initial_capital),
            "capital": str(k.ledger.capital),
            "realized_pnl": str(k.ledger.realized),
            "fees": str(k.ledger.fees),
            "funding": str(k.ledger.funding),
        },
        "next_trade_seq": k.next_trade_seq,
        "recent_intent_ids": list(k.recent_intents),
        "funding_seen": dict(k.funding_seen),
        "slot_states": [
            {
                "slot_id": s.slot_id,
                "stage": s.stage.value,
                "trade": _trade_dict(s.trade) if s.trade is not None else None,
                "ended": _trade_dict(s.ended) if s.ended is not None else None,
            }
            for s in k.slots
        ],
    }


class _Reader:
    """Reads fields from untrusted mappings, collecting every problem instead of stopping."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def field(self, m: Any, key: str, where: str) -> Any:
        if not isinstance(m, Mapping):
            self.problems.append(f"{where}: expected an object, got {type(m).__name__}")
            return None
        if key not in m:
            self.problems.append(f"{where}: missing field {key!r}")
            return None
        return m[key]

    def dec(self, m: Any, key: str, where: str, *, optional: bool = False) -> Decimal:
        v = self.field(m, key, where)
        if v is None:
            if optional and isinstance(m, Mapping) and key in m:
                return None  # type: ignore[return-value]
            return Decimal(0)
        try:
            d = Decimal(v) if isinstance(v, str) else None
        except InvalidOperation:
            d = None
        if d is None or not d.is_finite():
            self.problems.append(f"{where}.{key}: expected a finite decimal string, got {v!r}")
            return Decimal(0)
        return d

    def int_(self, m: Any, key: str, where: str) -> int:
        v = self.field(m, key, where)
        if not isinstance(v, int) or isinstance(v, bool):
            if v is not None:
                self.problems.append(f"{where}.{key}: expected an integer, got {v!r}")
            return 0
        return v

    def str_(self, m: Any, key: str, where: str) -> str:
        v = self.field(m, key, where)
        if not isinstance(v, str):
            if v is not None:
                self.problems.append(f"{where}.{key}: expected a string, got {v!r}")
            return ""
        return v

    def bool_(self, m: Any, key: str, where: str) -> bool:
        v = self.field(m, key, where)
        if not isinstance(v, bool):
            if v is not None:
                self.problems.append(f"{where}.{key}: expected true/false, got {v!r}")
            return False
        return v

    def enum(self, m: Any, key: str, where: str, cls: type[E]) -> E:
        v = self.field(m, key, where)
        members = list(cls)  # type: ignore[call-overload]
        try:
            return cls(v)  # type: ignore[call-arg]
        except ValueError:
            names = ", ".join(str(x) for x in members)
            self.problems.append(f"{where}.{key}: {v!r} is not one of {names}")
            return members[0]  # type: ignore[no-any-return]

    def list_(self, m: Any, key: str, where: str) -> list[Any]:
        v = self.field(m, key, where)
        if not isinstance(v, list):
            if v is not None:
                self.problems.append(f"{where}.{key}: expected a list, got {type(v).__name__}")
            return []
        return v


def _read_order(r: _Reader, m: Any, where: str) -> OrderState:
    seen = r.list_(m, "seen_event_ids", where)
    if not all(isinstance(x, str) for x in seen):
        r.problems.append(f"{where}.seen_event_ids: every event id must be a string")
        seen = [x for x in seen if isinstance(x, str)]
    return OrderState(
        client_order_id=r.str_(m, "client_order_id", where),
        venue_order_id=r.str_(m, "venue_order_id", where),
        slot_id=r.int_(m, "slot_id", where),
        trade_id=r.str_(m, "trade_id", where),
        asset=r.str_(m, "asset", where),
        side=r.enum(m, "side", where, OrderSide),
        order_type=r.enum(m, "order_type", where, OrderType),
        quantity=r.dec(m, "quantity", where),
        limit_price=r.dec(m, "limit_price", where, optional=True),
        reduce_only=r.bool_(m, "reduce_only", where),
        purpose=r.enum(m, "purpose", where, OrderPurpose),
        status=r.enum(m, "status", where, OrderStatus),
        filled_qty=r.dec(m, "filled_qty", where),
        filled_cost=r.dec(m, "filled_cost", where),
        fees=r.dec(m, "fees", where),
        acked=r.bool_(m, "acked", where),
        first_leg=r.int_(m, "first_leg", where),
        last_leg=r.int_(m, "last_leg", where),
        seen_event_ids=seen,
    )


def _read_trade(r: _Reader, m: Any, where: str) -> TradeState:
    t = TradeState(
        trade_id=r.str_(m, "trade_id", where),
        trade_seq=r.int_(m, "trade_seq", where),
        asset=r.str_(m, "asset", where),
        side=r.enum(m, "side", where, Side),
        leverage=r.dec(m, "leverage", where),
        leg_ratios=tuple(
            r.dec({"r": x}, "r", f"{where}.leg_ratios") for x in r.list_(m, "leg_ratios", where)
        ),
        entry_price=r.dec(m, "entry_price", where),
        opened_ts=r.int_(m, "opened_ts", where),
    )
    t.size = r.dec(m, "size", where)
    t.initial_size = r.dec(m, "initial_size", where)
    t.entry_cost = r.dec(m, "entry_cost", where)
    t.open_cost = r.dec(m, "open_cost", where)
    t.exit_qty = r.dec(m, "exit_qty", where)
    t.exit_proceeds = r.dec(m, "exit_proceeds", where)
    t.realized = r.dec(m, "realized_pnl", where)
    t.fees = r.dec(m, "fees", where)
    t.funding = r.dec(m, "funding", where)
    t.leg_index = r.int_(m, "leg_index", where)
    t.explicit_exits = r.int_(m, "explicit_exits", where)
    t.entry_cid = r.str_(m, "entry_cid", where)
    t.exit_cid = r.str_(m, "exit_cid", where)
    attempts = r.field(m, "attempts", where)
    if isinstance(attempts, Mapping) and all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
        for k, v in attempts.items()
    ):
        t.attempts = dict(attempts)
    elif attempts is not None:
        r.problems.append(f"{where}.attempts: expected an object of integers")
    intent_ids = r.list_(m, "intent_ids", where)
    t.intent_ids = [x for x in intent_ids if isinstance(x, str)]
    if len(t.intent_ids) != len(intent_ids):
        r.problems.append(f"{where}.intent_ids: every intent id must be a string")
    for i, om in enumerate(r.list_(m, "orders", where)):
        o = _read_order(r, om, f"{where}.orders[{i}]")
        if o.client_order_id in t.orders:
            r.problems.append(
                f"{where}.orders[{i}]: client order id {o.client_order_id} appears twice"
            )
        t.orders[o.client_order_id] = o
    return t


def restore_state(snap: Mapping[str, Any], instruments: dict[str, Instrument]) -> KernelState:
    """A kernel's state from its snapshot; every check runs in the money context (as the kernel
    does)."""
    with money():
        return _restore(snap, instruments)


def _restore(snap: Mapping[str, Any], instruments: dict[str, Instrument]) -> KernelState:
    r = _Reader()
    if not isinstance(snap, Mapping):
        raise SnapshotError([f"snapshot must be an object, got {type(snap).__name__}"])
    if snap.get("format") != FORMAT:
        r.problems.append(f"format: expected {FORMAT!r}, got {snap.get('format')!r}")
    version = snap.get("version")
    if version != VERSION:
        r.problems.append(f"version: this dita reads snapshot version {VERSION}, got {version!r}")
        raise SnapshotError(r.problems)
    for inst in instruments.values():
        r.problems.extend(instrument_problems(inst))
    n = r.int_(snap, "slots", "snapshot")
    prefix = r.str_(snap, "client_id_prefix", "snapshot")
    if not ids.valid_prefix(prefix):
        r.problems.append(f"client_id_prefix: {prefix!r} is not 1-6 lower-case letters or digits")
    ledger = r.field(snap, "ledger", "snapshot")
    position_mode = r.enum(snap, "position_mode", "snapshot", PositionMode)
    k = KernelState(
        position_mode=position_mode,
        instruments=dict(instruments),
        prefix=prefix,
        ledger=Ledger(
            initial_capital=r.dec(ledger, "initial_capital", "ledger"),
            capital=r.dec(ledger, "capital", "ledger"),
            realized=r.dec(ledger, "realized_pnl", "ledger"),
            fees=r.dec(ledger, "fees", "ledger"),
            funding=r.dec(ledger, "funding", "ledger"),
        ),
        slots=[],
        next_trade_seq=r.int_(snap, "next_trade_seq", "snapshot"),
        recent_intents=_read_recent_intents(r, snap),
        funding_seen=_read_funding_seen(r, snap),
    )
    states = r.list_(snap, "slot_states", "snapshot")
    if n < 1:
        r.problems.append(f"slots: must be >= 1, got {n}")
    if len(states) != n:
        r.problems.append(f"slot_states: {len(states)} entries for {n} slots")
    for i, sm in enumerate(states):
        s = _read_slot(r, sm, i)
        for t in (s.trade, s.ended):
            for cid in t.orders if t is not None else ():
                if cid in k.order_slot:
                    r.problems.append(
                        f"slot {i}: client order id {cid} also held by slot {k.order_slot[cid]}"
                    )
                k.order_slot[cid] = i
        k.slots.append(s)
    if not r.problems:
        r.problems.extend(state_problems(k))
    if r.problems:
        raise SnapshotError(r.problems)
    return k


def _read_slot(r: _Reader, sm: Any, i: int) -> SlotState:
    where = f"slot {i}"
    sid = r.int_(sm, "slot_id", where)
    if sid != i:
        r.problems.append(
            f"{where}: slot_id {sid} at position {i} (slot ids must be 0..N-1 in order)"
        )
    s = SlotState(i)
    s.stage = r.enum(sm, "stage", where, TradeStage)
    tm = r.field(sm, "trade", where)
    s.trade = _read_trade(r, tm, f"{where}.trade") if tm is not None else None
    em = r.field(sm, "ended", where)
    s.ended = _read_trade(r, em, f"{where}.ended") if em is not None else None
    return s


def _read_recent_intents(r: _Reader, snap: Mapping[str, Any]) -> RecentIds:
    recent = r.list_(snap, "recent_intent_ids", "snapshot")
    if not all(isinstance(x, str) for x in recent):
        r.problems.append("recent_intent_ids: every intent id must be a string")
    return RecentIds(RECENT_INTENT_IDS, (x for x in recent if isinstance(x, str)))


def _read_funding_seen(r: _Reader, snap: Mapping[str, Any]) -> dict[str, int]:
    funding = r.field(snap, "funding_seen", "snapshot")
    if isinstance(funding, Mapping) and all(
        isinstance(a, str) and isinstance(ts, int) and not isinstance(ts, bool)
        for a, ts in funding.items()
    ):
        return dict(funding)
    if funding is not None:
        r.problems.append("funding_seen: expected an object of asset -> integer ts")
    return {}


def _trade_problems(k: KernelState, t: TradeState, where: str, slot_id: int) -> list[str]:
    p = _trade_field_problems(k, t, where)
    p.extend(_trade_sum_problems(t, where))
    p.extend(_trade_order_id_problems(t, where))
    for o in t.orders.values():
        p.extend(_order_problems(k, t, o, f"{where} order {o.client_order_id}", slot_id))
    return p


def _trade_field_problems(k: KernelState, t: TradeState, where: str) -> list[str]:
    """The trade's own fields: identity, instrument, leverage, legs, non-negative amounts."""
    p: list[str] = []
    if not t.trade_id:
        p.append(f"{where}: empty trade_id")
    if t.asset not in k.instruments:
        p.append(f"{where}: asset {t.asset!r} is not a known instrument")
    if t.leverage <= 0:
        p.append(f"{where}: leverage {t.leverage} must be > 0")
    if not t.leg_ratios or any(x <= 0 for x in t.leg_ratios) or sum(t.leg_ratios, ZERO) != 1:
        p.append(f"{where}: leg_ratios {[str(x) for x in t.leg_ratios]} must be > 0 and sum to 1")
    if t.leg_index < 0:
        p.append(f"{where}: leg_index {t.leg_index} < 0")
    if not 0 <= t.trade_seq < k.next_trade_seq:
        p.append(f"{where}: trade_seq {t.trade_seq} not below next_trade_seq {k.next_trade_seq}")
    for name in ("size", "initial_size", "entry_cost", "open_cost", "exit_qty", "exit_proceeds"):
        if getattr(t, name) < 0:
            p.append(f"{where}: {name} {getattr(t, name)} is negative")
    if t.size != t.initial_size - t.exit_qty:
        p.append(f"{where}: size {t.size} != initial_size {t.initial_size} - exit_qty {t.exit_qty}")
    if (t.size == 0) != (t.open_cost == 0):
        p.append(f"{where}: size {t.size} and open cost basis {t.open_cost} disagree")
    return p


def _trade_sum_problems(t: TradeState, where: str) -> list[str]:
    """The trade's totals are exactly the sums over its orders."""
    entries = [o for o in t.orders.values() if o.purpose is OrderPurpose.ENTRY]
    exits = [o for o in t.orders.values() if o.purpose is OrderPurpose.EXIT]
    totals = (
        ("initial_size", t.initial_size, "entry fills", (o.filled_qty for o in entries)),
        ("entry_cost", t.entry_cost, "entry fill values", (o.filled_cost for o in entries)),
        ("exit_qty", t.exit_qty, "exit fills", (o.filled_qty for o in exits)),
        ("exit_proceeds", t.exit_proceeds, "exit fill values", (o.filled_cost for o in exits)),
        ("fees", t.fees, "order fees", (o.fees for o in t.orders.values())),
    )
    return [
        f"{where}: {name} {value} != sum of {of}"
        for name, value, of, parts in totals
        if sum(parts, ZERO) != value
    ]


def _trade_order_id_problems(t: TradeState, where: str) -> list[str]:
    """At most one live entry and one live exit, never both, each the one the trade names."""
    p: list[str] = []
    orders = t.orders.values()
    live_entries = [o.client_order_id for o in orders if o.live and o.purpose is OrderPurpose.ENTRY]
    live_exits = [o.client_order_id for o in orders if o.live and o.purpose is OrderPurpose.EXIT]
    if len(live_entries) > 1 or (live_entries and live_entries[0] != t.entry_cid):
        p.append(
            f"{where}: live entry orders {live_entries} do not match entry_cid {t.entry_cid!r}"
        )
    if len(live_exits) > 1 or (live_exits and live_exits[0] != t.exit_cid):
        p.append(f"{where}: live exit orders {live_exits} do not match exit_cid {t.exit_cid!r}")
    if live_entries and live_exits:
        p.append(f"{where}: an exit order is live while the entry is still working")
    if t.entry_cid and t.entry_cid not in t.orders:
        p.append(f"{where}: entry_cid {t.entry_cid} is not among the trade's orders")
    if t.exit_cid and t.exit_cid not in t.orders:
        p.append(f"{where}: exit_cid {t.exit_cid} is not among the trade's orders")
    return p


def _order_problems(
    k: KernelState, t: TradeState, o: OrderState, ow: str, slot_id: int
) -> list[str]:
    """One order of a trade: it belongs to the trade, and its own fields agree."""
    p: list[str] = []
    if o.slot_id != slot_id:
        p.append(f"{ow}: slot_id {o.slot_id} but held by slot {slot_id}")
    if o.trade_id != t.trade_id:
        p.append(f"{ow}: trade_id {o.trade_id!r} but trade is {t.trade_id!r}")
    if o.asset != t.asset:
        p.append(f"{ow}: asset {o.asset!r} but trade is {t.asset!r}")
    if ids.parse_trade_seq(k.prefix, o.client_order_id) != t.trade_seq:
        p.append(f"{ow}: client order id does not belong to trade seq {t.trade_seq}")
    p.extend(_order_field_problems(o, ow))
    want_side = (
        (OrderSide.BUY if t.side is Side.LONG else OrderSide.SELL)
        if o.purpose is OrderPurpose.ENTRY
        else (OrderSide.SELL if t.side is Side.LONG else OrderSide.BUY)
    )
    if o.side is not want_side:
        p.append(f"{ow}: side {o.side} is wrong for a {t.side} {o.purpose} order")
    return p


def _order_field_problems(o: OrderState, ow: str) -> list[str]:
    p: list[str] = []
    if o.quantity <= 0:
        p.append(f"{ow}: quantity {o.quantity} must be > 0")
    if not 0 <= o.filled_qty <= o.quantity:
        p.append(f"{ow}: filled_qty {o.filled_qty} outside 0..{o.quantity}")
    if (o.filled_qty == 0) != (o.filled_cost == 0):
        p.append(f"{ow}: filled_qty {o.filled_qty} and filled_cost {o.filled_cost} disagree")
    if o.filled_qty > 0 and not o.seen_event_ids:
        p.append(f"{ow}: has fills but seen_event_ids is empty (dedup memory was cleared)")
    if o.status is OrderStatus.FILLED and o.filled_qty != o.quantity:
        p.append(f"{ow}: status FILLED but filled {o.filled_qty} of {o.quantity}")
    if o.order_type is OrderType.LIMIT and (o.limit_price is None or o.limit_price <= 0):
        p.append(f"{ow}: LIMIT order without a positive limit_price")
    if o.order_type is OrderType.MARKET and o.limit_price is not None:
        p.append(f"{ow}: MARKET order with a limit_price")
    if o.reduce_only != (o.purpose is OrderPurpose.EXIT):
        p.append(f"{ow}: reduce_only must be true exactly for exit orders")
    return p


def state_problems(k: KernelState) -> list[str]:
    """Every invariant the kernel's state violates (empty list when sound).

    Checked in the money context, the one the kernel computes in: at another
    precision a sum of exact 60-digit values can round differently.
    """
    with money():
        return _state_problems(k)


def _state_problems(k: KernelState) -> list[str]:
    p = k.ledger.problems()
    if k.position_mode is PositionMode.ONE_WAY:
        p.extend(_one_way_problems(k))
    seqs: dict[int, int] = {}
    for s in k.slots:
        where = f"slot {s.slot_id}"
        want = derive_stage(s.trade, s.stage is TradeStage.CLOSED)
        if s.trade is None and s.stage not in (TradeStage.IDLE, TradeStage.CLOSED):
            p.append(f"{where}: stage {s.stage} without a trade (a non-idle stage needs a trade)")
        elif s.stage is not want:
            t = s.trade
            assert t is not None
            p.append(
                f"{where}: stage {s.stage} contradicts the trade (size {t.size}, "
                f"live orders {[o.client_order_id for o in t.orders.values() if o.live]}): expected {want}"
            )
        for label, t in (("trade", s.trade), ("ended", s.ended)):
            if t is None:
                continue
            tw = f"{where} {label} {t.trade_id!r}"
            p.extend(_trade_problems(k, t, tw, s.slot_id))
            if t.trade_seq in seqs:
                p.append(f"{tw}: trade_seq {t.trade_seq} also used in slot {seqs[t.trade_seq]}")
            seqs[t.trade_seq] = s.slot_id
        if s.ended is not None:
            e = s.ended
            if e.size != 0 or e.exit_qty != 0 or any(o.live for o in e.orders.values()):
                p.append(
                    f"{where}: ended trade {e.trade_id!r} must have no position and no live order"
                )
            if s.trade is not None:
                p.append(f"{where}: holds both a trade and an ended trade")
    return p


def _one_way_problems(k: KernelState) -> list[str]:
    """In one-way position mode every trade on an asset has the same side."""
    p: list[str] = []
    sides: dict[str, tuple[Side, int]] = {}
    for s in k.slots:
        if s.trade is None:
            continue
        seen = sides.setdefault(s.trade.asset, (s.trade.side, s.slot_id))
        if seen[0] is not s.trade.side:
            p.append(
                f"slot {s.slot_id}: {s.trade.side} {s.trade.asset} beside a {seen[0]} trade in slot "
                f"{seen[1]}, which one-way position mode cannot hold"
            )
    return p
