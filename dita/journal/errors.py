"""Errors raised by the journal. Each names the file and what to do next."""

from __future__ import annotations

from dataclasses import dataclass


class JournalError(Exception):
    """A journal cannot be opened, read or written as asked."""


class RecordRejected(JournalError, ValueError):
    """A record cannot be journaled faithfully (it would not decode to what was given).

    Nothing was buffered. The engine must not pass such an input to the
    kernel: what the kernel sees must be exactly what replay will see.
    """


class JournalCorrupted(JournalError):
    """A record failed its checksum, or the sequence has a hole, before the tail.

    ``seq`` is the first bad sequence number (None when SQLite itself could not
    read the file). Nothing has been modified.
    """

    def __init__(self, message: str, seq: int | None) -> None:
        super().__init__(message)
        self.seq = seq


class TornTail(JournalError):
    """The last commit group was not written completely (records ``first_seq..last_seq``).

    Those records were never durable, so no command caused by them can have
    left the process under the write-ahead contract. Open with
    ``repair_torn_tail=True`` (or call ``dita.journal.sqlite.repair``) to move
    them to the ``torn`` table and continue from ``first_seq``.
    """

    def __init__(self, message: str, first_seq: int, last_seq: int) -> None:
        super().__init__(message)
        self.first_seq = first_seq
        self.last_seq = last_seq


@dataclass(frozen=True, slots=True)
class Difference:
    """One field where the replayed step differs from the journaled one."""

    seq: int
    what: str
    journaled: str
    replayed: str

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.what}: journaled {self.journaled}, replayed {self.replayed}"


class ReplayMismatch(JournalError):
    """Re-running the journaled inputs did not reproduce the journaled outputs."""

    def __init__(self, path: str, differences: list[Difference]) -> None:
        self.path = path
        self.differences = differences
        first = differences[0].seq if differences else 0
        lines = "\n  ".join(str(d) for d in differences)
        super().__init__(f"replay of {path} diverged at seq {first}:\n  {lines}")
