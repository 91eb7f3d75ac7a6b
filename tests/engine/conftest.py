from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from dita.app.runner import execute, prepare_sim_run
from dita.engine import BacktestResult
from dita.journal import SqliteJournal


@dataclass(frozen=True)
class DemoRun:
    journal_path: Path
    result: BacktestResult


def demo_run(journal_path: Path | None, seed: int = 7) -> BacktestResult:
    """The default `dita run`: demo policy, bundled sample data, sim venue."""
    return execute(prepare_sim_run(journal=journal_path, seed=seed))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    path = tmp_path_factory.mktemp("demo") / "journal.sqlite"
    return DemoRun(path, demo_run(path))


@pytest.fixture
def demo_journal(demo: DemoRun) -> SqliteJournal:
    j = SqliteJournal.open(demo.journal_path, readonly=True, create=False)
    yield j  # type: ignore[misc]
    j.close()
