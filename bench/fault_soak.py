"""Fault soak: the real Engine + SqliteJournal + BingxVenue trading against the BingX
emulator in another process, with ordinary faults injected at random, until N orders.

    python bench/fault_soak.py --orders 2000 --fault-rate 0.03 --seed 1

The emulator (``dita.testing.torture.emulator_proc --fault-rate R``) injects each fault kind at
probability R per request (or stream frame) of its kind: HTTP 500 on writes before
execution, HTTP 504 after execution, 100410, HTTP 502 on reads, user-data frames
dropped and duplicated, stream disconnects, fills pushed before the REST answer. A
market mover prints trades so LIMIT orders fill in pieces. The engine runs under
``dita.app.live.supervise`` (the supervision ``dita run --venue bingx`` uses): a failed
engine restarts on the same journal through recovery. Once N orders were placed the
policy winds down, the faults stop, and the run ends flat. Then it prints: orders,
faults by kind, restarts (ok/failed), permanent halts, kernel capital vs the emulator
wallet, positions, venue orders the kernel does not follow, journal replay vs the final
kernel; exit 1 if any of them is off.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from random import Random

import httpx

from dita.app.live import Restart, RestartPolicy, Traded, supervise
from dita.clock import LiveClock
from dita.engine import Engine, EngineSettings
from dita.journal import EngineNote, RecordKind, RunMeta, SqliteJournal
from dita.kernel import Kernel, TradeStage
from dita.marketdata import Bar
from dita.recovery import OnMismatch, ReconcileSettings, RecoveryError, open_journal_for_recovery
from dita.testing.torture.bingx import _Mover, _truth
from dita.testing.torture.checks import check
from dita.testing.torture.policy import TorturePolicy
from dita.venues.bingx import BingxConfig, BingxVenue, Credentials, Endpoints

SYMBOL = "BTC-USDT"


@dataclass
class Soak:
    journal: Path
    port: int
    control: int
    target_orders: int
    size: Decimal
    capital: Decimal
    tick: float
    lives: int = 0
    restarts: list[tuple[Restart, bool]] = field(default_factory=list)
    halted: str = ""
    orders: int = 0
    final_snapshot: dict[str, object] | None = None


def _generation(journal: SqliteJournal) -> int:
    n = 1
    for (seq,) in journal.execute(
        "SELECT seq FROM records WHERE kind = ?", (RecordKind.NOTE.value,)
    ):
        body = journal.get(int(seq)).body
        if isinstance(body, EngineNote) and body.topic == "resume":
            n += 1
    return n


async def life(soak: Soak, key: str, secret: str) -> int:
    """One engine process-lifetime on the journal; returns the orders placed in all."""
    soak.lives += 1
    clock = LiveClock()
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=2.0)) as client:
        bingx = BingxVenue(
            client, Credentials(key, secret),
            BingxConfig(endpoints=Endpoints.loopback(soak.port), rate_limits={}),
        )  # fmt: skip
        inst = (await bingx.load_instruments())[SYMBOL]
        resume_from: int | None = None
        try:
            rec = open_journal_for_recovery(soak.journal)
        except RecoveryError:
            journal = SqliteJournal.open(soak.journal)
            kernel = Kernel(2, [inst], soak.capital)
            closed = 0
        else:
            journal, kernel, resume_from = rec.journal, rec.kernel, rec.last_input_seq
            closed = len(journal.trades())
        policy = TorturePolicy(
            generation=_generation(journal), size=soak.size, closed=closed, stale_bars=6
        )
        meta = RunMeta(
            slots=2, instruments=(inst,), initial_capital=soak.capital,
            policy="dita.testing.torture.policy:TorturePolicy", venue="bingx-emulator",
        )  # fmt: skip
        traded = False

        async def bars() -> AsyncIterator[Bar]:
            nonlocal traded
            while True:
                await asyncio.sleep(soak.tick)
                k = engine.kernel
                soak.orders = engine.stats.orders
                if policy.wind_down_from is None and soak.orders >= soak.target_orders:
                    policy.wind_down_from = clock.now_ms()
                    async with httpx.AsyncClient() as c:  # the faults stop for the wind-down
                        await c.post(f"http://127.0.0.1:{soak.control}/faults?rate=0")
                free = all(
                    k.slot(i).stage in (TradeStage.IDLE, TradeStage.CLOSED)
                    for i in range(k.slot_count)
                )
                if policy.wind_down_from is not None and free and not k.live_orders():
                    return
                r = await client.get(
                    f"http://127.0.0.1:{soak.port}/openApi/swap/v2/quote/price",
                    params={"symbol": SYMBOL},
                )
                price = Decimal(str(r.json(parse_float=Decimal)["data"]["price"]))
                now = clock.now_ms()
                traded = True
                yield Bar(SYMBOL, now, price, price, price, price, Decimal(0), now)

        engine = Engine(
            kernel=kernel, venue=bingx, policy=policy, journal=journal, clock=clock, meta=meta,
            bars=bars(), resume_from=resume_from,
            settings=EngineSettings(
                drain_timeout_s=30.0,
                reconcile=ReconcileSettings(
                    on_mismatch=OnMismatch.HALT, stale_after_s=1.0, working_recheck_s=5.0,
                    check_every_s=0.25, requery_delay_s=0.1, max_rounds=20,
                ),
            ),
        )  # fmt: skip
        try:
            with journal:
                stats = await engine.run()
        except BaseException as e:
            if traded:
                raise Traded(e) from e
            raise
        soak.orders = stats.orders
        soak.final_snapshot = engine.kernel.snapshot()
        return stats.orders


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--orders", type=int, default=2000)
    ap.add_argument("--fault-rate", type=float, default=0.03)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--size", default="0.003")
    ap.add_argument("--tick", type=float, default=0.05, help="seconds between bars")
    ap.add_argument("--restarts", type=int, default=8, help="failed restarts in a row allowed")
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="dita-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    key, secret = f"soak-{secrets.token_hex(6)}", secrets.token_hex(24)
    env = {**os.environ, "BINGX_API_KEY": key, "BINGX_API_SECRET": secret}
    log = (workdir / "emulator.log").open("ab")
    capital = Decimal(10_000)
    emu = subprocess.Popen(
        [sys.executable, "-m", "dita.testing.torture.emulator_proc", "--balance", str(capital),
         "--fault-rate", str(args.fault_rate), "--fault-seed", str(args.seed)],
        env=env, stdout=subprocess.PIPE, stderr=log,
    )  # fmt: skip
    started = time.monotonic()
    try:
        assert emu.stdout is not None
        ports = json.loads(emu.stdout.readline())
        mover = _Mover(ports["control"], Decimal(args.size), Random(args.seed).randrange(1 << 30))
        mover.start()
        soak = Soak(
            workdir / "journal.sqlite", ports["port"], ports["control"], args.orders,
            Decimal(args.size), capital, args.tick,
        )  # fmt: skip

        def on_restart(r: Restart) -> None:
            print(f"restart {r.attempt} after {r.delay_s:.1f}s: {r.cause}", flush=True)
            soak.restarts.append((r, False))

        async def soak_run() -> None:
            policy = RestartPolicy(attempts=args.restarts, first_delay_s=0.2, max_delay_s=5)

            async def one(n: int) -> int:
                return await life(soak, key, secret)

            try:
                await supervise(one, policy, on_restart=on_restart)
            except BaseException as e:  # a permanent halt: the supervisor gave up
                soak.halted = f"{type(e).__name__}: {e}"

        asyncio.run(soak_run())
        mover.halt.set()
        mover.join()
        truth = _truth(ports["control"])
        raw = httpx.get(f"http://127.0.0.1:{ports['control']}/truth", timeout=10).json()
        faults = Counter(raw.get("faults", {}))
        violations = check(soak.journal, truth, expect_flat=not soak.halted)
    finally:
        emu.kill()
        emu.wait()
        log.close()

    from dita.verify import verify_journal

    verified = verify_journal(soak.journal)
    k = verified.kernel
    with SqliteJournal.open(soak.journal, readonly=True, create=False) as j:
        resumes = sum(
            1
            for (seq,) in j.execute(
                "SELECT seq FROM records WHERE kind = ?", (RecordKind.NOTE.value,)
            )
            if getattr(j.get(int(seq)).body, "topic", "") == "resume"
        )
    failed_restarts = max(0, len(soak.restarts) - resumes)
    venue_open = {o.client_order_id for o in truth.orders if o.status.is_live}
    unfollowed = venue_open - {o.client_order_id for o in k.live_orders()}
    pos = {p.asset: (p.side.value, str(p.quantity)) for p in truth.positions}
    print(f"command: python bench/fault_soak.py --orders {args.orders} "
          f"--fault-rate {args.fault_rate} --seed {args.seed} --size {args.size} "
          f"--tick {args.tick} --restarts {args.restarts}")  # fmt: skip
    print(f"journal: {soak.journal}  ({time.monotonic() - started:.0f} s)")
    print(f"orders placed: {soak.orders}")
    print(f"faults injected: {sum(faults.values())}")
    for kind, n in sorted(faults.items()):
        print(f"  {kind}: {n}")
    print(f"restarts: {len(soak.restarts)} ({len(soak.restarts) - failed_restarts} ok, "
          f"{failed_restarts} failed)")  # fmt: skip
    for r, _ in soak.restarts:
        print(f"  after: {r.cause[:160]}")
    print(f"permanent halts: {1 if soak.halted else 0}{'  ' + soak.halted if soak.halted else ''}")
    print(f"kernel capital {k.account.capital} vs emulator wallet {truth.balance.wallet}: "
          f"{'EQUAL' if k.account.capital == truth.balance.wallet else 'DIFFERENT'}")  # fmt: skip
    print(
        f"positions: emulator {pos or 'flat'}; equal: {not any('position' in v for v in violations)}"
    )
    print(f"venue orders the kernel does not follow: {len(unfollowed)}")
    same = soak.final_snapshot is not None and soak.final_snapshot == k.snapshot()
    print(f"journal replay == final kernel: {'yes' if same else 'NO'}")
    for v in violations:
        print(f"VIOLATION {v}")
    ok = same and not violations and not soak.halted and failed_restarts == 0 and not unfollowed
    print("RESULT: " + ("ok" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
