"""A driven clock that moves itself only when nothing else can happen.

Loopback tests run a real BingX emulator and a real adapter, each with periodic
waits of their own (pings every few seconds, key expiry, rate-limit spacing,
reconnect delays). Driving all of them by hand would make every test a script
of ``advance`` calls; sleeping in real time makes the suite slow. ``IdleClock``
is a ``SimClock`` that the event loop itself drives, as trio's ``MockClock``
does with its auto-jump: when the loop would block (no callback ready and no
socket readable or writable right now), the clock jumps to its earliest
sleeper's due time and wakes it. Loopback bytes are in the kernel's buffers
as soon as they are written, so a reply in flight always makes a socket ready
and time does not pass under it. The clock never moves on its own wall time,
so every wait in the test is a wait on this clock.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from dita.clock import SimClock

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z: a fixed start, so runs repeat


class IdleClock(SimClock):
    """A SimClock that jumps to its next sleeper whenever the event loop is idle."""

    def __init__(self, start_ms: int = T0) -> None:
        super().__init__(start_ms)
        self.jumps = 0

    def jump_if_due(self) -> bool:
        due = self.next_due_ms()
        if due is None:
            return False
        self.jumps += 1
        self.set(due)
        return True


class _JumpWhenIdle(selectors.BaseSelector):
    """Delegates to the loop's selector; a blocking select that finds nothing ready
    first moves the clock instead of waiting."""

    def __init__(self, inner: selectors.BaseSelector, clock: IdleClock) -> None:
        self.inner = inner
        self.clock = clock

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self.inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self.inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self.inner.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None or timeout > 0:
            ready = self.inner.select(0)
            if ready or self.clock.jump_if_due():
                return ready
        return self.inner.select(timeout)

    def close(self) -> None:
        self.inner.close()

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self.inner.get_key(fileobj)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self.inner.get_map()


@contextmanager
def driving(clock: IdleClock) -> Iterator[IdleClock]:
    """Let the running event loop drive ``clock`` while the block runs."""
    loop = asyncio.get_running_loop()
    inner = loop._selector  # type: ignore[attr-defined]
    loop._selector = _JumpWhenIdle(inner, clock)  # type: ignore[attr-defined]
    try:
        yield clock
    finally:
        loop._selector = inner  # type: ignore[attr-defined]
