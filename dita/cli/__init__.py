"""The ``dita`` command line, one module per command group.

Every failure caused by input (a data file, a policy, an intents file, a
journal) ends with one line on stderr, ``dita <command>: error: <what and
where>``, and exit code 1; nothing is left half-written.

``base`` holds the root group and what the commands share; ``run``,
``journal`` (replay, status, recover), ``report`` (report, serve),
``emulate``, ``fetch`` (instruments, data) and ``selftest`` each add their
commands to it; ``dita clickhouse`` lives with the ClickHouse sink.
"""

from __future__ import annotations

from dita.cli import emulate, fetch, journal, report, run, selftest
from dita.cli.base import main, parse_params
from dita.journal.clickhouse_cli import clickhouse

main.add_command(selftest.selftest)
main.add_command(clickhouse)

__all__ = ["emulate", "fetch", "journal", "main", "parse_params", "report", "run"]
