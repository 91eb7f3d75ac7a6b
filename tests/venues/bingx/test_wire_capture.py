"""The wire recorder against the real adapter and the loopback emulator: every exchange is
written in order, nothing secret reaches a file, files are 0600 in a 0700 directory, and each
payload file is a case of the recorded-payload corpus (its own loader and decoders read it)."""

from __future__ import annotations

import asyncio
import json
import re
import stat
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from dita.kernel.model import EventKind, OrderSide
from dita.venues.bingx import BingxConfig, BingxVenue, Credentials, Endpoints
from dita.venues.bingx.capture import (
    LISTEN_KEY_PLACEHOLDER,
    CaptureError,
    Redactor,
    WireRecorder,
    make_private_dir,
)
from dita.venues.bingx.venue import LISTEN_KEY
from dita.venues.bingx_emulator import BingxEmulator
from tests.idle_clock import IdleClock, driving
from tests.venues.bingx.conftest import API_KEY, API_SECRET, make_order
from tests.venues.bingx.test_recorded_corpus import DECODERS, meta, venue_for

__all__ = ["venue_for"]  # the corpus's fixture, used here as is


async def _record_session(directory: Path) -> tuple[WireRecorder, set[str]]:
    """A short real session (rest, cancel, fill, close, a listen-key renewal), recorded."""
    driven = IdleClock()
    emu = BingxEmulator(API_KEY, API_SECRET, clock=driven.now_ms, sleep=driven.sleep)
    keys: set[str] = set()
    with driving(driven):
        return await _record(directory, emu, driven, keys)


async def _record(
    directory: Path, emu: BingxEmulator, driven: IdleClock, keys: set[str]
) -> tuple[WireRecorder, set[str]]:
    async with emu:
        await emu.set_price("BTC-USDT", Decimal(60000))
        recorder = WireRecorder(
            directory, secrets=(API_KEY, API_SECRET), command="test", options={"symbol": "x"},
            rest=emu.rest_url, started_ms=driven.now_ms(),
        )  # fmt: skip
        hooks = recorder.hooks()
        clock = hooks.clock(driven)
        async with httpx.AsyncClient(transport=hooks.transport()) as client:
            venue = BingxVenue(
                client,
                Credentials(API_KEY, API_SECRET),
                BingxConfig(Endpoints.loopback(emu.port)),
                clock=clock.now_ms,
                sleep=clock.sleep,
                connect=hooks.connect(),
            )
            await venue.start()
            keys |= set(emu.listen_keys)
            events = venue.events()
            resting = make_order("cap-rest-1", price="50000", qty="0.001")
            await venue.submit(resting)
            assert (await asyncio.wait_for(anext(events), 3)).kind is EventKind.ACK
            await venue.query_order(resting)
            await venue.open_orders()
            await venue.cancel(resting)
            assert (await asyncio.wait_for(anext(events), 3)).kind is EventKind.CANCEL_ACK
            await venue.submit(make_order("cap-mkt-1", price=None, qty="0.001"))
            kinds = [(await asyncio.wait_for(anext(events), 3)).kind for _ in range(2)]
            assert kinds == [EventKind.ACK, EventKind.FILL]
            await venue.positions()
            await venue.balance()
            await venue.submit(
                make_order("cap-mkt-2", OrderSide.SELL, price=None, qty="0.001", reduce_only=True)
            )
            await emu.expire_listen_keys()  # a listenKeyExpired frame naming the key
            for _ in range(100):
                if set(emu.listen_keys) - keys and venue.reconnects >= 2:
                    break
                await clock.sleep(0.02)
            keys |= set(emu.listen_keys)
            await venue.close()
        recorder.close()
    return recorder, keys


def _lines(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (directory / "wire.jsonl").read_text().splitlines()]


