"""Issue 9, sequences 6-11: the journal's storage half, each reproduced on a real file.

Damage is made the way it happens: bytes of the real file (or of a crashed
run's WAL) are changed behind SQLite's back; kills are real SIGKILLs of a
child process.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from decimal import Decimal as D
from pathlib import Path

import pytest
from click.testing import CliRunner

from dita.cli import main
from dita.journal import (
    EngineNote,
    JournalCorrupted,
    JournalError,
    OutcomeRecord,
    SnapshotRecord,
    SqliteJournal,
    replay,
)
from dita.journal.sqlite import SCHEMA_VERSION, read_seal, seal_path
from dita.kernel import EventKind, Kernel, OrderStatus, Side, VenueEvent
from dita.reconcile import reconcile
from dita.venues.base import OrderReport
from dita.verify import VerifyError, verify_journal
from tests.journal.conftest import RUN, enter, ev, run_live, scenario


def files_of(path: Path) -> dict[str, bytes]:
    """The journal's data: file, WAL, seal (the -shm is SQLite's rebuildable WAL index)."""
    return {
        p.name: p.read_bytes()
        for p in sorted(path.parent.iterdir())
        if p.is_file() and not p.name.endswith("-shm")
    }


def marked(i: int) -> EngineNote:
    return EngineNote("tick", f"MARK{i:05d}", {"i": i})


def cli(*args: str) -> tuple[int, str]:
    res = CliRunner(env={"BINGX_API_KEY": "k", "BINGX_API_SECRET": "s"}).invoke(main, list(args))
    return res.exit_code, res.output


CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from dita.journal import EngineNote, SqliteJournal
    j = SqliteJournal.open(sys.argv[1])
    n = 0
    for g in range(int(sys.argv[2])):
        for _ in range(5):
            n += 1
            j.append(EngineNote("tick", f"MARK{n:05d}", {"i": n}), ts=n)
        j.commit()
    os.kill(os.getpid(), signal.SIGKILL)  # a crash: nothing closed, the WAL not checkpointed
    """
)


def crashed_run(path: Path, groups: int) -> None:
    p = subprocess.run([sys.executable, "-c", CHILD, str(path), str(groups)], check=False)
    assert p.returncode == -signal.SIGKILL
    assert Path(f"{path}-wal").stat().st_size > 0


# --------------------------------------------------------------------------- sequence 6


def test_seq06_a_reconciliation_priced_fill_with_a_repeating_average_restores_and_replays(
    jpath: Path,
) -> None:
    # issue 9, sequence 6
    with SqliteJournal.open(jpath) as j:
        live = run_live(j, [enter(1, 0, "t1", Side.LONG, "0.010", reference_price=D("60000"))])
        k = live.kernel
        (order,) = k.live_orders()
        first = ev(2, EventKind.PARTIAL_FILL, order.client_order_id, venue_order_id="v1",
                   last_qty=D("0.001"), last_price=D("60000"), cum_qty=D("0.001"), fee=D("0.03"))  # fmt: skip
        seq = j.append(first, ts=first.ts)
        j.append(OutcomeRecord(seq, k.on_venue_event(first)), ts=first.ts)
        j.commit()
        # The stream lost frames; the venue says 0.004 filled at an average of
        # 60030.25: the missing 0.003 are worth 180.121, 60040.333... each.
        (order,) = k.live_orders()
        rep = OrderReport(
            order.client_order_id, "v1", order.asset, order.side, order.order_type,
            order.quantity, order.limit_price, order.reduce_only, OrderStatus.WORKING,
            D("0.004"), D("60030.25"), D("0.12"), 5_000,
        )  # fmt: skip
        (verdict,) = reconcile([order], {order.client_order_id: rep}, ts=5_000).verdicts
        for e in verdict.events:
            seq = j.append(e, ts=e.ts)
            j.append(OutcomeRecord(seq, k.on_venue_event(e)), ts=e.ts)
        j.append(SnapshotRecord(seq, k.snapshot()), ts=5_000)
        j.commit()
        # no price with digits the venue never had (at most 18 decimals), and the value
        # the venue's exactly (reconcile.recovered_fills splits the missing 0.003)
        assert all(
            e.last_price is None or -e.last_price.as_tuple().exponent <= 18  # type: ignore[operator]
            for e in verdict.events
        )
        assert k.slot(0).size == D("0.004")
        assert k.live_orders()[0].filled_cost == D("0.004") * D("60030.25")
        assert k.check_invariants() == []
        snap = k.snapshot()

    restored = Kernel.restore(snap, RUN.instrument_map())  # SnapshotError before the fix
    assert restored.snapshot() == snap
    with SqliteJournal.open(jpath, readonly=True) as j:
        assert replay(j).snapshot() == snap
        assert replay(j, from_snapshot=False).snapshot() == snap
    verify_journal(jpath)
    assert cli("replay", str(jpath))[0] == 0


# --------------------------------------------------------------------------- sequence 7


def write_groups(path: Path, *groups: int) -> None:
    n = 0
    with SqliteJournal.open(path) as j:
        for size in groups:
            for _ in range(size):
                n += 1
                j.append(marked(n), ts=n)
            j.commit()


