"""``dita report`` and ``dita serve``: a journal as HTML files and as a live dashboard."""

from __future__ import annotations

from pathlib import Path

import click

from dita.cli.base import _fail, main
from dita.journal import JournalError


@main.command()
@click.argument("journal", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Directory for report.html. Default: the journal's directory.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def report(journal: Path, out_dir: Path | None, quiet: bool) -> None:
    """Write report.html for JOURNAL: statistics, zoomable price with orders, equity, drawdown,
    trades, fills, refusals and the run's parameters; one file, works offline."""
    from dita.reporting.progress import progress_bar
    from dita.reporting.report import write_report
    from dita.verify import open_journal

    try:
        with open_journal(journal) as j, progress_bar("report", j.last_seq, quiet) as tick:
            page = write_report(j, out_dir or journal.parent, journal, progress=tick)
    except (JournalError, ValueError) as e:
        _fail("report", str(e))
    click.echo(f"wrote {page}")


@main.command()
@click.argument("journals", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--port", type=int, default=8765, show_default=True, help="TCP port on 127.0.0.1.")
@click.option(
    "--interval", type=float, default=0.5, show_default=True, help="Seconds between journal polls."
)
def serve(journals: tuple[Path, ...], port: int, interval: float) -> None:
    """A live dashboard of JOURNALS in the browser, on 127.0.0.1 only.

    Reads each journal read-only while a run writes it: engine state, slots,
    live orders, positions, capital and equity, recent kernel steps and
    refusals, reconciliation notes and halts. Updates arrive as server-sent
    events, from the records committed since the last poll (never a replay
    from the start).
    """
    from dita.serve.server import serve as run_server

    if not 0 < port < 65536:
        _fail("serve", f"--port must be 1..65535, got {port}")
    if interval <= 0:
        _fail("serve", f"--interval must be > 0, got {interval}")
    for j in journals:
        if not j.is_file():
            _fail("serve", f"{j}: no such journal")
    try:
        run_server(list(journals), port=port, interval=interval, print_url=click.echo)
    except OSError as e:
        _fail("serve", f"cannot listen on 127.0.0.1:{port}: {e}")
