"""The wire recorder: a session with BingX, saved as files that become test cases.

``WireRecorder(DIR, ...)`` is a ``tap.Tap``. It writes, in a fresh directory
``DIR`` (mode 0700, every file 0600):

* ``capture.json``: what was captured (format, command, the run's options,
  the venue's base URL, start time);
* ``wire.jsonl``: one JSON line per thing seen, in the order seen, numbered by
  ``seq``: ``http_send`` (a request leaves: method, path, query parameters),
  ``http`` (its answer, ``sent`` naming the request's seq: status, the
  rate-limit headers and where the body is), ``http_error`` (the transport
  error's class instead), ``ws_open`` (the stream URL, or the refusal), ``frame`` (where the
  frame is, or the text of a ``Ping``), ``ws_send``, ``ws_end`` and ``clock``
  (a clock reading, and the asyncio task that took it);
* one payload file per REST answer body and per stream frame,
  ``<seq>-<what>.json``, with a ``<seq>-<what>.source`` sidecar naming where it
  came from and which decoder of ``tests/venues/bingx/test_recorded_corpus.py``
  reads it: the format of ``tests/venues/bingx/recorded/``, so that a payload
  (or the whole capture) dropped into that folder is a test. A body that is not
  a BingX JSON answer is kept as ``<seq>-<what>.raw`` (no sidecar: not a corpus
  case, but replay serves it).

What is removed before anything is written: the request signature (dropped),
the API key header (request headers are not kept), every listen key (in
paths, parameters, bodies and frames: replaced by ``LISTEN_KEY_PLACEHOLDER``,
64 characters like a real one), ``userId`` values, and any occurrence of the
API key or secret themselves.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from dita.files import open_private, write_private
from dita.venues.bingx.venue import (
    BALANCE_V3,
    CONTRACTS,
    LEVERAGE,
    LISTEN_KEY,
    OPEN_ORDERS,
    ORDER,
    POSITIONS,
    SERVER_TIME,
)

FORMAT = 1
DIR_MODE = 0o700
LISTEN_KEY_PLACEHOLDER = "redacted-listen-key-".ljust(64, "0")
REDACTED = "redacted"
WIRE = "wire.jsonl"
META = "capture.json"
DROPPED_PARAMS = ("signature",)
RATE_HEADERS = ("x-ratelimit-requests-remain", "x-ratelimit-requests-expire", "content-type")

_LISTEN_JSON = re.compile(r'("listenKey"\s*:\s*")([^"\\]*)(")')
_LISTEN_QUERY = re.compile(r"(listenKey=)([^&#\s]*)")
_USER_ID = re.compile(r'("userId"\s*:\s*)("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?)')


class CaptureError(ValueError):
    """The capture directory cannot be used (not empty, not a directory)."""


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) for a capture: mode 0700, and empty."""
    if path.exists():
        if not path.is_dir():
            raise CaptureError(f"{path}: not a directory")
        if any(path.iterdir()):
            raise CaptureError(f"{path}: not empty (a capture needs a fresh directory)")
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(path, DIR_MODE)


def decoder_for(method: str, path: str, body: bytes) -> str | None:
    """The corpus decoder that reads this REST answer body, or None (not a corpus case)."""
    if not body.strip():
        return "empty" if path == LISTEN_KEY and method in ("PUT", "DELETE") else None
    try:
        obj = json.loads(body)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    if path == LISTEN_KEY and method == "POST" and "listenKey" in obj:
        return "listen_key"
    if not isinstance(obj.get("code"), int):
        return None
    if obj["code"] != 0:
        return "error"
    data = obj.get("data")
    match (method, path):
        case ("POST", p) if p == ORDER:
            return "place"
        case ("GET" | "DELETE", p) if p == ORDER:
            return "order"
        case ("GET", p) if p == OPEN_ORDERS:
            return "orders"
        case ("GET", p) if p == POSITIONS:
            held = isinstance(data, list) and any(_nonzero(r) for r in data)
            return "positions" if held else "envelope"
        case ("GET", p) if p == BALANCE_V3:
            return "balance_v3"
        case ("GET", p) if p == CONTRACTS:
            return "contracts"
        case ("POST", p) if p == LEVERAGE:
            return "leverage"
        case ("GET", p) if p == SERVER_TIME:
            return "server_time"
    return "envelope"


