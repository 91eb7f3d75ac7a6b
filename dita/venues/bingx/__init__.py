"""BingX USDT-M perpetual swap venue (PROTOCOL.md in ../shared/bingx/).

Use::

    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0)) as client:
        venue = BingxVenue(client, Credentials.from_env(), BingxConfig(Endpoints.vst()))
        await venue.start()
        ...
        await venue.close()

Modules: ``signing`` (HMAC, credentials), ``wire`` (JSON shapes), ``parse``
(wire -> domain), ``errors`` (code classes), ``tracker`` (report merging),
``venue`` (the async adapter).
"""

from dita.venues.bingx.errors import BingxError, ErrorClass, classify
from dita.venues.bingx.parse import PositionMode
from dita.venues.bingx.signing import Credentials, CredentialsError
from dita.venues.bingx.venue import (
    BingxConfig,
    BingxVenue,
    DuplicateClientOrderId,
    Endpoints,
    RateLimited,
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
    "classify",
]
