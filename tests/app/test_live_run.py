"""`dita run --venue bingx` end to end against the loopback BingX emulator (never the
internet): live bars from the emulator's klines, orders over real HTTP/WebSocket, a
durable journal that `dita replay` accepts, a restart that resumes through
reconciliation; and every refusal that must happen before anything is written."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from dita.cli import main
from dita.venues.bingx_emulator import BingxEmulator
from dita.verify import verify_journal

KEY = "live-run-key-0123456789"
SECRET = "live-run-secret-MUST-NOT-APPEAR-anywhere-42"
REPO = Path(__file__).resolve().parents[2]
BAR_MS = 200  # the emulator's and the run's "minute"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINGX_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


@pytest.fixture
async def emulator() -> AsyncIterator[BingxEmulator]:
    """The emulator with a tape: a print every 20 ms, so its 200 ms bars keep forming."""
    emu = BingxEmulator(KEY, SECRET, kline_ms=BAR_MS)
    async with emu:
        await emu.set_price("BTC-USDT", Decimal(60000))
        stop = asyncio.Event()

        async def tape() -> None:
            i = 0
            while not stop.is_set():
                i += 1
                px = Decimal(60000) + Decimal(i % 9 - 4) / 10
                await emu.trade("BTC-USDT", px, Decimal("0.5"))
                await asyncio.sleep(0.02)

        task = asyncio.create_task(tape())
        yield emu
        stop.set()
        await task


async def _dita(cwd: Path, *args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dita.cli", *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _live_args(emu: BingxEmulator, journal: Path, bars: int) -> list[str]:
    return [
        "run", "--venue", "bingx", "--bingx-base-url", emu.rest_url,
        "--bar-interval-ms", str(BAR_MS), "--max-bars", str(bars), "--journal", str(journal),
        "--policy", "tests.engine.live_policy:EnterThenExit", "--quiet",
    ]  # fmt: skip


async def test_live_run_on_the_emulator_trades_journals_replays_and_resumes(
    tmp_path: Path, emulator: BingxEmulator
) -> None:
    journal = tmp_path / "live" / "journal.sqlite"
    env = _env(BINGX_API_KEY=KEY, BINGX_API_SECRET=SECRET)
    code, out, err = await _dita(tmp_path, *_live_args(emulator, journal, 6), env=env)
    assert code == 0, err
    assert "journal " in err and "(new)" in err
    assert f"journal: {journal}" in out

    v = verify_journal(journal)
    assert v.finished and v.stats.bars == 6
    assert len(v.trades) == 1  # entered on the first bar, exited once open
    assert emulator.exchange.order_count() == 2
    # the kernel ended flat, as the emulator's own account says
    assert all(
        Decimal(p.get("positionAmt", "0")) == 0 for p in emulator.exchange.positions_data({})
    )

    r = CliRunner().invoke(main, ["replay", str(journal)], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    assert "OK: " in r.stdout

    # continuing keeps the journal's parameters: a different --slots is refused, nothing written
    before = journal.read_bytes()
    code, _, err = await _dita(tmp_path, *_live_args(emulator, journal, 3), "--slots", "3", env=env)
    assert code == 1
    assert err.splitlines()[-1].startswith(
        f"dita run: error: {journal}: continuing a journal keeps its parameters; "
        "drop --slots 3 (the journal's run has 2)"
    )
    assert journal.read_bytes() == before

    # a second start on the same journal continues it through reconciliation
    code, out, err = await _dita(tmp_path, *_live_args(emulator, journal, 3), env=env)
    assert code == 0, err
    assert "resuming" in err
    v = verify_journal(journal)
    assert v.finished and len(v.trades) == 2 and emulator.exchange.order_count() == 4
    r = CliRunner().invoke(main, ["replay", str(journal)], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr

    # the secret is nowhere: output, journal bytes
    assert SECRET not in out + err
    assert SECRET.encode() not in journal.read_bytes()


async def test_a_start_the_venue_refuses_leaves_no_journal_behind(
    tmp_path: Path, emulator: BingxEmulator
) -> None:
    """The user-data stream cannot start (HTTP 401 on the listen key): exit 1 with one
    line, and the fresh journal is gone, so the same --journal works on the next try."""
    emulator.fail_next("/openApi/user/auth/userDataStream", status=401, method="POST")
    journal = tmp_path / "fresh" / "journal.sqlite"
    env = _env(BINGX_API_KEY=KEY, BINGX_API_SECRET=SECRET)
    code, _, err = await _dita(tmp_path, *_live_args(emulator, journal, 2), env=env)
    assert code == 1
    assert err.splitlines()[-1].startswith("dita run: error: ") and "401" in err
    assert not (tmp_path / "fresh").exists()

    code, _, err = await _dita(tmp_path, *_live_args(emulator, journal, 2), env=env)
    assert code == 0, err
    assert verify_journal(journal).finished


async def test_a_killed_live_run_resumes_through_reconciliation(
    tmp_path: Path, emulator: BingxEmulator
) -> None:
    """SIGKILL mid-run (after the entry), then the same command line again: the journal is
    continued after reconciling with the emulator, and replays clean."""
    import signal

    journal = tmp_path / "journal.sqlite"
    env = _env(BINGX_API_KEY=KEY, BINGX_API_SECRET=SECRET)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dita.cli", *_live_args(emulator, journal, 500), cwd=tmp_path,
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(300):  # until the entry order has reached the emulator
            if emulator.exchange.order_count() >= 1:
                break
            await asyncio.sleep(0.05)
        assert emulator.exchange.order_count() >= 1
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()

    code, _, err = await _dita(tmp_path, *_live_args(emulator, journal, 3), env=env)
    assert code == 0, err
    assert "resuming" in err
    v = verify_journal(journal)
    assert v.finished
    r = CliRunner().invoke(main, ["replay", str(journal)], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr


async def test_a_fresh_run_refuses_an_account_that_is_not_flat(
    tmp_path: Path, emulator: BingxEmulator
) -> None:
    """Someone else's position on the symbol (in one-way mode our reduce-only exits would
    act on it): refused before the journal exists."""
    emulator.exchange.place(
        {"symbol": "BTC-USDT", "side": "BUY", "positionSide": "BOTH", "type": "MARKET",
         "quantity": "0.002"}
    )  # fmt: skip
    journal = tmp_path / "journal.sqlite"
    env = _env(BINGX_API_KEY=KEY, BINGX_API_SECRET=SECRET)
    code, _, err = await _dita(tmp_path, *_live_args(emulator, journal, 2), env=env)
    assert code == 1
    assert err.splitlines()[-1] == (
        f"dita run: error: the account already has LONG 0.002 on BTC-USDT at {emulator.rest_url}; "
        "a fresh run starts flat: close them, or continue the journal that opened them "
        "(--journal PATH)"
    )
    assert not journal.exists()


# --------------------------------------------------------------------------- refusals


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for var in ("BINGX_API_KEY", "BINGX_API_SECRET"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    r = CliRunner().invoke(
        main, ["run", "--venue", "bingx", *args], env=env, catch_exceptions=False
    )
    return r.exit_code, r.stderr


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ["--testnet", "--max-bars", "3", "--journal", "j.sqlite"],
            {},
            "dita run: error: BingX credentials: environment variable(s) "
            "['BINGX_API_KEY', 'BINGX_API_SECRET'] not set (or pass --bingx-credentials FILE)",
        ),
        (
            ["--testnet", "--max-bars", "3"],
            {"BINGX_API_KEY": "k"},
            "dita run: error: BingX credentials: environment variable(s) ['BINGX_API_SECRET'] not set",
        ),
        (
            ["--testnet", "--max-bars", "3", "--bingx-credentials", "nope.json"],
            {},
            "dita run: error: BingX credentials: cannot read nope.json",
        ),
        (
            ["--max-bars", "3", "--journal", "j.sqlite"],
            {"BINGX_API_KEY": "k", "BINGX_API_SECRET": "s"},
            "dita run: error: --venue bingx without --testnet trades REAL MONEY on "
            "https://open-api.bingx.com; add --yes-real-money",
        ),
        (
            ["--bingx-base-url", "https://open-api.bingx.com", "--max-bars", "3"],
            {"BINGX_API_KEY": "k", "BINGX_API_SECRET": "s"},
            "only a loopback emulator is accepted",
        ),
        (
            ["--bingx-base-url", "http://10.0.0.5:8080", "--max-bars", "3"],
            {"BINGX_API_KEY": "k", "BINGX_API_SECRET": "s"},
            "only a loopback emulator is accepted",
        ),
        (
            ["--bingx-base-url", "http://127.0.0.1.evil.example:80", "--max-bars", "3"],
            {"BINGX_API_KEY": "k", "BINGX_API_SECRET": "s"},
            "only a loopback emulator is accepted",
        ),
        (
            ["--testnet", "--journal", "j.sqlite"],
            {"BINGX_API_KEY": "k", "BINGX_API_SECRET": "s"},
            "needs an explicit end: --max-bars N and/or --duration SECONDS",
        ),
        (
            ["--testnet", "--max-bars", "3", "--sync", "OFF"],
            {"BINGX_API_KEY": "k", "BINGX_API_SECRET": "s"},
            "--sync FULL only",
        ),
        (
            ["--testnet", "--max-bars", "3", "--bar-interval-ms", "100"],
            {"BINGX_API_KEY": "k", "BINGX_API_SECRET": "s"},
            "--bar-interval-ms is for a loopback emulator only",
        ),
    ],
)
def test_refused_before_anything_is_written_or_sent(
    cwd: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    code, err = _run(*args, env=env)
    assert code == 1
    assert err.startswith("dita run: error: ") and message in err, err
    assert len(err.strip().splitlines()) == 1
    assert _tree(cwd) == []
    assert "s" not in env or f"={env['BINGX_API_SECRET']}" not in err


def test_live_only_options_are_refused_on_the_simulated_venues(cwd: Path) -> None:
    r = CliRunner().invoke(main, ["run", "--max-bars", "3"], catch_exceptions=False)
    assert r.exit_code == 1
    assert r.stderr == "dita run: error: --max-bars is for --venue bingx only\n"
    assert _tree(cwd) == []


def test_real_money_warning_comes_before_any_request(cwd: Path) -> None:
    """With --yes-real-money on the live endpoints, the loud warning is the first line, before
    any request. The test must not reach BingX: HTTPS goes through a "proxy" on 127.0.0.1 that
    records the CONNECT line and hangs up, so the run fails to connect and writes nothing."""
    import socket
    import threading

    seen: list[bytes] = []
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    done = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not done.is_set():
            with contextlib.suppress(OSError):
                conn, _ = server.accept()
                with conn:
                    seen.append(conn.recv(4096).split(b"\r\n")[0])

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    proxy = f"http://127.0.0.1:{port}"
    env = {
        "BINGX_API_KEY": "k", "BINGX_API_SECRET": "s", "HTTPS_PROXY": proxy, "https_proxy": proxy,
        "ALL_PROXY": proxy, "all_proxy": proxy, "NO_PROXY": "", "no_proxy": "",
    }  # fmt: skip
    try:
        # (each failed connect is a recoverable failure: the restarts run too, without the
        # 1 + 2 + 4 + 8 + 16 s of waiting between them)
        code, err = _run("--yes-real-money", "--max-bars", "1", "--journal", "j.sqlite",
                         "--restart-delay", "0", env=env)  # fmt: skip
    finally:
        done.set()
        t.join(5)
        server.close()
    assert code == 1
    lines = err.splitlines()
    assert lines[0].startswith(
        "WARNING: LIVE TRADING WITH REAL MONEY on https://open-api.bingx.com"
    )
    assert lines[-1].startswith("dita run: error: GET /openApi/swap/v2/quote/contracts:")
    assert seen and seen[0] == b"CONNECT open-api.bingx.com:443 HTTP/1.1"
    assert _tree(cwd) == []


def test_endpoints_of_each_network() -> None:
    from dita.app.live import Network, Target, resolve_target
    from dita.venues.bingx import Endpoints

    assert resolve_target(testnet=False, base_url=None) == Target(Network.LIVE, Endpoints.live())
    assert resolve_target(testnet=True, base_url=None) == Target(Network.VST, Endpoints.vst())
    loop = resolve_target(testnet=False, base_url="http://localhost:8123/")
    assert loop == Target(Network.LOOPBACK, Endpoints.loopback(8123, "localhost"))
