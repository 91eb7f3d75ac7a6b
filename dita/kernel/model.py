"""The kernel's vocabulary: intents in, venue events in, outcomes and commands out.

Every type here is frozen. Inputs (``KernelIntent``, ``VenueEvent``) come from
the outside world and are validated by the kernel, never trusted: they may
carry ``None``, NaN or nonsense, and the kernel answers with a diagnostic
instead of raising. Outputs (``KernelOutcome``, ``SubmitOrder``,
``CancelOrder``, ``TradeRecord``) are facts the kernel vouches for.

Money and quantities are ``decimal.Decimal`` end to end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import msgspec

from dita.kernel.exact import exact_fields, first_wrong, wrong_value
from dita.kernel.money import MONEY_CONTEXT, average


class Action(StrEnum):
    ENTER = "ENTER"
    EXIT = "EXIT"
    CANCEL = "CANCEL"


class Side(StrEnum):
    """Direction of a trade (the position)."""

    LONG = "LONG"
    SHORT = "SHORT"


class OrderSide(StrEnum):
    """Direction of an order on the venue."""

    BUY = "BUY"
    SELL = "SELL"


class PositionMode(StrEnum):
    """How the venue account holds positions per symbol.

    ONE_WAY: one net position per symbol, so two slots holding opposite sides
    of one symbol would net against each other and their reduce-only exits
    would be rejected; the kernel refuses such an ENTER. HEDGE: a long and a
    short position per symbol, side by side.
    """

    ONE_WAY = "ONE_WAY"
    HEDGE = "HEDGE"


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    # Protective orders: they rest untriggered with a trigger price (``stop_price``) and,
    # once the market reaches it, fill as MARKET. A STOP_MARKET triggers when the price
    # moves against the position it reduces, a TAKE_PROFIT_MARKET when it moves in its
    # favour. The kernel does not place them yet (issue 16): it refuses them in intents.
    STOP_MARKET = "STOP_MARKET"
    TAKE_PROFIT_MARKET = "TAKE_PROFIT_MARKET"

    @property
    def is_trigger(self) -> bool:
        """A protective (trigger-price) order type."""
        return self in (OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET)


class OrderPurpose(StrEnum):
    ENTRY = "ENTRY"
    EXIT = "EXIT"


class TradeStage(StrEnum):
    IDLE = "IDLE"
    ORDER_REQUESTED = "ORDER_REQUESTED"
    ENTRY_WORKING = "ENTRY_WORKING"
    POSITION_OPEN = "POSITION_OPEN"
    EXIT_WORKING = "EXIT_WORKING"
    CLOSED = "CLOSED"


class OrderStatus(StrEnum):
    """Where one order stands, as far as the kernel knows."""

    REQUESTED = "REQUESTED"  # submit command emitted, no word from the venue yet
    WORKING = "WORKING"  # acknowledged or partly filled, live on the venue
    PENDING_CANCEL = "PENDING_CANCEL"  # cancel command emitted, no answer yet
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_live(self) -> bool:
        return self in _LIVE_STATUSES


_LIVE_STATUSES = frozenset({OrderStatus.REQUESTED, OrderStatus.WORKING, OrderStatus.PENDING_CANCEL})


class EventKind(StrEnum):
    ACK = "ACK"
    PARTIAL_FILL = "PARTIAL_FILL"
    FILL = "FILL"
    CANCEL_ACK = "CANCEL_ACK"
    CANCEL_REJECT = "CANCEL_REJECT"
    REJECT = "REJECT"
    EXPIRED = "EXPIRED"
    FUNDING = "FUNDING"  # account event: funding paid or received on a position
    # a fee charged (or refunded, if negative) on an order outside its fill
    # events, e.g. found by reconciliation when a stream gap lost a fill's fee
    FEE = "FEE"


class KernelDiagnosticCode(StrEnum):
    OK = "OK"
    # intents
    DUPLICATE_INTENT = "DUPLICATE_INTENT"
    INVALID_INTENT = "INVALID_INTENT"
    INVALID_ACTION = "INVALID_ACTION"  # action is not an Action (a plain string is refused)
    INVALID_ORDER_TYPE = "INVALID_ORDER_TYPE"  # order_type is not an OrderType
    INVALID_TS = "INVALID_TS"  # not integer epoch milliseconds in [0, 2**63)
    UNKNOWN_SLOT = "UNKNOWN_SLOT"
    SLOT_BUSY = "SLOT_BUSY"
    UNKNOWN_INSTRUMENT = "UNKNOWN_INSTRUMENT"
    INVALID_TRADE_ID = "INVALID_TRADE_ID"
    INVALID_SIDE = "INVALID_SIDE"
    INVALID_SIZE = "INVALID_SIZE"
    INVALID_PRICE = "INVALID_PRICE"
    LIMIT_PRICE_REQUIRED = "LIMIT_PRICE_REQUIRED"
    LIMIT_PRICE_NOT_ALLOWED = "LIMIT_PRICE_NOT_ALLOWED"
    REFERENCE_PRICE_REQUIRED = "REFERENCE_PRICE_REQUIRED"
    INVALID_LEVERAGE = "INVALID_LEVERAGE"
    LEVERAGE_OUT_OF_RANGE = "LEVERAGE_OUT_OF_RANGE"  # outside [1, instrument.max_leverage]
    SIZE_ABOVE_MAX = "SIZE_ABOVE_MAX"  # above instrument.max_quantity
    PRICE_ABOVE_MAX = "PRICE_ABOVE_MAX"  # above instrument.max_price
    INVALID_LEG_RATIOS = "INVALID_LEG_RATIOS"
    BELOW_MIN_QUANTITY = "BELOW_MIN_QUANTITY"
    BELOW_MIN_NOTIONAL = "BELOW_MIN_NOTIONAL"
    INSUFFICIENT_MARGIN = "INSUFFICIENT_MARGIN"
    OPPOSITE_POSITION = "OPPOSITE_POSITION"
    NO_POSITION = "NO_POSITION"
    ENTRY_STILL_WORKING = "ENTRY_STILL_WORKING"
    EXIT_ALREADY_WORKING = "EXIT_ALREADY_WORKING"
    EXIT_SIZE_EXCEEDS_POSITION = "EXIT_SIZE_EXCEEDS_POSITION"
    TRADE_ID_MISMATCH = "TRADE_ID_MISMATCH"
    ASSET_MISMATCH = "ASSET_MISMATCH"
    NOTHING_TO_CANCEL = "NOTHING_TO_CANCEL"
    CANCEL_ALREADY_PENDING = "CANCEL_ALREADY_PENDING"
    # venue events
    INVALID_EVENT = "INVALID_EVENT"
    INVALID_EVENT_KIND = "INVALID_EVENT_KIND"  # kind is not an EventKind
    INVALID_AMOUNT = "INVALID_AMOUNT"  # a fee or funding amount that is not a finite Decimal
    AMOUNT_TOO_PRECISE = "AMOUNT_TOO_PRECISE"  # more decimals than money has (MIN_AMOUNT_EXPONENT)
    FEE_OUT_OF_RANGE = "FEE_OUT_OF_RANGE"  # |fee| above the money traded on the order
    FUNDING_OUT_OF_RANGE = "FUNDING_OUT_OF_RANGE"  # |funding| above position and capital
    DUPLICATE_EVENT = "DUPLICATE_EVENT"
    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    ORDER_FINISHED = "ORDER_FINISHED"
    OVERFILL = "OVERFILL"
    FILL_QTY_MISMATCH = "FILL_QTY_MISMATCH"
    STALE_FILL = "STALE_FILL"
    # accepted, but carried no news (no stage change)
    LATE_ACK = "LATE_ACK"
    REDUNDANT_CANCEL_ACK = "REDUNDANT_CANCEL_ACK"
    CANCEL_REJECT_ALREADY_DONE = "CANCEL_REJECT_ALREADY_DONE"
    LATE_FILL = "LATE_FILL"  # accepted and applied: a fill after the order was cancelled
    UNSOLICITED_CANCEL = "UNSOLICITED_CANCEL"  # accepted: the venue cancelled on its own


# Declared defaults for an instrument's limits when its venue does not state
# them: far above any real contract (BingX's largest leverage is 125x), and
# small enough that every product of a price and a quantity stays exact in the
# kernel's arithmetic context.
DEFAULT_MAX_PRICE = Decimal("1e9")
DEFAULT_MAX_QUANTITY = Decimal("1e12")
DEFAULT_MAX_LEVERAGE = Decimal(125)


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable contract, the grid its prices and quantities live on, and their limits.

    ``max_price``, ``max_quantity`` and ``max_leverage`` bound what the kernel
    accepts (intents above them are refused; fills above ``max_price`` too).
    """

    symbol: str
    tick_size: Decimal
    step_size: Decimal
    min_quantity: Decimal
    min_notional: Decimal
    max_price: Decimal = DEFAULT_MAX_PRICE
    max_quantity: Decimal = DEFAULT_MAX_QUANTITY
    max_leverage: Decimal = DEFAULT_MAX_LEVERAGE


