"""A tap on the BingX adapter's wire: every raw REST exchange, stream frame and clock reading.

``BingxVenue`` (and the bar feed) take an ``httpx.AsyncClient``, a WebSocket
``connect`` function and a clock; each of the three can be wrapped so that a
``Tap`` sees what passes, unchanged and in the order the adapter sees it:

* ``TapTransport``: an ``httpx`` transport around the real one. It reads each
  answer in full (content decoded as httpx decodes it), shows the request and
  the answer (or the transport error) to the tap, then hands the adapter an
  identical answer.
* ``tap_connect``: a ``connect`` whose connections show the tap the opening
  (or its refusal), every frame received, every text sent and the end.
* ``TapClock``: a ``dita.clock.Clock`` that shows the tap every reading.

The tap only watches: what it is shown is what the adapter gets. Recording
(``capture.WireRecorder``) and replay (``replay``) are built on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import httpx
import websockets

from dita.clock import Clock

# hop-by-hop and encoding headers: the answer handed on carries the decoded content
_DROPPED = ("content-encoding", "content-length", "transfer-encoding")

Connect = Callable[[str], Any]  # websockets.connect-like: returns an async context manager


class Tap(Protocol):
    def on_http_send(self, request: httpx.Request) -> None:
        """A request is about to be sent (its answer, or error, follows in ``on_http``)."""

    def on_http(
        self,
        request: httpx.Request,
        response: httpx.Response | None,
        body: bytes,
        error: BaseException | None,
    ) -> None:
        """One REST exchange: the answer and its (decoded) body, or the transport error."""

    def on_ws_open(self, url: str, error: BaseException | None) -> None:
        """A stream connection opened (``error`` None) or was refused."""

    def on_frame(self, frame: str | bytes) -> None:
        """One frame received, as the adapter receives it."""

    def on_send(self, text: str) -> None:
        """One text the adapter sent on the stream (a ``Pong``)."""

    def on_ws_end(self, error: BaseException | None) -> None:
        """The stream ended: closed (``error`` None) or broken."""

    def on_clock(self, ms: int, task: str) -> None:
        """One clock reading, by the asyncio task ``task`` (``task_name()``)."""


def answer(request: httpx.Request, status: int, headers: Any, body: bytes) -> httpx.Response:
    """An answer carrying ``body`` as its (already decoded) content."""
    items = headers.multi_items() if isinstance(headers, httpx.Headers) else list(headers)
    kept = [(k, v) for k, v in items if k.lower() not in _DROPPED]
    return httpx.Response(status, headers=kept, content=body, request=request)


class TapTransport(httpx.AsyncBaseTransport):
    """Shows every request and its answer (or error) to ``tap``; otherwise ``inner``'s."""

    def __init__(self, tap: Tap, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self._tap = tap
        self._inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._tap.on_http_send(request)
        try:
            response = await self._inner.handle_async_request(request)
            try:
                body = await response.aread()
            finally:
                await response.aclose()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._tap.on_http(request, None, b"", exc)
            raise
        self._tap.on_http(request, response, body, None)
        return answer(request, response.status_code, response.headers, body)

    async def aclose(self) -> None:
        await self._inner.aclose()


class TapClock:
    """``inner``'s readings, each shown to ``tap``."""

    def __init__(self, inner: Clock, tap: Tap) -> None:
        self._inner = inner
        self._tap = tap

    def now_ms(self) -> int:
        ms = self._inner.now_ms()
        self._tap.on_clock(ms, task_name())
        return ms

    async def sleep(self, seconds: float) -> None:
        """Waits are ``inner``'s (a wait reads no time: nothing to show)."""
        await self._inner.sleep(seconds)


def task_name() -> str:
    """The reading task's name: the adapter's and the engine's tasks are named; any other
    (``Task-N``, numbered in creation order, which transports vary) is ``unnamed``."""
    try:
        task = asyncio.current_task()
    except RuntimeError:
        task = None
    if task is None:
        return "-"
    name = task.get_name()
    return "unnamed" if name.startswith("Task-") and name[5:].isdigit() else name


def default_connect(url: str) -> Any:
    """The adapter's own default (``BingxVenue``'s)."""
    return websockets.connect(url, max_size=2**22)


def tap_connect(tap: Tap, inner: Connect | None = None) -> Connect:
    """A ``connect`` like ``inner`` whose connections show ``tap`` what passes."""
    real = inner or default_connect
    return lambda url: _TapConnection(tap, real, url)


class _TapConnection:
    def __init__(self, tap: Tap, inner: Connect, url: str) -> None:
        self._tap = tap
        self._inner = inner
        self._url = url
        self._cm: Any = None

    async def __aenter__(self) -> _TapStream:
        try:
            self._cm = self._inner(self._url)
            ws = await self._cm.__aenter__()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._tap.on_ws_open(self._url, exc)
            raise
        self._tap.on_ws_open(self._url, None)
        return _TapStream(self._tap, ws)

    async def __aexit__(self, *exc: Any) -> Any:
        return await self._cm.__aexit__(*exc)


class _TapStream:
    """The adapter's view of one connection: iterate frames, ``send``, ``close``."""

    def __init__(self, tap: Tap, ws: Any) -> None:
        self._tap = tap
        self._ws = ws

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[str | bytes]:
        try:
            async for frame in self._ws:
                self._tap.on_frame(frame)
                yield frame
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except Exception as exc:
            self._tap.on_ws_end(exc)
            raise
        self._tap.on_ws_end(None)

    async def send(self, text: str) -> None:
        self._tap.on_send(text)
        await self._ws.send(text)

    async def close(self) -> None:
        await self._ws.close()


class WireHooks(Protocol):
    """What a run plugs in to have its wire tapped (``capture``) or served (``replay``)."""

    def transport(self) -> httpx.AsyncBaseTransport:
        """The transport of the run's HTTP client."""

    def connect(self) -> Connect:
        """The adapter's stream ``connect``."""

    def clock(self, inner: Clock) -> Clock:
        """The run's clock, given the one it would use."""
