"""``dita run``: a policy against the simulator or BingX, journaled."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dita.cli.base import (
    DECIMAL,
    _default_journal,
    _fail,
    _interrupted,
    bingx_connection,
    main,
    parse_params,
)
from dita.journal import JournalError, Synchronous

if TYPE_CHECKING:
    from collections.abc import Callable

    from dita.app.live import LiveRun
    from dita.app.runner import PreparedRun
    from dita.engine import BacktestResult
    from dita.marketdata import Bar


@main.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    envvar="DITA_CONFIG",
    show_envvar=True,
    help="Run config (TOML): every option below, instruments, fees per symbol (docs/markets.md). "
    "Precedence: flag > environment variable > config > bundled default.",
)
@click.option(
    "--data",
    multiple=True,
    metavar="[SYMBOL=]PATH",
    envvar="DITA_DATA",
    show_envvar=True,
    help="Bars: a file (Binance, BingX, Bybit or OKX klines; .csv, .csv.gz, .zip, .parquet) or a "
    "folder of them; repeat for several symbols (merged in time order). The symbol is "
    "SYMBOL=, else --symbol (one file), else the file name. Default: bundled BTC-USDT 1m sample.",
)
@click.option(
    "--symbol", default="BTC-USDT", show_default=True, envvar="DITA_SYMBOL", show_envvar=True,
    help="Symbol of a single --data file (the live symbol with --venue bingx).",
)  # fmt: skip
@click.option(
    "--policy",
    "policy_spec",
    default=None,
    metavar="MODULE:ATTR",
    envvar="DITA_POLICY",
    show_envvar=True,
    help="Policy to run. Default: dita.policies.demo:DemoPolicy.",
)
@click.option(
    "--param",
    "policy_param",
    multiple=True,
    metavar="KEY=VALUE",
    help="A keyword argument for the policy's constructor (repeatable); VALUE is read as a TOML "
    "value: 10 is an int, 0.02 a Decimal, true a bool, anything else a string.",
)
@click.option(
    "--intents",
    default=None,
    metavar="FILE|-",
    help="Drive the kernel from JSONL intents (one per line, Decimals as strings); '-' = stdin.",
)
@click.option(
    "--venue",
    type=click.Choice(["sim", "bingx-emulator", "bingx"]),
    default="sim",
    show_default=True,
    help="sim: the deterministic matching engine, driven bar by bar. bingx-emulator: the real "
    "BingX adapter over HTTP/WebSocket against an in-process loopback BingX (the same matching "
    "engine behind BingX's wire protocol); slower, and event interleaving is not deterministic. "
    "bingx: trade on BingX itself with live 1m bars (REAL MONEY unless --testnet; keys from "
    "$BINGX_API_KEY/$BINGX_API_SECRET).",
)
@click.option(
    "--capital",
    type=DECIMAL,
    default=Decimal(100_000),
    show_default=True,
    envvar="DITA_CAPITAL",
    show_envvar=True,
    help="Initial capital (USDT).",
)
@click.option(
    "--seed", type=int, default=7, show_default=True, envvar="DITA_SEED", show_envvar=True,
    help="Simulator seed (slippage draws).",
)  # fmt: skip
@click.option(
    "--slots", type=int, default=2, show_default=True, envvar="DITA_SLOTS", show_envvar=True,
    help="Trade slots in the kernel.",
)  # fmt: skip
@click.option(
    "--participation",
    type=DECIMAL,
    default=Decimal("0.01"),
    show_default=True,
    envvar="DITA_PARTICIPATION",
    show_envvar=True,
    help="Share of each bar's volume the simulator lets resting orders fill.",
)
@click.option(
    "--latency-ms",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    envvar="DITA_LATENCY_MS",
    show_envvar=True,
    help="Simulated time between sending a command and the venue acting on it "
    "(a cancel can then lose the race against a fill, as on a real venue).",
)
@click.option(
    "--instruments",
    "instrument_files",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="DITA_INSTRUMENT_FILES",
    show_envvar=True,
    help="Instruments file (from `dita instruments fetch`); repeatable, later wins. Default: "
    "the bundled BingX list.",
)
@click.option("--maker-fee", type=DECIMAL, default=Decimal("0.0002"), show_default=True,
              envvar="DITA_MAKER_FEE", show_envvar=True,
              help="Maker fee rate (fraction of notional) for every symbol.")  # fmt: skip
@click.option("--taker-fee", type=DECIMAL, default=Decimal("0.0005"), show_default=True,
              envvar="DITA_TAKER_FEE", show_envvar=True,
              help="Taker fee rate for every symbol.")  # fmt: skip
@click.option("--funding-rate", type=DECIMAL, default=Decimal("0.0001"), show_default=True,
              envvar="DITA_FUNDING_RATE", show_envvar=True,
              help="Funding rate per interval (longs pay when > 0) for every symbol.")  # fmt: skip
@click.option("--funding-interval-h", type=DECIMAL, default=Decimal(8), show_default=True,
              envvar="DITA_FUNDING_INTERVAL_H", show_envvar=True,
              help="Hours between funding times (from 00:00 UTC).")  # fmt: skip
@click.option("--slippage", default="random:2", show_default=True, metavar="none|fixed:BPS|random:BPS",
              envvar="DITA_SLIPPAGE", show_envvar=True,
              help="Taker slippage: none, a fixed number of bps, or uniform in [0, BPS].")  # fmt: skip
@click.option(
    "--journal",
    "journal_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Journal file to create. Default: runs/<UTC time>-seed<seed>/journal.sqlite.",
)
@click.option(
    "--no-journal", is_flag=True, help="Run without a journal (benchmarks; nothing to replay)."
)
@click.option(
    "--resume",
    is_flag=True,
    help="sim: continue the interrupted run in --journal PATH (give its options again): the run "
    "is played again from its first bar, checked record by record against the journal, and "
    "carries on where it stopped; the result equals an uninterrupted run's.",
)
@click.option(
    "--sync",
    "sync_mode",
    type=click.Choice(["FULL", "NORMAL", "OFF"], case_sensitive=False),
    default="FULL",
    show_default=True,
    help="SQLite synchronous mode of the journal.",
)
@click.option(
    "--commit",
    "commit_mode",
    type=click.Choice(["grouped", "write-ahead"]),
    default="grouped",
    show_default=True,
    help="sim: when the journal is committed (fsynced with --sync FULL). grouped: every 1,000 "
    "bars or 20,000 records and at the end, since the simulated venue is inside the process and no command "
    "leaves it; a crash loses the uncommitted tail of the simulation, which --resume plays again "
    "from the data. write-ahead: before every command, as --venue bingx and bingx-emulator "
    "always do.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@bingx_connection(prefix="bingx: ")
@click.option(
    "--max-bars", type=click.IntRange(min=1), default=None, help="bingx: stop after N closed bars."
)
@click.option(
    "--duration",
    "duration_s",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="SECONDS",
    help="bingx: stop after this many seconds (whichever of --max-bars/--duration comes first).",
)
@click.option(
    "--on-mismatch",
    type=click.Choice(["halt", "continue"]),
    default="halt",
    show_default=True,
    help="bingx, continuing an existing journal: what to do when the venue's positions differ "
    "from the journal's (see dita recover).",
)
@click.option(
    "--restarts",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    help="bingx: after a recoverable failure (network, venue hiccup, inconclusive "
    "reconciliation) restart through recovery on the same journal, at most this many times "
    "in a row without trading in between; 0 = never (leave it to a service manager).",
)
@click.option(
    "--restart-delay",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    metavar="SECONDS",
    help="bingx: wait before the first restart; doubles for each further one in a row "
    "(at most 60 s).",
)
@click.option(
    "--record-wire",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    metavar="DIR",
    help="bingx: save every raw REST exchange, stream frame and clock reading in DIR (a fresh "
    "directory; signatures, keys, listen keys and user ids removed), each payload a "
    "recorded-payload test case (docs/bingx.md).",
)
@click.option(
    "--replay-wire",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    metavar="DIR",
    help="bingx: play a --record-wire capture of a run back as the venue (nothing is sent): "
    "the journal is the captured run's. Give the run's options as they were.",
)
@click.option(
    "--bar-interval-ms",
    type=click.IntRange(min=1),
    default=60_000,
    hidden=True,  # tests: a loopback emulator whose "1m" bars are this long
)
def run(
    config_path: Path | None,
    data: tuple[str, ...],
    symbol: str,
    policy_spec: str | None,
    policy_param: tuple[str, ...],
    intents: str | None,
    venue: str,
    capital: Decimal,
    seed: int,
    slots: int,
    participation: Decimal,
    latency_ms: int,
    instrument_files: tuple[Path, ...],
    maker_fee: Decimal,
    taker_fee: Decimal,
    funding_rate: Decimal,
    funding_interval_h: Decimal,
    slippage: str,
    journal_path: Path | None,
    no_journal: bool,
    resume: bool,
    sync_mode: str,
    quiet: bool,
    commit_mode: str = "grouped",
    testnet: bool = False,
    bingx_base_url: str | None = None,
    bingx_credentials: Path | None = None,
    yes_real_money: bool = False,
    max_bars: int | None = None,
    duration_s: float | None = None,
    on_mismatch: str = "halt",
    restarts: int = 5,
    restart_delay: float = 1.0,
    record_wire: Path | None = None,
    replay_wire: Path | None = None,
    bar_interval_ms: int = 60_000,
) -> None:
    """Run a policy over market data on the simulated exchange and journal every step.

    With no options: the demo policy over the bundled BTC-USDT sample, journaled
    to a fresh directory under runs/.

    With --venue bingx: trade on BingX (--testnet: its demo environment) on live
    1m bars until --max-bars/--duration; an existing --journal is continued
    after reconciling with the venue.
    """
    live_only = {
        "--testnet": testnet, "--bingx-base-url": bingx_base_url is not None,
        "--bingx-credentials": bingx_credentials is not None, "--yes-real-money": yes_real_money,
        "--max-bars": max_bars is not None, "--duration": duration_s is not None,
        "--record-wire": record_wire is not None, "--replay-wire": replay_wire is not None,
    }  # fmt: skip
    try:
        policy_params = parse_params(policy_param)
    except ValueError as e:
        _fail("run", str(e))
    _refuse_sim_only(venue, resume=resume, commit_mode=commit_mode)
    if venue == "bingx":
        if policy_params:
            _fail("run", "--param is for the simulated venues for now, not --venue bingx")
        _run_bingx(
            symbol=symbol, policy_spec=policy_spec, intents=intents, capital=capital, slots=slots,
            journal_path=journal_path, no_journal=no_journal, sync_mode=sync_mode, quiet=quiet,
            testnet=testnet, base_url=bingx_base_url, credentials=bingx_credentials,
            yes_real_money=yes_real_money, max_bars=max_bars, duration_s=duration_s,
            on_mismatch=on_mismatch, bar_interval_ms=bar_interval_ms,
            restarts=restarts, restart_delay=restart_delay,
            record_wire=record_wire, replay_wire=replay_wire,
        )  # fmt: skip
        return
    given = [flag for flag, used in live_only.items() if used]
    if given:
        _fail("run", f"{given[0]} is for --venue bingx only")
    from click.core import ParameterSource

    from dita.app.runner import (
        RunSetupError,
        execute,
        execute_on_bingx_emulator,
        prepare_configured_run,
    )
    from dita.engine import Durability, EngineError
    from dita.reporting.summary import summary_table, symbol_table
    from dita.venues.base import VenueError

    console = Console()
    if no_journal and journal_path is not None:
        _fail("run", "--journal and --no-journal contradict each other")
    ctx = click.get_current_context()
    sim_options = ("data", "symbol", "policy_spec", "capital", "seed", "slots", "participation",
             "latency_ms", "instrument_files", "maker_fee", "taker_fee", "funding_rate",
             "funding_interval_h", "slippage")  # fmt: skip
    explicit = {
        "policy" if name == "policy_spec" else name: ctx.params[name]
        for name in sim_options
        if ctx.get_parameter_source(name)
        in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    }
    try:
        # The journal's default name needs the seed, which the config may set.
        from dita.app.runconfig import load_run_config, resolve

        cfg = load_run_config(config_path) if config_path is not None else None
        seed = int(resolve("seed", explicit, cfg))
    except ValueError as e:
        _fail("run", str(e))
    target = None if no_journal else (journal_path or _default_journal(seed))
    try:
        prepared = prepare_configured_run(
            explicit, config_path, intents=intents, journal=target,
            synchronous=Synchronous(sync_mode.upper()), policy_params=policy_params, resume=resume,
            durability=Durability(commit_mode),
        )  # fmt: skip
    except RunSetupError as e:
        _fail("run", str(e))
    for note in prepared.notes:
        click.echo(f"dita run: data: {note}", err=True)
    if venue == "bingx-emulator" and len(prepared.instruments) != 1:
        _fail("run", "--venue bingx-emulator runs one symbol; use --venue sim for several")

    runner = execute if venue == "sim" else execute_on_bingx_emulator
    try:
        result = _with_progress(runner, prepared, quiet=quiet, console=console)
    except (RunSetupError, JournalError, EngineError, VenueError) as e:
        where = f" (journal so far: {target})" if target is not None and target.exists() else ""
        _fail("run", f"{e}{where}")
    except KeyboardInterrupt:
        _interrupted(target, venue)

    console.print(summary_table(result.stats, f"dita run ({venue}, seed {prepared.seed})",
                                caption=prepared.policy_name, open_slots=result.open_slots))  # fmt: skip
    if len(prepared.instruments) > 1:
        console.print(symbol_table(result.stats))
    if target is not None:
        console.print(f"journal: {target}", soft_wrap=True)
        console.print(f"check it: dita replay {target}", soft_wrap=True)


def _refuse_sim_only(venue: str, *, resume: bool, commit_mode: str) -> None:
    """--resume and a --commit other than write-ahead are for --venue sim only."""
    if resume and venue != "sim":
        _fail("run", "--resume is for --venue sim (a bingx run continues its --journal by itself)")
    if commit_mode != "write-ahead" and venue != "sim":
        from click.core import ParameterSource as Source

        if click.get_current_context().get_parameter_source("commit_mode") is Source.COMMANDLINE:
            _fail("run", f"--commit {commit_mode} is for --venue sim; --venue {venue} commits "
                  "before every command (write-ahead)")  # fmt: skip


def _with_progress(
    runner: Callable[..., BacktestResult], prepared: PreparedRun, *, quiet: bool, console: Console
) -> BacktestResult:
    """Run ``prepared`` with a progress bar over its bars (none with --quiet)."""
    if quiet:
        return runner(prepared)
    with Progress(
        TextColumn("[bold]simulating"), BarColumn(), MofNCompleteColumn(), TextColumn("bars"),
        TimeElapsedColumn(), console=console, transient=False,
    ) as progress:  # fmt: skip
        task = progress.add_task("bars", total=prepared.bar_count)
        return runner(prepared, progress=lambda n: progress.update(task, completed=n))


def _refuse_for_bingx(
    *, no_journal: bool, sync_mode: str, record_wire: Path | None, replay_wire: Path | None
) -> None:
    """Options a --venue bingx run cannot take: the simulator's, no journal, a weaker sync."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    for name in ("data", "seed", "participation", "latency_ms", "config_path", "instrument_files",
                 "maker_fee", "taker_fee", "funding_rate", "funding_interval_h", "slippage"):  # fmt: skip
        if ctx.get_parameter_source(name) is not ParameterSource.DEFAULT:
            flag = {"config_path": "config", "instrument_files": "instruments"}.get(name, name)
            _fail(
                "run", f"--{flag.replace('_', '-')} is for the simulated venues, not --venue bingx"
            )
    if no_journal:
        _fail("run", "--venue bingx always journals (a live run must be recoverable)")
    if sync_mode.upper() != "FULL":
        _fail("run", "--venue bingx journals with --sync FULL only (durable before any order)")
    if record_wire is not None and replay_wire is not None:
        _fail("run", "--record-wire and --replay-wire contradict each other; choose one")


