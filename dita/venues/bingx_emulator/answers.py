"""How the emulator's answers look: BingX's real shapes by default, each documented variant a switch.

The trading engine (``sim_engine.SimEngine``) produces one
canonical shape (decimals as strings, resting orders ``NEW``, one row per
position side). ``Answerer`` reshapes every REST ``data`` payload, stream frame
and response header on its way out, following an ``AnswerProfile``. Each field of
the profile is one reading of PROTOCOL.md / the recorded corpus in
``tests/venues/bingx/recorded/`` (docs/bingx.md maps them):

=========================  ===========  ====================================================
field                      default      the variant, and its source
=========================  ===========  ====================================================
``place_decimals``         ``string``   ``number``: ``price``/``quantity``/``stopPrice``/
                                        ``priceRate`` as JSON numbers (VST reply, ccxt PR #20806)
``resting_status``         ``PENDING``  what REST shows for a resting order (JKorf recorded
                                        query/open orders: ``PENDING``; doc tables: ``NEW``)
``cancel_reply_status``    ``actual``   ``PENDING``: the cancel reply still says ``PENDING``
                                        (JKorf recorded cancel reply)
``usdc_row``               ``zeros``    the v3 balance's USDC row: ``zeros`` (JKorf GetBalances),
                                        ``blank``: every number ``""`` (JKorf GetBalances2),
                                        ``none``: no row
``trade_status_unknown``   ``False``    ``X:"Unknown"`` on fill frames (docs-v3 example)
``one_way_positions``      ``BOTH``     one-way positions as ``BOTH`` with a signed amount
                                        (docs); ``LONG_SHORT``: side name, positive amount
``timestamp_window_ms``    5000         "within 5 seconds of the API service time" (DOC25),
                                        both ways
``recv_window_max``        5000         ``recvWindow`` capped (SKILL); None: uncapped (DOC23)
``listen_key_empty_body``  ``True``     listen-key PUT/DELETE answered by status only, empty
                                        body (JKorf recorded); False: ``{code,msg}`` (SKILL)
``rate_limit_headers``     ``True``     ``X-RateLimit-Requests-Remain``/``-Expire`` per
                                        endpoint (DOC25 rate_limit)
``protective_trigger_``    ``True``     False: a triggered STOP_MARKET/TAKE_PROFIT_MARKET
``frames``                              pushes no ``ORDER_TRADE_UPDATE`` (its fills, or its
                                        expiry), only ``ACCOUNT_UPDATE`` (BingX-swap-api-doc
                                        issue #36); REST and history still show it
=========================  ===========  ====================================================

``rewrite`` is no reading of BingX but a test's hook for answering wrongly on purpose:
``rewrite(key, payload)`` gets every REST ``data`` payload (key ``"GET /openApi/..."``)
and stream frame (key ``"stream <event>"``) after the profile has shaped it, and returns
what is sent instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Literal

PLACE_DECIMAL_FIELDS = ("price", "quantity", "stopPrice", "priceRate", "activationPrice")
_V2 = "/openApi/swap/v2"


@dataclass(frozen=True, slots=True)
class AnswerProfile:
    """Which of BingX's documented answer forms the emulator gives (see the module docstring)."""

    place_decimals: Literal["string", "number"] = "string"
    resting_status: Literal["PENDING", "NEW"] = "PENDING"
    cancel_reply_status: Literal["actual", "PENDING"] = "actual"
    usdc_row: Literal["zeros", "blank", "none"] = "zeros"
    trade_status_unknown: bool = False
    one_way_positions: Literal["BOTH", "LONG_SHORT"] = "BOTH"
    timestamp_window_ms: int = 5000
    recv_window_max: int | None = 5000
    listen_key_empty_body: bool = True
    rate_limit_headers: bool = True
    rate_limit_per_window: int = 300  # per endpoint (DOC25: 300 requests / 10 s per interface)
    rate_limit_window_ms: int = 10_000
    protective_trigger_frames: bool = True  # False: issue #36's reading (module docstring)
    rewrite: Callable[[str, Any], Any] | None = None  # a test's wrong answers (module doc)

    @classmethod
    def legacy(cls) -> AnswerProfile:
        """The emulator's answers before the profiles: the doc tables' forms everywhere."""
        return cls(
            resting_status="NEW",
            usdc_row="none",
            one_way_positions="LONG_SHORT",
            timestamp_window_ms=1000,
            recv_window_max=None,
            listen_key_empty_body=False,
            rate_limit_headers=False,
        )

    def but(self, **changes: Any) -> AnswerProfile:
        return replace(self, **changes)