def _nonzero(row: Any) -> bool:
    if not isinstance(row, dict):
        return False
    try:
        return Decimal(str(row.get("positionAmt") or 0)) != 0
    except ArithmeticError:  # decimal.InvalidOperation: not a number, so no position
        return False


def _slug(method: str, path: str) -> str:
    tail = [p for p in path.split("/") if p and p not in ("openApi", "swap", "v2", "v3")]
    words = "_".join(tail[-2:]) or "root"
    return re.sub(r"[^a-z0-9_]+", "_", f"{method}_{words}".lower())


class Redactor:
    """Removes keys, secrets, listen keys and user ids from text (learning listen keys)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = [s for s in secrets if s]
        self._listen_keys: set[str] = set()

    def learn(self, listen_key: str) -> None:
        if listen_key and listen_key != LISTEN_KEY_PLACEHOLDER:
            self._listen_keys.add(listen_key)

    def text(self, text: str) -> str:
        for m in _LISTEN_JSON.finditer(text):
            self.learn(m.group(2))
        for m in _LISTEN_QUERY.finditer(text):
            self.learn(m.group(2))
        for secret in [*self._secrets, *sorted(self._listen_keys, key=len, reverse=True)]:
            placeholder = LISTEN_KEY_PLACEHOLDER if secret in self._listen_keys else REDACTED
            text = text.replace(secret, placeholder)
        text = _LISTEN_JSON.sub(lambda m: m.group(1) + LISTEN_KEY_PLACEHOLDER + m.group(3), text)
        text = _LISTEN_QUERY.sub(lambda m: m.group(1) + LISTEN_KEY_PLACEHOLDER, text)
        return _USER_ID.sub(
            lambda m: m.group(1) + (f'"{REDACTED}"' if m.group(2).startswith('"') else "0"), text
        )

    def params(self, pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, value in pairs:
            if name in DROPPED_PARAMS:
                continue
            if name == "listenKey":
                self.learn(value)
                value = LISTEN_KEY_PLACEHOLDER
            out[name] = self.text(value)
        return out


class WireRecorder:
    """A ``tap.Tap`` that writes what it sees to a capture directory (see the module doc)."""

    def __init__(
        self,
        directory: Path,
        *,
        secrets: Iterable[str],
        command: str,
        options: Mapping[str, Any],
        rest: str,
        started_ms: int,
    ) -> None:
        make_private_dir(directory)
        self.directory = directory
        self._redact = Redactor(secrets)
        self._seq = 0
        self._sent: dict[int, int] = {}  # id(request) -> seq of its http_send line
        self._rest = rest
        started = datetime.fromtimestamp(started_ms / 1000, tz=UTC).isoformat(timespec="seconds")
        self._label = f"dita wire capture of {rest} ({command}, started {started})"
        meta = {
            "format": FORMAT,
            "command": command,
            "options": dict(options),
            "rest": rest,
            "started_ms": started_ms,
        }
        write_private(directory / META, json.dumps(meta, indent=1, sort_keys=True) + "\n")
        self._wire: IO[str] | None = open_private(directory / WIRE, "w")

    # -- writing -----------------------------------------------------------------

    def close(self) -> None:
        if self._wire is not None:
            self._wire.close()
            self._wire = None

    def __enter__(self) -> WireRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _line(self, kind: str, **fields: Any) -> int:
        self._seq += 1
        if self._wire is not None:
            record = {"seq": self._seq, "kind": kind, **fields}
            self._wire.write(json.dumps(record, sort_keys=True) + "\n")
            self._wire.flush()
        return self._seq

    def _payload(self, what: str, text: str, decoder: str | None, where: str) -> str:
        name = f"{self._seq + 1:06d}-{what}"
        if decoder is None:
            write_private(self.directory / f"{name}.raw", text)
            return f"{name}.raw"
        write_private(self.directory / f"{name}.json", text)
        note = "signature, API key, listen keys and userId removed"
        write_private(
            self.directory / f"{name}.source",
            f"source: {self._label}, seq {self._seq + 1}: {where}\ndecoder: {decoder}\n"
            f"note: {note}\n",
        )
        return f"{name}.json"

    # -- the tap -------------------------------------------------------------------

    def _request(self, request: httpx.Request) -> dict[str, Any]:
        url = request.url
        pairs = parse_qsl(url.query.decode("ascii", "replace"), keep_blank_values=True)
        fields: dict[str, Any] = {
            "method": request.method,
            "path": self._redact.text(url.path),
            "params": self._redact.params(pairs),
        }
        content = request.content
        if content:
            fields["content"] = self._redact.text(content.decode("utf-8", "replace"))
        return fields

    def on_http_send(self, request: httpx.Request) -> None:
        self._sent[id(request)] = self._line("http_send", **self._request(request))

    def on_http(
        self,
        request: httpx.Request,
        response: httpx.Response | None,
        body: bytes,
        error: BaseException | None,
    ) -> None:
        fields = self._request(request)
        fields["sent"] = self._sent.pop(id(request), None)
        if response is None:
            self._line("http_error", error=type(error).__name__, **fields)
            return
        text = self._redact.text(body.decode("utf-8", "replace"))
        method, path = fields["method"], fields["path"]
        headers = {k: v for k, v in response.headers.items() if k.lower() in RATE_HEADERS}
        where = f"{method} {path} (HTTP {response.status_code})"
        file = None
        if text.strip():
            decoder = decoder_for(method, path, text.encode("utf-8"))
            file = self._payload(_slug(method, path), text, decoder, where)
        else:
            if decoder_for(method, path, b"") is not None:
                file = self._payload(_slug(method, path), text, "empty", where)
        self._line(
            "http", status=response.status_code, headers=headers, file=file, **fields,
            body=None if file else text,
        )  # fmt: skip

    def on_ws_open(self, url: str, error: BaseException | None) -> None:
        parts = urlsplit(url)
        for name, value in parse_qsl(parts.query):
            if name == "listenKey":
                self._redact.learn(value)
        fields: dict[str, Any] = {"url": self._redact.text(url)}
        if error is not None:
            fields["error"] = type(error).__name__
            status = getattr(getattr(error, "response", None), "status_code", None)
            if status is not None:
                fields["status"] = status
        self._line("ws_open", **fields)

    def on_frame(self, frame: str | bytes) -> None:
        gz = isinstance(frame, bytes)
        try:
            text = gzip.decompress(frame).decode("utf-8") if isinstance(frame, bytes) else frame
        except (OSError, EOFError, UnicodeDecodeError):
            self._line("frame", gzip=gz, undecodable=True)
            return
        if text in ("Ping", "Pong"):
            self._line("frame", gzip=gz, text=text)
            return
        text = self._redact.text(text)
        try:
            event = json.loads(text)
        except ValueError:
            event = None
        name = event.get("e") if isinstance(event, dict) else None
        snake = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", str(name or "frame")).lower()
        what = "stream_" + re.sub(r"[^a-z0-9_]+", "_", snake)
        decoder = "stream" if isinstance(event, dict) else None
        file = self._payload(what, text, decoder, f"user-data stream frame {name or ''}".strip())
        self._line("frame", gzip=gz, file=file)

    def on_send(self, text: str) -> None:
        self._line("ws_send", text=self._redact.text(text))

    def on_ws_end(self, error: BaseException | None) -> None:
        self._line("ws_end", error=None if error is None else type(error).__name__)

    def on_clock(self, ms: int, task: str) -> None:
        self._line("clock", ms=ms, task=task)

    # -- hooks for a run (tap.WireHooks) ----------------------------------------------

    def hooks(self) -> RecordingHooks:
        return RecordingHooks(self)


class RecordingHooks:
    """``tap.WireHooks`` that record: the real transport, connect and clock, tapped."""

    def __init__(self, recorder: WireRecorder) -> None:
        self.recorder = recorder

    def transport(self) -> httpx.AsyncBaseTransport:
        from dita.venues.bingx.tap import TapTransport

        return TapTransport(self.recorder)

    def connect(self) -> Any:
        from dita.venues.bingx.tap import tap_connect

        return tap_connect(self.recorder)

    def clock(self, inner: Any) -> Any:
        from dita.venues.bingx.tap import TapClock

        return TapClock(inner, self.recorder)
