"""The trade-slot state machine and its exact ledger.

Theory of operation
-------------------
A ``Kernel`` holds N slots; each slot holds at most one trade. Two entry points
change state: ``process_intent`` (the policy wants something) and
``on_venue_event`` (the venue reports a fact). Each call is one step and
returns one ``KernelOutcome`` that describes exactly that step: whether the
input was accepted, why not, the slot's stage afterwards, every stage change
made in the step, the commands to send and the money that moved. Commands are
returned, never performed (no I/O here), so there is no "before the venue"
and "after the venue" half of a call (flaws 3 and 12).

A refused input changes nothing: every handler validates completely before it
mutates anything. The kernel never raises on bad input from the outside; it
raises ``KernelInvariantError`` only when its own bookkeeping is broken.

The stage of a slot is not set by hand in each branch. After every accepted
step, ``_settle_stage`` derives the stage from the trade's orders and position
(see ``derive_stage``) and records the transition; CLOSED is reached in that
one place, which also writes the trade record and frees the slot (flaw 4).

Money is settled on every fill, partial or full (flaw 5): realized PnL of an
exit fill is ``qty * (price - average entry)`` (signed by side) with the cost
basis released exactly; the fill that closes the position releases whatever
cost basis remains, so over a trade realized PnL == exit proceeds - entry cost
to the last digit. Capital is kept as its own running sum and checked against
``initial + realized - fees + funding`` (exact ``Decimal``; no epsilon).

Idempotency: fills are applied by cumulative quantity (``cum_qty`` minus what
was already applied) and by event id; both memories live on the order and are
dropped with it when its trade ends, so memory is bounded by live trades,
never by a fixed window that could be overrun (flaw 10).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, localcontext
from typing import Any

from dita.kernel import ids
from dita.kernel.instruments import instrument_problems, on_grid, quantize_price, quantize_qty
from dita.kernel.ledger import COST_EXPONENT, COST_QUANTUM, ONE, ZERO, Ledger
from dita.kernel.model import (
    AccountView,
    Cancel,
    CancelOrder,
    Enter,
    EventKind,
    Exit,
    ExitFill,
    Instrument,
    KernelDiagnosticCode,
    KernelIntent,
    KernelOutcome,
    LedgerDelta,
    Order,
    OrderPurpose,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionMode,
    Side,
    SubmitOrder,
    TradeRecord,
    TradeSlot,
    TradeStage,
    Transition,
    VenueEvent,
)
from dita.kernel.money import MONEY_CONTEXT
from dita.kernel.snapshot import restore_state, state_problems, take_snapshot
from dita.kernel.state import KernelState, OrderState, SlotState, TradeState, derive_stage

D = KernelDiagnosticCode
# Arithmetic context for every kernel step (dita.kernel.money, the one money
# context): wide enough that sums of prices x quantities are exact; divisions
# (cost basis release, margin) are quantized.
KERNEL_CONTEXT = MONEY_CONTEXT
# Outside money (fees, funding, fill prices) has at most 18 decimals: no venue
# sends more, and anything finer would make the ledger's sums inexact.
MIN_AMOUNT_EXPONENT = -18
MAX_TS = 2**63 - 1  # epoch milliseconds; the journal stores them as 64-bit integers
MAX_LEG_RATIOS = 100
NO_DELTA = LedgerDelta()


class KernelInvariantError(RuntimeError):
    """The kernel's own bookkeeping is broken. Never raised for bad outside input."""


