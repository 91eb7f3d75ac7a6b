"""``dita report``: one self-contained interactive HTML page of a run, from its journal alone.

The page (``report.html``) has the statistics (defined in docs/report.md),
zoomable charts of the price with every entry, exit and cancelled order, the
equity marked to market and realized, the drawdown, and sortable tables of
the trades, fills, cancels, refusals and the run's parameters. It loads
nothing from the network. The journal is read once, read-only; the market
data file is not needed. Written 0600, like every file dita writes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dita.files import write_private
from dita.journal import SqliteJournal
from dita.reporting.data import ReportData, collect
from dita.reporting.page import render

__all__ = ["ReportData", "collect", "write_report"]


def write_report(
    journal: SqliteJournal,
    out_dir: Path,
    journal_path: Path,
    *,
    progress: Callable[[int], None] | None = None,
) -> Path:
    data = collect(journal, progress=progress)
    out_dir.mkdir(parents=True, exist_ok=True)
    page = out_dir / "report.html"
    write_private(page, render(data, journal_path))
    return page
