"""The clocks: a SimClock's timers fire when its owner moves it, never by themselves."""

from __future__ import annotations

import asyncio

import pytest

from dita.clock import Clock, ClockError, LiveClock, SimClock


async def test_a_sleep_on_a_sim_clock_returns_when_the_clock_is_moved_past_it() -> None:
    clock = SimClock(1_000)
    woke: list[int] = []

    async def nap(s: float) -> None:
        await clock.sleep(s)
        woke.append(clock.now_ms())

    tasks = [asyncio.create_task(nap(s)) for s in (2.0, 0.5, 0.0005)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert woke == []  # nobody moved the clock: nobody woke, however long we wait
    assert clock.next_due_ms() == 1_001  # 0.5 ms, rounded up: a timer never fires early
    clock.advance(1)
    await asyncio.sleep(0)
    assert woke == [1_001]
    clock.advance(498)
    await asyncio.sleep(0)
    assert woke == [1_001]  # 1 ms short of the half second
    clock.set(3_000)
    await asyncio.gather(*tasks)
    assert woke == [1_001, 3_000, 3_000]
    assert clock.next_due_ms() is None


async def test_run_for_fires_a_periodic_timer_at_every_period_on_the_way() -> None:
    clock = SimClock(0)
    ticks: list[int] = []

    async def every_second() -> None:
        while True:
            await clock.sleep(1.0)
            ticks.append(clock.now_ms())

    task = asyncio.create_task(every_second())
    await clock.run_for(3_500)
    assert ticks == [1_000, 2_000, 3_000] and clock.now_ms() == 3_500
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert clock.next_due_ms() is None  # a cancelled sleeper is no longer due


async def test_a_zero_sleep_yields_and_a_sim_clock_never_goes_back() -> None:
    clock = SimClock(5)
    await clock.sleep(0)
    assert clock.now_ms() == 5
    with pytest.raises(ClockError, match="cannot go back from 5 to 4"):
        clock.set(4)
    with pytest.raises(ClockError, match="negative"):
        await clock.run_for(-1)


def test_both_clocks_are_clocks() -> None:
    assert isinstance(LiveClock(), Clock) and isinstance(SimClock(), Clock)
