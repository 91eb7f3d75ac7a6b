"""``--record-wire`` and ``--replay-wire`` for ``dita run --venue bingx`` (and the self-test).

Recording wraps the run's HTTP transport, stream and clock in a
``dita.venues.bingx.capture.WireRecorder``; replaying swaps them for a
``dita.venues.bingx.replay.ReplaySession`` serving a capture. A replay runs
with the options the capture was made with (``dita.app.live.wire_options``), or it
is refused, naming every option that differs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from dita.app.live import LiveRun, Network, Target, resolve_target, wire_options
from dita.app.runner import RunSetupError
from dita.clock import LiveClock
from dita.venues.bingx import Credentials, Endpoints
from dita.venues.bingx.capture import CaptureError, WireRecorder
from dita.venues.bingx.replay import (
    Capture,
    ReplayError,
    ReplaySession,
    load_capture,
    option_differences,
)

REPLAY_CREDENTIALS = Credentials("replay-no-key", "replay-no-secret")  # nothing is sent


def start_recording(
    directory: Path, *, command: str, options: Mapping[str, object], rest: str, secrets: list[str]
) -> WireRecorder:
    """A recorder writing to the fresh directory ``directory``; ``RunSetupError`` if unusable."""
    try:
        return WireRecorder(
            directory, secrets=secrets, command=command, options=options, rest=rest,
            started_ms=LiveClock().now_ms(),
        )  # fmt: skip
    except (CaptureError, OSError) as e:
        raise RunSetupError(f"--record-wire {directory}: {e}") from None


def record_run(run: LiveRun, directory: Path) -> tuple[LiveRun, WireRecorder]:
    recorder = start_recording(
        directory, command="run", options=wire_options(run), rest=run.target.endpoints.rest,
        secrets=[run.credentials.api_key, run.credentials.secret],
    )  # fmt: skip
    return dataclasses.replace(run, wire=recorder.hooks()), recorder


def open_replay(directory: Path, *, testnet: bool, base_url: str | None) -> tuple[Capture, Target]:
    """The capture in ``directory`` and the venue it was made on (checked against any
    --testnet/--bingx-base-url given)."""
    try:
        capture = load_capture(directory)
    except ReplayError as e:
        raise RunSetupError(f"--replay-wire: {e}") from None
    if capture.meta.get("command") != "run":
        raise RunSetupError(
            f"--replay-wire {directory}: a capture of `dita {capture.meta.get('command')}`, "
            "not of a run"
        )
    opts = capture.options
    try:
        target = Target(
            Network(str(opts["network"])), Endpoints(str(opts["rest"]), str(opts["ws"]))
        )
    except (KeyError, ValueError):
        raise RunSetupError(f"--replay-wire {directory}: the capture names no venue") from None
    if testnet or base_url is not None:
        given = resolve_target(testnet=testnet, base_url=base_url)
        if given != target:
            raise RunSetupError(
                f"--replay-wire {directory}: captured on {target.endpoints.rest}, "
                f"but the run names {given.endpoints.rest}"
            )
    if opts.get("resume"):
        raise RunSetupError(
            f"--replay-wire {directory}: the captured run continued an existing journal; "
            "a replay starts a fresh one"
        )
    return capture, target


def replay_run(run: LiveRun, capture: Capture) -> tuple[LiveRun, ReplaySession]:
    """``run`` served by ``capture``; ``RunSetupError`` naming each option that differs."""
    differs = option_differences(capture.options, wire_options(run))
    if differs:
        raise RunSetupError(
            f"--replay-wire {capture.directory}: the capture was made with other run options "
            f"({'; '.join(differs)}); give them as they were"
        )
    session = ReplaySession(capture)
    return dataclasses.replace(run, wire=session.hooks()), session
