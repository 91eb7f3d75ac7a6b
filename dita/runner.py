"""Setting up a simulated run: validate every input first, then create the journal, then run.

``prepare_sim_run`` checks the data file, the policy (or intents file) and the
journal path *before* anything is written, so a run that fails validation
leaves nothing behind. ``execute`` creates the journal and drives the
``Backtest``. Tests, the benchmark and ``dita run`` all go through here.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from dita.clock import SimClock
from dita.engine import Backtest, BacktestResult
from dita.journal import JournalError, RunMeta, SqliteJournal, Synchronous
from dita.kernel import Instrument, Kernel
from dita.marketdata import Bar
from dita.marketdata.csvio import MarketDataError, iter_bars
from dita.policy import JsonlIntents, Policy, PolicyError, load_policy
from dita.venues.sim.exchange import RandomBps, SimConfig, SimExchange

DEFAULT_POLICY = "dita.policies.demo:DemoPolicy"
DEFAULT_SYMBOL = "BTC-USDT"
SAMPLE_DATA = "btc_usdt_1m_sample.csv"


class RunSetupError(ValueError):
    """A run cannot start: one line saying what is wrong and where. Nothing was written."""


def sample_data_path() -> Path:
    """The bundled sample (2 days of BTC-USDT 1m bars)."""
    return Path(str(resources.files("dita").joinpath("data", SAMPLE_DATA)))


def default_instrument(symbol: str = DEFAULT_SYMBOL) -> Instrument:
    """BingX-like BTC-USDT perpetual grid: tick 0.1, step 0.001, min notional 5 USDT."""
    return Instrument(
        symbol=symbol,
        tick_size=Decimal("0.1"),
        step_size=Decimal("0.001"),
        min_quantity=Decimal("0.001"),
        min_notional=Decimal(5),
    )


@dataclass(frozen=True)
class SimSettings:
    participation: Decimal = Decimal("0.01")
    max_slippage_bps: Decimal = Decimal(2)
    latency_ms: int = 50  # orders placed at a bar's close first meet the bar after next
    maker_fee: Decimal = Decimal("0.0002")
    taker_fee: Decimal = Decimal("0.0005")
    funding_rate: Decimal = Decimal("0.0001")

    def config(self, instrument: Instrument, capital: Decimal, seed: int) -> SimConfig:
        from dita.venues.sim.exchange import FeeSchedule

        return SimConfig(
            instruments=(instrument,),
            initial_balance=capital,
            fees=FeeSchedule(maker=self.maker_fee, taker=self.taker_fee),
            slippage=RandomBps(self.max_slippage_bps),
            participation=self.participation,
            latency_ms=self.latency_ms,
            funding_rate=self.funding_rate,
            seed=seed,
        )

    def as_params(self) -> dict[str, Any]:
        return {
            "participation": str(self.participation),
            "max_slippage_bps": str(self.max_slippage_bps),
            "latency_ms": self.latency_ms,
            "maker_fee": str(self.maker_fee),
            "taker_fee": str(self.taker_fee),
            "funding_rate": str(self.funding_rate),
        }


@dataclass
class PreparedRun:
    """Everything validated; ``execute`` is the first step that writes."""

    bars: Callable[[], Iterable[Bar]]
    bar_count: int
    policy: Policy
    policy_name: str
    instrument: Instrument
    capital: Decimal
    seed: int
    slots: int
    journal_path: Path | None
    sim: SimSettings
    data_label: str
    params: dict[str, Any] = field(default_factory=dict)
    synchronous: Synchronous = Synchronous.FULL

    def meta(self) -> RunMeta:
        return RunMeta(
            slots=self.slots,
            instruments=(self.instrument,),
            initial_capital=self.capital,
            policy=self.policy_name,
            seed=self.seed,
            venue="sim",
            params={"data": self.data_label, "sim": self.sim.as_params(), **self.params},
        )


def _validate_data(path: Path, symbol: str) -> tuple[int, str]:
    """Read the whole file once (it is validated row by row); (bar count, sha256)."""
    n = 0
    h = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError as e:
        raise RunSetupError(f"{path}: cannot read data file: {e.strerror}") from None
    try:
        for _ in iter_bars(path, symbol):
            n += 1
    except MarketDataError as e:
        raise RunSetupError(f"bad data file {e}") from None
    if n == 0:
        raise RunSetupError(f"{path}: no bars")
    return n, h.hexdigest()


def prepare_sim_run(
    *,
    data: Path | None = None,
    policy: str | None = None,
    intents: str | None = None,
    capital: Decimal = Decimal(100_000),
    seed: int = 7,
    slots: int = 2,
    journal: Path | None = None,
    symbol: str = DEFAULT_SYMBOL,
    sim: SimSettings | None = None,
    synchronous: Synchronous = Synchronous.FULL,
) -> PreparedRun:
    """Validate every input of a simulated run; raise ``RunSetupError`` and write nothing if bad."""
    if policy is not None and intents is not None:
        raise RunSetupError("choose one of --policy and --intents, not both")
    if slots < 1:
        raise RunSetupError(f"--slots must be >= 1, got {slots}")
    if not capital.is_finite() or capital <= 0:
        raise RunSetupError(f"--capital must be a positive number, got {capital}")
    path = data if data is not None else sample_data_path()
    if not path.is_file():
        raise RunSetupError(f"{path}: no such data file")
    count, digest = _validate_data(path, symbol)

    policy_name: str
    pol: Policy
    try:
        if intents is not None:
            if intents == "-":
                import sys

                pol = JsonlIntents.read(sys.stdin, "<stdin>")
                policy_name = "jsonl:<stdin>"
            else:
                pol = JsonlIntents.read(intents)
                policy_name = f"jsonl:{intents}"
        else:
            policy_name = policy or DEFAULT_POLICY
            pol = load_policy(policy_name)
    except PolicyError as e:
        raise RunSetupError(str(e)) from None

    if journal is not None:
        if journal.exists():
            raise RunSetupError(
                f"{journal}: journal already exists; dita run writes a fresh journal (choose another path)"
            )
        if journal.parent.exists() and not journal.parent.is_dir():
            raise RunSetupError(f"{journal.parent}: not a directory")
    settings = sim or SimSettings()
    try:
        settings.config(default_instrument(symbol), capital, seed)
        Kernel(slots, [default_instrument(symbol)], capital)
    except ValueError as e:
        raise RunSetupError(f"invalid run parameters: {e}") from None
    return PreparedRun(
        bars=lambda: iter_bars(path, symbol),
        bar_count=count,
        policy=pol,
        policy_name=policy_name,
        instrument=default_instrument(symbol),
        capital=capital,
        seed=seed,
        slots=slots,
        journal_path=journal,
        sim=settings,
        data_label=str(path) if data is not None else f"<bundled>/{SAMPLE_DATA}",
        params={"data_sha256": digest, "bars": count},
        synchronous=synchronous,
    )


def execute(
    run: PreparedRun,
    *,
    progress: Callable[[int], None] | None = None,
    progress_every: int = 1000,
    bars: Iterable[Bar] | None = None,
) -> BacktestResult:
    """Create the journal (if any) and run the backtest to the end."""
    kernel = Kernel(run.slots, [run.instrument], run.capital)
    venue = SimExchange(run.sim.config(run.instrument, run.capital, run.seed))
    with _journal(run) as journal:
        bt = Backtest(
            kernel=kernel,
            venue=venue,
            policy=run.policy,
            journal=journal,
            clock=SimClock(),
            progress=progress,
            progress_every=progress_every,
        )
        return bt.run(run.meta(), bars if bars is not None else run.bars())


@contextlib.contextmanager
def _journal(run: PreparedRun) -> Iterator[SqliteJournal | None]:
    if run.journal_path is None:
        yield None
        return
    run.journal_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        j = SqliteJournal.open(run.journal_path, synchronous=run.synchronous)
    except JournalError as e:
        raise RunSetupError(str(e)) from None
    with j:
        yield j


# --------------------------------------------------------------------------- the BingX emulator venue


def execute_on_bingx_emulator(
    run: PreparedRun, *, progress: Callable[[int], None] | None = None
) -> BacktestResult:
    """Run through the real BingX adapter against the loopback emulator (HTTP + WebSocket).

    The emulator (the sim matching engine behind BingX's wire protocol) is
    started in-process on a free 127.0.0.1 port with a throw-away API key;
    each bar is played into it as four trade prints (open, the two extremes,
    close), paced so that the market never runs ahead of the engine. Time is
    market time everywhere (engine, adapter and emulator share one
    ``SimClock``). Unlike the sim venue, the interleaving of WebSocket events
    and bars is not deterministic.
    """
    import asyncio

    return asyncio.run(_bingx_emulator_run(run, progress))


async def _bingx_emulator_run(
    run: PreparedRun, progress: Callable[[int], None] | None
) -> BacktestResult:
    import secrets
    from collections.abc import AsyncIterator

    import httpx

    from dita.engine import Engine
    from dita.venues.bingx import BingxConfig, BingxVenue, Credentials, Endpoints
    from dita.venues.bingx_emulator import BingxEmulator

    clock = SimClock()
    key, secret = f"dita-run-{secrets.token_hex(8)}", secrets.token_hex(24)
    bars = iter(run.bars())
    first = next(bars)
    clock.set(first.ts)
    ten_years_ms = 10 * 365 * 86_400_000  # listen keys must outlive a replay in market time
    emu = BingxEmulator(key, secret, clock=clock.now_ms, initial_balance=run.capital,
                        listen_key_ttl_ms=ten_years_ms)  # fmt: skip
    async with emu, httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=2.0)) as client:
        venue = BingxVenue(
            client,
            Credentials(key, secret),
            BingxConfig(endpoints=Endpoints.loopback(emu.port), rate_limits={}),
            clock=clock.now_ms,
        )
        instruments = await venue.load_instruments()
        inst = instruments.get(run.instrument.symbol)
        if inst is None:
            raise RunSetupError(
                f"the BingX emulator does not list {run.instrument.symbol}; it lists {sorted(instruments)}"
            )
        await emu.set_price(inst.symbol, first.open)
        run.instrument = inst
        meta = run.meta()
        meta = RunMeta(
            slots=meta.slots,
            instruments=(inst,),
            initial_capital=meta.initial_capital,
            policy=meta.policy,
            seed=meta.seed,
            venue="bingx-emulator",
            params=meta.params,
        )
        box: list[Engine] = []

        async def feed() -> AsyncIterator[Bar]:
            for n, bar in enumerate(_chain_first(first, bars)):
                await box[0].wait_settled(n)
                if bar.ts > clock.now_ms():
                    clock.set(bar.ts)
                up = bar.close >= bar.open
                path = (bar.open, bar.low, bar.high) if up else (bar.open, bar.high, bar.low)
                for px in (*path, bar.close):
                    await emu.trade(inst.symbol, px, bar.volume / 4)
                if progress is not None and n % 100 == 0:
                    progress(n)
                yield bar

        with _journal(run) as journal:
            engine = Engine(
                kernel=Kernel(run.slots, [inst], run.capital),
                venue=venue,
                policy=run.policy,
                journal=journal,
                clock=clock,
                meta=meta,
                bars=feed(),
                drain_timeout=1.0,
            )
            box.append(engine)
            stats = await engine.run()
            if progress is not None:
                progress(stats.bars)
            return BacktestResult(stats, engine.kernel, engine.open_slots())


def _chain_first(first: Bar, rest: Iterator[Bar]) -> Iterator[Bar]:
    yield first
    yield from rest
