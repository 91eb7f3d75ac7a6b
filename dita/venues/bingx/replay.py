"""The replay venue: a captured session (``capture.WireRecorder``) played back as BingX.

``ReplaySession(load_capture(DIR))`` gives a run the three things the adapter
talks through (``tap.WireHooks``): an in-process ``httpx`` transport, a stream
``connect`` and a clock. They serve the capture's answers, frames and clock
readings in the order they were recorded:

* Every request sent, REST answer, stream opening, frame and stream end is
  taken in capture order (``seq``). A request is matched to the first unused
  recorded one with the same method, path and parameters (the timestamp,
  ``recvWindow`` and signature aside; failing that, the same method and path);
  it counts as sent when everything recorded before its sending has been
  served, and is answered when everything recorded before its answer has. So
  the adapter hears its answers and frames interleaved as it heard them live,
  and a frame a request caused comes after that request. A recorded transport
  error is raised again (same ``httpx`` class).
* The clock returns the recorded readings one after the other, each asyncio
  task its own (``tap.task_name``): a task reads what it read live, however the
  tasks interleave; once a task's readings run out it reads its last one again.

A replayed run that asks for something the capture does not have, or waits
for longer than the capture's longest pause plus ``stall_s`` for its turn, has
diverged: ``ReplayDiverged`` (a ``VenueFatal``) names what it asked for and
what the capture has next. Nothing leaves this machine.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import websockets
from websockets.datastructures import Headers
from websockets.http11 import Response

from dita.clock import Clock
from dita.venues.base import VenueFatal
from dita.venues.bingx.capture import FORMAT, LISTEN_KEY_PLACEHOLDER, META, WIRE
from dita.venues.bingx.tap import Connect, answer, task_name

VOLATILE_PARAMS = ("timestamp", "recvWindow", "signature")
_BLOCKING = ("http_send", "http", "http_error", "ws_open", "frame", "ws_end")


class ReplayError(ValueError):
    """The capture cannot be replayed (missing, unreadable, or made with other options)."""


class ReplayDiverged(VenueFatal):
    """The replayed run did something the captured one did not."""


@dataclass(frozen=True)
class Capture:
    directory: Path
    meta: dict[str, Any]
    records: list[dict[str, Any]]

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.meta.get("options") or {})

    def body(self, record: Mapping[str, Any]) -> bytes:
        file = record.get("file")
        if file:
            return (self.directory / str(file)).read_bytes()
        return str(record.get("body") or record.get("text") or "").encode("utf-8")


def load_capture(directory: Path) -> Capture:
    """Read ``DIR/capture.json`` and ``DIR/wire.jsonl``; ``ReplayError`` names what is wrong."""
    try:
        meta = json.loads((directory / META).read_text(encoding="utf-8"))
        lines = (directory / WIRE).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as e:
        raise ReplayError(f"{directory}: not a wire capture (no {Path(e.filename).name})") from None
    except (OSError, ValueError) as e:
        raise ReplayError(f"{directory}: unreadable capture ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ReplayError(f"{directory}/{META}: not a format-{FORMAT} wire capture")
    records: list[dict[str, Any]] = []
    for n, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except ValueError:
            raise ReplayError(f"{directory}/{WIRE} line {n}: not JSON") from None
        if not isinstance(record, dict) or record.get("seq") != n or "kind" not in record:
            raise ReplayError(f"{directory}/{WIRE} line {n}: expected seq {n} with a kind")
        file = record.get("file")
        if file and not (directory / str(file)).is_file():
            raise ReplayError(f"{directory}/{WIRE} line {n}: payload file {file} is missing")
        records.append(record)
    return Capture(directory, meta, records)


def option_differences(recorded: Mapping[str, Any], given: Mapping[str, Any]) -> list[str]:
    """Each option that differs, as ``name: captured X, given Y``."""
    return [
        f"{name}: captured {recorded.get(name)!r}, given {given.get(name)!r}"
        for name in sorted(set(recorded) | set(given))
        if recorded.get(name) != given.get(name)
    ]


def _stable(params: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for name, value in params.items():
        if name in VOLATILE_PARAMS:
            continue
        out[name] = LISTEN_KEY_PLACEHOLDER if name == "listenKey" else value
    return out


def _describe(record: Mapping[str, Any] | None) -> str:
    if record is None:
        return "nothing (the capture is used up)"
    kind = record["kind"]
    if kind in ("http_send", "http", "http_error"):
        return f"seq {record['seq']}: {record['method']} {record['path']}"
    return f"seq {record['seq']}: {kind} {record.get('file') or record.get('text') or ''}".strip()


class ReplaySession:
    """One capture being played back (see the module doc); ``hooks()`` plugs it into a run."""

    def __init__(self, capture: Capture, *, stall_s: float = 10.0) -> None:
        self.capture = capture
        self._blocking = [r for r in capture.records if r["kind"] in _BLOCKING]
        clocks = [int(r["ms"]) for r in capture.records if r["kind"] == "clock"]
        self._clocks: dict[str, deque[int]] = {}
        for r in capture.records:
            if r["kind"] == "clock":
                self._clocks.setdefault(str(r.get("task")), deque()).append(int(r["ms"]))
        self._last_ms = {task: q[-1] for task, q in self._clocks.items()}
        self._first_ms = clocks[0] if clocks else None
        gaps = [b - a for a, b in itertools.pairwise(clocks)]
        self.stall_s = stall_s + max([0, *gaps]) / 1000
        self._cursor = 0
        self._reserved: set[int] = set()
        self._moved: asyncio.Event | None = None
        self.clock_overruns = 0  # readings asked for after the recorded ones ran out
        self._timer: Clock | None = None  # the run's own clock, for waits (see sleep)

    # -- progress ------------------------------------------------------------------------

    @property
    def served(self) -> int:
        """How many recorded exchanges, openings, frames and ends were served."""
        return self._cursor

    @property
    def remaining(self) -> int:
        return len(self._blocking) - self._cursor

    def _event(self) -> asyncio.Event:
        if self._moved is None:
            self._moved = asyncio.Event()
        return self._moved

    def _next(self) -> dict[str, Any] | None:
        return self._blocking[self._cursor] if self._cursor < len(self._blocking) else None

    def _advance(self) -> None:
        self._cursor += 1
        moved = self._event()
        self._moved = asyncio.Event()
        moved.set()

    async def _until(self, ready: Any, what: str | None) -> None:
        """Wait until ``ready()``; with ``what``, a wait longer than ``stall_s`` diverged."""
        loop = asyncio.get_running_loop()
        deadline = None if what is None else loop.time() + self.stall_s
        while not ready():
            moved = self._event()
            if deadline is None:
                await moved.wait()
                continue
            left = deadline - loop.time()
            try:
                await asyncio.wait_for(moved.wait(), max(left, 0))
            except TimeoutError:
                raise ReplayDiverged(
                    f"replay stalled: the run asked for {what}, recorded later than "
                    f"{_describe(self._next())}, which the run has not asked for"
                ) from None
            deadline = loop.time() + self.stall_s

    def _find(self, match: Any) -> int | None:
        for i in range(self._cursor, len(self._blocking)):
            if i not in self._reserved and match(self._blocking[i]):
                return i
        return None

    # -- REST ----------------------------------------------------------------------------

    async def http(self, method: str, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        """The recorded exchange for this request, once its turn has come."""
        stable = _stable(params)

        def same(r: Mapping[str, Any], exact: bool) -> bool:
            return (
                r["kind"] == "http_send"
                and r["method"] == method
                and r["path"] == path
                and (not exact or _stable(r.get("params") or {}) == stable)
            )

        i = self._find(lambda r: same(r, True))
        if i is None:
            i = self._find(lambda r: same(r, False))
        what = f"{method} {path}"
        if i is None:
            raise ReplayDiverged(
                f"replay: the run sent {what} {stable}, which the capture has no answer left "
                f"for (next recorded: {_describe(self._next())})"
            )
        self._reserved.add(i)
        await self._until(lambda: self._cursor == i, what)
        self._advance()
        sent = self._blocking[i]["seq"]
        j = self._find(lambda r: r["kind"] in ("http", "http_error") and r.get("sent") == sent)
        if j is None:  # the capture ended while this request was out: it never returns
            await asyncio.Event().wait()
            raise AssertionError("unreachable")
        self._reserved.add(j)
        await self._until(lambda: self._cursor == j, f"the answer to {what}")
        self._advance()
        return self._blocking[j]

    def transport(self) -> httpx.AsyncBaseTransport:
        return _ReplayTransport(self)

    # -- stream --------------------------------------------------------------------------

    async def ws_open(self) -> dict[str, Any]:
        i = self._find(lambda r: r["kind"] == "ws_open")
        if i is None:  # the captured run never connected again: wait to be closed
            await asyncio.Event().wait()
            raise AssertionError("unreachable")
        self._reserved.add(i)
        await self._until(lambda: self._cursor == i, None)
        self._advance()
        return self._blocking[i]

    async def stream_item(self) -> dict[str, Any]:
        def ready() -> bool:
            r = self._next()
            return r is not None and r["kind"] in ("frame", "ws_end")

        await self._until(ready, None)
        record = self._blocking[self._cursor]
        self._advance()
        return record

    def connect(self) -> Connect:
        return lambda url: _ReplayConnection(self)

    # -- clock ---------------------------------------------------------------------------

    def now_ms(self) -> int:
        task = task_name()
        readings = self._clocks.get(task)
        if readings:
            return readings.popleft()
        self.clock_overruns += 1
        last = self._last_ms.get(task, self._first_ms)
        if last is None:
            raise ReplayDiverged("replay: the capture has no clock readings")
        return last

    def clock(self, inner: Clock) -> Clock:
        self._timer = inner
        return self

    async def sleep(self, seconds: float) -> None:
        """The engine's and the adapter's waits run on the run's own clock, as they did
        when the capture was recorded (readings come from the capture, waits do not)."""
        if self._timer is not None:
            await self._timer.sleep(seconds)
        else:
            await asyncio.sleep(seconds)

    def hooks(self) -> ReplaySession:
        return self


class _ReplayTransport(httpx.AsyncBaseTransport):
    def __init__(self, session: ReplaySession) -> None:
        self._session = session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        pairs = parse_qsl(request.url.query.decode("ascii", "replace"), keep_blank_values=True)
        record = await self._session.http(request.method, request.url.path, dict(pairs))
        if record["kind"] == "http_error":
            name = str(record.get("error"))
            cls = getattr(httpx, name, None)
            if not (isinstance(cls, type) and issubclass(cls, httpx.TransportError)):
                cls = httpx.ReadError
            raise cls(f"recorded {name}", request=request)
        body = self._session.capture.body(record)
        headers = list((record.get("headers") or {}).items())
        return answer(request, int(record["status"]), headers, body)


class _ReplayConnection:
    def __init__(self, session: ReplaySession) -> None:
        self._session = session

    async def __aenter__(self) -> _ReplayStream:
        record = await self._session.ws_open()
        error = record.get("error")
        if error:
            status = record.get("status")
            if error == "InvalidStatus" and isinstance(status, int):
                raise websockets.InvalidStatus(Response(status, "recorded", Headers()))
            raise OSError(f"recorded stream refusal ({error})")
        return _ReplayStream(self._session)

    async def __aexit__(self, *exc: Any) -> None:
        return None


class _ReplayStream:
    def __init__(self, session: ReplaySession) -> None:
        self._session = session

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[str | bytes]:
        while True:
            record = await self._session.stream_item()
            if record["kind"] == "ws_end":
                if record.get("error"):
                    raise websockets.ConnectionClosedError(None, None)
                return
            if record.get("undecodable"):
                yield b"\x00recorded undecodable frame"
                continue
            yield self._session.capture.body(record).decode("utf-8")

    async def send(self, text: str) -> None:
        return None

    async def close(self) -> None:
        return None
