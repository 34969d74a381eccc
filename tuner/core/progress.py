"""Progress bars for long work (rich), on stderr so that stdout stays machine-readable."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

stderr_console = Console(stderr=True, highlight=False)  # colour only where the text marks it up


class RateColumn(TextColumn):
    """Items per second, in the unit of the task (images/s)."""

    def __init__(self, unit: str) -> None:
        super().__init__("")
        self.unit = unit

    def render(self, task):  # type: ignore[override]
        speed = task.finished_speed or task.speed
        return f"{speed:,.0f} {self.unit}/s" if speed else f"- {self.unit}/s"


@contextmanager
def progress_bar(description: str, total: int, unit: str = "items",
                 enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """A bar with count, rate and time left; yields `advance(n)` (a no-op when not `enabled`)."""
    if not enabled or not stderr_console.is_terminal:  # in a log or a pipe a bar is noise (a stray blank line)
        yield lambda count: None
        return
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
        RateColumn(unit), TimeElapsedColumn(), TimeRemainingColumn(),
        console=stderr_console,
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda count: progress.advance(task, count)