def flip_mark(path: Path, seq: int) -> None:
    data = bytearray(path.read_bytes())
    at = data.index(f"MARK{seq:05d}".encode())
    data[at] ^= 0x04  # one bit: M -> I
    path.write_bytes(bytes(data))


def test_seq07_a_flipped_bit_in_the_last_committed_group_is_corruption_not_a_torn_tail(
    tmp_path: Path,
) -> None:
    # issue 9, sequence 7
    path = tmp_path / "j.sqlite"
    write_groups(path, 5, 5)  # both groups committed, fsynced and sealed
    flip_mark(path, 9)
    before = files_of(path)
    for attempt in (
        lambda: SqliteJournal.open(path),
        lambda: SqliteJournal.open(path, repair_torn_tail=True),
        lambda: SqliteJournal.open(path, readonly=True),
    ):
        with pytest.raises(JournalCorrupted, match="record seq 9 is corrupted") as err:
            attempt()
        assert err.value.seq == 9
        assert files_of(path) == before
    for command in (["replay", str(path)], ["recover", str(path), "--endpoint", "loopback:1"]):
        code, out = cli(*command)
        assert code != 0, out
        assert "record seq 9 is corrupted" in out
        assert "Traceback" not in out
        assert files_of(path) == before, f"dita {command[0]} must not repair committed data away"


# --------------------------------------------------------------------------- sequence 8


def wal_frames(wal: Path) -> int:
    page = int.from_bytes(wal.read_bytes()[8:12], "big")
    return (wal.stat().st_size - 32) // (24 + page)


def flip_wal_frame(wal: Path, frame: int) -> None:
    data = bytearray(wal.read_bytes())
    page = int.from_bytes(data[8:12], "big")
    at = 32 + frame * (24 + page) + 24 + page // 2
    data[at] ^= 0x10
    wal.write_bytes(bytes(data))


