"""Replay rebuilds the kernel exactly, and says where it does not."""

from __future__ import annotations

import dataclasses
from decimal import Decimal as D
from pathlib import Path

import pytest

from dita.journal import (
    EngineNote,
    JournalError,
    OutcomeRecord,
    ReplayMismatch,
    RunMeta,
    SnapshotRecord,
    SqliteJournal,
    replay,
)
from dita.kernel import KernelIntent, TradeStage, VenueEvent

from .conftest import RUN, new_kernel, run_live, scenario


@pytest.mark.parametrize("from_snapshot", [False, True])
@pytest.mark.parametrize("commit_every", [1, 7])
def test_replay_reproduces_the_live_snapshot_exactly(
    jpath: Path, from_snapshot: bool, commit_every: int
) -> None:
    with SqliteJournal.open(jpath) as j:
        live = run_live(j, scenario(), snapshot_after=(4, 9, 16), commit_every=commit_every)
    with SqliteJournal.open(jpath, readonly=True) as j:
        rebuilt = replay(j, from_snapshot=from_snapshot)
    assert rebuilt.snapshot() == live.kernel.snapshot()
    assert rebuilt.account == live.kernel.account


def test_replay_after_the_last_snapshot_runs_the_tail(jpath: Path) -> None:
    with SqliteJournal.open(jpath) as j:
        live = run_live(j, scenario(), snapshot_after=(3,))
        snap = j.execute("SELECT max(seq) FROM records WHERE kind = 'snapshot'")[0][0]
        assert snap < j.last_seq - 10  # plenty of inputs after it
        rebuilt = replay(j)
    assert rebuilt.snapshot() == live.kernel.snapshot()
    assert rebuilt.slot(0).stage is live.kernel.slot(0).stage


def test_a_different_journaled_outcome_is_named_by_seq_and_field(jpath: Path) -> None:
    kernel = new_kernel()
    inputs = scenario()
    with SqliteJournal.open(jpath) as j:
        j.append(RUN, ts=1)
        for n, x in enumerate(inputs[:4]):
            seq = j.append(x, ts=x.ts)
            out = (
                kernel.process_intent(x)
                if isinstance(x, KernelIntent)
                else kernel.on_venue_event(x)
            )
            if n == 2:  # the journal claims the partial fill left the slot in another stage
                out = dataclasses.replace(out, state=TradeStage.POSITION_OPEN)
            j.append(OutcomeRecord(seq, out), ts=x.ts)
        j.commit()
        with pytest.raises(ReplayMismatch) as err:
            replay(j)
    [diff] = err.value.differences
    assert (diff.seq, diff.what) == (7, "outcome.state")
    assert (diff.journaled, diff.replayed) == ('"POSITION_OPEN"', '"ENTRY_WORKING"')
    assert "diverged at seq 7" in str(err.value)


def test_an_input_that_differs_from_what_the_kernel_saw_is_caught(jpath: Path) -> None:
    kernel = new_kernel()
    inputs = scenario()[:4]
    fill = inputs[3]
    assert isinstance(fill, VenueEvent)
    with SqliteJournal.open(jpath) as j:
        j.append(RUN, ts=1)
        for x in inputs:
            live_out = (
                kernel.process_intent(x)
                if isinstance(x, KernelIntent)
                else kernel.on_venue_event(x)
            )
            journaled = dataclasses.replace(x, fee=D("0.3")) if x is fill else x
            seq = j.append(journaled, ts=x.ts)
            j.append(OutcomeRecord(seq, live_out), ts=x.ts)
        j.commit()
        with pytest.raises(ReplayMismatch) as err:
            replay(j)
    assert {d.what for d in err.value.differences} == {"outcome.ledger"}
    assert err.value.differences[0].seq == 9


def test_a_snapshot_that_disagrees_is_named_by_path(jpath: Path) -> None:
    with SqliteJournal.open(jpath) as j:
        live = run_live(j, scenario()[:4])
        state = live.kernel.snapshot()
        state["ledger"] = dict(state["ledger"], fees="0.04")
        j.append(SnapshotRecord(live.input_seqs[-1], state), ts=5)
        j.commit()
        with pytest.raises(ReplayMismatch) as err:
            replay(j, from_snapshot=False)
    [diff] = err.value.differences
    assert diff.what == "snapshot.ledger.fees"
    assert (diff.journaled, diff.replayed) == ('"0.04"', '"0.05"')


def test_an_input_without_its_outcome_mid_journal_is_a_mismatch(jpath: Path) -> None:
    inputs = scenario()[:3]
    with SqliteJournal.open(jpath) as j:
        j.append(RUN, ts=1)
        for x in inputs:
            j.append(x, ts=x.ts)  # outcomes never journaled
        j.commit()
        with pytest.raises(ReplayMismatch, match="input seq 2 has no outcome record"):
            replay(j)
        k = replay(j, require_outcomes=False)
    assert k.slot(0).stage is TradeStage.ENTRY_WORKING


def test_the_last_input_may_lack_its_outcome(jpath: Path) -> None:
    # The engine crashed after committing the input and before journaling the outcome.
    with SqliteJournal.open(jpath) as j:
        live = run_live(j, scenario()[:3])
        j.append(scenario()[3], ts=2000)
        j.commit()
        rebuilt = replay(j)
    expected = new_kernel()
    for x in scenario()[:4]:
        expected.process_intent(x) if isinstance(x, KernelIntent) else expected.on_venue_event(x)
    assert rebuilt.snapshot() == expected.snapshot() != live.kernel.snapshot()


def test_replay_needs_the_run_record(jpath: Path) -> None:
    with SqliteJournal.open(jpath) as j:
        j.append(EngineNote("start"), ts=1)
        j.commit()
        with pytest.raises(JournalError, match="no 'run' record"):
            replay(j)


def test_a_restart_with_other_kernel_parameters_is_a_mismatch(jpath: Path) -> None:
    with SqliteJournal.open(jpath) as j:
        run_live(j, scenario()[:2])
        j.append(dataclasses.replace(RUN, initial_capital=D("20000")), ts=5000)
        j.commit()
        with pytest.raises(ReplayMismatch, match=r"run\.initial_capital"):
            replay(j)


def test_a_restart_with_the_same_parameters_is_fine(jpath: Path) -> None:
    with SqliteJournal.open(jpath) as j:
        live = run_live(j, scenario()[:2])
        j.append(
            RunMeta(**{**dataclasses.asdict(RUN), "seed": 8, "instruments": RUN.instruments}),
            ts=5000,
        )
        j.commit()
        assert replay(j).snapshot() == live.kernel.snapshot()