class _Refusal(Exception):
    """Internal: an input is refused with a diagnostic; nothing has been mutated."""

    def __init__(self, code: KernelDiagnosticCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _finite(value: object) -> Decimal | None:
    """The value if it is a finite Decimal, else None (ints, floats, bools, strings are refused)."""
    if type(value) is Decimal:
        return value if value.is_finite() else None
    match value:
        case bool():
            return None
        case Decimal() if value.is_finite():
            return value
        case _:  # int, float, str...: numbers reach the kernel as Decimal, or not at all
            return None


def _money(value: object, what: str, code: KernelDiagnosticCode) -> Decimal:
    """A finite outside amount with at most 18 decimals (any sign), or a refusal."""
    d = _finite(value)
    if d is None:
        raise _Refusal(code, f"{what} must be a finite Decimal, got {value!r}")
    exp = d.as_tuple().exponent
    assert isinstance(exp, int)
    if d and exp < MIN_AMOUNT_EXPONENT:
        raise _Refusal(
            D.AMOUNT_TOO_PRECISE,
            f"{what} {d} has more than {-MIN_AMOUNT_EXPONENT} decimals",
        )
    return d


def _valid_ts(ts: object) -> bool:
    return type(ts) is int and 0 <= ts <= MAX_TS


# --------------------------------------------------------------------------- kernel


class Kernel:
    """A pure, deterministic state machine over N trade slots with an exact ledger."""

    def __init__(
        self,
        slots: int,
        instruments: Mapping[str, Instrument] | Iterable[Instrument],
        initial_capital: Decimal,
        client_id_prefix: str = "dt",
        position_mode: PositionMode = PositionMode.ONE_WAY,
    ) -> None:
        insts = _instrument_map(instruments)
        problems = [p for inst in insts.values() for p in instrument_problems(inst)]
        if not isinstance(slots, int) or isinstance(slots, bool) or slots < 1:
            problems.append(f"slots must be a positive integer, got {slots!r}")
        given: object = initial_capital  # (a whole-number int is taken at its value)
        cap = Decimal(given) if type(given) is int else _finite(given)
        if cap is None or cap < 0:
            problems.append(
                f"initial_capital must be a finite Decimal >= 0, got {initial_capital!r}"
            )
        if not ids.valid_prefix(client_id_prefix):
            problems.append(
                f"client_id_prefix must be 1-6 lower-case letters or digits, got {client_id_prefix!r}"
            )
        if position_mode not in (PositionMode.ONE_WAY, PositionMode.HEDGE):
            problems.append(f"position_mode must be ONE_WAY or HEDGE, got {position_mode!r}")
        if problems:
            raise ValueError("; ".join(problems))
        assert cap is not None
        self._s = KernelState(
            position_mode=PositionMode(position_mode),
            instruments=insts,
            prefix=client_id_prefix,
            ledger=Ledger.opening(cap),
            slots=[SlotState(i) for i in range(slots)],
        )

    @classmethod
    def _from_state(cls, state: KernelState) -> Kernel:
        k = cls.__new__(cls)
        k._s = state
        return k

    # ------------------------------------------------------------------ views

    @property
    def slot_count(self) -> int:
        return len(self._s.slots)

    @property
    def instruments(self) -> dict[str, Instrument]:
        return dict(self._s.instruments)

    @property
    def client_id_prefix(self) -> str:
        return self._s.prefix

    @property
    def position_mode(self) -> PositionMode:
        return self._s.position_mode

    def slot(self, n: int) -> TradeSlot:
        s = self._s.slots[n]
        t = s.trade
        if t is None:
            return TradeSlot(
                slot_id=n,
                stage=s.stage,
                trade_id="",
                asset="",
                side=None,
                size=ZERO,
                initial_size=ZERO,
                entry_price=None,
                realized_pnl=ZERO,
                fees=ZERO,
                funding=ZERO,
                leverage=ONE,
                active_entry_order=None,
                active_exit_order=None,
                exit_leg_ratios=(),
                active_leg_index=0,
            )
        entry = t.live_entry()
        exit_ = t.live_exit()
        with localcontext(KERNEL_CONTEXT):
            avg = t.entry_cost / t.initial_size if t.initial_size else None
        return TradeSlot(
            slot_id=n,
            stage=s.stage,
            trade_id=t.trade_id,
            asset=t.asset,
            side=t.side,
            size=t.size,
            initial_size=t.initial_size,
            entry_price=avg,
            realized_pnl=t.realized,
            fees=t.fees,
            funding=t.funding,
            leverage=t.leverage,
            active_entry_order=entry.view() if entry else None,
            active_exit_order=exit_.view() if exit_ else None,
            exit_leg_ratios=t.leg_ratios,
            active_leg_index=t.leg_index,
        )

    @property
    def account(self) -> AccountView:
        with localcontext(KERNEL_CONTEXT):
            margin = self._margin_used()
            return AccountView(
                initial_capital=self._s.ledger.initial_capital,
                capital=self._s.ledger.capital,
                realized_pnl=self._s.ledger.realized,
                fees=self._s.ledger.fees,
                funding=self._s.ledger.funding,
                margin_used=margin,
                available=self._s.ledger.capital - margin,
            )

    def live_orders(self) -> list[Order]:
        """Every order that may be live on the venue (requested, working, pending cancel)."""
        out: list[Order] = []
        for s in self._s.slots:
            if s.trade is not None:
                out.extend(o.view() for o in s.trade.orders.values() if o.live)
        return out

    def order(self, client_order_id: str) -> Order | None:
        """The kernel's view of one order it still holds (live, or ended in a trade still
        in its slot); None once its trade was let go. Read-only."""
        sid = self._s.order_slot.get(client_order_id)
        if sid is None:
            return None
        slot = self._s.slots[sid]
        for trade in (slot.trade, slot.ended):
            if trade is not None and client_order_id in trade.orders:
                return trade.orders[client_order_id].view()
        return None

    def held_orders(self) -> list[Order]:
        """Every order the kernel still holds, live or ended (the orders of each slot's
        current trade and of the trade it keeps for late fills). Read-only."""
        out: list[Order] = []
        for s in self._s.slots:
            for t in (s.trade, s.ended):
                if t is not None:
                    out.extend(o.view() for o in t.orders.values())
        return out

    def _margin_used(self) -> Decimal:
        total = ZERO
        for s in self._s.slots:
            if s.trade is not None:
                total += s.trade.margin()
        return total

    # ------------------------------------------------------------------ intents

    def process_intent(self, intent: KernelIntent) -> KernelOutcome:
        """One policy intent, one step. Never raises on a bad intent."""
        with localcontext(KERNEL_CONTEXT):
            slot_id = intent.slot_id if _valid_slot_id(intent.slot_id, len(self._s.slots)) else None
            try:
                self._check_intent_header(intent)
                match intent:
                    case Enter():
                        return self._enter(intent)
                    case Exit():
                        return self._exit(intent)
                    case Cancel():
                        return self._cancel(intent)
                    case _:
                        raise _Refusal(
                            D.INVALID_ACTION,
                            f"not an Enter, Exit or Cancel: {type(intent).__name__}",
                        )
            except _Refusal as r:
                state = self._s.slots[slot_id].stage if slot_id is not None else None
                return KernelOutcome(False, r.code, slot_id, state, message=r.message)

    def _check_intent_header(self, intent: KernelIntent) -> None:
        if type(intent.intent_id) is not str or not intent.intent_id:
            raise _Refusal(D.INVALID_INTENT, "intent_id must be a non-empty string")
        if not _valid_ts(intent.ts):
            raise _Refusal(
                D.INVALID_TS,
                f"ts must be integer epoch milliseconds in [0, 2**63), got {intent.ts!r}",
            )
        for name in ("trade_id", "asset", "reason"):
            if type(getattr(intent, name, "")) is not str:
                raise _Refusal(
                    D.INVALID_INTENT, f"{name} must be a string, got {getattr(intent, name)!r}"
                )
        if type(intent.metadata) is not dict:
            raise _Refusal(D.INVALID_INTENT, f"metadata must be a dict, got {intent.metadata!r}")
        if self._intent_seen(intent.intent_id):
            raise _Refusal(D.DUPLICATE_INTENT, f"intent {intent.intent_id!r} was already accepted")
        if not _valid_slot_id(intent.slot_id, len(self._s.slots)):
            raise _Refusal(
                D.UNKNOWN_SLOT,
                f"slot {intent.slot_id!r} does not exist (this kernel has slots 0..{len(self._s.slots) - 1})",
            )

    def _intent_seen(self, intent_id: str) -> bool:
        if intent_id in self._s.recent_intents:
            return True
        return any(s.trade is not None and intent_id in s.trade.intent_ids for s in self._s.slots)

    def _remember_intent(self, intent_id: str, trade: TradeState | None) -> None:
        self._s.recent_intents.add(intent_id)
        if trade is not None:
            trade.intent_ids.append(intent_id)

    def _check_one_way_side(self, it: Enter, inst: Instrument) -> None:
        """One-way mode nets both sides of a symbol: an ENTER opposite a held trade is refused."""
        for other in self._s.slots:
            t = other.trade
            if t is not None and t.asset == inst.symbol and t.side is not it.side:
                raise _Refusal(
                    D.OPPOSITE_POSITION,
                    f"ENTER {it.side} {inst.symbol} refused in one-way position mode: slot "
                    f"{other.slot_id} holds a {t.side} trade {t.trade_id!r} on it, and the venue "
                    "would net the two (use HEDGE mode for both sides at once)",
                )

    def _enter(self, it: Enter) -> KernelOutcome:
        slot = self._s.slots[it.slot_id]
        if slot.stage not in (TradeStage.IDLE, TradeStage.CLOSED):
            raise _Refusal(
                D.SLOT_BUSY,
                f"ENTER not valid in {slot.stage} (slot {it.slot_id}): trade "
                f"{slot.trade.trade_id if slot.trade else ''!r} is still active",
            )
        if not it.trade_id:
            raise _Refusal(D.INVALID_TRADE_ID, "ENTER needs a non-empty trade_id")
        inst = self._s.instruments.get(it.asset)
        if inst is None:
            raise _Refusal(D.UNKNOWN_INSTRUMENT, f"unknown instrument {it.asset!r}")
        if type(it.side) is not Side:
            # never "it.side in (Side.LONG, Side.SHORT)": the plain string "LONG"
            # passes that (StrEnum equality), fails "is Side.LONG" and became a SELL
            raise _Refusal(
                D.INVALID_SIDE, f"ENTER needs side Side.LONG or Side.SHORT, got {it.side!r}"
            )
        size, leverage = _entry_size_and_leverage(it, inst)
        ratios = _check_leg_ratios(it.exit_leg_ratios)
        side = OrderSide.BUY if it.side is Side.LONG else OrderSide.SELL
        order_type, limit_price = self._order_price(it, inst, side)
        price = limit_price if limit_price is not None else _market_reference_price(it, inst)
        qty = quantize_qty(inst, size)
        if qty <= 0 or qty < inst.min_quantity:
            raise _Refusal(
                D.BELOW_MIN_QUANTITY,
                f"size {size} rounds to {qty} on step {inst.step_size}, below the minimum "
                f"quantity {inst.min_quantity} of {inst.symbol}",
            )
        notional = qty * price
        if notional < inst.min_notional:
            raise _Refusal(
                D.BELOW_MIN_NOTIONAL,
                f"notional {notional} below the minimum {inst.min_notional} of {inst.symbol}",
            )
        if self._s.position_mode is PositionMode.ONE_WAY:
            self._check_one_way_side(it, inst)
        needed = notional / leverage
        available = self._s.ledger.capital - self._margin_used()
        if needed > available:
            raise _Refusal(
                D.INSUFFICIENT_MARGIN,
                f"ENTER needs margin {needed} but only {available} is available",
            )
        # -- accepted: mutate
        old_stage = slot.stage
        if slot.ended is not None:
            self._forget_orders(slot.ended)
            slot.ended = None
        seq = self._s.next_trade_seq
        self._s.next_trade_seq += 1
        trade = TradeState(
            trade_id=it.trade_id,
            trade_seq=seq,
            asset=inst.symbol,
            side=it.side,
            leverage=leverage,
            leg_ratios=ratios,
            entry_price=price,
            opened_ts=it.ts,
        )
        order = self._new_order(
            slot,
            trade,
            tag="e",
            side=side,
            order_type=order_type,
            qty=qty,
            limit_price=limit_price,
            reduce_only=False,
            purpose=OrderPurpose.ENTRY,
            legs=(-1, -1),
        )
        trade.entry_cid = order.client_order_id
        slot.trade = trade
        self._remember_intent(it.intent_id, trade)
        transitions: list[Transition] = []
        self._settle_stage(slot, f"intent {it.intent_id}: ENTER", transitions, old_stage, it.ts, [])
        return KernelOutcome(
            True,
            D.OK,
            slot.slot_id,
            slot.stage,
            tuple(transitions),
            (SubmitOrder(order.view()),),
        )

    def _order_price(
        self, it: Enter | Exit, inst: Instrument, side: OrderSide
    ) -> tuple[OrderType, Decimal | None]:
        if type(it.order_type) is not OrderType:
            raise _Refusal(
                D.INVALID_ORDER_TYPE, f"order_type must be an OrderType, got {it.order_type!r}"
            )
        match it.order_type:
            case OrderType.MARKET:
                if it.limit_price is not None:
                    raise _Refusal(
                        D.LIMIT_PRICE_NOT_ALLOWED,
                        f"a MARKET order cannot carry limit_price {it.limit_price!r}",
                    )
                return OrderType.MARKET, None
            case OrderType.LIMIT:
                if it.limit_price is None:
                    raise _Refusal(D.LIMIT_PRICE_REQUIRED, "a LIMIT order needs limit_price")
                lp = _finite(it.limit_price)
                if lp is None or lp <= 0:
                    raise _Refusal(
                        D.INVALID_PRICE, f"limit_price must be > 0, got {it.limit_price!r}"
                    )
                _check_max_price(inst, lp, "limit_price")
                q = quantize_price(inst, side, lp)
                if q <= 0:
                    raise _Refusal(
                        D.INVALID_PRICE,
                        f"limit_price {lp} rounds to {q} on tick {inst.tick_size}",
                    )
                return OrderType.LIMIT, q
            case _:
                raise _Refusal(D.INVALID_ORDER_TYPE, f"unknown order_type {it.order_type!r}")

    def _exit(self, it: Exit) -> KernelOutcome:
        slot = self._s.slots[it.slot_id]
        trade = slot.trade
        match slot.stage:
            case TradeStage.POSITION_OPEN:
                pass
            case TradeStage.ORDER_REQUESTED | TradeStage.ENTRY_WORKING:
                raise _Refusal(
                    D.ENTRY_STILL_WORKING,
                    f"EXIT not valid in {slot.stage} (slot {it.slot_id}): cancel the entry first",
                )
            case TradeStage.EXIT_WORKING:
                raise _Refusal(
                    D.EXIT_ALREADY_WORKING,
                    f"EXIT not valid in EXIT_WORKING (slot {it.slot_id}): an exit order is already working",
                )
            case _:
                raise _Refusal(
                    D.NO_POSITION,
                    f"EXIT not valid in {slot.stage} (slot {it.slot_id}): no position",
                )
        assert trade is not None
        if it.trade_id and it.trade_id != trade.trade_id:
            raise _Refusal(
                D.TRADE_ID_MISMATCH,
                f"EXIT for trade {it.trade_id!r} but slot {it.slot_id} holds {trade.trade_id!r}",
            )
        if it.asset and it.asset != trade.asset:
            raise _Refusal(
                D.ASSET_MISMATCH, f"EXIT for {it.asset!r} but slot {it.slot_id} holds {trade.asset}"
            )
        inst = self._s.instruments[trade.asset]
        side = OrderSide.SELL if trade.side is Side.LONG else OrderSide.BUY
        order_type, limit_price = self._order_price(it, inst, side)
        ref = None
        if it.reference_price is not None:
            ref = _finite(it.reference_price)
            if ref is None or ref <= 0:
                raise _Refusal(
                    D.INVALID_PRICE, f"reference_price must be > 0, got {it.reference_price!r}"
                )
            _check_max_price(inst, ref, "reference_price")
        price = limit_price or ref or trade.open_cost / trade.size
        if it.size is not None:
            size = _finite(it.size)
            if size is None or size <= 0:
                raise _Refusal(
                    D.INVALID_SIZE, f"EXIT size must be a finite Decimal > 0, got {it.size!r}"
                )
            if size > inst.max_quantity:
                raise _Refusal(
                    D.SIZE_ABOVE_MAX,
                    f"EXIT size {size} is above the maximum quantity {inst.max_quantity} of {inst.symbol}",
                )
            qty = quantize_qty(inst, size)
            if qty > trade.size:
                raise _Refusal(
                    D.EXIT_SIZE_EXCEEDS_POSITION,
                    f"EXIT size {qty} exceeds the open position {trade.size} (slot {it.slot_id})",
                )
            if qty < trade.size:
                _check_partial_exit(inst, qty, price)
            legs = (-1, -1)
            tag = f"s{trade.explicit_exits}"
        else:
            qty, first, last = _next_leg(trade, inst, price)
            legs = (first, last)
            tag = f"x{first}"
        # -- accepted: mutate
        old_stage = slot.stage
        if it.size is not None:
            trade.explicit_exits += 1
        order = self._new_order(
            slot,
            trade,
            tag=tag,
            side=side,
            order_type=order_type,
            qty=qty,
            limit_price=limit_price,
            reduce_only=True,
            purpose=OrderPurpose.EXIT,
            legs=legs,
        )
        trade.exit_cid = order.client_order_id
        self._remember_intent(it.intent_id, trade)
        transitions: list[Transition] = []
        self._settle_stage(slot, f"intent {it.intent_id}: EXIT", transitions, old_stage, it.ts, [])
        return KernelOutcome(
            True, D.OK, slot.slot_id, slot.stage, tuple(transitions), (SubmitOrder(order.view()),)
        )

    def _cancel(self, it: Cancel) -> KernelOutcome:
        slot = self._s.slots[it.slot_id]
        trade = slot.trade
        order = None
        if trade is not None:
            # flaw 1: the entry order is cancellable, not only the exit order
            order = trade.live_entry() or trade.live_exit()
        if trade is None or order is None:
            raise _Refusal(
                D.NOTHING_TO_CANCEL,
                f"CANCEL not valid in {slot.stage} (slot {it.slot_id}): no working order",
            )
        if it.trade_id and it.trade_id != trade.trade_id:
            raise _Refusal(
                D.TRADE_ID_MISMATCH,
                f"CANCEL for trade {it.trade_id!r} but slot {it.slot_id} holds {trade.trade_id!r}",
            )
        if order.status is OrderStatus.PENDING_CANCEL:
            raise _Refusal(
                D.CANCEL_ALREADY_PENDING,
                f"CANCEL not valid (slot {it.slot_id}): order {order.client_order_id} already has a cancel pending",
            )
        order.status = OrderStatus.PENDING_CANCEL
        self._remember_intent(it.intent_id, trade)
        return KernelOutcome(True, D.OK, slot.slot_id, slot.stage, (), (CancelOrder(order.view()),))

    def _new_order(
        self,
        slot: SlotState,
        trade: TradeState,
        *,
        tag: str,
        side: OrderSide,
        order_type: OrderType,
        qty: Decimal,
        limit_price: Decimal | None,
        reduce_only: bool,
        purpose: OrderPurpose,
        legs: tuple[int, int],
    ) -> OrderState:
        attempt = trade.attempts.get(tag, 0)
        trade.attempts[tag] = attempt + 1
        cid = ids.client_order_id(self._s.prefix, trade.trade_id, trade.trade_seq, tag, attempt)
        if cid in self._s.order_slot:
            raise KernelInvariantError(f"client order id {cid} generated twice")
        order = OrderState(
            client_order_id=cid,
            slot_id=slot.slot_id,
            trade_id=trade.trade_id,
            asset=trade.asset,
            side=side,
            order_type=order_type,
            quantity=qty,
            limit_price=limit_price,
            reduce_only=reduce_only,
            purpose=purpose,
            first_leg=legs[0],
            last_leg=legs[1],
        )
        trade.orders[cid] = order
        self._s.order_slot[cid] = slot.slot_id
        return order

    # ------------------------------------------------------------------ venue events

    def on_venue_event(self, event: VenueEvent) -> KernelOutcome:
        """One venue fact, one step. Never raises on a bad event."""
        with localcontext(KERNEL_CONTEXT):
            try:
                _check_event_fields(event)
                if event.kind is EventKind.FUNDING:
                    return self._on_funding(event)
                slot, trade, order = self._find_order(event)
                if event.event_id in order.seen_event_ids:
                    raise _Refusal(
                        D.DUPLICATE_EVENT,
                        f"event {event.event_id!r} for order {order.client_order_id} was already applied",
                    )
                if (
                    event.venue_order_id
                    and order.venue_order_id
                    and event.venue_order_id != order.venue_order_id
                ):
                    raise _Refusal(
                        D.INVALID_EVENT,
                        f"event names venue order {event.venue_order_id!r} but order "
                        f"{order.client_order_id} is venue order {order.venue_order_id!r}",
                    )
                match event.kind:
                    case EventKind.ACK:
                        return self._on_ack(slot, trade, order, event)
                    case EventKind.PARTIAL_FILL | EventKind.FILL:
                        return self._on_fill(slot, trade, order, event)
                    case EventKind.CANCEL_ACK | EventKind.EXPIRED:
                        return self._on_order_end(slot, trade, order, event)
                    case EventKind.REJECT:
                        return self._on_order_end(slot, trade, order, event)
                    case EventKind.CANCEL_REJECT:
                        return self._on_cancel_reject(slot, trade, order, event)
                    case EventKind.FEE:
                        return self._on_fee(slot, trade, order, event)
                    case _:
                        raise _Refusal(D.INVALID_EVENT_KIND, f"unknown event kind {event.kind!r}")
            except _Refusal as r:
                sid = (
                    self._s.order_slot.get(event.client_order_id)
                    if isinstance(event.client_order_id, str)
                    else None
                )
                state = self._s.slots[sid].stage if sid is not None else None
                return KernelOutcome(False, r.code, sid, state, message=r.message)

    def _find_order(self, event: VenueEvent) -> tuple[SlotState, TradeState, OrderState]:
        cid = event.client_order_id
        if not isinstance(cid, str) or not cid:
            raise _Refusal(D.INVALID_EVENT, f"{event.kind} event without a client_order_id")
        sid = self._s.order_slot.get(cid)
        if sid is None:
            seq = ids.parse_trade_seq(self._s.prefix, cid)
            if seq is not None and seq < self._s.next_trade_seq:
                raise _Refusal(
                    D.ORDER_FINISHED, f"order {cid} belongs to a trade that has finished"
                )
            raise _Refusal(D.UNKNOWN_ORDER, f"no order {cid!r} is known to this kernel")
        slot = self._s.slots[sid]
        for trade in (slot.trade, slot.ended):
            if trade is not None and cid in trade.orders:
                return slot, trade, trade.orders[cid]
        raise KernelInvariantError(f"order {cid} indexed to slot {sid} but not held there")

    def _step(
        self,
        slot: SlotState,
        event: VenueEvent,
        order: OrderState,
        code: KernelDiagnosticCode,
        cause: str | Callable[[], str],
        old_stage: TradeStage,
        delta: LedgerDelta = NO_DELTA,
        message: str = "",
    ) -> KernelOutcome:
        order.seen_event_ids[event.event_id] = None
        transitions: list[Transition] = []
        records: list[TradeRecord] = []
        self._settle_stage(slot, cause, transitions, old_stage, event.ts, records)
        return KernelOutcome(
            True,
            code,
            slot.slot_id,
            slot.stage,
            tuple(transitions),
            (),
            delta,
            tuple(records),
            message,
        )

    def _on_ack(
        self, slot: SlotState, trade: TradeState, order: OrderState, ev: VenueEvent
    ) -> KernelOutcome:
        old = slot.stage
        if order.acked or not order.live:
            if ev.venue_order_id and not order.venue_order_id:
                order.venue_order_id = ev.venue_order_id
            return self._step(
                slot,
                ev,
                order,
                D.LATE_ACK,
                f"event {ev.event_id}: ACK",
                old,
                message=f"ACK for order {order.client_order_id} that is already {order.status}"
                + (" and acknowledged" if order.acked else ""),
            )
        order.acked = True
        if ev.venue_order_id:
            order.venue_order_id = ev.venue_order_id
        if order.status is OrderStatus.REQUESTED:
            order.status = OrderStatus.WORKING
        return self._step(slot, ev, order, D.OK, f"event {ev.event_id}: ACK", old)

    def _on_fill(
        self, slot: SlotState, trade: TradeState, order: OrderState, ev: VenueEvent
    ) -> KernelOutcome:
        inst = self._s.instruments[order.asset]
        price = _finite(ev.last_price)
        if price is None or price <= 0:
            raise _Refusal(D.INVALID_EVENT, f"fill needs last_price > 0, got {ev.last_price!r}")
        _check_max_price(inst, price, "fill last_price")
        price = _money(price, "fill last_price", D.INVALID_EVENT)
        fee = _money(ev.fee, "fill fee", D.INVALID_EVENT)
        last, cum = _fill_cum_qty(order, ev)
        delta = cum - order.filled_qty
        if delta <= 0:
            raise _Refusal(
                D.STALE_FILL,
                f"fill with cum_qty {cum} for order {order.client_order_id}: {order.filled_qty} already applied",
            )
        if last is not None and last != delta:
            raise _Refusal(
                D.FILL_QTY_MISMATCH,
                f"fill of order {order.client_order_id}: last_qty {last} but cum_qty {cum} - applied "
                f"{order.filled_qty} = {delta}; an earlier fill is missing or this one is wrong",
            )
        if cum > order.quantity:
            raise _Refusal(
                D.OVERFILL,
                f"fill of order {order.client_order_id}: cum_qty {cum} exceeds order quantity {order.quantity}",
            )
        if not on_grid(delta, inst.step_size):
            raise _Refusal(
                D.INVALID_EVENT, f"fill quantity {delta} is not a multiple of step {inst.step_size}"
            )
        if order.purpose is OrderPurpose.EXIT and delta > trade.size:
            raise _Refusal(
                D.OVERFILL,
                f"exit fill of {delta} exceeds the open position {trade.size} (order {order.client_order_id})",
            )
        if abs(fee) > delta * price:
            raise _Refusal(
                D.FEE_OUT_OF_RANGE,
                f"fill fee {fee} exceeds the fill's notional {delta * price} (order {order.client_order_id})",
            )
        # -- accepted: mutate
        old = slot.stage
        code = D.OK
        if not order.live:
            code = D.LATE_FILL
        if trade is slot.ended:
            # a late fill on an entry that was cancelled with nothing filled: the
            # trade is alive again (money moved), unless the slot moved on
            slot.trade = trade
            slot.ended = None
        value = delta * price
        order.filled_qty = cum
        order.filled_cost += value
        order.fees += fee
        order.acked = True
        if order.status is OrderStatus.REQUESTED:
            order.status = OrderStatus.WORKING
        if cum == order.quantity and order.live:
            order.status = OrderStatus.FILLED
        realized = _book_fill(trade, order, delta, value)
        trade.realized += realized
        trade.fees += fee
        self._s.ledger.book_fill(realized, fee)
        kind = "FILL" if order.status is OrderStatus.FILLED else "PARTIAL_FILL"
        return self._step(
            slot,
            ev,
            order,
            code,
            lambda: f"event {ev.event_id}: {kind} {delta}@{price}",
            old,
            LedgerDelta(realized_pnl=realized, fees=fee),
        )

    def _on_order_end(
        self, slot: SlotState, trade: TradeState, order: OrderState, ev: VenueEvent
    ) -> KernelOutcome:
        old = slot.stage
        if not order.live:
            return self._step(
                slot,
                ev,
                order,
                D.REDUNDANT_CANCEL_ACK,
                f"event {ev.event_id}: {ev.kind}",
                old,
                message=f"{ev.kind} for order {order.client_order_id} that is already {order.status}",
            )
        code = D.OK
        match ev.kind:
            case EventKind.REJECT:
                new_status = OrderStatus.REJECTED
            case EventKind.EXPIRED:
                new_status = OrderStatus.EXPIRED
            case _:
                new_status = OrderStatus.CANCELED
                if order.status is not OrderStatus.PENDING_CANCEL:
                    code = D.UNSOLICITED_CANCEL
        order.status = new_status
        if ev.venue_order_id and not order.venue_order_id:
            order.venue_order_id = ev.venue_order_id
        if order.purpose is OrderPurpose.EXIT and order.filled_qty > 0 and order.first_leg >= 0:
            # an exit leg that partly filled and then ended is consumed
            trade.leg_index = max(trade.leg_index, order.last_leg + 1)
        reason = f" ({ev.reason})" if ev.reason else ""
        return self._step(slot, ev, order, code, f"event {ev.event_id}: {ev.kind}{reason}", old)

    def _on_cancel_reject(
        self, slot: SlotState, trade: TradeState, order: OrderState, ev: VenueEvent
    ) -> KernelOutcome:
        old = slot.stage
        if order.status is not OrderStatus.PENDING_CANCEL:
            return self._step(
                slot,
                ev,
                order,
                D.CANCEL_REJECT_ALREADY_DONE,
                f"event {ev.event_id}: CANCEL_REJECT",
                old,
                message=f"CANCEL_REJECT for order {order.client_order_id} that is {order.status}",
            )
        # the order is still live on the venue (or its fill is on the way)
        order.status = (
            OrderStatus.WORKING if (order.acked or order.filled_qty > 0) else OrderStatus.REQUESTED
        )
        return self._step(slot, ev, order, D.OK, f"event {ev.event_id}: CANCEL_REJECT", old)

    def _on_fee(
        self, slot: SlotState, trade: TradeState, order: OrderState, ev: VenueEvent
    ) -> KernelOutcome:
        fee = _money(ev.fee, "FEE event fee", D.INVALID_EVENT)
        if fee == 0:
            raise _Refusal(
                D.INVALID_EVENT, f"FEE event needs a finite, non-zero fee, got {ev.fee!r}"
            )
        if abs(fee) > order.filled_cost:
            raise _Refusal(
                D.FEE_OUT_OF_RANGE,
                f"FEE {fee} exceeds the money traded on order {order.client_order_id} "
                f"({order.filled_cost})",
            )
        old = slot.stage
        order.fees += fee
        trade.fees += fee
        self._s.ledger.book_fee(fee)
        return self._step(
            slot, ev, order, D.OK, f"event {ev.event_id}: FEE {fee}", old, LedgerDelta(fees=fee)
        )

    def _on_funding(self, ev: VenueEvent) -> KernelOutcome:
        if not isinstance(ev.asset, str) or ev.asset not in self._s.instruments:
            raise _Refusal(D.UNKNOWN_INSTRUMENT, f"funding for unknown instrument {ev.asset!r}")
        if ev.amount is None:
            raise _Refusal(D.INVALID_EVENT, "funding without an amount")
        amount = _money(ev.amount, "funding amount", D.INVALID_AMOUNT)
        last = self._s.funding_seen.get(ev.asset)
        if last is not None and ev.ts <= last:
            raise _Refusal(
                D.DUPLICATE_EVENT,
                f"funding for {ev.asset} at {ev.ts} is not after the last one applied ({last})",
            )
        holder = next(
            (
                s
                for s in self._s.slots
                if s.trade is not None and s.trade.asset == ev.asset and s.trade.size > 0
            ),
            None,
        )
        # a venue never moves more funding than the position is worth, nor more
        # than the account holds (bound taken from the account when flat)
        bound = max(
            holder.trade.open_cost if holder is not None and holder.trade is not None else ZERO,
            abs(self._s.ledger.capital),
            self._s.ledger.initial_capital,
        )
        if abs(amount) > bound:
            raise _Refusal(
                D.FUNDING_OUT_OF_RANGE,
                f"funding {amount} for {ev.asset} exceeds both the position and the capital ({bound})",
            )
        # validated: compute every new value, then apply (nothing changes on refusal)
        self._s.funding_seen[ev.asset] = ev.ts
        if holder is not None and holder.trade is not None:
            holder.trade.funding += amount
        self._s.ledger.book_funding(amount)
        return KernelOutcome(
            True,
            D.OK,
            holder.slot_id if holder else None,
            holder.stage if holder else None,
            ledger=LedgerDelta(funding=amount),
        )

    # ------------------------------------------------------------------ stage

    def _settle_stage(
        self,
        slot: SlotState,
        cause: str | Callable[[], str],
        transitions: list[Transition],
        old: TradeStage,
        ts: int,
        records: list[TradeRecord],
    ) -> None:
        trade = slot.trade
        new = derive_stage(trade, slot.stage is TradeStage.CLOSED)
        if trade is not None and new is TradeStage.CLOSED:
            records.append(self._close_trade(slot, trade, ts))
        elif trade is not None and new is TradeStage.IDLE:
            # nothing was ever filled: the trade ended with its entry order
            slot.trade = None
            slot.ended = trade
        slot.stage = new
        if new is not old:
            text = cause if isinstance(cause, str) else cause()
            transitions.append(Transition(slot.slot_id, old, new, text))

    def _close_trade(self, slot: SlotState, trade: TradeState, ts: int) -> TradeRecord:
        """The only place a trade becomes CLOSED: write its record, free the slot."""
        if trade.size != 0 or trade.open_cost != 0:
            raise KernelInvariantError(
                f"closing trade {trade.trade_id} with size {trade.size} and cost basis {trade.open_cost}"
            )
        exits = tuple(
            ExitFill(o.client_order_id, o.filled_qty, o.filled_cost)
            for o in trade.orders.values()
            if o.purpose is OrderPurpose.EXIT and o.filled_qty > 0
        )
        record = TradeRecord(
            trade_id=trade.trade_id,
            slot_id=slot.slot_id,
            asset=trade.asset,
            side=trade.side,
            entry_qty=trade.initial_size,
            entry_cost=trade.entry_cost,
            exit_qty=trade.exit_qty,
            exit_proceeds=trade.exit_proceeds,
            exits=exits,
            realized_pnl=trade.realized,
            fees=trade.fees,
            funding=trade.funding,
            opened_ts=trade.opened_ts,
            closed_ts=ts,
        )
        expected = (
            trade.exit_proceeds - trade.entry_cost
            if trade.side is Side.LONG
            else trade.entry_cost - trade.exit_proceeds
        )
        if record.realized_pnl != expected:
            raise KernelInvariantError(
                f"trade {trade.trade_id}: realized {record.realized_pnl} != proceeds - cost {expected}"
            )
        # Orders of a closed trade are forgotten (bounded memory, flaw 10). A live
        # order cannot remain: the position is zero and the entry is finished.
        if any(o.live for o in trade.orders.values()):
            raise KernelInvariantError(f"trade {trade.trade_id} closed with a live order")
        self._forget_orders(trade)
        slot.trade = None
        if slot.ended is not None:
            self._forget_orders(slot.ended)
            slot.ended = None
        return record

    def _forget_orders(self, trade: TradeState) -> None:
        for cid in trade.orders:
            self._s.order_slot.pop(cid, None)

    # ------------------------------------------------------------------ checks

    def check_invariants(self) -> list[str]:
        """Every broken invariant of the current state (empty when all hold)."""
        return state_problems(self._s)

    # ------------------------------------------------------------------ snapshot

    def snapshot(self) -> dict[str, Any]:
        return take_snapshot(self._s)

    @classmethod
    def restore(
        cls,
        snapshot: Mapping[str, Any],
        instruments: Mapping[str, Instrument] | Iterable[Instrument],
    ) -> Kernel:
        return cls._from_state(restore_state(snapshot, _instrument_map(instruments)))


# --------------------------------------------------------------------------- helpers


def _instrument_map(
    instruments: Mapping[str, Instrument] | Iterable[Instrument],
) -> dict[str, Instrument]:
    if isinstance(instruments, Mapping):
        out = dict(instruments)
        for k, v in out.items():
            if k != v.symbol:
                raise ValueError(f"instrument keyed {k!r} has symbol {v.symbol!r}")
        return out
    return {i.symbol: i for i in instruments}


def _valid_slot_id(slot_id: object, n: int) -> bool:
    return isinstance(slot_id, int) and not isinstance(slot_id, bool) and 0 <= slot_id < n


def _entry_size_and_leverage(it: Enter, inst: Instrument) -> tuple[Decimal, Decimal]:
    """An ENTER's size and leverage: finite, positive, within the instrument's limits."""
    size = _finite(it.size)
    if size is None or size <= 0:
        raise _Refusal(D.INVALID_SIZE, f"ENTER size must be a finite Decimal > 0, got {it.size!r}")
    if size > inst.max_quantity:
        raise _Refusal(
            D.SIZE_ABOVE_MAX,
            f"ENTER size {size} is above the maximum quantity {inst.max_quantity} of {inst.symbol}",
        )
    leverage = _finite(it.leverage)
    if leverage is None or leverage <= 0:
        raise _Refusal(
            D.INVALID_LEVERAGE, f"leverage must be a finite Decimal > 0, got {it.leverage!r}"
        )
    if not ONE <= leverage <= inst.max_leverage:
        raise _Refusal(
            D.LEVERAGE_OUT_OF_RANGE,
            f"leverage {leverage} is outside [1, {inst.max_leverage}] for {inst.symbol}",
        )
    return size, leverage


def _market_reference_price(it: Enter, inst: Instrument) -> Decimal:
    """The price a MARKET entry's margin and minimum-notional checks use."""
    ref = _finite(it.reference_price)
    if it.reference_price is None:
        raise _Refusal(
            D.REFERENCE_PRICE_REQUIRED,
            "a MARKET entry needs reference_price (for the margin and minimum-notional checks)",
        )
    if ref is None or ref <= 0:
        raise _Refusal(D.INVALID_PRICE, f"reference_price must be > 0, got {it.reference_price!r}")
    _check_max_price(inst, ref, "reference_price")
    return ref


def _check_event_fields(event: VenueEvent) -> None:
    """The fields every venue event has, typed as the kernel takes them."""
    if type(event.event_id) is not str or not event.event_id:
        raise _Refusal(D.INVALID_EVENT, "event_id must be a non-empty string")
    if not _valid_ts(event.ts):
        raise _Refusal(
            D.INVALID_EVENT,
            f"ts must be integer epoch milliseconds in [0, 2**63), got {event.ts!r}",
        )
    for name in ("client_order_id", "venue_order_id", "reason", "asset"):
        if type(getattr(event, name)) is not str:
            raise _Refusal(
                D.INVALID_EVENT, f"{name} must be a string, got {getattr(event, name)!r}"
            )
    if type(event.kind) is not EventKind:
        raise _Refusal(D.INVALID_EVENT_KIND, f"kind must be an EventKind, got {event.kind!r}")


def _fill_cum_qty(order: OrderState, ev: VenueEvent) -> tuple[Decimal | None, Decimal]:
    """A fill's (last_qty, cum_qty): cum_qty as given, or the applied quantity plus last_qty."""
    last = None
    if ev.last_qty is not None:
        last = _finite(ev.last_qty)
        if last is None or last <= 0:
            raise _Refusal(D.INVALID_EVENT, f"fill last_qty must be > 0, got {ev.last_qty!r}")
    if ev.cum_qty is not None:
        cum = _finite(ev.cum_qty)
        if cum is None or cum < 0:
            raise _Refusal(D.INVALID_EVENT, f"fill cum_qty must be >= 0, got {ev.cum_qty!r}")
        return last, cum
    if last is not None:
        return last, order.filled_qty + last
    raise _Refusal(D.INVALID_EVENT, "fill carries neither cum_qty nor last_qty")


def _book_fill(trade: TradeState, order: OrderState, delta: Decimal, value: Decimal) -> Decimal:
    """Move a fill of `delta` worth `value` into the trade; the realized PnL it makes.

    An entry fill adds to the position and its cost basis; an exit fill releases
    the basis pro rata (all of it when it closes the position) and realizes the
    difference.
    """
    if order.purpose is OrderPurpose.ENTRY:
        trade.size += delta
        trade.initial_size += delta
        trade.entry_cost += value
        trade.open_cost += value
        return ZERO
    if delta == trade.size:
        released = trade.open_cost
    else:
        released = trade.open_cost * delta / trade.size
        if released.as_tuple().exponent < COST_EXPONENT:  # type: ignore[operator]
            released = released.quantize(COST_QUANTUM)
    realized = value - released if trade.side is Side.LONG else released - value
    trade.open_cost -= released
    trade.size -= delta
    trade.exit_qty += delta
    trade.exit_proceeds += value
    if order.first_leg >= 0 and not order.live:
        trade.leg_index = max(trade.leg_index, order.last_leg + 1)
    return realized


def _check_max_price(inst: Instrument, price: Decimal, what: str) -> None:
    if price > inst.max_price:
        raise _Refusal(
            D.PRICE_ABOVE_MAX,
            f"{what} {price} is above the maximum price {inst.max_price} of {inst.symbol}",
        )


def _check_leg_ratios(ratios: object) -> tuple[Decimal, ...]:
    if not isinstance(ratios, tuple | list) or not ratios or len(ratios) > MAX_LEG_RATIOS:
        raise _Refusal(
            D.INVALID_LEG_RATIOS,
            f"exit_leg_ratios must be a sequence of 1 to {MAX_LEG_RATIOS} ratios, got {ratios!r}",
        )
    out = []
    for r in ratios:
        d = _finite(r)
        if d is None or d <= 0 or d > ONE:
            raise _Refusal(
                D.INVALID_LEG_RATIOS, f"each exit leg ratio must be a Decimal > 0, got {r!r}"
            )
        out.append(d)
    if sum(out, ZERO) != ONE:
        raise _Refusal(
            D.INVALID_LEG_RATIOS, f"exit leg ratios must sum to exactly 1, got {sum(out, ZERO)}"
        )
    return tuple(out)


def _check_partial_exit(inst: Instrument, qty: Decimal, price: Decimal) -> None:
    if qty <= 0 or qty < inst.min_quantity:
        raise _Refusal(
            D.BELOW_MIN_QUANTITY,
            f"exit size {qty} is below the minimum quantity {inst.min_quantity} of {inst.symbol}",
        )
    if qty * price < inst.min_notional:
        raise _Refusal(
            D.BELOW_MIN_NOTIONAL,
            f"exit notional {qty * price} is below the minimum {inst.min_notional} of {inst.symbol}",
        )


def _next_leg(trade: TradeState, inst: Instrument, price: Decimal) -> tuple[Decimal, int, int]:
    """Quantity and leg range of the next exit leg.

    Leg *i* is ratio *i* x filled entry quantity, rounded down to the step and
    capped by what remains; the last leg takes whatever remains (no dust); a
    leg too small to trade merges into the next one.
    """
    n = len(trade.leg_ratios)
    first = trade.leg_index
    if first >= n - 1:
        return trade.size, first, first
    acc = ZERO
    j = first
    while j < n - 1:
        acc += trade.leg_ratios[j]
        qty = min(trade.size, quantize_qty(inst, acc * trade.initial_size))
        if qty == trade.size:
            return qty, first, j
        if qty > 0 and qty >= inst.min_quantity and qty * price >= inst.min_notional:
            return qty, first, j
        j += 1
    return trade.size, first, n - 1
