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


class ServerClock:
    """The venue's time as best we know it: the local clock plus a measured offset.

    ``measure(sent, server, received)`` takes one round trip to the server-time
    endpoint (local ms before sending, the venue's ``serverTime``, local ms after
    the answer) and sets the offset to ``server - midpoint``: the error is at most
    half the round trip. Signing uses ``now()``; a request refused for its
    timestamp (100421, 109400) asks for a new measurement.
    """

    def __init__(self, local: Clock) -> None:
        self._local = local
        self.offset_ms = 0
        self.measured = 0  # how many measurements were taken
        self.last_round_trip_ms: int | None = None

    def local(self) -> int:
        return self._local()

    def now(self) -> int:
        return self._local() + self.offset_ms

    def measure(self, sent_ms: int, server_ms: int, received_ms: int) -> int:
        """Take one measurement; returns the new offset. A round trip that ran backwards
        (the local clock stepped) is refused with ``ValueError``."""
        if received_ms < sent_ms:
            raise ValueError(
                f"local clock went back during a time request ({sent_ms} -> {received_ms})"
            )
        self.offset_ms = server_ms - (sent_ms + received_ms) // 2
        self.last_round_trip_ms = received_ms - sent_ms
        self.measured += 1
        return self.offset_ms
