"""`dita status` on a long journal: the whole-journal path against the snapshot-plus-tail view.

Before: open with every record checksummed (verify=full), rebuild the kernel
(replay from its latest snapshot, as the old `dita status` did), read every
note and adjustment, count trades by loading the trade table. After: the
`JournalView` `dita status` uses now (checksum the last commit group, restore
the latest snapshot, re-run the records after it, small indexed queries for
the rest). Both must give the same kernel (checked). Also times the whole
`dita status` command (a fresh process, imports included). Medians of --repeat.

Workload: --bars synthetic BTC-USDT 1m bars through `dita run` (demo policy, sim
venue, journal with synchronous=NORMAL), made once in --dir.

Reproduce:  python bench/status_bench.py                      # 200,000 bars
            python bench/status_bench.py --bars 50000 --dir /tmp
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from dita.app.runner import execute, prepare_sim_run
from dita.journal import Adjustment, EngineNote, RecordKind, SqliteJournal, Synchronous, replay
from dita.marketdata.synthetic import synthetic_bars, write_binance_klines
from dita.serve.view import JournalView


def make(dir_: Path, bars: int) -> Path:
    journal = dir_ / f"status-{bars}.sqlite"
    if journal.exists():
        return journal
    data = dir_ / f"status-{bars}.csv"
    write_binance_klines(data, synthetic_bars("BTC-USDT", bars, 1, Decimal(42000)))
    execute(prepare_sim_run(data=data, journal=journal, synchronous=Synchronous.NORMAL))
    return journal


def whole(journal: Path) -> dict[str, object]:
    with SqliteJournal.open(journal, readonly=True, create=False, verify="full") as j:
        k = replay(j)
        notes = [
            r.body.topic
            for (seq,) in j.execute(
                "SELECT seq FROM records WHERE kind = ?", (RecordKind.NOTE.value,)
            )
            if isinstance((r := j.get(int(seq))).body, EngineNote)
        ]
        adjustments = [
            r.body
            for (seq,) in j.execute(
                "SELECT seq FROM records WHERE kind = ?", (RecordKind.ADJUSTMENT.value,)
            )
            if isinstance((r := j.get(int(seq))).body, Adjustment)
        ]
        assert notes is not None and adjustments is not None
        return {"kernel": k.snapshot(), "trades": len(j.trades())}


def view(journal: Path) -> dict[str, object]:
    with JournalView.open(journal) as v:
        return {"kernel": v.kernel.snapshot(), "trades": v.trades}


def timed(fn: object, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--bars", type=int, default=200_000)
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    dir_ = a.dir or Path(tempfile.mkdtemp(prefix="dita-status-bench-"))
    journal = make(dir_, a.bars)
    with SqliteJournal.open(journal, readonly=True, create=False, verify="tail") as j:
        records = j.last_seq
    t_whole, r_whole = timed(lambda: whole(journal), a.repeat)
    t_view, r_view = timed(lambda: view(journal), a.repeat)
    assert r_whole == r_view, "the two paths disagree"
    cmd = [sys.executable, "-m", "dita.cli", "status", str(journal)]
    t_cli, _ = timed(lambda: subprocess.run(cmd, check=True, capture_output=True), a.repeat)
    print(f"journal: {journal} ({a.bars:,} bars, {records:,} records, "
          f"{journal.stat().st_size / 1e6:.1f} MB)")  # fmt: skip
    print(
        f"whole journal (verify full + replay + every note):  {t_whole:.3f} s  (median of {a.repeat})"
    )
    print(
        f"last snapshot + tail (JournalView):                  {t_view:.3f} s  ({t_whole / t_view:.1f}x faster)"
    )
    print(f"`dita status` command, fresh process:                {t_cli:.3f} s")
    print(f"reproduce: python bench/status_bench.py --bars {a.bars} --dir {dir_}")


if __name__ == "__main__":
    main()
