"""Crash torture: kill the engine at many instants, recover, and check every invariant.

Two harnesses (``dita.testing.torture``):

* in-process on the sim venue, at exact crash points between journal and
  venue (``commit->venue``, ``venue->journal``, ``journal->commit``): cheap,
  so most of the kill instants are here;
* the engine in a subprocess against the BingX emulator in another process,
  killed by ``DITA_CRASH_AT`` (exact point) or SIGKILL (random delay).

The checks compare the journal with the venue's own records: each venue fill
in the kernel exactly once, no order the journal did not submit, no client
order id placed twice as two orders, position and capital equal to the
venue's exactly, nothing stuck, replay equal to the final state.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path
from random import Random

import pytest

from dita.marketdata.synthetic import synthetic_bars
from dita.testing.torture.bingx import run_torture
from dita.testing.torture.sim import run_sim_torture

pytestmark = pytest.mark.torture

SIM_BATCHES = 8
SIM_PER_BATCH = 5
CRASHES_PER_RUN = 3


@pytest.mark.parametrize("batch", range(SIM_BATCHES))
def test_sim_engine_survives_exact_crash_points(tmp_path: Path, batch: int) -> None:
    rng = Random(1000 + batch)
    where: Counter[str] = Counter()
    for i in range(SIM_PER_BATCH):
        bars = list(synthetic_bars("BTC-USDT", 300, rng.randrange(1 << 20), Decimal(50_000)))
        # each life counts its points from its own start, and later lives have less to do
        schedule = [rng.randint(1, 600 // (k + 1)) for k in range(CRASHES_PER_RUN)]
        r = run_sim_torture(tmp_path / f"j{i}.sqlite", bars, schedule)
        assert r.violations == [], (schedule, r.crashes, r.violations)
        where.update(r.crashes)
    assert sum(where.values()) >= SIM_PER_BATCH * 2  # most crashes land (>= 2 of 3 per run)
    assert set(where) <= {"commit->venue", "venue->journal", "journal->commit"}


def test_sim_crash_points_cover_every_kind_of_instant(tmp_path: Path) -> None:
    bars = list(synthetic_bars("BTC-USDT", 300, 5, Decimal(50_000)))
    clean = run_sim_torture(tmp_path / "clean.sqlite", bars, [])
    assert clean.violations == [] and clean.crashes == []
    seen: Counter[str] = Counter()
    for n in range(1, 40):  # every one of the first 39 instants, one crash each
        r = run_sim_torture(tmp_path / f"at{n}.sqlite", bars, [n])
        assert r.violations == [], (n, r.violations)
        seen.update(r.crashes)
    assert set(seen) == {"commit->venue", "venue->journal", "journal->commit"}


def test_the_checks_catch_a_restart_that_does_not_reconcile(tmp_path: Path) -> None:
    """Without reconciliation, fills made while the engine was down are missing: the
    checks must say so (otherwise the torture above proves nothing)."""
    bars = list(synthetic_bars("BTC-USDT", 300, 5, Decimal(50_000)))
    found = []
    for n in (5, 17, 40, 100, 250):
        r = run_sim_torture(tmp_path / f"nr{n}.sqlite", bars, [n], reconcile=False)
        found.extend(r.violations)
    assert any("kernel applied" in v or "stuck" in v or "position" in v for v in found), found


BINGX_KILLS = 24


def test_bingx_engine_subprocess_survives_random_kills(tmp_path: Path) -> None:
    res = run_torture(tmp_path, kills=BINGX_KILLS, seed=20261126, kills_per_scenario=6)
    assert res.violations == []
    assert res.survived >= BINGX_KILLS
    hows = {k.how.split("=")[0].split("@")[0] for k in res.kills}
    assert hows == {"crash_at", "sigkill"}
