"""Frames of the public market WebSocket, ``/swap-market`` without a listen key.

BingX's swap market stream (the official "Perpetual Swap WebSocket Market
Data" document, BingX-API/BingX-swap-api-v2-doc
``Perpetual_Swap_WebSocket_Market_Interface.md``, and the frames ccxt.pro's
bingx handlers record): every frame is gzipped, the server sends ``Ping``
and expects ``Pong``; a client subscribes with
``{"id": "...", "reqType": "sub", "dataType": "<symbol>@<channel>"}`` and is
answered ``{"id": "...", "code": 0, "msg": "", "dataType": "", "data": null}``
(``reqType: "unsub"`` ends a subscription). Channels served here:

* ``BTC-USDT@trade``: ``{"code":0,"dataType":..,"data":[{"q","p","T","m","s"}]}``
  for every print and every fill of the account that took liquidity;
* ``BTC-USDT@depth<N>`` (N in 5, 10, 20, 50, 100; an optional ``@<ms>ms``
  suffix as ccxt sends it): the emulator's (synthetic) book as ``[price, qty]``
  string pairs, at once and then every ``depth_push_s``;
* ``BTC-USDT@kline_<interval>`` (every documented interval): the forming bar
  ``[{"c","o","h","l","v","T"}]`` with ``T`` its open time (as ccxt reads it)
  and ``s`` the symbol, at once and after every print.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dita.venues.bingx_emulator.klines import INTERVAL_MINUTES

DEPTH_LEVELS = (5, 10, 20, 50, 100)


@dataclass(frozen=True, slots=True)
class Channel:
    data_type: str  # exactly as subscribed, echoed in every push
    symbol: str
    kind: str  # trade | depth | kline
    levels: int = 0
    interval: str = ""


def parse_channel(data_type: str, symbols: set[str]) -> Channel | None:
    symbol, _, rest = data_type.partition("@")
    if symbol not in symbols:
        return None
    if rest == "trade":
        return Channel(data_type, symbol, "trade")
    if rest.startswith("depth"):
        level, _, speed = rest[len("depth") :].partition("@")
        if not level.isdigit() or int(level) not in DEPTH_LEVELS:
            return None
        if speed and not (speed.endswith("ms") and speed[:-2].isdigit()):
            return None
        return Channel(data_type, symbol, "depth", levels=int(level))
    if rest.startswith("kline_") and rest[len("kline_") :] in INTERVAL_MINUTES:
        return Channel(data_type, symbol, "kline", interval=rest[len("kline_") :])
    return None


@dataclass(frozen=True, slots=True)
class Request:
    id: str
    req_type: str  # sub | unsub
    data_type: str


def parse_request(text: str) -> Request | None:
    """A subscription request, or None for anything else (answered 80014 by the server)."""
    if len(text) > 4096:
        return None
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    rid, req_type, data_type = obj.get("id", ""), obj.get("reqType", "sub"), obj.get("dataType")
    if not isinstance(rid, str | int) or isinstance(rid, bool):
        return None
    if req_type not in ("sub", "unsub") or not isinstance(data_type, str):
        return None
    return Request(str(rid), req_type, data_type)


def reply(rid: str, code: int = 0, msg: str = "") -> dict[str, Any]:
    return {"id": rid, "code": code, "msg": msg, "dataType": "", "data": None}


def push(channel: Channel, data: Any) -> dict[str, Any]:
    frame: dict[str, Any] = {"code": 0, "dataType": channel.data_type, "data": data}
    if channel.kind == "kline":
        frame["s"] = channel.symbol
    return frame


def kline_row(open_time: int, bar: dict[str, Any]) -> dict[str, Any]:
    return {
        "c": bar["close"], "o": bar["open"], "h": bar["high"], "l": bar["low"],
        "v": bar["volume"], "T": open_time,
    }  # fmt: skip
