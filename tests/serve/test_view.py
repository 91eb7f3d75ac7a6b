"""The journal view behind ``dita status`` and ``dita serve``: last snapshot plus tail, then
only the new records, always equal to a full replay."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path

from dita.app.runner import execute, prepare_sim_run
from dita.journal import SqliteJournal, Synchronous, replay
from dita.marketdata.synthetic import synthetic_bars
from dita.serve.view import JournalView
from tests.serve.test_dashboard_browser import Feeder


def _replayed(path: Path) -> tuple[int, dict[str, object], int]:
    with SqliteJournal.open(path, readonly=True, create=False) as j:
        k = replay(j, from_snapshot=False)
        return j.last_seq, k.snapshot(), len(j.trades())


def test_view_follows_new_records_incrementally(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    # snapshots every 50,000 inputs by default: a small run has only the first; force more
    run = prepare_sim_run(journal=journal, synchronous=Synchronous.NORMAL)
    feeder = Feeder(list(synthetic_bars("BTC-USDT", 4000, 2, Decimal(42000))))
    t = threading.Thread(target=lambda: execute(run, bars=iter(feeder)), daemon=True)
    t.start()
    feeder.give(1200)
    with JournalView.open(journal) as view:
        seq, snap, trades = _replayed(journal)
        assert (view.last_seq, view.kernel.snapshot(), view.trades) == (seq, snap, trades)
        assert view.bars == 1000 and not view.finished
        for chunk in (700, 1300):
            feeder.give(chunk)
            seq2, snap2, trades2 = _replayed(journal)
            assert view.poll() == seq2 - seq  # only the records committed since the last poll
            assert (view.last_seq, view.kernel.snapshot(), view.trades) == (seq2, snap2, trades2)
            seq = seq2
        assert view.poll() == 0
        feeder.give(None)
        t.join(60)
        view.poll()
        assert view.finished and view.bars == 3200
        seq3, snap3, trades3 = _replayed(journal)
        assert (view.last_seq, view.kernel.snapshot(), view.trades) == (seq3, snap3, trades3)
    # reopened on the finished journal: starts from the final snapshot, same state
    with JournalView.open(journal) as again:
        assert again.start_seq > 1
        assert (again.last_seq, again.kernel.snapshot(), again.trades) == (seq3, snap3, trades3)
        assert again.finished and again.bars == 3200


def test_a_halt_adjustment_shows_until_the_kernel_moves_again(tmp_path: Path) -> None:
    from dita.journal import Adjustment, RunMeta
    from dita.kernel import Action, Instrument, KernelIntent

    path = tmp_path / "j.sqlite"
    inst = Instrument("BTC-USDT", Decimal("0.1"), Decimal("0.001"), Decimal("0.001"), Decimal(5))
    with SqliteJournal.open(path) as j:
        j.append(RunMeta(slots=1, instruments=(inst,), initial_capital=Decimal(1000)), ts=1)
        j.append(
            Adjustment("adj:position:BTC-USDT:0:1", "position", "BTC-USDT", action="halt",
                       reason="venue net position 1 differs from the kernel's 0"),
            ts=2,
        )  # fmt: skip
        j.commit()
        with JournalView.open(path) as v:
            assert v.state() == "halted" and "differs" in v.halted
            assert v.to_json()["adjustments"][0]["action"] == "halt"
            j.append(KernelIntent("i1", 3, 0, Action.CANCEL), ts=3)
            j.commit()
            assert v.poll() == 1
            assert (
                v.state() != "halted" and v.to_json()["refusals"][0]["what"] == "intent i1 CANCEL"
            )
