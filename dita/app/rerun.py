"""Continuing an interrupted simulated run (``dita run --journal PATH --resume``).

A simulated run is deterministic: the same data, options, seed and policy give
the same journal, record for record. The simulated exchange's book is not in
the journal, so instead of restoring it, a resumed run plays the run again
from its first bar into a ``ContinuingJournal``: every record the run makes
up to the journal's last committed one is *compared* with the stored record
(kind, timestamp and payload, byte for byte) instead of being written again,
and the first difference stops the run with ``ResumeMismatch`` naming the seq
(other options, other data, or a policy that is not deterministic). Past the
last committed record, records are appended as in any run. The finished
journal is the journal an uninterrupted run would have written, and its result
is that run's result.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import msgspec

from dita.journal import JournalError, RunMeta, SqliteJournal, Synchronous
from dita.journal.records import RecordBody, RecordKind, decode_body, encode_body

_BATCH = 2048


def _same_intent(
    kind: RecordKind,
    body: RecordBody,
    stored: tuple[int, str, int],
    made: tuple[int, int],
    stored_payload: str,
) -> bool:
    """An intent stored with a field its action does not read (an EXIT's side, a CANCEL's
    asset: the flat form dita wrote before each action had its own type) that is, as the
    kernel reads it, the intent the re-run makes."""
    if kind is not RecordKind.INTENT or stored != (made[0], kind.value, made[1]):
        return False
    try:
        return bool(decode_body(kind, stored_payload) == body)
    except (ValueError, msgspec.ValidationError):
        return False


class ResumeMismatch(JournalError):
    """The re-run does not reproduce the journal it is asked to continue."""


class ContinuingJournal(SqliteJournal):
    """A journal whose committed records a deterministic re-run must reproduce before it grows.

    Open it with ``ContinuingJournal.continue_run(path)``. ``verified`` counts
    the records checked so far; ``resumed_after`` is the last committed seq
    found at opening (0: the journal was empty).
    """

    resumed_after: int
    verified: int
    _stored: Iterator[tuple[int, str, int, str]]

    @classmethod
    def continue_run(
        cls, path: Path, *, synchronous: Synchronous | str = Synchronous.FULL
    ) -> ContinuingJournal:
        j = cls.open(path, synchronous=synchronous, create=False, repair_torn_tail=True)
        if not isinstance(j, ContinuingJournal):  # pragma: no cover - open() builds cls
            raise TypeError("SqliteJournal.open did not build a ContinuingJournal")
        j.resumed_after = j.last_seq
        j.verified = 0
        j._stored = j._rows()
        return j

    @property
    def verifying(self) -> bool:
        """True while the run is still re-playing records the journal already has."""
        return self.verified < self.resumed_after

    def append(self, body: RecordBody, *, ts: int) -> int:
        if not self.verifying:
            return super().append(body, ts=ts)
        seq = self.verified + 1
        kind, payload = encode_body(body, check=False)
        stored_seq, stored_kind, stored_ts, stored_payload = next(self._stored)
        if (stored_seq, stored_kind, stored_ts, stored_payload) != (
            seq, kind.value, ts, payload.decode(),
        ) and not _same_intent(kind, body, (stored_seq, stored_kind, stored_ts), (seq, ts), stored_payload):  # fmt: skip
            raise ResumeMismatch(self._difference(seq, body, stored_kind, stored_ts))
        self.verified += 1  # the record is durable already: nothing to buffer
        return seq

    def _rows(self) -> Iterator[tuple[int, str, int, str]]:
        after = 0
        while after < self.resumed_after:
            rows = self.execute(
                "SELECT seq, kind, ts, payload FROM records WHERE seq > ? AND seq <= ? "
                "ORDER BY seq LIMIT ?",
                (after, self.resumed_after, _BATCH),
            )
            if not rows:
                break
            for seq, kind, ts, payload in rows:
                yield int(seq), str(kind), int(ts), str(payload)
            after = int(rows[-1][0])

    def _difference(self, seq: int, body: RecordBody, stored_kind: str, stored_ts: int) -> str:
        where = f"{self.path}: cannot resume: record {seq}"
        if isinstance(body, RunMeta):
            stored = self.get(seq).body
            if isinstance(stored, RunMeta):
                diff = [
                    f.name
                    for f in dataclasses.fields(RunMeta)
                    if getattr(stored, f.name) != getattr(body, f.name)
                ]
                if "params" in diff:
                    diff.remove("params")
                    diff += [
                        f"params.{k}"
                        for k in sorted(set(stored.params) | set(body.params))
                        if stored.params.get(k) != body.params.get(k)
                    ]
                return (
                    f"{where} (the run record) differs in {', '.join(diff) or 'its encoding'}: "
                    "give the interrupted run's options (data, policy, seed, config) again"
                )
        return (
            f"{where} ({stored_kind} at ts {stored_ts} in the journal) is not what this run "
            "produces: other options or data, or a policy that is not deterministic "
            "(reads a clock, a random source or files)"
        )
