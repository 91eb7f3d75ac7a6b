"""`dita instruments fetch` and `dita data fetch` against the loopback BingX emulator
(real HTTP on 127.0.0.1; the emulator's klines are built from prints at times we set)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from dita.cli import main
from dita.fetch import FetchError, fetch_klines
from dita.marketdata import read_bars
from dita.markets import load_instruments_file
from dita.venues.bingx.bars import KLINES
from dita.venues.bingx_emulator import BingxEmulator
from tests import loopback

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
MIN = 60_000
N = 3000  # minutes of prints: more than two pages of 1440


class Emu:
    """An emulator on its own event loop in a thread, its clock set by the test."""

    def __init__(self) -> None:
        self.now = T0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.emu = BingxEmulator("k", "s", clock=lambda: self.now)
        self.run(self.emu.start())

    def run(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.emu.port}"

    def close(self) -> None:
        self.run(self.emu.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def price(i: int) -> Decimal:
    return Decimal(60000) + Decimal(i % 97) - Decimal(i % 13) * Decimal("0.5")


@pytest.fixture(scope="module")
def emu() -> Iterator[Emu]:
    e = Emu()

    async def prints() -> None:
        for i in range(N):
            e.now = T0 + i * MIN + 1000
            await e.emu.trade("BTC-USDT", price(i), Decimal("0.5"))
            e.now = T0 + i * MIN + 30_000
            await e.emu.trade("BTC-USDT", price(i) + 1, Decimal("0.25"))
        e.now = T0 + N * MIN + 5_000  # the last print's minute has closed

    e.run(prints())
    yield e
    e.close()


def _invoke(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def test_data_fetch_saves_the_emulators_bars_and_then_serves_them_from_the_cache(
    emu: Emu, tmp_path: Path
) -> None:
    out = tmp_path / "BTC-USDT-1m.csv"
    before = emu.emu.request_count("GET", KLINES)
    args = ("data", "fetch", "--symbol", "BTC-USDT", "--interval", "1m",
            "--start", "2024-01-01T00:00:00Z", "--end", str(T0 + N * MIN),
            "--bingx-base-url", emu.url, "--out", str(out))  # fmt: skip
    code, stdout, err = _invoke(*args, "--quiet")
    assert code == 0, err
    assert f"wrote {out}: 3,000 bars (3,000 fetched in 3 requests)" in stdout
    assert emu.emu.request_count("GET", KLINES) - before == 3
    bars = read_bars(out, "BTC-USDT")
    assert [b.ts for b in bars] == [T0 + i * MIN for i in range(N)]
    for i, b in enumerate(bars):
        assert (b.open, b.close, b.high, b.volume) == (price(i), price(i) + 1, price(i) + 1,
                                                       Decimal("0.75"))  # fmt: skip
        assert b.close_ts == b.ts + MIN - 1
    assert (out.stat().st_mode & 0o777) == 0o600
    # Same range again: the cache answers, BingX is not asked.
    code, stdout, _ = _invoke(*args)
    assert code == 0 and stdout.startswith("cached:")
    assert emu.emu.request_count("GET", KLINES) - before == 3
    # The file is a run's data as it stands.
    code, stdout, err = _invoke("run", "--data", str(out), "--no-journal", "--quiet")
    assert code == 0, err
    assert "3,000" in stdout


def test_data_fetch_other_intervals(emu: Emu, tmp_path: Path) -> None:
    out = tmp_path / "btc-5m.csv"
    code, _stdout, err = _invoke("data", "fetch", "--symbol", "BTC-USDT", "--interval", "5m",
                                "--start", str(T0), "--end", str(T0 + 600 * MIN), "--quiet",
                                "--bingx-base-url", emu.url, "--out", str(out))  # fmt: skip
    assert code == 0, err
    bars = read_bars(out, "BTC-USDT")
    assert len(bars) == 120
    assert bars[1].ts - bars[0].ts == 5 * MIN
    assert bars[0].volume == Decimal("3.75") and bars[0].open == price(0)


def test_an_interrupted_fetch_resumes_where_it_stopped(emu: Emu, tmp_path: Path) -> None:
    out = tmp_path / "resumed.csv"
    whole = tmp_path / "whole.csv"

    class Stop(Exception):
        pass

    def stop_after_first_page(done: int, total: int) -> None:
        if done >= 1440:
            raise Stop

    async def fetch(path: Path, progress=None):  # type: ignore[no-untyped-def]
        async with loopback.async_client() as client:
            return await fetch_klines(client, emu.url, symbol="BTC-USDT", interval="1m",
                                      start=T0, end=T0 + N * MIN, out=path,
                                      now_ms=lambda: emu.now, progress=progress)  # fmt: skip

    with pytest.raises(Stop):
        asyncio.run(fetch(out, stop_after_first_page))
    part = out.with_name(out.name + ".part")
    assert part.exists() and not out.exists()
    with part.open("a") as fh:  # the interruption tore the last row
        fh.write("1704153600000,600")
    res = asyncio.run(fetch(out))
    assert (res.fetched, res.requests, res.bars, res.cached) == (N - 1440, 2, N, False)
    asyncio.run(fetch(whole))
    assert out.read_text() == whole.read_text()
    again = asyncio.run(fetch(out))
    assert again.cached and again.requests == 0


def test_data_fetch_refuses_bad_input_in_one_line(emu: Emu, tmp_path: Path) -> None:
    base = ("data", "fetch", "--symbol", "BTC-USDT", "--bingx-base-url", emu.url,
            "--out", str(tmp_path / "x.csv"), "--quiet")  # fmt: skip
    for extra, needle in (
        (("--start", "yesterday", "--end", "2024-01-02"), "--start 'yesterday': expected ISO-8601"),
        (("--start", "2024-01-02", "--end", "2024-01-01"), "--end must be after --start"),
        (("--start", "2024-01-01", "--end", "2024-01-02", "--interval", "7m"), "--interval '7m'"),
    ):
        code, _, err = _invoke(*base, *extra)
        assert code == 1 and needle in err and err.count("\n") == 1, err
    code, _, err = _invoke("data", "fetch", "--symbol", "NOPE-USDT", "--start", "2024-01-01",
                           "--end", "2024-01-02", "--bingx-base-url", emu.url, "--quiet",
                           "--out", str(tmp_path / "n.csv"))  # fmt: skip
    assert code == 1 and "NOPE-USDT" in err
    code, _, err = _invoke(*base[:-3], "--bingx-base-url", "http://example.com:80",
                           "--start", "2024-01-01", "--end", "2024-01-02")  # fmt: skip
    assert code == 1 and "only a loopback emulator" in err
    with pytest.raises(FetchError):
        asyncio.run(_fetch_foreign(emu, tmp_path))


async def _fetch_foreign(emu: Emu, tmp_path: Path) -> None:
    path = tmp_path / "foreign.csv"
    path.write_text("not ours\n")
    async with loopback.async_client() as client:
        await fetch_klines(client, emu.url, symbol="BTC-USDT", interval="1m", start=T0,
                           end=T0 + MIN * 10, out=path, now_ms=lambda: emu.now)  # fmt: skip


def test_instruments_fetch_saves_the_contract_list_for_run_configs(
    emu: Emu, tmp_path: Path
) -> None:
    out = tmp_path / "instruments.toml"
    code, _stdout, err = _invoke("instruments", "fetch", "--bingx-base-url", emu.url, "--out",
                                str(out))  # fmt: skip
    assert code == 0, err
    specs = load_instruments_file(out)
    assert {"BTC-USDT", "ETH-USDT", "TRX-USDT"} <= set(specs)
    trx = specs["TRX-USDT"]
    assert (trx.instrument.tick_size, trx.instrument.step_size) == (Decimal("0.00001"), Decimal(1))
    assert trx.model.maker_fee == Decimal("0.0002") and trx.model.taker_fee == Decimal("0.0005")
    assert (out.stat().st_mode & 0o777) == 0o600
    # A run uses it: TRX has no bundled instrument, the fetched file provides it.
    data = tmp_path / "TRXUSDT-1m.csv"
    from dita.marketdata.synthetic import synthetic_bars, write_binance_klines

    write_binance_klines(data, synthetic_bars("TRX-USDT", 300, 3, Decimal("0.25"),
                                              tick_size=Decimal("0.00001"), step_size=Decimal(1),
                                              mean_volume=Decimal(10**7)))  # fmt: skip
    code, _, err = _invoke("run", "--data", str(data), "--no-journal", "--quiet")
    assert code == 1 and "no instrument for TRX-USDT" in err
    code, _, err = _invoke("run", "--data", str(data), "--instruments", str(out), "--no-journal",
                           "--quiet")  # fmt: skip
    assert code == 0, err
