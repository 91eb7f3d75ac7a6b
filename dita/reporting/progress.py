"""A rich progress bar for the long reads (replay, report, ClickHouse push), on stderr."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class Tick(Protocol):
    def __call__(self, done: int, total: int | None = None) -> None: ...


def _nothing(done: int, total: int | None = None) -> None:
    pass


@contextlib.contextmanager
def progress_bar(label: str, total: int | None, quiet: bool = False) -> Iterator[Tick]:
    """Yield ``tick(done[, total])``; draws nothing when ``quiet`` or stderr is not a terminal."""
    console = Console(stderr=True)
    if quiet or not console.is_terminal:
        yield _nothing
        return
    with Progress(
        TextColumn(f"{label} records"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)

        def tick(done: int, total: int | None = None) -> None:
            if total is not None:
                bar.update(task, total=total)
            bar.update(task, completed=done)

        yield tick
