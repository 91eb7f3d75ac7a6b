"""A loopback BingX USDT-M perpetual swap endpoint for testing, without the internet.

REST under ``http://127.0.0.1:PORT/openApi/...``, the user-data WebSocket at
``ws://127.0.0.1:PORT/swap-market?listenKey=...`` and the public market WebSocket at
``ws://127.0.0.1:PORT/swap-market`` (docs/bingx-emulator.md), speaking BingX's protocol
(signatures, timestamps, error codes, envelopes, 19-digit ids, string
decimals, gzipped frames, Ping/Pong) with fault injection for tests.

The trading behind the protocol, in one-way and in hedge mode, is the sim
matching engine, ``dita.venues.sim.SimExchange``, wrapped by
``sim_engine.SimEngine`` (BingX's parameters, ids, truncation, error codes and
stream frames around it).

In tests::

    async with BingxEmulator(api_key, api_secret) as emu:
        ... emu.rest_url, emu.ws_url, await emu.trade("BTC-USDT", price, volume)

From the command line (``dita emulate bingx``)::

    serve(port=8080, api_key=None, api_secret=None)  # key/secret from BINGX_API_KEY/SECRET
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from decimal import Decimal

from dita.venues.bingx.clock import wall_clock_ms
from dita.venues.bingx_emulator.protocol import (
    DEFAULT_CONTRACTS,
    ApiError,
    ContractSpec,
    Mode,
)
from dita.venues.bingx_emulator.server import BingxEmulator, HttpFault
from dita.venues.bingx_emulator.sim_engine import SimEngine

__all__ = [
    "DEFAULT_CONTRACTS",
    "ApiError",
    "BingxEmulator",
    "ContractSpec",
    "HttpFault",
    "Mode",
    "SimEngine",
    "serve",
    "tape",
    "wall_clock_ms",
]


async def tape(emulator: BingxEmulator, every_s: float, *, seed: int = 7) -> None:
    """Forever: a print on every contract each ``every_s`` seconds, its price a seeded
    random walk of -2..+2 ticks around the last one (volume: 10 minimum quantities)."""
    import random

    rng = random.Random(seed)
    while True:
        for spec in emulator.exchange.contracts:
            last = emulator.exchange.price(spec.symbol)
            price = max(spec.tick, last + spec.tick * rng.randint(-2, 2))
            await emulator.trade(spec.symbol, price, spec.min_qty * 10)
        await asyncio.sleep(every_s)


def serve(
    port: int,
    api_key: str | None = None,
    api_secret: str | None = None,
    *,
    host: str = "127.0.0.1",
    hedge_mode: bool = False,
    initial_balance: Decimal = Decimal(10_000),
    kline_ms: int = 60_000,
    tape_ms: int | None = None,
    seed: int = 7,
) -> None:
    """Run the emulator until interrupted (the ``dita emulate bingx`` entry point).

    ``api_key``/``api_secret`` default to ``BINGX_API_KEY``/``BINGX_API_SECRET``.
    Raises ``ValueError`` if neither is given; never prints the secret.
    ``tape_ms``: print a trade on every contract each ``tape_ms`` ms (``tape``), so
    that klines form and resting orders fill with no market feed attached.
    """
    key = api_key or os.environ.get("BINGX_API_KEY", "")
    secret = api_secret or os.environ.get("BINGX_API_SECRET", "")
    if not key or not secret:
        raise ValueError(
            "BingX emulator needs an API key and secret: pass --api-key/--api-secret "
            "or set BINGX_API_KEY/BINGX_API_SECRET"
        )

    async def run() -> None:
        emulator = BingxEmulator(
            key,
            secret,
            host=host,
            port=port,
            mode=Mode.HEDGE if hedge_mode else Mode.ONE_WAY,
            initial_balance=initial_balance,
            kline_ms=kline_ms,
        )
        async with emulator:
            print(f"BingX emulator: REST {emulator.rest_url}  WS {emulator.ws_url}", flush=True)
            if tape_ms is None:
                await asyncio.Event().wait()
            else:
                await tape(emulator, tape_ms / 1000, seed=seed)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
