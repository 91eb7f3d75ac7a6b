"""The simulated venue: a deterministic matching engine over market data.

``SimExchange`` is the synchronous core (see ``dita.venues.sim.exchange`` for
its contract); ``SimVenue`` speaks the async ``Venue`` protocol on top of it.
"""

from dita.venues.sim.exchange import (
    DEFAULT_ACCOUNT,
    BothTriggered,
    DuplicateOrderError,
    FeeSchedule,
    FixedBps,
    MarketRules,
    NoSlippage,
    OrderRequest,
    RandomBps,
    RejectCode,
    SimConfig,
    SimExchange,
    Slippage,
    hedge_side,
    reject_code,
)
from dita.venues.sim.venue import SimVenue

__all__ = [
    "DEFAULT_ACCOUNT",
    "BothTriggered",
    "DuplicateOrderError",
    "FeeSchedule",
    "FixedBps",
    "MarketRules",
    "NoSlippage",
    "OrderRequest",
    "RandomBps",
    "RejectCode",
    "SimConfig",
    "SimExchange",
    "SimVenue",
    "Slippage",
    "hedge_side",
    "reject_code",
]
