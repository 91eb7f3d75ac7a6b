"""``dita run --venue bingx``: a policy trading on BingX (live, VST demo, or a loopback emulator).

Like ``dita.app.runner`` for the simulated venues, setup is split in two:
``prepare_live_run`` checks every input (endpoint, credentials, policy,
journal path, stop condition) and writes nothing; ``execute_live`` talks to
the venue and writes the journal. Differences from a simulated run:

* Time is wall time (``LiveClock``; the engine's, the adapter's and the bar
  feed's waits and the restart backoff all run on that one clock), bars are
  BingX's closed 1m klines (``dita.venues.bingx.bars.BingxBarFeed``), instruments come from
  ``/quote/contracts``, and the kernel's capital is the account's available
  balance unless ``--capital`` is given.
* The journal is always durable (SQLite ``synchronous=FULL``).
* An existing journal is continued through the crash-recovery path: the
  kernel is rebuilt from it and reconciled with the venue (``Engine(resume_from=...)``)
  before the policy sees a bar; a fresh journal gets a client order id prefix
  of its own, so two runs on one account never share an order id.
* The run stops after ``max_bars`` closed bars or ``duration_s`` seconds
  (whichever comes first), then waits for live orders to finish.

API keys come from ``BINGX_API_KEY``/``BINGX_API_SECRET`` or a file; they never
reach the journal, a log line, or an error message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from dita.app.runner import DEFAULT_POLICY, RunSetupError
from dita.clock import Clock, LiveClock
from dita.engine import BacktestResult, EngineSettings
from dita.journal import RunMeta, SqliteJournal, Synchronous
from dita.marketdata import Bar
from dita.policy import JsonlIntents, Policy, PolicyError, load_policy
from dita.recovery import OnMismatch
from dita.venues.bingx import Credentials, CredentialsError, Endpoints
from dita.venues.bingx.tap import WireHooks

if TYPE_CHECKING:
    from dita.kernel import Instrument, Kernel
    from dita.recovery import ReconcileSettings
    from dita.venues.bingx import BingxVenue

LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
_T = TypeVar("_T")
MINUTE_MS = 60_000


class Network(StrEnum):
    LIVE = "live"  # real money
    VST = "vst"  # BingX's demo environment ("virtual USDT")
    LOOPBACK = "loopback"  # a BingX emulator on this machine


@dataclass(frozen=True)
class Target:
    network: Network
    endpoints: Endpoints

    @property
    def venue_name(self) -> str:
        return "bingx" if self.network is Network.LIVE else f"bingx-{self.network.value}"


def resolve_target(*, testnet: bool, base_url: str | None) -> Target:
    """Where a ``--venue bingx`` run trades. ``base_url`` is for a loopback emulator only."""
    if base_url is None:
        return (
            Target(Network.VST, Endpoints.vst())
            if testnet
            else Target(Network.LIVE, Endpoints.live())
        )
    if testnet:
        raise RunSetupError("--bingx-base-url and --testnet contradict each other; choose one")
    try:
        parts = urlsplit(base_url)
        port = parts.port
    except ValueError:
        raise RunSetupError(f"--bingx-base-url {base_url!r}: not a URL") from None
    if (
        parts.scheme != "http"
        or parts.hostname not in LOOPBACK_HOSTS
        or port is None
        or parts.path not in ("", "/")
        or parts.query
        or parts.username
    ):
        raise RunSetupError(
            f"--bingx-base-url {base_url!r}: only a loopback emulator is accepted "
            "(http://127.0.0.1:PORT or http://localhost:PORT); use --testnet or no flag for BingX"
        )
    assert parts.hostname is not None
    return Target(Network.LOOPBACK, Endpoints.loopback(port, parts.hostname))


def load_credentials(path: Path | None, environ: Mapping[str, str] | None = None) -> Credentials:
    """Keys from ``path`` or the environment; the error names where we looked, never a value."""
    try:
        return Credentials.from_file(path) if path is not None else Credentials.from_env(environ)
    except CredentialsError as e:
        hint = "" if path is not None else " (or pass --bingx-credentials FILE)"
        raise RunSetupError(f"{e}{hint}") from None


@dataclass
class LiveRun:
    """A validated ``--venue bingx`` run; ``execute_live`` is the first step that writes."""

    target: Target
    credentials: Credentials
    symbol: str
    policy: Policy
    policy_name: str
    slots: int | None  # None: 2 for a fresh journal, the journal's when continuing one
    capital: Decimal | None  # None: the account's available balance, or the journal's
    journal_path: Path
    resume: bool  # the journal exists: continue it through recovery
    max_bars: int | None
    duration_s: float | None
    bar_interval_ms: int = MINUTE_MS
    on_mismatch: OnMismatch = OnMismatch.HALT
    wire: WireHooks | None = None  # --record-wire / --replay-wire (dita.venues.bingx.tap)


def wire_options(run: LiveRun) -> dict[str, Any]:
    """The options that shape a run: a capture keeps them, its replay must give the same."""
    return {
        "network": run.target.network.value, "rest": run.target.endpoints.rest,
        "ws": run.target.endpoints.ws, "symbol": run.symbol, "policy": run.policy_name,
        "slots": run.slots, "capital": None if run.capital is None else str(run.capital),
        "max_bars": run.max_bars, "duration_s": run.duration_s,
        "bar_interval_ms": run.bar_interval_ms, "on_mismatch": run.on_mismatch.value,
        "resume": run.resume,
    }  # fmt: skip


def _load_policy(policy: str | None, intents: str | None) -> tuple[Policy, str]:
    if policy is not None and intents is not None:
        raise RunSetupError("choose one of --policy and --intents, not both")
    try:
        if intents is not None:
            if intents == "-":
                import sys

                return JsonlIntents.read(sys.stdin, "<stdin>"), "jsonl:<stdin>"
            return JsonlIntents.read(intents), f"jsonl:{intents}"
        name = policy or DEFAULT_POLICY
        return load_policy(name), name
    except PolicyError as e:
        raise RunSetupError(str(e)) from None


def prepare_live_run(
    *,
    target: Target,
    credentials: Credentials,
    journal: Path,
    symbol: str = "BTC-USDT",
    policy: str | None = None,
    intents: str | None = None,
    slots: int | None = None,
    capital: Decimal | None = None,
    max_bars: int | None = None,
    duration_s: float | None = None,
    bar_interval_ms: int = MINUTE_MS,
    on_mismatch: OnMismatch = OnMismatch.HALT,
) -> LiveRun:
    """Validate a live run; raise ``RunSetupError`` and write nothing if anything is wrong."""
    if max_bars is None and duration_s is None:
        raise RunSetupError(
            "a --venue bingx run needs an explicit end: --max-bars N and/or --duration SECONDS"
        )
    if max_bars is not None and max_bars < 1:
        raise RunSetupError(f"--max-bars must be >= 1, got {max_bars}")
    if duration_s is not None and not duration_s > 0:
        raise RunSetupError(f"--duration must be > 0 seconds, got {duration_s}")
    if slots is not None and slots < 1:
        raise RunSetupError(f"--slots must be >= 1, got {slots}")
    if capital is not None and (not capital.is_finite() or capital <= 0):
        raise RunSetupError(f"--capital must be a positive number, got {capital}")
    if bar_interval_ms != MINUTE_MS and target.network is not Network.LOOPBACK:
        raise RunSetupError("--bar-interval-ms is for a loopback emulator only; BingX bars are 1m")
    if bar_interval_ms < 10:
        raise RunSetupError(f"--bar-interval-ms must be >= 10, got {bar_interval_ms}")
    resume = journal.exists()
    if resume and not journal.is_file():
        raise RunSetupError(f"{journal}: not a journal file")
    if journal.parent.exists() and not journal.parent.is_dir():
        raise RunSetupError(f"{journal.parent}: not a directory")
    pol, name = _load_policy(policy, intents)
    return LiveRun(
        target=target, credentials=credentials, symbol=symbol, policy=pol, policy_name=name,
        slots=slots, capital=capital, journal_path=journal, resume=resume, max_bars=max_bars,
        duration_s=duration_s, bar_interval_ms=bar_interval_ms, on_mismatch=on_mismatch,
    )  # fmt: skip


def default_live_journal(symbol: str, clock: Clock | None = None) -> Path:
    """``runs/<UTC time>-bingx-<symbol>/journal.sqlite`` (a fresh directory)."""
    from datetime import UTC, datetime

    now = (clock or LiveClock()).now_ms()
    stamp = datetime.fromtimestamp(now / 1000, tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    base = Path("runs") / f"{stamp}-bingx-{symbol.lower()}"
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = Path(f"{base}-{n}")
    return candidate / "journal.sqlite"


def fresh_prefix(now_ms: int) -> str:
    """A client order id prefix for a fresh run: ``d`` + base36 seconds (unique for ~2 years)."""
    n = (now_ms // 1000) % 36**5
    digits = ""
    for _ in range(5):
        n, r = divmod(n, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[r] + digits
    return "d" + digits


def execute_live(
    run: LiveRun,
    *,
    clock: Clock | None = None,
    on_bar: Callable[[Bar, int], None] | None = None,
    on_ready: Callable[[str], None] | None = None,
    restarts: RestartPolicy | None = None,
    on_restart: Callable[[Restart], None] | None = None,
) -> BacktestResult:
    """Trade until the stop condition; the journal is written as the run goes.

    With ``restarts``, a recoverable failure (see ``recoverable``) restarts the run on
    the same journal through recovery (kernel rebuilt, reconciled with the venue),
    after a backoff; each restart is logged with its cause and given to ``on_restart``.
    The stop condition (``max_bars``/``duration_s``) counts from each restart."""
    import asyncio
    import dataclasses

    timer = clock or LiveClock()

    async def one(n: int) -> BacktestResult:
        this = run if n == 0 else dataclasses.replace(run, resume=run.journal_path.exists())
        traded = False

        def bar(b: Bar, i: int) -> None:
            nonlocal traded
            traded = True
            if on_bar is not None:
                on_bar(b, i)

        try:
            return await _live(this, timer, bar, on_ready)
        except BaseException as e:
            if traded:
                raise Traded(e) from e
            raise

    async def go() -> BacktestResult:
        # the wait between restarts is on the run's clock, as every other timer is
        return await supervise(one, restarts or RestartPolicy(attempts=0),
                               on_restart=on_restart, sleep=timer.sleep)  # fmt: skip

    try:
        return asyncio.run(go())
    except Traded as t:  # (only when restarts ran out: the error itself)
        raise t.error from None


async def _live(
    run: LiveRun,
    clock: Clock,
    on_bar: Callable[[Bar, int], None] | None,
    on_ready: Callable[[str], None] | None,
) -> BacktestResult:
    import httpx

    from dita.engine import Engine
    from dita.venues.bingx import BingxConfig, BingxVenue
    from dita.venues.bingx.bars import BingxBarFeed

    wire = run.wire
    if wire is not None:
        clock = wire.clock(clock)
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(10.0, connect=5.0),
        transport=None if wire is None else wire.transport(),
    ) as client:
        venue = BingxVenue(
            client, run.credentials, BingxConfig(endpoints=run.target.endpoints),
            clock=clock.now_ms, sleep=clock.sleep,
            connect=None if wire is None else wire.connect(),
        )  # fmt: skip
        instruments = await venue.load_instruments()
        inst = instruments.get(run.symbol)
        if inst is None:
            raise RunSetupError(
                f"{run.target.endpoints.rest} does not list {run.symbol} as tradable "
                f"({len(instruments)} symbols, e.g. {', '.join(sorted(instruments)[:5])})"
            )
        start = _resume_start(run) if run.resume else await _fresh_start(run, venue, inst, clock)
        journal = start.journal
        if on_ready is not None:
            on_ready(start.what)

        began = clock.now_ms()
        feed = BingxBarFeed(
            client, run.target.endpoints.rest, run.symbol, clock=clock.now_ms, sleep=clock.sleep,
            interval_ms=run.bar_interval_ms, grace_ms=min(2_000, run.bar_interval_ms // 10),
            max_bars=run.max_bars,
            until_ms=None if run.duration_s is None else began + int(run.duration_s * 1000),
        )  # fmt: skip

        async def bars() -> AsyncIterator[Bar]:
            n = 0
            async for bar in feed:
                n += 1
                if on_bar is not None:
                    on_bar(bar, n)
                yield bar

        with journal:
            engine = Engine(
                kernel=start.kernel, venue=venue, policy=run.policy, journal=journal, clock=clock,
                meta=start.meta, bars=bars(), resume_from=start.resume_from,
                settings=EngineSettings(reconcile=start.reconcile),
            )  # fmt: skip
            try:
                stats = await engine.run()
            except BaseException:
                if not run.resume:
                    journal.close()
                    _discard_if_empty(run.journal_path, start.made_dir)
                raise
            return BacktestResult(stats, engine.kernel, engine.open_slots())


@dataclass
class _Start:
    """What a live run starts from: a continued journal, or a fresh one and a flat kernel."""

    journal: SqliteJournal
    kernel: Kernel
    meta: RunMeta
    what: str  # for on_ready
    resume_from: int | None = None
    reconcile: ReconcileSettings | None = None
    made_dir: bool = False  # a fresh journal's folder was made for it (removed if left empty)


def _resume_start(run: LiveRun) -> _Start:
    from dita.recovery import ReconcileSettings, RecoveryError, open_journal_for_recovery

    try:
        rec = open_journal_for_recovery(run.journal_path)
    except RecoveryError as e:
        raise RunSetupError(str(e)) from None
    journal, kernel, meta = rec.journal, rec.kernel, rec.meta
    if not meta.venue.startswith("bingx") or run.symbol not in meta.instrument_map():
        journal.close()
        raise RunSetupError(
            f"{run.journal_path}: journal of a {meta.venue or 'sim'} run on "
            f"{', '.join(sorted(meta.instrument_map()))}; it cannot continue as a "
            f"{run.target.venue_name} run on {run.symbol}"
        )
    differs = [
        f"{flag} {given} (the journal's run has {theirs})"
        for flag, given, theirs in (
            ("--slots", run.slots, meta.slots),
            ("--capital", run.capital, meta.initial_capital),
        )
        if given is not None and given != theirs
    ]
    if differs:
        journal.close()
        raise RunSetupError(
            f"{run.journal_path}: continuing a journal keeps its parameters; "
            f"drop {', '.join(differs)}"
        )
    what = f"resuming {run.journal_path} (reconciling with the venue first)"
    if rec.torn is not None:
        what += f"; torn tail moved aside: {rec.torn}"
    return _Start(
        journal, kernel, meta, what, resume_from=rec.last_input_seq,
        reconcile=ReconcileSettings(on_mismatch=run.on_mismatch),
    )  # fmt: skip


async def _fresh_start(run: LiveRun, venue: BingxVenue, inst: Instrument, clock: Clock) -> _Start:
    from dita.kernel import Kernel

    # A fresh kernel starts flat: an account already holding the symbol (say, a run
    # that ended with an order working) would make its orders mean something else
    # (a reduce-only exit against someone else's position).
    held = [p for p in await venue.positions() if p.asset == run.symbol and p.quantity]
    working = [o for o in await venue.open_orders() if o.asset == run.symbol]
    if held or working:
        found = [f"{p.side.value} {p.quantity}" for p in held]
        found += [f"{len(working)} open order(s)"] if working else []
        raise RunSetupError(
            f"the account already has {' and '.join(found)} on {run.symbol} at "
            f"{run.target.endpoints.rest}; a fresh run starts flat: close them, or continue "
            "the journal that opened them (--journal PATH)"
        )
    capital = run.capital
    if capital is None:
        capital = (await venue.balance()).available
        if capital <= 0:
            raise RunSetupError(
                f"the account has no available balance on {run.target.endpoints.rest}"
            )
    prefix = fresh_prefix(clock.now_ms())
    slots = run.slots or 2
    kernel = Kernel(slots, [inst], capital, client_id_prefix=prefix)
    meta = RunMeta(
        slots=slots, instruments=(inst,), initial_capital=capital,
        client_id_prefix=prefix, policy=run.policy_name, seed=None,
        venue=run.target.venue_name, params=_params(run),
    )  # fmt: skip
    made_dir = not run.journal_path.parent.exists()
    run.journal_path.parent.mkdir(parents=True, exist_ok=True)
    journal = SqliteJournal.open(run.journal_path, synchronous=Synchronous.FULL)
    return _Start(journal, kernel, meta, f"journal {run.journal_path} (new)", made_dir=made_dir)


def _discard_if_empty(path: Path, made_dir: bool) -> None:
    """A fresh journal that failed before its run record (the venue refused the start):
    remove it, so that the same ``--journal`` can be used again rather than 'resumed'."""
    from dita.journal import JournalError

    try:
        with SqliteJournal.open(path, create=False, readonly=True) as j:
            if j.last_seq != 0:
                return
    except JournalError:
        return
    for p in (
        path,
        *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal", "-seal", ".lock")),
    ):
        p.unlink(missing_ok=True)
    if made_dir and not any(path.parent.iterdir()):
        path.parent.rmdir()


def _params(run: LiveRun) -> dict[str, Any]:
    """What a reader of the journal needs to know about the run (never a key or secret)."""
    return {
        "rest": run.target.endpoints.rest,
        "network": run.target.network.value,
        "symbol": run.symbol,
        "bar_interval_ms": run.bar_interval_ms,
        "max_bars": run.max_bars,
        "duration_s": run.duration_s,
        "capital_from": "option" if run.capital is not None else "venue balance",
    }


# --------------------------------------------------------------------------- supervision


@dataclass(frozen=True)
class RestartPolicy:
    """How ``supervise`` restarts a live run: at most ``attempts`` restarts in a row that
    fail again before trading, waiting ``first_delay_s``, then ``factor`` times longer,
    at most ``max_delay_s``. ``attempts=0``: no restarts (a service manager's job)."""

    attempts: int = 5
    first_delay_s: float = 1.0
    factor: float = 2.0
    max_delay_s: float = 60.0

    def delay(self, n: int) -> float:
        """The wait before the ``n``-th consecutive restart (1-based)."""
        return min(self.first_delay_s * self.factor ** (n - 1), self.max_delay_s)


def recoverable(e: BaseException) -> bool:
    """Whether restarting through recovery can help: a transport or venue hiccup, an
    inconclusive reconciliation. Not: a contradiction or halt (a human decides), a
    damaged journal, bad credentials, a policy bug, an operator's Ctrl-C."""
    from dita.engine import EngineError, PolicyFault
    from dita.journal import JournalError
    from dita.recovery import ReconcileConflict, ReconcileError, ReconcileHalted
    from dita.venues.base import VenueError, VenueFatal

    if isinstance(e, BaseExceptionGroup):
        return all(recoverable(x) for x in e.exceptions)
    if isinstance(e, KeyboardInterrupt | RunSetupError | PolicyFault | JournalError):
        return False
    if isinstance(e, ReconcileConflict | ReconcileHalted | VenueFatal):
        return False
    if isinstance(e, EngineError) and isinstance(e.__cause__, VenueFatal):
        return False
    import httpx

    return isinstance(e, ReconcileError | VenueError | EngineError | httpx.HTTPError | OSError)


@dataclass(frozen=True)
class Restart:
    """One restart: after which failure, how long it waited, and whether the run it
    started got past start-up (recovery and reconciliation) and traded."""

    attempt: int  # consecutive restarts so far, 1-based
    cause: str
    delay_s: float


def cause_of(e: BaseException) -> str:
    while isinstance(e, BaseExceptionGroup) and e.exceptions:
        e = e.exceptions[0]
    return f"{type(e).__name__}: {e}"


async def supervise(
    life: Callable[[int], Awaitable[_T]],
    policy: RestartPolicy,
    *,
    on_restart: Callable[[Restart], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> _T:
    """Run ``life(n)`` (n = 0, 1, ...) until it returns; after a recoverable failure,
    wait and run it again (it resumes through recovery). A failure after the life got
    past start-up resets the consecutive count: ``life`` tells this by raising
    ``Traded(error)``. Raises the last error when the restarts run out
    or the failure is not recoverable. Each restart goes to ``on_restart``, or to the
    ``dita.live`` logger when none is given."""
    import asyncio

    wait = sleep or asyncio.sleep
    in_a_row = 0
    n = 0
    while True:
        try:
            return await life(n)
        except Traded as t:
            err: BaseException = t.error
            in_a_row = 0
        except BaseException as e:
            err = e
        if not recoverable(err) or in_a_row >= policy.attempts:
            raise err
        in_a_row += 1
        n += 1
        d = policy.delay(in_a_row)
        if on_restart is not None:
            on_restart(Restart(in_a_row, cause_of(err), d))
        else:
            import logging

            # the logger keeps the name it had before dita/app/ (log filters use it)
            logging.getLogger("dita.live").warning(
                "restart %d/%d in %.1fs after: %s", in_a_row, policy.attempts, d, cause_of(err)
            )
        await wait(d)


class Traded(Exception):
    """A live run failed after it had got past start-up and traded (wraps the error)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(cause_of(error))
        self.error = error
