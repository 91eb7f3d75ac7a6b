"""``dita replay``, ``dita status`` and ``dita recover``: commands that read a run's journal."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from dita.cli.base import _fail, main
from dita.journal import JournalError, ReplayMismatch


@main.command()
@click.argument("journal", type=click.Path(path_type=Path))
def replay(journal: Path) -> None:
    """Rebuild the kernel from JOURNAL and check it against every stored outcome and snapshot.

    Also checks the trades table and the capital identity. Prints the run
    summary; exits 1 on any mismatch.
    """
    from dita.reporting.progress import progress_bar
    from dita.reporting.summary import summary_table, symbol_table
    from dita.verify import verify_journal

    console = Console()
    try:
        with progress_bar("replay", None) as tick:
            v = verify_journal(journal, progress=tick)
    except ReplayMismatch as e:
        _fail("replay", f"MISMATCH {e}")
    except JournalError as e:
        _fail("replay", str(e))
    console.print(
        summary_table(v.stats, "dita replay", caption=str(journal), open_slots=v.open_slots)
    )
    if len(v.stats.by_symbol.symbols) > 1:
        console.print(symbol_table(v.stats))
    if v.finished:
        console.print(
            f"[green]OK[/green]: {v.records:,} records replayed; every outcome, every snapshot "
            f"(final included), {len(v.trades)} trade records and the capital identity match"
        )
    else:
        console.print(
            f"[yellow]OK, unfinished run[/yellow]: the run stopped before its end record; "
            f"{v.records:,} committed records replayed, every outcome and snapshot up to there, "
            f"{len(v.trades)} trade records and the capital identity match"
        )


@main.command()
@click.argument("journal", type=click.Path(path_type=Path))
@click.option("--watch", is_flag=True, help="Keep the view open and refresh it as the run goes on.")
@click.option(
    "--interval", type=float, default=1.0, show_default=True, help="Seconds between refreshes."
)
def status(journal: Path, watch: bool, interval: float) -> None:
    """What JOURNAL says the engine owns: slots, live orders, positions, capital.

    Opens the journal read-only, restores the kernel from its last snapshot and
    re-runs only the records after it; never touches the venue and never writes.
    With --watch, applies each newly committed record as it lands (Ctrl-C ends).
    """
    import time

    from rich.live import Live

    from dita.serve.status import render_status
    from dita.serve.view import JournalView

    console = Console()
    try:
        view = JournalView.open(journal)
    except JournalError as e:
        _fail("status", str(e))
    with view:
        if not watch:
            console.print(render_status(view))
            return
        try:
            with Live(render_status(view), console=console, auto_refresh=False) as live:
                while True:
                    time.sleep(interval)
                    if view.poll():
                        live.update(render_status(view), refresh=True)
        except KeyboardInterrupt:
            pass
        except JournalError as e:
            _fail("status", str(e))


@main.command()
@click.argument("journal", type=click.Path(path_type=Path))
@click.option(
    "--endpoint",
    required=True,
    metavar="live|vst|loopback:PORT",
    help="The BingX account the journal traded on (API key and secret from "
    "$BINGX_API_KEY/$BINGX_API_SECRET).",
)
@click.option(
    "--on-mismatch",
    type=click.Choice(["halt", "continue"]),
    default="halt",
    show_default=True,
    help="When the venue's positions (or balance) differ from the journal's: halt = record "
    "the difference and refuse until a human has looked; continue = record it and go on.",
)
@click.option("--check-balance", is_flag=True, help="Also compare the wallet with the capital.")
@click.option(
    "--resolve",
    type=click.Choice(["accept"]),
    default=None,
    help="The way out of a halt, after checking the account: accept = an order the venue "
    "contradicts is cancelled on the venue (if live there) and ended in the journal, fills "
    "already applied kept; position/balance differences are accepted as they are. Each is "
    "journaled as an adjustment; a later, different difference halts again.",
)
def recover(
    journal: Path, endpoint: str, on_mismatch: str, check_balance: bool, resolve: str | None
) -> None:
    """Reconcile JOURNAL with the venue after a crash, before trading again.

    Repairs a torn last record (never durable), rebuilds the kernel, queries
    every order it believes live by client order id, journals what the venue
    says (missed fills as the difference, cancels, rejects), resubmits orders
    the venue never received with the same client order id, re-sends lost
    cancels, and compares positions. Exit 1 if the venue contradicts the
    journal, stays inconclusive, or (with --on-mismatch halt) differs.
    """
    import asyncio
    import os

    import httpx

    from dita.app.resume import reconcile_journal
    from dita.recovery import OnMismatch, ReconcileSettings, RecoveryError
    from dita.venues.base import VenueError
    from dita.venues.bingx import BingxConfig, BingxVenue, Credentials, Endpoints

    if endpoint in ("live", "vst"):
        ends = Endpoints.live() if endpoint == "live" else Endpoints.vst()
    elif endpoint.startswith("loopback:") and endpoint[9:].isdigit():
        ends = Endpoints.loopback(int(endpoint[9:]))
    else:
        _fail("recover", f"--endpoint {endpoint!r}: expected live, vst or loopback:PORT")
    key, secret = os.environ.get("BINGX_API_KEY", ""), os.environ.get("BINGX_API_SECRET", "")
    if not key or not secret:
        _fail("recover", "set BINGX_API_KEY and BINGX_API_SECRET for the account to reconcile")
    settings = ReconcileSettings(
        on_mismatch=OnMismatch(on_mismatch),
        check_balance=check_balance,
        resolve=resolve is not None,
    )

    async def go() -> str:
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=2.0)) as client:
            venue = BingxVenue(client, Credentials(key, secret), BingxConfig(endpoints=ends))
            rec, report = await reconcile_journal(journal, venue, settings)
            lines = [report.summary()]
            if rec.torn is not None:
                lines.insert(0, f"torn tail moved aside: {rec.torn}")
            lines += [f"  resubmitted {c} (same client order id)" for c in report.resubmitted]
            lines += [f"  re-sent cancel of {c}" for c in report.cancels_resent]
            lines += [f"  event {e.event_id}" for e in report.events]
            lines += [f"  adjustment {a.adjustment_id}: {a.reason}" for a in report.adjustments]
            lines += [f"  {n}" for n in report.notes]
            return "\n".join(lines)

    try:
        click.echo(asyncio.run(go()))
    except (JournalError, RecoveryError, VenueError) as e:
        _fail("recover", str(e))
