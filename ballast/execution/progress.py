"""Progress of long commands on the terminal (rich): a bar of finished runs with a status line, and
one printed line per finished run, so a log file shows the same as the screen."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class RunProgress:
    """``with RunProgress("trials", total=20, done=3) as bar: bar.advance("2 pruned", "trial 4: ...")``."""

    def __init__(self, what: str, total: int, *, done: int = 0, enabled: bool = True,
                 console: Console | None = None) -> None:
        self.what, self.enabled = what, enabled
        self.console = console or Console(stderr=True)
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), TextColumn("{task.fields[status]}"), console=self.console)
        self._task = self._progress.add_task(what, total=total, completed=done, status="")

    def __enter__(self) -> RunProgress:
        if self.enabled:
            self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.stop()

    def advance(self, status: str, line: str | None = None) -> None:
        """One more run finished: ``status`` replaces the status text, ``line`` is printed above the bar."""
        if line:
            self._progress.console.print(line, highlight=False, markup=False)
        self._progress.update(self._task, advance=1, status=status)

    def status(self, status: str) -> None:
        self._progress.update(self._task, status=status)
