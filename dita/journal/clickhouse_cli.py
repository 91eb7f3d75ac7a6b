"""``dita clickhouse init|push|report|export``: the ClickHouse sink from the command line.

Attach to the ``dita`` group with ``main.add_command(clickhouse)``. For
``dita report --clickhouse DSN [--kernel-id ID]`` call ``show_report``.

The DSN comes from ``--dsn`` or ``$DITA_CLICKHOUSE_DSN`` (the password may be
left out of it and given as ``$DITA_CLICKHOUSE_PASSWORD``); it is printed
redacted, never as given.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.table import Table

from dita.journal.errors import JournalError

_DSN_HELP = (
    "ClickHouse DSN, e.g. http://user@host:8123 or chdb:///path/dir [env: DITA_CLICKHOUSE_DSN]"
)
_CENT = Decimal("0.01")


def _fail(command: str, message: str) -> NoReturn:
    click.echo(f"dita clickhouse {command}: error: {message}", err=True)
    sys.exit(1)


def _money(d: Decimal) -> str:
    return f"{d.quantize(_CENT, rounding=ROUND_HALF_EVEN):,}"


def _exact(d: Decimal) -> str:
    """Every digit, without the column's 38 trailing zeros."""
    return f"{d.normalize():f}"


def _warn_secret_dsn(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A password typed into --dsn is visible to every user of the machine (``ps``): say so."""
    from click.core import ParameterSource

    if value and ctx.get_parameter_source("dsn") is ParameterSource.COMMANDLINE:
        from dita.journal.clickhouse import has_secret

        if has_secret(value):
            click.echo(
                "dita clickhouse: warning: --dsn carries a password on the command line, where "
                "other users can read it (ps, shell history); put the DSN in $DITA_CLICKHOUSE_DSN "
                "or leave the password out and set $DITA_CLICKHOUSE_PASSWORD",
                err=True,
            )
    return value


def _dsn_option(f: Any) -> Any:
    return click.option(
        "--dsn",
        envvar="DITA_CLICKHOUSE_DSN",
        default=None,
        help=_DSN_HELP + "; a password belongs in the environment, not on the command line",
        callback=_warn_secret_dsn,
    )(f)


def _database_option(f: Any) -> Any:
    return click.option(
        "--database", default="dita", show_default=True, help="ClickHouse database."
    )(f)


@click.group("clickhouse")
def clickhouse() -> None:
    """Ship journals to ClickHouse and report over a fleet of kernels."""


@clickhouse.command("init")
@_dsn_option
@_database_option
def init_cmd(dsn: str | None, database: str) -> None:
    """Create the database and tables (idempotent; push also does it)."""
    from dita.journal.clickhouse import ClickHouseError, init, redact, resolve_dsn

    try:
        tables = init(dsn, database=database)
        click.echo(f"ready at {redact(resolve_dsn(dsn))}: {', '.join(tables)}")
    except ClickHouseError as e:
        _fail("init", str(e))


@clickhouse.command("push")
@click.argument("journal", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--kernel-id", required=True, help="The name this journal's records carry in ClickHouse."
)
@_dsn_option
@_database_option
@click.option("--batch-size", type=click.IntRange(min=1), default=10_000, show_default=True)
@click.option(
    "--follow",
    is_flag=True,
    help="Keep shipping new commits until interrupted (beside a live engine).",
)
@click.option(
    "--poll",
    type=click.FloatRange(min=0.01),
    default=1.0,
    show_default=True,
    help="Seconds between polls with --follow.",
)
@click.option(
    "--max-attempts",
    type=click.IntRange(min=1),
    default=None,
    help="Give up after N failed attempts in a row (default: retry forever).",
)
def push_cmd(
    journal: Path,
    kernel_id: str,
    dsn: str | None,
    database: str,
    batch_size: int,
    follow: bool,
    poll: float,
    max_attempts: int | None,
) -> None:
    """Backfill JOURNAL into ClickHouse (resuming where ClickHouse says it got to)."""
    from dita.journal.clickhouse import (
        ClickHouseError,
        ClickHouseSink,
        open_journal,
        redact,
        resolve_dsn,
    )

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stopping = threading.Event()
    try:
        target = resolve_dsn(dsn)
        with (
            open_journal(journal) as j,
            ClickHouseSink.from_dsn(
                j, kernel_id, target, database=database, batch_size=batch_size, sleep=stopping.wait
            ) as sink,
        ):
            if follow:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    signal.signal(sig, lambda *_: stopping.set())
                result = sink.follow(stopping.is_set, poll_interval=poll)
            else:
                from dita.reporting.progress import progress_bar

                with progress_bar("push", j.last_seq) as tick:
                    result = sink.catch_up(max_attempts=max_attempts, progress=tick)
    except (ClickHouseError, JournalError, ValueError) as e:
        _fail("push", str(e))
    click.echo(
        f"kernel {result.kernel_id}: records 1..{result.position} are in {redact(target)} "
        f"({result.shipped:,} shipped now, resumed after seq {result.resumed_after}, "
        f"{result.failures} failed attempts retried)"
    )


@clickhouse.command("export")
@click.argument("kernel_id")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@_dsn_option
@_database_option
def export_cmd(kernel_id: str, out: Path, dsn: str | None, database: str) -> None:
    """Rebuild KERNEL_ID's SQLite journal from ClickHouse into OUT (byte for byte)."""
    from dita.journal.clickhouse import ClickHouseError, export_journal

    try:
        last = export_journal(dsn, kernel_id, out, database=database)
    except (ClickHouseError, JournalError) as e:
        _fail("export", str(e))
    click.echo(f"kernel {kernel_id}: records 1..{last} written to {out}")


@clickhouse.command("report")
@_dsn_option
@_database_option
@click.option(
    "--kernel-id", default=None, help="One kernel's run report instead of the fleet summary."
)
def report_cmd(dsn: str | None, database: str, kernel_id: str | None) -> None:
    """The fleet summary (one row per kernel), or one kernel's run report."""
    from dita.journal.clickhouse import ClickHouseError

    try:
        show_report(dsn, kernel_id, database=database)
    except ClickHouseError as e:
        _fail("report", str(e))


def show_report(
    dsn: str | None,
    kernel_id: str | None = None,
    *,
    database: str = "dita",
    console: Console | None = None,
) -> None:
    """Print the fleet summary, or with ``kernel_id`` the same run summary as ``dita replay``."""
    from dita.journal.clickhouse import fleet_report, fleet_totals, redact, resolve_dsn, run_report

    console = console or Console()
    target = resolve_dsn(dsn)
    if kernel_id is not None:
        from dita.reporting.summary import summary_table

        r = run_report(target, kernel_id, database=database, include_equity=False)
        console.print(
            summary_table(
                r.as_run_stats(), f"dita report: kernel {kernel_id}", caption=redact(target),
                open_slots=r.open_slots,
            )
        )  # fmt: skip
        return
    rows = fleet_report(target, database=database)
    total = fleet_totals(target, database=database)
    table = Table(
        title=f"dita fleet: {len(rows)} kernel(s)", caption=redact(target), title_justify="left"
    )
    for name in (
        "kernel",
        "records",
        "trades",
        "wins",
        "realized PnL",
        "fees",
        "funding",
        "capital",
        "open positions",
    ):
        table.add_column(name, justify="left" if name == "kernel" else "right")
    for k in rows:
        table.add_row(
            k.kernel_id, f"{k.records:,}", f"{k.trades:,}", f"{k.wins:,}", _money(k.realized_pnl),
            _money(k.fees), _money(k.funding), _money(k.capital), str(k.open_positions),
        )  # fmt: skip
    table.add_row(
        "total", f"{total.records:,}", f"{total.trades:,}", f"{total.wins:,}", _money(total.realized_pnl),
        _money(total.fees), _money(total.funding), _money(total.capital), str(total.open_positions),
        style="bold",
    )  # fmt: skip
    console.print(table)
    console.print(f"exact fleet capital: {_exact(total.capital)}", soft_wrap=True)
