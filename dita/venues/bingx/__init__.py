"""BingX USDT-M perpetual swap venue (PROTOCOL.md in ../shared/bingx/).

Use::

    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0)) as client:
        venue = BingxVenue(client, Credentials.from_env(), BingxConfig(Endpoints.vst()))
        await venue.start()
        ...
        await venue.close()

Modules: ``signing`` (HMAC, credentials), ``wire`` (JSON shapes, read
tolerantly), ``parse`` (wire -> domain, bounded decimals), ``readers`` (one
``WireError``-only entry point per payload kind, for fuzzing), ``errors`` (one
reading per code, with its source), ``clock`` (the venue's time), ``tracker``
(report merging), ``venue`` (the async adapter). How BingX really answers and
what is settled: docs/bingx.md.
"""

from dita.kernel.model import PositionMode
from dita.venues.bingx.errors import BingxError, ErrorClass, classify
from dita.venues.bingx.signing import Credentials, CredentialsError
from dita.venues.bingx.venue import (
    BingxConfig,
    BingxVenue,
    DuplicateClientOrderId,
    Endpoints,
    RateLimited,
    UnreadableAnswer,
    UnreadableOutcome,
)

__all__ = [
    "BingxConfig",
    "BingxError",
    "BingxVenue",
    "Credentials",
    "CredentialsError",
    "DuplicateClientOrderId",
    "Endpoints",
    "ErrorClass",
    "PositionMode",
    "RateLimited",
    "UnreadableAnswer",
    "UnreadableOutcome",
    "classify",
]
