"""Setting up a simulated run: validate every input first, then create the journal, then run.

``prepare_sim_run`` checks the data file, the policy (or intents file) and the
journal path *before* anything is written, so a run that fails validation
leaves nothing behind. ``execute`` creates the journal and drives the
``Backtest``. Tests, the benchmark and ``dita run`` all go through here.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from dita.clock import SimClock
from dita.engine import Backtest, BacktestResult, Durability, EngineSettings
from dita.journal import JournalError, RunMeta, SqliteJournal, Synchronous
from dita.kernel import Instrument, Kernel
from dita.marketdata import Bar, MarketDataError
from dita.marketdata.csvio import iter_bars
from dita.markets import (
    InstrumentBook,
    InstrumentSpec,
    MarketError,
    MarketModel,
    decimal_setting,
    slippage_text,
)
from dita.policy import JsonlIntents, Policy, PolicyError, load_policy
from dita.venues.sim.exchange import (
    KEEP_FINISHED,
    FeeSchedule,
    MarketRules,
    RandomBps,
    SimConfig,
    SimExchange,
    Slippage,
)

DEFAULT_POLICY = "dita.policies.demo:DemoPolicy"
DEFAULT_SYMBOL = "BTC-USDT"
SAMPLE_DATA = "btc_usdt_1m_sample.csv"
DATA_SUFFIXES = (".csv", ".csv.gz", ".zip", ".parquet")


class RunSetupError(ValueError):
    """A run cannot start: one line saying what is wrong and where. Nothing was written."""


def sample_data_path() -> Path:
    """The bundled sample (2 days of BTC-USDT 1m bars)."""
    return Path(str(resources.files("dita").joinpath("data", SAMPLE_DATA)))


def default_instrument(symbol: str = DEFAULT_SYMBOL) -> Instrument:
    """The bundled BingX instrument for ``symbol`` (``MarketError`` if there is none)."""
    return InstrumentBook.build(None, ()).get(symbol).instrument


_DEFAULT_SLIPPAGE = RandomBps(Decimal(2))


@dataclass(frozen=True)
class SimSettings:
    """Venue-wide simulator settings; ``rules`` overrides fees/funding/slippage per symbol."""

    participation: Decimal = Decimal("0.01")
    latency_ms: int = 50  # orders placed at a bar's close first meet the bar after next
    maker_fee: Decimal = Decimal("0.0002")
    taker_fee: Decimal = Decimal("0.0005")
    funding_rate: Decimal = Decimal("0.0001")
    funding_interval_ms: int = 8 * 3_600_000
    slippage: Slippage = _DEFAULT_SLIPPAGE
    rules: Mapping[str, MarketRules] = field(default_factory=dict)

    def config(
        self, instruments: Instrument | Sequence[Instrument], capital: Decimal, seed: int
    ) -> SimConfig:
        insts = (instruments,) if isinstance(instruments, Instrument) else tuple(instruments)
        return SimConfig(
            instruments=insts,
            initial_balance=capital,
            fees=FeeSchedule(maker=self.maker_fee, taker=self.taker_fee),
            slippage=self.slippage,
            participation=self.participation,
            latency_ms=self.latency_ms,
            funding_rate=self.funding_rate,
            funding_interval_ms=self.funding_interval_ms,
            seed=seed,
            rules={s: r for s, r in self.rules.items() if s in {i.symbol for i in insts}},
        )

    def as_params(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "participation": str(self.participation),
            "latency_ms": self.latency_ms,
            "maker_fee": str(self.maker_fee),
            "taker_fee": str(self.taker_fee),
            "funding_rate": str(self.funding_rate),
            "funding_interval_ms": self.funding_interval_ms,
            "slippage": slippage_text(self.slippage),
        }
        if self.rules:
            out["symbols"] = {
                sym: {
                    "maker_fee": str(r.fees.maker) if r.fees else None,
                    "taker_fee": str(r.fees.taker) if r.fees else None,
                    "funding_rate": str(r.funding_rate) if r.funding_rate is not None else None,
                    "funding_interval_ms": r.funding_interval_ms,
                    "slippage": slippage_text(r.slippage) if r.slippage else None,
                }
                for sym, r in sorted(self.rules.items())
            }
        return out


# --------------------------------------------------------------------------- data files


@dataclass(frozen=True)
class DataSource:
    """One bar file and the symbol its bars belong to."""

    path: Path
    symbol: str
    bundled: bool = False

    @property
    def label(self) -> str:
        return f"<bundled>/{SAMPLE_DATA}" if self.bundled else str(self.path)


@dataclass(frozen=True)
class DataSummary:
    """What validating one file found: counts, times, the interval and its gaps."""

    source: DataSource
    bars: int
    sha256: str
    first_ts: int
    last_ts: int
    interval_ms: int
    gaps: int  # missing bars between consecutive rows
    first_gap_ts: int | None  # open time of the first missing bar


_NAMED_SYMBOL = re.compile(r"^([A-Za-z0-9]{2,20}?)[-_]?(USDT|USDC)(?![A-Za-z])", re.IGNORECASE)


def _norm_symbol(text: str) -> str:
    return "".join(c for c in text.upper() if c.isalnum())


def infer_symbol(path: Path, known: Iterable[str]) -> str | None:
    """The known symbol the file name starts with (``BTCUSDT-1m-2024-01.zip``,
    ``btc_usdt_1m.csv``), the longest if several, else None."""
    name = _norm_symbol(path.name)
    hits = [s for s in known if name.startswith(_norm_symbol(s))]
    return max(hits, key=len) if hits else None


def _data_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(
            p for p in path.iterdir() if p.is_file() and p.name.lower().endswith(DATA_SUFFIXES)
        )
        if not files:
            raise RunSetupError(f"{path}: folder holds no data files ({', '.join(DATA_SUFFIXES)})")
        return files
    if not path.is_file():
        raise RunSetupError(f"{path}: no such data file")
    return [path]


def resolve_data(
    specs: Sequence[str], symbol: str | None, known: Iterable[str]
) -> list[DataSource]:
    """``--data`` values (``PATH``, ``SYMBOL=PATH``, a folder) as data sources.

    A file's symbol: ``SYMBOL=`` if given; else ``--symbol`` when there is
    one file; else the known symbol its name starts with. Anything else is a
    ``RunSetupError`` (never a guess).
    """
    known = list(known)
    if not specs:
        wanted = symbol or DEFAULT_SYMBOL
        if wanted != DEFAULT_SYMBOL:
            raise RunSetupError(
                f"the bundled sample is {DEFAULT_SYMBOL} bars; give --data for {wanted}"
            )
        return [DataSource(sample_data_path(), wanted, bundled=True)]
    entries: list[tuple[str | None, Path]] = []
    for spec in specs:
        prefix, sep, rest = spec.partition("=")
        explicit = prefix.strip().upper() if sep and not Path(spec).exists() else None
        for f in _data_files(Path(rest if explicit else spec)):
            entries.append((explicit, f))
    out: list[DataSource] = []
    single = len(entries) == 1
    for named, f in entries:
        sym = named or (symbol if single and symbol else None) or infer_symbol(f, known)
        if sym is None:
            looks = _NAMED_SYMBOL.match(f.name)
            if looks:
                # Named like another market's bars: never stamp them with a default symbol.
                raise MarketError(
                    f"no instrument for {looks.group(1).upper()}-{looks.group(2).upper()} "
                    f"(from the file name {f.name}): add its [instruments] table to the run "
                    f"config, or name the symbol as --data SYMBOL={f}"
                )
        if sym is None and single:
            sym = DEFAULT_SYMBOL
        if sym is None:
            raise RunSetupError(
                f"{f}: cannot tell which symbol these bars are; name it as --data SYMBOL={f}"
            )
        out.append(DataSource(f, sym))
    seen: set[Path] = set()
    for src in out:
        if src.path.resolve() in seen:
            raise RunSetupError(f"{src.path}: given twice")
        seen.add(src.path.resolve())
    return out


def _validate_data(src: DataSource) -> DataSummary:
    """Read a whole file once (it is validated row by row): counts, hash, interval, gaps."""
    h = hashlib.sha256()
    try:
        with src.path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError as e:
        raise RunSetupError(f"{src.path}: cannot read data file: {e.strerror}") from None
    n = gaps = 0
    first_ts = last_ts = interval = -1
    first_gap: int | None = None
    try:
        for bar in iter_bars(src.path, src.symbol):
            length = bar.close_ts - bar.ts + 1
            if n == 0:
                first_ts, interval = bar.ts, length
            elif length != interval:
                raise RunSetupError(
                    f"{src.label}: mixed intervals: the bar at {bar.ts} lasts {length} ms, "
                    f"the first {interval} ms"
                )
            else:
                step = bar.ts - last_ts
                if step % interval:
                    raise RunSetupError(
                        f"{src.label}: mixed intervals: bar at {bar.ts} is {step} ms after the "
                        f"previous one, not a multiple of the {interval} ms interval"
                    )
                if step > interval:
                    gaps += step // interval - 1
                    if first_gap is None:
                        first_gap = last_ts + interval
            last_ts = bar.ts
            n += 1
    except MarketDataError as e:
        raise RunSetupError(f"bad data file {e}") from None
    if n == 0:
        raise RunSetupError(f"{src.label}: no bars")
    return DataSummary(src, n, h.hexdigest(), first_ts, last_ts, interval, gaps, first_gap)


def _check_together(summaries: Sequence[DataSummary]) -> list[str]:
    """Mixed intervals across files are an error; gaps are reported (the returned lines)."""
    intervals = {s.interval_ms for s in summaries}
    if len(intervals) > 1:
        listed = ", ".join(f"{s.source.label} {s.interval_ms} ms" for s in summaries)
        raise RunSetupError(f"mixed intervals across data files: {listed}")
    notes: list[str] = []
    by_symbol: dict[str, list[DataSummary]] = {}
    for s in summaries:
        by_symbol.setdefault(s.source.symbol, []).append(s)
    for sym, parts in by_symbol.items():
        parts.sort(key=lambda s: s.first_ts)
        for a, b in itertools.pairwise(parts):
            if b.first_ts <= a.last_ts:
                raise RunSetupError(f"{sym}: {a.source.label} and {b.source.label} overlap in time")
            missing = (b.first_ts - a.last_ts) // a.interval_ms - 1
            if missing:
                notes.append(
                    f"{sym}: {missing} bar(s) missing between {a.source.label} and {b.source.label}"
                )
    for s in summaries:
        if s.gaps:
            notes.append(
                f"{s.source.label} ({s.source.symbol}): {s.gaps} bar(s) missing, the first at "
                f"{_iso(s.first_gap_ts)}"
            )
    return notes


def _iso(ms: int | None) -> str:
    from datetime import UTC, datetime

    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds")


def merged_bars(sources: Sequence[DataSource], order: Sequence[str]) -> Iterator[Bar]:
    """Every source's bars in time order; bars with one timestamp by symbol order."""
    rank = {s: i for i, s in enumerate(order)}
    per_symbol: dict[str, list[DataSource]] = {}
    for src in sources:
        per_symbol.setdefault(src.symbol, []).append(src)
    streams = [
        itertools.chain.from_iterable(iter_bars(s.path, s.symbol) for s in srcs)
        for _sym, srcs in sorted(per_symbol.items(), key=lambda kv: rank[kv[0]])
    ]
    if len(streams) == 1:
        return streams[0]
    return heapq.merge(*streams, key=lambda b: (b.ts, rank[b.symbol]))


