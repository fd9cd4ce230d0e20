"""Retention, restic-style: which snapshots a policy keeps. A pure function, golden-tested."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime


@dataclass(frozen=True)
class Policy:
    """How many of the newest buckets to keep a snapshot of, per kind of bucket (0: none)."""
    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0

    def empty(self) -> bool:
        return not any(asdict(self).values())


@dataclass(frozen=True)
class Snapshot:
    id: int
    time: datetime  # when the run started, as restic dates a snapshot
    group: str      # the wiki: a policy keeps snapshots of each wiki apart


def _bucket(rule: str, snapshot: Snapshot) -> object:
    t = snapshot.time
    if rule == "last":
        return snapshot.id
    if rule == "weekly":
        return t.isocalendar()[:2]  # ISO year and week: a week that spans new year is one week
    return {"hourly": (t.year, t.month, t.day, t.hour), "daily": (t.year, t.month, t.day),
            "monthly": (t.year, t.month), "yearly": t.year}[rule]


RULES = ("last", "hourly", "daily", "weekly", "monthly", "yearly")


def apply_policy(snapshots: Sequence[Snapshot], policy: Policy
                 ) -> tuple[list[Snapshot], list[Snapshot], dict[int, list[str]]]:
    """(kept, removed, reasons each kept one is kept for), newest first, as restic decides: going
    from the newest snapshot back, each rule keeps the newest snapshot of each of its N newest
    buckets (days, weeks...). A snapshot is kept when any rule keeps it."""
    keep: list[Snapshot] = []
    remove: list[Snapshot] = []
    reasons: dict[int, list[str]] = {}
    for group in sorted({s.group for s in snapshots}):
        left = {rule: getattr(policy, rule) for rule in RULES}
        last_bucket: dict[str, object] = {}
        for snapshot in sorted((s for s in snapshots if s.group == group), key=lambda s: (s.time, s.id), reverse=True):
            why = []
            for rule in RULES:
                bucket = _bucket(rule, snapshot)
                if left[rule] > 0 and last_bucket.get(rule) != bucket:
                    last_bucket[rule] = bucket
                    left[rule] -= 1
                    why.append(f"{rule} snapshot")
            if why:
                keep.append(snapshot)
                reasons[snapshot.id] = why
            else:
                remove.append(snapshot)
    return keep, remove, reasons
