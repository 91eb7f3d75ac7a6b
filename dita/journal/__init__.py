"""The write-ahead journal: every kernel input and output, in order, durable before it acts.

``SqliteJournal`` is the embedded store and the source of truth for recovery;
``replay`` rebuilds a kernel from it and checks every step.
"""

from dita.journal.errors import (
    Difference,
    JournalCorrupted,
    JournalError,
    RecordRejected,
    ReplayMismatch,
    TornTail,
)
from dita.journal.records import (
    Adjustment,
    EngineNote,
    JournalRecord,
    OutcomeRecord,
    RecordBody,
    RecordKind,
    RunMeta,
    SnapshotRecord,
)
from dita.journal.replay import replay
from dita.journal.sqlite import (
    SCHEMA_VERSION,
    RepairReport,
    SqliteJournal,
    Synchronous,
    TradeTotals,
    Verify,
    repair,
)

__all__ = [
    "SCHEMA_VERSION",
    "Adjustment",
    "Difference",
    "EngineNote",
    "JournalCorrupted",
    "JournalError",
    "JournalRecord",
    "OutcomeRecord",
    "RecordBody",
    "RecordKind",
    "RecordRejected",
    "RepairReport",
    "ReplayMismatch",
    "RunMeta",
    "SnapshotRecord",
    "SqliteJournal",
    "Synchronous",
    "TornTail",
    "TradeTotals",
    "Verify",
    "repair",
    "replay",
]
