"""A rich progress bar for the long reads (replay, report, ClickHouse push), on stderr."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


@contextlib.contextmanager
def progress_bar(label: str, total: int, quiet: bool = False) -> Iterator[Callable[[int], None]]:
    """Yield ``tick(done)``; draws nothing when ``quiet`` or stderr is not a terminal."""
    console = Console(stderr=True)
    if quiet or not console.is_terminal:
        yield lambda _done: None
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
        yield lambda done: bar.update(task, completed=done)
