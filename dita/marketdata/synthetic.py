"""Seeded synthetic OHLCV bars: a random walk with volatility clustering and jumps.

``synthetic_bars`` is a lazy iterator, deterministic for a seed on every
platform: the walk is computed in whole ticks and whole volume steps using
only ``random.Random.random()`` (Mersenne Twister, specified bit for bit) and
IEEE-754 ``+ - * /`` and ``sqrt`` (correctly rounded everywhere) -- no
``exp``/``log``/``cos``, whose last bit depends on the C library. Every price
is an integer number of ticks and every volume an integer number of steps,
turned into ``Decimal`` exactly, so bars sit on the instrument grid.

The model, per bar: ``close = open * (1 + sigma_t * z)`` with ``z`` a
unit-variance sum of four uniforms, a 1% chance of a 4x jump (fat tails), and
``sigma_t`` following a GARCH(1,1)-like recursion around ``volatility``
(calm and busy stretches). Wicks extend a random fraction of ``sigma_t``
beyond the body; volume is noisy around ``mean_volume`` and grows with
``|z|``. Open equals the previous close, as on a liquid perpetual.

``write_binance_klines`` writes bars in Binance's futures kline layout (the
extra columns -- quote volume, trade count, taker buy volumes -- are derived
deterministically from the bar, since a ``Bar`` does not carry them).
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Iterator
from decimal import ROUND_DOWN, Decimal
from math import sqrt
from pathlib import Path
from typing import TextIO

from dita.files import open_private
from dita.marketdata.model import Bar

_SQRT3 = 1.7320508075688772
_BINANCE_HEADER = [
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
]


def synthetic_bars(
    symbol: str,
    n: int,
    seed: int,
    start_price: Decimal,
    *,
    tick_size: Decimal = Decimal("0.1"),
    step_size: Decimal = Decimal("0.001"),
    start_ts: int = 1_704_067_200_000,  # 2024-01-01T00:00:00Z
    interval_ms: int = 60_000,
    volatility: float = 0.0008,
    drift: float = 0.0,
    mean_volume: Decimal = Decimal(150),
    jump_probability: float = 0.01,
) -> Iterator[Bar]:
    """Yield ``n`` bars of a seeded random walk starting at ``start_price``.

    ``volatility`` is the typical per-bar standard deviation of returns
    (0.0008 ~ BTC on 1m bars, about 58% a year); ``drift`` a per-bar mean
    return; ``mean_volume`` the typical base-asset volume per bar.
    ``start_price`` is rounded down to the tick.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if tick_size <= 0 or step_size <= 0:
        raise ValueError("tick_size and step_size must be > 0")
    if interval_ms <= 0:
        raise ValueError(f"interval_ms must be > 0, got {interval_ms}")
    if not 0 < volatility < 0.1:
        raise ValueError(f"volatility must be in (0, 0.1), got {volatility}")
    start_ticks = int(start_price // tick_size)
    if start_ticks < 10:
        raise ValueError(f"start_price {start_price} must be at least 10 ticks of {tick_size}")
    if mean_volume <= 0:
        raise ValueError(f"mean_volume must be > 0, got {mean_volume}")
    return _walk(
        symbol, n, seed, start_ticks, tick_size, step_size, start_ts, interval_ms,
        volatility, drift, float(mean_volume / step_size), jump_probability,
    )  # fmt: skip


def _walk(
    symbol: str,
    n: int,
    seed: int,
    price: int,
    tick: Decimal,
    step: Decimal,
    ts: int,
    interval: int,
    vol: float,
    drift: float,
    mean_steps: float,
    jump_p: float,
) -> Iterator[Bar]:
    rand = random.Random(seed).random
    alpha, beta = 0.08, 0.90
    omega = vol * vol * (1.0 - alpha - beta)
    var = vol * vol
    last = interval - 1
    # Jumps (z * 4) would raise E[z^2] to 1 + 15p and make the variance recursion
    # settle above ``vol``; scale them out so ``vol`` stays the long-run level.
    unit = _SQRT3 / sqrt(1.0 + 15.0 * jump_p)
    for _ in range(n):
        sigma = sqrt(var)
        z = (rand() + rand() + rand() + rand() - 2.0) * unit
        if rand() < jump_p:
            z *= 4.0
        r = sigma * z + drift
        o = price
        c = round(o * (1.0 + r))
        c = max(c, 1)
        h = max(o, c) + int(o * sigma * rand() * 0.8)
        lo = max(min(o, c) - int(o * sigma * rand() * 0.8), 1)
        v = int(mean_steps * (0.3 + 1.4 * rand()) * (0.6 + 0.5 * abs(z)))
        yield Bar(symbol, ts, Decimal(o) * tick, Decimal(h) * tick, Decimal(lo) * tick, Decimal(c) * tick,
                  Decimal(v) * step, ts + last)  # fmt: skip
        var = omega + alpha * r * r + beta * var
        price = c
        ts += interval


def write_binance_klines(out: Path | TextIO, bars: Iterable[Bar], *, header: bool = True) -> int:
    """Write bars as a Binance futures kline CSV; returns the number of rows written."""
    if isinstance(out, Path):
        with open_private(out, "w", newline="") as fh:
            return write_binance_klines(fh, bars, header=header)
    w = csv.writer(out, lineterminator="\n")
    if header:
        w.writerow(_BINANCE_HEADER)
    count = 0
    cent = Decimal("0.0001")
    for b in bars:
        typical = (b.open + b.high + b.low + b.close) / 4
        quote = (b.volume * typical).quantize(cent, rounding=ROUND_DOWN)
        # Takers buy more in up bars: 40%..60% of the volume, on the volume's own grid.
        share = (
            Decimal("0.6")
            if b.close > b.open
            else Decimal("0.4")
            if b.close < b.open
            else Decimal("0.5")
        )
        taker = (b.volume * share).quantize(_unit_of(b.volume), rounding=ROUND_DOWN)
        taker_quote = (taker * typical).quantize(cent, rounding=ROUND_DOWN)
        trades = int(b.volume * 12) + 1
        w.writerow(
            [
                b.ts,
                b.open,
                b.high,
                b.low,
                b.close,
                b.volume,
                b.close_ts,
                quote,
                trades,
                taker,
                taker_quote,
                0,
            ]
        )
        count += 1
    return count


def _unit_of(d: Decimal) -> Decimal:
    """One unit in the last place of ``d`` (``0.001`` for ``12.345``)."""
    exponent = d.as_tuple().exponent
    return Decimal(1).scaleb(exponent if isinstance(exponent, int) else 0)
