"""Where ClickHouse is: DSNs, redaction, connecting, and translating its errors once.

A DSN is what ``clickhouse_connect.get_client(dsn=...)`` takes:
``http://user:password@host:8123``, ``https://...``, ``clickhouse://...`` or
``chdb:///path/to/dir`` (the embedded engine, one directory per process).
The password may also come from ``DITA_CLICKHOUSE_PASSWORD`` so that it never
appears on a command line.

Secrets never reach a log line or an exception message: every message built
here goes through ``redact`` (the DSN) or ``scrub`` (any text that may echo
it back, such as a driver's error).
"""

from __future__ import annotations

import os
import re
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

DSN_ENV = "DITA_CLICKHOUSE_DSN"
PASSWORD_ENV = "DITA_CLICKHOUSE_PASSWORD"
# A query parameter is a secret if its name contains one of these (password,
# pass, passwd, pw, pwd, sslpassword, access_token, api_key, secret, auth, ...).
_SECRET_PARTS = ("pass", "pw", "secret", "token", "key", "auth", "cred", "sig")
# key=value pairs anywhere in the text (``;``-separated options, fragments, paths)
_SECRET_PAIR = re.compile(
    r"(?i)([A-Za-z0-9_.-]*(?:" + "|".join(_SECRET_PARTS) + r")[A-Za-z0-9_.-]*=)([^&;#\s]*)"
)
_SCHEMES = ("http", "https", "clickhouse", "clickhouses", "chdb")
_MASK = "***"


class ClickHouseError(Exception):
    """Base of the sink's errors. Messages never contain a password."""


class ClickHouseUnavailable(ClickHouseError):
    """ClickHouse could not be reached or refused the request; retrying later may succeed."""


class ConfigError(ClickHouseError, ValueError):
    """A DSN or kernel id that cannot work; retrying will not help."""


class MissingDependency(ConfigError):
    """An optional package ClickHouse needs is not installed (never retried: install it)."""


class ClientLike(Protocol):
    """The part of ``clickhouse_connect``'s client the sink uses (a seam for tests)."""

    def command(self, *args: Any, **kwargs: Any) -> Any: ...

    def query(self, *args: Any, **kwargs: Any) -> Any: ...

    def insert(self, *args: Any, **kwargs: Any) -> Any: ...

    def close(self) -> None: ...


def resolve_dsn(dsn: str | None) -> str:
    """``dsn``, or ``$DITA_CLICKHOUSE_DSN``; ``ConfigError`` if neither, or if it is malformed."""
    value = dsn if dsn else os.environ.get(DSN_ENV, "")
    if not value:
        raise ConfigError(f"no ClickHouse DSN: pass one, or set {DSN_ENV}")
    scheme = value.partition(":")[0].lower()
    if scheme not in _SCHEMES or "://" not in value:
        raise ConfigError(
            f"ClickHouse DSN {redact(value)!r} must start with one of "
            f"{', '.join(s + '://' for s in _SCHEMES)}"
        )
    return value


def _is_secret_key(key: str) -> bool:
    k = key.lower()
    return any(part in k for part in _SECRET_PARTS)


def has_secret(dsn: str) -> bool:
    """Whether the DSN itself carries a password or another secret."""
    return bool(secrets_of(dsn, include_env=False))


def redact(dsn: str) -> str:
    """The DSN with every password form (``user:pass@``, ``?password=``, ``?pw=``, ...) as ``***``."""
    try:
        parts = urlsplit(dsn)
    except ValueError:
        return "<unparseable DSN>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}:{_MASK}@{hostport}" if colon else f"{user}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, _MASK if _is_secret_key(k) else v) for k, v in pairs], safe="*")
    out = f"{parts.scheme}://{netloc}{_SECRET_PAIR.sub(_mask_pair, parts.path)}"
    # (urlunsplit would drop '//' of chdb:///dir)
    if query:
        out += f"?{query}"
    if parts.fragment:
        out += f"#{_SECRET_PAIR.sub(_mask_pair, parts.fragment)}"
    return out


def _mask_pair(m: re.Match[str]) -> str:
    return m.group(1) + (_MASK if m.group(2) else "")


def secrets_of(dsn: str, *, include_env: bool = True) -> list[str]:
    """Every secret string a DSN carries (raw and URL-decoded), longest first."""
    found: set[str] = set()
    try:
        parts = urlsplit(dsn)
    except ValueError:
        return [dsn]
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        _, colon, password = userinfo.partition(":")
        if colon and password:
            found.update({password, unquote(password)})
    for k, v in parse_qsl(parts.query, keep_blank_values=True):
        if _is_secret_key(k) and v:
            found.update({v, unquote(v)})
    for m in _SECRET_PAIR.finditer(f"{parts.path}#{parts.fragment}"):
        if m.group(2):
            found.update({m.group(2), unquote(m.group(2))})
    env_password = os.environ.get(PASSWORD_ENV) if include_env else None
    if env_password:
        found.add(env_password)
    return sorted(found, key=len, reverse=True)


def scrub(text: str, dsn: str) -> str:
    """``text`` with every secret of ``dsn`` masked (for driver messages that may echo it)."""
    for secret in secrets_of(dsn):
        text = text.replace(secret, _MASK)
    return text


def connect(dsn: str, *, connect_timeout: float = 5.0, timeout: float = 60.0) -> ClientLike:
    """A ``clickhouse_connect`` client for ``dsn``; ``ClickHouseUnavailable`` if it cannot connect.

    Network DSNs get short timeouts and no driver-level retries: the sink
    owns retrying (with backoff), so a dead server costs seconds, not minutes.
    """
    try:
        import clickhouse_connect
    except ImportError:
        raise MissingDependency(
            "ClickHouse needs the clickhouse-connect package: pip install 'dita[clickhouse]'"
        ) from None
    if dsn.lower().startswith("chdb:"):
        try:
            import chdb  # noqa: F401  # clickhouse-connect's embedded engine
        except ImportError:
            raise MissingDependency(
                f"{redact(dsn)}: an embedded chdb:// ClickHouse needs the chdb package "
                "(pip install chdb; about 900 MB), or point --dsn at a ClickHouse server"
            ) from None

    kwargs: dict[str, Any] = {}
    if not dsn.lower().startswith("chdb:"):
        kwargs = {
            "connect_timeout": connect_timeout,
            "send_receive_timeout": timeout,
            "query_retries": 0,
            "autogenerate_session_id": False,
        }
        password = os.environ.get(PASSWORD_ENV)
        if (
            password
            and "@" in urlsplit(dsn).netloc
            and ":" not in urlsplit(dsn).netloc.rpartition("@")[0]
        ):
            kwargs["password"] = password
    try:
        client: ClientLike = clickhouse_connect.get_client(dsn=dsn, **kwargs)
    except Exception as e:  # the driver's, urllib3's, chdb's and OSError alike
        raise unavailable(dsn, "cannot connect", e) from None
    return client


def unavailable(dsn: str, what: str, e: BaseException) -> ClickHouseUnavailable:
    """The one translation of a lower-layer failure: redacted DSN, scrubbed message."""
    detail = scrub(f"{type(e).__name__}: {e}", dsn).strip()
    first_line = detail.splitlines()[0] if detail else type(e).__name__
    return ClickHouseUnavailable(f"ClickHouse at {redact(dsn)}: {what}: {first_line}")
