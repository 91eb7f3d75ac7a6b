"""Crash torture, long form: SIGKILL the engine (a subprocess, BingX adapter) at random
instants while it trades against the BingX emulator (another process), restart it on the
same journal, and check every invariant of ``dita.testing.torture.checks`` after each scenario.

    python bench/crash_torture.py --kills 150 --sim 40 --seed 11

The emulator also injects transient HTTP and stream faults (``--http-faults``, 3% per
request kind by default) while the engine is being killed, so kills land amid
cancel-after-failed-submit sequences; the final run of each scenario goes without.

Prints each violation as it is found and ends with ``survived K/N kills, V violations``;
exits 1 if V > 0. Add ``--sim N`` for N in-process sim-venue scenarios as well (exact
crash points between journal and venue). Add ``--storage N`` for N storage-damage cases per
seed over ``--seeds`` seeds (bit flips in a journal's main file and a crashed run's WAL, kills
during journal creation; ``dita.testing.torture.storage``); ``--kills 0`` runs storage damage alone.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from random import Random

from dita.marketdata.synthetic import synthetic_bars
from dita.testing.torture.bingx import run_torture
from dita.testing.torture.sim import run_sim_torture


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=100, help="kills against the BingX emulator")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--per-scenario", type=int, default=5, help="kills per journal")
    ap.add_argument("--trades", type=int, default=10, help="trades per scenario")
    ap.add_argument("--sim", type=int, default=0, help="also N in-process sim scenarios")
    ap.add_argument(
        "--http-faults", type=float, default=0.03,
        help="transient HTTP/stream fault rate per request kind while killing (0: none)",
    )  # fmt: skip
    ap.add_argument("--workdir", type=Path, default=None, help="keep journals and logs here")
    ap.add_argument("--storage", type=int, default=0, help="also N storage-damage cases per seed")
    ap.add_argument("--seeds", type=int, default=1, help="seeds for --storage: seed, seed+1, ...")
    args = ap.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="dita-torture-"))
    print(f"journals and process logs: {workdir}", flush=True)
    storage_violations = _storage(args, workdir) if args.storage else 0
    if not args.kills and not args.sim:
        return 1 if storage_violations else 0

    res = run_torture(
        workdir / "bingx",
        kills=args.kills,
        seed=args.seed,
        kills_per_scenario=args.per_scenario,
        trades=args.trades,
        report=lambda line: print(line, flush=True),
        http_faults=args.http_faults,
    )
    # a kill survived = it landed, and its scenario ended without a violation
    survived, attempted, violations = res.clean_kills, res.survived, len(res.violations)

    if args.sim:
        from decimal import Decimal

        rng = Random(args.seed)
        (workdir / "sim").mkdir(parents=True, exist_ok=True)
        for i in range(args.sim):
            bars = list(synthetic_bars("BTC-USDT", 300, rng.randrange(1 << 20), Decimal(50_000)))
            sched = [rng.randint(1, 600 // (k + 1)) for k in range(3)]
            r = run_sim_torture(workdir / "sim" / f"j{i}.sqlite", bars, sched)
            attempted += len(r.crashes)
            survived += 0 if r.violations else len(r.crashes)
            violations += len(r.violations)
            print(f"sim {i}: crashes {r.crashes}; {len(r.violations)} violations", flush=True)
            for v in r.violations:
                print(f"  VIOLATION sim {i}: {v}", flush=True)
    print(f"survived {survived}/{attempted} kills, {violations} violations", flush=True)
    return 1 if violations or storage_violations else 0


def _storage(args: argparse.Namespace, workdir: Path) -> int:
    from dita.testing.torture.storage import run_storage_torture

    total = refused = intact = kills = bad = 0
    for s in range(args.seed, args.seed + args.seeds):
        r = run_storage_torture(
            workdir / f"storage{s}", cases=args.storage, seed=s,
            report=lambda line: print(line, flush=True),
        )  # fmt: skip
        kinds = ", ".join(f"{k} {n[1]}/{n[0]} refused" for k, n in r.by_kind.items())
        print(f"storage seed {s}: {kinds}; {r.creation_kills} creation kills", flush=True)
        total, refused, intact = total + r.cases, refused + r.refused, intact + r.intact
        kills, bad = kills + r.creation_kills, bad + len(r.violations)
    print(
        f"storage damage: {total} cases, {refused} refused loudly, {intact} opened intact, "
        f"{kills} kills during creation, {bad} violations",
        flush=True,
    )
    return bad


if __name__ == "__main__":
    sys.exit(main())
