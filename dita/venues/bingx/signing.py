"""Request signing for BingX's private REST API (PROTOCOL.md §2).

What is signed is the request's parameters rendered ``key=value`` and joined
with ``&``, *without* percent-encoding the values, in exactly the order they
are transmitted; the signature is the lower-case hex HMAC-SHA256 of that
string keyed with the API secret. We always send every parameter in the query
string with the keys sorted (like ccxt, PROTOCOL.md §7.2): the server then
verifies the same order we signed. Values that need it are percent-encoded on
the wire only (§2.3).

``Credentials`` never shows its key or secret in ``repr``/``str``, so it can
sit inside objects that end up in logs or exception messages.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

ParamValue = str | int | bool | Decimal

API_KEY_HEADER = "X-BX-APIKEY"
ENV_API_KEY = "BINGX_API_KEY"
ENV_API_SECRET = "BINGX_API_SECRET"


class CredentialsError(ValueError):
    """Credentials could not be loaded. The message names where we looked, never a value."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """An API key and its secret. Neither ever appears in ``repr`` or ``str``."""

    api_key: str = field(repr=False)
    secret: str = field(repr=False)

    def __str__(self) -> str:
        return "Credentials(<hidden>)"

    def __repr__(self) -> str:
        return "Credentials(<hidden>)"

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        key_var: str = ENV_API_KEY,
        secret_var: str = ENV_API_SECRET,
    ) -> Credentials:
        env = os.environ if environ is None else environ
        key, secret = env.get(key_var, ""), env.get(secret_var, "")
        if not key or not secret:
            missing = [name for name, v in ((key_var, key), (secret_var, secret)) if not v]
            raise CredentialsError(f"BingX credentials: environment variable(s) {missing} not set")
        return cls(key, secret)

    @classmethod
    def from_file(cls, path: str | Path) -> Credentials:
        """Read ``{"api_key": ..., "api_secret": ...}`` JSON, or ``KEY=VALUE`` lines
        using the ``BINGX_API_KEY`` / ``BINGX_API_SECRET`` names."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise CredentialsError(f"BingX credentials: cannot read {p}: {exc.strerror}") from None
        values: dict[str, str] = {}
        stripped = text.strip()
        if stripped.startswith("{"):
            try:
                raw = json.loads(stripped)
            except ValueError:
                raise CredentialsError(f"BingX credentials: {p} is not valid JSON") from None
            if isinstance(raw, dict):
                values = {
                    ENV_API_KEY: str(raw.get("api_key", "")),
                    ENV_API_SECRET: str(raw.get("api_secret", raw.get("secret", ""))),
                }
        else:
            for line in stripped.splitlines():
                name, sep, value = line.partition("=")
                if sep:
                    values[name.strip()] = value.strip()
        try:
            return cls.from_env(values)
        except CredentialsError:
            raise CredentialsError(
                f"BingX credentials: {p} must define api_key/api_secret (JSON) "
                f"or {ENV_API_KEY}=/{ENV_API_SECRET}= lines"
            ) from None


def render(value: ParamValue) -> str:
    """A parameter value as BingX expects it: booleans ``true``/``false``, decimals plain."""
    match value:
        case bool():
            return "true" if value else "false"
        case Decimal():
            text = format(value, "f")
            return text
        case int():
            return str(value)
        case str():
            return value
    raise TypeError(f"unsupported parameter type {type(value).__name__}")


def canonical(pairs: Iterable[tuple[str, str]]) -> str:
    """The string that gets signed: raw ``k=v`` pairs joined with ``&``, in the given order."""
    return "&".join(f"{k}={v}" for k, v in pairs)


def signature(secret: str, payload: str) -> str:
    """Lower-case hex HMAC-SHA256 of ``payload`` keyed with ``secret``."""
    return hmac.new(secret.encode("utf-8"), payload.encode("utf-8"), hashlib.sha256).hexdigest()


def encode_value(value: str) -> str:
    """Percent-encode one value for the wire (keys are never encoded, PROTOCOL.md §2.3)."""
    return quote(value, safe="-_.~")


def signed_query(
    params: Mapping[str, ParamValue],
    secret: str,
    timestamp: int,
    recv_window: int | None = None,
) -> str:
    """The full query string (no leading ``?``) for a private request.

    Adds ``timestamp`` (and ``recvWindow`` if given), sorts keys, signs the raw
    string and appends ``signature``; values are percent-encoded only on the wire.
    """
    merged: dict[str, str] = {k: render(v) for k, v in params.items()}
    merged["timestamp"] = str(timestamp)
    if recv_window is not None:
        merged["recvWindow"] = str(recv_window)
    pairs = sorted(merged.items())
    sig = signature(secret, canonical(pairs))
    wire = "&".join(f"{k}={encode_value(v)}" for k, v in pairs)
    return f"{wire}&signature={sig}"


def public_query(params: Mapping[str, ParamValue]) -> str:
    return "&".join(f"{k}={encode_value(render(v))}" for k, v in sorted(params.items()))