class IntentError(ValueError):
    """An intent with a value of the wrong type: it cannot be built, so it never reaches
    the kernel. ``field`` names the field (``action`` for an unknown action)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# Today's flat intent, field by field in its positional order: what ``KernelIntent(...)``
# takes and what the journal stores (``dita.journal.records``); each action keeps the
# fields it reads, the others must hold their default.
INTENT_FIELDS: tuple[str, ...] = (
    "intent_id", "ts", "slot_id", "action", "trade_id", "asset", "side", "size", "order_type",
    "limit_price", "leverage", "exit_leg_ratios", "reference_price", "reason", "metadata",
)  # fmt: skip


class _IntentMeta(msgspec.StructMeta):
    """Routes ``KernelIntent(..., action=...)`` to ``Enter``/``Exit``/``Cancel`` and checks
    every construction's field types (``dita.kernel.exact``)."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is KernelIntent:
            return _build(args, kwargs)
        obj = super().__call__(*args, **kwargs)
        wrong = first_wrong(obj)
        if wrong is not None:
            raise IntentError(wrong[0], f"{obj.action} intent {obj.intent_id!r}: {wrong[1]}")
        return obj


class KernelIntent(msgspec.Struct, frozen=True, tag_field="action", metaclass=_IntentMeta):
    """What the policy wants: an ``Enter``, ``Exit`` or ``Cancel``, checked when built.

    ``KernelIntent(intent_id, ts, slot_id, action, ...)`` (today's flat arguments) returns the
    action's own type and raises ``IntentError`` naming the field for a value of the wrong
    type (a str for an enum, a float or int for a Decimal, a bool for an int). A value of the
    right type that the kernel cannot take (a NaN size, an unknown slot) is built and refused
    by the kernel with a diagnostic. Each type carries only the fields its action reads.
    """

    intent_id: str
    ts: int  # epoch milliseconds, from the caller's clock
    slot_id: int
    trade_id: str = ""
    reason: str = ""
    metadata: dict[str, Any] = {}

    if TYPE_CHECKING:
        # what _IntentMeta.__call__ takes for KernelIntent itself: today's flat arguments
        def __init__(
            self,
            intent_id: str,
            ts: int,
            slot_id: int,
            action: Action,
            trade_id: str = "",
            asset: str = "",
            side: Side | None = None,
            size: Decimal | None = None,
            order_type: OrderType = OrderType.MARKET,
            limit_price: Decimal | None = None,
            leverage: Decimal = Decimal(1),
            exit_leg_ratios: tuple[Decimal, ...] = (Decimal(1),),
            reference_price: Decimal | None = None,
            reason: str = "",
            metadata: dict[str, Any] | None = None,
        ) -> None: ...

    @property
    def action(self) -> Action:
        return Action(str(self.__struct_config__.tag))


