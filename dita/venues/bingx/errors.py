"""What a BingX business error code means for us (PROTOCOL.md §6).

BingX answers business errors with HTTP 200 and a non-zero ``code``. Each code
falls into one class, and the class decides what the adapter does:

``REJECT``        the venue refused the order: a REJECT event, nothing exists.
``DUPLICATE``     the client order id is taken: our earlier attempt reached the
                  venue (e.g. a retry after a 504); query it, don't reject it.
``ORDER_GONE``    cancel/query found no live order: filled, cancelled or never
                  existed; codes don't tell which (§3.4), so query and report.
``RETRY_LATER``   rate limited: nothing happened; back off and try again.
``UNAVAILABLE``   the venue is busy / had an internal error: for a mutation the
                  outcome is unknown.
``FATAL``         credentials, permissions, bans: retrying cannot help.
``TIMESTAMP``     our timestamp was outside the window: nothing happened.
``BAD_REQUEST``   we sent something malformed: a bug on our side, nothing happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorClass(StrEnum):
    REJECT = "REJECT"
    DUPLICATE = "DUPLICATE"
    ORDER_GONE = "ORDER_GONE"
    ALREADY_FILLED = "ALREADY_FILLED"
    RETRY_LATER = "RETRY_LATER"
    UNAVAILABLE = "UNAVAILABLE"
    FATAL = "FATAL"
    TIMESTAMP = "TIMESTAMP"
    BAD_REQUEST = "BAD_REQUEST"


_CLASSES: dict[int, ErrorClass] = {
    # authentication and permission (§6.2; ccxt maps these to AuthenticationError/PermissionDenied)
    100001: ErrorClass.FATAL,  # signature mismatch
    100412: ErrorClass.FATAL,  # missing signature
    100413: ErrorClass.FATAL,  # bad / missing API key
    100004: ErrorClass.FATAL,  # key lacks permission
    100419: ErrorClass.FATAL,  # IP not whitelisted
    100414: ErrorClass.FATAL,  # account suspended
    100421: ErrorClass.TIMESTAMP,
    109400: ErrorClass.REJECT,  # invalid parameter, unknown symbol, positionSide vs mode
    80014: ErrorClass.REJECT,  # invalid / missing parameter
    100400: ErrorClass.REJECT,
    # order refused on its merits
    101204: ErrorClass.REJECT,  # insufficient margin
    80012: ErrorClass.REJECT,  # "margin is not enough" (ccxt: InsufficientFunds); DOC23 also used it for busy
    101253: ErrorClass.REJECT,
    101206: ErrorClass.REJECT,
    101212: ErrorClass.REJECT,
    110424: ErrorClass.REJECT,
    101211: ErrorClass.REJECT,  # price outside band
    101460: ErrorClass.REJECT,
    101461: ErrorClass.REJECT,
    110425: ErrorClass.REJECT,  # precision / step
    110422: ErrorClass.REJECT,  # below minimum size
    101400: ErrorClass.REJECT,  # below minimum quantity / notional
    101215: ErrorClass.REJECT,  # post-only would cross
    101290: ErrorClass.REJECT,  # reduce-only would increase
    101205: ErrorClass.REJECT,  # no position to close
    80017: ErrorClass.REJECT,  # position does not exist
    80013: ErrorClass.REJECT,  # too many open orders
    101419: ErrorClass.REJECT,
    80020: ErrorClass.REJECT,  # risk control
    109403: ErrorClass.REJECT,
    101514: ErrorClass.REJECT,
    101515: ErrorClass.REJECT,
    101414: ErrorClass.REJECT,  # leverage too high
    101209: ErrorClass.REJECT,  # max position value
    # the client order id already exists (§3.3)
    101481: ErrorClass.DUPLICATE,
    109201: ErrorClass.DUPLICATE,  # same id submitted twice within 1 s
    # the order is not (or no longer) there (§3.4, §3.6)
    80016: ErrorClass.ORDER_GONE,
    109421: ErrorClass.ORDER_GONE,
    109414: ErrorClass.ORDER_GONE,
    80001: ErrorClass.ORDER_GONE,
    80018: ErrorClass.ALREADY_FILLED,
    109422: ErrorClass.ALREADY_FILLED,
    # rate limits (§6.3)
    100410: ErrorClass.RETRY_LATER,
    109429: ErrorClass.RETRY_LATER,
    100202: ErrorClass.RETRY_LATER,
    80019: ErrorClass.RETRY_LATER,  # "order being processed, use allOrders later"
    # the venue is unwell
    100500: ErrorClass.UNAVAILABLE,
    100503: ErrorClass.UNAVAILABLE,
    109500: ErrorClass.UNAVAILABLE,
    110500: ErrorClass.UNAVAILABLE,
    101500: ErrorClass.UNAVAILABLE,  # rpc timeout
}


def classify(code: int) -> ErrorClass:
    """The class of a non-zero BingX ``code``. Unknown codes count as REJECT:
    the venue answered, so it did not act, but we do not know why."""
    return _CLASSES.get(code, ErrorClass.REJECT)


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