# --------------------------------------------------------------------------- the run


@dataclass
class PreparedRun:
    """Everything validated; ``execute`` is the first step that writes."""

    bars: Callable[[], Iterable[Bar]]
    bar_count: int
    policy: Policy
    policy_name: str
    instruments: tuple[Instrument, ...]
    capital: Decimal
    seed: int
    slots: int
    journal_path: Path | None
    sim: SimSettings
    data_label: str
    params: dict[str, Any] = field(default_factory=dict)
    synchronous: Synchronous = Synchronous.FULL
    # When the journal is committed (see dita.engine.Durability): a sim run's venue is in the
    # process, so it commits in groups; the BingX emulator and live venues are always write-ahead.
    durability: Durability = Durability.GROUPED
    notes: list[str] = field(default_factory=list)  # data gaps etc., to show the user
    resume: bool = False  # continue the interrupted run in journal_path (dita.app.rerun)

    @property
    def instrument(self) -> Instrument:
        """The only instrument of a one-symbol run."""
        if len(self.instruments) != 1:
            raise RunSetupError(
                f"this needs a one-symbol run; this one has {', '.join(self.symbols)}"
            )
        return self.instruments[0]

    @instrument.setter
    def instrument(self, inst: Instrument) -> None:
        self.instruments = (inst,)

    @property
    def symbols(self) -> list[str]:
        return [i.symbol for i in self.instruments]

    def meta(self) -> RunMeta:
        return RunMeta(
            slots=self.slots,
            instruments=self.instruments,
            initial_capital=self.capital,
            policy=self.policy_name,
            seed=self.seed,
            venue="sim",
            params={"data": self.data_label, "sim": self.sim.as_params(), **self.params},
        )


