"""The demo policy, which (with DITA_TEST_PAUSE_AT=N) stops at bar N and waits on stdin, so that a
test can interrupt the run there with a real SIGINT."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from dita.kernel import KernelIntent
from dita.marketdata import Bar
from dita.policies.demo import DemoPolicy
from dita.policy import PolicyView


class PausingDemo(DemoPolicy):
    def on_bar(self, bar: Bar, view: PolicyView) -> Sequence[KernelIntent]:
        intents = super().on_bar(bar, view)
        if self._bars == int(os.environ.get("DITA_TEST_PAUSE_AT", "0")):
            print(f"paused at bar {self._bars}", file=sys.stderr, flush=True)
            sys.stdin.readline()  # blocks until the test's SIGINT
        return intents
