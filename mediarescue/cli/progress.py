"""How a run shows its progress: a rich display on a terminal (a backup: versions, bytes, rate, ETA,
errors; a restore: actions, rate, ETA, counts per decision), plain log lines when the output is not a
terminal; and how a bot run shows its outcome."""
from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.progress import Progress as RichProgress
from rich.text import Text

from collector.backup import Progress
from restorer.outcomes import Outcome


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


@contextlib.contextmanager
def restore_progress(console: Console | None, total: int, label: str = "restore"
                     ) -> Iterator[Callable[[Outcome], None]]:
    """Counts per decision, rate and ETA on a terminal; a log line per action elsewhere."""
    counts: Counter[str] = Counter()
    lock = threading.Lock()  # workers report from their own threads
    if console is not None and console.is_terminal:
        began = time.monotonic()
        with RichProgress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                      TimeRemainingColumn(), TextColumn("{task.fields[counts]}"), console=console) as bar:
            task = bar.add_task(label, total=total, counts="", rate="")

            def advance(outcome: Outcome) -> None:
                with lock:
                    counts[f"{outcome.decision.action.value} {outcome.result}"] += 1
                    rate = sum(counts.values()) / max(time.monotonic() - began, 1e-6)
                    bar.update(task, advance=1, rate=f"{rate:.1f}/s",
                               counts=", ".join(f"{k} {n}" for k, n in counts.items()))
            yield advance
        return

    def log(outcome: Outcome) -> None:
        with lock:
            if console is None:
                return
            console.print(f"{label}: {outcome.result}: {outcome.decision.action.value} {outcome.decision.title}: "
                          f"{outcome.detail}", highlight=False, markup=False)
    yield log


def show_outcome(console: Console, summary: dict[str, Any], paths: list[Path], as_json: bool,
                 text: Callable[[dict[str, Any]], str]) -> None:
    """A bot run's summary (restore, rollback): JSON, or `text` of it and where its reports are."""
    if as_json:
        print(json.dumps(summary, indent=1, ensure_ascii=False))
        return
    console.print(text(summary), highlight=False, markup=False)
    console.print("report: " + "  ".join(str(p) for p in paths), highlight=False, markup=False)
