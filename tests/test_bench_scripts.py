"""The benchmarks the README and the issue notes quote still run, on tiny inputs, and say
what they must: the fuzz's boundaries with no crash and no state change on a refusal, the
lifecycle benchmark's own checks. (The numbers are for bench/, never for tests.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def test_fuzz_runs_every_boundary_without_a_crash_or_a_state_change() -> None:
    out = run(
        "bench/fuzz.py", "--seed", "3", "--kernel", "400", "--wire", "200", "--jsonl", "200",
        "--csv", "20", "--journal", "10", "--emulator", "20",
    )  # fmt: skip
    rows = {
        m["name"]: (int(m["inputs"]), int(m["crashes"]), int(m["changes"]))
        for m in re.finditer(
            r"^(?P<name>\w+)\s+(?P<inputs>\d+)\s+\d+\s+(?P<crashes>\d+)\s+(?P<changes>\d+)",
            out,
            re.M,
        )
    }
    assert set(rows) == {"kernel", "wire", "jsonl", "csv", "journal", "emulator"}, out
    for name, (inputs, crashes, changes) in rows.items():
        assert inputs > 0 and crashes == 0 and changes == 0, (name, out)


def test_lifecycle_bench_runs_and_its_checks_pass() -> None:
    out = run("bench/lifecycle_bench.py", "--bars", "600", "--journal", "off", "--seed", "42")
    assert re.search(r"checks: ok", out), out
    orders = re.search(r"orders: ([\d,]+)", out)
    assert orders is not None and int(orders[1].replace(",", "")) > 0, out
