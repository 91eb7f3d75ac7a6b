"""`dita recover JOURNAL`: reconcile a crashed journal with BingX (the emulator, in its own process)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from dita.app.resume import _Hold
from dita.cli import main
from dita.clock import SimClock
from dita.engine import Pipeline
from dita.journal import RunMeta, SqliteJournal
from dita.kernel import Action, Instrument, Kernel, KernelIntent, OrderType, Side
from tests import loopback

INST = Instrument("BTC-USDT", Decimal("0.1"), Decimal("0.0001"), Decimal("0.0001"), Decimal(2))


@pytest.fixture
def emulator() -> Iterator[tuple[dict[str, int], dict[str, str]]]:
    env = {
        **os.environ,
        "BINGX_API_KEY": f"rec-{secrets.token_hex(4)}",
        "BINGX_API_SECRET": secrets.token_hex(16),
    }
    p = subprocess.Popen(
        [sys.executable, "-m", "dita.testing.torture.emulator_proc"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert p.stdout is not None
        yield json.loads(p.stdout.readline()), env
    finally:
        p.kill()
        p.wait()
        if p.stdout is not None:
            p.stdout.close()


def crashed_journal(path: Path) -> str:
    """An ENTER committed, and the process died before the order left."""
    clock = SimClock()
    clock.set(1_704_067_200_000)
    j = SqliteJournal.open(path)
    p = Pipeline(Kernel(1, [INST], Decimal(10_000)), _Hold(), j, clock)
    p.begin(RunMeta(slots=1, instruments=(INST,), initial_capital=Decimal(10_000)))
    (out,) = p.submit_intents(
        [
            KernelIntent(
                "i1", 0, 0, Action.ENTER, trade_id="t1", asset="BTC-USDT", side=Side.LONG,
                size=Decimal("0.003"), order_type=OrderType.LIMIT, limit_price=Decimal(59_000),
            )
        ]
    )  # fmt: skip
    p.flush()
    j.close()
    return out.commands[0].order.client_order_id


def test_recover_resubmits_the_lost_order_once_and_a_second_run_changes_nothing(
    tmp_path: Path, emulator: tuple[dict[str, int], dict[str, str]]
) -> None:
    ports, env = emulator
    path = tmp_path / "journal.sqlite"
    cid = crashed_journal(path)
    args = ["recover", str(path), "--endpoint", f"loopback:{ports['port']}"]
    runner = CliRunner(env={k: env[k] for k in ("BINGX_API_KEY", "BINGX_API_SECRET")})

    first = runner.invoke(main, args)
    assert first.exit_code == 0, first.output
    assert f"resubmitted {cid} (same client order id)" in first.output
    truth = loopback.get(f"http://127.0.0.1:{ports['control']}/truth").json()
    assert [o["client_order_id"] for o in truth["orders"]] == [cid]
    assert truth["place_requests"] == {cid: 1}

    second = runner.invoke(main, args)
    assert second.exit_code == 0, second.output
    assert "0 synthetic events, 0 resubmitted, 0 cancels re-sent, 0 adjustments" in second.output
    truth = loopback.get(f"http://127.0.0.1:{ports['control']}/truth").json()
    assert truth["place_requests"] == {cid: 1}


def test_recover_without_credentials_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    crashed_journal(path)
    res = CliRunner(env={"BINGX_API_KEY": "", "BINGX_API_SECRET": ""}).invoke(
        main, ["recover", str(path), "--endpoint", "loopback:1"]
    )
    assert res.exit_code == 1
    assert "dita recover: error: set BINGX_API_KEY and BINGX_API_SECRET" in res.output


def journal_with_a_phantom_position(path: Path) -> str:
    """The journal holds a filled entry the venue never saw: a position it does not have."""
    from dita.kernel import EventKind, VenueEvent

    cid = crashed_journal(path)
    clock = SimClock(1_704_067_300_000)
    from dita.recovery import open_journal_for_recovery

    rec = open_journal_for_recovery(path)
    p = Pipeline(rec.kernel, _Hold(), rec.journal, clock)
    p.resume(rec.last_input_seq)
    fill = VenueEvent(
        "phantom-fill", clock.now_ms(), EventKind.FILL, cid, "", last_qty=Decimal("0.003"),
        last_price=Decimal(59_000), cum_qty=Decimal("0.003"), fee=Decimal(0),
    )  # fmt: skip
    assert p.on_event(fill).accepted
    p.flush()
    rec.journal.close()
    return cid


def test_a_halt_names_its_way_out_and_resolve_accept_takes_it_once(
    tmp_path: Path, emulator: tuple[dict[str, int], dict[str, str]]
) -> None:
    # issue 9: the operator's way out of every halt
    ports, env = emulator
    path = tmp_path / "journal.sqlite"
    journal_with_a_phantom_position(path)
    args = ["recover", str(path), "--endpoint", f"loopback:{ports['port']}"]
    runner = CliRunner(env={k: env[k] for k in ("BINGX_API_KEY", "BINGX_API_SECRET")})

    halted = runner.invoke(main, args)
    assert halted.exit_code == 1
    assert "position BTC-USDT: venue net position 0 differs from the kernel's 0.003" in (
        halted.output
    )
    assert "--resolve accept" in halted.output

    resolved = runner.invoke(main, [*args, "--resolve", "accept"])
    assert resolved.exit_code == 0, resolved.output
    assert "adjustment adj:position:BTC-USDT:0.003:0:accepted" in resolved.output

    # what the operator did is in the journal, and the same difference halts no more
    again = runner.invoke(main, args)
    assert again.exit_code == 0, again.output
    from dita.journal import Adjustment

    with SqliteJournal.open(path, readonly=True, create=False) as j:
        accepted = [
            r.body
            for r in j.read_from(1)
            if isinstance(r.body, Adjustment) and r.body.action == "accepted by operator"
        ]
    assert [a.adjustment_id for a in accepted] == ["adj:position:BTC-USDT:0.003:0:accepted"]
