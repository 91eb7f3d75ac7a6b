"""The README's policy code and its JSONL example, run exactly as written, make trades."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README, flags=re.M | re.S)


def _dita(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # -P: the current directory is NOT put on sys.path, as for the installed `dita` script;
    # PYTHONPATH points at this checkout only so the code under test is the one imported.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-P", "-m", "dita.cli", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _row(out: str, name: str) -> int:
    m = re.search(rf"│ {re.escape(name)} +│ +([\d,]+)", out)
    assert m, out
    return int(m.group(1).replace(",", ""))


def _command(name: str) -> list[str]:
    """The README's `.venv/bin/dita run --policy ...` line for the policy, as arguments."""
    [line] = [ln for b in _blocks("sh") for ln in b.splitlines() if f"--policy {name}" in ln]
    args = line.split()
    assert args[:2] == [".venv/bin/dita", "run"], line
    return args[1:]


def test_the_readme_policy_runs_as_written_and_trades(tmp_path: Path) -> None:
    [code] = [b for b in _blocks("python") if "class MyPolicy" in b]
    (tmp_path / "my_policy.py").write_text(code, encoding="utf-8")
    args = _command("my_policy.py:MyPolicy")
    r = _dita(tmp_path, *args, "--no-journal", "--quiet")
    assert r.returncode == 0, r.stderr
    assert _row(r.stdout, "trades") >= 50  # 2,880 bars, one trade per 30 bars
    assert _row(r.stdout, "refused intents") == 0
    assert "--param size=0.02" in " ".join(args)
    # the module:attr form finds ./my_policy.py without PYTHONPATH=. too (-P: cwd not on the path)
    r2 = _dita(tmp_path, "run", "--policy", "my_policy:MyPolicy", "--no-journal", "--quiet")
    assert r2.returncode == 0, r2.stderr
    assert _row(r2.stdout, "trades") >= 50


def test_the_readme_jsonl_example_makes_a_trade_with_both_legs(tmp_path: Path) -> None:
    [lines] = [b for b in _blocks("json") if '"action":"ENTER"' in b]
    (tmp_path / "intents.jsonl").write_text(lines, encoding="utf-8")
    r = _dita(tmp_path, "run", "--intents", "intents.jsonl", "--journal", "j.sqlite", "--quiet")
    assert r.returncode == 0, r.stderr
    assert _row(r.stdout, "trades") == 1
    assert _row(r.stdout, "refused intents") == 0
    assert "never delivered" not in r.stdout
    import sqlite3

    with sqlite3.connect(tmp_path / "j.sqlite") as db:
        [(entry_qty, exit_qty)] = db.execute("SELECT entry_qty, exit_qty FROM trades").fetchall()
        exits = db.execute("SELECT qty FROM trade_exits ORDER BY exit_no").fetchall()
    assert Decimal(entry_qty) == Decimal(exit_qty) == Decimal("0.5")
    assert [Decimal(q) for (q,) in exits] == [Decimal("0.25"), Decimal("0.25")]  # the two legs
