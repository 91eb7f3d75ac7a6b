"""A backtest (the sim venue inside the process) commits its journal in groups, not per command.

``Durability.GROUPED`` changes when ``commit()`` is called, never what is
appended: the journal holds the same records as a write-ahead run's. A crash
(here a real SIGKILL of a ``dita run`` process, between two groups) loses at
most the uncommitted tail of the simulation; the journal left behind opens
cleanly (its seal names its last committed record) and ``--resume`` plays the
run again and finishes it, record for record the uninterrupted run's.
"""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from dita.app.runner import execute, prepare_sim_run
from dita.engine import DEFAULT_GROUP_RECORDS, Backtest, Durability, Pipeline
from dita.journal import SqliteJournal
from dita.journal.sqlite import read_seal

ROOT = Path(__file__).resolve().parents[2]


def _records(journal: Path) -> list[tuple[int, str, int, str]]:
    with sqlite3.connect(journal) as db:
        return db.execute("SELECT seq, kind, ts, payload FROM records ORDER BY seq").fetchall()


def _commits(journal: Path) -> list[tuple[int, int]]:
    with sqlite3.connect(journal) as db:
        return db.execute("SELECT first_seq, last_seq FROM commits ORDER BY first_seq").fetchall()


def _run(path: Path, durability: Durability, group_records: int = DEFAULT_GROUP_RECORDS) -> None:
    run = prepare_sim_run(journal=path, durability=durability)
    if group_records == DEFAULT_GROUP_RECORDS:
        execute(run)
        return
    from dita.clock import SimClock
    from dita.kernel import Kernel
    from dita.venues.sim.exchange import SimExchange

    with SqliteJournal.open(path) as journal:
        Backtest(
            kernel=Kernel(run.slots, list(run.instruments), run.capital),
            venue=SimExchange(run.sim.config(run.instruments, run.capital, run.seed)),
            policy=run.policy, journal=journal, clock=SimClock(),
            durability=durability, group_records=group_records,
        ).run(run.meta(), run.bars())  # fmt: skip


def test_grouped_journal_is_the_write_ahead_journal_in_fewer_commits(tmp_path: Path) -> None:
    _run(tmp_path / "wa.sqlite", Durability.WRITE_AHEAD)
    _run(tmp_path / "grouped.sqlite", Durability.GROUPED)
    _run(tmp_path / "small.sqlite", Durability.GROUPED, group_records=500)
    wa = _records(tmp_path / "wa.sqlite")
    assert _records(tmp_path / "grouped.sqlite") == wa
    assert _records(tmp_path / "small.sqlite") == wa
    per_command = _commits(tmp_path / "wa.sqlite")
    grouped = _commits(tmp_path / "grouped.sqlite")
    small = _commits(tmp_path / "small.sqlite")
    assert len(per_command) > 500  # one per bar that sent a command
    # begin (run record + snapshot), one per 1,000 bars (2,880 bars here), then the end
    assert len(wa) < DEFAULT_GROUP_RECORDS and len(grouped) == 4
    # ... and with groups of 500 records, one more whenever 500 are pending
    assert 4 + len(wa) // 500 // 2 <= len(small) <= 4 + len(wa) // 500
    for commits in (per_command, grouped, small):  # contiguous, gap-free, ending at the last seq
        assert commits[0][0] == 1 and commits[-1][1] == len(wa)
        assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(commits))
    seal = read_seal(tmp_path / "small.sqlite")
    assert seal is not None and seal.last_seq == len(wa)


def test_group_size_must_be_positive() -> None:
    from dita.app.runner import default_instrument
    from dita.clock import SimClock
    from dita.kernel import Kernel
    from dita.policies.demo import DemoPolicy

    k = Kernel(1, [default_instrument()], 1000)
    with pytest.raises(ValueError, match="group_records must be >= 1, got 0"):
        Pipeline(k, DemoPolicy(), None, SimClock(), durability=Durability.GROUPED, group_records=0)


_KILLER = """
import os, signal
from dita.policies.demo import DemoPolicy

class KillAt(DemoPolicy):
    def on_bar(self, bar, view):
        intents = super().on_bar(bar, view)
        if self._bars == int(os.environ["DITA_TEST_KILL_AT"]):
            os.kill(os.getpid(), signal.SIGKILL)  # a crash: nothing runs after this
        return intents
"""


