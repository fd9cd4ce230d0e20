"""How a run shows its progress: a rich display on a terminal (versions, bytes, rate, ETA, errors),
plain log lines every few seconds when the output is not a terminal."""
from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.progress import Progress as RichProgress
from rich.text import Text

from collector.backup import Progress


@contextlib.contextmanager
def reporter(console: Console, wiki: str, every: float = 5.0) -> Iterator[Progress]:
    state = {"listed": 0, "listed_bytes": 0, "done": 0, "done_bytes": 0, "errors": 0}

    def count(listed: int = 0, listed_bytes: int = 0, done: int = 0, done_bytes: int = 0) -> None:
        state["listed"] += listed
        state["listed_bytes"] += listed_bytes
        state["done"] += done
        state["done_bytes"] += done_bytes

    if console.is_terminal:
        columns = (TextColumn(f"[bold]{wiki}[/]"), BarColumn(), TextColumn("{task.fields[versions]} versions"),
                   DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[errors]}"))
        with RichProgress(*columns, console=console) as bar:
            task = bar.add_task("backup", total=0, versions="0/0", errors="")

            def show() -> None:
                bar.update(task, total=state["listed_bytes"], completed=state["done_bytes"],
                           versions=f"{state['done']}/{state['listed']}",
                           errors=f"[red]{state['errors']} errors[/]" if state["errors"] else "")

            def failed(title: str, error: str) -> None:
                state["errors"] += 1
                show()
                bar.console.print(Text.assemble(("error", "red"), f" {title}: {error}"), highlight=False)  # no markup

            yield Progress(listed=lambda n, size: (count(listed=n, listed_bytes=size), show()),
                           stored=lambda n, size: (count(done=n, done_bytes=size), show()), failed=failed)
        return

    began = last = time.monotonic()

    def line(force: bool = False) -> None:
        nonlocal last
        now = time.monotonic()
        if force or now - last >= every:
            last = now
            rate = state["done_bytes"] / max(now - began, 1e-9) / 2**20
            console.print(f"backup {wiki}: {state['done']}/{state['listed']} versions, "
                          f"{state['done_bytes'] / 2**20:.1f}/{state['listed_bytes'] / 2**20:.1f} MiB, "
                          f"{rate:.1f} MiB/s, {state['errors']} errors", highlight=False, markup=False)

    def failed(title: str, error: str) -> None:
        state["errors"] += 1
        console.print(f"error: {title}: {error}", highlight=False, markup=False)

    yield Progress(listed=lambda n, size: (count(listed=n, listed_bytes=size), line()),
                   stored=lambda n, size: (count(done=n, done_bytes=size), line()), failed=failed)
    line(force=True)
