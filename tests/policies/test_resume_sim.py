"""Ctrl-C in `dita run` says how to continue; `--resume` continues the journal, and the result is
an uninterrupted run's, record for record."""

from __future__ import annotations

import os
import shlex
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
POLICY = "tests.policies.pausing:PausingDemo"


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


def _dita(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dita.cli", *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def _records(journal: Path) -> list[tuple[int, str, int, str]]:
    with sqlite3.connect(journal) as db:
        return db.execute("SELECT seq, kind, ts, payload FROM records ORDER BY seq").fetchall()


def _table(out: str) -> str:
    return out[out.index("│ bars") : out.index("open at end")]


ARGS = ["run", "--policy", POLICY, "--seed", "11", "--quiet"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Any], str]:
    """The run never interrupted (its records and its output), made once for every pause."""
    d = tmp_path_factory.mktemp("whole")
    whole = _dita(d, *ARGS, "--journal", "whole.sqlite")
    assert whole.returncode == 0, whole.stderr
    return _records(d / "whole.sqlite"), whole.stdout


@pytest.mark.parametrize("pause_at", [1, 700, 2100])
def test_sigint_then_resume_equals_an_uninterrupted_run(
    tmp_path: Path, pause_at: int, uninterrupted: tuple[list[Any], str]
) -> None:
    args = ARGS
    proc = subprocess.Popen(
        [sys.executable, "-m", "dita.cli", *args, "--journal", "cut.sqlite"],
        cwd=tmp_path, env=_env(DITA_TEST_PAUSE_AT=str(pause_at)), stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert line.strip() == f"paused at bar {pause_at}", line
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    assert "interrupted; cut.sqlite keeps every step committed before it. Continue with:" in err
    cont = err.strip().splitlines()[-1].strip()
    assert cont.startswith("dita run ") and cont.endswith("--journal cut.sqlite --resume"), cont
    cut = _records(tmp_path / "cut.sqlite")
    assert len(cut) > 0 and not any(k == "note" and '"topic":"end"' in p for _, k, _, p in cut)

    resumed = _dita(tmp_path, *shlex.split(cont)[1:])  # the printed command, as printed
    assert resumed.returncode == 0, resumed.stderr
    full, whole_out = uninterrupted
    assert len(full) > len(cut)
    assert _records(tmp_path / "cut.sqlite") == full  # the same journal, record for record
    assert _table(resumed.stdout) == _table(whole_out)
    replay = _dita(tmp_path, "replay", "cut.sqlite")
    assert replay.returncode == 0 and "OK: " in replay.stdout, replay.stdout + replay.stderr


def test_resume_with_other_options_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    r = _dita(tmp_path, "run", "--journal", "j.sqlite", "--quiet", "--seed", "3")
    assert r.returncode == 0, r.stderr
    before = (tmp_path / "j.sqlite").read_bytes()
    other = _dita(tmp_path, "run", "--journal", "j.sqlite", "--quiet", "--seed", "4", "--resume")
    assert other.returncode == 1
    assert "cannot resume: record 1 (the run record) differs in seed" in other.stderr
    assert (tmp_path / "j.sqlite").read_bytes() == before
    same = _dita(tmp_path, "run", "--journal", "j.sqlite", "--quiet", "--seed", "3", "--resume")
    assert same.returncode == 0, same.stderr  # a finished run resumes to the same result
    assert _table(same.stdout) == _table(r.stdout)
    missing = _dita(tmp_path, "run", "--journal", "nope.sqlite", "--resume", "--quiet")
    assert missing.returncode == 1 and "--resume continues an existing --journal" in missing.stderr
