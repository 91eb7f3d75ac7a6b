"""The progress callbacks behind the bars of `dita replay` and `dita report` move forward to the end."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from dita.app.runner import execute, prepare_sim_run
from dita.journal import SqliteJournal
from dita.marketdata.synthetic import synthetic_bars
from dita.reporting.report import collect
from dita.verify import verify_journal


def test_replay_and_report_progress(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    execute(
        prepare_sim_run(journal=journal), bars=synthetic_bars("BTC-USDT", 8000, 4, Decimal(42000))
    )
    seen: list[tuple[int, int]] = []
    v = verify_journal(journal, progress=lambda done, total: seen.append((done, total)))
    n = v.records
    assert n > 5000 and seen
    assert all(total == 3 * n for _, total in seen)
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[-1] > 2 * n  # into the third pass
    ticks: list[int] = []
    with SqliteJournal.open(journal, readonly=True, create=False) as j:
        collect(j, progress=ticks.append)
    assert ticks == list(range(5000, n + 1, 5000))
