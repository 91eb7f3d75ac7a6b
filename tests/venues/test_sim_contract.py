"""The venue contract (tests/venues/contract.py) run against the simulated venue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import pytest

from dita.kernel.model import Instrument
from dita.marketdata.model import Trade
from dita.venues.sim import FeeSchedule, SimConfig, SimExchange, SimVenue
from tests.venues.contract import VenueContract, VenueHarness

BTC = Instrument("BTC-USDT", Decimal("0.1"), Decimal("0.001"), Decimal("0.002"), Decimal("2"))


@dataclass
class SimHarness:
    venue: SimVenue
    instrument: Instrument
    price: Decimal
    _ts: int = 1_704_067_200_000

    @classmethod
    async def create(cls) -> SimHarness:
        config = SimConfig(
            instruments=(BTC,),
            initial_balance=Decimal(1_000_000),
            participation=Decimal(1),  # the contract: a print fills up to its whole volume
            fees=FeeSchedule(maker=Decimal("0.0002"), taker=Decimal("0.0005")),
            seed=7,
        )
        h = cls(SimVenue(SimExchange(config)), BTC, Decimal("42000.0"))
        await h.venue.start()
        await h.trade(BTC.symbol, h.price, Decimal(1))
        return h

    async def trade(self, symbol: str, price: Decimal, volume: Decimal) -> None:
        self._ts += 1000
        await self.venue.on_trade(Trade(symbol, self._ts, price, volume))


class TestSimVenueContract(VenueContract):
    @pytest.fixture
    async def harness(self) -> AsyncIterator[VenueHarness]:
        h = await SimHarness.create()
        yield h
        await h.venue.close()
