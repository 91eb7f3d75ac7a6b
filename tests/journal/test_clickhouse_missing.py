"""Without the optional ClickHouse packages, `dita clickhouse ...` says which to install and exits
at once (it used to retry forever as if the server were down)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# sys.modules[name] = None is Python's own way of making `import name` raise ImportError:
# the package is absent for this process, as on a machine installed without the extra.
_WITHOUT = """
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
from dita.cli import main
sys.argv = ["dita", *sys.argv[2:]]
main()
"""


def _dita_without(missing: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DITA_CLICKHOUSE_PASSWORD": "s3cret-pw"}
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT, missing, *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_push_without_clickhouse_connect_names_the_extra(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    made = subprocess.run(
        [sys.executable, "-m", "dita.cli", "run", "--journal", str(journal), "--quiet"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    for args in (
        [
            "clickhouse",
            "push",
            str(journal),
            "--kernel-id",
            "k1",
            "--dsn",
            "http://dita@127.0.0.1:9",
        ],
        ["clickhouse", "init", "--dsn", "http://dita@127.0.0.1:9"],
    ):
        r = _dita_without("clickhouse_connect", *args, cwd=tmp_path)
        assert r.returncode == 1, r.stdout + r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, r.stderr
        assert "pip install 'dita[clickhouse]'" in lines[0]
        assert "s3cret-pw" not in r.stderr + r.stdout


def test_a_chdb_dsn_without_chdb_says_so(tmp_path: Path) -> None:
    r = _dita_without("chdb", "clickhouse", "init", "--dsn", f"chdb://{tmp_path}/ch", cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    [line] = r.stderr.strip().splitlines()
    assert "needs the chdb package" in line
