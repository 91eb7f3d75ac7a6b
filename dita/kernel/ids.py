"""Deterministic client order ids.

A client order id is a pure function of (prefix, trade id, trade sequence
number, leg tag, attempt). Resubmitting the same order after a crash therefore
reuses the same id and the venue deduplicates it. The format is valid for
BingX (lower-case alphanumerics and ``-``, at most 40 characters; PROTOCOL.md
§3.3) and for every other venue we know:

    <prefix>-<10 hex of blake2b(trade_id)>-<trade seq>-<tag>-<attempt>

``tag`` is ``e`` for the entry, ``x<i>`` for exit leg *i*, ``s<n>`` for the
*n*-th exit with an explicit size.
"""

from __future__ import annotations

import hashlib
import re

MAX_LEN = 40
_PREFIX_RE = re.compile(r"^[a-z0-9]{1,6}$")
_CID_RE = re.compile(r"^([a-z0-9]{1,6})-([0-9a-f]{10})-([0-9]+)-([a-z][0-9]*)-([0-9]+)$")


def valid_prefix(prefix: str) -> bool:
    return bool(_PREFIX_RE.match(prefix))


def client_order_id(prefix: str, trade_id: str, trade_seq: int, tag: str, attempt: int) -> str:
    digest = hashlib.blake2b(trade_id.encode("utf-8"), digest_size=5).hexdigest()
    cid = f"{prefix}-{digest}-{trade_seq}-{tag}-{attempt}"
    if len(cid) > MAX_LEN:  # only reachable with absurd sequence numbers
        raise ValueError(f"client order id {cid!r} longer than {MAX_LEN} characters")
    return cid


def parse_trade_seq(prefix: str, cid: str) -> int | None:
    """The trade sequence number inside one of our ids, or None if it is not ours."""
    m = _CID_RE.match(cid)
    if m is None or m.group(1) != prefix:
        return None
    return int(m.group(3))
