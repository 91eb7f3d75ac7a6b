"""The ClickHouse sink against a real ClickHouse engine (embedded chdb, ``chdb:///tmp-dir``).

No network beyond 127.0.0.1 and no mocks of the sink: failures are real
(a closed loopback port, a process killed with SIGKILL) or injected by
wrapping the real client, the way a flaky transport would fail.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from dita.journal import OutcomeRecord, RecordKind, SqliteJournal, replay
from dita.journal.clickhouse import (
    ClickHouseError,
    ClickHouseSink,
    ClickHouseUnavailable,
    KernelIdConflict,
    NotExact,
    RunReport,
    connect,
    export_journal,
    fleet_report,
    fleet_totals,
    init,
    push,
    redact,
    run_report,
)
from dita.journal.clickhouse._conn import ClientLike, scrub
from dita.journal.clickhouse.rows import money
from dita.kernel import TradeStage
from dita.reporting.runstats import RunStats, stats_from_journal
from dita.testing.synthetic_journals import write_journal

N_RECORDS = 2_500
SECRET = "hunter2-Secret"


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="session")
def journals(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three kernels' journals with real content (different seeds, so different runs)."""
    d = tmp_path_factory.mktemp("journals")
    out = []
    for seed in (1, 2, 3):
        p = d / f"kernel{seed}.journal"
        write_journal(p, records=N_RECORDS, seed=seed, slots=3)
        out.append(p)
    return out


@pytest.fixture
def dsn(tmp_path: Path) -> Iterator[str]:
    yield f"chdb://{tmp_path / 'clickhouse'}"


def n_of(path: Path) -> int:
    with SqliteJournal.open(path, readonly=True) as j:
        return j.last_seq


