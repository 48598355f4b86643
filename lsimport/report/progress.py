"""Progress on stderr: a rich bar on a terminal, nothing otherwise (pipes, CI, --quiet)."""

from __future__ import annotations

from types import TracebackType
from typing import TextIO


class NoProgress:
    """The silent stand-in: same interface, draws nothing."""

    def __enter__(self) -> NoProgress:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def advance(self, records: int) -> None:
        return None

    def created(self, tasks: int) -> None:
        return None


class RichProgress:
    """Records read, tasks created, tasks/s and, when the input size is known, an ETA."""

    def __init__(
        self,
        stream: TextIO,
        *,
        total_records: int | None = None,
        label: str = "upload",
        noun: str = "tasks",
    ) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn() if total_records else TextColumn("{task.completed} read"),
            TaskProgressColumn(),
            TextColumn("{task.fields[created]} created"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(file=stream),
            transient=False,
        )
        self._task = self._progress.add_task(label, total=total_records, created=0, rate="")
        self._created = 0
        self._noun = noun

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def advance(self, records: int) -> None:
        self._progress.advance(self._task, records)

    def created(self, tasks: int) -> None:
        self._created += tasks
        t = self._progress.tasks[0]
        elapsed = t.elapsed or 0.0
        rate = f"{self._created / elapsed:,.0f} {self._noun}/s" if elapsed > 0 else ""
        self._progress.update(self._task, created=self._created, rate=rate)


def make_progress(
    stream: TextIO,
    *,
    enabled: bool,
    total_records: int | None = None,
    label: str = "upload",
    noun: str = "tasks",
) -> NoProgress | RichProgress:
    if not enabled:
        return NoProgress()
    return RichProgress(stream, total_records=total_records, label=label, noun=noun)
