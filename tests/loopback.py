"""HTTP clients for tests, which only ever talk to 127.0.0.1 over plain HTTP.

Building an httpx client builds a TLS context and loads the CA bundle into it: about
0.2 s of CPU per client, more than most loopback tests take in all. No test speaks TLS,
so every client made here shares one context, built once per process.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx

_TLS = ssl.create_default_context()


def async_client(**kw: Any) -> httpx.AsyncClient:
    """``httpx.AsyncClient(**kw)`` without building a TLS context of its own."""
    return httpx.AsyncClient(verify=_TLS, **kw)


def client(**kw: Any) -> httpx.Client:
    """``httpx.Client(**kw)`` without building a TLS context of its own."""
    return httpx.Client(verify=_TLS, **kw)


def get(url: str, **kw: Any) -> httpx.Response:
    """One GET, as ``httpx.get`` but on the shared TLS context."""
    with client() as c:
        return c.get(url, **kw)
