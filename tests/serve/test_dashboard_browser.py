"""``dita serve`` in a real headless browser while a run writes its journal.

A backtest runs in a thread on bars the test hands it in chunks; between
chunks it is idle, so the journal's committed state is fixed. The reference
is an independent full replay of the committed records (``dita.journal.replay``),
not the dashboard's incremental view.
"""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from dita.app.runner import execute, prepare_sim_run
from dita.journal import SqliteJournal, Synchronous, replay
from dita.marketdata.model import Bar
from dita.marketdata.synthetic import synthetic_bars
from tests.browser import browser


class Feeder:
    """Bars on demand: ``give(n)`` hands n bars to the run and returns once it wants more."""

    def __init__(self, bars: list[Bar]) -> None:
        self._bars = iter(bars)
        self._q: queue.Queue[int | None] = queue.Queue()
        self._done: queue.Queue[int] = queue.Queue()

    def __iter__(self) -> Iterator[Bar]:
        while True:
            n = self._q.get()
            if n is None:
                return
            for _ in range(n):
                yield next(self._bars)
            # the run asks for the next bar only after it processed (and committed what it
            # commits for) the last one: from here until the next give() it is idle
            self._done.put(n)

    def give(self, n: int | None) -> None:
        self._q.put(n)
        if n is not None:
            assert self._done.get(timeout=60) == n, "the run did not take its bars"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _journal_truth(path: Path) -> tuple[int, str, str, set[str]]:
    with SqliteJournal.open(path, readonly=True, create=False) as j:
        k = replay(j, from_snapshot=False)
        net: dict[str, Decimal] = {}
        for i in range(k.slot_count):
            s = k.slot(i)
            if s.side is not None and s.size > 0:
                net[s.asset] = net.get(s.asset, Decimal(0)) + (
                    s.size if s.side.value == "LONG" else -s.size
                )
        positions = ", ".join(f"{a} {q}" for a, q in sorted(net.items())) or "flat"
        return (
            j.last_seq,
            str(k.account.capital),
            positions,
            {o.client_order_id for o in k.live_orders()},
        )


def test_dashboard_follows_a_running_journal(tmp_path: Path) -> None:
    journal = tmp_path / "live.sqlite"
    run = prepare_sim_run(journal=journal, synchronous=Synchronous.NORMAL)
    feeder = Feeder(list(synthetic_bars("BTC-USDT", 6000, 11, Decimal(42000))))
    errors: list[BaseException] = []

    def go() -> None:
        try:
            execute(run, bars=iter(feeder))
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=go, daemon=True)
    t.start()
    feeder.give(1500)
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dita.cli", "serve", str(journal), "--port", str(port),
         "--interval", "0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in line, line + (
            proc.stderr.read() if proc.stderr else ""
        )
        with browser() as ctx:
            from playwright.sync_api import expect

            page = ctx.new_page()
            console: list[str] = []
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            page.goto(f"http://127.0.0.1:{port}/")
            card = page.locator('.j[data-j="0"]')

            def check() -> tuple[str, str, set[str]]:
                seq, capital, positions, orders = _journal_truth(journal)
                expect(card.locator('[data-k="seq"]')).to_have_text(str(seq), timeout=20_000)
                assert card.locator('[data-k="capital"]').text_content() == capital
                assert card.locator('[data-k="positions"]').text_content() == positions
                shown = set(card.locator('[data-table="orders"] td[data-c="client order id"]')
                            .all_text_contents())  # fmt: skip
                assert shown == orders
                return capital, positions, orders

            first = check()
            seq1 = int(card.locator('[data-k="seq"]').text_content() or 0)
            feeder.give(1500)
            second = check()
            seq2 = int(card.locator('[data-k="seq"]').text_content() or 0)
            assert seq2 > seq1
            assert first != second  # the run moved money, positions or orders
            feeder.give(None)
            t.join(60)
            assert not errors, errors
            check()
            expect(card.locator('[data-k="state"]')).to_have_text("finished", timeout=20_000)
            assert card.locator('[data-k="bars"]').text_content() == "3000"
            assert console == []
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
        feeder.give(None)
