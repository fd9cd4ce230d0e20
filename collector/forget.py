"""Retention, restic-style: which snapshots a policy keeps (`apply_policy`, a pure function), and
`forget`: drop the detail of the others and, with prune, the blobs nothing kept still needs.

Planning and doing are separate: `plan_forget` only reads the catalog and says what would go and
what it would free; `execute` does exactly that plan. The command line shows the plan and carries
it out only when told to (`--yes`): forgetting cannot be undone.

What forgetting a snapshot drops is the state history only it needed: a row of `version_states`
holds a version's state over an interval of runs, and goes when no kept run lies in it. Kept runs
answer as before. Runs themselves stay (ids, times, counts), marked forgotten. A blob is pruned
when every version with its content is 'vanished' now and was vanished, or not seen yet, as of
every kept snapshot: current, old and deleted versions always keep theirs.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from collector import metadata as kept_metadata
from mediarescue.blobstore.base import BlobStore
from mediarescue.catalog import Catalog, checked_sha256, now
from policies.retention import Policy, Snapshot, apply_policy


@dataclass
class ForgetPlan:
    policy: Policy
    prune: bool
    keep: list[dict[str, Any]] = field(default_factory=list)     # runs, each with its reasons
    remove: list[dict[str, Any]] = field(default_factory=list)   # runs, each with why it goes
    state_rows: list[tuple[int, int]] = field(default_factory=list)  # (version_id, until_run) to drop
    blobs: list[dict[str, Any]] = field(default_factory=list)    # sha256, size, encrypted, versions
    bytes: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"policy": asdict(self.policy), "prune": self.prune, "keep": self.keep, "remove": self.remove,
                "state_rows": len(self.state_rows), "blobs": self.blobs, "bytes": self.bytes}


def _time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def plan_forget(catalog: Catalog, policy: Policy, wiki: str | None = None, prune: bool = False) -> ForgetPlan:
    """What `execute` would do; reads only. Finished runs that did not complete are always
    forgotten: the next kept snapshot holds every change they saw."""
    if policy.empty():
        raise ValueError("a policy keeps nothing: give at least one --keep-* of 1 or more")
    runs = catalog.live_runs(wiki)
    done = [Snapshot(run_id, _time(started), run_wiki) for run_id, run_wiki, _, started, status in runs
            if status == "done"]
    kept, removed, reasons = apply_policy(done, policy)
    plan = ForgetPlan(policy, prune)
    describe = {run_id: {"run": run_id, "wiki": w, "kind": kind, "started": started, "status": status}
                for run_id, w, kind, started, status in runs}
    plan.keep = [{**describe[s.id], "reasons": reasons[s.id]} for s in kept]
    plan.remove = [{**describe[s.id], "reasons": ["outside the policy"]} for s in removed]
    plan.remove += [{**describe[r[0]], "reasons": ["incomplete run"]} for r in runs if r[4] not in ("done", "running")]
    plan.remove.sort(key=lambda r: r["run"], reverse=True)
    retained: dict[str, list[int]] = {}
    for run_id, run_wiki, _, _, status in runs:
        if status == "running" or run_id in reasons:
            retained.setdefault(run_wiki, []).append(run_id)
    for each_wiki in sorted({r[1] for r in runs}):
        plan.state_rows += catalog.unneeded_states(each_wiki, retained.get(each_wiki, []))
    if prune:
        _plan_prune(catalog, plan, retained, wiki)
    return plan


def _needed(first_run: int, states: list[tuple[int, str]], retained: list[int]) -> bool:
    """Whether a version now vanished was there, in some state, as of a retained run.
    `states`: (until_run, status) of its earlier states, in order."""
    start = first_run
    for until_run, status in states:
        if status != "vanished" and any(start <= run < until_run for run in retained):
            return True
        start = until_run
    return False


def _plan_prune(catalog: Catalog, plan: ForgetPlan, retained: dict[str, list[int]], wiki: str | None) -> None:
    """Blobs whose every version is unneeded by kept snapshots and by the current state."""
    unneeded: dict[str, list[int]] = {}
    for version_id, version_wiki, first_run, sha256 in catalog.vanished_stored(wiki):
        if not _needed(first_run, catalog.earlier_states(version_id), retained.get(version_wiki, [])):
            unneeded.setdefault(sha256, []).append(version_id)
    for sha256, ids in sorted(unneeded.items()):
        if catalog.used_by_others(sha256, ids):
            continue  # the same content is still needed by another version
        plan.blobs.append({"sha256": checked_sha256(sha256, f"versions row {ids[0]}"), "versions": ids,
                           **catalog.blob_record(sha256)})
    if wiki is None:  # blobs no version refers to at all (they belong to no wiki in particular)
        for sha256, size, encrypted in catalog.unreferenced_blobs():
            plan.blobs.append({"sha256": checked_sha256(sha256, "the blobs table"), "versions": [], "size": size,
                               "encrypted": bool(encrypted)})
    plan.bytes = sum(b["size"] for b in plan.blobs)


def execute(catalog: Catalog, store: BlobStore | None, plan: ForgetPlan,
            metadata: kept_metadata.Settings | None = None) -> dict[str, int]:
    """Carry out `plan`. The catalog forgets first, in one transaction; blobs are deleted after it
    commits, so a crash in between leaves a blob no version refers to (found by `check`), never a
    version whose blob is gone while the catalog says it is stored. With `metadata` (and a store),
    the catalog's copies in the store follow: a full copy of the catalog as it is now is written,
    then the objects no kept snapshot needs are removed (a crash in between leaves extra objects,
    never too few)."""
    catalog.forget(plan.state_rows, [r["run"] for r in plan.remove], [b["sha256"] for b in plan.blobs], now())
    if store is not None:
        for blob in plan.blobs:
            for encrypted in (False, True):  # a plaintext copy may lie beside a sealed one
                store.remove(blob["sha256"], encrypted)
    dropped = 0
    if store is not None and metadata is not None:
        kept_metadata.save(catalog, store, metadata, full=True)
        dropped = len(kept_metadata.drop_unneeded(catalog, store))
    return {"forgotten": len(plan.remove), "state_rows": len(plan.state_rows), "blobs": len(plan.blobs),
            "bytes": plan.bytes, "metadata_objects_removed": dropped}
