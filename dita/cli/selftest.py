"""``dita selftest bingx``: the conformance run of ``dita.selftest``, as a command."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from dita.cli.base import bingx_connection


@click.group()
def selftest() -> None:
    """Check dita's adapter against a venue with a short scripted session."""


@selftest.command("bingx")
@click.option("--symbol", default="BTC-USDT", show_default=True, help="Contract to test on.")
@bingx_connection()
@click.option(
    "--record-wire",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    metavar="DIR",
    help="Save every raw REST exchange and stream frame in DIR (signatures, keys, listen keys "
    "and user ids removed), each payload a recorded-payload test case (docs/bingx.md).",
)
@click.option(
    "--no-pacing",
    is_flag=True,
    help="Do not space requests by the adapter's per-endpoint rate limits (an emulator only: "
    "BingX itself would answer 'too many requests').",
)
def selftest_bingx(
    testnet: bool,
    symbol: str,
    bingx_base_url: str | None,
    bingx_credentials: Path | None,
    yes_real_money: bool,
    record_wire: Path | None,
    no_pacing: bool,
) -> None:
    """A scripted session on BingX with the smallest legal orders, resting ones far from the
    market: server time, contracts, balances, position mode and leverage, a resting LIMIT
    (query by client order id, open orders, stream, cancel), a minimum MARKET fill and its
    reduce-only close (fees and position on REST and stream), a price off the tick grid, a
    duplicate client order id, a listen-key refresh; then that the account is flat again.

    Prints one row per check: what the venue answered, what the adapter understood, PASS or
    FAIL. Exits 1 if any check failed. Keys as for `dita run`; nothing secret is printed.
    """
    from rich.console import Console
    from rich.table import Table

    from dita import logs
    from dita.app.live import Network, load_credentials, resolve_target
    from dita.app.runner import RunSetupError
    from dita.selftest import SelfTest
    from dita.venues.base import VenueError

    def fail(message: str) -> None:
        click.echo(f"dita selftest bingx: error: {message}", err=True)
        sys.exit(1)

    recorder = None
    try:
        target = resolve_target(testnet=testnet, base_url=bingx_base_url)
        if target.network is Network.LIVE and not yes_real_money:
            raise RunSetupError(
                f"without --testnet the self-test trades REAL MONEY on {target.endpoints.rest}; "
                "add --yes-real-money if that is what you mean (or --testnet for the demo account)"
            )
        if no_pacing and target.network is not Network.LOOPBACK:
            raise RunSetupError("--no-pacing is for a loopback emulator only")
        creds = load_credentials(bingx_credentials)
        logs.add_secret(creds.api_key)
        logs.add_secret(creds.secret)
        if record_wire is not None:
            from dita.app.wiring import start_recording

            options = {"network": target.network.value, "symbol": symbol, "pacing": not no_pacing}
            recorder = start_recording(
                record_wire, command="selftest", options=options, rest=target.endpoints.rest,
                secrets=[creds.api_key, creds.secret],
            )  # fmt: skip
    except RunSetupError as e:
        fail(str(e))
    if target.network is Network.LIVE:
        click.echo(f"WARNING: self-test with REAL MONEY on {target.endpoints.rest}", err=True)
    test = SelfTest(target.endpoints, creds, symbol, record=recorder, pacing=not no_pacing)
    try:
        checks = asyncio.run(test.run())
    except (VenueError, OSError) as e:
        fail(f"{type(e).__name__}: {e}")
    finally:
        if recorder is not None:
            recorder.close()
    table = Table(title=f"dita selftest bingx ({target.endpoints.rest}, {symbol})")
    for column in ("check", "venue answered", "adapter understood", "result"):
        table.add_column(column, overflow="fold")
    for c in checks:
        result = "PASS" if c.passed else f"FAIL: {c.detail}" if c.detail else "FAIL"
        table.add_row(c.name, c.answered, c.understood, result)
    Console(width=160).print(table)
    failed = [c for c in checks if not c.passed]
    if recorder is not None:
        click.echo(f"wire capture: {record_wire}")
    click.echo(f"{len(checks) - len(failed)}/{len(checks)} checks passed")
    for c in failed:
        click.echo(f"FAIL {c.name}: {c.detail}", err=True)
    if failed:
        sys.exit(1)
