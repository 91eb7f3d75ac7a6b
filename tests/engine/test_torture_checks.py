"""The crash-torture checks can fail: fed an order the policy cancelled that went out
anyway (issue 9), they say so, and they stay quiet when it did not happen."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from dita.kernel import Action, Order
from dita.testing.torture.checks import VenueTruth, check
from dita.venues.base import BalanceReport
from tests.engine.test_recovery import CAP, World


def cancelled_before_it_left(tmp_path: Path, *, resubmitted: bool) -> tuple[Path, Order]:
    w = World(tmp_path)
    order = w.enter()
    w.intent(Action.CANCEL, trade_id="t1")
    w.pipeline.flush()
    if resubmitted:  # what the old stale-order check did: the cancel lost to a resend
        w.pipeline.note("reconcile", "resent", resubmitted=[order.client_order_id])
        w.pipeline.flush()
    w.crash()
    return w.path, order


def truth(placed_after_cancel: frozenset[str] = frozenset()) -> VenueTruth:
    return VenueTruth([], [], BalanceReport("USDT", CAP, CAP), Counter(), placed_after_cancel)


def test_an_order_sent_after_its_cancel_was_requested_is_a_violation(tmp_path: Path) -> None:
    path, order = cancelled_before_it_left(tmp_path, resubmitted=False)
    found = check(path, truth(frozenset({order.client_order_id})))
    assert (
        f"order {order.client_order_id} was sent to the venue after its cancel was requested"
        in found
    )


def test_a_cancelled_order_resubmitted_by_reconciliation_is_a_violation(tmp_path: Path) -> None:
    path, order = cancelled_before_it_left(tmp_path, resubmitted=True)
    found = check(path, truth())
    assert f"order {order.client_order_id} was resubmitted after its cancel was requested" in found


def test_without_either_the_checks_say_nothing_about_it(tmp_path: Path) -> None:
    path, _ = cancelled_before_it_left(tmp_path, resubmitted=False)
    assert not [v for v in check(path, truth()) if "after its cancel" in v]