def test_seq08_a_flipped_bit_mid_wal_of_a_crashed_run_is_refused_and_the_wal_kept(
    tmp_path: Path,
) -> None:
    # issue 9, sequence 8
    path = tmp_path / "j.sqlite"
    crashed_run(path, 80)  # 400 records, all committed, the WAL never checkpointed
    wal = Path(f"{path}-wal")
    flip_wal_frame(wal, wal_frames(wal) // 2)
    before = files_of(path)
    for attempt in (
        lambda: SqliteJournal.open(path),
        lambda: SqliteJournal.open(path, readonly=True),
        lambda: SqliteJournal.open(path, repair_torn_tail=True),
    ):
        with pytest.raises(JournalCorrupted, match=r"committed records \d+\.\.400 are missing"):
            attempt()
        assert files_of(path) == before, "a refused open must not checkpoint the WAL"
    code, out = cli("replay", str(path))
    assert code == 1 and "are missing" in out, out
    assert files_of(path) == before


def test_seq08_an_undamaged_crashed_run_opens_with_everything_committed(tmp_path: Path) -> None:
    # issue 9, sequence 8 (the control: no damage, nothing refused, nothing lost)
    path = tmp_path / "j.sqlite"
    crashed_run(path, 40)
    with SqliteJournal.open(path) as j:
        assert j.last_seq == 200
        assert [r.seq for r in j.read_from(1)] == list(range(1, 201))


# --------------------------------------------------------------------------- sequence 9

CREATOR = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from dita.journal import SqliteJournal
    root = Path(sys.argv[1])
    print("ready", flush=True)
    i = 0
    while True:
        SqliteJournal.open(root / f"j{i}.sqlite").close()
        i += 1
    """
)


def test_seq09_a_kill_during_creation_leaves_a_journal_or_nothing(tmp_path: Path) -> None:
    # issue 9, sequence 9: real SIGKILLs at random instants of a process that
    # does nothing but create journals, so most kills land inside a creation.
    # The twelve rounds run side by side: each child is killed at its own random
    # instant after it said ready, so the test waits for the latest kill, not the sum.
    import random

    rng = random.Random(9)
    rounds = []
    for round_no in range(12):
        root = tmp_path / f"r{round_no}"
        root.mkdir()
        p = subprocess.Popen(
            [sys.executable, "-c", CREATOR, str(root)], stdout=subprocess.PIPE, text=True
        )
        rounds.append((root, p, rng.uniform(0.02, 0.3)))
    try:
        kills = []
        for _, p, delay in rounds:
            assert p.stdout is not None and p.stdout.readline() == "ready\n"
            kills.append((time.monotonic() + delay, p))
        for at, p in sorted(kills, key=lambda k: k[0]):
            time.sleep(max(0.0, at - time.monotonic()))  # the kill instant is the input
            p.send_signal(signal.SIGKILL)
    finally:
        for _, p, _ in rounds:
            p.kill()
            p.wait()
            assert p.stdout is not None
            p.stdout.close()
    checked = 0
    for root, _, _ in rounds:
        for i in range(10_000):
            j = root / f"j{i}.sqlite"
            if not j.exists():
                break
            # a valid, empty journal (not "application_id 0x0")
            with SqliteJournal.open(j, readonly=True) as r:
                assert r.last_seq == 0
            checked += 1
        # the path being created when the kill came holds nothing (or a journal)
        nxt = root / f"j{i}.sqlite"
        assert not nxt.exists() or SqliteJournal.open(nxt, readonly=True).last_seq == 0
        # and it can be created now
        SqliteJournal.open(nxt).close()
    assert checked > 0


# --------------------------------------------------------------------------- sequence 10


@pytest.fixture
def traded(jpath: Path) -> Path:
    with SqliteJournal.open(jpath) as j:
        run_live(j, scenario())
        assert len(j.trades()) == 2
    return jpath


def edit_trades(path: Path, statement: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute(statement)
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    "column, value", [("net_pnl", "'9.99'"), ("entry_price", "'101'"), ("exit_price", "'1'")]
)
def test_seq10_an_edited_derived_trade_column_is_caught_by_replay(
    traded: Path, column: str, value: str
) -> None:
    # issue 9, sequence 10
    edit_trades(
        traded,
        f"UPDATE trades SET {column} = {value} WHERE idx = 0 AND seq = (SELECT min(seq) FROM trades)",
    )
    with pytest.raises(JournalCorrupted, match="trades row"):
        verify_journal(traded)
    code, out = cli("replay", str(traded))
    assert code == 1 and "trades row" in out and "Traceback" not in out, out


def test_seq10_a_flipped_byte_in_the_trades_table_is_one_clear_error(traded: Path) -> None:
    # issue 9, sequence 10: garbage where a Decimal must be
    edit_trades(traded, "UPDATE trades SET entry_qty = '1.0x0' WHERE idx = 0")
    for command in ("replay",):  # (dita status no longer reads the trades table)
        code, out = cli(command, str(traded))
        assert code == 1, out
        assert "trades row" in out and "Traceback" not in out, out
    with pytest.raises(JournalError, match="trades row"):
        verify_journal(traded)


# --------------------------------------------------------------------------- sequence 11


def test_seq11_replay_beside_a_committing_writer_sees_one_consistent_journal(
    jpath: Path,
) -> None:
    # issue 9, sequence 11: a writer keeps committing steps that move capital while
    # replay reads; every replay must add up (no false capital mismatch)
    j = SqliteJournal.open(jpath)
    k = run_live(j, scenario()).kernel
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        n = 0
        try:
            while not stop.is_set():
                n += 1
                fund = VenueEvent(
                    f"fund{n}", 5_000 + n, EventKind.FUNDING, asset="BTC-USDT", amount=D("-0.01")
                )
                seq = j.append(fund, ts=fund.ts)
                j.append(OutcomeRecord(seq, k.on_venue_event(fund)), ts=fund.ts)
                j.append(SnapshotRecord(seq, k.snapshot()), ts=fund.ts)
                j.commit()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    t = threading.Thread(target=writer)
    t.start()
    try:
        done = 0
        deadline = time.monotonic() + 30
        while done < 8 and time.monotonic() < deadline:
            try:
                verify_journal(jpath)
            except VerifyError as e:
                pytest.fail(f"false mismatch beside a writer: {e}")
            done += 1
    finally:
        stop.set()
        t.join()
        j.close()
    assert not errors
    assert done == 8


# --------------------------------------------------------------------------- permissions, schema 1


def test_journal_lock_wal_shm_and_seal_are_created_0600(tmp_path: Path) -> None:
    # issue 11: files dita writes are 0600 (whatever the umask)
    old = os.umask(0o022)
    try:
        path = tmp_path / "j.sqlite"
        j = SqliteJournal.open(path)
        j.append(marked(1), ts=1)
        j.commit()
        names = [
            path,
            Path(f"{path}.lock"),
            Path(f"{path}-wal"),
            Path(f"{path}-shm"),
            seal_path(path),
        ]
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in names}
        j.close()
    finally:
        os.umask(old)
    assert modes == {p.name: 0o600 for p in names}


def downgrade_to_schema_1(path: Path) -> None:
    """What a journal written by schema 1 looks like: no seal, no journal id, no trade crc."""
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE trades DROP COLUMN crc")
    conn.execute("DELETE FROM meta WHERE key = 'journal_id'")
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    seal_path(path).unlink()


def test_a_schema_1_journal_is_read_and_migrated_explicitly_on_a_writable_open(
    traded: Path,
) -> None:
    downgrade_to_schema_1(traded)
    with SqliteJournal.open(traded, readonly=True) as r:
        assert r.schema_version == 1
        trades = r.trades()
        last = r.last_seq
    verify_journal(traded)
    assert not seal_path(traded).exists(), "reading does not migrate"
    with SqliteJournal.open(traded) as w:
        assert w.schema_version == SCHEMA_VERSION
        assert w.trades() == trades
        w.append(marked(1), ts=1)
        w.commit()
    seal = read_seal(traded)
    assert seal is not None and seal.last_seq == last + 1
    verify_journal(traded)
