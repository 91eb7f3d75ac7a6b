"""Random intents and venue events (duplicated, reordered, garbage) against the kernel.

After every step: the capital identity holds exactly, no size is negative, each
slot's stage agrees with its position and live orders (``check_invariants``),
a refused input left the snapshot byte-identical, and ``restore(snapshot())``
reproduces the kernel.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from dita.kernel import (
    Action,
    CancelOrder,
    EventKind,
    Kernel,
    KernelIntent,
    KernelOutcome,
    OrderType,
    PositionMode,
    Side,
    SubmitOrder,
    VenueEvent,
)
from dita.testing.mock_venue import (
    Ack,
    CancelAck,
    CancelReject,
    Duplicate,
    Expire,
    Fill,
    Hold,
    MockVenue,
    Reject,
)
from tests.kernel.helpers import INSTRUMENTS

D = Decimal
SLOTS = 3
PRICES = {"BTC-USDT": D("50000"), "ETH-USDT": D("3000"), "TRX-USDT": D("0.08")}
SIZES = {
    "BTC-USDT": [D("0.001"), D("0.013"), D("0.5")],
    "ETH-USDT": [D("0.01"), D("1.37"), D("4")],
    "TRX-USDT": [D("25"), D("1000"), D("33333")],
}

SCRIPTS = [
    [Ack(), Fill()],
    [Fill(), Ack()],
    [Ack(), Fill(D("0.3")), Fill()],
    [Ack(), Fill(D("0.1")), Fill(D("0.2")), Fill(D("0.3")), Fill()],
    [Ack(), Hold(), Fill()],
    [Ack(), Fill(D("0.5")), Hold(), Fill()],
    [Ack(), Duplicate(), Fill(D("0.5")), Duplicate(), Fill()],
    [Reject("no")],
    [Ack(), Fill(D("0.4")), Expire()],
    [Ack(), Hold()],
]
CANCEL_SCRIPTS = [
    [CancelAck()],
    [Fill(), CancelReject("filled")],
    [Fill(D("0.5")), CancelAck()],
    [CancelReject("busy")],
    [Duplicate(), CancelAck(), Duplicate()],
]


class KernelMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        # hedge mode: both sides of one symbol at once, the most concurrent state space
        self.k = Kernel(SLOTS, INSTRUMENTS, D("150000"), position_mode=PositionMode.HEDGE)
        self.venue = MockVenue(INSTRUMENTS, mark_prices=PRICES)
        self.pending: list[VenueEvent] = []
        self.delivered: list[VenueEvent] = []
        self.n = 0
        self.funding_ts = 0
        self.refused = 0

    def _id(self, p: str) -> str:
        self.n += 1
        return f"{p}{self.n}"

    def _step(self, call: Callable[[], KernelOutcome]) -> KernelOutcome:
        before = json.dumps(self.k.snapshot(), sort_keys=True)
        out = call()
        event(f"{out.diagnostic_code} -> {out.state}")
        if not out.accepted:
            self.refused += 1
            assert out.commands == () and out.transitions == ()
            assert json.dumps(self.k.snapshot(), sort_keys=True) == before, out
        if out.slot_id is not None:
            assert out.state is self.k.slot(out.slot_id).stage
        if out.transitions:
            assert out.transitions[-1].to_stage is out.state
        return out

    def _send(self, out: KernelOutcome, data: st.DataObject) -> None:
        for cmd in out.commands:
            match cmd:
                case SubmitOrder(order=o):
                    self.venue.set_script(o.client_order_id, data.draw(st.sampled_from(SCRIPTS)))
                    self.pending.extend(self.venue.on_submit(o))
                case CancelOrder(order=o):
                    self.venue.set_cancel_script(
                        o.client_order_id, data.draw(st.sampled_from(CANCEL_SCRIPTS))
                    )
                    self.pending.extend(self.venue.on_cancel(o))

    @rule(
        data=st.data(),
        slot=st.integers(0, SLOTS),  # includes one slot that does not exist
        asset=st.sampled_from(sorted(PRICES)),
        side=st.sampled_from([Side.LONG, Side.SHORT]),
        size_i=st.integers(0, 2),
        limit=st.booleans(),
        offset=st.sampled_from([D("-0.01"), D("0"), D("0.003")]),
        legs=st.sampled_from([(D(1),), (D("0.5"), D("0.5")), (D("0.3"), D("0.3"), D("0.4"))]),
    )
    def enter(
        self,
        data: st.DataObject,
        slot: int,
        asset: str,
        side: Side,
        size_i: int,
        limit: bool,
        offset: Decimal,
        legs: tuple[Decimal, ...],
    ) -> None:
        price = PRICES[asset] * (1 + offset)
        intent = KernelIntent(
            intent_id=self._id("i"),
            ts=self.n,
            slot_id=slot,
            action=Action.ENTER,
            trade_id=self._id("t"),
            asset=asset,
            side=side,
            size=SIZES[asset][size_i],
            order_type=OrderType.LIMIT if limit else OrderType.MARKET,
            limit_price=price if limit else None,
            reference_price=None if limit else price,
            exit_leg_ratios=legs,
        )
        self._send(self._step(lambda: self.k.process_intent(intent)), data)

    @rule(
        data=st.data(),
        slot=st.integers(0, SLOTS - 1),
        explicit=st.booleans(),
        limit=st.booleans(),
        offset=st.sampled_from([D("-0.02"), D("0.01")]),
    )
    def exit(
        self, data: st.DataObject, slot: int, explicit: bool, limit: bool, offset: Decimal
    ) -> None:
        s = self.k.slot(slot)
        asset = s.asset or "BTC-USDT"
        price = PRICES[asset] * (1 + offset)
        size = (s.size / 2) if explicit and s.size else None
        intent = KernelIntent(
            intent_id=self._id("i"),
            ts=self.n,
            slot_id=slot,
            action=Action.EXIT,
            size=size,
            order_type=OrderType.LIMIT if limit else OrderType.MARKET,
            limit_price=price if limit else None,
            reference_price=price,
        )
        self._send(self._step(lambda: self.k.process_intent(intent)), data)

    @rule(data=st.data(), slot=st.integers(0, SLOTS - 1))
    def cancel(self, data: st.DataObject, slot: int) -> None:
        intent = KernelIntent(
            intent_id=self._id("i"), ts=self.n, slot_id=slot, action=Action.CANCEL
        )
        self._send(self._step(lambda: self.k.process_intent(intent)), data)

    @precondition(lambda self: bool(self.pending))
    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        # any pending event, not only the oldest: events arrive out of order
        i = data.draw(st.integers(0, len(self.pending) - 1))
        ev = self.pending.pop(i)
        self.delivered.append(ev)
        self._step(lambda: self.k.on_venue_event(ev))

    @precondition(lambda self: bool(self.delivered))
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        ev = data.draw(st.sampled_from(self.delivered))
        self._step(lambda: self.k.on_venue_event(ev))

    @rule(data=st.data())
    def release_held(self, data: st.DataObject) -> None:
        for o in self.k.live_orders():
            if data.draw(st.booleans()):
                self.pending.extend(self.venue.release(o.client_order_id))

    @rule(asset=st.sampled_from(sorted(PRICES)), move=st.sampled_from([D("0.99"), D("1.013")]))
    def move_market(self, asset: str, move: Decimal) -> None:
        PRICES_NOW = self.venue._marks
        self.venue.set_mark(asset, (PRICES_NOW[asset] * move).quantize(D("0.00001")))

    @rule(
        asset=st.sampled_from(sorted(PRICES)),
        amount=st.sampled_from([D("-1.25"), D("0.5")]),
        back=st.booleans(),
    )
    def funding(self, asset: str, amount: Decimal, back: bool) -> None:
        self.funding_ts += 1
        ts = self.funding_ts - (5 if back else 0)  # sometimes a stale one
        ev = VenueEvent(self._id("f"), ts, EventKind.FUNDING, asset=asset, amount=amount)
        self._step(lambda: self.k.on_venue_event(ev))

    @rule(
        kind=st.sampled_from(list(EventKind)),
        cid=st.sampled_from(["", "dt-0000000000-0-e-0", "zz"]),
        qty=st.sampled_from([None, D("-1"), D("0.001"), Decimal("NaN")]),
    )
    def garbage(self, kind: EventKind, cid: str, qty: Decimal | None) -> None:
        ev = VenueEvent(self._id("g"), self.n, kind, cid, last_qty=qty, last_price=qty, cum_qty=qty)
        self._step(lambda: self.k.on_venue_event(ev))

    @invariant()
    def sound(self) -> None:
        assert self.k.check_invariants() == []
        a = self.k.account
        assert a.capital == a.initial_capital + a.realized_pnl - a.fees + a.funding
        for n in range(SLOTS):
            s = self.k.slot(n)
            assert s.size >= 0 and s.initial_size >= s.size

    @invariant()
    def restore_reproduces(self) -> None:
        snap = self.k.snapshot()
        wire = json.loads(json.dumps(snap))
        assert Kernel.restore(wire, instruments=INSTRUMENTS).snapshot() == snap


KernelMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_kernel_state_machine = KernelMachine.TestCase
