"""The ``dita`` command line: run, replay, report, emulate.

Every failure caused by input (a data file, a policy, an intents file, a
journal) ends with one line on stderr, ``dita <command>: error: <what and
where>``, and exit code 1; nothing is left half-written.
"""

from __future__ import annotations

import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dita.journal import JournalError, ReplayMismatch, Synchronous

if TYPE_CHECKING:
    from collections.abc import Callable

    from dita.fetch import FetchResult
    from dita.marketdata import Bar


def _fail(command: str, message: str) -> NoReturn:
    first, _, rest = message.partition("\n")
    click.echo(f"dita {command}: error: {first}", err=True)
    if rest:
        click.echo(rest, err=True)
    sys.exit(1)


if TYPE_CHECKING:
    _ParamBase = click.ParamType[Decimal]
else:  # click.ParamType is generic only from click 8.2 on
    _ParamBase = click.ParamType


class _DecimalType(_ParamBase):
    name = "decimal"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> Decimal:
        if isinstance(value, Decimal):
            return value
        try:
            d = Decimal(str(value))
        except InvalidOperation:
            self.fail(f"{value!r} is not a decimal number", param, ctx)
        if not d.is_finite():
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return d


DECIMAL = _DecimalType()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dita")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="warning",
    show_default=True,
    envvar="DITA_LOG_LEVEL",
    show_envvar=True,
    help="Log records at this level and above (each with its UTC time and level).",
)
@click.option(
    "--log-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    envvar="DITA_LOG_FILE",
    show_envvar=True,
    help="Append the log to this file (created 0600) instead of stderr.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    envvar="DITA_LOG_FORMAT",
    show_envvar=True,
    help="text: 'TIME LEVEL logger: message'; json: one JSON object per line (ts, level, "
    "logger, msg). API keys, secrets and passwords are masked either way.",
)
def main(log_level: str, log_file: Path | None, log_format: str) -> None:
    """dita: an execution kernel for crypto perpetual futures.

    `dita run` runs a policy against a simulated exchange and journals every
    step; `dita replay` rebuilds and checks a run from its journal; `dita
    report` draws it; `dita emulate bingx` serves a loopback BingX.
    """
    from dita import logs

    try:
        logs.setup(log_level, log_file, log_format)
    except OSError as e:
        _fail("", f"--log-file {log_file}: {e.strerror}")


def parse_params(items: tuple[str, ...]) -> dict[str, object]:
    """``KEY=VALUE`` pairs; each VALUE read as a TOML value (floats as Decimal), else a string."""
    import tomllib

    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ValueError(f"--param {item!r}: expected KEY=VALUE with KEY a Python identifier")
        try:
            out[key] = tomllib.loads(f"v = {value}", parse_float=Decimal)["v"]
        except tomllib.TOMLDecodeError:
            out[key] = value
    return out


def _interrupted(journal: Path | None, venue: str) -> NoReturn:
    """Ctrl-C in a simulated run: say what was kept and the command that continues it."""
    import shlex

    if journal is None or not journal.exists() or venue != "sim":
        what = "nothing was journaled" if journal is None else f"{journal} keeps what was committed"
        click.echo(f"dita run: interrupted; {what}; run it again to start over", err=True)
        sys.exit(130)
    args, skip = [], False
    for a in sys.argv[1:]:
        if skip:
            skip = False
        elif a == "--journal":
            skip = True
        elif not (a.startswith("--journal=") or a == "--resume"):
            args.append(a)
    args += ["--journal", str(journal), "--resume"]
    click.echo(
        f"dita run: interrupted; {journal} keeps every step committed before it. Continue with:\n"
        f"  dita {shlex.join(args)}",
        err=True,
    )
    sys.exit(130)


def _default_journal(seed: int) -> Path:
    from datetime import UTC, datetime

    from dita.clock import LiveClock

    stamp = datetime.fromtimestamp(LiveClock().now_ms() / 1000, tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    base = Path("runs") / f"{stamp}-seed{seed}"
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = Path(f"{base}-{n}")
    return candidate / "journal.sqlite"


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
@click.option(
    "--testnet", is_flag=True, help="bingx: BingX's VST demo environment (no real money)."
)
@click.option(
    "--bingx-base-url",
    default=None,
    metavar="URL",
    help="bingx: a loopback BingX emulator (http://127.0.0.1:PORT or http://localhost:PORT only).",
)
@click.option(
    "--bingx-credentials",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="bingx: file with the API key and secret (JSON api_key/api_secret, or "
    "BINGX_API_KEY=/BINGX_API_SECRET= lines). Default: those environment variables.",
)
@click.option(
    "--yes-real-money",
    is_flag=True,
    help="bingx: required to trade on BingX's live endpoints (without --testnet).",
)
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
    if resume and venue != "sim":
        _fail("run", "--resume is for --venue sim (a bingx run continues its --journal by itself)")
    if commit_mode != "write-ahead" and venue != "sim":
        from click.core import ParameterSource as Source

        if click.get_current_context().get_parameter_source("commit_mode") is Source.COMMANDLINE:
            _fail("run", f"--commit {commit_mode} is for --venue sim; --venue {venue} commits "
                  "before every command (write-ahead)")  # fmt: skip
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

    from dita.engine import Durability, EngineError
    from dita.reporting.summary import summary_table, symbol_table
    from dita.runner import (
        RunSetupError,
        execute,
        execute_on_bingx_emulator,
        prepare_configured_run,
    )
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
        from dita.runconfig import load_run_config, resolve

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
        if quiet:
            result = runner(prepared)
        else:
            with Progress(
                TextColumn("[bold]simulating"), BarColumn(), MofNCompleteColumn(), TextColumn("bars"),
                TimeElapsedColumn(), console=console, transient=False,
            ) as progress:  # fmt: skip
                task = progress.add_task("bars", total=prepared.bar_count)
                result = runner(prepared, progress=lambda n: progress.update(task, completed=n))
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

    from dita.engine import EngineError
    from dita.live import (
        Network,
        default_live_journal,
        execute_live,
        load_credentials,
        prepare_live_run,
        resolve_target,
    )
    from dita.recovery import OnMismatch, RecoveryError
    from dita.reporting.summary import summary_table
    from dita.runner import RunSetupError
    from dita.venues.base import VenueError

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
    explicit_capital = ctx.get_parameter_source("capital") is not ParameterSource.DEFAULT
    explicit_slots = ctx.get_parameter_source("slots") is not ParameterSource.DEFAULT
    if record_wire is not None and replay_wire is not None:
        _fail("run", "--record-wire and --replay-wire contradict each other; choose one")
    from dita import wiring

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

    from dita.live import Restart, RestartPolicy

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
    click.echo(f"journal: {journal}")
    click.echo(f"check it: dita replay {journal}")


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

    from dita.recovery import OnMismatch, ReconcileSettings, RecoveryError
    from dita.resume import reconcile_journal
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


def _public_bingx(command: str, testnet: bool, base_url: str | None) -> tuple[str, str]:
    """(REST base URL, label) of BingX, its VST host, or a loopback emulator."""
    from dita.live import resolve_target
    from dita.runner import RunSetupError

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


def _attach_clickhouse() -> None:
    # `dita clickhouse init|push|report|export` lives with the ClickHouse sink.
    from dita.journal.clickhouse_cli import clickhouse

    main.add_command(clickhouse)


_attach_clickhouse()


def _attach_selftest() -> None:
    # `dita selftest bingx` lives with the self-test.
    from dita.selftest_cli import selftest

    main.add_command(selftest)


_attach_selftest()


if __name__ == "__main__":  # pragma: no cover
    main()
