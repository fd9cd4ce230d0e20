"""What a run saw again unchanged: the known versions `record_versions` found as the wiki still
shows them are noted in `seen_ranges` as ranges of their ids, and their rows are not written. A
version's `last_run` is the last run that wrote its row (new, changed, or seen hidden); `unseen`
asks both.

Why: a full run sees every version again, nearly all unchanged. Writing last_run into each one
rewrote the whole catalog every run: on PostgreSQL an update writes the row anew and, with no room
left on its page, every index entry of it, so from the second full run on the versions and their
indexes took ~1.7 times the room (docs/scale.md); on SQLite each update noted a metadata change.
A batch's unchanged versions have neighbouring ids (a run lists in the order ids were first given),
so they are a row or a few.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_INSERT = "INSERT INTO seen_ranges (run, first_id, last_id) VALUES (?, ?, ?)"

# `v` (a version row) was seen again unchanged by the run (a parameter): it lies in the last of the
# run's ranges that starts at or before its id; one index probe, once the ranges are disjoint (merge).
SEEN_BY_RUN = ("COALESCE((SELECT s.last_id FROM seen_ranges AS s WHERE s.run = ? AND s.first_id <= v.id "
               "ORDER BY s.first_id DESC LIMIT 1), 0) >= v.id")


def islands(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Ranges (first, last) as the fewest disjoint ones: overlapping or adjacent ranges joined."""
    merged: list[list[int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    return [(first, last) for first, last in merged]


def note_seen(conn: Any, run: int, ids: Iterable[int]) -> None:
    """Versions (ids) that `run` saw again unchanged."""
    conn.executemany(_INSERT, [(run, first, last) for first, last in islands((i, i) for i in ids)])


def merge(conn: Any, run: int) -> None:
    """The run's ranges made disjoint, as SEEN_BY_RUN needs: a version seen twice in one run (a title
    range listed again after its lister died) lies in two. In the caller's transaction."""
    ranges = conn.execute("SELECT first_id, last_id FROM seen_ranges WHERE run = ?", (run,)).fetchall()
    merged = islands(ranges)
    if len(merged) < len(ranges):
        conn.execute("DELETE FROM seen_ranges WHERE run = ?", (run,))
        conn.executemany(_INSERT, [(run, first, last) for first, last in merged])