def q(dsn: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    client = connect(dsn)
    try:
        return list(client.query(sql, parameters=params).result_rows)
    finally:
        client.close()


def raw_rows(path: Path) -> list[tuple[Any, ...]]:
    with SqliteJournal.open(path, readonly=True) as j:
        return j.execute("SELECT seq, kind, ts, payload, crc FROM records ORDER BY seq")


def ch_rows(dsn: str, kernel_id: str) -> list[tuple[Any, ...]]:
    return q(
        dsn,
        "SELECT seq, kind, ts, payload, crc FROM dita.records FINAL WHERE kernel_id = {k:String} ORDER BY seq",
        k=kernel_id,
    )


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


def copy_records(src: Path, dst: SqliteJournal, upto: int) -> None:
    """Continue ``dst`` with ``src``'s records up to seq ``upto`` (the engine 'trading on')."""
    with SqliteJournal.open(src, readonly=True) as s:
        for rec in s.read_from(dst.last_seq + 1, limit=upto - dst.last_seq):
            dst.append(rec.body, ts=rec.ts)
    dst.commit()


class FlakyClient:
    """A real client whose transport fails when ``fail(table, call_no)`` says so.

    ``after=True`` fails *after* the insert went through (the outcome-unknown
    case: a timeout on the response of an insert that landed).
    """

    def __init__(self, inner: ClientLike, fail: Callable[[str, int], bool], *, after: bool = False):
        self.inner = inner
        self.fail = fail
        self.after = after
        self.calls: Counter[str] = Counter()

    def command(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner.command(*args, **kwargs)

    def query(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner.query(*args, **kwargs)

    def insert(self, table: str, *args: Any, **kwargs: Any) -> Any:
        self.calls[table] += 1
        if self.fail(table, self.calls[table]) and not self.after:
            raise ConnectionResetError("connection reset by peer (injected)")
        result = self.inner.insert(table, *args, **kwargs)
        if self.fail(table, self.calls[table]) and self.after:
            raise TimeoutError("read timed out (injected, after the insert landed)")
        return result

    def close(self) -> None:
        self.inner.close()


def sqlite_report(path: Path) -> tuple[RunStats, int, int]:
    """The SQLite side: RunStats from the journal, and open positions/slots of the replayed kernel."""
    with SqliteJournal.open(path, readonly=True) as j:
        _, stats = stats_from_journal(j)
        totals = j.trade_totals()
        assert (totals.trades, totals.wins, totals.net_pnl) == (
            stats.trades,
            stats.wins,
            stats.trade_net_pnl,
        )
        k = replay(j)
    stages = [k.slot(i).stage for i in range(k.slot_count)]
    open_positions = sum(s in (TradeStage.POSITION_OPEN, TradeStage.EXIT_WORKING) for s in stages)
    open_slots = sum(s not in (TradeStage.IDLE, TradeStage.CLOSED) for s in stages)
    return stats, open_positions, open_slots


def no_duplicates_no_gaps(dsn: str, kernel_id: str, path: Path) -> None:
    assert ch_rows(dsn, kernel_id) == raw_rows(path)
    for table in ("outcomes", "transitions", "commands", "trades", "runs"):
        (final_n, distinct_keys) = q(
            dsn,
            f"SELECT count(), uniqExact(seq, {'idx' if table in ('transitions', 'commands', 'trades') else '0'}) "
            f"FROM dita.{table} FINAL WHERE kernel_id = {{k:String}}",
            k=kernel_id,
        )[0]
        assert final_n == distinct_keys, table
    assert derived_counts(dsn, kernel_id) == expected_derived_counts(path)


def derived_counts(dsn: str, kernel_id: str) -> dict[str, int]:
    out = {}
    for table in ("outcomes", "transitions", "commands", "trades", "runs"):
        (n,) = q(
            dsn,
            f"SELECT count() FROM dita.{table} FINAL WHERE kernel_id = {{k:String}}",
            k=kernel_id,
        )[0]
        out[table] = int(n)
    return out


def expected_derived_counts(path: Path) -> dict[str, int]:
    c = Counter[str]()
    with SqliteJournal.open(path, readonly=True) as j:
        for rec in j.read_from(1):
            if isinstance(rec.body, OutcomeRecord):
                o = rec.body.outcome
                c["outcomes"] += 1
                c["transitions"] += len(o.transitions)
                c["commands"] += len(o.commands)
                c["trades"] += len(o.trade_records)
            elif rec.kind is RecordKind.RUN:
                c["runs"] += 1
    return {t: c[t] for t in ("outcomes", "transitions", "commands", "trades", "runs")}


# --------------------------------------------------------------------------- complete and in order


def test_a_runs_records_arrive_complete_and_in_order(journals: list[Path], dsn: str) -> None:
    n = n_of(journals[0])
    result = push(journals[0], dsn, "k1", batch_size=333)
    assert (result.resumed_after, result.position, result.shipped) == (0, n, n)
    # Byte for byte: seq, kind, ts, the JSON payload and the journal's CRC, in seq order.
    no_duplicates_no_gaps(dsn, "k1", journals[0])
    with SqliteJournal.open(journals[0], readonly=True) as j:
        trades = j.trades()
    rows = q(
        dsn,
        "SELECT trade_id, realized_pnl, fees, funding, net_pnl, entry_cost, exit_proceeds, exit_qtys "
        "FROM dita.trades FINAL WHERE kernel_id = 'k1' ORDER BY seq, idx",
    )
    assert len(rows) == len(trades) > 20
    for row, t in zip(rows, trades, strict=True):
        assert row[0] == t.trade_id
        assert row[1:7] == (
            t.realized_pnl,
            t.fees,
            t.funding,
            t.net_pnl,
            t.entry_cost,
            t.exit_proceeds,
        )
        assert row[7] == [x.qty for x in t.exits]


def test_pushing_again_ships_nothing_and_a_stopped_sink_resumes_where_clickhouse_says(
    journals: list[Path], dsn: str
) -> None:
    with SqliteJournal.open(journals[1], readonly=True) as j:
        with ClickHouseSink.from_dsn(j, "k2", dsn, batch_size=400) as sink:
            assert sink.push_batch() == 400
            assert sink.push_batch() == 400
            assert sink.position == 800
        # A new sink (a restart) knows nothing but ClickHouse: it resumes after 800.
        with ClickHouseSink.from_dsn(j, "k2", dsn, batch_size=400) as sink:
            result = sink.catch_up()
    n = n_of(journals[1])
    assert (result.resumed_after, result.position, result.shipped) == (800, n, n - 800)
    (raw_count,) = q(dsn, "SELECT count() FROM dita.records WHERE kernel_id = 'k2'")[0]
    assert raw_count == n  # nothing was sent twice
    again = push(journals[1], dsn, "k2")
    assert (again.resumed_after, again.shipped) == (n, 0)
    no_duplicates_no_gaps(dsn, "k2", journals[1])


# --------------------------------------------------------------------------- crashes and retries


_KILLED_SINK = textwrap.dedent(
    """
    import os, signal, sys
    from dita.journal.clickhouse import ClickHouseSink, connect, open_journal

    journal_path, dsn, kill_at_batch = sys.argv[1], sys.argv[2], int(sys.argv[3])

    class DiesMidBatch:
        # The real client; the process is SIGKILLed inside batch `kill_at_batch`,
        # after its derived rows were inserted and before its records were.
        def __init__(self, inner):
            self.inner, self.batches = inner, 0
        def command(self, *a, **k): return self.inner.command(*a, **k)
        def query(self, *a, **k): return self.inner.query(*a, **k)
        def close(self): self.inner.close()
        def insert(self, table, *a, **k):
            if table == "records":
                self.batches += 1
                if self.batches == kill_at_batch:
                    os.kill(os.getpid(), signal.SIGKILL)
            return self.inner.insert(table, *a, **k)

    with open_journal(journal_path) as j:
        sink = ClickHouseSink(j, "k3", lambda: DiesMidBatch(connect(dsn)), batch_size=300)
        sink.catch_up()
    print("not killed")
    """
)


def test_a_sink_killed_mid_batch_and_restarted_leaves_no_duplicates_and_no_gaps(
    journals: list[Path], dsn: str
) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_SINK, str(journals[2]), dsn, "4"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    # Three whole batches landed; the fourth's derived rows landed without its records.
    assert ch_rows(dsn, "k3") == raw_rows(journals[2])[:900]
    (outcomes_before,) = q(dsn, "SELECT count() FROM dita.outcomes WHERE kernel_id = 'k3'")[0]
    (outcomes_in_900,) = q(
        dsn, "SELECT count() FROM dita.outcomes WHERE kernel_id = 'k3' AND seq <= 900"
    )[0]
    assert outcomes_before > outcomes_in_900  # batch 4's rows are there, orphaned

    result = push(journals[2], dsn, "k3", batch_size=300)  # the restart
    assert (result.resumed_after, result.position) == (900, n_of(journals[2]))
    no_duplicates_no_gaps(dsn, "k3", journals[2])
    stats, _, _ = sqlite_report(journals[2])
    assert run_report(dsn, "k3").capital == stats.capital


@pytest.mark.parametrize(
    "after", [False, True], ids=["insert-failed", "insert-landed-then-timeout"]
)
def test_a_transport_failure_inside_a_batch_is_retried_without_duplicates_or_gaps(
    journals: list[Path], dsn: str, after: bool
) -> None:
    delays: list[float] = []
    clients: list[FlakyClient] = []

    def flaky() -> ClientLike:
        # The 2nd and 3rd batches' records inserts fail on the first client only.
        c = FlakyClient(
            connect(dsn), lambda t, n: len(clients) == 1 and t == "records" and n == 2, after=after
        )
        clients.append(c)
        return c

    with SqliteJournal.open(journals[0], readonly=True) as j:
        sink = ClickHouseSink(j, "flaky", flaky, target=dsn, batch_size=500, sleep=delays.append)
        with sink:
            result = sink.catch_up()
    assert result.failures == 1 and delays == [0.5]
    assert len(clients) == 2  # the broken client was dropped and a new one connected
    # After a failure whose outcome is unknown the sink asks ClickHouse where it got to.
    assert result.resumed_after == (1000 if after else 500)
    no_duplicates_no_gaps(dsn, "flaky", journals[0])


def test_a_hole_left_in_clickhouse_is_found_and_filled(journals: list[Path], dsn: str) -> None:
    push(journals[0], dsn, "holey", batch_size=1000)
    client = connect(dsn)
    client.command(
        "ALTER TABLE dita.records DELETE WHERE kernel_id = 'holey' AND seq BETWEEN 1201 AND 1300 SETTINGS mutations_sync = 2"
    )
    client.close()
    assert len(ch_rows(dsn, "holey")) == n_of(journals[0]) - 100
    result = push(journals[0], dsn, "holey", batch_size=1000)
    assert result.resumed_after == 1200
    no_duplicates_no_gaps(dsn, "holey", journals[0])


# --------------------------------------------------------------------------- ClickHouse away for a while


def test_clickhouse_unavailable_for_a_while_then_back_loses_nothing(
    journals: list[Path], dsn: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    down = f"http://dita:{SECRET}@127.0.0.1:{closed_port()}/"
    target = [down]
    live = SqliteJournal.open(tmp_path / "live.journal")
    copy_records(journals[1], live, 600)
    delays: list[float] = []

    def wait(seconds: float) -> None:
        # While the sink waits, trading goes on: the engine keeps committing.
        delays.append(seconds)
        copy_records(journals[1], live, live.last_seq + 400)
        if len(delays) == 4:
            target[0] = dsn  # ClickHouse is back

    caplog.set_level(logging.DEBUG)
    reader = SqliteJournal.open(live.path, readonly=True)
    sink = ClickHouseSink(
        reader, "away", lambda: connect(target[0]), target=down, batch_size=700, sleep=wait
    )
    with sink:
        result = sink.catch_up()
        assert result.failures == 4 and delays == [0.5, 1.0, 2.0, 4.0]
        assert result.position == live.last_seq == 2200  # 600 before, 4 x 400 during the outage
        # More commits after catching up: the sink picks them up on the next round.
        copy_records(journals[1], live, n_of(journals[1]))
        assert sink.catch_up().position == n_of(journals[1])
    reader.close()
    live.close()
    no_duplicates_no_gaps(dsn, "away", journals[1])
    assert "attempt 4 failed" in caplog.text and "Connection refused" in caplog.text
    assert SECRET not in caplog.text
    assert "dita:***@127.0.0.1" in caplog.text


def test_giving_up_after_max_attempts_raises_with_the_password_redacted(
    tmp_path: Path, journals: list[Path]
) -> None:
    down = f"http://dita:{SECRET}@127.0.0.1:{closed_port()}/?password={SECRET}"
    with pytest.raises(ClickHouseUnavailable) as e:
        push(journals[0], down, "nowhere", max_attempts=3, sleep=lambda _: None)
    assert SECRET not in str(e.value) and "dita:***@127.0.0.1" in str(e.value)
    assert (e.value.__cause__ is None and e.value.__context__ is None) or SECRET not in repr(
        e.value.__context__
    )


def test_follow_ships_new_commits_as_they_come_without_the_engine_waiting(
    journals: list[Path], dsn: str, tmp_path: Path
) -> None:
    n = n_of(journals[2])
    live = SqliteJournal.open(tmp_path / "live.journal")
    copy_records(journals[2], live, 100)
    polls: list[float] = []

    def engine_runs_on(seconds: float) -> None:
        polls.append(seconds)
        copy_records(journals[2], live, min(n, live.last_seq + 600))

    with SqliteJournal.open(live.path, readonly=True) as reader:
        sink = ClickHouseSink(
            reader, "live", lambda: connect(dsn), target=dsn, sleep=engine_runs_on
        )
        with sink:
            result = sink.follow(lambda: live.last_seq >= n, poll_interval=0.25)
    live.close()
    assert polls == [0.25] * 5 and result.position == n
    no_duplicates_no_gaps(dsn, "live", journals[2])


# --------------------------------------------------------------------------- identity and exactness


def test_another_journal_under_a_used_kernel_id_is_refused(journals: list[Path], dsn: str) -> None:
    push(journals[0], dsn, "same")
    # (the message depends on which journal is longer; both name the conflict)
    with pytest.raises(KernelIdConflict, match=r"journal .*shipped under this id"):
        push(journals[1], dsn, "same")
    assert ch_rows(dsn, "same") == raw_rows(journals[0])


def test_money_keeps_every_digit_where_decimal_38_18_would_round(
    journals: list[Path], dsn: str
) -> None:
    push(journals[0], dsn, "exact")
    with SqliteJournal.open(journals[0], readonly=True) as j:
        deltas = [
            rec.body.outcome.ledger.realized_pnl
            for rec in j.read_from(1)
            if isinstance(rec.body, OutcomeRecord) and rec.body.outcome.ledger.realized_pnl
        ]
    long = [d for d in deltas if d != d.quantize(Decimal("1e-18"))]
    assert long, "the synthetic journal should contain PnL with more than 18 decimals"
    got = q(
        dsn,
        "SELECT realized_pnl FROM dita.outcomes FINAL WHERE kernel_id = 'exact' AND realized_pnl != 0 ORDER BY seq",
    )
    assert [r[0] for r in got] == deltas


def test_a_value_decimal_76_38_cannot_hold_is_refused_not_rounded() -> None:
    assert money(Decimal("-1.00000000000000000000000000000000000001"), "x") == Decimal(
        "-1.00000000000000000000000000000000000001"
    )
    with pytest.raises(NotExact, match="more than 38 decimals"):
        money(Decimal("1e-39"), "fee")
    with pytest.raises(NotExact):
        money(Decimal("1e38"), "capital")
    with pytest.raises(NotExact):
        money(Decimal("NaN"), "pnl")


# --------------------------------------------------------------------------- reports


def test_fleet_report_over_three_kernels_equals_the_sum_of_their_sqlite_reports(
    journals: list[Path], dsn: str
) -> None:
    init(dsn)
    # A fleet: three sinks shipping at the same time into one ClickHouse.
    with ThreadPoolExecutor(3) as pool:
        futures = [
            pool.submit(push, p, dsn, f"kernel-{i}", batch_size=250)
            for i, p in enumerate(journals, 1)
        ]
        assert [f.result().position for f in futures] == [n_of(p) for p in journals]
    rows = fleet_report(dsn)
    assert [r.kernel_id for r in rows] == ["kernel-1", "kernel-2", "kernel-3"]
    sqlite = [sqlite_report(p) for p in journals]
    for row, (stats, open_positions, open_slots) in zip(rows, sqlite, strict=True):
        assert row.records == row.last_seq == stats_records(row.kernel_id, journals)
        assert (row.trades, row.wins) == (stats.trades, stats.wins)
        assert (row.realized_pnl, row.fees, row.funding) == (
            stats.realized_pnl,
            stats.fees,
            stats.funding,
        )
        assert (row.capital, row.trade_net_pnl) == (stats.capital, stats.trade_net_pnl)
        assert (row.initial_capital, row.open_positions, row.open_slots) == (
            stats.initial_capital,
            open_positions,
            open_slots,
        )
    total = fleet_totals(dsn)
    s = [x[0] for x in sqlite]
    assert total.kernels == 3 and total.records == sum(n_of(p) for p in journals)
    assert total.trades == sum(x.trades for x in s) and total.wins == sum(x.wins for x in s)
    assert total.realized_pnl == sum((x.realized_pnl for x in s), Decimal(0))
    assert total.fees == sum((x.fees for x in s), Decimal(0))
    assert total.funding == sum((x.funding for x in s), Decimal(0))
    assert total.capital == sum((x.capital for x in s), Decimal(0))
    assert total.trade_net_pnl == sum((x.trade_net_pnl for x in s), Decimal(0))
    assert total.open_positions == sum(x[1] for x in sqlite)
    # Exactly: the sums really have more digits than a float could carry.
    assert len(total.capital.normalize().as_tuple().digits) > 17, total.capital


def stats_records(kernel_id: str, journals: list[Path]) -> int:
    return n_of(journals[int(kernel_id.rpartition("-")[2]) - 1])


def test_run_report_from_clickhouse_is_the_sqlite_run_report(
    journals: list[Path], dsn: str
) -> None:
    push(journals[1], dsn, "k", batch_size=97)  # outcomes often in the batch after their input
    report = run_report(dsn, "k")
    with SqliteJournal.open(journals[1], readonly=True) as j:
        meta, stats = stats_from_journal(j)
    assert report.meta == meta
    assert stats.refusals, "the journal should hold refused intents, so their breakdown is compared"
    for name in RunStats.__dataclass_fields__:
        assert hasattr(report, name), f"RunReport lacks RunStats.{name}"
        assert getattr(report, name) == getattr(stats, name), name
    assert report.as_run_stats() == stats
    assert isinstance(report, RunReport)


def test_reports_count_a_retried_batch_once_before_and_after_clickhouse_merges(
    journals: list[Path], dsn: str
) -> None:
    init(dsn)
    keeper = connect(dsn)  # keeps the embedded engine (and its merge switch) up throughout
    try:
        keeper.command("SYSTEM STOP MERGES dita.trades")  # so the copies stay on disk
        push(journals[2], dsn, "twice", batch_size=1000)
        before = fleet_report(dsn)
        # Force a full re-send: every row inserted a second time.
        keeper.command(
            "ALTER TABLE dita.records DELETE WHERE kernel_id = 'twice' SETTINGS mutations_sync = 2"
        )
        push(journals[2], dsn, "twice", batch_size=1000)
        (raw_trades,) = q(dsn, "SELECT count() FROM dita.trades WHERE kernel_id = 'twice'")[0]
        assert raw_trades == 2 * before[0].trades > 0
        assert fleet_report(dsn) == before
        keeper.command("SYSTEM START MERGES dita.trades")
        keeper.command("OPTIMIZE TABLE dita.trades FINAL")
        (raw_trades,) = q(dsn, "SELECT count() FROM dita.trades WHERE kernel_id = 'twice'")[0]
        assert raw_trades == before[0].trades
        assert fleet_report(dsn) == before
    finally:
        keeper.close()


# --------------------------------------------------------------------------- configuration


def test_init_is_idempotent(dsn: str) -> None:
    assert init(dsn) == init(dsn)
    tables = {r[0] for r in q(dsn, "SELECT name FROM system.tables WHERE database = 'dita'")}
    assert tables == {"records", "runs", "outcomes", "transitions", "commands", "trades"}
    engines = {r[0] for r in q(dsn, "SELECT engine FROM system.tables WHERE database = 'dita'")}
    assert engines == {"ReplacingMergeTree"}


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("http://u:pa%40ss@h:8123/db", "http://u:***@h:8123/db"),
        ("https://u:p@h:8443/?password=p&secure=1", "https://u:***@h:8443/?password=***&secure=1"),
        ("http://u@h:8123", "http://u@h:8123"),
        ("chdb:///var/lib/dita", "chdb:///var/lib/dita"),
    ],
)
def test_redact_hides_passwords(dsn: str, shown: str) -> None:
    assert redact(dsn) == shown


def test_scrub_masks_a_password_echoed_by_a_driver() -> None:
    dsn = "http://u:pa%40ss@h:8123/"
    assert scrub("auth failed for u:pa@ss and u:pa%40ss", dsn) == "auth failed for u:*** and u:***"


def test_follow_stopped_while_clickhouse_is_down_gives_up_and_the_next_run_ships_everything(
    journals: list[Path], dsn: str
) -> None:
    down = f"http://dita:{SECRET}@127.0.0.1:{closed_port()}/"
    waits: list[float] = []
    attempts: list[int] = []

    def connect_down() -> ClientLike:
        attempts.append(1)
        return connect(down)

    with SqliteJournal.open(journals[0], readonly=True) as j:
        sink = ClickHouseSink(j, "late", connect_down, target=down, sleep=waits.append)
        with pytest.raises(ClickHouseUnavailable, match=r"dita:\*\*\*@"), sink:
            sink.follow(lambda: len(waits) >= 3, poll_interval=1.0)
    assert waits == [0.5, 1.0, 2.0] and len(attempts) == 4  # 3 with backoff, then one last try
    result = push(journals[0], dsn, "late")
    assert result.resumed_after == 0 and result.position == n_of(journals[0])


# --------------------------------------------------------------------------- back out of ClickHouse


def test_a_journal_rebuilt_from_clickhouse_is_byte_identical_and_replays(
    journals: list[Path], dsn: str, tmp_path: Path
) -> None:
    push(journals[1], dsn, "roundtrip", batch_size=900)
    out = tmp_path / "rebuilt.journal"
    assert export_journal(dsn, "roundtrip", out) == n_of(journals[1])
    assert raw_rows(out) == raw_rows(journals[1])
    with (
        SqliteJournal.open(out, readonly=True) as a,
        SqliteJournal.open(journals[1], readonly=True) as b,
    ):
        assert a.trades() == b.trades()
        assert replay(a).snapshot() == replay(b).snapshot()


def test_an_incomplete_copy_is_not_exported(journals: list[Path], dsn: str, tmp_path: Path) -> None:
    push(journals[1], dsn, "gappy", batch_size=900)
    client = connect(dsn)
    client.command(
        "ALTER TABLE dita.records DELETE WHERE kernel_id = 'gappy' AND seq = 50 SETTINGS mutations_sync = 2"
    )
    client.close()
    out = tmp_path / "rebuilt.journal"
    with pytest.raises(ClickHouseError, match="has no record seq 50"):
        export_journal(dsn, "gappy", out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clickhouse"]  # nothing half-written
