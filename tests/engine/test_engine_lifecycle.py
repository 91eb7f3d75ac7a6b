"""The async engine's lifecycle, its TaskGroup and its handling of venue trouble."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from pathlib import Path

import pytest

from dita.app.runner import default_instrument
from dita.clock import SimClock
from dita.engine import (
    Engine,
    EngineError,
    EngineSettings,
    EngineState,
    EngineStateError,
    PolicyFault,
)
from dita.journal import RunMeta, SqliteJournal, replay
from dita.kernel import (
    Action,
    Kernel,
    KernelIntent,
    KernelOutcome,
    Order,
    OrderType,
    Side,
    TradeStage,
)
from dita.marketdata import Bar
from dita.policy import PolicyView
from dita.recovery import RetryPolicy
from dita.testing.mock_venue import MockVenue
from dita.venues.base import NotSent, OutcomeUnknown, VenueFatal
from tests.engine.driven import DrivenSleep

INST = default_instrument()
CAPITAL = Decimal(10_000)


def _bar(i: int, close: str = "40000") -> Bar:
    ts = 1_704_067_200_000 + i * 60_000
    c = Decimal(close)
    return Bar(INST.symbol, ts, c, c, c, c, Decimal(100), ts + 59_999)


async def _paced(n: int, engine: list[Engine]) -> AsyncIterator[Bar]:
    """Bars that wait for the engine to answer the previous one, as real time would allow."""
    for i in range(n):
        await engine[0].wait_settled(i)
        yield _bar(i)


class EnterThenExit:
    """Bar 1: ENTER (MARKET, two legs). Once open: EXIT leg by leg."""

    def __init__(self) -> None:
        self.n = 0

    def on_bar(self, bar: Bar, view: PolicyView) -> Sequence[KernelIntent]:
        self.n += 1
        s = view.slot(0)
        if self.n == 1:
            return [
                KernelIntent(f"i{self.n}", view.now_ms, 0, Action.ENTER, trade_id="t1", asset=INST.symbol,
                             side=Side.LONG, size=Decimal("0.1"), order_type=OrderType.MARKET,
                             reference_price=bar.close, exit_leg_ratios=(Decimal("0.5"), Decimal("0.5")))
            ]  # fmt: skip
        if s.stage is TradeStage.POSITION_OPEN:
            return [KernelIntent(f"i{self.n}", view.now_ms, 0, Action.EXIT, trade_id="t1")]
        return []

    def on_outcome(self, outcome: KernelOutcome, view: PolicyView) -> Sequence[KernelIntent]:
        return ()


def _engine(
    tmp_path: Path, venue: MockVenue, policy: object, bars: int = 20
) -> tuple[Engine, SqliteJournal]:
    journal = SqliteJournal.open(tmp_path / "j.sqlite")
    box: list[Engine] = []
    clock = SimClock()
    engine = Engine(
        kernel=Kernel(1, [INST], CAPITAL),
        venue=venue,
        policy=policy,  # type: ignore[arg-type]
        journal=journal,
        clock=clock,
        sleep=DrivenSleep(clock),
        meta=RunMeta(slots=1, instruments=(INST,), initial_capital=CAPITAL, venue="mock"),
        bars=_paced(bars, box),
        settings=EngineSettings(drain_timeout_s=0.05),
    )
    box.append(engine)
    return engine, journal


async def test_engine_runs_a_trade_to_the_end_and_its_journal_replays(tmp_path: Path) -> None:
    venue = MockVenue([INST], mark_prices={INST.symbol: Decimal(40_000)})
    engine, journal = _engine(tmp_path, venue, EnterThenExit())
    assert engine.state is EngineState.CREATED
    stats = await engine.run()
    assert engine.state is EngineState.STOPPED
    assert stats.trades == 1 and stats.orders == 3  # entry + two exit legs
    assert [o.client_order_id.split("-")[3] for o in venue.submitted] == ["e", "x0", "x1"]
    journal.close()
    with SqliteJournal.open(tmp_path / "j.sqlite", readonly=True, create=False) as j:
        assert replay(j, from_snapshot=False).snapshot() == engine.kernel.snapshot()


async def test_an_engine_runs_once(tmp_path: Path) -> None:
    venue = MockVenue([INST], mark_prices={INST.symbol: Decimal(40_000)})
    engine, journal = _engine(tmp_path, venue, EnterThenExit())
    await engine.run()
    with pytest.raises(EngineStateError, match="run\\(\\) not valid in STOPPED"):
        await engine.run()
    journal.close()


def test_stop_before_run_names_the_state(tmp_path: Path) -> None:
    venue = MockVenue([INST])
    engine, journal = _engine(tmp_path, venue, EnterThenExit())
    with pytest.raises(EngineStateError, match="stop\\(\\) not valid in CREATED"):
        engine.stop()
    journal.close()


class Raises:
    def on_bar(self, bar: Bar, view: PolicyView) -> Sequence[KernelIntent]:
        raise ZeroDivisionError("policy bug")

    def on_outcome(self, outcome: KernelOutcome, view: PolicyView) -> Sequence[KernelIntent]:
        return ()


async def test_a_failing_policy_fails_the_engine_and_keeps_only_what_was_committed(
    tmp_path: Path,
) -> None:
    venue = MockVenue([INST])
    engine, _journal = _engine(tmp_path, venue, Raises())
    with pytest.raises(ExceptionGroup) as info:
        await engine.run()
    assert info.group_contains(
        PolicyFault, match="policy raised in on_bar .*ZeroDivisionError: policy bug"
    )
    assert engine.state is EngineState.FAILED
    with SqliteJournal.open(tmp_path / "j.sqlite", readonly=True, create=False) as j:
        assert replay(j).snapshot() == Kernel(1, [INST], CAPITAL).snapshot()


class FlakyVenue(MockVenue):
    """Fails the first submit as NotSent (safe to retry) and every exit as OutcomeUnknown."""

    def __init__(self) -> None:
        super().__init__([INST], mark_prices={INST.symbol: Decimal(40_000)})
        self.attempts = 0

    async def submit(self, order: Order) -> None:
        self.attempts += 1
        if self.attempts == 1:
            raise NotSent("connection refused")
        if order.reduce_only:
            raise OutcomeUnknown("timed out after sending")
        await super().submit(order)


async def test_not_sent_is_retried_with_the_same_id_and_unknown_outcomes_are_left_for_reconciliation(
    tmp_path: Path,
) -> None:
    venue = FlakyVenue()
    engine, journal = _engine(tmp_path, venue, EnterThenExit())
    await engine.run()
    assert [o.client_order_id.split("-")[3] for o in venue.submitted] == ["e"]
    assert venue.attempts == 3  # NotSent + retry of the entry, then the exit
    assert [c.order.client_order_id.split("-")[3] for c in engine.unknown_outcomes] == ["x0"]
    assert engine.kernel.slot(0).stage is TradeStage.EXIT_WORKING  # never guessed
    journal.close()


class Unreachable(MockVenue):
    """Every exit is refused before it leaves (connection refused): certainly never sent."""

    def __init__(self) -> None:
        super().__init__([INST], mark_prices={INST.symbol: Decimal(40_000)})
        self.exit_attempts = 0

    async def submit(self, order: Order) -> None:
        if order.reduce_only:
            self.exit_attempts += 1
            raise NotSent("connection refused")
        await super().submit(order)


async def test_a_command_never_sent_after_every_retry_is_not_sent_not_an_unknown_outcome(
    tmp_path: Path,
) -> None:
    venue = Unreachable()
    journal = SqliteJournal.open(tmp_path / "j.sqlite")
    box: list[Engine] = []
    waits: list[float] = []

    async def sleep(s: float) -> None:
        waits.append(s)

    engine = Engine(
        kernel=Kernel(1, [INST], CAPITAL), venue=venue, policy=EnterThenExit(), journal=journal,
        clock=SimClock(), meta=RunMeta(slots=1, instruments=(INST,), initial_capital=CAPITAL),
        bars=_paced(20, box), sleep=sleep,
        settings=EngineSettings(
            drain_timeout_s=0.05, send_retry=RetryPolicy(attempts=4, first_delay_s=0.5)
        ),
    )  # fmt: skip
    box.append(engine)
    await engine.run()
    exits = [c.order.client_order_id.split("-")[3] for c in engine.not_sent]
    assert exits[0] == "x0" and engine.unknown_outcomes == []
    assert venue.exit_attempts == 4 * len(exits)  # the policy's retry, attempt by attempt
    assert waits[:3] == [0.5, 1.0, 2.0]  # the named policy's schedule, nothing else
    assert engine.kernel.slot(0).stage is TradeStage.EXIT_WORKING  # the kernel never guessed
    journal.close()


@pytest.mark.parametrize(
    ("field", "value"),
    [("queue_size", 0), ("drain_timeout_s", -1.0), ("snapshot_every", 0),
     ("send_retry", RetryPolicy(attempts=0))],
)  # fmt: skip
def test_engine_settings_refuse_values_that_cannot_run_naming_the_field(
    field: str, value: object
) -> None:
    with pytest.raises(ValueError, match=field):
        EngineSettings(**{field: value})  # type: ignore[arg-type]


async def test_stop_ends_a_running_engine(tmp_path: Path) -> None:
    venue = MockVenue([INST], mark_prices={INST.symbol: Decimal(40_000)})

    async def endless() -> AsyncIterator[Bar]:
        i = 0
        while True:
            yield _bar(i)
            i += 1
            await asyncio.sleep(0)

    journal = SqliteJournal.open(tmp_path / "j.sqlite")
    engine = Engine(
        kernel=Kernel(1, [INST], CAPITAL),
        venue=venue,
        policy=EnterThenExit(),
        journal=journal,
        clock=SimClock(),
        meta=RunMeta(slots=1, instruments=(INST,), initial_capital=CAPITAL),
        bars=endless(),
    )
    task = asyncio.create_task(engine.run())
    await engine.wait_settled(50)
    engine.stop()
    assert engine.state is EngineState.STOPPING
    stats = await task
    assert engine.state is EngineState.STOPPED
    assert stats.bars >= 50
    journal.close()


class FatalVenue(MockVenue):
    async def submit(self, order: Order) -> None:
        raise VenueFatal("invalid API key")


async def test_a_fatal_venue_error_fails_the_engine_with_the_order_named(tmp_path: Path) -> None:
    engine, _journal = _engine(tmp_path, FatalVenue([INST]), EnterThenExit())
    with pytest.raises(ExceptionGroup) as info:
        await engine.run()
    assert info.group_contains(
        EngineError, match=r"venue mock refused for good while sending SubmitOrder dt-"
    )
    assert engine.state is EngineState.FAILED
    # the ENTER that caused the order was durable before the venue was called
    with SqliteJournal.open(tmp_path / "j.sqlite", readonly=True, create=False) as j:
        assert replay(j).slot(0).stage is TradeStage.ORDER_REQUESTED


async def test_intents_submitted_from_outside_return_their_outcomes(tmp_path: Path) -> None:
    from dita.policy import NullPolicy

    venue = MockVenue([INST], mark_prices={INST.symbol: Decimal(40_000)})
    journal = SqliteJournal.open(tmp_path / "j.sqlite")
    engine = Engine(
        kernel=Kernel(1, [INST], CAPITAL),
        venue=venue,
        policy=NullPolicy(),
        journal=journal,
        clock=SimClock(1_704_067_200_000),
        meta=RunMeta(slots=1, instruments=(INST,), initial_capital=CAPITAL),
    )
    with pytest.raises(EngineStateError, match=r"submit\(\) not valid in CREATED"):
        await engine.submit([])
    task = asyncio.create_task(engine.run())
    await asyncio.sleep(0)
    enter = KernelIntent("x1", 1, 0, Action.ENTER, trade_id="t1", asset=INST.symbol, side=Side.LONG,
                         size=Decimal("0.1"), reference_price=Decimal(40_000))  # fmt: skip
    bad = KernelIntent("x2", 1, 0, Action.EXIT, trade_id="t1")
    outcomes = await engine.submit([enter, bad])
    assert [o.accepted for o in outcomes] == [True, False]
    assert outcomes[1].diagnostic_code.value == "ENTRY_STILL_WORKING"
    # the ENTER was durable before the submit went out
    assert journal.last_seq >= 4
    engine.stop()
    await task
    assert [o.client_order_id for o in venue.submitted] == [
        c.order.client_order_id for c in outcomes[0].commands
    ]
    journal.close()
