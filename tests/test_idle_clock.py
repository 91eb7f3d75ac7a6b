"""The loop-driven test clock: it moves only when nothing else can run, and then only to
the next sleeper's due time."""

from __future__ import annotations

import asyncio

from tests.idle_clock import T0, IdleClock, driving


async def test_an_hour_on_the_clock_passes_at_once_and_exactly() -> None:
    clock = IdleClock()
    with driving(clock):
        await clock.sleep(3600)
    assert clock.now_ms() == T0 + 3_600_000
    assert clock.jumps == 1


async def test_time_does_not_pass_while_anything_else_can_run() -> None:
    clock = IdleClock()
    seen: list[int] = []

    async def busy() -> None:
        for _ in range(500):
            seen.append(clock.now_ms())
            await asyncio.sleep(0)

    with driving(clock):
        sleeper = asyncio.create_task(clock.sleep(1))
        await busy()
        assert not sleeper.done()
        await sleeper
    assert set(seen) == {T0}
    assert clock.now_ms() == T0 + 1000


async def test_a_reply_in_flight_on_loopback_holds_the_clock() -> None:
    clock = IdleClock()

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    with driving(clock):
        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        timer = asyncio.create_task(clock.sleep(5))
        for _ in range(20):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"ping\n")
            assert await reader.readline() == b"ping\n"
            writer.close()
            await writer.wait_closed()
        assert not timer.done() and clock.now_ms() == T0
        timer.cancel()
        server.close()
        await server.wait_closed()
