"""The loopback BingX server: REST under ``/openApi/...``, the user-data
WebSocket at ``/swap-market?listenKey=...`` and the public market WebSocket at
``/swap-market`` (no listen key), on one port (aiohttp).

It speaks BingX's wire protocol (PROTOCOL.md §2-§6, §9) so that any BingX
client works against it unchanged apart from the base URL. The trading itself
is ``sim_engine.SimEngine`` (the sim matching engine, one-way and hedge mode);
this module is the protocol around it: parameter
parsing, signature/timestamp verification with BingX's error codes, the JSON
envelope, listen keys, gzipped frames and Ping, and fault injection.

Every endpoint a BingX swap client needs is served (the route table below
names each one's documentation): market data, trading, order and fill
history, account configuration, listen keys, and the few spot / coin-M /
wallet endpoints ccxt's ``load_markets`` asks for in live mode (answered
empty but well-formed: the emulator has no spot or coin-M markets).

Hardening (issue 11): a signed endpoint checks ``X-BX-APIKEY`` before a byte
of the body is read; bodies are limited to ``max_body_bytes`` (HTTP 413 with
80014) and must arrive within ``body_timeout_s`` (408 with 80014); request
head size is bounded by aiohttp's line/field/header-count limits and a client
that has not sent a complete request head within ``header_timeout_s`` of
connecting (or of its last answer) is disconnected; garbage (bad JSON, deep
nesting, bad numbers) is answered 80014, and an unexpected exception becomes
100500 (counted in ``internal_errors``), never an HTTP 500. ``recvWindow`` is
capped at ``recv_window_max`` (5000 ms: the official skills reference says
"maximum 5000"; PROTOCOL.md §2.1). Unauthenticated requests are recorded in
``requests`` without their parameters, and the record is bounded.

Fault injection is configured per test through methods on ``BingxEmulator``
(``fail_next``, ``rate_limit_next``, ``delay_next``, ``drop_stream_events``,
``duplicate_stream_events``, ``stream_before_rest``, ``disconnect_streams``,
``expire_listen_keys``); each one-shot fault is consumed by the first request
that matches it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import hmac
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import unquote

import msgspec
from aiohttp import WSMsgType, web

from dita.venues.bingx.clock import wall_clock_ms
from dita.venues.bingx_emulator import public_stream
from dita.venues.bingx_emulator.answers import Answerer, AnswerProfile
from dita.venues.bingx_emulator.history import History
from dita.venues.bingx_emulator.klines import KlineBook
from dita.venues.bingx_emulator.market import MarketData, PublicTrade
from dita.venues.bingx_emulator.protocol import ApiError, Mode, s
from dita.venues.bingx_emulator.sim_engine import SimEngine

log = logging.getLogger("dita.bingx_emulator")

_ENCODER = msgspec.json.Encoder(decimal_format="number")
OPEN_API = "/openApi"
STREAM_PATH = "/swap-market"
LISTEN_KEY_PATH = "/openApi/user/auth/userDataStream"


@dataclass
class HttpFault:
    """One injected fault. ``path``/``method`` None match every request."""

    path: str | None
    method: str | None = None
    status: int | None = None  # answer with this HTTP status (e.g. 504, 500)
    code: int | None = None  # or with HTTP 200 and this BingX code
    msg: str = ""
    after_execute: bool = False  # perform the request first, then answer with the fault
    delay: float = 0.0  # seconds to wait before handling
    times: int = 1

    def matches(self, method: str, path: str) -> bool:
        return (self.path is None or self.path == path) and (
            self.method is None or self.method == method
        )


@dataclass
class _Conn:
    ws: web.WebSocketResponse
    listen_key: str  # "" for a public market connection
    queue: asyncio.Queue[tuple[bytes, asyncio.Future[None] | None]] = field(
        default_factory=lambda: asyncio.Queue(maxsize=10_000)
    )
    pongs: int = 0
    pings: int = 0
    channels: dict[str, public_stream.Channel] = field(default_factory=dict)


@dataclass
class RequestRecord:
    method: str
    path: str
    params: dict[str, str]


Handler = Callable[[dict[str, str]], Any]


class BingxEmulator:
    """A BingX USDT-M perpetual swap endpoint on 127.0.0.1. Use as an async context manager."""

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], int] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        exchange: SimEngine | None = None,
        mode: Mode = Mode.ONE_WAY,
        initial_balance: Decimal = Decimal(10_000),
        immediate_fills: bool = True,
        recv_window_default: int = 5000,
        recv_window_max: int | Literal["profile"] | None = "profile",  # else answers' cap
        future_tolerance_ms: int | None = None,  # None: answers.timestamp_window_ms
        answers: AnswerProfile | None = None,  # BingX's answer forms (answers.py)
        ping_interval: float = 5.0,
        missed_pongs_allowed: int = 3,
        listen_key_ttl_ms: int = 3_600_000,
        stream_before_rest_delay: float = 0.05,
        kline_ms: int = 60_000,  # length of a klines "1m" bar; shorter makes tests fast
        max_body_bytes: int = 64 * 1024,
        header_timeout_s: float = 10.0,
        body_timeout_s: float = 10.0,
        depth_push_s: float = 1.0,  # DOC23: depth is pushed every second
        max_recorded_requests: int = 100_000,
    ) -> None:
        self._api_key = api_key
        self._secret = api_secret
        self.host = host
        self._port = port
        self.clock = clock or wall_clock_ms
        # every wait of the emulator's own (pings, depth pushes, key expiry, injected
        # delays) goes through this, so a test that drives ``clock`` drives them too
        self._sleep = sleep or asyncio.sleep
        self.exchange = exchange or SimEngine(
            self.clock,
            initial_balance=initial_balance,
            immediate_fills=immediate_fills,
            mode=mode,
        )
        profile = answers or AnswerProfile()
        if recv_window_max != "profile":
            profile = profile.but(recv_window_max=recv_window_max)
        if future_tolerance_ms is not None:
            profile = profile.but(timestamp_window_ms=future_tolerance_ms)
        self.answers = Answerer(profile, self.clock)
        self.recv_window_default = recv_window_default
        self.recv_window_max = profile.recv_window_max
        self.future_tolerance_ms = profile.timestamp_window_ms
        self.ping_interval = ping_interval
        self.missed_pongs_allowed = missed_pongs_allowed
        self.listen_key_ttl_ms = listen_key_ttl_ms
        self.stream_before_rest_delay = stream_before_rest_delay
        self.klines = KlineBook(kline_ms)
        self.max_body_bytes = max_body_bytes
        self.header_timeout_s = header_timeout_s
        self.body_timeout_s = body_timeout_s
        self.depth_push_s = depth_push_s
        self.market = MarketData(self.exchange, self.clock, funding_rate=self._funding_rate)
        self.history = History(self.exchange)
        self.margin_types: dict[str, str] = {}  # symbol -> CROSSED (the only mode modelled)
        self.internal_errors = 0  # unexpected exceptions answered 100500 (a bug if not 0)
        self._printing = False
        # fault injection
        self.faults: list[HttpFault] = []
        self.drop_next_events = 0
        self.duplicate_next_events = 0
        self.stream_before_rest = False
        # state
        self.requests: deque[RequestRecord] = deque(maxlen=max_recorded_requests)
        self.listen_keys: dict[str, int] = {}  # key -> expires at (ms)
        self._key_seq = 0
        self._conns: list[_Conn] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._routes: dict[tuple[str, str], tuple[Handler, bool]] = self._route_table()

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(
            client_max_size=self.max_body_bytes,
            handler_args={
                # a client must finish its request head this soon after connecting or after
                # its last answer (aiohttp closes an idle connection at its keep-alive timeout,
                # and a partial request head does not reset it)
                "keepalive_timeout": self.header_timeout_s,
                "max_line_size": 16 * 1024,
                "max_field_size": 8 * 1024,
                "max_headers": 64,
                # a body left unread (refused before reading it) is drained and dropped for
                # at most this long after the answer, then the connection is closed
                "lingering_time": 1.0,
            },
        )
        app.router.add_get(STREAM_PATH, self._stream)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self._port = sockets[0].getsockname()[1]
        self._spawn(self._expiry_loop())
        self._spawn(self._depth_loop())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for conn in list(self._conns):
            await conn.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __aenter__(self) -> BingxEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def port(self) -> int:
        return self._port

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self._port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self._port}{STREAM_PATH}"

    # -- test control: the market --------------------------------------------

    async def set_price(self, symbol: str, price: Decimal) -> None:
        self.exchange.set_price(symbol, price)
        await self._flush()

    async def trade(self, symbol: str, price: Decimal, volume: Decimal) -> None:
        """A print that fills crossing resting LIMIT orders up to ``volume``; it also
        goes into the klines bar of the current minute (by the emulator's clock)."""
        self._printing = True
        try:
            self.exchange.trade(symbol, price, volume)
        finally:
            self._printing = False
        now = self.clock()
        self.klines.add(symbol, now, price, volume)
        if volume > 0:
            self._public_trade(PublicTrade(symbol, now, price, volume, buyer_maker=False))
        self._push_klines(symbol)
        await self._flush(printing=True)

    # -- test control: faults ----------------------------------------------------

    def fail_next(
        self,
        path: str | None,
        *,
        status: int = 504,
        method: str | None = None,
        after_execute: bool = False,
        times: int = 1,
    ) -> None:
        """Answer the next matching request(s) with HTTP ``status``; with
        ``after_execute`` the request is carried out first (504 after the order was placed)."""
        self.faults.append(
            HttpFault(path, method, status=status, after_execute=after_execute, times=times)
        )

    def error_next(
        self,
        path: str | None,
        code: int,
        msg: str = "",
        *,
        method: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer HTTP 200 with BingX ``code`` without executing the request."""
        self.faults.append(
            HttpFault(path, method, code=code, msg=msg or f"injected {code}", times=times)
        )

    def rate_limit_next(
        self, path: str | None, *, method: str | None = None, times: int = 1
    ) -> None:
        self.faults.append(
            HttpFault(
                path, method, code=100410,
                msg="The endpoint trigger frequency limit rule is currently in the disabled period and will be unblocked after 1000",
                times=times,
            )
        )  # fmt: skip

    def delay_next(
        self, path: str | None, seconds: float, *, method: str | None = None, times: int = 1
    ) -> None:
        self.faults.append(HttpFault(path, method, delay=seconds, times=times))

    def drop_stream_events(self, n: int) -> None:
        """Lose the next ``n`` user-data events (pings are not counted)."""
        self.drop_next_events += n

    def duplicate_stream_events(self, n: int) -> None:
        """Send each of the next ``n`` user-data events twice."""
        self.duplicate_next_events += n

    async def disconnect_streams(self) -> None:
        """Close every user-data WebSocket abruptly (events until reconnect are lost)."""
        for conn in list(self._conns):
            self._conns.remove(conn)
            await conn.ws.close(code=1011, message=b"emulated disconnect")

    async def expire_listen_keys(self) -> None:
        """Expire every listen key now: pushes ``listenKeyExpired`` and stops user data."""
        for key in list(self.listen_keys):
            self.listen_keys[key] = self.clock() - 1
        await self._expire_due()

    @property
    def stream_connections(self) -> int:
        return len(self._conns)

    def request_count(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if r.method == method and r.path == path)

    # -- REST ----------------------------------------------------------------------

    def _route_table(self) -> dict[tuple[str, str], tuple[Handler, bool]]:
        """(method, path) -> (handler, signed). Sources: DOC25 = the scrape of the official
        docs, rosssaunders/coincise ``docs/bingx/endpoints/{public,private}/<method>_<path>.md``
        (one file per endpoint, named after it); CCXT = ccxt's bingx (``api`` table and the
        recorded replies in its methods); PROTOCOL.md for the older ones."""
        ex, mk, hist = self.exchange, self.market, self.history
        v2, v1, v3 = "/openApi/swap/v2", "/openApi/swap/v1", "/openApi/swap/v3"
        return {
            ("GET", f"{v2}/server/time"): (lambda p: {"serverTime": self.clock()}, False),
            ("GET", f"{v2}/quote/contracts"): (lambda p: ex.contracts_data(p.get("symbol")), False),
            ("GET", f"{v1}/ticker/price"): (lambda p: ex.price_data(p.get("symbol")), False),
            ("GET", f"{v2}/quote/price"): (lambda p: ex.price_data(p.get("symbol")), False),
            ("GET", f"{v2}/quote/ticker"): (lambda p: ex.ticker_data(p.get("symbol")), False),
            ("GET", f"{v3}/quote/klines"): (self._klines, False),
            ("GET", f"{v2}/quote/klines"): (self._klines, False),  # the older path (DOC23)
            ("GET", f"{v1}/market/markPriceKlines"): (self._klines, False),  # mark = last here
            # DOC25 get_openapi_swap_v2_quote_{depth,bookticker,trades,fundingrate,openinterest}
            ("GET", f"{v2}/quote/depth"): (mk.depth, False),
            ("GET", f"{v2}/quote/bookTicker"): (mk.book_ticker, False),
            ("GET", f"{v2}/quote/trades"): (mk.trades, False),
            ("GET", f"{v2}/quote/fundingRate"): (mk.funding_history, False),
            ("GET", f"{v2}/quote/openInterest"): (mk.open_interest, False),
            ("GET", f"{v2}/quote/premiumIndex"): (self._premium_index, False),
            ("POST", f"{v2}/trade/order"): (ex.place, True),
            ("POST", f"{v2}/trade/order/test"): (lambda p: {"order": {}}, True),
            ("DELETE", f"{v2}/trade/order"): (ex.cancel, True),
            ("GET", f"{v2}/trade/order"): (ex.query, True),
            ("GET", f"{v2}/trade/openOrders"): (ex.open_orders, True),
            ("DELETE", f"{v2}/trade/allOpenOrders"): (ex.cancel_all, True),
            ("GET", f"{v2}/user/positions"): (ex.positions_data, True),
            ("GET", f"{v2}/user/balance"): (lambda p: {"balance": ex.balance_row()}, True),
            ("GET", f"{v3}/user/balance"): (lambda p: [ex.balance_row()], True),
            ("POST", f"{v2}/trade/leverage"): (self._set_leverage, True),
            ("GET", f"{v2}/trade/leverage"): (ex.get_leverage, True),
            ("POST", f"{v2}/trade/batchOrders"): (self._batch_place, True),
            ("DELETE", f"{v2}/trade/batchOrders"): (self._batch_cancel, True),
            ("GET", f"{v2}/trade/openOrder"): (self._open_order, True),
            # DOC25 get_openapi_swap_v2_trade_allorders, get_openapi_swap_v1_trade_fullorder,
            # get_openapi_swap_v2_trade_allfillorders
            ("GET", f"{v2}/trade/allOrders"): (hist.all_orders, True),
            ("GET", f"{v1}/trade/fullOrder"): (hist.full_order, True),
            ("GET", f"{v2}/trade/allFillOrders"): (hist.fill_orders, True),
            # DOC25 {get,post}_openapi_swap_v2_trade_margintype
            ("GET", f"{v2}/trade/marginType"): (self._margin_type, True),
            ("POST", f"{v2}/trade/marginType"): (self._set_margin_type, True),
            # DOC25 get_openapi_swap_v2_user_commissionrate; CCXT fetch_trading_fee's reply
            ("GET", f"{v2}/user/commissionRate"): (self._commission_rate, True),
            # DOC25 post_openapi_swap_v2_trade_closeallpositions; CCXT close_all_positions
            ("POST", f"{v2}/trade/closeAllPositions"): (self._close_all_positions, True),
            ("GET", f"{v1}/positionSide/dual"): (
                lambda p: {"dualSidePosition": "true" if ex.mode is Mode.HEDGE else "false"},
                True,
            ),
            ("POST", f"{v1}/positionSide/dual"): (
                lambda p: ex.set_mode(p.get("dualSidePosition", "false").lower() == "true"),
                True,
            ),
            # What ccxt's live-mode load_markets asks for besides the swap contracts
            # (CCXT fetch_currencies, fetch_inverse_swap_markets, fetch_spot_markets; DOC25
            # get_openapi_wallets_v1_capital_config_getall, get_openapi_cswap_v1_market_contracts):
            # the emulator has no spot or coin-M markets and no deposit networks.
            ("GET", "/openApi/wallets/v1/capital/config/getall"): (
                lambda p: [{"coin": "USDT", "name": "USDT", "networkList": []}],
                True,
            ),
            ("GET", "/openApi/cswap/v1/market/contracts"): (lambda p: [], False),
            ("GET", "/openApi/spot/v1/common/symbols"): (lambda p: {"symbols": []}, False),
            # ccxt's fetch_balance() without a type asks for the spot account (CCXT fetch_balance)
            ("GET", "/openApi/spot/v1/account/balance"): (lambda p: {"balances": []}, True),
        }

    def _set_leverage(self, p: dict[str, str]) -> dict[str, Any]:
        answer = self.exchange.set_leverage(p)
        self._config_update(answer["symbol"])
        return answer

    def _margin_type(self, p: dict[str, str]) -> dict[str, Any]:
        symbol = self.market.symbol(p)
        return {"symbol": symbol, "marginType": self.margin_types.get(symbol, "CROSSED")}

    def _set_margin_type(self, p: dict[str, str]) -> dict[str, Any]:
        symbol = self.market.symbol(p)
        wanted = p.get("marginType", "").upper()
        if wanted not in ("CROSSED", "ISOLATED", "SEPARATE_ISOLATED"):
            raise ApiError(
                80014, "Invalid parameters,marginType: ISOLATED, CROSSED or SEPARATE_ISOLATED"
            )
        if wanted != "CROSSED":
            # the emulator's margin arithmetic is cross only: refuse rather than pretend
            raise ApiError(
                80014,
                f"Invalid parameters, marginType {wanted}: the emulator models CROSSED margin only",
            )
        self.margin_types[symbol] = wanted
        self._config_update(symbol)
        return {}

    def _config_update(self, symbol: str) -> None:
        """``ACCOUNT_CONFIG_UPDATE`` after a leverage or margin-type change (DOC23
        "Configuration updates such as leverage and margin mode")."""
        self.exchange.outbox.append(self._config_event(symbol))

    def _config_event(self, symbol: str) -> dict[str, Any]:
        lev = self.exchange.get_leverage({"symbol": symbol})
        mt = "cross" if self.margin_types.get(symbol, "CROSSED") == "CROSSED" else "isolated"
        return {
            "e": "ACCOUNT_CONFIG_UPDATE", "E": self.clock(),
            "ac": {"s": symbol, "l": lev["longLeverage"], "S": lev["shortLeverage"], "mt": mt},
        }  # fmt: skip

    def _commission_rate(self, p: dict[str, str]) -> dict[str, Any]:
        spec = self.exchange.contracts[0]
        return {
            "commission": {
                "takerCommissionRate": spec.taker_fee, "makerCommissionRate": spec.maker_fee
            }
        }  # fmt: skip

    def _close_all_positions(self, p: dict[str, str]) -> dict[str, Any]:
        """One reduce-only MARKET order per open position (of ``symbol`` if given)."""
        symbol = p.get("symbol") or None
        if symbol is not None:
            self.market.symbol(p)
        success: list[int] = []
        failed: list[dict[str, Any]] = []
        one_way = self.exchange.mode is Mode.ONE_WAY
        for row in self.exchange.positions_data({"symbol": symbol} if symbol else {}):
            amt = Decimal(str(row["positionAmt"]))
            side_held = str(row["positionSide"])
            if amt == 0:
                continue
            long = amt > 0 if side_held == "BOTH" else side_held == "LONG"
            order = {
                "symbol": str(row["symbol"]), "side": "SELL" if long else "BUY", "type": "MARKET",
                "quantity": s(amt.copy_abs()), "positionSide": "BOTH" if one_way else side_held,
            }  # fmt: skip
            if one_way:
                order["reduceOnly"] = "true"
            try:
                success.append(self.exchange.place(order)["order"]["orderId"])
            except ApiError as err:
                failed.append(
                    {"symbol": row["symbol"], "errorCode": err.code, "errorMessage": err.msg}
                )
        return {"success": success, "failed": failed or None}

    def _funding_rate(self, symbol: str) -> Decimal:
        """The rate the engine charges (the sim's configured rate)."""
        return self.exchange.sim.config.funding_rate

    def _batch_place(self, p: dict[str, str]) -> dict[str, Any]:
        """``POST /trade/batchOrders`` (PROTOCOL.md §3.3): up to 5 orders as a JSON array.

        Failures are listed in ``failed`` (shape UNCONFIRMED; SKILL mentions such a list).
        """
        items = _json_list(p.get("batchOrders", ""), "batchOrders")
        if not items or len(items) > 5:
            raise ApiError(80014, "Invalid parameters, batchOrders must hold 1 to 5 orders")
        placed: list[Any] = []
        failed: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                failed.append({"index": index, "errorCode": 80014, "errorMessage": "not an object"})
                continue
            try:
                placed.append(
                    self.exchange.place({k: _json_text(v) for k, v in item.items()})["order"]
                )
            except ApiError as err:
                failed.append({"index": index, "errorCode": err.code, "errorMessage": err.msg})
        return {"orders": placed, "failed": failed or None}

    def _batch_cancel(self, p: dict[str, str]) -> dict[str, Any]:
        """``DELETE /trade/batchOrders``: ``orderIdList=[1,2]`` or ``clientOrderIdList=["a"]``."""
        symbol = p.get("symbol", "")
        ids = _json_list(p.get("orderIdList", ""), "orderIdList")
        cids = _json_list(
            p.get("clientOrderIdList", p.get("clientOrderIDList", "")), "clientOrderIdList"
        )
        if not ids and not cids:
            raise ApiError(80014, "orderIdList & clientOrderIDList are both empty")
        if len(ids) + len(cids) > 10:
            raise ApiError(80014, "Invalid parameters, at most 10 orders per batch")
        success: list[Any] = []
        failed: list[dict[str, Any]] = []
        targets = [{"orderId": _json_text(i)} for i in ids] + [
            {"clientOrderId": _json_text(c)} for c in cids
        ]
        for target in targets:
            try:
                success.append(self.exchange.cancel({"symbol": symbol, **target})["order"])
            except ApiError as err:
                failed.append({**target, "errorCode": err.code, "errorMessage": err.msg})
        return {"success": success, "failed": failed or None}

    def _open_order(self, p: dict[str, str]) -> dict[str, Any]:
        """``GET /trade/openOrder``: like a query, but 80016 unless the order is open."""
        try:
            answer = self.exchange.query(p)
        except ApiError as err:
            raise ApiError(80016, "order does not exist") from err
        if answer["order"]["status"] not in ("NEW", "PENDING", "PARTIALLY_FILLED"):
            raise ApiError(80016, "order does not exist")
        return answer

    def _klines(self, p: dict[str, str]) -> list[dict[str, Any]]:
        symbol = p.get("symbol", "")
        if symbol not in {c.symbol for c in self.exchange.contracts}:
            raise ApiError(
                109400,
                f"{symbol},symbol not exist, please verify it in api: /openApi/swap/v2/quote/contracts",
            )
        return self.klines.rows(symbol, p, self.clock())

    def _premium_index(self, p: dict[str, str]) -> dict[str, Any] | list[dict[str, Any]]:
        def row(symbol: str) -> dict[str, Any]:
            price = format(self.exchange.price(symbol), "f")
            return {
                "symbol": symbol, "markPrice": price, "indexPrice": price,
                "lastFundingRate": s(self._funding_rate(symbol)),
                "nextFundingTime": (self.clock() // 28_800_000 + 1) * 28_800_000,
            }  # fmt: skip

        symbol = p.get("symbol")
        if symbol:
            self.exchange.price_data(symbol)  # 109400 for unknown symbols
            return row(symbol)
        return [row(c.symbol) for c in self.exchange.contracts]

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._handle(request)
        except Exception:  # a bug in the emulator: log it, count it, never answer HTTP 500
            self.internal_errors += 1
            log.exception("emulator error on %s %s", request.method, request.path[:200])
            response = _envelope(100500, "internal error in the BingX emulator")
            response.force_close()
            return response

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method, path = request.method, request.path
        is_listen = path == LISTEN_KEY_PATH
        route = self._routes.get((method, path))
        if route is None and not is_listen:
            self.requests.append(RequestRecord(method, path, {}))
            return _unread(
                request,
                _envelope(100400, f"{method} {path[:100]} is not a BingX endpoint", status=404),
            )
        signed = is_listen or (route is not None and route[1])
        if signed:
            # the key is checked before a byte of the body is read (issue 11)
            problem = self._check_key(request)
            if problem is not None:
                self.requests.append(RequestRecord(method, path, {}))
                return _unread(request, problem)
        body = await self._read_body(request)
        if isinstance(body, web.Response):
            self.requests.append(RequestRecord(method, path, {}))
            return _unread(request, body)
        parsed = _params(request.query_string, body, request.content_type)
        if isinstance(parsed, web.Response):
            self.requests.append(RequestRecord(method, path, {}))
            return parsed
        pairs, body_pairs, is_json = parsed
        params = dict(body_pairs)
        params.update(pairs)  # the query wins on duplicates (PROTOCOL.md §3.0)
        # a public request's large body is not kept (anyone may send one)
        kept = params if signed or len(body) <= 4096 else dict(pairs)
        self.requests.append(RequestRecord(method, path, kept))
        fault = self._take_fault(method, path)
        if fault is not None and fault.delay:
            await self._sleep(fault.delay)
        if fault is not None and not fault.after_execute and (fault.status or fault.code):
            return self._fault_response(fault)

        if is_listen:
            response = await self._listen_key(method, request, pairs + body_pairs, is_json)
        else:
            assert route is not None
            handler, _ = route
            if signed:
                problem = self._authenticate(request, pairs, body_pairs, is_json)
                if problem is not None:
                    return problem
            try:
                data = handler(params)
            except ApiError as err:
                response = _envelope(err.code, err.msg)
            except (ArithmeticError, RecursionError) as err:  # absurd numbers, deep nesting
                response = _envelope(80014, f"Invalid parameters, {type(err).__name__}")
            else:
                one_way = self.exchange.mode is Mode.ONE_WAY
                response = _envelope(0, "", self.answers.data(method, path, data, one_way=one_way))
            response.headers.update(self.answers.headers(path))
            await self._flush(wait=self.stream_before_rest)
        if fault is not None and fault.after_execute and (fault.status or fault.code):
            return self._fault_response(fault)
        return response

    def _check_key(self, request: web.Request) -> web.Response | None:
        key = request.headers.get("X-BX-APIKEY", "")
        if not key:
            return _envelope(100413, "Null apiKey")
        if not hmac.compare_digest(_bytes(key), self._api_key.encode()):
            return _envelope(100413, "Incorrect apiKey")
        return None

    async def _read_body(self, request: web.Request) -> bytes | web.Response:
        """The body, at most ``max_body_bytes``, within ``body_timeout_s``."""
        if not request.body_exists:
            return b""
        limit = self.max_body_bytes
        too_large = _envelope(
            80014, f"Invalid parameters, request body over {limit} bytes", status=413
        )
        if request.content_length is not None and request.content_length > limit:
            return too_large
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.body_timeout_s):
                while True:
                    chunk = await request.content.read(limit + 1 - size)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > limit:
                        return too_large
                    chunks.append(chunk)
        except TimeoutError:
            return _envelope(80014, "Invalid parameters, request body too slow", status=408)
        return b"".join(chunks)

    def _authenticate(
        self,
        request: web.Request,
        query: list[tuple[str, str]],
        body: list[tuple[str, str]],
        is_json: bool,
    ) -> web.Response | None:
        """PROTOCOL.md §2.6: key, signature, timestamp window.

        The signature is accepted over the parameters in the order received or sorted
        (a JSON body is always sorted): the official example signs them unsorted as sent,
        ccxt sorts and sends sorted, and some clients sign sorted but send in another order.
        """
        problem = self._check_key(request)
        if problem is not None:
            return problem
        pairs = query + body
        sig = next((v for k, v in pairs if k == "signature"), "")
        if not sig:
            return _envelope(100412, "Null signature")
        signed = [(k, v) for k, v in pairs if k != "signature"]
        orders = [sorted(signed)] if is_json and not query else [signed, sorted(signed)]
        given = _bytes(sig.lower())
        for candidate in orders:
            payload = "&".join(f"{k}={v}" for k, v in candidate)
            expected = hmac.new(
                self._secret.encode(), payload.encode("utf-8", "surrogateescape"), hashlib.sha256
            ).hexdigest()
            if hmac.compare_digest(expected.encode(), given):
                break
        else:
            return _envelope(100001, "Signature verification failed due to signature mismatch")
        params = dict(signed)
        try:
            ts = int(params.get("timestamp", ""))
        except ValueError:
            return _envelope(100421, "Null timestamp or timestamp mismatch")
        try:
            window = int(params.get("recvWindow", self.recv_window_default))
        except ValueError:
            return _envelope(80014, "Invalid parameters, recvWindow")
        if window <= 0:
            window = self.recv_window_default
        if self.recv_window_max is not None:
            window = min(window, self.recv_window_max)
        now = self.clock()
        if now - ts > window or ts - now > self.future_tolerance_ms:
            return _envelope(100421, "Null timestamp or timestamp mismatch")
        return None

    def _take_fault(self, method: str, path: str) -> HttpFault | None:
        for fault in self.faults:
            if fault.matches(method, path):
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def _fault_response(self, fault: HttpFault) -> web.Response:
        if fault.status is not None:
            return web.Response(status=fault.status, text=f"<html>{fault.status} injected</html>")
        assert fault.code is not None
        return _envelope(fault.code, fault.msg)

    # -- listen keys ------------------------------------------------------------------

    async def _listen_key(
        self, method: str, request: web.Request, pairs: list[tuple[str, str]], is_json: bool
    ) -> web.Response:
        # DOC23/JKorf send only the key header, ccxt/SKILL sign: accept both (PROTOCOL.md §3.12).
        key = request.headers.get("X-BX-APIKEY", "")
        if key != self._api_key:
            return _envelope(100413, "Incorrect apiKey" if key else "Null apiKey")
        if any(k == "signature" for k, _ in pairs):
            problem = self._authenticate(request, [p for p in pairs], [], is_json)
            if problem is not None:
                return problem
        now = self.clock()
        if method == "POST":
            self._key_seq += 1
            listen_key = hashlib.sha256(
                f"dita-emulator-listen-key-{self._key_seq}".encode()
            ).hexdigest()
            self.listen_keys[listen_key] = now + self.listen_key_ttl_ms
            return web.json_response({"listenKey": listen_key})
        listen_key = dict(pairs).get("listenKey", "")
        if not listen_key:
            return web.Response(status=204)
        expires = self.listen_keys.get(listen_key)
        if expires is None or expires < now:
            return _envelope(100400, "listenKey does not exist", status=404)
        if method == "PUT":
            self.listen_keys[listen_key] = now + self.listen_key_ttl_ms
        elif method == "DELETE":
            del self.listen_keys[listen_key]
            for conn in [c for c in self._conns if c.listen_key == listen_key]:
                self._conns.remove(conn)
                await conn.ws.close()
        else:
            return _envelope(100400, f"{method} not allowed", status=405)
        if self.answers.profile.listen_key_empty_body:
            return web.Response(status=200)  # documented by HTTP status only (§3.12)
        return _envelope(0, "", None)

    def _key_valid(self, listen_key: str) -> bool:
        expires = self.listen_keys.get(listen_key)
        return expires is not None and expires >= self.clock()

    async def _expiry_loop(self) -> None:
        while True:
            await self._sleep(0.2)
            await self._expire_due()

    async def _expire_due(self) -> None:
        now = self.clock()
        for key, expires in list(self.listen_keys.items()):
            if expires < now:
                del self.listen_keys[key]
                frame = _ENCODER.encode({"e": "listenKeyExpired", "E": now, "listenKey": key})
                for conn in self._conns:
                    if conn.listen_key == key:
                        _offer(conn, frame, None)

    # -- user-data stream ---------------------------------------------------------

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        if "listenKey" not in request.query:
            return await self._market_stream(request)
        listen_key = request.query.get("listenKey", "")
        if not self._key_valid(listen_key):
            return _envelope(100400, "listenKey is invalid or expired", status=401)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = _Conn(ws, listen_key)
        self._conns.append(conn)
        writer = asyncio.create_task(self._writer(conn))
        pinger = asyncio.create_task(self._pinger(conn))
        for spec in self.exchange.contracts[:1]:
            _offer(conn, _ENCODER.encode(self._config_event(spec.symbol)), None)
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT and msg.data == "Pong":
                    conn.pongs += 1
        finally:
            await self._drop(conn, writer, pinger)
        return ws

    async def _drop(self, conn: _Conn, *tasks: asyncio.Task[None]) -> None:
        """A closed connection: stop its writer and pinger, forget it."""
        for task in tasks:
            task.cancel()
        if conn in self._conns:
            self._conns.remove(conn)
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- public market stream ---------------------------------------------------------

    async def _market_stream(self, request: web.Request) -> web.StreamResponse:
        """``/swap-market`` without a listen key: trade, depth and kline subscriptions."""
        ws = web.WebSocketResponse(autoping=True, max_msg_size=64 * 1024)
        await ws.prepare(request)
        conn = _Conn(ws, "")
        self._conns.append(conn)
        writer = asyncio.create_task(self._writer(conn))
        pinger = asyncio.create_task(self._pinger(conn))
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                if msg.data == "Pong":
                    conn.pongs += 1
                    continue
                self._market_request(conn, msg.data)
        finally:
            await self._drop(conn, writer, pinger)
        return ws

    def _market_request(self, conn: _Conn, text: str) -> None:
        req = public_stream.parse_request(text)
        if req is None:
            _offer(
                conn, _ENCODER.encode(public_stream.reply("", 80014, "Invalid parameters")), None
            )
            return
        symbols = {c.symbol for c in self.exchange.contracts}
        channel = public_stream.parse_channel(req.data_type, symbols)
        if channel is None:
            reply = public_stream.reply(
                req.id, 80015, f"dataType not supported: {req.data_type[:60]}"
            )
            _offer(conn, _ENCODER.encode(reply), None)
            return
        _offer(conn, _ENCODER.encode(public_stream.reply(req.id)), None)
        if req.req_type == "unsub":
            conn.channels.pop(channel.data_type, None)
            return
        conn.channels[channel.data_type] = channel
        if channel.kind == "depth":
            self._push_depth(conn, channel)
        elif channel.kind == "kline":
            self._push_kline(conn, channel)

    @property
    def market_subscriptions(self) -> int:
        return sum(len(c.channels) for c in self._conns)

    def _push_depth(self, conn: _Conn, channel: public_stream.Channel) -> None:
        bids, asks = self.market.book(channel.symbol, channel.levels)
        frame = public_stream.push(channel, {"bids": bids, "asks": asks})
        frame["ts"] = self.clock()
        _offer(conn, _ENCODER.encode(frame), None)

    def _push_kline(self, conn: _Conn, channel: public_stream.Channel) -> None:
        bar = self.klines.latest(channel.symbol, channel.interval, self.clock())
        if bar is not None:
            row = public_stream.kline_row(bar["time"], bar)
            _offer(conn, _ENCODER.encode(public_stream.push(channel, [row])), None)

    def _push_klines(self, symbol: str) -> None:
        for conn in self._conns:
            for channel in list(conn.channels.values()):
                if channel.kind == "kline" and channel.symbol == symbol:
                    self._push_kline(conn, channel)

    def _public_trade(self, trade: PublicTrade) -> None:
        self.market.add_trade(trade)
        for conn in self._conns:
            for channel in list(conn.channels.values()):
                if channel.kind == "trade" and channel.symbol == trade.symbol:
                    frame = public_stream.push(channel, [trade.ws_row()])
                    _offer(conn, _ENCODER.encode(frame), None)

    async def _depth_loop(self) -> None:
        while True:
            await self._sleep(self.depth_push_s)
            for conn in list(self._conns):
                for channel in list(conn.channels.values()):
                    if channel.kind == "depth":
                        self._push_depth(conn, channel)

    async def _writer(self, conn: _Conn) -> None:
        while True:
            frame, done = await conn.queue.get()
            try:
                if not conn.ws.closed:
                    await conn.ws.send_bytes(gzip.compress(frame, mtime=0))
            except (ConnectionError, RuntimeError):
                pass
            finally:
                if done is not None and not done.done():
                    done.set_result(None)

    async def _pinger(self, conn: _Conn) -> None:
        while True:
            await self._sleep(self.ping_interval)
            if conn.pings - conn.pongs > self.missed_pongs_allowed:
                await conn.ws.close(code=1008, message=b"no Pong")
                return
            conn.pings += 1
            _offer(conn, b"Ping", None)

    async def _flush(self, wait: bool = False, printing: bool = False) -> None:
        """Move the exchange's pending events onto the streams (with injected faults);
        history and the public trade tape see every event, whatever the faults."""
        outbox = self.exchange.outbox
        pending: list[asyncio.Future[None]] = []
        loop = asyncio.get_running_loop()
        while outbox:
            event = outbox.pop(0)
            fill = self.history.record(event, during_print=printing)
            if fill is not None and not printing:  # the account took liquidity: a print
                self._public_trade(
                    PublicTrade(fill.symbol, fill.time, fill.price, fill.qty, fill.side == "SELL")
                )
                self.klines.add(fill.symbol, self.clock(), fill.price, fill.qty)
                self._push_klines(fill.symbol)
            if self.answers.silent(event):
                continue
            if self.drop_next_events > 0:
                self.drop_next_events -= 1
                continue
            copies = 1
            if self.duplicate_next_events > 0:
                self.duplicate_next_events -= 1
                copies = 2
            frame = _ENCODER.encode(
                self.answers.frame(event, one_way=self.exchange.mode is Mode.ONE_WAY)
            )
            for conn in self._conns:
                if not self._key_valid(conn.listen_key):
                    continue
                for _ in range(copies):
                    fut: asyncio.Future[None] | None = loop.create_future() if wait else None
                    _offer(conn, frame, fut)
                    if fut is not None:
                        pending.append(fut)
        if wait:
            if pending:
                await asyncio.wait(pending, timeout=2.0)
            await self._sleep(self.stream_before_rest_delay)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _offer(conn: _Conn, frame: bytes, done: asyncio.Future[None] | None) -> None:
    try:
        conn.queue.put_nowait((frame, done))
    except asyncio.QueueFull:  # a client that stopped reading loses frames, like a real server
        log.warning("user-data stream queue full; dropping a frame")
        if done is not None and not done.done():
            done.set_result(None)


def _envelope(code: int, msg: str, data: Any = None, status: int = 200) -> web.Response:
    body: dict[str, Any] = {"code": code, "msg": msg}
    if code == 0:
        body["data"] = data
    else:
        body["data"] = {}
    return web.Response(status=status, body=_ENCODER.encode(body), content_type="application/json")


def _unread(request: web.Request, response: web.Response) -> web.Response:
    """Answer without reading the body: close the connection instead of draining it."""
    if request.body_exists:
        response.force_close()
    return response


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _params(
    query_string: str, raw: bytes, content_type: str
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], bool] | web.Response:
    """Query pairs and body pairs, values URL-decoded, in the order received; garbage
    (a JSON body that does not parse, is not an object, or nests too deep) is 80014."""
    query = _pairs(query_string)
    text = raw.decode("utf-8", "replace")
    if content_type == "application/json" and text.strip():
        try:
            obj = json.loads(text, parse_float=str, parse_int=str)
            if not isinstance(obj, dict):
                raise ValueError("not an object")
            body = sorted((str(k), _json_text(v)) for k, v in obj.items())
        except (ValueError, RecursionError):
            return _envelope(80014, "Invalid parameters, the request body is not a JSON object")
        return query, body, True
    return query, _pairs(text) if text else [], False


def _pairs(raw: str) -> list[tuple[str, str]]:
    out = []
    for part in raw.split("&"):
        if not part:
            continue
        k, _, v = part.partition("=")
        out.append((unquote(k), unquote(v)))
    return out


def _json_list(text: str, name: str) -> list[Any]:
    if not text:
        return []
    try:
        value = json.loads(text, parse_float=str, parse_int=str)
    except ValueError:
        raise ApiError(80014, f"Invalid parameters, {name} is not a JSON array") from None
    if not isinstance(value, list):
        raise ApiError(80014, f"Invalid parameters, {name} is not a JSON array")
    return value


def _json_text(value: Any) -> str:
    match value:
        case bool():
            return "true" if value else "false"
        case str():
            return value
        case _:
            return json.dumps(value, separators=(",", ":"))
