"""``dita emulate bingx``: the loopback BingX emulator as a command."""

from __future__ import annotations

from decimal import Decimal

import click

from dita.cli.base import DECIMAL, _fail, main


def _warn_secret_argument(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> str | None:
    """A secret typed on the command line is visible to every user (ps, shell history)."""
    if value:
        click.echo(
            f"dita: warning: {param.opts[0]} on the command line is visible to other users "
            "(ps, shell history); set it in the environment instead ($BINGX_API_SECRET)",
            err=True,
        )
    return value


@main.group()
def emulate() -> None:
    """Run a loopback emulator of a venue's wire protocol (for testing adapters offline)."""


@emulate.command("bingx")
@click.option("--port", type=int, default=8080, show_default=True, help="TCP port on 127.0.0.1.")
@click.option("--api-key", default=None, help="API key clients must use (default: $BINGX_API_KEY).")
@click.option(
    "--api-secret",
    default=None,
    callback=_warn_secret_argument,
    help="API secret (default: $BINGX_API_SECRET, the way to give it: on the command line "
    "it shows in ps). Never printed.",
)
@click.option("--hedge-mode", is_flag=True, help="Emulate hedge (two-way) position mode.")
@click.option(
    "--balance",
    type=DECIMAL,
    default=Decimal(10_000),
    show_default=True,
    help="Initial USDT balance.",
)
@click.option(
    "--tape-ms",
    type=click.IntRange(min=1),
    default=None,
    help="Print a synthetic trade on every contract each N ms (seeded random walk), so klines "
    "form and orders fill with no market feed.",
)
@click.option(
    "--kline-ms",
    type=click.IntRange(min=10),
    default=60_000,
    hidden=True,  # tests and demos: a shorter "1m" kline (pair with dita run --bar-interval-ms)
)
def emulate_bingx(
    port: int,
    api_key: str | None,
    api_secret: str | None,
    hedge_mode: bool,
    balance: Decimal,
    tape_ms: int | None = None,
    kline_ms: int = 60_000,
) -> None:
    """Serve BingX's perpetual-swap REST, user-data and market WebSockets on 127.0.0.1 until
    interrupted (docs/bingx-emulator.md lists the endpoints)."""
    try:
        from dita.venues.bingx_emulator import serve
    except ImportError as e:
        _fail("emulate bingx", f"the BingX emulator is not available: {e}")
    try:
        serve(
            port, api_key, api_secret, hedge_mode=hedge_mode, initial_balance=balance,
            kline_ms=kline_ms, tape_ms=tape_ms,
        )  # fmt: skip
    except (ValueError, OSError) as e:
        _fail("emulate bingx", str(e))
