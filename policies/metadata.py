"""Which metadata objects the backup store keeps of a catalog, and what the next one is: pure
functions over (seq, kind, run, time, bytes), table-tested (tests/test_metadata.py).

The objects of one catalog form chains: a full copy, then the deltas written after it, each holding
the changes since the object before it. The state as of an object is its chain up to it: the last
full copy at or before it and every delta between. Recovery applies exactly that.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, order=True)
class Stored:
    """A metadata object as the decisions see it."""
    seq: int
    kind: str         # full | delta
    run: int          # the catalog's newest run when it was written
    time: datetime    # when it was written
    bytes: int


def chain(objects: Sequence[Stored], upto: Stored | None = None) -> list[Stored]:
    """The objects to apply, in order, for the state as of `upto` (default: the newest object):
    the last full copy at or before it and every delta after that up to it; [] without a full copy."""
    ordered = sorted(objects)
    if upto is not None:
        ordered = [o for o in ordered if o.seq <= upto.seq]
    fulls = [i for i, o in enumerate(ordered) if o.kind == "full"]
    return ordered[fulls[-1]:] if fulls else []


def as_of(objects: Sequence[Stored], run: int | None = None, moment: datetime | None = None) -> Stored | None:
    """The newest object written by run `run` (its newest run at most `run`) or by `moment`."""
    fitting = [o for o in objects if (run is None or o.run <= run) and (moment is None or o.time <= moment)]
    return max(fitting) if fitting else None


def next_kind(objects: Sequence[Stored], recorded_whole: bool, pending: int, catalog_rows: int, now: datetime,
              full_share: float, full_days: float) -> str:
    """'full' or 'delta' for the next object: a full copy when the store has none (the first run)
    or its newest chain is not whole (`recorded_whole`: every object the catalog wrote since its
    last full copy is still listed), when the newest full copy is `full_days` old, when the
    deltas since it reach `full_share` of its bytes, or when the changes waiting (`pending`) reach
    that share of the catalog's rows (a delta as large as a full copy would only be slower to apply)."""
    current = chain(objects)
    if not current or not recorded_whole:
        return "full"
    full, deltas = current[0], current[1:]
    if (now - full.time).total_seconds() >= full_days * 86400:
        return "full"
    if sum(d.bytes for d in deltas) >= full_share * max(full.bytes, 1):
        return "full"
    if pending >= full_share * max(catalog_rows, 1) and pending > 1000:
        return "full"
    return "delta"


def needed(objects: Sequence[Stored], kept_runs: Iterable[int]) -> set[int]:
    """The seqs of the objects to keep: the newest chain, and for each kept snapshot the chain
    of the newest object written by its run (so `catalog recover --as-of` answers for it). What
    else there is belongs to forgotten snapshots only."""
    keep = {o.seq for o in chain(objects)}
    for run in set(kept_runs):
        newest = as_of(objects, run=run)
        if newest is not None and newest.run == run:
            keep.update(o.seq for o in chain(objects, newest))
    return keep
