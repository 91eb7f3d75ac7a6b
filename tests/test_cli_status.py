"""`dita status JOURNAL`: what the journal says the engine owns, read-only."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

from dita.cli import main
from dita.clock import SimClock
from dita.engine import Pipeline
from dita.journal import RunMeta, SqliteJournal
from dita.kernel import Action, Instrument, Kernel, KernelIntent, OrderType, Side
from dita.marketdata import Bar
from dita.policy import PolicyView

INST = Instrument("BTC-USDT", Decimal("0.1"), Decimal("0.001"), Decimal("0.001"), Decimal(5))


class Idle:
    def on_bar(self, bar: Bar, view: PolicyView) -> list[KernelIntent]:
        return []

    def on_outcome(self, outcome: object, view: PolicyView) -> list[KernelIntent]:
        return []


def crashed_journal(path: Path) -> str:
    clock = SimClock()
    clock.set(1_704_067_200_000)
    j = SqliteJournal.open(path)
    p = Pipeline(Kernel(2, [INST], Decimal(10_000)), Idle(), j, clock)  # type: ignore[arg-type]
    p.begin(RunMeta(slots=2, instruments=(INST,), initial_capital=Decimal(10_000)))
    (out,) = p.submit_intents(
        [
            KernelIntent(
                "i1", 0, 1, Action.ENTER, trade_id="t1", asset="BTC-USDT", side=Side.LONG,
                size=Decimal("0.01"), order_type=OrderType.LIMIT, limit_price=Decimal(50_000),
            )
        ]
    )  # fmt: skip
    p.flush()
    j.close()  # the engine died here: the order may be live on the venue
    return out.commands[0].order.client_order_id


def test_status_shows_slots_live_orders_and_capital_without_writing(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    cid = crashed_journal(path)
    before = path.read_bytes()
    res = CliRunner(env={"COLUMNS": "250"}).invoke(main, ["status", str(path)])
    assert res.exit_code == 0, res.output
    assert "ORDER_REQUESTED" in res.output
    assert cid in res.output and "REQUESTED" in res.output
    assert "capital 10000 = initial 10000" in res.output
    assert "stopped midway" in res.output
    # (SQLite may leave a -shm index beside a WAL-mode file it read; the journal is untouched)
    assert path.read_bytes() == before


def test_status_of_a_missing_journal_is_one_clear_line(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["status", str(tmp_path / "nope.sqlite")])
    assert res.exit_code == 1
    assert "dita status: error:" in res.output and "no such journal" in res.output