def policy_params_record(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The policy parameters as the run record keeps them (Decimals as text)."""
    if not params:
        return {}
    return {"policy_params": {k: _plain(v) for k, v in sorted(params.items())}}


def _plain(v: Any) -> Any:
    if isinstance(v, bool | int | str):
        return v
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    return str(v)


def prepare_sim_run(
    *,
    data: Path | Sequence[Path | str] | None = None,
    policy: str | None = None,
    intents: str | None = None,
    capital: Decimal = Decimal(100_000),
    seed: int = 7,
    slots: int = 2,
    journal: Path | None = None,
    symbol: str | None = None,
    sim: SimSettings | None = None,
    synchronous: Synchronous = Synchronous.FULL,
    instruments: InstrumentBook | None = None,
    policy_params: Mapping[str, Any] | None = None,
    resume: bool = False,
    durability: Durability = Durability.GROUPED,
) -> PreparedRun:
    """Validate every input of a simulated run; raise ``RunSetupError`` and write nothing if bad.

    ``resume``: ``journal`` is an interrupted run's; continue it (see ``dita.app.rerun``).
    ``durability``: when the sim venue's journal is committed (``dita.engine.Durability``:
    ``GROUPED``, every ``DEFAULT_GROUP_RECORDS`` records and at the end, or ``WRITE_AHEAD``,
    before every command).

    ``data``: one file, or several (``PATH`` / ``SYMBOL=PATH`` / a folder);
    see ``resolve_data``. ``instruments``: where grids come from (default:
    the bundled BingX list); a symbol it does not know is an error.
    ``policy_params`` are passed to the policy's constructor as keyword arguments.
    """
    if policy is not None and intents is not None:
        raise RunSetupError("choose one of --policy and --intents, not both")
    if policy_params and intents is not None:
        raise RunSetupError("policy parameters are for --policy, not --intents")
    if slots < 1:
        raise RunSetupError(f"--slots must be >= 1, got {slots}")
    if not capital.is_finite() or capital <= 0:
        raise RunSetupError(f"--capital must be a positive number, got {capital}")
    sources, order, insts = _sim_sources(data, symbol, instruments)
    summaries = [_validate_data(src) for src in sources]
    notes = _check_together(summaries)
    count = sum(s.bars for s in summaries)

    policy_name, pol = _sim_policy(policy, intents, policy_params)
    last_close = max(s.last_ts + s.interval_ms - 1 for s in summaries)
    if isinstance(pol, JsonlIntents) and (late := pol.undeliverable(last_close)) is not None:
        raise RunSetupError(late)

    _check_journal_path(journal, resume)
    settings = sim or SimSettings()
    try:
        SimExchange(settings.config(insts, capital, seed))
        Kernel(slots, list(insts), capital)
    except ValueError as e:
        raise RunSetupError(f"invalid run parameters: {e}") from None
    params, label = _data_params(summaries, count)
    if notes:
        params["data_notes"] = notes
    return PreparedRun(
        bars=lambda: merged_bars(sources, order),
        bar_count=count,
        policy=pol,
        policy_name=policy_name,
        instruments=insts,
        capital=capital,
        seed=seed,
        slots=slots,
        journal_path=journal,
        sim=settings,
        data_label=label,
        params={**params, **policy_params_record(policy_params)},
        synchronous=synchronous,
        durability=durability,
        notes=notes,
        resume=resume,
    )


def _sim_sources(
    data: Path | Sequence[Path | str] | None, symbol: str | None, instruments: InstrumentBook | None
) -> tuple[list[DataSource], list[str], tuple[Instrument, ...]]:
    """The data files of a simulated run, its symbols in first-seen order and their instruments."""
    try:
        book = instruments or InstrumentBook.build(None, ())
        specs = (
            []
            if data is None
            else [str(data)]
            if isinstance(data, Path)
            else [str(d) for d in data]
        )
        sources = resolve_data(specs, symbol, book.symbols())
        order: list[str] = []
        for src in sources:
            if src.symbol not in order:
                order.append(src.symbol)
        insts = tuple(book.get(sym).instrument for sym in order)
    except MarketError as e:
        raise RunSetupError(str(e)) from None
    return sources, order, insts


def _sim_policy(
    policy: str | None, intents: str | None, policy_params: Mapping[str, Any] | None
) -> tuple[str, Policy]:
    """The run's policy and the name its run record keeps: a JSONL intents file (``-``: stdin)
    or a named policy."""
    try:
        if intents is not None:
            if intents == "-":
                import sys

                return "jsonl:<stdin>", JsonlIntents.read(sys.stdin, "<stdin>")
            return f"jsonl:{intents}", JsonlIntents.read(intents)
        policy_name = policy or DEFAULT_POLICY
        return policy_name, load_policy(policy_name, policy_params)
    except PolicyError as e:
        raise RunSetupError(str(e)) from None


def _check_journal_path(journal: Path | None, resume: bool) -> None:
    if resume and (journal is None or not journal.is_file()):
        raise RunSetupError(f"--resume continues an existing --journal; {journal} is not a file")
    if journal is not None:
        if journal.exists() and not resume:
            raise RunSetupError(
                f"{journal}: journal already exists; dita run writes a fresh journal (choose "
                "another path, or --resume to continue an interrupted run)"
            )
        if journal.parent.exists() and not journal.parent.is_dir():
            raise RunSetupError(f"{journal.parent}: not a directory")


def _data_params(summaries: Sequence[DataSummary], count: int) -> tuple[dict[str, Any], str]:
    """The run record's description of its data (checksums, bar counts) and a one-line label."""
    if len(summaries) == 1:
        return {"data_sha256": summaries[0].sha256, "bars": count}, summaries[0].source.label
    params = {
        "data_files": [
            {"path": s.source.label, "symbol": s.source.symbol, "sha256": s.sha256,
             "bars": s.bars}
            for s in summaries
        ],
        "bars": count,
    }  # fmt: skip
    return params, ", ".join(f"{s.source.symbol}={s.source.label}" for s in summaries)


