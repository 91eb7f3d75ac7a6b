"""The `dita` command line, end to end, including every kind of bad input."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from dita.cli import main
from dita.journal.sqlite import record_crc
from tests import loopback


def _invoke(*args: str, input: str | None = None) -> tuple[int, str, str]:
    runner = CliRunner()
    r = runner.invoke(main, list(args), input=input, catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["run"],
        ["replay"],
        ["report"],
        ["status"],
        ["serve"],
        ["emulate"],
        ["emulate", "bingx"],
        ["clickhouse"],
    ],
)
def test_every_command_has_help(args: list[str]) -> None:
    code, out, _ = _invoke(*args, "--help")
    assert code == 0
    assert out.startswith("Usage: ")


def test_run_with_no_arguments_then_replay_then_report(cwd: Path) -> None:
    code, out, err = _invoke("run")
    assert code == 0, err
    [journal] = list((cwd / "runs").glob("*-seed7/journal.sqlite"))
    for row in ("trades", "win rate", "realized PnL", "fees", "final capital", "max drawdown",
                "orders", "fills", "cancels", "rejects"):  # fmt: skip
        assert row in out
    assert f"journal: runs/{journal.parent.name}/journal.sqlite" in out
    run_table = out[out.index("│ bars") : out.index("open at end")]

    code, out, err = _invoke("replay", str(journal))
    assert code == 0, err
    assert "OK: " in out
    # the replayed summary is the run's summary, number for number
    assert out[out.index("│ bars") : out.index("open at end")] == run_table

    code, out, err = _invoke("report", str(journal))
    assert code == 0, err
    page = journal.parent / "report.html"
    html = page.read_text()
    assert page.stat().st_mode & 0o777 == 0o600
    assert "<h2>Trades (" in html and 'id="dita-data"' in html
    assert not (journal.parent / "report.png").exists()


def test_run_from_jsonl_intents_on_stdin(cwd: Path) -> None:
    lines = [
        '{"intent_id":"a","ts":1704067259999,"slot_id":0,"action":"ENTER","trade_id":"t1","asset":"BTC-USDT",'
        '"side":"LONG","size":"0.5","reference_price":"42324.4","exit_leg_ratios":["0.5","0.5"]}',
        '{"intent_id":"b","ts":1704067859999,"slot_id":0,"action":"EXIT","trade_id":"t1"}',
        '{"intent_id":"c","ts":1704068459999,"slot_id":0,"action":"EXIT","trade_id":"t1"}',
    ]
    code, out, err = _invoke(
        "run", "--intents", "-", "--journal", "j.sqlite", "--quiet", input="\n".join(lines)
    )
    assert code == 0, err
    assert (
        _row(out, "trades") == "1"
        and _row(out, "orders") == "3"
        and _row(out, "fills") == "3 (0 partial)"
    )
    code, _, err = _invoke("replay", "j.sqlite")
    assert code == 0, err


def _row(out: str, name: str) -> str:
    for line in out.splitlines():
        if f" {name} " in line:
            return line.split("│")[2].strip()
    raise AssertionError(f"no row {name!r} in\n{out}")


# --------------------------------------------------------------------------- bad input to `dita run`


def _bad_csv(path: Path) -> Path:
    path.write_text(
        "open_time,open,high,low,close,volume,close_time\n"
        "1704067200000,42283.5,42340.7,42261.0,42324.4,82.822,1704067259999\n"
        "1704067260000,42324.4,abc,42299.4,42329.8,39.936,1704067319999\n"
    )
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "missing.csv"], "dita run: error: missing.csv: no such data file"),
        (
            ["--data", "bad.csv"],
            "dita run: error: bad data file bad.csv:3: high 'abc' is not a number",
        ),
        (
            ["--policy", "nosuch.module:Policy"],
            "dita run: error: policy 'nosuch.module:Policy': no module named 'nosuch'",
        ),
        (["--policy", "dita.policies.demo:Missing"], "has no attribute 'Missing'"),
        (["--intents", "bad.jsonl"], "dita run: error: bad.jsonl:2: bad intent"),
        (["--intents", "nope.jsonl"], "dita run: error: nope.jsonl: no such intents file"),
        (["--slots", "0"], "dita run: error: --slots must be >= 1, got 0"),
    ],
)
def test_bad_run_input_is_one_line_and_writes_nothing(
    cwd: Path, args: list[str], message: str
) -> None:
    _bad_csv(cwd / "bad.csv")
    (cwd / "bad.jsonl").write_text(
        '{"intent_id":"a","ts":1,"slot_id":0,"action":"CANCEL"}\n{"nope"\n'
    )
    before = _tree(cwd)
    code, _out, err = _invoke("run", *args)
    assert code == 1
    assert message in err
    assert len(err.strip().splitlines()) == 1, err
    assert _tree(cwd) == before
    assert not (cwd / "runs").exists()


def test_run_refuses_to_overwrite_an_existing_journal(cwd: Path) -> None:
    assert _invoke("run", "--journal", "j.sqlite", "--quiet")[0] == 0
    before = _tree(cwd)
    code, _, err = _invoke("run", "--journal", "j.sqlite", "--quiet")
    assert code == 1
    assert "j.sqlite: journal already exists" in err
    assert _tree(cwd) == before


# --------------------------------------------------------------------------- bad input to `dita replay`


@pytest.fixture(scope="module")
def good_journal(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """A finished run's journal file and its seal (a journal is copied with its seal)."""
    root = tmp_path_factory.mktemp("good")
    path = root / "j.sqlite"
    code, _, err = _invoke("run", "--journal", str(path), "--quiet")
    assert code == 0, err
    assert not Path(f"{path}-wal").exists()
    return path.read_bytes(), Path(f"{path}-seal").read_bytes()


