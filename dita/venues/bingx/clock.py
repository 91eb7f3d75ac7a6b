"""The clock the BingX adapter and emulator use unless given another.

Everything takes a clock as an argument: a callable returning epoch
milliseconds. The default reads wall time through ``dita.clock.LiveClock``,
the one place in dita that reads it. Tests pass their own.
"""

from __future__ import annotations

from collections.abc import Callable

from dita.clock import LiveClock

Clock = Callable[[], int]

_LIVE = LiveClock()


def wall_clock_ms() -> int:
    """Epoch milliseconds from the system clock (the default, live clock)."""
    return _LIVE.now_ms()
