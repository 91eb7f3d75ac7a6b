"""ClickHouse journal sink, for fleets of kernels.

SQLite stays the embedded journal and the source of truth for recovery;
ClickHouse is the fleet-wide, append-only copy that many kernels (one per
account or strategy, on many machines) ship to, tagged with a kernel id, so
that one place can answer for all of them.

* ``ClickHouseSink`` / ``push(journal_path, dsn, kernel_id)``: ship every
  journal record (inputs, outcomes with their transitions, commands and trade
  records, snapshots, notes) exactly once per (kernel id, seq), resuming from
  a position kept in ClickHouse itself; see ``sink`` for the design.
* ``init(dsn)``: create the tables (the sink also does, idempotently); see
  ``schema`` for the tables and why money is ``Decimal(76, 38)``.
* ``fleet_report(dsn)``, ``fleet_totals(dsn)``, ``run_report(dsn, kernel_id)``:
  see ``report``.
* ``export_journal(dsn, kernel_id, path)``: rebuild a kernel's SQLite journal
  from ClickHouse, byte for byte (then ``dita replay``/``dita report`` it).

Needs the ``clickhouse`` extra (``clickhouse-connect``; ``chdb`` for the
embedded ``chdb:///dir`` engine used by the tests). DSNs come from the
caller or ``$DITA_CLICKHOUSE_DSN``; passwords are never logged.
"""

from ._conn import (
    DSN_ENV,
    PASSWORD_ENV,
    ClickHouseError,
    ClickHouseUnavailable,
    ClientLike,
    ConfigError,
    connect,
    has_secret,
    redact,
    resolve_dsn,
)
from .export import export_journal, export_journal_with
from .report import (
    FleetTotals,
    KernelSummary,
    RunReport,
    fleet_report,
    fleet_report_with,
    fleet_totals,
    fleet_totals_with,
    run_report,
    run_report_with,
)
from .rows import NotExact
from .schema import DEFAULT_DATABASE, MONEY, SCHEMA_VERSION, ddl
from .sink import (
    Backoff,
    ClickHouseSink,
    KernelIdConflict,
    PushResult,
    init,
    open_journal,
    push,
)

__all__ = [
    "DEFAULT_DATABASE",
    "DSN_ENV",
    "MONEY",
    "PASSWORD_ENV",
    "SCHEMA_VERSION",
    "Backoff",
    "ClickHouseError",
    "ClickHouseSink",
    "ClickHouseUnavailable",
    "ClientLike",
    "ConfigError",
    "FleetTotals",
    "KernelIdConflict",
    "KernelSummary",
    "NotExact",
    "PushResult",
    "RunReport",
    "connect",
    "ddl",
    "export_journal",
    "export_journal_with",
    "fleet_report",
    "fleet_report_with",
    "fleet_totals",
    "fleet_totals_with",
    "has_secret",
    "init",
    "open_journal",
    "push",
    "redact",
    "resolve_dsn",
    "run_report",
    "run_report_with",
]
