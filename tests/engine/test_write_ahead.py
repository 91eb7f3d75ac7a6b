"""Write-ahead: no command reaches a venue before the input that caused it is durable.

The venues here are real (the sim core, the async sim venue) behind a thin
wrapper that, on every submit and cancel, looks into the journal *file*
through its own read-only SQLite connection (which sees committed
transactions only) and finds the committed outcome record carrying that
command and the committed input record it answers.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from dita.app.runner import (
    SimSettings,
    default_instrument,
    execute,
    prepare_sim_run,
    sample_data_path,
)
from dita.clock import SimClock
from dita.engine import Backtest, Engine, EngineSettings
from dita.journal import OutcomeRecord, RecordKind, SqliteJournal, replay
from dita.journal.records import decode_body
from dita.kernel import Action, KernelIntent, Order, Side
from dita.marketdata import Bar
from dita.marketdata.csvio import read_bars
from dita.policies.demo import DemoPolicy
from dita.venues.sim.exchange import SimExchange
from dita.venues.sim.venue import SimVenue


class CommittedChecker:
    """Answers: is the command for this order, and the input that caused it, committed?"""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        self.checked = 0

    def check(self, kind: str, order: Order) -> None:
        cid = order.client_order_id
        rows = self._conn.execute(
            "SELECT seq, payload FROM records WHERE kind = 'outcome' AND payload LIKE ? ORDER BY seq",
            (f"%{cid}%",),
        ).fetchall()
        causes = []
        for _seq, payload in rows:
            body = decode_body(RecordKind.OUTCOME, payload)
            assert isinstance(body, OutcomeRecord)
            for c in body.outcome.commands:
                if type(c).__name__ == kind and c.order.client_order_id == cid:
                    causes.append(body.input_seq)
        assert causes, f"{kind} {cid} reached the venue before its outcome was committed"
        found = self._conn.execute(
            "SELECT kind FROM records WHERE seq = ?", (causes[-1],)
        ).fetchone()
        assert found is not None and found[0] in ("intent", "venue_event"), (
            f"{kind} {cid} reached the venue before its input seq {causes[-1]} was committed"
        )
        self.checked += 1

    def close(self) -> None:
        self._conn.close()


class CheckingSimCore:
    """The sim core, checking the write-ahead contract on every command it receives."""

    def __init__(self, inner: SimExchange, checker: CommittedChecker) -> None:
        self.inner = inner
        self.checker = checker

    def submit(self, order: Order, now: int) -> list:  # type: ignore[type-arg]
        self.checker.check("SubmitOrder", order)
        return self.inner.submit(order, now)

    def cancel(self, order: Order, now: int) -> list:  # type: ignore[type-arg]
        self.checker.check("CancelOrder", order)
        return self.inner.cancel(order, now)

    def on_bar(self, bar: Bar) -> list:  # type: ignore[type-arg]
        return self.inner.on_bar(bar)


def test_backtest_sends_no_command_before_its_input_is_committed(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    run = prepare_sim_run(journal=path)
    inst = default_instrument()
    kernel_capital = run.capital
    with SqliteJournal.open(path) as journal:
        checker = CommittedChecker(path)
        venue = CheckingSimCore(
            SimExchange(run.sim.config(inst, kernel_capital, run.seed)), checker
        )
        from dita.kernel import Kernel

        bt = Backtest(
            kernel=Kernel(run.slots, [inst], kernel_capital),
            venue=venue,
            policy=run.policy,
            journal=journal,
            clock=SimClock(),
        )
        result = bt.run(run.meta(), run.bars())
        checker.close()
    assert checker.checked == result.stats.orders + result.stats.cancel_requests
    assert checker.checked > 500


def test_the_checker_catches_a_command_sent_before_commit(tmp_path: Path) -> None:
    # the check above can fail: an outcome appended but not committed is invisible to it
    from dita.kernel import Kernel

    path = tmp_path / "j.sqlite"
    inst = default_instrument()
    kernel = Kernel(1, [inst], Decimal(100_000))
    with SqliteJournal.open(path) as journal:
        journal.commit()
        intent = KernelIntent("i1", 1, 0, Action.ENTER, trade_id="t1", asset=inst.symbol,
                              side=Side.LONG, size=Decimal("0.01"), reference_price=Decimal(40_000))  # fmt: skip
        seq = journal.append(intent, ts=1)
        outcome = kernel.process_intent(intent)
        journal.append(OutcomeRecord(seq, outcome), ts=1)
        checker = CommittedChecker(path)
        order = outcome.commands[0].order
        with pytest.raises(AssertionError, match="before its outcome was committed"):
            checker.check("SubmitOrder", order)
        journal.commit()
        checker.check("SubmitOrder", order)
        checker.close()


class CheckingSimVenue(SimVenue):
    """The async sim venue, checking the write-ahead contract on every command."""

    checker: CommittedChecker

    async def submit(self, order: Order) -> None:
        self.checker.check("SubmitOrder", order)
        await super().submit(order)

    async def cancel(self, order: Order) -> None:
        self.checker.check("CancelOrder", order)
        await super().cancel(order)


async def test_async_engine_sends_no_command_before_its_input_is_committed(tmp_path: Path) -> None:
    path = tmp_path / "live.sqlite"
    run = prepare_sim_run(journal=path)
    inst = default_instrument()
    bars = read_bars(sample_data_path(), inst.symbol)[:600]
    from dita.kernel import Kernel

    venue = CheckingSimVenue(SimExchange(SimSettings().config(inst, run.capital, run.seed)))

    engine: Engine | None = None

    async def feed() -> AsyncIterator[Bar]:
        for n, bar in enumerate(bars):
            assert engine is not None
            await engine.wait_settled(n)  # as in real time, the market waits for nobody but
            await venue.on_bar(bar)  # is not replayed faster than the engine answers it
            yield bar

    clock = SimClock()
    with SqliteJournal.open(path) as journal:
        venue.checker = CommittedChecker(path)
        engine = Engine(
            kernel=Kernel(run.slots, [inst], run.capital),
            venue=venue,
            policy=DemoPolicy(),
            journal=journal,
            clock=clock,
            meta=run.meta(),
            bars=feed(),
            settings=EngineSettings(drain_timeout_s=0.05),
        )
        stats = await engine.run()
        venue.checker.close()
        assert venue.checker.checked == stats.orders + stats.cancel_requests
        assert stats.orders > 20 and stats.fills > 20
        live = engine.kernel.snapshot()
    with SqliteJournal.open(path, readonly=True, create=False) as j:
        assert replay(j, from_snapshot=False).snapshot() == live


def test_backtest_result_does_not_depend_on_the_checker(tmp_path: Path) -> None:
    # the wrapped run above is the same run as `dita run`: same number of commands
    res = execute(prepare_sim_run(journal=None))
    assert res.stats.orders > 500
