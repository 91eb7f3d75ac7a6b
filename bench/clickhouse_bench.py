"""Records per second pushed from a SQLite journal to ClickHouse (the embedded chdb engine).

    python bench/clickhouse_bench.py                      # 1,000,000 records
    python bench/clickhouse_bench.py --records 100000     # a quick run
    python bench/clickhouse_bench.py --dsn http://user@host:8123   # a real server

The journal is a synthetic but real run (``dita.testing.synthetic_journals``:
a kernel against the scripted mock venue), built once and cached under
``--workdir``. The push is a full backfill with the production code path
(``ClickHouseSink.catch_up``): read from SQLite, CRC check, decode, derive
rows, insert into six tables. It prints one line per phase and the rate.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from dita.journal import SqliteJournal
from dita.journal.clickhouse import ClickHouseSink, connect, fleet_report, open_journal, redact
from dita.testing.synthetic_journals import write_journal


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--batch-size", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "dita-clickhouse-bench"
    )
    ap.add_argument(
        "--dsn", default="", help="default: chdb://WORKDIR/ch-N (a fresh embedded engine)"
    )
    args = ap.parse_args(argv)

    args.workdir.mkdir(parents=True, exist_ok=True)
    journal = args.workdir / f"synthetic-{args.records}-s{args.seed}.journal"
    if not journal.exists():
        t0 = time.perf_counter()
        write_journal(journal.with_suffix(".tmp"), records=args.records, seed=args.seed)
        for suffix in ("", "-wal", "-shm"):
            src = Path(f"{journal.with_suffix('.tmp')}{suffix}")
            if src.exists():
                src.rename(f"{journal}{suffix}")
        print(f"built journal {journal} in {time.perf_counter() - t0:.1f}s")
    with SqliteJournal.open(journal, readonly=True, verify="off") as j:
        n = j.last_seq
    dsn = args.dsn
    if not dsn:
        target = args.workdir / f"ch-{args.records}"
        shutil.rmtree(target, ignore_errors=True)
        dsn = f"chdb://{target}"
    print(f"journal: {n:,} records, {journal.stat().st_size / 1e6:.0f} MB; target {redact(dsn)}")

    with open_journal(journal) as j:
        sink = ClickHouseSink(
            j, f"bench-{args.seed}", lambda: connect(dsn), target=dsn, batch_size=args.batch_size
        )
        with sink:
            t0 = time.perf_counter()
            result = sink.catch_up(max_attempts=3)
            elapsed = time.perf_counter() - t0
    assert result.position == n, result
    print(f"pushed {result.shipped:,} records in {elapsed:.1f}s (batch {args.batch_size:,}): "
          f"{result.shipped / elapsed:,.0f} records/s")  # fmt: skip
    t0 = time.perf_counter()
    rows = fleet_report(dsn)
    print(f"fleet report over {rows[0].records:,} records: {time.perf_counter() - t0:.2f}s "
          f"({rows[0].trades:,} trades, capital {rows[0].capital.normalize():f})")  # fmt: skip
    print(
        f"reproduce: python bench/clickhouse_bench.py --records {args.records} --batch-size {args.batch_size}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