def _copy(good: tuple[bytes, bytes], to: Path) -> Path:
    to.write_bytes(good[0])
    Path(f"{to}-seal").write_bytes(good[1])
    return to


def _sql(path: Path, statement: str, params: tuple[object, ...] = ()) -> None:
    conn = sqlite3.connect(path)
    conn.execute(statement, params)
    conn.commit()
    conn.close()


def test_replay_of_a_missing_journal(cwd: Path) -> None:
    code, _, err = _invoke("replay", "nope.sqlite")
    assert code == 1
    assert err.strip() == "dita replay: error: nope.sqlite: no such journal"


def test_replay_refuses_a_file_that_is_not_a_journal(cwd: Path) -> None:
    (cwd / "notes.txt").write_text("hello\n")
    before = _tree(cwd)
    code, _, err = _invoke("replay", "notes.txt")
    assert code == 1
    assert "notes.txt is not a dita journal: not an SQLite database" in err
    assert _tree(cwd) == before


def test_replay_refuses_a_journal_from_a_newer_schema(
    cwd: Path, good_journal: tuple[bytes, bytes]
) -> None:
    path = _copy(good_journal, cwd / "j.sqlite")
    _sql(path, "UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    before = _tree(cwd)
    code, _, err = _invoke("replay", "j.sqlite")
    assert code == 1
    assert "j.sqlite was written by a newer dita: journal schema version 99" in err
    assert len(err.strip().splitlines()) == 1
    assert _tree(cwd) == before


def test_replay_names_the_corrupted_record(cwd: Path, good_journal: tuple[bytes, bytes]) -> None:
    path = _copy(good_journal, cwd / "j.sqlite")
    conn = sqlite3.connect(path)
    [(seq,)] = conn.execute("SELECT min(seq) FROM records WHERE kind = 'intent'").fetchall()
    conn.close()
    _sql(
        path,
        "UPDATE records SET payload = replace(payload, '\"LIMIT\"', '\"MARKET\"') WHERE seq = ?",
        (seq,),
    )
    before = _tree(cwd)
    code, _, err = _invoke("replay", "j.sqlite")
    assert code == 1
    assert f"record seq {seq} is corrupted (checksum mismatch)" in err
    assert _tree(cwd) == before


def test_replay_catches_a_consistent_forgery(cwd: Path, good_journal: tuple[bytes, bytes]) -> None:
    # a fill price changed *and* its checksum recomputed: only re-running the kernel catches it
    path = _copy(good_journal, cwd / "j.sqlite")
    conn = sqlite3.connect(path)
    seq, kind, ts, payload = conn.execute(
        "SELECT seq, kind, ts, payload FROM records WHERE kind = 'venue_event' "
        'AND payload LIKE \'%"kind":"FILL"%\' ORDER BY seq LIMIT 1'
    ).fetchone()
    import json

    body = json.loads(payload)
    body["last_price"] = str(int(float(body["last_price"])) + 1)
    new = json.dumps(body, separators=(",", ":"))
    conn.execute(
        "UPDATE records SET payload = ?, crc = ? WHERE seq = ?",
        (new, record_crc(seq, kind, ts, new.encode()), seq),
    )
    conn.commit()
    conn.close()
    code, _, err = _invoke("replay", "j.sqlite")
    assert code == 1
    assert f"MISMATCH replay of j.sqlite diverged at seq {seq + 1}" in err


# --------------------------------------------------------------------------- `dita emulate bingx`


def test_emulate_bingx_without_credentials_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BINGX_API_KEY", raising=False)
    monkeypatch.delenv("BINGX_API_SECRET", raising=False)
    code, _, err = _invoke("emulate", "bingx", "--port", "0")
    assert code == 1
    assert err.startswith("dita emulate bingx: error: BingX emulator needs an API key and secret")
    assert len(err.strip().splitlines()) == 1


def test_emulate_bingx_serves_on_loopback_and_never_prints_the_secret() -> None:
    import subprocess
    import sys

    secret = "s3cret-do-not-print"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dita.cli", "emulate", "bingx", "--port", "0",
         "--api-key", "k", "--api-secret", secret],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("BingX emulator: REST http://127.0.0.1:"), line
        rest = line.split()[3]
        r = loopback.get(f"{rest}/openApi/swap/v2/server/time", timeout=5)
        assert r.status_code == 200 and r.json()["code"] == 0
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert secret not in line + out + err


