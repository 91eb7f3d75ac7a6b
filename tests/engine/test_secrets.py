"""A known API secret appears in no log line, journal byte or exception text.

Everything runs for real over loopback: the engine, the BingX adapter, the
emulator, a durable journal, with every logger at DEBUG (httpx, websockets
and aiohttp included, since they log URLs and headers).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from dita.app.runner import sample_data_path
from dita.clock import SimClock
from dita.engine import Engine, EngineSettings
from dita.journal import RunMeta, SqliteJournal
from dita.kernel import Kernel
from dita.marketdata import Bar
from dita.marketdata.csvio import read_bars
from dita.venues.base import VenueError
from dita.venues.bingx import BingxConfig, BingxVenue, Credentials, Endpoints
from dita.venues.bingx_emulator import BingxEmulator
from tests import loopback
from tests.engine.test_engine_bingx import TwoTrades

KEY = "secrets-test-key-4f2a"
SECRET = "S3CRET-d1ta-7b9c0e4f1a2b3c4d5e6f-never-anywhere"


def _all_bytes(path: Path) -> bytes:
    out = b""
    for p in path.parent.iterdir():
        if p.name.startswith(path.name):
            out += p.read_bytes()
    return out


async def test_secret_is_in_no_log_journal_or_exception(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bars = read_bars(sample_data_path(), "BTC-USDT")[:30]
    journal_path = tmp_path / "j.sqlite"
    texts: list[str] = []
    async with BingxEmulator(KEY, SECRET, initial_balance=Decimal(10_000)) as emu:
        await emu.set_price("BTC-USDT", bars[0].open)
        async with loopback.async_client(timeout=httpx.Timeout(5.0, connect=2.0)) as client:
            creds = Credentials(KEY, SECRET)
            texts += [repr(creds), str(creds)]
            venue = BingxVenue(
                client, creds, BingxConfig(endpoints=Endpoints.loopback(emu.port), rate_limits={})
            )
            texts.append(repr(venue))
            inst = (await venue.load_instruments())["BTC-USDT"]
            box: list[Engine] = []

            async def feed() -> AsyncIterator[Bar]:
                for i, bar in enumerate(bars):
                    await box[0].wait_settled(i)
                    for px in (bar.open, bar.low, bar.high, bar.close):
                        await emu.trade("BTC-USDT", px, bar.volume / 4)
                    yield bar

            with SqliteJournal.open(journal_path) as journal:
                engine = Engine(
                    kernel=Kernel(1, [inst], Decimal(10_000)), venue=venue, policy=TwoTrades(),
                    journal=journal, clock=SimClock(),
                    meta=RunMeta(slots=1, instruments=(inst,), initial_capital=Decimal(10_000), venue="bingx"),
                    bars=feed(), settings=EngineSettings(drain_timeout_s=2.0),
                )  # fmt: skip
                box.append(engine)
                stats = await engine.run()
            assert stats.trades == 2  # the run really traded

        # an exception path: the venue refuses our signature (the emulator knows another secret)
        async with loopback.async_client(timeout=httpx.Timeout(5.0, connect=2.0)) as client:
            wrong = BingxVenue(
                client,
                Credentials(KEY, SECRET + "-x"),
                BingxConfig(endpoints=Endpoints.loopback(emu.port)),
            )
            with pytest.raises(VenueError) as err:
                await wrong.start()
            texts += [
                str(err.value),
                repr(err.value),
                "".join(traceback.format_exception(err.value)),
            ]
            await wrong.close()

    assert caplog.records, "nothing was logged at DEBUG: the log check would be vacuous"
    logged = "\n".join(r.getMessage() + repr(r.args) for r in caplog.records)
    assert SECRET not in logged
    assert SECRET not in "\n".join(texts)
    raw = _all_bytes(journal_path)
    assert len(raw) > 10_000  # the journal was written
    assert SECRET.encode() not in raw
    # the key is not a secret, but it has no business in the journal either
    assert KEY.encode() not in raw
