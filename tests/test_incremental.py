"""Incremental runs, snapshots and retention on a real test bed of their own, through the real
`mediarescue` command: after a full backup, every kind of change is made on the wiki, and ONE
incremental run must record exactly those changes; `find --as-of` shows each title before and
after; `forget --prune` frees only what no kept snapshot needs.

The tests share one wiki and one catalog and run in file order: each builds on the last.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mediarescue.catalog.base import records
from mediarescue.mediawiki import MediaWiki
from testbed.bed import TestBed
from testbed.media import write_media
from testbed.seed import SAME_TITLE_GAP, SeedResult, seed
from testbed.storage import BedStorage
from tests.conftest import mediarescue, seeder_api

pytestmark = pytest.mark.integration
STATE = ("title", "status", "archive_name", "private")


def _cli(config: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    done = mediarescue(config, *args, env={"COLUMNS": "200"})
    if ok:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def _json(config: Path, *args: str) -> Any:
    return json.loads(_cli(config, *args, "--json").stdout)


def _versions(catalog: Path) -> dict[int, dict[str, Any]]:
    with sqlite3.connect(catalog) as db:  # hashes and times as the catalog's callers get them
        return {row["id"]: row for row in records(db.execute("SELECT * FROM versions"))}


class _Editor:
    """Changes the wiki as the seeder, waiting between two writes to one title as MediaWiki needs."""

    def __init__(self, api: MediaWiki, workdir: Path):
        self.api, self.workdir, self._last = api, workdir, {}

    def _pace(self, title: str) -> None:
        time.sleep(max(0.0, self._last.get(title, 0) + SAME_TITLE_GAP - time.monotonic()))
        self._last[title] = time.monotonic()

    def upload(self, title: str, variant: int) -> str:
        kind = title.rsplit(".", 1)[1]
        path = self.workdir / f"upload.{kind}"
        write_media(path, kind, 900_000 + variant, 20_000)
        self._pace(title)
        result = self.api.upload(path, title.removeprefix("File:"), comment="test change", ignore_warnings=True,
                                 text="A test change.\n{{self|cc-by-sa-4.0}}")
        assert result["result"] == "Success", result
        return hashlib.sha1(path.read_bytes()).hexdigest()

    def post(self, *titles: str, **params: Any) -> dict:
        """A write that touches `titles`."""
        for title in titles:
            self._pace(title)
        return self.api.post(**params)

    def archive_name(self, title: str, sha1: str) -> str:
        info = self.api.get(action="query", titles=title, prop="imageinfo", iilimit="max",
                            iiprop="sha1|archivename")["query"]["pages"][0]["imageinfo"]
        return next(v["archivename"] for v in info if v["sha1"] == sha1 and "archivename" in v)


@dataclass
class History:
    bed: TestBed
    config: Path
    catalog: Path
    titles: dict[str, str]                       # what was done -> the title it was done to
    new_sha1: dict[str, str] = field(default_factory=dict)
    runs: dict[str, int] = field(default_factory=dict)
    before: dict[int, dict[str, Any]] = field(default_factory=dict)  # the catalog before the incremental run
    unchanged: dict[str, Any] = field(default_factory=dict)          # `backup --incremental --json` with no change


@pytest.fixture(scope="module")
def history(incremental_bed: TestBed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    seeded: SeedResult = seed(seeder_api(incremental_bed), large_size=2_000_000)
    where = tmp_path_factory.mktemp("incremental")
    config = incremental_bed.write_config(where / "mediarescue.toml", where / "catalog.db", where / "blobs")
    singles = [t for t, sha1s in seeded.files.items() if len(sha1s) == 1 and t not in seeded.roles.values()]
    roles = seeded.roles
    h = History(incremental_bed, config, where / "catalog.db", titles={
        "new": "File:Incremental new one.png", "new_too": "File:Incremental new two.jpg",
        "new_then_deleted": "File:Incremental uploaded then deleted.gif", "overwrite": singles[0],
        "revert": roles["history"], "old_version_deleted": roles["history"], "deleted": roles["duplicate_copy"],
        "undeleted": roles["deleted"], "moved_from": singles[1],
        "moved_to": "File:Incremental moved here." + singles[1].rsplit(".", 1)[1], "chain_from": singles[2],
        "chain_via": "File:Incremental chain one." + singles[2].rsplit(".", 1)[1],
        "chain_to": "File:Incremental chain two." + singles[2].rsplit(".", 1)[1], "moved_then_deleted": singles[3],
        "moved_then_deleted_to": "File:Incremental moved, then deleted." + singles[3].rsplit(".", 1)[1]})
    h.runs["full"] = _json(config, "backup")["run"]["id"]
    h.unchanged = _json(config, "backup", "--incremental")
    h.runs["unchanged"] = h.unchanged["run"]["id"]
    h.before = _versions(h.catalog)

    editor, t = _Editor(seeder_api(incremental_bed), where), h.titles
    for role in ("new", "new_too", "new_then_deleted", "overwrite"):
        h.new_sha1[role] = editor.upload(t[role], variant=len(h.new_sha1))
    editor.post(t["new_then_deleted"], action="delete", title=t["new_then_deleted"], reason="test")
    history_sha1s = seeded.files[t["revert"]]  # newest first
    editor.post(t["revert"], action="filerevert", filename=t["revert"].removeprefix("File:"),
                archivename=editor.archive_name(t["revert"], history_sha1s[-1]), comment="test revert")
    h.new_sha1["revert"] = history_sha1s[-1]
    editor.post(t["revert"], action="delete", title=t["revert"], reason="test: one old version",
                oldimage=editor.archive_name(t["revert"], history_sha1s[1]))
    h.new_sha1["old_version_deleted"] = history_sha1s[1]
    editor.post(t["deleted"], action="delete", title=t["deleted"], reason="test")
    editor.post(t["undeleted"], action="undelete", title=t["undeleted"], reason="test")
    editor.post(t["moved_from"], action="move", **{"from": t["moved_from"]}, to=t["moved_to"], reason="test")
    for via, to in ((t["chain_from"], t["chain_via"]), (t["chain_via"], t["chain_to"]),
                    (t["moved_then_deleted"], t["moved_then_deleted_to"])):
        editor.post(via, to, action="move", **{"from": via}, to=to, reason="test")
    editor.post(t["moved_then_deleted_to"], action="delete", title=t["moved_then_deleted_to"], reason="test")
    yield h


def test_an_incremental_run_on_an_unchanged_wiki_costs_a_handful_of_requests(history: History) -> None:
    snapshot = history.unchanged["snapshot"]
    assert history.unchanged["run"]["status"] == "done"
    assert (snapshot["new_versions"], snapshot["changed_versions"], snapshot["titles_read_again"]) == (0, 0, 0)
    assert snapshot["requests"] <= 6  # log in (2), rights, the log: however large the wiki


def test_one_incremental_run_records_exactly_the_changes(history: History, tmp_path: Path) -> None:
    done = _json(history.config, "backup", "--incremental")
    history.runs["incremental"] = run = done["run"]["id"]
    assert done["run"]["status"] == "done" and done["errors"] == [], done
    after, before, t = _versions(history.catalog), history.before, history.titles

    new = {v["title"]: v for i, v in after.items() if i not in before}
    assert sorted((v["title"], v["sha1"]) for v in new.values()) == sorted(
        (t[role], history.new_sha1[role]) for role in ("new", "new_too", "new_then_deleted", "overwrite", "revert"))
    assert new[t["new_then_deleted"]]["status"] == "deleted" and new[t["new_then_deleted"]]["private"] == 1
    assert new[t["new_then_deleted"]]["backup_status"] == "ok"  # its bytes, read from the deleted zone
    assert all(v["backup_status"] == "ok" and v["first_run"] == run for v in new.values())

    changed = {i: (before[i]["title"], before[i]["status"], after[i]["title"], after[i]["status"])
               for i in before if tuple(before[i][f] for f in STATE) != tuple(after[i][f] for f in STATE)}
    by_title = {(b_title, b_status, a_title, a_status) for b_title, b_status, a_title, a_status in changed.values()}
    assert by_title == {
        (t["overwrite"], "current", t["overwrite"], "old"),
        (t["revert"], "current", t["revert"], "old"),
        (t["old_version_deleted"], "old", t["old_version_deleted"], "deleted"),
        (t["deleted"], "current", t["deleted"], "deleted"),
        (t["undeleted"], "deleted", t["undeleted"], "current"),
        (t["undeleted"], "deleted", t["undeleted"], "old"),
        (t["moved_from"], "current", t["moved_to"], "current"),
        (t["chain_from"], "current", t["chain_to"], "current"),  # moved twice: one change
        (t["moved_then_deleted"], "current", t["moved_then_deleted_to"], "deleted"),
    }
    assert len(changed) == 9 and done["snapshot"]["new_versions"] == 5 and done["snapshot"]["changed_versions"] == 9
    for source, target in (("moved_from", "moved_to"), ("chain_from", "chain_to")):
        [moved] = [i for i, c in changed.items() if c[2] == t[target]]
        assert after[moved]["title_at_upload"] == t[source]  # the same version, its id kept
    deleted_alone = next(i for i, c in changed.items() if c[1] == "old" and c[3] == "deleted")
    assert after[deleted_alone]["sha1"] == history.new_sha1["old_version_deleted"] and after[deleted_alone]["private"]

    # The incremental catalog says what a fresh full backup of the wiki as it is now says.
    fresh_config = history.bed.write_config(tmp_path / "m.toml", tmp_path / "fresh.db", tmp_path / "blobs")
    _cli(fresh_config, "backup")
    state = ("title", "timestamp", "sha1", "status", "archive_name", "private", "backup_status")
    assert sorted(tuple(v[f] for f in state) for v in _versions(tmp_path / "fresh.db").values()) == \
        sorted(tuple(v[f] for f in state) for v in after.values())


def test_find_as_of_shows_each_title_before_and_after(history: History) -> None:
    t, runs, config = history.titles, history.runs, history.config

    def statuses(title: str, as_of: int | str) -> list[tuple[str, str]]:
        found = _cli(config, "find", title, "--as-of", str(as_of), "--json", ok=False)
        assert found.returncode == (0 if found.stdout.strip() != "[]" else 1), found.stderr
        return [(r["status"], r["sha1"]) for r in json.loads(found.stdout)]

    before, after = runs["unchanged"], runs["incremental"]
    assert statuses(t["moved_to"], before) == [] and [s for s, _ in statuses(t["moved_from"], before)] == ["current"]
    assert statuses(t["moved_from"], after) == []
    assert [s for s, _ in statuses(t["moved_to"], after)] == ["current"]
    assert [s for s, _ in statuses(t["undeleted"], before)] == ["deleted", "deleted"]
    assert sorted(s for s, _ in statuses(t["undeleted"], after)) == ["current", "old"]
    assert [s for s, _ in statuses(t["deleted"], before)] == ["current"]
    assert [s for s, _ in statuses(t["deleted"], after)] == ["deleted"]
    history_before, history_after = statuses(t["revert"], before), statuses(t["revert"], after)
    assert [s for s, _ in history_before] == ["current", "old", "old"]
    assert [s for s, _ in history_after] == ["current", "old", "deleted", "old"]
    assert history_after[0][1] == history_before[-1][1]  # the revert: a new version with the oldest bytes
    assert len(statuses(t["new"], before)) == 0 and len(statuses(t["new"], after)) == 1
    # A date answers with the last snapshot that had ended by then; a bare date is the end of that day.
    snapshots = {s["run"]: s["ended"] for s in _json(config, "snapshots")}
    assert statuses(t["moved_from"], snapshots[before]) == statuses(t["moved_from"], before)
    # the day `after` ended (not `before`'s: midnight may fall between the two), `after` the last run
    assert max(snapshots) == after
    assert _json(config, "find", t["moved_to"], "--as-of", snapshots[after][:10])[0]["as_of_run"] == after
    too_early = _cli(config, "find", t["new"], "--as-of", "2001-01-01", ok=False)
    assert too_early.returncode == 1 and "no kept snapshot" in too_early.stderr


def test_snapshots_lists_every_run_with_its_counts(history: History) -> None:
    listed = {s["run"]: s for s in _json(history.config, "snapshots")}
    assert list(listed) == sorted(listed) and set(history.runs.values()) <= set(listed)
    incremental = listed[history.runs["incremental"]]
    assert (incremental["kind"], incremental["status"], incremental["new_versions"],
            incremental["changed_versions"]) == ("incremental", "done", 5, 9)
    assert listed[history.runs["full"]]["kind"] == "full"
    text = _cli(history.config, "snapshots").stdout
    assert "incremental" in text and str(history.runs["incremental"]) in text


def test_a_full_run_after_the_incremental_one_finds_nothing_more(history: History) -> None:
    done = _json(history.config, "backup", "--full")
    history.runs["full_again"] = done["run"]["id"]
    assert (done["snapshot"]["new_versions"], done["snapshot"]["changed_versions"]) == (0, 0)


def test_a_full_run_marks_what_no_log_explains_as_vanished_and_forget_prunes_only_what_no_snapshot_needs(
        history: History) -> None:
    config, lost = history.config, history.titles["new_too"]
    BedStorage(history.bed).lose_file_records(lost.removeprefix("File:"))
    done = _json(config, "backup")
    history.runs["vanished"] = done["run"]["id"]
    assert (done["snapshot"]["new_versions"], done["snapshot"]["changed_versions"]) == (0, 1)
    [row] = _json(config, "find", lost)
    assert (row["status"], row["backup_status"]) == ("vanished", "ok")  # marked, never erased
    blob = history.catalog.parent / "blobs" / row["sha256"][:2] / row["sha256"][2:4] / row["sha256"]
    assert blob.is_file()

    # The run before saw the file: a policy that keeps it keeps the blob.
    plan = _json(config, "forget", "--keep-last", "2", "--prune")
    assert plan["dry_run"] and plan["blobs"] == [] and plan["done"] is None
    assert [k["run"] for k in plan["keep"]] == [history.runs["vanished"], history.runs["full_again"]]
    plan = _json(config, "forget", "--keep-last", "1", "--prune")
    assert [b["sha256"] for b in plan["blobs"]] == [row["sha256"]] and plan["bytes"] == row["size"]
    assert blob.is_file()  # a dry run by default
    text = _cli(config, "forget", "--keep-last", "1", "--prune").stdout
    assert "would delete 1 blobs" in text and "--yes" in text

    everything_else = {v["sha256"] for v in _versions(history.catalog).values() if v["id"] != row["id"]}
    done = _json(config, "forget", "--keep-last", "1", "--prune", "--yes")
    assert done["done"]["blobs"] == 1 and not blob.exists()
    blobs = history.catalog.parent / "blobs"
    assert all((blobs / s[:2] / s[2:4] / s).is_file() for s in everything_else if s)  # nothing else went
    assert _json(config, "find", lost)[0]["backup_status"] == "pruned"
    assert [s["run"] for s in _json(config, "snapshots")] == [history.runs["vanished"]]
    forgotten = _cli(config, "find", history.titles["moved_to"], "--as-of", str(history.runs["incremental"]), ok=False)
    assert forgotten.returncode == 1 and "forgotten" in forgotten.stderr
    assert [r["status"] for r in _json(config, "find", history.titles["moved_to"], "--as-of",
                                       str(history.runs["vanished"]))] == ["current"]
