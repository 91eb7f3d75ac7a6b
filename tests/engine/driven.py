"""Driven time for engine tests: nothing here waits on the wall clock."""

from __future__ import annotations

import asyncio

from dita.clock import SimClock


class DrivenSleep:
    """The engine's waits between attempts (``Engine(sleep=...)``): each one is recorded
    and moves the SimClock by its length, at once (so timers due by then fire too)."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(int(seconds * 1000))
        await asyncio.sleep(0)
