"""The one place the BingX adapter and emulator read the wall clock.

Everything else takes a clock as an argument: a callable returning epoch
milliseconds. Tests pass their own.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], int]


def wall_clock_ms() -> int:
    """Epoch milliseconds from the system clock (the default, live clock)."""
    return time.time_ns() // 1_000_000
