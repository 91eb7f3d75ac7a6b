"""Time as an interface.

The kernel never reads a clock; the engine stamps intents with ``Clock.now_ms()``
and waits (retry backoff, re-query delays, the reconciliation watch) with
``Clock.sleep()``. ``LiveClock`` is the only place in dita that reads wall time
or waits on it. ``SimClock`` is moved by its owner: in a simulation, time comes
from the market data (the backtest driver sets it to each bar's close time),
never from the wall, so a run is reproducible to the byte; a ``sleep`` on it
returns when its owner has moved it far enough, so a test drives an hour of
timers in no time at all.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    def now_ms(self) -> int:
        """Epoch milliseconds."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait until ``seconds`` of this clock's time have passed."""
        ...


class LiveClock:
    """Wall-clock time (the only reader of ``time.time`` in dita)."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ClockError(ValueError):
    """A simulated clock was asked to run backwards."""


class SimClock:
    """A manual clock: it reads what its owner last set, and never goes back.

    ``sleep(s)`` returns once the owner moved the clock ``s`` seconds on (rounded up
    to the millisecond), never by itself: in a backtest the bars move it, in a test
    the test does (``advance``, or ``run_for`` to let periodic timers fire on the way).
    """

    def __init__(self, start_ms: int = 0) -> None:
        self._now = start_ms
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []  # (due, n, wake)
        self._n = 0

    def now_ms(self) -> int:
        return self._now

    def set(self, ts_ms: int) -> None:
        """Move to ``ts_ms``; moving backwards is an error (market data went back in time)."""
        if ts_ms < self._now:
            raise ClockError(f"SimClock cannot go back from {self._now} to {ts_ms}")
        self._now = ts_ms
        if self._sleepers:
            self._wake()

    def advance(self, ms: int) -> None:
        if ms < 0:
            raise ClockError(f"SimClock cannot advance by a negative {ms} ms")
        self.set(self._now + ms)

    async def sleep(self, seconds: float) -> None:
        due = self._now + max(0, math.ceil(seconds * 1000))
        if due <= self._now:
            await asyncio.sleep(0)  # a zero wait still lets others run, as asyncio's does
            return
        wake = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (due, self._n, wake))
        self._n += 1
        await wake

    def next_due_ms(self) -> int | None:
        """When the earliest sleeper wakes (None: nobody sleeps on this clock)."""
        while self._sleepers and self._sleepers[0][2].done():  # cancelled meanwhile
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None

    async def run_for(self, ms: int, *, settle: int = 20) -> None:
        """Let ``ms`` of this clock's time pass: stop at each sleeper's due time on the
        way and let the woken tasks run (``settle`` event-loop turns) before going on, so
        a timer that fires every second fires at every second."""
        if ms < 0:
            raise ClockError(f"SimClock cannot run for a negative {ms} ms")
        end = self._now + ms
        while True:
            for _ in range(settle):
                await asyncio.sleep(0)
            due = self.next_due_ms()
            if due is None or due > end:
                break
            self.set(due)
        self.set(end)
        for _ in range(settle):
            await asyncio.sleep(0)

    def _wake(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, wake = heapq.heappop(self._sleepers)
            if not wake.done():
                wake.set_result(None)