def prepare_configured_run(
    explicit: Mapping[str, Any],
    config_path: Path | None = None,
    *,
    intents: str | None = None,
    journal: Path | None = None,
    synchronous: Synchronous = Synchronous.FULL,
    policy_params: Mapping[str, Any] | None = None,
    resume: bool = False,
    durability: Durability = Durability.GROUPED,
) -> PreparedRun:
    """``prepare_sim_run`` from settings with their precedence resolved.

    ``policy_params`` (``--param``) override the config's ``[policy_params]`` key by key.

    ``explicit``: the settings given as flags or environment variables (keys
    of ``dita.app.runconfig.DEFAULTS``); the config file fills what they leave
    out, the bundled defaults the rest (see ``dita.app.runconfig``).
    """
    from dita.app.runconfig import load_run_config, resolve, resolve_model

    try:
        config = load_run_config(config_path) if config_path is not None else None

        def get(key: str) -> Any:
            return resolve(key, explicit, config)

        files = [Path(f) for f in get("instrument_files")]
        book = InstrumentBook.build(config.instruments if config else None, files)
        data = list(get("data"))
        symbol = get("symbol")
        specs_syms = [src.symbol for src in resolve_data(data, symbol, book.symbols())]
        rules: dict[str, MarketRules] = {}
        for sym in dict.fromkeys(specs_syms):
            m = resolve_model(book.get(sym), explicit, config)
            assert m.maker_fee is not None and m.taker_fee is not None
            rules[sym] = MarketRules(
                fees=FeeSchedule(maker=m.maker_fee, taker=m.taker_fee),
                slippage=m.slippage,
                funding_rate=m.funding_rate,
                funding_interval_ms=m.funding_interval_ms,
            )
        base = resolve_model(_NO_SPEC, explicit, config)
        assert base.maker_fee is not None and base.taker_fee is not None
        assert base.funding_rate is not None and base.funding_interval_ms is not None
        assert base.slippage is not None
        settings = SimSettings(
            participation=decimal_setting(get("participation"), "participation"),
            latency_ms=int(get("latency_ms")),
            maker_fee=base.maker_fee,
            taker_fee=base.taker_fee,
            funding_rate=base.funding_rate,
            funding_interval_ms=base.funding_interval_ms,
            slippage=base.slippage,
            rules=rules,
        )
        capital = decimal_setting(get("capital"), "capital")
    except MarketError as e:
        raise RunSetupError(str(e)) from None
    return prepare_sim_run(
        data=data or None, policy=get("policy"), intents=intents, capital=capital,
        seed=int(get("seed")), slots=int(get("slots")), journal=journal, symbol=symbol,
        sim=settings, synchronous=synchronous, instruments=book,
        policy_params={**get("policy_params"), **(policy_params or {})}, resume=resume,
        durability=durability,
    )  # fmt: skip