def _print_leftovers(prepared: LiveRun, result: BacktestResult, journal: Path) -> None:
    """Intents whose time never came and orders still working on the venue, on stderr."""
    from dita.policy import JsonlIntents
    from dita.reporting.summary import undelivered_lines

    if isinstance(prepared.policy, JsonlIntents):  # the run stopped before their time came
        for line in undelivered_lines(prepared.policy.undelivered, None):
            click.echo(line, err=True)
    live = result.kernel.live_orders()
    if live:
        click.echo(
            f"note: {len(live)} order(s) still working on the venue "
            f"({', '.join(o.client_order_id for o in live)}); run again with --journal {journal} "
            "to follow them, or `dita recover`",
            err=True,
        )


def _run_bingx(
    *,
    symbol: str,
    policy_spec: str | None,
    intents: str | None,
    capital: Decimal,
    slots: int,
    journal_path: Path | None,
    no_journal: bool,
    sync_mode: str,
    quiet: bool,
    testnet: bool,
    base_url: str | None,
    credentials: Path | None,
    yes_real_money: bool,
    max_bars: int | None,
    duration_s: float | None,
    on_mismatch: str,
    bar_interval_ms: int,
    restarts: int = 5,
    restart_delay: float = 1.0,
    record_wire: Path | None = None,
    replay_wire: Path | None = None,
) -> None:
    """``dita run --venue bingx``: every check before anything is written or sent."""
    from click.core import ParameterSource

    from dita.app.live import (
        Network,
        default_live_journal,
        execute_live,
        load_credentials,
        prepare_live_run,
        resolve_target,
    )
    from dita.app.runner import RunSetupError
    from dita.engine import EngineError
    from dita.recovery import OnMismatch, RecoveryError
    from dita.reporting.summary import summary_table
    from dita.venues.base import VenueError

    _refuse_for_bingx(
        no_journal=no_journal, sync_mode=sync_mode, record_wire=record_wire, replay_wire=replay_wire
    )
    ctx = click.get_current_context()
    explicit_capital = ctx.get_parameter_source("capital") is not ParameterSource.DEFAULT
    explicit_slots = ctx.get_parameter_source("slots") is not ParameterSource.DEFAULT
    from dita.app import wiring

    recorder = None
    try:
        if replay_wire is not None:
            capture, target = wiring.open_replay(replay_wire, testnet=testnet, base_url=base_url)
            creds = wiring.REPLAY_CREDENTIALS
        else:
            target = resolve_target(testnet=testnet, base_url=base_url)
            if target.network is Network.LIVE and not yes_real_money:
                raise RunSetupError(
                    f"--venue bingx without --testnet trades REAL MONEY on {target.endpoints.rest}"
                    "; add --yes-real-money if that is what you mean (or --testnet for the demo "
                    "account)"
                )
            creds = load_credentials(credentials)
        from dita import logs

        logs.add_secret(creds.api_key)
        logs.add_secret(creds.secret)
        journal = journal_path or default_live_journal(symbol)
        prepared = prepare_live_run(
            target=target, credentials=creds, journal=journal, symbol=symbol, policy=policy_spec,
            intents=intents, slots=slots if explicit_slots else None,
            capital=capital if explicit_capital else None,
            max_bars=max_bars, duration_s=duration_s, bar_interval_ms=bar_interval_ms,
            on_mismatch=OnMismatch(on_mismatch),
        )  # fmt: skip
        if replay_wire is not None:
            prepared, _session = wiring.replay_run(prepared, capture)
        if record_wire is not None:
            prepared, recorder = wiring.record_run(prepared, record_wire)
    except RunSetupError as e:
        _fail("run", str(e))

    console = Console(stderr=True)
    if replay_wire is not None:
        click.echo(
            f"replaying {replay_wire} (nothing is sent to {target.endpoints.rest})", err=True
        )
    elif target.network is Network.LIVE:
        click.echo(
            f"WARNING: LIVE TRADING WITH REAL MONEY on {target.endpoints.rest} "
            f"({symbol}, policy {prepared.policy_name}); Ctrl-C stops, `dita recover` reconciles",
            err=True,
        )
    if journal_path is None:
        click.echo(f"journal: {journal} (no --journal given)", err=True)

    def on_bar(bar: Bar, n: int) -> None:
        if not quiet:
            from datetime import UTC, datetime

            at = datetime.fromtimestamp(bar.ts / 1000, tz=UTC).isoformat(timespec="milliseconds")
            console.print(f"bar {n}: {bar.symbol} {at} close {bar.close} volume {bar.volume}")

    from dita.app.live import Restart, RestartPolicy

    def on_restart(r: Restart) -> None:
        click.echo(
            f"restart {r.attempt}/{restarts} in {r.delay_s:g}s (through recovery, same "
            f"journal) after: {r.cause}",
            err=True,
        )

    try:
        result = execute_live(
            prepared, on_bar=on_bar, on_ready=lambda what: click.echo(what, err=True),
            restarts=RestartPolicy(attempts=restarts, first_delay_s=restart_delay),
            on_restart=on_restart,
        )  # fmt: skip
        if recorder is not None:
            recorder.close()
            click.echo(f"wire capture: {record_wire}", err=True)
    except (RunSetupError, JournalError, EngineError, VenueError, RecoveryError) as e:
        where = f" (journal so far: {journal})" if journal.exists() else ""
        _fail("run", f"{e}{where}")
    except KeyboardInterrupt:
        _fail(
            "run",
            f"interrupted; {journal} keeps what was committed: run again with --journal {journal} "
            "(it reconciles with the venue first) or `dita recover`",
        )

    Console().print(summary_table(result.stats, f"dita run ({target.venue_name}, {symbol})",
                                  caption=prepared.policy_name, open_slots=result.open_slots))  # fmt: skip
    _print_leftovers(prepared, result, journal)
    click.echo(f"journal: {journal}")
    click.echo(f"check it: dita replay {journal}")
