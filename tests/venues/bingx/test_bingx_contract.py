"""The venue contract (tests/venues/contract.py) run against BingxVenue talking to the
loopback emulator over real HTTP and WebSocket on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest

from dita.kernel.model import Instrument
from dita.venues.bingx import BingxConfig, BingxVenue, Credentials, Endpoints
from dita.venues.bingx.clock import wall_clock_ms
from dita.venues.bingx_emulator import BingxEmulator, ContractSpec
from dita.venues.bingx_emulator.sim_engine import SimEngine
from tests import loopback
from tests.venues.contract import VenueContract, VenueHarness

KEY, SECRET = "contract-key", "contract-secret"
# The contract needs min quantity > step: BTC-USDT's grid with a 0.001 minimum.
BTC = ContractSpec("BTC-USDT", "BTC", 1, 4, Decimal("0.001"), Decimal(2), Decimal("42000.0"))


@dataclass
class BingxHarness:
    venue: BingxVenue
    instrument: Instrument
    price: Decimal
    emulator: BingxEmulator
    client: httpx.AsyncClient

    async def trade(self, symbol: str, price: Decimal, volume: Decimal) -> None:
        await self.emulator.trade(symbol, price, volume)


class TestBingxVenueContract(VenueContract):
    @pytest.fixture
    async def harness(self) -> AsyncIterator[VenueHarness]:
        # The contract's market model: MARKET orders wait for the next print.
        engine = SimEngine(
            wall_clock_ms, (BTC,), initial_balance=Decimal(1_000_000), immediate_fills=False
        )
        emulator = BingxEmulator(KEY, SECRET, exchange=engine)
        await emulator.start()
        client = loopback.async_client(timeout=httpx.Timeout(5.0, connect=2.0))
        venue = BingxVenue(
            client, Credentials(KEY, SECRET), BingxConfig(Endpoints.loopback(emulator.port))
        )
        await venue.start()
        yield BingxHarness(venue, venue.instruments["BTC-USDT"], BTC.price, emulator, client)
        await venue.close()
        await client.aclose()
        await emulator.close()
