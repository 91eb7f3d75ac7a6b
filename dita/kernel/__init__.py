"""The pure core: a deterministic trade-slot state machine with an exact ledger.

Nothing under ``dita.kernel`` reads a clock, a random source, the disk or the
network (a test enforces it). Inputs are intents and venue events; outputs
are ``KernelOutcome``s carrying commands for the edges to perform.
"""

from dita.kernel.kernel import Kernel, KernelInvariantError
from dita.kernel.model import (
    AccountView,
    Action,
    Cancel,
    CancelOrder,
    Command,
    Enter,
    EventKind,
    Exit,
    ExitFill,
    Instrument,
    Intent,
    IntentError,
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
from dita.kernel.snapshot import SnapshotError
from dita.kernel.state import derive_stage

__all__ = [
    "AccountView",
    "Action",
    "Cancel",
    "CancelOrder",
    "Command",
    "Enter",
    "EventKind",
    "Exit",
    "ExitFill",
    "Instrument",
    "Intent",
    "IntentError",
    "Kernel",
    "KernelDiagnosticCode",
    "KernelIntent",
    "KernelInvariantError",
    "KernelOutcome",
    "LedgerDelta",
    "Order",
    "OrderPurpose",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "PositionMode",
    "Side",
    "SnapshotError",
    "SubmitOrder",
    "TradeRecord",
    "TradeSlot",
    "TradeStage",
    "Transition",
    "VenueEvent",
    "derive_stage",
]
