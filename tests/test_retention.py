"""Retention: the policy (a pure function, against golden files) and forgetting on a real SQLite
catalog, whose kept snapshots must answer exactly as they did before.

Golden files: tests/golden/retention/NAME.input.json (snapshots and a policy, and in `about` what
a person worked out by hand) and NAME.expected.json. MEDIARESCUE_UPDATE_GOLDEN=1 rewrites the
expected files: review the diff before committing it.
"""
from __future__ import annotations

import json
import os
import random
from datetime import datetime
from pathlib import Path

import pytest

from collector import forget
from mediarescue.blobstore.local import LocalBlobStore
from mediarescue.catalog import Catalog, Version, snapshots
from policies.retention import Policy, Snapshot, apply_policy
from tests.conftest import Catalogs

GOLDEN = Path(__file__).resolve().parent / "golden" / "retention"


@pytest.mark.parametrize("case", sorted(p.name.removesuffix(".input.json") for p in GOLDEN.glob("*.input.json")))
def test_apply_policy_matches_the_golden_files(case: str) -> None:
    given = json.loads((GOLDEN / f"{case}.input.json").read_text())
    snaps = [Snapshot(s["id"], datetime.fromisoformat(s["time"].replace("Z", "+00:00")), s["group"])
             for s in given["snapshots"]]
    keep, remove, reasons = apply_policy(snaps, Policy(**given["policy"]))
    assert {s.id for s in keep} | {s.id for s in remove} == {s.id for s in snaps}
    got = {"keep": [{"id": s.id, "group": s.group, "reasons": reasons[s.id]} for s in keep],
           "remove": [s.id for s in remove]}
    expected = GOLDEN / f"{case}.expected.json"
    if os.environ.get("MEDIARESCUE_UPDATE_GOLDEN"):
        expected.write_text(json.dumps(got, indent=1) + "\n")
        pytest.fail(f"{expected.name} rewritten: review the diff, then run the tests without MEDIARESCUE_UPDATE_GOLDEN")
    assert got == json.loads(expected.read_text())


def test_the_hand_worked_golden_case_keeps_what_its_description_says() -> None:
    """The golden file is checked against a person's reading of the policy, not only against itself."""
    expected = json.loads((GOLDEN / "daily-weekly-monthly.expected.json").read_text())
    kept = {k["id"]: k["reasons"] for k in expected["keep"]}
    assert sorted(kept) == sorted({41, 44, 39, 38, 37, 36, 35, 32, 31, 25})
    assert kept[41] == ["daily snapshot", "weekly snapshot", "monthly snapshot"]
    assert kept[44] == ["daily snapshot"] and kept[31] == ["monthly snapshot"] and kept[25] == ["weekly snapshot"]


def _version(title: str, sha1: str, status: str = "current", timestamp: str = "2026-01-01T00:00:00Z") -> Version:
    return Version("w", title, timestamp, sha1, title, 3, status, private=int(status == "deleted"),
                   archive_name="20260101000000!" + title[5:] if status == "old" else None)


def _states(catalog: Catalog, runs: list[int], titles: list[str]) -> dict:
    """Everything the catalog answers about these titles as of each of these runs."""
    return {(run, title): sorted((r["id"], r["status"], r["archive_name"]) for r in
                                 snapshots.find_as_of(catalog, run, title=title))
            for run in runs for title in titles}


def _random_history(catalog: Catalog, rng: random.Random, runs: int, titles: list[str]) -> list[int]:
    """Runs that each move, delete, undelete or archive some versions, as a wiki's life would."""
    ids, run_ids = [], []
    for n in range(runs):
        run = catalog.start_run("w", "full")
        run_ids.append(run)
        for title in rng.sample(titles, 3):
            version = _version(title, f"{rng.randrange(6):040x}", rng.choice(["current", "old", "deleted"]),
                               f"2026-01-{1 + rng.randrange(5):02d}T00:00:00Z")
            ids += [p.id for p in catalog.record_versions(run, [version])]
        if ids:
            moved, to = rng.choice(ids), rng.choice(titles)
            [row] = [r for r in catalog.find(wiki="w") if r["id"] == moved]
            if not any((r["timestamp"], r["sha1"]) == (row["timestamp"], row["sha1"]) for r in catalog.find(title=to)):
                catalog.change_versions(run, {moved: {"title": to}})  # a move, unless it would merge two versions
            catalog.change_versions(run, {rng.choice(ids): {"status": rng.choice(["vanished", "old"])}})
        catalog.finish_run(run, "done")
    return run_ids


