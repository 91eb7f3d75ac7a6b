"""A `dita run --venue bingx` against the loopback emulator, recorded with --record-wire and
played back with --replay-wire: the replayed journal equals the original record for record
(every column of records, trades and trade exits, the engine's timestamps included: they
come from the recorded clock readings; of the meta table all but the file's random
journal_id); an edited recorded fill price changes the replayed journal; a replay with other
run options, or of something that is not a capture, is refused before anything is written;
a replayed run that asks out of turn, or for more than the capture holds, stops naming it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from dita.venues.bingx.replay import ReplayDiverged, ReplaySession, load_capture
from dita.venues.bingx_emulator import BingxEmulator
from dita.verify import verify_journal
from tests.app.test_live_run import KEY, SECRET, _dita, _env, _live_args, emulator

__all__ = ["emulator"]  # the live-run tests' fixture: the emulator with a trade tape

POLICY = "tests.engine.live_policy:EnterThenExit"


def _rows(journal: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    try:
        return {
            table: con.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            for table in ("records", "trades", "trade_exits")
        } | {  # the journal file's own random identity is the one thing that must differ
            "meta": con.execute(
                "SELECT * FROM meta WHERE key != 'journal_id' ORDER BY 1"
            ).fetchall()
        }
    finally:
        con.close()


def _replay_args(capture: Path, journal: Path, bars: int = 4) -> list[str]:
    return [
        "run", "--venue", "bingx", "--replay-wire", str(capture), "--bar-interval-ms", "200",
        "--max-bars", str(bars), "--journal", str(journal), "--policy", POLICY, "--quiet",
    ]  # fmt: skip


async def _record(tmp_path: Path, emu: BingxEmulator) -> tuple[Path, Path]:
    journal = tmp_path / "live" / "journal.sqlite"
    capture = tmp_path / "wire"
    env = _env(BINGX_API_KEY=KEY, BINGX_API_SECRET=SECRET)
    code, _, err = await _dita(
        tmp_path, *_live_args(emu, journal, 4), "--record-wire", str(capture), env=env
    )
    assert code == 0, err
    assert f"wire capture: {capture}" in err
    v = verify_journal(journal)
    assert v.finished and len(v.trades) == 1
    return journal, capture


async def test_a_replayed_capture_reproduces_the_journal_exactly(
    tmp_path: Path, emulator: BingxEmulator
) -> None:
    journal, capture = await _record(tmp_path, emulator)
    requests_before = len(emulator.requests)
    replayed = tmp_path / "replayed" / "journal.sqlite"
    code, out, err = await _dita(tmp_path, *_replay_args(capture, replayed), env=_env())
    assert code == 0, err
    assert "replaying" in err and f"journal: {replayed}" in out
    assert len(emulator.requests) == requests_before  # nothing reached the venue
    original, again = _rows(journal), _rows(replayed)
    assert len(original["records"]) > 10
    first = next(
        (a, b) for a, b in zip(again["records"] + [None], original["records"] + [None], strict=True)
        if a != b
    ) if again != original else None  # fmt: skip
    assert again == original, first
    assert verify_journal(replayed).finished

    # an edited fill price in the capture is what the replayed run journals
    frames = sorted(capture.glob("*-stream_order_trade_update.json"))
    edited = False
    for path in frames:
        event = json.loads(path.read_text())
        if event["o"].get("x") == "TRADE" and not edited:
            old = event["o"]["L"]
            event["o"]["L"] = event["o"]["ap"] = "61234.5"
            path.write_text(json.dumps(event))
            edited = True
    assert edited
    changed = tmp_path / "changed" / "journal.sqlite"
    code, _, err = await _dita(tmp_path, *_replay_args(capture, changed), env=_env())
    assert code == 0, err
    rows = _rows(changed)["records"]
    assert rows != original["records"]
    fills = [r for r in rows if r[1] == "venue_event" and '"FILL"' in r[3]]
    assert any("61234.5" in r[3] for r in fills), fills
    assert not any(old in r[3] and "61234.5" not in r[3] for r in fills[:1])


async def test_a_replay_with_other_options_is_refused_naming_them(
    tmp_path: Path, emulator: BingxEmulator
) -> None:
    _, capture = await _record(tmp_path, emulator)
    replayed = tmp_path / "replayed" / "journal.sqlite"
    args = _replay_args(capture, replayed, bars=3)
    args[args.index("--policy") + 1] = "dita.policies.demo:DemoPolicy"
    code, _, err = await _dita(tmp_path, *args, "--symbol", "ETH-USDT", env=_env())
    assert code == 1
    last = err.splitlines()[-1]
    assert "the capture was made with other run options" in last
    assert "max_bars: captured 4, given 3" in last
    assert f"policy: captured '{POLICY}', given 'dita.policies.demo:DemoPolicy'" in last
    assert "symbol: captured 'BTC-USDT', given 'ETH-USDT'" in last
    assert not replayed.parent.exists()

    # not a capture; a capture named against another venue
    code, _, err = await _dita(tmp_path, *_replay_args(tmp_path, replayed), env=_env())
    assert code == 1 and "not a wire capture (no capture.json)" in err
    code, _, err = await _dita(tmp_path, *_replay_args(capture, replayed), "--testnet", env=_env())
    assert code == 1 and "captured on http://127.0.0.1:" in err
    assert not replayed.parent.exists()


def _capture(tmp_path: Path, records: list[dict[str, Any]]) -> Path:
    (tmp_path / "capture.json").write_text(json.dumps({"format": 1, "command": "run"}))
    lines = [json.dumps({"seq": n, **r}) for n, r in enumerate(records, 1)]
    (tmp_path / "wire.jsonl").write_text("\n".join(lines) + "\n")
    return tmp_path


async def test_a_replay_that_asks_out_of_turn_or_beyond_the_capture_diverges(
    tmp_path: Path,
) -> None:
    def exchange(path: str, sent: int) -> list[dict[str, Any]]:
        return [
            {"kind": "http_send", "method": "GET", "path": path, "params": {}},
            {"kind": "http", "method": "GET", "path": path, "params": {}, "sent": sent,
             "status": 200, "headers": {}, "file": None, "body": json.dumps({"code": 0, "data": path})},
        ]  # fmt: skip

    directory = _capture(tmp_path, exchange("/a", 1) + exchange("/b", 3))
    session = ReplaySession(load_capture(directory), stall_s=0.3)
    async with httpx.AsyncClient(transport=session.transport()) as client:
        with pytest.raises(
            ReplayDiverged, match="asked for GET /b, recorded later than seq 1: GET /a"
        ):
            await client.get("http://venue/b")  # /a comes first, and nobody asks for it
    session = ReplaySession(load_capture(directory), stall_s=0.3)
    async with httpx.AsyncClient(transport=session.transport()) as client:
        assert (await client.get("http://venue/a")).json()["data"] == "/a"
        assert (await client.get("http://venue/b?timestamp=1")).json()["data"] == "/b"
        with pytest.raises(
            ReplayDiverged, match=r"sent GET /a \{\}, which the capture has no answer left for"
        ):
            await client.get("http://venue/a")
    assert session.remaining == 0
