"""What a BingX business error code means for us (PROTOCOL.md §6; docs/bingx.md).

BingX answers business errors with HTTP 200 and a non-zero ``code``. The same
code can mean different things (80012 is both "margin is not enough" and
"system busy"; 101400 both "below the minimum" and "duplicate clientOrderID";
109400 both "invalid parameter" and "timestamp skewed"), so each code carries
the one class that is safe for every reading, and the adapter acts on the class:

``REJECT``        the venue refused the request on its merits; for an order the
                  adapter still confirms by a query that nothing exists.
``AMBIGUOUS``     on a mutating request the outcome is unknown (one reading is
                  "system busy / network failed", or "the id already exists"):
                  query by client order id; an order is rejected only when the
                  venue confirms it does not exist.
``DUPLICATE``     the client order id is taken: our earlier attempt reached the
                  venue (e.g. a retry after a 504); query it, don't reject it.
``ORDER_GONE``    cancel/query found no such order: filled, cancelled or never
                  existed; codes don't tell which (§3.4), so query and report.
``ALREADY_FILLED`` a cancel found the order filled.
``RETRY_LATER``   rate limited: nothing happened; back off and try again.
``UNAVAILABLE``   the venue is busy / had an internal error: for a mutation the
                  outcome is unknown.
``FATAL``         credentials, permissions, bans: retrying cannot help.
``TIMESTAMP``     our timestamp was outside the window: nothing happened; resync
                  the clock and send again.
``BAD_REQUEST``   we sent something malformed: a bug on our side, nothing happened.

The table is data: one ``CodeReading`` per code, with the reading that decided
its class and where that reading comes from (tags as in PROTOCOL.md §0:
DOC23, DOC25, SKILL, CCXT, JKORF, ISS).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorClass(StrEnum):
    REJECT = "REJECT"
    AMBIGUOUS = "AMBIGUOUS"
    DUPLICATE = "DUPLICATE"
    ORDER_GONE = "ORDER_GONE"
    ALREADY_FILLED = "ALREADY_FILLED"
    RETRY_LATER = "RETRY_LATER"
    UNAVAILABLE = "UNAVAILABLE"
    FATAL = "FATAL"
    TIMESTAMP = "TIMESTAMP"
    BAD_REQUEST = "BAD_REQUEST"


@dataclass(frozen=True, slots=True)
class CodeReading:
    code: int
    error_class: ErrorClass
    reason: str
    source: str
    resync_clock: bool = False  # the code may mean our timestamp was off


E = ErrorClass

CODES: tuple[CodeReading, ...] = (
    # authentication and permission (ccxt: AuthenticationError / PermissionDenied)
    CodeReading(100001, E.FATAL, "signature mismatch", "DOC25, SKILL, ISS ccxt#23196"),
    CodeReading(100412, E.FATAL, "missing signature", "DOC25, SKILL"),
    CodeReading(100413, E.FATAL, "bad or missing API key", "DOC25, SKILL"),
    CodeReading(100004, E.FATAL, "key lacks permission", "DOC25, SKILL"),
    CodeReading(100419, E.FATAL, "IP not whitelisted", "DOC25, SKILL"),
    CodeReading(100414, E.FATAL, "account suspended", "CCXT (AccountSuspended)"),
    # our clock
    CodeReading(
        100421, E.TIMESTAMP, "null timestamp or timestamp mismatch", "DOC25, SKILL, JKORF", True
    ),
    # codes with a "maybe executed" reading
    CodeReading(
        80012,
        E.AMBIGUOUS,
        "'margin is not enough' but also 'system busy / network failed / service unavailable'",
        "DOC23 common errors (busy), SKILL error list (both), CCXT (InsufficientFunds)",
    ),
    CodeReading(
        80001,
        E.AMBIGUOUS,
        "'service has some errors' / 'network failed', also 'the order doesn't exist'",
        "DOC25 common errors and cancel_order errors",
    ),
    CodeReading(
        101400,
        E.AMBIGUOUS,
        "below minimum quantity/notional, but also 'duplicate clientOrderID' (the order exists)",
        "DOC25 place_order, SKILL error list, CCXT (InvalidOrder)",
    ),
    CodeReading(
        109400,
        E.AMBIGUOUS,
        "invalid parameter / symbol / positionSide, also 'invalid or skewed timestamp'",
        "DOC25, SKILL error list",
        True,
    ),
    # refused on its merits
    CodeReading(80014, E.REJECT, "invalid or missing parameter", "DOC23, DOC25"),
    CodeReading(100400, E.REJECT, "invalid parameter", "DOC25, SKILL"),
    CodeReading(101204, E.REJECT, "insufficient margin", "DOC25, SKILL"),
    CodeReading(101253, E.REJECT, "margin is not enough", "SKILL"),
    CodeReading(101206, E.REJECT, "insufficient margin", "SKILL"),
    CodeReading(101212, E.REJECT, "insufficient margin", "SKILL"),
    CodeReading(110424, E.REJECT, "insufficient margin", "SKILL"),
    CodeReading(101211, E.REJECT, "price outside the allowed band", "DOC25"),
    CodeReading(101460, E.REJECT, "price beyond the liquidation price", "DOC25"),
    CodeReading(101461, E.REJECT, "price beyond the liquidation price", "DOC25"),
    CodeReading(110425, E.REJECT, "precision / step size", "SKILL"),
    CodeReading(110422, E.REJECT, "below minimum size", "SKILL"),
    CodeReading(101215, E.REJECT, "post-only order would take", "DOC25"),
    CodeReading(101290, E.REJECT, "reduce-only order would increase the position", "DOC25"),
    CodeReading(101205, E.REJECT, "no position to close", "DOC25, CCXT"),
    CodeReading(80017, E.REJECT, "position does not exist", "CCXT (OrderNotFound)"),
    CodeReading(80013, E.REJECT, "too many open orders", "DOC25"),
    CodeReading(101419, E.REJECT, "too many open orders", "SKILL"),
    CodeReading(80020, E.REJECT, "risk control", "DOC25"),
    CodeReading(109403, E.REJECT, "risk control", "SKILL"),
    CodeReading(101514, E.REJECT, "trading suspended", "SKILL"),
    CodeReading(101515, E.REJECT, "trading suspended", "SKILL"),
    CodeReading(101414, E.REJECT, "leverage too high", "DOC25, SKILL"),
    CodeReading(101209, E.REJECT, "maximum position value", "DOC25, SKILL"),
    # protective orders (DOC25 "Place order" errors; docs/bingx.md "Protective orders")
    CodeReading(110411, E.REJECT, "stop-loss price should be lower than the current", "DOC25"),
    CodeReading(110412, E.REJECT, "stop-loss price should be greater than the current", "DOC25"),
    CodeReading(110413, E.REJECT, "take-profit price should be greater than current", "DOC25"),
    CodeReading(110406, E.REJECT, "position SL order already exists", "DOC25"),
    CodeReading(110407, E.REJECT, "position TP order already exists", "DOC25"),
    CodeReading(110400, E.REJECT, "parameters don't meet the requirement", "DOC25"),
    # the client order id already exists
    CodeReading(101481, E.DUPLICATE, "clientOrderID cannot be repeated", "DOC25, CCXT"),
    CodeReading(109201, E.DUPLICATE, "same id submitted twice within 1 s", "DOC25, CCXT"),
    # the order is not (or no longer) there
    CodeReading(80016, E.ORDER_GONE, "order does not exist", "DOC23, DOC25"),
    CodeReading(109421, E.ORDER_GONE, "order does not exist", "SKILL, JKORF"),
    CodeReading(109414, E.ORDER_GONE, "order not exist", "DOC25 cancel_order"),
    CodeReading(80018, E.ALREADY_FILLED, "order is already filled", "DOC25"),
    CodeReading(109422, E.ALREADY_FILLED, "order is already filled", "JKORF"),
    # rate limits
    CodeReading(100410, E.RETRY_LATER, "rate limited", "DOC25, SKILL, CCXT"),
    CodeReading(109429, E.RETRY_LATER, "too many invalid requests", "SKILL, JKORF"),
    CodeReading(100202, E.RETRY_LATER, "error-rate ban", "DOC25"),
    CodeReading(80019, E.RETRY_LATER, "order being processed, use allOrders later", "DOC25"),
    # the venue is unwell
    CodeReading(100500, E.UNAVAILABLE, "internal error", "DOC25, SKILL, CCXT"),
    CodeReading(100503, E.UNAVAILABLE, "service unavailable", "SKILL"),
    CodeReading(109500, E.UNAVAILABLE, "internal error", "SKILL, CCXT"),
    CodeReading(110500, E.UNAVAILABLE, "internal error", "SKILL, CCXT"),
    CodeReading(101500, E.UNAVAILABLE, "rpc timeout", "DOC25"),
)

_BY_CODE: dict[int, CodeReading] = {r.code: r for r in CODES}
assert len(_BY_CODE) == len(CODES), "one reading per code"


def reading(code: int) -> CodeReading | None:
    return _BY_CODE.get(code)


def classify(code: int) -> ErrorClass:
    """The class of a non-zero BingX ``code``. Unknown codes count as REJECT: the
    venue answered; for an order the adapter confirms by a query before rejecting."""
    found = _BY_CODE.get(code)
    return found.error_class if found is not None else ErrorClass.REJECT


def resyncs_clock(code: int) -> bool:
    found = _BY_CODE.get(code)
    return found is not None and found.resync_clock


@dataclass(frozen=True, slots=True)
class BingxError:
    """A business error as BingX reported it (safe to log: carries no secrets)."""

    code: int
    msg: str

    @property
    def error_class(self) -> ErrorClass:
        return classify(self.code)

    def __str__(self) -> str:
        return f"bingx {self.code}: {self.msg}" if self.msg else f"bingx {self.code}"