def test_a_killed_grouped_dita_run_loses_only_its_tail_and_resumes(tmp_path: Path) -> None:
    (tmp_path / "killer.py").write_text(_KILLER)
    args = ["run", "--policy", "killer.py:KillAt", "--seed", "5", "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def dita(*more: str, kill: str = "0") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dita.cli", *args, *more], cwd=tmp_path,
            env={**env, "DITA_TEST_KILL_AT": kill}, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    # killed at bar 2,500: what the commit at bar 2,000 made durable is kept
    cut = dita("--journal", "cut.sqlite", kill="2500")
    assert cut.returncode == -signal.SIGKILL, cut.stderr
    whole = dita("--journal", "whole.sqlite")
    assert whole.returncode == 0, whole.stderr
    full = _records(tmp_path / "whole.sqlite")

    # what the crash left: a committed prefix of the uninterrupted run, sealed, nothing torn
    with SqliteJournal.open(tmp_path / "cut.sqlite", readonly=True, create=False) as j:
        left = j.last_seq
    kept = _records(tmp_path / "cut.sqlite")
    assert len(kept) == left and kept == full[:left]
    seal = read_seal(tmp_path / "cut.sqlite")
    assert seal is not None and seal.last_seq == left
    assert 0 < left < len(full)

    resumed = dita("--journal", "cut.sqlite", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert _records(tmp_path / "cut.sqlite") == full


def test_killed_between_groups_keeps_every_group_committed_before(tmp_path: Path) -> None:
    # small groups, a real SIGKILL from inside the run: the journal ends at a group boundary
    script = tmp_path / "run.py"
    script.write_text(
        f"""
import os, signal, sys
sys.path.insert(0, {str(ROOT)!r})
from pathlib import Path
from dita.clock import SimClock
from dita.engine import Backtest, Durability
from dita.journal import SqliteJournal
from dita.kernel import Kernel
from dita.policies.demo import DemoPolicy
from dita.app.runner import prepare_sim_run
from dita.venues.sim.exchange import SimExchange

class KillAt(DemoPolicy):
    def on_bar(self, bar, view):
        if self._total == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)
        return super().on_bar(bar, view)

run = prepare_sim_run(journal=Path(sys.argv[1]))
j = SqliteJournal.open(Path(sys.argv[1]))
Backtest(
    kernel=Kernel(run.slots, list(run.instruments), run.capital),
    venue=SimExchange(run.sim.config(run.instruments, run.capital, run.seed)),
    policy=KillAt(), journal=j, clock=SimClock(),
    durability=Durability.GROUPED, group_records=300,
).run(run.meta(), run.bars())
j.close()
"""
    )
    whole = tmp_path / "whole.sqlite"
    done = subprocess.run([sys.executable, str(script), str(whole), "-1"], capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    full = _records(whole)
    groups = _commits(whole)
    cut = tmp_path / "cut.sqlite"
    killed = subprocess.run([sys.executable, str(script), str(cut), "1500"], capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    kept = _records(cut)
    assert kept == full[: len(kept)]
    # it ends exactly where one of the uninterrupted run's groups ended (same record order)
    assert len(kept) in {last for _, last in groups}
    assert _commits(cut) == [g for g in groups if g[1] <= len(kept)]
    with SqliteJournal.open(cut, create=False) as j:  # writable: no torn tail, nothing refused
        assert j.last_seq == len(kept)


class _FailsAt:
    def __init__(self, at: int) -> None:
        from dita.policies.demo import DemoPolicy

        self.inner, self.at, self.bars = DemoPolicy(), at, 0

    def on_bar(self, bar, view):  # type: ignore[no-untyped-def]
        self.bars += 1
        if self.bars == self.at:
            raise RuntimeError(f"policy bug at bar {self.at}")
        return self.inner.on_bar(bar, view)

    def on_outcome(self, outcome, view):  # type: ignore[no-untyped-def]
        return self.inner.on_outcome(outcome, view)


def test_a_policy_fault_keeps_every_whole_step_appended_before_it(tmp_path: Path) -> None:
    # a policy fault is not a crash: the steps before it are whole, and their commands
    # reached the in-process venue, so a grouped run keeps them all
    from dita.clock import SimClock
    from dita.engine import PolicyFault
    from dita.journal import replay
    from dita.kernel import Kernel
    from dita.venues.sim.exchange import SimExchange

    journals = {}
    for durability in Durability:
        path = tmp_path / f"{durability.value}.sqlite"
        run = prepare_sim_run(journal=path)
        with SqliteJournal.open(path) as j:
            bt = Backtest(
                kernel=Kernel(run.slots, list(run.instruments), run.capital),
                venue=SimExchange(run.sim.config(run.instruments, run.capital, run.seed)),
                policy=_FailsAt(700), journal=j, clock=SimClock(), durability=durability,
            )  # fmt: skip
            with pytest.raises(PolicyFault, match="policy bug at bar 700"):
                bt.run(run.meta(), run.bars())
            appended = j.appended_seq
            j.close(discard_pending=True)  # as the runner does on an error
        journals[durability] = _records(path)
        if durability is Durability.GROUPED:
            assert len(journals[durability]) == appended
        with SqliteJournal.open(path, readonly=True, create=False) as j:
            replay(j, from_snapshot=False)  # raises ReplayMismatch on any difference
    grouped, wa = journals[Durability.GROUPED], journals[Durability.WRITE_AHEAD]
    assert len(grouped) >= len(wa) > 2 and grouped[: len(wa)] == wa
