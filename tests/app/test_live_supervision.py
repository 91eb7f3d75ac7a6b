"""Supervision of live runs (issue 9): ``dita run --venue bingx`` restarts itself through
recovery after a recoverable failure, bounded, with backoff, each restart logged with
its cause; and ``dita.app.live.supervise``'s rules on their own, on a driven timer."""

from __future__ import annotations

from pathlib import Path

import pytest

from dita.app.live import RestartPolicy, Traded, recoverable, supervise
from dita.recovery import ReconcileConflict, TransientReadError
from dita.venues.base import OutcomeUnknown, VenueFatal
from dita.venues.bingx_emulator import BingxEmulator
from dita.verify import verify_journal
from tests.app.test_live_run import KEY, SECRET, _dita, _env, _live_args, emulator

__all__ = ["emulator"]  # the fixture, shared with test_live_run

POSITIONS = "/openApi/swap/v2/user/positions"


async def test_a_recoverable_failure_restarts_the_run_and_it_finishes(
    tmp_path: Path, emulator: BingxEmulator
) -> None:
    # the start-up position check gets HTTP 502: the first life fails before trading
    emulator.fail_next(POSITIONS, status=502, method="GET")
    journal = tmp_path / "j" / "journal.sqlite"
    env = _env(BINGX_API_KEY=KEY, BINGX_API_SECRET=SECRET)
    args = [*_live_args(emulator, journal, 3), "--restarts", "2", "--restart-delay", "0"]
    code, _, err = await _dita(tmp_path, *args, env=env)
    assert code == 0, err
    (line,) = [x for x in err.splitlines() if x.startswith("restart ")]
    assert line.startswith("restart 1/2 in 0s (through recovery, same journal) after: ")
    assert "HTTP 502" in line
    assert verify_journal(journal).finished


async def test_without_restarts_the_same_failure_ends_the_run(
    tmp_path: Path, emulator: BingxEmulator
) -> None:
    emulator.fail_next(POSITIONS, status=502, method="GET")
    journal = tmp_path / "j" / "journal.sqlite"
    env = _env(BINGX_API_KEY=KEY, BINGX_API_SECRET=SECRET)
    code, _, err = await _dita(
        tmp_path, *_live_args(emulator, journal, 3), "--restarts", "0", env=env
    )
    assert code == 1 and "HTTP 502" in err.splitlines()[-1]
    assert "restart " not in err


class Script:
    """A life that fails as scripted, then returns; the waits it was given."""

    def __init__(self, failures: list[BaseException]) -> None:
        self.failures = failures
        self.lives = 0
        self.waits: list[float] = []

    async def life(self, n: int) -> str:
        assert n == self.lives
        self.lives += 1
        if self.failures:
            raise self.failures.pop(0)
        return "done"

    async def sleep(self, s: float) -> None:
        self.waits.append(s)


async def test_restarts_are_bounded_in_a_row_with_backoff() -> None:
    s = Script([OutcomeUnknown("HTTP 502")] * 5)
    policy = RestartPolicy(attempts=3, first_delay_s=1, factor=2)
    with pytest.raises(OutcomeUnknown):
        await supervise(s.life, policy, sleep=s.sleep)
    assert s.lives == 4 and s.waits == [1, 2, 4]


async def test_a_life_that_traded_resets_the_count() -> None:
    fails: list[BaseException] = [
        TransientReadError("x"), Traded(OutcomeUnknown("y")), TransientReadError("z"),
        TransientReadError("w"),
    ]  # fmt: skip
    s = Script(fails)
    seen: list[str] = []
    out = await supervise(
        s.life, RestartPolicy(attempts=3, first_delay_s=1), sleep=s.sleep,
        on_restart=lambda r: seen.append(f"{r.attempt}:{r.cause}"),
    )  # fmt: skip
    assert out == "done" and s.waits == [1, 1, 2, 4]
    assert seen[1] == "1:OutcomeUnknown: y"


@pytest.mark.parametrize(
    "err",
    [ReconcileConflict("venue says less"), VenueFatal("HTTP 401"), KeyboardInterrupt()],
)
async def test_a_contradiction_a_fatal_answer_or_ctrl_c_is_never_restarted(
    err: BaseException,
) -> None:
    assert not recoverable(err)
    s = Script([err])
    with pytest.raises(type(err)):
        await supervise(s.life, RestartPolicy(attempts=5), sleep=s.sleep)
    assert s.lives == 1 and s.waits == []