class Enter(KernelIntent, frozen=True, tag="ENTER", kw_only=True):
    """Open a trade in a free slot: ``size`` of ``asset`` on ``side``. ``side`` and ``size``
    may be ``None`` (the kernel refuses them: INVALID_SIDE, INVALID_SIZE), as journals
    written before these types hold such refused intents."""

    asset: str = ""
    side: Side | None = None
    size: Decimal | None = None
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    leverage: Decimal = Decimal(1)
    exit_leg_ratios: tuple[Decimal, ...] = (Decimal(1),)
    reference_price: Decimal | None = None


class Exit(KernelIntent, frozen=True, tag="EXIT", kw_only=True):
    """Close the slot's position: ``size`` of it, or (``None``) its next exit leg."""

    asset: str = ""
    size: Decimal | None = None
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    reference_price: Decimal | None = None


class Cancel(KernelIntent, frozen=True, tag="CANCEL"):
    """Cancel the slot's working order (the entry's, else the exit's)."""


Intent = Enter | Exit | Cancel
INTENT_TYPES: dict[Action, type[Enter] | type[Exit] | type[Cancel]] = {
    Action.ENTER: Enter,
    Action.EXIT: Exit,
    Action.CANCEL: Cancel,
}


def _build(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Intent:
    if len(args) > len(INTENT_FIELDS):
        raise TypeError(f"KernelIntent takes at most {len(INTENT_FIELDS)} arguments")
    values = dict(zip(INTENT_FIELDS, args, strict=False))
    for name, v in kwargs.items():
        if name not in INTENT_FIELDS:
            raise TypeError(f"KernelIntent got an unexpected keyword argument {name!r}")
        if name in values:
            raise TypeError(f"KernelIntent got multiple values for argument {name!r}")
        values[name] = v
    action = values.pop("action", None)
    if type(action) is not Action:
        # a plain "ENTER" equals Action.ENTER (StrEnum) but is not one
        raise IntentError("action", f"intent action must be an Action, got {action!r}")
    return from_flat(action, values)


def from_flat(action: Action, values: dict[str, Any]) -> Intent:
    """The ``action``'s intent from today's flat fields (``values``, without ``action``).

    Every value is checked exactly (``IntentError`` names the field). A field the action
    does not read (an EXIT's side, a CANCEL's asset: old call sites fill them in) is checked
    too, then left out: it never had an effect.
    """
    cls = INTENT_TYPES[action]
    own = exact_fields(cls)
    every = exact_fields(Enter)  # Enter carries every flat field
    for name in ("intent_id", "ts", "slot_id"):
        if name not in values:
            raise TypeError(f"KernelIntent missing required argument {name!r}")
    kept: dict[str, Any] = {}
    for name, v in values.items():
        if name in own:
            kept[name] = v
            continue
        check = every.get(name)
        if check is None:
            raise TypeError(f"KernelIntent got an unexpected keyword argument {name!r}")
        if type(v) not in check[1] or check[2] is not None:  # else the type is right
            wrong = wrong_value(check, v)
            if wrong is not None:
                raise IntentError(name, f"{action} intent {values['intent_id']!r}: {wrong}")
    built: Intent = cls(**kept)  # checked by _IntentMeta
    return built


@dataclass(frozen=True, slots=True)
class FlatIntent:
    """The single intent type dita had before each action got its own: every field, the
    action among them. The wire form of intents: the journal stores it (records written
    before the split and after are alike) and a JSONL policy writes it. Unchecked; turn it
    into an intent with ``from_flat``."""

    intent_id: str
    ts: int
    slot_id: int
    action: Action
    trade_id: str = ""
    asset: str = ""
    side: Side | None = None
    size: Decimal | None = None
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    leverage: Decimal = Decimal(1)
    exit_leg_ratios: tuple[Decimal, ...] = (Decimal(1),)
    reference_price: Decimal | None = None
    reason: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def intent(self) -> Intent:
        """The action's intent (``IntentError`` names a field of the wrong type)."""
        return from_flat(self.action, {n: getattr(self, n) for n in _FLAT_VALUE_FIELDS})

    @classmethod
    def of(cls, intent: KernelIntent) -> FlatIntent:
        """``intent`` in the flat form: the flat default in each field its action does not carry."""
        plan = _FLAT_PLANS.get(type(intent))
        if plan is None:
            own = type(intent).__struct_fields__
            plan = _FLAT_PLANS[type(intent)] = tuple(
                (n, n in own, _FLAT_DEFAULTS.get(n)) for n in INTENT_FIELDS if n != "action"
            )
        values = [getattr(intent, n) if carried else d for n, carried, d in plan]
        values.insert(3, intent.action)
        return cls(*values)


_FLAT_VALUE_FIELDS = tuple(n for n in INTENT_FIELDS if n != "action")
_FLAT_PLANS: dict[type, tuple[tuple[str, bool, Any], ...]] = {}


def flat_fields(intent: KernelIntent) -> dict[str, Any]:
    """Today's flat fields of ``intent``, in ``INTENT_FIELDS`` order: its own values, the
    action, and the flat default of every field its action does not carry."""
    own = intent.__struct_fields__
    out: dict[str, Any] = {}
    for name in INTENT_FIELDS:
        if name == "action":
            out[name] = intent.action
        elif name in own:
            out[name] = getattr(intent, name)
        else:
            out[name] = _FLAT_DEFAULTS[name]
    return out


_FLAT_DEFAULTS: dict[str, Any] = {
    "trade_id": "",
    "asset": "",
    "side": None,
    "size": None,
    "order_type": OrderType.MARKET,
    "limit_price": None,
    "leverage": Decimal(1),
    "exit_leg_ratios": (Decimal(1),),
    "reference_price": None,
    "reason": "",
    "metadata": {},
}


@dataclass(frozen=True, slots=True)
class VenueEvent:
    """A fact reported by the venue about one order (or, for FUNDING, the account).

    ``cum_qty`` is the order's cumulative filled quantity and is authoritative;
    ``last_qty``/``last_price`` describe this fill; ``fee`` is this fill's fee
    (positive = paid). For FUNDING, ``asset`` names the contract and ``amount``
    is the money moved (positive = received, negative = paid).
    """

    event_id: str
    ts: int
    kind: EventKind
    client_order_id: str = ""
    venue_order_id: str = ""
    last_qty: Decimal | None = None
    last_price: Decimal | None = None
    cum_qty: Decimal | None = None
    fee: Decimal = Decimal(0)
    reason: str = ""
    asset: str = ""
    amount: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Order:
    """One order as the kernel knows it at a point in time."""

    client_order_id: str
    venue_order_id: str
    slot_id: int
    trade_id: str
    asset: str
    side: OrderSide
    order_type: OrderType
    quantity: Decimal
    limit_price: Decimal | None
    reduce_only: bool
    purpose: OrderPurpose
    status: OrderStatus
    filled_qty: Decimal
    filled_cost: Decimal  # sum of qty * price over fills
    fees: Decimal
    acked: bool
    first_leg: int  # exit legs this order covers: [first_leg, last_leg]; -1 for entry/explicit
    last_leg: int
    # STOP_MARKET / TAKE_PROFIT_MARKET only: the trigger price, and whether the order
    # closes whatever position there is when it triggers (then ``quantity`` is not sent)
    stop_price: Decimal | None = None
    close_position: bool = False

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled_qty

    @property
    def avg_price(self) -> Decimal | None:
        return self.filled_cost / self.filled_qty if self.filled_qty else None


@dataclass(frozen=True, slots=True)
class SubmitOrder:
    """Command: send this order to the venue (with this client order id, always)."""

    order: Order


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """Command: cancel this order, routed by its own instrument and ids."""

    order: Order


Command = SubmitOrder | CancelOrder


@dataclass(frozen=True, slots=True)
class Transition:
    slot_id: int
    from_stage: TradeStage
    to_stage: TradeStage
    cause: str


@dataclass(frozen=True, slots=True)
class LedgerDelta:
    realized_pnl: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    funding: Decimal = Decimal(0)

    @property
    def capital(self) -> Decimal:
        return self.realized_pnl - self.fees + self.funding


@dataclass(frozen=True, slots=True)
class ExitFill:
    client_order_id: str
    qty: Decimal
    proceeds: Decimal  # sum of qty * price of this order's fills


@dataclass(frozen=True, slots=True)
class TradeRecord:
    """One finished trade: everything a trade table needs, exact."""

    trade_id: str
    slot_id: int
    asset: str
    side: Side
    entry_qty: Decimal
    entry_cost: Decimal
    exit_qty: Decimal
    exit_proceeds: Decimal
    exits: tuple[ExitFill, ...]
    realized_pnl: Decimal
    fees: Decimal
    funding: Decimal
    opened_ts: int
    closed_ts: int

    # averages for reports (dita.kernel.money.average); net PnL exact in the money context
    @property
    def entry_price(self) -> Decimal:
        return average(self.entry_cost, self.entry_qty)

    @property
    def exit_price(self) -> Decimal:
        return average(self.exit_proceeds, self.exit_qty)

    @property
    def net_pnl(self) -> Decimal:
        return MONEY_CONTEXT.add(MONEY_CONTEXT.subtract(self.realized_pnl, self.fees), self.funding)


@dataclass(frozen=True, slots=True)
class KernelOutcome:
    """Exactly one step: what was decided, the slot's stage after it, and its effects."""

    accepted: bool
    diagnostic_code: KernelDiagnosticCode
    slot_id: int | None
    state: TradeStage | None
    transitions: tuple[Transition, ...] = ()
    commands: tuple[Command, ...] = ()
    ledger: LedgerDelta = LedgerDelta()
    trade_records: tuple[TradeRecord, ...] = ()
    message: str = ""


@dataclass(frozen=True, slots=True)
class TradeSlot:
    """Read-only view of one slot."""

    slot_id: int
    stage: TradeStage
    trade_id: str
    asset: str
    side: Side | None
    size: Decimal
    initial_size: Decimal
    entry_price: Decimal | None
    realized_pnl: Decimal
    fees: Decimal
    funding: Decimal
    leverage: Decimal
    active_entry_order: Order | None
    active_exit_order: Order | None
    exit_leg_ratios: tuple[Decimal, ...]
    active_leg_index: int


@dataclass(frozen=True, slots=True)
class AccountView:
    initial_capital: Decimal
    capital: Decimal
    realized_pnl: Decimal
    fees: Decimal
    funding: Decimal
    margin_used: Decimal
    available: Decimal
