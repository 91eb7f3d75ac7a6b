"""Order-lifecycle throughput of a whole backtest: orders per second, journal off / normal / full.

Workload (the same as the side-by-side runs with NautilusTrader in issue 15):

* N one-minute bars of one BTC-USDT perpetual, generated from ``--seed``: the
  log price follows an Ornstein-Uhlenbeck process around 50,000 (sigma
  0.0008 per minute), open = previous close, random wicks above and below,
  volume uniform in 1-10. Prices on the 0.1 tick, volumes on the 0.001 step.
* Instrument tick 0.1, step 0.001; maker fee 2 bp, taker 1.8 bp; leverage
  10; capital 10,000,000; participation 0.5 of each bar's volume; no
  latency, no slippage, no funding.
* The policy (one slot), on each bar, with off = max(1, floor(0.25 * (high -
  low) / tick)) ticks:
  - a working entry (even partly filled) is cancelled after 3 bars;
  - an open position is exited in two reduce-only marketable LIMIT legs at
    close -/+ off (leg 1 = half the position rounded down to the step,
    leg 2 = the rest; the kernel's exit-leg ratios 0.5/0.5);
  - otherwise every 5th bar a GTC LIMIT entry of 1.000 at close -/+ off,
    long and short in turn.

Bars are *streamed*: generated one by one inside the timed loop, never held
(the generator's own cost is measured in a separate pass and printed, so it
can be subtracted). "run s" is wall time of the loop (``Backtest.run``),
"cpu s" the process CPU time of the same span, "peak RSS" the process'
high-water mark (``ru_maxrss``) at the end.

Checks (a failed one exits non-zero): the capital identity (kernel capital =
initial + realized - fees + funding = the sim venue's wallet = the run
statistics' capital) and, for every order, that its fills add up to the
venue's cumulative quantity and to the kernel's filled quantity (a FILLED
order: to its quantity).

Journal modes: ``off`` (no journal), ``normal`` (WAL, synchronous=NORMAL),
``full`` (WAL, synchronous=FULL, the default of ``dita run``). The journal is
a real SQLite file in ``--dir`` (default: a temporary directory). ``--commit
grouped`` (the default, as ``dita run`` on the sim venue) commits it every
1,000 bars or 20,000 records and at the end, ``--commit write-ahead`` before every command
(as a live run does); see ``dita.engine.Durability``.

Reproduce:  python bench/lifecycle_bench.py --bars 20000 --journal full
            python bench/lifecycle_bench.py --bars 1000000 --journal off --seed 42
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import resource
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path

from dita.clock import SimClock
from dita.engine import Backtest, Durability
from dita.journal import RunMeta, SqliteJournal, Synchronous
from dita.kernel import (
    Action,
    EventKind,
    Instrument,
    Kernel,
    KernelIntent,
    KernelOutcome,
    OrderStatus,
    OrderType,
    Side,
    TradeStage,
    VenueEvent,
)
from dita.kernel.model import Order
from dita.marketdata import Bar
from dita.policy import PolicyView
from dita.venues.sim import FeeSchedule, NoSlippage, SimConfig, SimExchange
from dita.venues.sim.exchange import KEEP_FINISHED

D = Decimal
SYMBOL = "BTC-USDT"
TICK = D("0.1")
STEP = D("0.001")
BTC = Instrument(SYMBOL, TICK, STEP, STEP, D("5"))
CAPITAL = D(10_000_000)
LEVERAGE = D(10)
MINUTE = 60_000
START_TS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
NO_FUNDING_MS = 100 * 365 * 86_400_000


# --------------------------------------------------------------------------- bars


def ou_bars(n: int, seed: int, *, center: float = 50_000.0, sigma: float = 0.0008) -> Iterator[Bar]:
    """``n`` one-minute bars, one at a time (never held): an OU log price around ``center``.

    The random numbers are floats; every bar is put on the tick/step grid as
    an exact Decimal before anyone sees it.
    """
    rng = random.Random(seed)
    theta = 0.001  # mean reversion per minute
    mu = math.log(center)
    x = mu
    prev = D(f"{center:.1f}")
    for i in range(n):
        x += theta * (mu - x) + sigma * rng.gauss(0.0, 1.0)
        close = max(D(f"{math.exp(x):.1f}"), TICK)
        open_ = prev
        top = max(open_, close)
        bottom = min(open_, close)
        high = top + D(f"{top * D(abs(rng.gauss(0.0, sigma / 2))):.1f}")
        low = max(bottom - D(f"{bottom * D(abs(rng.gauss(0.0, sigma / 2))):.1f}"), TICK)
        volume = D(f"{rng.uniform(1.0, 10.0):.3f}")
        ts = START_TS + i * MINUTE
        yield Bar(SYMBOL, ts, open_, high, low, close, volume, ts + MINUTE - 1)
        prev = close


# --------------------------------------------------------------------------- the policy


class LifecyclePolicy:
    """The workload's policy (see the module doc): one slot, entries, stale cancels, 2-leg exits."""

    def __init__(self, inst: Instrument, *, entry_every: int = 5, cancel_after: int = 3) -> None:
        self.inst = inst
        self.entry_every = entry_every
        self.cancel_after = cancel_after
        self._bar = 0
        self._entered_at = 0
        self._cancel_sent = False
        self._entries = 0
        self._intents = 0
        self._now = 0

    def on_bar(self, bar: Bar, view: PolicyView) -> Sequence[KernelIntent]:
        self._bar += 1
        self._now = view.now_ms
        s = view.slot(0)
        tick = self.inst.tick_size
        off = max(1, int((bar.high - bar.low) * D("0.25") // tick)) * tick
        match s.stage:
            case TradeStage.ORDER_REQUESTED | TradeStage.ENTRY_WORKING:
                if not self._cancel_sent and self._bar - self._entered_at >= self.cancel_after:
                    self._cancel_sent = True
                    return (self._intent(Action.CANCEL, trade_id=s.trade_id),)
            case TradeStage.POSITION_OPEN:
                price = bar.close - off if s.side is Side.LONG else bar.close + off
                return (
                    self._intent(
                        Action.EXIT,
                        trade_id=s.trade_id,
                        order_type=OrderType.LIMIT,
                        limit_price=max(price, tick),
                    ),
                )
            case TradeStage.IDLE | TradeStage.CLOSED if self._bar % self.entry_every == 0:
                self._entries += 1
                side = Side.LONG if self._entries % 2 else Side.SHORT
                price = bar.close - off if side is Side.LONG else bar.close + off
                self._entered_at = self._bar
                self._cancel_sent = False
                return (
                    self._intent(
                        Action.ENTER,
                        trade_id=f"t{self._entries}",
                        asset=self.inst.symbol,
                        side=side,
                        size=D("1.000"),
                        order_type=OrderType.LIMIT,
                        limit_price=max(price, tick),
                        leverage=LEVERAGE,
                        exit_leg_ratios=(D("0.5"), D("0.5")),
                    ),
                )
            case _:
                pass
        return ()

    def on_outcome(self, outcome: KernelOutcome, view: PolicyView) -> Sequence[KernelIntent]:
        return ()

    def _intent(self, action: Action, **kw: object) -> KernelIntent:
        self._intents += 1
        return KernelIntent(
            intent_id=f"i{self._intents}",
            ts=self._now,
            slot_id=0,
            action=action,
            **kw,  # type: ignore[arg-type]
        )


# --------------------------------------------------------------------------- checking venue


class CheckedSim:
    """The sim core with a tap: every order's fills are summed as they pass (live orders only,
    so the check's own memory stays flat) and compared with the venue's cumulative quantity
    and, once the kernel has seen the order end, with the kernel's filled quantity."""

    _TERMINAL = (EventKind.FILL, EventKind.CANCEL_ACK, EventKind.EXPIRED, EventKind.REJECT)

    def __init__(self, sim: SimExchange, kernel: Kernel) -> None:
        self.sim = sim
        self.kernel = kernel
        self.filled: dict[str, Decimal] = {}
        self.quantity: dict[str, Decimal] = {}
        self.ended: list[tuple[str, Decimal]] = []  # (cid, fills sum) for the kernel check
        self.problems: list[str] = []
        self.orders_checked = 0
        self.kernel_checked = 0

    def submit(self, order: Order, now: int) -> list[VenueEvent]:
        self._check_kernel()
        self.quantity[order.client_order_id] = order.quantity
        return self._tap(self.sim.submit(order, now))

    def cancel(self, order: Order, now: int) -> list[VenueEvent]:
        self._check_kernel()
        return self._tap(self.sim.cancel(order, now))

    def on_bar(self, bar: Bar) -> list[VenueEvent]:
        self._check_kernel()
        return self._tap(self.sim.on_bar(bar))

    def _tap(self, events: list[VenueEvent]) -> list[VenueEvent]:
        for ev in events:
            cid = ev.client_order_id
            if ev.kind in (EventKind.FILL, EventKind.PARTIAL_FILL):
                assert ev.last_qty is not None
                total = self.filled.get(cid, D(0)) + ev.last_qty
                self.filled[cid] = total
                if ev.cum_qty != total:
                    self.problems.append(f"{cid}: fills sum to {total}, venue says {ev.cum_qty}")
            if ev.kind in self._TERMINAL and cid in self.quantity:
                total = self.filled.pop(cid, D(0))
                qty = self.quantity.pop(cid)
                if ev.kind is EventKind.FILL and total != qty:
                    self.problems.append(f"{cid}: FILLED with fills of {total}, quantity {qty}")
                self.orders_checked += 1
                self.ended.append((cid, total))
        return events

    def _check_kernel(self) -> None:
        # The events of the last call went through the kernel before this call.
        for cid, total in self.ended:
            o = self.kernel.order(cid)
            if o is None:
                continue  # its trade was let go already
            self.kernel_checked += 1
            if o.filled_qty != total:
                self.problems.append(f"{cid}: fills sum to {total}, kernel has {o.filled_qty}")
            if o.status is OrderStatus.FILLED and o.filled_qty != o.quantity:
                self.problems.append(f"{cid}: kernel FILLED at {o.filled_qty} of {o.quantity}")
        self.ended.clear()

    def finish(self) -> None:
        self._check_kernel()


# --------------------------------------------------------------------------- the run


def run_once(
    bars: int,
    seed: int,
    journal_mode: str,
    directory: Path,
    durability: Durability = Durability.GROUPED,
) -> dict[str, object]:
    kernel = Kernel(1, [BTC], CAPITAL)
    sim = SimExchange(
        SimConfig(
            instruments=(BTC,),
            initial_balance=CAPITAL,
            leverage=LEVERAGE,
            fees=FeeSchedule(maker=D("0.0002"), taker=D("0.00018")),
            slippage=NoSlippage(),
            participation=D("0.5"),
            latency_ms=0,
            funding_rate=D(0),
            funding_interval_ms=NO_FUNDING_MS,
            seed=seed,
        ),
        keep_finished=KEEP_FINISHED,  # as dita run: finished orders leave the venue's memory
    )
    venue = CheckedSim(sim, kernel)
    journal: SqliteJournal | None = None
    path = directory / f"lifecycle-{journal_mode}-{os.getpid()}-{time.time_ns()}.sqlite"
    if journal_mode != "off":
        sync = Synchronous.FULL if journal_mode == "full" else Synchronous.NORMAL
        journal = SqliteJournal.open(path, synchronous=sync)
    meta = RunMeta(
        slots=1, instruments=(BTC,), initial_capital=CAPITAL, policy="bench:lifecycle",
        seed=seed, venue="sim", params={"bars": bars, "bench": "lifecycle"},
    )  # fmt: skip
    bt = Backtest(kernel=kernel, venue=venue, policy=LifecyclePolicy(BTC), journal=journal,
                  clock=SimClock(), durability=durability)  # fmt: skip
    cpu0, t0 = time.process_time(), time.perf_counter()
    result = bt.run(meta, ou_bars(bars, seed))
    t1, cpu1 = time.perf_counter(), time.process_time()
    venue.finish()
    records = commits = 0
    if journal is not None:
        journal.close()
        with SqliteJournal.open(path, readonly=True, create=False, verify="tail") as j:
            records = j.last_seq
            commits = j.execute("SELECT COUNT(*) FROM commits")[0][0]
    s = result.stats
    acct = kernel.account
    problems = list(venue.problems)
    identity = acct.initial_capital + acct.realized_pnl - acct.fees + acct.funding
    if acct.capital != identity:
        problems.append(
            f"kernel capital {acct.capital} != initial+realized-fees+funding {identity}"
        )
    if sim.balance().wallet != acct.capital:
        problems.append(f"sim wallet {sim.balance().wallet} != kernel capital {acct.capital}")
    if s.capital != acct.capital:
        problems.append(f"run statistics' capital {s.capital} != kernel capital {acct.capital}")
    problems.extend(kernel.check_invariants())
    run_s = t1 - t0
    return {
        "journal": journal_mode,
        "commit": durability.value if journal is not None else "-",
        "bars": s.bars,
        "orders": s.orders,
        "fills": s.fills,
        "cancels": s.cancels,
        "kernel events": s.kernel_events,
        "journal records": records,
        "commits": commits,
        "run s": round(run_s, 2),
        "cpu s": round(cpu1 - cpu0, 2),
        "orders/s": round(s.orders / run_s),
        "orders/cpu s": round(s.orders / (cpu1 - cpu0)),
        "kernel events/s": round(s.kernel_events / run_s),
        "peak RSS MB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "capital": str(acct.capital),
        "orders checked": venue.orders_checked,
        "problems": problems,
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--bars", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--journal", choices=("off", "normal", "full"), default="full")
    ap.add_argument(
        "--commit",
        choices=[d.value for d in Durability],
        default=Durability.GROUPED.value,
        help="when the journal is committed (dita.engine.Durability; the default of dita run)",
    )
    ap.add_argument("--dir", type=Path, default=None, help="where the journal goes")
    ap.add_argument(
        "--no-gen-pass", action="store_true", help="skip timing the bar generator on its own"
    )
    args = ap.parse_args()
    cmd = f"python bench/lifecycle_bench.py --bars {args.bars} --journal {args.journal} " \
          f"--seed {args.seed} --commit {args.commit}"  # fmt: skip
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cpus; "
          f"reproduce: {cmd}")  # fmt: skip
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        row = run_once(args.bars, args.seed, args.journal, Path(tmp), Durability(args.commit))
    gen_s = None
    if not args.no_gen_pass:
        t = time.perf_counter()
        for _ in ou_bars(args.bars, args.seed):
            pass
        gen_s = round(time.perf_counter() - t, 2)
    problems = row.pop("problems")
    assert isinstance(problems, list)
    for k, v in row.items():
        print(f"  {k:>16}: {f'{v:,}' if isinstance(v, int) else v}")
    print(f"  {'bar source':>16}: streamed (generated inside the timed loop; the generator alone: "
          f"{gen_s} s)")  # fmt: skip
    print(
        f"  {'checks':>16}: {'ok' if not problems else f'{len(problems)} FAILED'} "
        "(capital identity, sim wallet, fills sum per order, kernel invariants)"
    )
    for p in problems[:20]:
        print(f"    {p}")
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
