"""The policies under examples/ run from their files (no PYTHONPATH) and do what they say."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from dita.journal import OutcomeRecord
from dita.kernel import OrderPurpose, OrderType, SubmitOrder
from dita.verify import open_journal

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, spec: str, *extra: str) -> tuple[str, Path]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    journal = tmp_path / "j.sqlite"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run(
        [sys.executable, "-P", "-m", "dita.cli", "run", "--policy", str(ROOT / "examples" / spec),
         "--journal", str(journal), "--quiet", *extra],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    replay = subprocess.run(
        [sys.executable, "-P", "-m", "dita.cli", "replay", str(journal)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert replay.returncode == 0 and "OK: " in replay.stdout, replay.stdout + replay.stderr
    return r.stdout, journal


def _orders(journal: Path) -> list[SubmitOrder]:
    with open_journal(journal) as j:
        return [
            c
            for rec in j.read_from(1)
            if isinstance(rec.body, OutcomeRecord)
            for c in rec.body.outcome.commands
            if isinstance(c, SubmitOrder)
        ]


def _exit_counts(journal: Path) -> list[int]:
    with sqlite3.connect(journal) as db:
        return [n for (n,) in db.execute(
            "SELECT count(*) FROM trade_exits GROUP BY seq, idx ORDER BY seq, idx")]  # fmt: skip


def test_ma_cross_enters_with_limit_orders_and_exits_in_two_legs(tmp_path: Path) -> None:
    _, journal = _run(tmp_path, "ma_cross.py:MaCross")
    orders = _orders(journal)
    entries = [c.order for c in orders if c.order.purpose is OrderPurpose.ENTRY]
    assert entries and all(o.order_type is OrderType.LIMIT for o in entries)
    assert all(o.limit_price is not None for o in entries)
    exits = _exit_counts(journal)
    assert len(exits) >= 10
    assert 2 in exits  # some trades closed in two legs (take profit on half, then the rest)


def test_ma_cross_takes_its_parameters(tmp_path: Path) -> None:
    out_default, _ = _run(tmp_path / "a", "ma_cross.py:MaCross")
    out_slow, j = _run(tmp_path / "b", "ma_cross.py:MaCross", "--param", "fast=20",
                       "--param", "slow=90", "--param", "notional=7500.0")  # fmt: skip
    assert out_default != out_slow
    with sqlite3.connect(j) as db:
        [(params,)] = db.execute("SELECT payload FROM records WHERE kind = 'run'").fetchall()
    assert '"policy_params":{"fast":20,"notional":"7500.0","slow":90}' in params


def test_breakout_enters_at_market_with_a_reference_price_and_exits_by_size(
    tmp_path: Path,
) -> None:
    out, journal = _run(tmp_path, "breakout.py:Breakout")
    orders = [c.order for c in _orders(journal)]
    entries = [o for o in orders if o.purpose is OrderPurpose.ENTRY]
    assert entries and all(o.order_type is OrderType.MARKET for o in entries)
    assert re.search(r"│ refused intents +│ +0 │", out), out
    assert 2 in _exit_counts(journal)  # a third at the target, then the rest


def test_a_legacy_intent_policy_runs_end_to_end(tmp_path: Path) -> None:
    _, journal = _run(tmp_path, "legacy_policy.py:ThreeBars")
    with sqlite3.connect(journal) as db:
        intents = [p for (p,) in db.execute("SELECT payload FROM records WHERE kind = 'intent'")]
        trades = db.execute("SELECT count(*) FROM trades").fetchone()[0]
    assert trades >= 10
    # decision ids became intent ids, floats arrived as the Decimals they print as,
    # and confidence travelled in the metadata
    enter = next(p for p in intents if '"action":"ENTER"' in p)
    assert '"intent_id":"d' in enter and '"size":"0.05"' in enter
    assert '"confidence":"0.6"' in enter
    assert _exit_counts(journal).count(2) == trades  # every trade left in its two legs
