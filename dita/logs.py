"""Logging for the command line: time and level on every line, text or JSON lines, secrets masked.

``dita --log-level debug --log-file run.log --log-format json run ...`` (the
options belong to the ``dita`` group, so they come before the command).
Without ``--log-file`` the log goes to stderr; a log file is created 0600 and
appended to. Every record passes ``SecretFilter`` first: any registered secret
(the BingX API key and secret, the ClickHouse password, taken from the
environment at start-up and from a credentials file when one is loaded) is
replaced by ``***`` in the message, its arguments and an exception's text, so
a secret cannot reach a log even through a library that logs a URL or a
header.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import IO

from dita.files import open_private

MASK = "***"
SECRET_ENV = ("BINGX_API_KEY", "BINGX_API_SECRET", "DITA_CLICKHOUSE_PASSWORD")
_MIN_SECRET = 4  # shorter values would mask ordinary words and digits
LEVELS = ("debug", "info", "warning", "error")


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


_secrets: set[str] = set()
_installed: list[logging.Handler] = []


def add_secret(value: str | None) -> None:
    """Mask ``value`` in every log record from now on."""
    if value and len(value) >= _MIN_SECRET:
        _secrets.add(value)


def scrub(text: str) -> str:
    for s in sorted(_secrets, key=len, reverse=True):
        text = text.replace(s, MASK)
    return text


class SecretFilter(logging.Filter):
    """Renders the record's message once, masks every registered secret in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            record.msg = scrub(record.getMessage())
            record.args = None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


def _utc(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = f"{_utc(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        extra = record.exc_text or (
            self.formatException(record.exc_info) if record.exc_info else ""
        )
        return f"{line}\n{scrub(extra)}" if extra else line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC, ms), level, logger, msg (and exc)."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": _utc(record), "level": record.levelname, "logger": record.name,
               "msg": record.getMessage()}  # fmt: skip
        extra = record.exc_text or (
            self.formatException(record.exc_info) if record.exc_info else ""
        )
        if extra:
            out["exc"] = scrub(extra)
        return json.dumps(out, ensure_ascii=False)


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time of each record (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def setup(
    level: str = "warning",
    file: Path | None = None,
    fmt: LogFormat | str = LogFormat.TEXT,
    *,
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Configure the root logger for one dita command; returns the handler it installed."""
    for name in SECRET_ENV:
        add_secret(os.environ.get(name))
    handler: logging.Handler
    if file is not None:
        handler = logging.StreamHandler(open_private(file, "a"))
    elif stream is not None:
        handler = logging.StreamHandler(stream)
    else:
        handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if LogFormat(fmt) is LogFormat.JSON else TextFormatter())
    handler.addFilter(SecretFilter())
    root = logging.getLogger()
    while _installed:  # one dita handler at a time (tests run many commands in one process)
        old = _installed.pop()
        root.removeHandler(old)
        old.close()
    _installed.append(handler)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)
    return handler