@pytest.mark.parametrize("seed", range(5))
def test_forgetting_keeps_every_answer_of_the_kept_snapshots(catalogs: Catalogs, seed: int) -> None:
    path = catalogs.new()
    catalog = Catalog(path)
    rng = random.Random(seed)
    titles = [f"File:T{i}.png" for i in range(6)]
    runs = _random_history(catalog, rng, 12, titles)
    kept = sorted(set(rng.sample(runs, 4)) | {runs[-1]})
    answers = _states(catalog, kept, titles)
    plan = forget.plan_forget(catalog, Policy(last=1))  # the plan decides nothing here: replace its choice
    plan.keep = [{"run": r} for r in kept]
    plan.remove = [{"run": r} for r in runs if r not in kept]
    plan.state_rows = catalog.unneeded_states("w", kept)
    before = catalog.conn.execute("SELECT COUNT(*) FROM version_states").fetchone()[0]
    forget.execute(catalog, None, plan)
    after = catalog.conn.execute("SELECT COUNT(*) FROM version_states").fetchone()[0]
    assert after == before - len(plan.state_rows)
    assert _states(catalog, kept, titles) == answers
    forgotten = next(r for r in runs if r not in kept)
    with pytest.raises(snapshots.SnapshotError, match="forgotten"):
        snapshots.find_as_of(catalog, forgotten, title=titles[0])


def test_prune_frees_only_blobs_that_no_kept_snapshot_or_current_version_needs(catalogs: Catalogs) -> None:
    path = catalogs.new()
    tmp_path = catalogs.tmp_path
    catalog, store = Catalog(path), LocalBlobStore(tmp_path / "blobs")

    def stored(run: int, version: dict, data: bytes) -> int:
        [pending] = catalog.record_versions(run, [version])
        blob = store.put(iter([data]))
        catalog.stored(pending.id, blob.sha256, blob.sha1, blob.size, blob.new, run)
        return pending.id

    first = catalog.start_run("w", "full")
    gone = stored(first, _version("File:Gone.png", "1" * 40), b"gone")
    shared = stored(first, _version("File:Shared a.png", "2" * 40), b"shared")
    stored(first, _version("File:Shared b.png", "3" * 40), b"shared")
    kept_deleted = stored(first, _version("File:Deleted.png", "4" * 40, "deleted"), b"deleted")
    catalog.finish_run(first, "done")
    second = catalog.start_run("w", "full")
    catalog.change_versions(second, {gone: {"status": "vanished"}, shared: {"status": "vanished"},
                                     kept_deleted: {"status": "deleted"}})
    catalog.finish_run(second, "done")

    keep_both = forget.plan_forget(catalog, Policy(last=2), prune=True)
    assert keep_both.blobs == [] and keep_both.remove == []
    plan = forget.plan_forget(catalog, Policy(last=1), prune=True)
    assert [b["versions"] for b in plan.blobs] == [[gone]] and plan.bytes == 4  # "shared" is still needed by b
    assert [r["run"] for r in plan.remove] == [first]
    assert len(plan.state_rows) == 2  # what "gone" and "shared a" were before the second run: only the first knew
    forget.execute(catalog, store, plan)
    rows = {r["title"]: r for r in catalog.find(wiki="w")}
    assert rows["File:Gone.png"]["backup_status"] == "pruned" and not store.has(rows["File:Gone.png"]["sha256"])
    assert all(store.has(r["sha256"]) for t, r in rows.items() if t != "File:Gone.png")
    assert catalog.conn.execute("SELECT COUNT(*) FROM blobs").fetchone()[0] == 2
    with pytest.raises(ValueError, match="keeps nothing"):
        forget.plan_forget(catalog, Policy())


def test_incomplete_runs_are_forgotten_and_running_ones_left_alone(catalogs: Catalogs) -> None:
    path = catalogs.new()
    catalog = Catalog(path)
    done = catalog.start_run("w", "full")
    catalog.finish_run(done, "done")
    failed = catalog.start_run("w", "incremental")
    catalog.finish_run(failed, "failed")
    running = catalog.start_run("w", "incremental")
    plan = forget.plan_forget(catalog, Policy(daily=1))
    assert [k["run"] for k in plan.keep] == [done]
    assert [(r["run"], r["reasons"]) for r in plan.remove] == [(failed, ["incomplete run"])]
    assert running not in [r["run"] for r in plan.remove]
