"""Shared pieces of the client matrix: a result table, and a step runner that keeps
going after a failed operation so the table shows every cell.

Every client is pointed at a real ``BingxEmulator`` on 127.0.0.1 and changed in
nothing but its URLs; each test also proves that no request left 127.0.0.1.
"""

from __future__ import annotations

import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

API_KEY = "client-matrix-key-0123456789"
API_SECRET = "client-matrix-secret-9876543210-never-logged"
SYMBOL_ID = "BTC-USDT"


@dataclass
class Matrix:
    client: str
    results: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    async def step(self, name: str, action: Callable[[], Awaitable[Any]]) -> Any:
        try:
            value = await action()
        except Exception as err:  # a failed cell is recorded, the scenario goes on
            self.results[name] = "FAIL"
            self.errors[name] = "".join(traceback.format_exception_only(err)).strip()[:400]
            return None
        self.results[name] = "pass"
        return value

    def table(self) -> str:
        width = max(len(k) for k in self.results)
        lines = [f"{self.client}:"] + [
            f"  {name:<{width}}  {result}" for name, result in self.results.items()
        ]
        lines += [f"  ! {name}: {err}" for name, err in self.errors.items()]
        return "\n".join(lines)

    def check(self) -> None:
        print(self.table())
        assert not self.errors, self.table()


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(what)


class ThreadedEmulator:
    """A ``BingxEmulator`` served from its own event loop on a thread, for synchronous
    clients (and hypothesis tests). ``run(coro_fn)`` runs test control on that loop."""

    def __init__(self, **kwargs: Any) -> None:
        import asyncio
        import threading

        from dita.venues.bingx_emulator import BingxEmulator

        self._loop = asyncio.new_event_loop()
        self.emu = BingxEmulator(API_KEY, API_SECRET, **kwargs)
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> ThreadedEmulator:
        self._thread.start()
        self.run(self.emu.start)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.run(self.emu.close)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()

    def run(self, coro_fn: Callable[[], Awaitable[Any]]) -> Any:
        import asyncio

        async def call() -> Any:
            return await coro_fn()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(10)
