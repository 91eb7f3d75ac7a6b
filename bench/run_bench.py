"""End-to-end throughput of `dita run`: kernel events per second, journal on and off.

Workload: N synthetic BTC-USDT 1m bars (seeded random walk, written once to a
Binance-layout CSV), the demo policy (LIMIT entries inside the market, stale
cancels, two-leg MARKET exits) on 2 slots, the sim venue (participation 1%,
random slippage, funding every 8 h). Each pass is exactly what `dita run
--data FILE` does: validate the whole CSV, then read it again and simulate.

* ``journal FULL``: the durable journal (WAL, synchronous=FULL: one fsync
  per commit group). As in ``dita run`` on the sim venue, a group is 1,000
  bars or 20,000 records (``Durability.GROUPED``; the venue is inside the process, so no
  command leaves it before its input is durable);
* ``journal NORMAL``: WAL with synchronous=NORMAL (survives a process crash,
  may lose the last commits on power loss; no fsync per commit);
* ``no journal``: the same run with the journal off.

``--commit write-ahead`` commits before every command instead (one commit per
bar on which a command goes out, as a live run does), which makes FULL bound
by fsync latency.

"kernel events" = intents + venue events the kernel processed (each one step);
"bars/s" is the market-data rate the whole pipeline sustains. Both passes
must produce the same kernel state (checked).

Reproduce:  .venv/bin/python bench/run_bench.py               # 1,000,000 bars
            .venv/bin/python bench/run_bench.py --bars 100000 --dir /tmp
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from dita.app.runner import DEFAULT_SYMBOL, execute, prepare_sim_run
from dita.engine import Durability
from dita.journal import SqliteJournal, Synchronous
from dita.marketdata.synthetic import synthetic_bars, write_binance_klines


def _pass(
    label: str, data: Path, journal: Path | None, sync: Synchronous, durability: Durability
) -> tuple[dict[str, object], object]:
    t0 = time.perf_counter()
    run = prepare_sim_run(data=data, journal=journal, synchronous=sync, durability=durability)
    t1 = time.perf_counter()
    result = execute(run)
    t2 = time.perf_counter()
    s = result.stats
    records = 0
    commits = 0
    if journal is not None:
        with SqliteJournal.open(journal, readonly=True, create=False, verify="tail") as j:
            records = j.last_seq
            commits = j.execute("SELECT COUNT(*) FROM commits")[0][0]
    run_s = t2 - t1
    row = {
        "pass": label,
        "bars": s.bars,
        "kernel events": s.kernel_events,
        "journal records": records,
        "commits (fsyncs)": commits,
        "validate s": round(t1 - t0, 2),
        "run s": round(run_s, 2),
        "bars/s": round(s.bars / run_s),
        "kernel events/s": round(s.kernel_events / run_s),
        "trades": s.trades,
    }
    return row, result.kernel.snapshot()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--commit", choices=[d.value for d in Durability], default=Durability.GROUPED.value
    )
    ap.add_argument(
        "--dir", type=Path, default=None, help="where the CSV and journal go (default: a temp dir)"
    )
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        data = root / f"synthetic_{args.bars}.csv"
        t = time.perf_counter()
        n = write_binance_klines(
            data, synthetic_bars(DEFAULT_SYMBOL, args.bars, args.seed, Decimal(42_000))
        )
        print(f"wrote {n:,} synthetic bars to {data.name} in {time.perf_counter() - t:.1f}s "
              f"({data.stat().st_size / 1e6:.0f} MB)")  # fmt: skip
        print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cpus")
        rows = []
        snaps = []
        for label, name, sync in (
            ("journal FULL", "full.sqlite", Synchronous.FULL),
            ("journal NORMAL", "normal.sqlite", Synchronous.NORMAL),
            ("no journal", None, Synchronous.FULL),
        ):
            row, snap = _pass(
                label, data, root / name if name else None, sync, Durability(args.commit)
            )
            rows.append(row)
            snaps.append(snap)
            print(row, flush=True)
        assert all(s == snaps[0] for s in snaps), "journal modes ended in different kernel states"

    keys = list(rows[0])
    widths = [
        max(len(k), *(len(f"{r[k]:,}" if isinstance(r[k], int) else str(r[k])) for r in rows))
        for k in keys
    ]
    print()
    print("  ".join(k.rjust(w) for k, w in zip(keys, widths, strict=True)))
    for r in rows:
        print("  ".join((f"{r[k]:,}" if isinstance(r[k], int) else str(r[k])).rjust(w)
                        for k, w in zip(keys, widths, strict=True)))  # fmt: skip


if __name__ == "__main__":
    main()
