"""``dita clickhouse init|push|report`` end to end, on the embedded engine."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from dita.journal import SqliteJournal
from dita.journal.clickhouse_cli import clickhouse
from dita.reporting.runstats import stats_from_journal
from dita.reporting.summary import money
from dita.testing.synthetic_journals import write_journal

SECRET = "pa55-word-XYZ"


@pytest.fixture(scope="module")
def two_journals(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    d = tmp_path_factory.mktemp("cli-journals")
    paths = [d / "a.journal", d / "b.journal"]
    for seed, p in enumerate(paths, 11):
        write_journal(p, records=1_200, seed=seed, slots=2)
    return paths


def test_init_push_and_report_the_fleet_and_one_run(
    two_journals: list[Path], tmp_path: Path
) -> None:
    runner = CliRunner()
    env = {"DITA_CLICKHOUSE_DSN": f"chdb://{tmp_path / 'ch'}", "COLUMNS": "200"}
    r = runner.invoke(clickhouse, ["init"], env=env)
    assert r.exit_code == 0, r.output
    assert "dita.records" in r.output
    for name, path in zip(("alpha", "beta"), two_journals, strict=True):
        r = runner.invoke(
            clickhouse, ["push", str(path), "--kernel-id", name, "--batch-size", "500"], env=env
        )
        assert r.exit_code == 0, r.output
        with SqliteJournal.open(path, readonly=True) as j:
            assert f"records 1..{j.last_seq} are in" in r.output
    r = runner.invoke(clickhouse, ["push", str(two_journals[0]), "--kernel-id", "alpha"], env=env)
    assert r.exit_code == 0 and "0 shipped now" in r.output

    r = runner.invoke(clickhouse, ["report"], env=env, terminal_width=200)
    assert r.exit_code == 0, r.output
    stats = []
    for path in two_journals:
        with SqliteJournal.open(path, readonly=True) as j:
            stats.append(stats_from_journal(j)[1])
    assert "alpha" in r.output and "beta" in r.output and "total" in r.output
    for s in stats:
        assert money(s.capital) in r.output
    exact_total = sum((s.capital for s in stats), start=stats[0].capital * 0)
    assert f"exact fleet capital: {exact_total.normalize():f}" in r.output

    r = runner.invoke(clickhouse, ["report", "--kernel-id", "beta"], env=env, terminal_width=200)
    assert r.exit_code == 0, r.output
    assert money(stats[1].capital) in r.output and f"{stats[1].fills:,}" in r.output

    out = tmp_path / "beta.journal"
    r = runner.invoke(clickhouse, ["export", "beta", str(out)], env=env)
    assert r.exit_code == 0, r.output
    with (
        SqliteJournal.open(out, readonly=True) as a,
        SqliteJournal.open(two_journals[1], readonly=True) as b,
    ):
        assert stats_from_journal(a) == stats_from_journal(b)
    r = runner.invoke(clickhouse, ["export", "beta", str(out)], env=env)
    assert r.exit_code == 1 and "exists" in r.output


def test_push_to_clickhouse_that_is_down_fails_cleanly_and_never_shows_the_password(
    two_journals: list[Path], caplog: pytest.LogCaptureFixture
) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    dsn = f"http://dita:{SECRET}@127.0.0.1:{port}/"
    r = CliRunner().invoke(
        clickhouse,
        ["push", str(two_journals[0]), "--kernel-id", "x", "--dsn", dsn, "--max-attempts", "2"],
    )
    assert r.exit_code == 1
    assert "dita clickhouse push: error: ClickHouse at http://dita:***@127.0.0.1" in r.output
    assert SECRET not in r.output and SECRET not in caplog.text


def test_a_dsn_that_is_not_one_is_refused(two_journals: list[Path]) -> None:
    r = CliRunner().invoke(
        clickhouse, ["push", str(two_journals[0]), "--kernel-id", "x", "--dsn", "mysql://u:p@h"]
    )
    assert r.exit_code == 1 and "must start with one of" in r.output and ":p@" not in r.output
    r = CliRunner().invoke(
        clickhouse, ["push", str(two_journals[0]), "--kernel-id", "bad id!", "--dsn", "chdb:///x"]
    )
    assert r.exit_code == 1 and "kernel id 'bad id!'" in r.output
