"""Logs: UTC time and level on every line, text or JSON lines, a 0600 file, secrets masked
(a live run on the loopback emulator with keys from a credentials file, at debug level)."""

from __future__ import annotations

import io
import json
import logging
import re
import stat
from pathlib import Path

from dita import logs
from dita.venues.bingx_emulator import BingxEmulator
from tests.app.test_live_run import KEY, SECRET, _dita, _env, _live_args, emulator  # noqa: F401

_TEXT = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00 (DEBUG|INFO|WARNING|ERROR) +\S+: "
)


async def test_a_live_run_logs_json_lines_to_a_private_file_without_its_keys(
    tmp_path: Path,
    emulator: BingxEmulator,  # noqa: F811
) -> None:
    creds = tmp_path / "creds.json"
    creds.write_text(json.dumps({"api_key": KEY, "api_secret": SECRET}), encoding="utf-8")
    creds.chmod(0o600)
    log = tmp_path / "run.log"
    args = _live_args(emulator, tmp_path / "j.sqlite", 4)
    code, out, err = await _dita(
        tmp_path, "--log-level", "debug", "--log-file", str(log), "--log-format", "json",
        *args, "--bingx-credentials", str(creds), env=_env(),
    )  # fmt: skip
    assert code == 0, err
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    lines = [json.loads(x) for x in log.read_text(encoding="utf-8").splitlines()]
    assert len(lines) >= 5
    for rec in lines:
        assert set(rec) >= {"ts", "level", "logger", "msg"}
        assert rec["ts"].endswith("+00:00") and rec["level"] in (
            "DEBUG",
            "INFO",
            "WARNING",
            "ERROR",
        )
    assert {r["level"] for r in lines} & {"DEBUG", "INFO"}  # debug level reached the file
    text = log.read_text(encoding="utf-8") + out + err
    assert SECRET not in text and KEY not in text


def test_text_lines_carry_time_and_level_and_secrets_are_masked_everywhere() -> None:
    out = io.StringIO()
    logs.add_secret("hunter2-the-secret")
    logs.setup("info", None, "text", stream=out)
    try:
        log = logging.getLogger("dita.test")
        log.debug("not shown")
        log.info("signed %s", "https://h/?secret=hunter2-the-secret&x=1")
        try:
            raise RuntimeError("failed with hunter2-the-secret")
        except RuntimeError:
            log.exception("request failed")
    finally:
        logs.setup("warning")
    text = out.getvalue()
    assert "not shown" not in text
    first = text.splitlines()[0]
    assert _TEXT.match(first), first
    assert "secret=***&x=1" in first
    assert "RuntimeError: failed with ***" in text
    assert "hunter2-the-secret" not in text
