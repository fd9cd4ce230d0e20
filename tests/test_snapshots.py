"""Point in time on a real SQLite catalog, and the pure parts of incremental runs: reading the log
entries MediaWiki 1.39 writes (as seen on the test bed) and remembering where it was read up to."""
from __future__ import annotations

from pathlib import Path

import pytest

from collector.backup import backup
from collector.incremental import Changes, LogPosition, NoLogPosition
from mediarescue.blobstore.local import LocalBlobStore
from mediarescue.catalog import Catalog, Version, snapshots
from mediarescue.config import WikiConfig
from mediarescue.mediawiki import sha1_base36, sha1_from_base36
from tests.conftest import Catalogs


def _version(title: str, sha1: str, status: str = "current", archive_name: str | None = None) -> Version:
    return Version("w", title, "2026-01-01T00:00:00Z", sha1, title, 3, status, archive_name=archive_name,
                   private=int(status == "deleted"))


def test_a_state_row_is_written_only_when_a_version_changes(catalogs: Catalogs) -> None:
    path = catalogs.new()
    catalog = Catalog(path)
    one = catalog.start_run("w", "full")
    [a, b] = catalog.record_versions(one, [_version("File:A.png", "a" * 40), _version("File:B.png", "b" * 40)])
    catalog.record_versions(one, [_version("File:A.png", "a" * 40, "old", "1!A.png")])  # same run: no history
    two = catalog.start_run("w", "full")
    catalog.record_versions(two, [_version("File:A.png", "a" * 40, "old", "1!A.png"), _version("File:B.png", "b" * 40)])
    three = catalog.start_run("w", "incremental")
    catalog.record_versions(three, [_version("File:A.png", "a" * 40, "deleted"), _version("File:B.png", "b" * 40)])
    catalog.change_versions(three, {a.id: {"status": "vanished"}, b.id: {"title": "File:C.png"}})
    rows = catalog.conn.execute("SELECT version_id, until_run, title, status, archive_name FROM version_states "
                                "ORDER BY version_id, until_run").fetchall()
    assert rows == [(a.id, three, "File:A.png", "old", "1!A.png"), (b.id, three, "File:B.png", "current", None)]
    assert snapshots.snapshot(catalog, one) == {"new_versions": 2, "changed_versions": 0}
    assert snapshots.snapshot(catalog, two) == {"new_versions": 0, "changed_versions": 0}
    assert snapshots.snapshot(catalog, three) == {"new_versions": 0, "changed_versions": 2}

    def state(title: str, run: int) -> list[tuple]:
        return [(r["id"], r["title"], r["status"], r["as_of_run"]) for r in
                snapshots.find_as_of(catalog, run, title=title)]

    assert state("File:A.png", one) == [(a.id, "File:A.png", "old", one)]
    assert state("File:A.png", three) == []  # vanished by then
    assert state("File:B.png", two) == [(b.id, "File:B.png", "current", two)]
    assert state("File:B.png", three) == [] and state("File:C.png", three) == [(b.id, "File:C.png", "current", three)]
    assert state("File:C.png", two) == []
    assert [r["id"] for r in snapshots.find_as_of(catalog, two, sha1="b" * 40)] == [b.id]
    assert snapshots.find_as_of(catalog, 99, title="File:C.png")[0]["as_of_run"] == three
    with pytest.raises(snapshots.SnapshotError, match="no run up to"):
        snapshots.find_as_of(catalog, 0, title="File:C.png")


def test_a_date_answers_with_the_last_run_that_had_ended_by_then(catalogs: Catalogs) -> None:
    path = catalogs.new()
    catalog = Catalog(path)
    runs = [catalog.start_run("w", "full") for _ in range(3)]
    for run, ended in zip(runs, ("2026-01-01T10:00:00Z", "2026-01-02T10:00:00Z", "2026-01-03T10:00:00Z")):
        catalog.conn.execute("UPDATE runs SET ended = ?, status = 'done' WHERE id = ?", (ended, run))
    catalog.conn.commit()
    assert snapshots.snapshot_of(catalog, "w", snapshots.parse_as_of("2026-01-02")) == runs[1]
    assert snapshots.snapshot_of(catalog, "w", snapshots.parse_as_of("2026-01-02T09:59:59Z")) == runs[0]
    assert snapshots.snapshot_of(catalog, "w", snapshots.parse_as_of("2026-01-02T12:00:00+02:00")) == runs[1]
    with pytest.raises(snapshots.SnapshotError, match="no kept snapshot"):
        snapshots.snapshot_of(catalog, "w", snapshots.parse_as_of("2025-12-31"))
    with pytest.raises(snapshots.SnapshotError, match="takes a run id"):
        snapshots.parse_as_of("yesterday")
    assert snapshots.parse_as_of(" 42 ") == 42


