"""Start-up on an existing journal: rebuild, reconcile with the venue, report.

``reconcile_journal`` is what a resumed engine does before its first intent
(``Engine(resume_from=...)`` runs the same reconciliation), packaged for
``dita recover``: it opens the journal, rebuilds the kernel, reconciles with
the venue through the engine's pipeline (every synthetic event and adjustment
journaled), and stops without trading.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from dita.clock import LiveClock
from dita.engine import Engine, EngineSettings, EngineStateError
from dita.recovery import ReconcileReport, ReconcileSettings, Recovered, open_journal_for_recovery
from dita.venues.base import Venue


class _Hold:
    """No policy: recovery decides nothing on its own."""

    def on_bar(self, bar: Any, view: Any) -> list[Any]:
        return []

    def on_outcome(self, outcome: Any, view: Any) -> list[Any]:
        return []


async def reconcile_journal(
    path: Path, venue: Venue, settings: ReconcileSettings
) -> tuple[Recovered, ReconcileReport]:
    """Reopen ``path``, reconcile its kernel with ``venue``, stop. Raises what start-up
    raises (``JournalCorrupted``, ``ReconcileError``, ``ReconcileHalted``, ...)."""
    rec = open_journal_for_recovery(path)
    with rec.journal:
        engine = Engine(
            kernel=rec.kernel, venue=venue, policy=_Hold(), journal=rec.journal,
            clock=LiveClock(), meta=rec.meta, resume_from=rec.last_input_seq,
            settings=EngineSettings(reconcile=settings),
        )  # fmt: skip
        task = asyncio.create_task(engine.run())
        await asyncio.sleep(0)
        with contextlib.suppress(EngineStateError):
            await engine.submit([])  # served once start-up reconciliation is done
        if not task.done():
            engine.stop()
        await task
    return rec, engine.reconciliations[0]
