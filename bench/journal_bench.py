"""SQLite journal throughput: records per second, appended and committed (durable).

Workload: what the engine writes per kernel step, an input (a venue FILL event)
followed by its outcome record (one transition, a ledger delta); records are
built before timing, so the timed part is encode + round-trip check + checksum
+ buffer + commit. ``group`` = records per ``commit()`` (per fsync with FULL).

Reproduce:  .venv/bin/python bench/journal_bench.py
            .venv/bin/python bench/journal_bench.py --records 200000 --dir /path/on/the/real/disk
"""

from __future__ import annotations

import argparse
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from dita.journal import OutcomeRecord, RecordBody, SqliteJournal, Synchronous
from dita.kernel import (
    EventKind,
    KernelDiagnosticCode,
    KernelOutcome,
    LedgerDelta,
    TradeStage,
    Transition,
    VenueEvent,
)

D = Decimal


def workload(n: int) -> list[RecordBody]:
    out: list[RecordBody] = []
    for i in range(n // 2):
        out.append(
            VenueEvent(
                f"ev-{i}", 1_700_000_000_000 + i, EventKind.PARTIAL_FILL,
                client_order_id=f"dt-0123456789-{i // 10}-e-0", venue_order_id=f"v{i // 10}",
                last_qty=D("0.013"), last_price=D("64123.4"), cum_qty=D("0.013") * (i % 10 + 1),
                fee=D("0.00833604"),
            )
        )  # fmt: skip
        out.append(
            OutcomeRecord(
                2 * i + 1,
                KernelOutcome(
                    True, KernelDiagnosticCode.OK, i % 4, TradeStage.ENTRY_WORKING,
                    (Transition(i % 4, TradeStage.ENTRY_WORKING, TradeStage.ENTRY_WORKING, "PARTIAL_FILL"),),
                    ledger=LedgerDelta(fees=D("0.00833604")),
                ),
            )
        )  # fmt: skip
    return out


def run(directory: Path, sync: Synchronous, group: int, n: int, check: bool) -> float:
    bodies = workload(n)
    path = Path(tempfile.mkdtemp(dir=directory)) / "bench.journal"
    with SqliteJournal.open(path, synchronous=sync, check_roundtrip=check) as j:
        t0 = time.perf_counter()
        for i, body in enumerate(bodies, 1):
            j.append(body, ts=i)
            if i % group == 0:
                j.commit()
        j.commit()
        elapsed = time.perf_counter() - t0
        assert j.last_seq == len(bodies)
    return len(bodies) / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--records", type=int, default=100_000, help="records per run (group >= 100)")
    ap.add_argument(
        "--records-fsync", type=int, default=2_000, help="records per run with group 1 and FULL"
    )
    ap.add_argument("--groups", type=int, nargs="+", default=[1, 100, 1000])
    ap.add_argument(
        "--repeat", type=int, default=3, help="runs per configuration (best and median shown)"
    )
    ap.add_argument(
        "--sync", nargs="+", default=["FULL", "OFF"], choices=[s.value for s in Synchronous]
    )
    ap.add_argument(
        "--dir", type=Path, default=None, help="where to write (default: system temp dir)"
    )
    args = ap.parse_args()

    directory = args.dir or Path(tempfile.gettempdir())
    directory.mkdir(parents=True, exist_ok=True)
    fs = subprocess.run(
        ["df", "-T", str(directory)], capture_output=True, text=True
    ).stdout.splitlines()
    print(f"command: {' '.join([sys.executable, *sys.argv])}")
    print(
        f"python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, {platform.machine()}"
    )
    print(
        f"journal directory: {directory} ({fs[-1].split()[1] if len(fs) > 1 else '?'} filesystem)"
    )
    print(f"best of {args.repeat} runs (median in brackets)")
    print(f"{'synchronous':<26}{'group':>6}{'records':>9}{'records/s':>22}{'commits/s':>11}")

    def row(label: str, sync: Synchronous, group: int, n: int, check: bool) -> None:
        rates = sorted(run(directory, sync, group, n, check) for _ in range(args.repeat))
        best, median = rates[-1], statistics.median(rates)
        shown = f"{best:,.0f} ({median:,.0f})"
        print(f"{label:<26}{group:>6}{n:>9}{shown:>22}{best / group:>11,.0f}")

    for sync in (Synchronous(s) for s in args.sync):
        for group in args.groups:
            n = args.records_fsync if (group == 1 and sync is not Synchronous.OFF) else args.records
            row(sync.value, sync, group, max(n - n % 2, 2), True)
    row("OFF, no round-trip check", Synchronous.OFF, 1000, args.records, False)


if __name__ == "__main__":
    main()
