"""Time as an interface.

The kernel never reads a clock; the engine stamps intents with ``Clock.now_ms()``.
``LiveClock`` is the only place in dita that reads wall time. ``SimClock`` is
moved by its owner: in a simulation, time comes from the market data (the
backtest driver sets it to each bar's close time), never from the wall, so a
run is reproducible to the byte.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    def now_ms(self) -> int:
        """Epoch milliseconds."""
        ...


class LiveClock:
    """Wall-clock time (the only reader of ``time.time`` in dita)."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ClockError(ValueError):
    """A simulated clock was asked to run backwards."""


class SimClock:
    """A manual clock: it reads what its owner last set, and never goes back."""

    def __init__(self, start_ms: int = 0) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def set(self, ts_ms: int) -> None:
        """Move to ``ts_ms``; moving backwards is an error (market data went back in time)."""
        if ts_ms < self._now:
            raise ClockError(f"SimClock cannot go back from {self._now} to {ts_ms}")
        self._now = ts_ms

    def advance(self, ms: int) -> None:
        if ms < 0:
            raise ClockError(f"SimClock cannot advance by a negative {ms} ms")
        self._now += ms