class Answerer:
    """Applies an ``AnswerProfile`` to what the engine produced; keeps the rate windows."""

    def __init__(self, profile: AnswerProfile, clock: Callable[[], int]) -> None:
        self.profile = profile
        self._clock = clock
        self._windows: dict[str, tuple[int, int]] = {}  # path -> (window start ms, requests)

    # -- REST ------------------------------------------------------------------

    def data(self, method: str, path: str, data: Any, *, one_way: bool) -> Any:
        shaped = self._data(method, path, data, one_way=one_way)
        rewrite = self.profile.rewrite
        return shaped if rewrite is None else rewrite(f"{method} {path}", shaped)

    def _data(self, method: str, path: str, data: Any, *, one_way: bool) -> Any:
        p = self.profile
        if method == "POST" and path in (f"{_V2}/trade/order", f"{_V2}/trade/order/test"):
            order = data.get("order") if isinstance(data, dict) else None
            if p.place_decimals == "number" and isinstance(order, dict):
                for name in PLACE_DECIMAL_FIELDS:
                    value = order.get(name)
                    if isinstance(value, str) and value:
                        order[name] = Decimal(value)  # the encoder writes it as a JSON number
            return data
        if path == "/openApi/swap/v3/user/balance" and isinstance(data, list):
            return self._balance_rows(data)
        if path == f"{_V2}/user/positions" and isinstance(data, list) and one_way:
            return self._one_way_rows(data) if p.one_way_positions == "BOTH" else data
        if method == "DELETE" and path == f"{_V2}/trade/order" and isinstance(data, dict):
            order = data.get("order")
            if p.cancel_reply_status == "PENDING" and isinstance(order, dict):
                order["status"] = "PENDING"
            return data
        _resting(data, p.resting_status)
        return data

    def _balance_rows(self, rows: list[Any]) -> list[Any]:
        mode = self.profile.usdc_row
        if mode == "none" or any(isinstance(r, dict) and r.get("asset") == "USDC" for r in rows):
            return rows
        template = next((r for r in rows if isinstance(r, dict)), None)
        if template is None:
            return rows
        usdc = dict(template)
        usdc["asset"] = "USDC"
        for key in (
            "balance", "equity", "unrealizedProfit", "availableMargin", "usedMargin",
            "freezedMargin",
        ):  # fmt: skip
            usdc[key] = "" if mode == "blank" else "0.0000"
        usdc["realisedProfit"] = "0"
        if mode == "blank":
            usdc["userId"] = ""
        return [*rows, usdc]

    @staticmethod
    def _one_way_rows(rows: list[Any]) -> list[Any]:
        out = []
        for row in rows:
            if isinstance(row, dict) and row.get("positionSide") in ("LONG", "SHORT"):
                row = dict(row)
                if row["positionSide"] == "SHORT":
                    row["positionAmt"] = _negate(row.get("positionAmt"))
                row["positionSide"] = "BOTH"
            out.append(row)
        return out

    def headers(self, path: str) -> dict[str, str]:
        """Rate-limit headers for one request to ``path`` (counted here)."""
        p = self.profile
        if not p.rate_limit_headers or not path.startswith("/openApi/"):
            return {}
        now = self._clock()
        start, used = self._windows.get(path, (now, 0))
        if now - start >= p.rate_limit_window_ms or now < start:
            start, used = now, 0
        used += 1
        self._windows[path] = (start, used)
        return {
            "X-RateLimit-Requests-Remain": str(max(0, p.rate_limit_per_window - used)),
            "X-RateLimit-Requests-Expire": str(max(0, start + p.rate_limit_window_ms - now)),
        }

    # -- stream ----------------------------------------------------------------

    def silent(self, event: dict[str, Any]) -> bool:
        """Is this stream frame one the profile says BingX never pushes?"""
        if self.profile.protective_trigger_frames or event.get("e") != "ORDER_TRADE_UPDATE":
            return False
        order = event.get("o")
        return (
            isinstance(order, dict)
            and order.get("o") in ("STOP_MARKET", "TAKE_PROFIT_MARKET")
            and order.get("x") in ("TRADE", "EXPIRED")
        )

    def frame(self, event: dict[str, Any], *, one_way: bool) -> dict[str, Any]:
        shaped = self._frame(event, one_way=one_way)
        rewrite = self.profile.rewrite
        return shaped if rewrite is None else rewrite(f"stream {shaped.get('e')}", shaped)

    def _frame(self, event: dict[str, Any], *, one_way: bool) -> dict[str, Any]:
        p = self.profile
        kind = event.get("e")
        if kind == "ORDER_TRADE_UPDATE" and p.trade_status_unknown:
            order = event.get("o")
            if isinstance(order, dict) and order.get("x") == "TRADE":
                event = {**event, "o": {**order, "X": "Unknown"}}
        elif kind == "ACCOUNT_UPDATE" and one_way and p.one_way_positions == "BOTH":
            account = event.get("a")
            if isinstance(account, dict) and isinstance(account.get("P"), list):
                event = {**event, "a": {**account, "P": _net_positions(account["P"])}}
        return event


def _resting(data: Any, status: str) -> None:
    """Every REST order object in ``data`` that rests as ``NEW`` shows ``status`` instead."""
    if isinstance(data, dict):
        if "orderId" in data and "origQty" in data and data.get("status") == "NEW":
            data["status"] = status
        for value in data.values():
            if isinstance(value, dict | list):
                _resting(value, status)
    elif isinstance(data, list):
        for value in data:
            _resting(value, status)


def _negate(amount: Any) -> Any:
    if isinstance(amount, str) and amount and not amount.startswith("-"):
        return "-" + amount if Decimal(amount) else amount
    return amount


def _net_positions(entries: list[Any]) -> list[Any]:
    """One-way ``ACCOUNT_UPDATE`` entries: one ``BOTH`` entry per symbol with a signed amount."""
    out: list[Any] = []
    by_symbol: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("ps") not in ("LONG", "SHORT"):
            out.append(entry)
            continue
        amount = Decimal(str(entry.get("pa", "0")))
        signed = -amount if entry["ps"] == "SHORT" else amount
        merged = by_symbol.get(entry["s"])
        if merged is None:
            merged = {**entry, "ps": "BOTH", "pa": signed}
            by_symbol[entry["s"]] = merged
            out.append(merged)
        else:
            merged["pa"] += signed
            if signed:
                merged["ep"] = entry.get("ep", merged.get("ep"))
    for merged in by_symbol.values():
        merged["pa"] = format(merged["pa"], "f")
    return out