def test_run_on_the_bingx_emulator_through_the_real_adapter(cwd: Path) -> None:
    from dita.app.runner import sample_data_path

    lines = sample_data_path().read_text().splitlines()[:401]
    (cwd / "small.csv").write_text("\n".join(lines) + "\n")
    code, out, err = _invoke(
        "run",
        "--venue",
        "bingx-emulator",
        "--data",
        "small.csv",
        "--journal",
        "j.sqlite",
        "--quiet",
    )
    assert code == 0, err
    assert "dita run (bingx-emulator, seed 7)" in out
    assert int(_row(out, "trades")) >= 5 and _row(out, "refused intents") == "0"
    code, out, err = _invoke("replay", "j.sqlite")
    assert code == 0, err
    import sqlite3

    conn = sqlite3.connect("j.sqlite")
    [(payload,)] = conn.execute("SELECT payload FROM records WHERE kind = 'run'").fetchall()
    conn.close()
    assert '"venue":"bingx-emulator"' in payload


def test_bingx_emulator_refuses_a_symbol_it_does_not_list(cwd: Path) -> None:
    from dita.app.runner import sample_data_path

    # LTC-USDT has a bundled instrument, but the emulator lists only BTC, ETH and TRX.
    code, _, err = _invoke(
        "run", "--venue", "bingx-emulator", "--data", f"LTC-USDT={sample_data_path()}", "--quiet"
    )
    assert code == 1
    assert "the BingX emulator does not list LTC-USDT" in err
    assert not (cwd / "runs").exists()


class DemoThenBoom:
    """The demo policy until bar 300, then a bug."""

    def __init__(self) -> None:
        from dita.policies.demo import DemoPolicy

        self.inner = DemoPolicy()
        self.bars = 0

    def on_bar(self, bar, view):  # type: ignore[no-untyped-def]
        self.bars += 1
        if self.bars == 300:
            raise RuntimeError("policy bug at bar 300")
        return self.inner.on_bar(bar, view)

    def on_outcome(self, outcome, view):  # type: ignore[no-untyped-def]
        return self.inner.on_outcome(outcome, view)


def test_a_run_that_fails_midway_keeps_a_journal_that_replays_as_unfinished(cwd: Path) -> None:
    code, _, err = _invoke(
        "run", "--policy", "tests.test_cli:DemoThenBoom", "--journal", "j.sqlite", "--quiet"
    )
    assert code == 1
    assert "dita run: error: policy raised in on_bar" in err
    assert "RuntimeError: policy bug at bar 300 (journal so far: j.sqlite)" in err
    code, out, err = _invoke("replay", "j.sqlite")
    assert code == 0, err
    assert "OK, unfinished run" in out
    assert int(_row(out, "trades")) > 0