_NO_SPEC = InstrumentSpec(Instrument("", Decimal(1), Decimal(1), Decimal(0), Decimal(0)),
                          MarketModel(), "")  # fmt: skip


def execute(
    run: PreparedRun,
    *,
    progress: Callable[[int], None] | None = None,
    progress_every: int = 1000,
    bars: Iterable[Bar] | None = None,
) -> BacktestResult:
    """Create the journal (if any) and run the backtest to the end."""
    kernel = Kernel(run.slots, list(run.instruments), run.capital)
    venue = SimExchange(
        run.sim.config(run.instruments, run.capital, run.seed), keep_finished=KEEP_FINISHED
    )
    with _journal(run) as journal:
        bt = Backtest(
            kernel=kernel,
            venue=venue,
            policy=run.policy,
            journal=journal,
            clock=SimClock(),
            progress=progress,
            progress_every=progress_every,
            durability=run.durability,
        )
        return bt.run(run.meta(), bars if bars is not None else run.bars())


@contextlib.contextmanager
def _journal(run: PreparedRun) -> Iterator[SqliteJournal | None]:
    if run.journal_path is None:
        yield None
        return
    run.journal_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if run.resume:
            from dita.app.rerun import ContinuingJournal

            j: SqliteJournal = ContinuingJournal.continue_run(
                run.journal_path, synchronous=run.synchronous
            )
        else:
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
    import asyncio
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
                settings=EngineSettings(drain_timeout_s=1.0),
                # stamps are market time, but the emulator is a real server: a retry waits
                # in real time (on market time it would wait for a bar the feed holds back
                # until the send is done)
                sleep=asyncio.sleep,
            )
            box.append(engine)
            stats = await engine.run()
            if progress is not None:
                progress(stats.bars)
            return BacktestResult(stats, engine.kernel, engine.open_slots())


def _chain_first(first: Bar, rest: Iterator[Bar]) -> Iterator[Bar]:
    yield first
    yield from rest