async def test_nothing_secret_is_written_and_every_file_is_private(tmp_path: Path) -> None:
    directory = tmp_path / "cap"
    _, keys = await _record_session(directory)
    assert len(keys) >= 2  # the first key and the one after the renewal
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = sorted(directory.iterdir())
    assert len(files) > 20
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
        data = path.read_bytes()
        for secret in (API_KEY, API_SECRET, *keys):
            assert secret.encode() not in data, (path.name, secret)
        assert b"signature=" not in data and b'"signature"' not in data, path.name
        assert not re.search(rb"[0-9a-f]{64}", data), path.name  # no HMAC, no real listen key
        assert b'"userId": "' not in data or b'"userId": "redacted"' in data
    lines = _lines(directory)
    assert [r["seq"] for r in lines] == list(range(1, len(lines) + 1))
    kinds = {r["kind"] for r in lines}
    assert {"http", "ws_open", "frame", "clock", "ws_end"} <= kinds
    # the listen key, where it travelled, is the placeholder
    put = [
        r
        for r in lines
        if r["kind"] == "http" and r["path"] == LISTEN_KEY and r["method"] != "POST"
    ]
    assert put and all(r["params"]["listenKey"] == LISTEN_KEY_PLACEHOLDER for r in put)
    opened = [r for r in lines if r["kind"] == "ws_open"]
    assert all(r["url"].endswith("listenKey=" + LISTEN_KEY_PLACEHOLDER) for r in opened)
    assert len(opened) >= 2  # reconnected with the renewed key
    frames = [r for r in lines if r["kind"] == "frame" and r.get("file")]
    expired = [
        json.loads((directory / r["file"]).read_text())
        for r in frames
        if "listen_key_expired" in r["file"]
    ]
    assert expired and expired[0]["listenKey"] == LISTEN_KEY_PLACEHOLDER


async def test_each_payload_is_a_corpus_case(
    tmp_path: Path, venue_for: Callable[[bytes], Any]
) -> None:
    directory = tmp_path / "cap"
    await _record_session(directory)
    payloads = sorted(directory.glob("*.json"))
    payloads = [p for p in payloads if p.name != "capture.json"]
    decoders: dict[str, int] = {}
    for path in payloads:
        m = meta(path)
        assert m["source"].startswith("dita wire capture of http://127.0.0.1:"), path.name
        decoders[m["decoder"]] = decoders.get(m["decoder"], 0) + 1
        raw = path.read_bytes()
        out = await DECODERS[m["decoder"]](await venue_for(raw), raw)
        assert out is not None, path.name
    for needed in ("place", "order", "orders", "positions", "balance_v3", "contracts"):
        assert decoders.get(needed), (needed, decoders)
    assert {"server_time", "listen_key", "empty", "stream"} <= set(decoders)
    # every file a line names exists, and every payload is named by a line
    named = {r["file"] for r in _lines(directory) if r.get("file")}
    assert named == {p.name for p in directory.iterdir() if p.suffix in (".json", ".raw")} - {
        "capture.json"
    }


def test_the_redactor_removes_listen_keys_user_ids_and_signatures() -> None:
    r = Redactor(["K3Y", "S3CRET"])
    key = "a" * 64
    text = r.text('{"listenKey":"' + key + '","userId":"123","x":"K3Y S3CRET"}')
    assert key not in text and "K3Y" not in text and "S3CRET" not in text and '"123"' not in text
    assert r.text(f"wss://h/swap-market?listenKey={key}").endswith(LISTEN_KEY_PLACEHOLDER)
    assert r.text(f"later: {key}") == f"later: {LISTEN_KEY_PLACEHOLDER}"  # learned
    assert r.text('{"userId": 42}') == '{"userId": 0}'
    assert r.params([("signature", "ab"), ("listenKey", "b" * 64), ("symbol", "BTC-USDT")]) == {
        "listenKey": LISTEN_KEY_PLACEHOLDER,
        "symbol": "BTC-USDT",
    }


def test_a_capture_needs_a_fresh_directory(tmp_path: Path) -> None:
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("")
    with pytest.raises(CaptureError, match="not empty"):
        make_private_dir(tmp_path / "used")
    (tmp_path / "file").write_text("")
    with pytest.raises(CaptureError, match="not a directory"):
        make_private_dir(tmp_path / "file")
