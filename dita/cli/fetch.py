"""``dita instruments fetch`` and ``dita data fetch``: public BingX data to local files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dita.cli.base import _fail, main

if TYPE_CHECKING:
    from collections.abc import Callable

    from dita.fetch import FetchResult


def _public_bingx(command: str, testnet: bool, base_url: str | None) -> tuple[str, str]:
    """(REST base URL, label) of BingX, its VST host, or a loopback emulator."""
    from dita.app.live import resolve_target
    from dita.app.runner import RunSetupError

    try:
        target = resolve_target(testnet=testnet, base_url=base_url)
    except RunSetupError as e:
        _fail(command, str(e))
    return target.endpoints.rest, target.endpoints.rest


_BINGX_SOURCE_OPTIONS = (
    click.option("--testnet", is_flag=True, help="BingX's VST demo host."),
    click.option(
        "--bingx-base-url", default=None, metavar="URL",
        help="A loopback BingX emulator (http://127.0.0.1:PORT) instead of BingX.",
    ),
)  # fmt: skip


def _bingx_source(f: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(_BINGX_SOURCE_OPTIONS):
        f = option(f)
    return f


@main.group()
def instruments() -> None:
    """Instrument lists (tick, step, minimums, fees) for run configs."""


@instruments.command("fetch")
@click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False), default=Path("bingx-instruments.toml"),
    show_default=True, help="Instruments file to write (use it with --instruments or instrument_files).",
)  # fmt: skip
@_bingx_source
def instruments_fetch(out: Path, testnet: bool, bingx_base_url: str | None) -> None:
    """Save BingX's contract list (public endpoint, no key) as an instruments file."""
    import asyncio

    import httpx

    from dita.clock import LiveClock
    from dita.fetch import FetchError, fetch_instruments, save_instruments
    from dita.venues.base import VenueError

    rest, label = _public_bingx("instruments fetch", testnet, bingx_base_url)

    async def go() -> int:
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0)) as client:
            rows = await fetch_instruments(client, rest)
        source = f"BingX GET /openApi/swap/v2/quote/contracts from {label}"
        return save_instruments(rows, out, source, LiveClock().now_ms())

    try:
        n = asyncio.run(go())
    except (VenueError, FetchError, OSError) as e:
        _fail("instruments fetch", str(e) or type(e).__name__)
    click.echo(f"wrote {out}: {n} instruments")


@main.group()
def data() -> None:
    """Market data files: fetch bars from BingX."""


@data.command("fetch")
@click.option("--symbol", required=True, help="Contract, e.g. BTC-USDT.")
@click.option("--interval", default="1m", show_default=True,
              help="1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w.")  # fmt: skip
@click.option(
    "--start",
    required=True,
    metavar="TIME",
    help="First open time (ISO-8601, UTC unless it says; or epoch ms).",
)
@click.option("--end", required=True, metavar="TIME", help="End of the range (exclusive).")
@click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False), default=None,
    help="CSV to write. Default: data/<SYMBOL>-<interval>-<start>-<end>.csv.",
)  # fmt: skip
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--minute-ms", type=click.IntRange(min=10), default=60_000, hidden=True)  # tests
@_bingx_source
def data_fetch(
    symbol: str, interval: str, start: str, end: str, out: Path | None, quiet: bool,
    minute_ms: int, testnet: bool, bingx_base_url: str | None,
) -> None:  # fmt: skip
    """Fetch closed klines from BingX's public endpoint into a CSV for `dita run --data`.

    Resumable (an interrupted fetch continues from its last saved bar) and
    cached (the same range again makes no request). Bars BingX has none for
    are reported, never invented.
    """
    import asyncio

    import httpx

    from dita.clock import LiveClock
    from dita.fetch import FetchError, fetch_klines, parse_time

    rest, _label = _public_bingx("data fetch", testnet, bingx_base_url)
    try:
        t0, t1 = parse_time(start, "--start"), parse_time(end, "--end")
    except FetchError as e:
        _fail("data fetch", str(e))
    sym = symbol.strip().upper()
    if out is None:
        out = Path("data") / f"{sym}-{interval}-{t0}-{t1}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    clock = LiveClock()

    async def go(progress: Callable[[int, int], None] | None) -> FetchResult:
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0)) as client:
            return await fetch_klines(
                client, rest, symbol=sym, interval=interval, start=t0, end=t1, out=out,
                now_ms=clock.now_ms, progress=progress, minute_ms=minute_ms,
            )  # fmt: skip

    try:
        if quiet:
            res = asyncio.run(go(None))
        else:
            with Progress(TextColumn("[bold]fetching"), BarColumn(), MofNCompleteColumn(),
                          TextColumn("bars"), TimeElapsedColumn(),
                          console=Console(stderr=True)) as bar:  # fmt: skip
                task = bar.add_task("bars", total=None)
                res = asyncio.run(go(lambda n, total: bar.update(task, completed=n, total=total)))
    except FetchError as e:
        _fail("data fetch", str(e))
    except KeyboardInterrupt:
        _fail("data fetch", f"interrupted; run the same command again to resume ({out}.part)")
    except OSError as e:
        _fail("data fetch", f"{out}: {e.strerror or e}")
    if res.cached:
        click.echo(f"cached: {out} already holds this range ({res.bars:,} bars); nothing fetched")
    else:
        click.echo(
            f"wrote {out}: {res.bars:,} bars ({res.fetched:,} fetched in {res.requests} requests)"
        )
    if res.missing:
        click.echo(f"dita data fetch: {res.missing:,} bar(s) missing in the range (BingX has none)",
                   err=True)  # fmt: skip