def test_the_state_before_an_incident_is_the_last_kept_run_that_finished_well(catalogs: Catalogs) -> None:
    catalog = Catalog(catalogs.new())
    runs = [catalog.start_run("w", "full") for _ in range(4)]
    for run, ended, status in zip(runs, ("2026-01-01T10:00:00Z", "2026-01-02T10:00:00Z", "2026-01-03T10:00:00Z",
                                         "2026-01-04T10:00:00Z"), ("done", "done", "failed", "done")):
        catalog.conn.execute("UPDATE runs SET ended = ?, status = ? WHERE id = ?", (ended, status, run))
    catalog.conn.execute("UPDATE snapshots SET forgotten = '2026-02-01T00:00:00Z' WHERE run = ?", (runs[1],))
    catalog.conn.commit()
    # as of a date, a failed run is still what the catalog saw then; an incident's "before" is not
    assert snapshots.snapshot_of(catalog, "w", "2026-01-03T12:00:00Z") == runs[2]
    assert snapshots.snapshot_before(catalog, "w", "2026-01-03T12:00:00Z") == runs[0]  # runs[1] forgotten
    assert snapshots.snapshot_before(catalog, "w", "2026-01-04T10:00:00Z") == runs[3]
    with pytest.raises(snapshots.SnapshotError, match="no finished backup run that had ended by"):
        snapshots.snapshot_before(catalog, "w", "2026-01-01T09:00:00Z")


# Entries as MediaWiki 1.39 writes them (seen on the test bed), trimmed.
ENTRIES = [
    {"logid": 4, "title": "File:A.png", "type": "upload", "action": "upload", "timestamp": "2026-11-21T05:39:49Z",
     "params": {"img_sha1": "loyj25r033xjjr8i5um6609q9n8e3uh", "img_timestamp": "2026-11-21T05:39:49Z"}},
    {"logid": 5, "title": "File:A.png", "type": "create", "action": "create", "timestamp": "2026-11-21T05:39:49Z",
     "params": {}},
    {"logid": 54, "title": "File:B.jpg", "type": "delete", "action": "delete", "timestamp": "2026-11-21T05:39:53Z",
     "params": {}},
    {"logid": 57, "title": "File:C.pdf", "type": "delete", "action": "restore", "timestamp": "2026-11-21T05:39:55Z",
     "params": {"count": {"revisions": 1, "files": 1}}},
    {"logid": 58, "title": "File:D.tif", "type": "move", "action": "move", "timestamp": "2026-11-21T05:39:55Z",
     "params": {"target_ns": 6, "target_title": "File:E.tif", "suppressredirect": False}},
    {"logid": 59, "type": "delete", "actionhidden": True, "timestamp": "2026-11-21T05:39:56Z"},
    # hidden, yet its title is shown to an account with deletedhistory: still a deletion to read again
    {"logid": 61, "title": "File:G.png", "type": "delete", "action": "delete", "actionhidden": True,
     "timestamp": "2026-11-21T05:39:58Z"},
    {"logid": 60, "title": "File:F.png", "type": "protect", "action": "protect", "timestamp": "2026-11-21T05:39:57Z"},
]


def test_the_log_says_which_titles_to_read_again_and_how() -> None:
    changes = Changes()
    for entry in ENTRIES:
        changes.add(entry)
    assert changes.titles == {"File:A.png", "File:B.jpg", "File:C.pdf", "File:D.tif", "File:E.tif", "File:G.png"}
    assert changes.archive_titles == {"File:B.jpg", "File:C.pdf", "File:G.png"}
    assert changes.deleted_titles == {"File:B.jpg", "File:G.png"}
    assert changes.move_sources == {"File:D.tif"}
    assert changes.uploaded_as == {("2026-11-21T05:39:49Z", "b9b670949725daa920fb88634a76a491b12edef9"): "File:A.png"}
    assert (changes.entries, changes.hidden_entries) == (8, 2)


def test_sha1_in_base36_converts_both_ways() -> None:
    for sha1 in ("0" * 40, "f" * 40, "b9b670949725daa920fb88634a76a491b12edef9", "0" * 38 + "ff"):
        assert len(sha1_base36(sha1)) == 31 and sha1_from_base36(sha1_base36(sha1)) == sha1


def test_a_log_position_remembers_the_entries_it_may_see_again() -> None:
    position = LogPosition("2026-01-01T00:00:00Z").after([(1, "2026-01-01T00:00:00Z"), (2, "2026-01-01T00:10:00Z"),
                                                          (3, "2026-01-01T00:09:00Z")])
    assert position.timestamp == "2026-01-01T00:10:00Z"
    assert position.recent == {2: "2026-01-01T00:10:00Z", 3: "2026-01-01T00:09:00Z"}  # within OVERLAP of the newest
    assert LogPosition.from_json(position.to_json()) == position
    assert position.after([]) == position


def test_an_incremental_run_without_a_finished_run_before_says_to_run_a_full_one(tmp_path: Path) -> None:
    wiki = WikiConfig(name="w", api_url="http://127.0.0.1:9/api.php", user="u@a", password="p")
    with pytest.raises(NoLogPosition, match="run a full backup first"):
        backup(wiki, Catalog(tmp_path / "c.db"), LocalBlobStore(tmp_path / "blobs"), "tests", incremental_run=True)
