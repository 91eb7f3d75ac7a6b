"""The engine as the crash-torture harness runs it: a subprocess it can SIGKILL.

``python -m dita.testing.torture.engine_proc --journal J --port P --trades N`` runs the
scripted ``TorturePolicy`` through the real BingX adapter against the emulator
on 127.0.0.1:P until N trades have closed and nothing is live, then exits 0.
If J exists, the run resumes it: the kernel is rebuilt from the journal and
reconciled with the venue before the policy sees a single bar.

``DITA_CRASH_AT=n`` makes the process ``os._exit(86)`` at its n-th crash
point: before and after each journal commit, before and after each submit
and cancel reaches the adapter, and when a venue event arrives (before it is
journaled). The points are numbered from process start, so small n lands in
start-up and reconciliation, larger n in trading.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from dita.clock import LiveClock
from dita.engine import Engine, EngineSettings
from dita.journal import EngineNote, RecordKind, RunMeta, SqliteJournal
from dita.kernel import Kernel, Order, TradeStage, VenueEvent
from dita.marketdata import Bar
from dita.recovery import OnMismatch, ReconcileSettings, RecoveryError, open_journal_for_recovery
from dita.testing.torture.policy import TorturePolicy
from dita.venues.base import BalanceReport, OrderReport, PositionReport, StreamResumed
from dita.venues.bingx import BingxConfig, BingxVenue, Credentials, Endpoints

SYMBOL = "BTC-USDT"
CRASH_EXIT = 86


class CrashPoints:
    def __init__(self, crash_at: int | None) -> None:
        self.n = 0
        self.crash_at = crash_at

    def hit(self, where: str) -> None:
        self.n += 1
        if self.n == self.crash_at:
            sys.stderr.write(f"DITA_CRASH_AT={self.n}: dying at {where}\n")
            sys.stderr.flush()
            os._exit(CRASH_EXIT)


class CrashVenue:
    """The adapter, with crash points around every command and event."""

    def __init__(self, inner: BingxVenue, points: CrashPoints) -> None:
        self.inner = inner
        self.points = points
        self.name = inner.name

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def submit(self, order: Order) -> None:
        self.points.hit(f"before submit {order.client_order_id}")
        await self.inner.submit(order)
        self.points.hit(f"after submit {order.client_order_id}")

    async def cancel(self, order: Order) -> None:
        self.points.hit(f"before cancel {order.client_order_id}")
        await self.inner.cancel(order)
        self.points.hit(f"after cancel {order.client_order_id}")

    async def query_order(self, order: Order) -> OrderReport | None:
        return await self.inner.query_order(order)

    async def open_orders(self) -> list[OrderReport]:
        return await self.inner.open_orders()

    async def positions(self) -> list[PositionReport]:
        return await self.inner.positions()

    async def balance(self) -> BalanceReport:
        return await self.inner.balance()

    def resumptions(self) -> AsyncIterator[StreamResumed]:
        return self.inner.resumptions()

    async def events(self) -> AsyncIterator[VenueEvent]:
        async for ev in self.inner.events():
            self.points.hit(f"event {ev.kind} {ev.client_order_id} before journal")
            yield ev


def _crashing_commit(journal: SqliteJournal, points: CrashPoints) -> None:
    inner: Callable[[], int] = journal.commit

    def commit() -> int:
        points.hit("before journal commit")
        seq = inner()
        points.hit("after journal commit")
        return seq

    journal.commit = commit  # type: ignore[method-assign]


def _generation(journal: SqliteJournal) -> int:
    n = 1
    for (seq,) in journal.execute(
        "SELECT seq FROM records WHERE kind = ?", (RecordKind.NOTE.value,)
    ):
        body = journal.get(int(seq)).body
        if isinstance(body, EngineNote) and body.topic == "resume":
            n += 1
    return n


async def run(args: argparse.Namespace) -> dict[str, Any]:
    crash = os.environ.get("DITA_CRASH_AT")
    points = CrashPoints(int(crash) if crash else None)
    path = Path(args.journal)
    key, secret = os.environ["BINGX_API_KEY"], os.environ["BINGX_API_SECRET"]
    clock = LiveClock()
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=2.0)) as client:
        bingx = BingxVenue(
            client,
            Credentials(key, secret),
            BingxConfig(endpoints=Endpoints.loopback(args.port), rate_limits={}),
        )
        instruments = await bingx.load_instruments()
        inst = instruments[SYMBOL]
        resume_from: int | None = None
        try:
            rec = open_journal_for_recovery(path)
        except RecoveryError:
            journal = SqliteJournal.open(path)  # no journal, or one that never got its run record
            kernel = Kernel(args.slots, [inst], Decimal(args.capital))
            closed = 0
        else:
            journal, kernel, resume_from = rec.journal, rec.kernel, rec.last_input_seq
            closed = len(journal.trades())
        policy = TorturePolicy(
            generation=_generation(journal),
            size=Decimal(args.size),
            max_trades=args.trades,
            closed=closed,
            stale_bars=args.stale_bars,
        )
        _crashing_commit(journal, points)
        meta = RunMeta(
            slots=args.slots,
            instruments=(inst,),
            initial_capital=Decimal(args.capital),
            policy="dita.testing.torture.policy:TorturePolicy",
            venue="bingx-emulator",
        )

        async def bars() -> AsyncIterator[Bar]:
            while True:
                await asyncio.sleep(args.tick)
                free = all(
                    kernel_now().slot(i).stage in (TradeStage.IDLE, TradeStage.CLOSED)
                    for i in range(args.slots)
                )
                if policy.done and free:
                    return
                r = await client.get(
                    f"http://127.0.0.1:{args.port}/openApi/swap/v2/quote/price",
                    params={"symbol": SYMBOL},
                )
                price = Decimal(str(r.json(parse_float=Decimal)["data"]["price"]))
                now = clock.now_ms()
                yield Bar(SYMBOL, now, price, price, price, price, Decimal(0), now)

        engine = Engine(
            kernel=kernel,
            venue=CrashVenue(bingx, points),
            policy=policy,
            journal=journal,
            clock=clock,
            meta=meta,
            bars=bars(),
            resume_from=resume_from,
            settings=EngineSettings(
                drain_timeout_s=args.drain,
                reconcile=ReconcileSettings(
                    on_mismatch=OnMismatch.CONTINUE,
                    stale_after_s=1.0,
                    working_recheck_s=5.0,
                    check_every_s=0.25,
                    requery_delay_s=0.1,
                    max_rounds=20,
                ),
            ),
        )

        def kernel_now() -> Kernel:
            return engine.kernel

        with journal:
            stats = await engine.run()
        return {
            "trades": stats.trades,
            "open_slots": engine.open_slots(),
            "capital": str(engine.kernel.account.capital),
            "crash_points_passed": points.n,
            "reconciliations": [r.summary() for r in engine.reconciliations if r.changed_anything],
        }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--journal", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--trades", type=int, default=6)
    ap.add_argument("--slots", type=int, default=2)
    ap.add_argument("--size", default="0.003")
    ap.add_argument("--capital", default="10000")
    ap.add_argument("--tick", type=float, default=0.05)
    ap.add_argument("--stale-bars", type=int, default=6)
    ap.add_argument("--drain", type=float, default=20.0)
    args = ap.parse_args()
    print(json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
