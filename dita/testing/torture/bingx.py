"""Crash torture against the BingX emulator: engine and emulator in separate processes.

One scenario: start the emulator process; start the engine process
(``engine_proc``) on a fresh journal; kill it at a random instant, either
exactly (``DITA_CRASH_AT``: it dies at its n-th crash point) or by SIGKILL
after a random delay; restart it on the same journal; repeat; finally let it
finish (every scripted trade closed, nothing live). Meanwhile a market mover
prints trades into the emulator, around the price, in small volumes, so LIMIT
orders fill partly and at different moments, crashed engine or not. Then
``checks.check`` compares the journal with the emulator's own records.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from random import Random

import httpx

from dita.kernel import OrderSide, OrderStatus, OrderType, Side
from dita.testing.torture.checks import VenueTruth, check
from dita.testing.torture.engine_proc import CRASH_EXIT
from dita.venues.base import BalanceReport, OrderReport, PositionReport

BASE_PRICE = Decimal("60000.0")


@dataclass
class Kill:
    how: str  # "crash_at=<n>" or "sigkill@<seconds>"
    outcome: str  # "killed", "crashed", "finished first", "error"


@dataclass
class TortureResult:
    kills: list[Kill] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    scenarios: int = 0
    final_report: dict[str, object] = field(default_factory=dict)
    clean_kills: int = 0  # kills in scenarios that ended without a violation

    @property
    def survived(self) -> int:
        return sum(1 for k in self.kills if k.outcome in ("killed", "crashed"))


class _Proc:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log.open("ab")
        self.p = subprocess.Popen(
            [sys.executable, *args], env=env, stdout=subprocess.PIPE, stderr=self.log
        )

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
        self.p.wait()
        if self.p.stdout is not None:
            self.p.stdout.close()
        self.log.close()


class _Mover(threading.Thread):
    """Prints trades around the price: each LIMIT order fills in several pieces."""

    def __init__(self, control: int, size: Decimal, seed: int) -> None:
        super().__init__(daemon=True)
        self.url = f"http://127.0.0.1:{control}/trade"
        self.size = size
        self.rng = Random(seed)
        self.halt = threading.Event()

    def run(self) -> None:
        offsets = (0, -50, 0, 50)
        with httpx.Client(timeout=5.0) as c:
            i = 0
            while not self.halt.wait(0.03):
                price = BASE_PRICE + offsets[i % 4] + self.rng.randint(-3, 3)
                vol = self.size / 3 if self.rng.random() < 0.7 else self.size / 2
                c.post(
                    self.url,
                    params={"price": str(price), "volume": str(vol.quantize(Decimal("0.0001")))},
                )
                i += 1


def _truth(control: int) -> VenueTruth:
    raw = httpx.get(f"http://127.0.0.1:{control}/truth", timeout=10.0).json()
    orders = [
        OrderReport(
            client_order_id=o["client_order_id"],
            venue_order_id=o["venue_order_id"],
            asset=o["asset"],
            side=OrderSide(o["side"]),
            order_type=OrderType(o["order_type"]),
            quantity=Decimal(o["quantity"]),
            limit_price=None if o["limit_price"] is None else Decimal(o["limit_price"]),
            reduce_only=o["reduce_only"],
            status=OrderStatus(o["status"]),
            cum_qty=Decimal(o["cum_qty"]),
            avg_price=None if o["avg_price"] is None else Decimal(o["avg_price"]),
            fees=Decimal(o["fees"]),
            ts=o["ts"],
        )
        for o in raw["orders"]
    ]
    positions = [
        PositionReport(
            p["asset"], Side(p["side"]), Decimal(p["quantity"]), Decimal(p["entry_price"])
        )
        for p in raw["positions"]
    ]
    b = raw["balance"]
    return VenueTruth(
        orders,
        positions,
        BalanceReport(b["asset"], Decimal(b["wallet"]), Decimal(b["available"])),
        Counter(raw["place_requests"]),
        frozenset(raw.get("placed_after_cancel", ())),
    )


def run_scenario(
    workdir: Path,
    rng: Random,
    kills: int,
    *,
    trades: int = 10,
    size: Decimal = Decimal("0.003"),
    capital: Decimal = Decimal(10_000),
    max_crash_point: int = 300,
    max_delay_s: float = 3.0,
    log: Path | None = None,
    http_faults: float = 0.0,
) -> TortureResult:
    """One journal, one emulator, up to ``kills`` kills, then a clean finish and the checks.

    ``http_faults``: the emulator injects transient faults at this rate per request kind
    while the engine is being killed (5xx before and after execution, 100410, 502 on
    reads, dropped/duplicated frames, disconnects; see ``emulator_proc``), so kills land
    amid cancel-after-failed-submit sequences; the final run goes without faults."""
    workdir.mkdir(parents=True, exist_ok=True)
    journal = workdir / "journal.sqlite"
    log = log or workdir / "processes.log"
    env = {
        **os.environ,
        "BINGX_API_KEY": f"torture-{secrets.token_hex(6)}",
        "BINGX_API_SECRET": secrets.token_hex(24),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DITA_CRASH_AT", None)
    result = TortureResult(scenarios=1)
    emu = _Proc(
        ["-m", "dita.testing.torture.emulator_proc", "--balance", str(capital),
         "--fault-rate", str(http_faults), "--fault-seed", str(rng.randrange(1 << 30))],
        env, log,
    )  # fmt: skip
    mover: _Mover | None = None
    try:
        assert emu.p.stdout is not None
        line = emu.p.stdout.readline()
        if not line:
            result.violations.append(f"emulator did not start (see {log})")
            return result
        ports = json.loads(line)
        mover = _Mover(ports["control"], size, rng.randrange(1 << 30))
        mover.start()
        engine_args = [
            "-m", "dita.testing.torture.engine_proc", "--journal", str(journal),
            "--port", str(ports["port"]), "--trades", str(trades), "--size", str(size),
            "--capital", str(capital),
        ]  # fmt: skip
        while sum(1 for k in result.kills if k.outcome in ("killed", "crashed")) < kills:
            if rng.random() < 0.6:
                n = rng.randint(1, max_crash_point)
                how = f"crash_at={n}"
                proc = _Proc(engine_args, {**env, "DITA_CRASH_AT": str(n)}, log)
                try:
                    rc = proc.p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    rc = None
                proc.kill()
                outcome = {CRASH_EXIT: "crashed", 0: "finished first"}.get(rc, "error")  # type: ignore[arg-type]
            else:
                delay = round(rng.uniform(0.3, max_delay_s), 3)
                how = f"sigkill@{delay}s"
                proc = _Proc(engine_args, env, log)
                try:
                    rc = proc.p.wait(timeout=delay)
                except subprocess.TimeoutExpired:
                    rc = None
                proc.kill()
                outcome = "killed" if rc is None else ("finished first" if rc == 0 else "error")
            result.kills.append(Kill(how, outcome))
            if outcome == "error":
                result.violations.append(
                    f"engine failed (exit {rc}) in the life ended by {how}; see {log}"
                )
            if outcome in ("finished first", "error"):
                break
        if http_faults:
            httpx.post(f"http://127.0.0.1:{ports['control']}/faults?rate=0", timeout=5.0)
        final = _Proc(engine_args, env, log)
        try:
            rc = final.p.wait(timeout=120)
        except subprocess.TimeoutExpired:
            rc = None
        if rc == 0 and final.p.stdout is not None:
            last = final.p.stdout.read().decode().strip().splitlines()
            result.final_report = json.loads(last[-1]) if last else {}
        final.kill()
        if rc != 0:
            result.violations.append(
                f"the final, uninterrupted run did not finish (exit {rc}); see {log}"
            )
        mover.halt.set()
        mover.join()
        result.violations.extend(check(journal, _truth(ports["control"]), expect_flat=rc == 0))
        return result
    finally:
        if mover is not None:
            mover.halt.set()
        emu.kill()


def run_torture(
    workdir: Path,
    *,
    kills: int,
    seed: int,
    kills_per_scenario: int = 5,
    trades: int = 10,
    report: Callable[[str], None] | None = None,
    http_faults: float = 0.0,
) -> TortureResult:
    """Scenarios until ``kills`` kills landed; every violation of every scenario."""
    rng = Random(seed)
    total = TortureResult()
    while total.survived < kills:
        n = min(kills_per_scenario, kills - total.survived)
        r = run_scenario(
            workdir / f"scenario-{total.scenarios + 1}", rng, n, trades=trades,
            http_faults=http_faults,
        )  # fmt: skip
        total.scenarios += 1
        total.kills.extend(r.kills)
        total.violations.extend(f"scenario {total.scenarios}: {v}" for v in r.violations)
        if not r.violations:
            total.clean_kills += r.survived
        if report is not None:
            kinds = ", ".join(f"{k.how} ({k.outcome})" for k in r.kills)
            report(
                f"scenario {total.scenarios}: {kinds or 'no kill'}; {len(r.violations)} violations"
            )
            for v in r.violations:
                report(f"  VIOLATION {v}")
        if r.survived == 0 and any(k.outcome == "error" for k in r.kills):
            break  # the engine fails outright: more scenarios will not tell more
    return total
