"""The catalog and the config on real SQLite files and real directories."""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from mediarescue import config as configuration
from mediarescue.catalog import Catalog, CatalogBusy, Journal, Version, snapshots
from mediarescue.mediawiki import canonical_title
from testbed.bed import TestBed
from tests.conftest import Catalogs


def _version(title: str, sha1: str, timestamp: str = "2026-01-01T00:00:00Z", status: str = "current") -> Version:
    return Version("w", title, timestamp, sha1, title, 3, status, private=int(status == "deleted"))


def test_recording_the_same_versions_again_keeps_their_ids_and_adds_no_rows(catalogs: Catalogs) -> None:
    path = catalogs.new()
    catalog = Catalog(path)
    first = catalog.start_run("w", "full")
    pending = catalog.record_versions(first, [_version("File:A.png", "a" * 40), _version("File:B.png", "b" * 40)])
    catalog.stored(pending[0].id, "1" * 64, "a" * 40, 3, True, first)
    second = catalog.start_run("w", "full")
    again = catalog.record_versions(second, [_version("File:B.png", "b" * 40), _version("File:A.png", "a" * 40,
                                                                                          status="old")])
    assert [p.version.title for p in again] == ["File:B.png"]  # A's bytes are stored: nothing to fetch
    assert again[0].id == pending[1].id
    rows = catalog.find(wiki="w")
    assert len(rows) == 2
    a = catalog.find(title="File:A.png")[0]
    assert (a["id"], a["status"], a["first_run"], a["last_run"], a["sha256"]) == (pending[0].id, "old", first, second,
                                                                                  "1" * 64)
    [new] = catalog.record_versions(second, [_version("File:C.png", "d" * 40)])
    assert new.id == 3  # seeing known versions again used up no ids
    assert catalog.run(first)["status"] == "interrupted"  # left running by a run that never finished
    assert catalog.run(second)["versions_seen"] == 3


def test_versions_seen_again_unchanged_are_not_written_and_unseen_knows_the_run_saw_them(catalogs: Catalogs) -> None:
    """A run that sees known versions as they were notes their ids as ranges, writes none of their
    rows (no metadata change either), and `unseen` gives exactly the versions it saw nowhere: also
    when a version was seen twice in the run (two ranges over it) or changed, and until the run is
    over, when its ranges go."""
    catalog = Catalog(catalogs.new())
    one = catalog.start_run("w", "full")
    listed = [_version(f"File:{n:02}.png", f"{n:040x}") for n in range(12)]
    ids = [p.id for p in catalog.record_versions(one, listed)]
    catalog.finish_run(one, "done")
    two = catalog.start_run("w", "full")
    with catalog.conn:
        catalog.conn.execute("DELETE FROM metadata_changes")
    catalog.record_versions(two, listed[:8])
    catalog.record_versions(two, listed[3:5] + [listed[9]._replace(comment="changed")])  # seen twice; changed
    assert catalog.conn.execute("SELECT COUNT(*) FROM metadata_changes WHERE tbl = 'versions'").fetchone()[0] == 1
    last_runs = [r for (r,) in catalog.conn.execute("SELECT last_run FROM versions ORDER BY id")]
    assert last_runs == [one] * 9 + [two, one, one]
    gone = [(ids[n], listed[n].title, "current") for n in (8, 10, 11)]
    assert sorted(catalog.unseen("w", two, ("current", "old"))) == gone
    assert catalog.conn.execute("SELECT first_id, last_id FROM seen_ranges WHERE run = ?", (two,)).fetchall() == [
        (ids[0], ids[7])]  # merged by unseen
    assert catalog.unseen("w", two, ("current",), [listed[n].title for n in (4, 9, 10)]) == [gone[1]]
    assert sorted(catalog.unseen("w", one + 99, ("current",))) == [(i, v.title, "current") for i, v in zip(ids, listed)]
    catalog.finish_run(two, "done")
    assert catalog.conn.execute("SELECT COUNT(*) FROM seen_ranges").fetchone()[0] == 0
    catalog.close()


def test_a_catalog_made_before_seen_ranges_gets_the_table_when_opened(catalogs: Catalogs) -> None:
    path = catalogs.new()
    catalog = Catalog(path)
    listed = [_version("File:A.png", "a" * 40)]
    catalog.record_versions(catalog.start_run("w", "full"), listed)
    with catalog.conn:
        catalog.conn.execute("DROP TABLE seen_ranges")
    catalog.close()
    catalog = Catalog(path)
    run = catalog.start_run("w", "full")
    catalog.record_versions(run, listed)
    assert catalog.unseen("w", run, ("current",)) == []
    catalog.close()


def test_equal_sha1_with_different_sha256_is_a_collision_and_both_are_kept(catalogs: Catalogs) -> None:
    path = catalogs.new()
    catalog = Catalog(path)
    run = catalog.start_run("w", "full")
    one, two = catalog.record_versions(run, [_version("File:A.pdf", "c" * 40), _version("File:B.pdf", "c" * 40)])
    catalog.stored(one.id, "1" * 64, "c" * 40, 3, True, run)
    assert catalog.collisions() == []
    catalog.stored(two.id, "2" * 64, "c" * 40, 3, True, run)
    [collision] = catalog.collisions()
    assert collision["sha1"] == "c" * 40 and collision["contents"] == 2
    assert {r["sha256"] for r in catalog.find(sha1="c" * 40)} == {"1" * 64, "2" * 64}
    assert [r["title"] for r in catalog.find(sha256="2" * 64)] == ["File:B.pdf"]


def test_lookups_find_versions_in_every_state_through_an_index(catalogs: Catalogs) -> None:
    path = catalogs.new()
    catalog = Catalog(path)
    run = catalog.start_run("w", "full")
    other = catalog.start_run("x", "full")
    stored, failed, pending = catalog.record_versions(run, [
        _version("File:A.png", "a" * 40), _version("File:B.png", "a" * 40), _version("File:C.png", "a" * 40)])
    catalog.record_versions(other, [_version("File:A.png", "a" * 40)._replace(wiki="x")])
    catalog.stored(stored.id, "1" * 64, "a" * 40, 3, True, run)
    catalog.failed(failed.id, "error", "HTTP 404", run)
    plans: list[str] = []
    sqlite = catalogs.engine == "sqlite"  # SQLite's plans are read; PostgreSQL answers the same
    if sqlite:
        catalog.conn.set_trace_callback(lambda sql: plans.extend(row[3] for row in catalog.conn.execute(
            f"EXPLAIN QUERY PLAN {sql}")) if sql.startswith("SELECT *") else None)

    found = catalog.find(sha1="a" * 40)
    assert sorted((r["wiki"], r["title"], r["backup_status"]) for r in found) == [
        ("w", "File:A.png", "ok"), ("w", "File:B.png", "error"), ("w", "File:C.png", "pending"),
        ("x", "File:A.png", "pending")]
    assert [r["id"] for r in catalog.find(sha1="a" * 40, wiki="w")] == [pending.id, failed.id, stored.id]
    assert {r["wiki"] for r in catalog.find(title="File:A.png")} == {"w", "x"}  # every wiki's, by default
    assert [r["id"] for r in catalog.find(sha256="1" * 64)] == [stored.id]
    if not sqlite:
        return
    catalog.conn.set_trace_callback(None)
    scans = [p for p in plans if p.startswith("SCAN versions") and p != "SCAN versions USING INDEX versions_pending"
             or p.endswith("(wiki=?)")]
    assert plans and not scans, plans  # 100 million rows: no lookup may read them all, nor all of a wiki's


def test_the_healthy_sample_is_spread_over_the_whole_catalog_without_a_scan(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "c.db")
    run = catalog.start_run("w", "full")
    catalog.record_versions(run, [_version(f"File:{n:04d}.png", f"{n:040x}") for n in range(1000)])
    catalog.record_versions(run, [_version(f"File:{n:04d}.png", f"{n + 5000:040x}", status="old") for n in range(50)]
                            + [_version("File:Elsewhere.png", "e" * 40)._replace(wiki="x")])
    with catalog.conn:  # bytes stored for all but the last ten current versions
        catalog.conn.execute("UPDATE versions SET backup_status = 'ok', sha256 = printf('%064x', id) WHERE id <= 990 "
                             "OR status = 'old' OR wiki = 'x'")
    plans: list[str] = []
    catalog.conn.set_trace_callback(lambda sql: plans.extend(
        row[3] for row in catalog.conn.execute(f"EXPLAIN QUERY PLAN {sql}")) if sql.startswith("SELECT") else None)
    sample = catalog.sample_healthy("w", 64)
    catalog.conn.set_trace_callback(None)
    # the ends of the id, then a step along it per pick: never a scan, nor all of a wiki's rows
    assert plans and all(p == "SEARCH versions" or "INTEGER PRIMARY KEY" in p for p in plans), plans
    ids = sorted(r["id"] for r in sample)
    assert 60 <= len(ids) <= 64 and len(set(ids)) == len(ids)
    assert all(r["wiki"] == "w" and r["status"] == "current" and r["backup_status"] == "ok" for r in sample)
    # Files lost together are neighbours: 90 % of the catalog lost in one block leaves a sample that
    # still reaches the rest (one pick in each sixty-fourth of the ids).
    assert len([i for i in ids if i > 900]) >= 5 and len([i for i in ids if i <= 100]) >= 6
    assert max(b - a for a, b in zip(ids, ids[1:])) < 2 * 1051 / 64 + 1
    assert Catalog(tmp_path / "empty.db").sample_healthy("w", 64) == []
    assert len(catalog.sample_healthy("x", 64)) == 1  # a small wiki: every healthy version, once


def test_hidden_versions_become_private_and_nothing_unseen_makes_them_public_again(catalogs: Catalogs) -> None:
    path = catalogs.new()
    catalog = Catalog(path)
    run = catalog.start_run("w", "full")
    old, deleted, other = catalog.record_versions(run, [
        _version("File:A.png", "a" * 40, "2026-01-01T00:00:00Z", "old"),
        _version("File:B.png", "b" * 40, "2026-01-02T00:00:00Z"), _version("File:C.png", "c" * 40)])
    for n, pending in enumerate((old, deleted, other)):
        catalog.stored(pending.id, f"{n}" * 64, pending.version.sha1, 3, True, run)
    assert catalog.unsealed_private([old.id, deleted.id, other.id]) == []  # all public
    second = catalog.start_run("w", "full")
    assert catalog.seen_hidden(second, "w", [("File:A.png", "2026-01-01T00:00:00Z")]) == [old.id]
    assert catalog.seen_hidden(second, "w", [("File:B.png", "2026-01-02T00:00:00Z")], deleted=True) == [deleted.id]
    rows = {r["id"]: r for r in catalog.find(wiki="w")}
    assert (rows[old.id]["status"], rows[old.id]["private"], rows[old.id]["last_run"]) == ("old", 1, second)
    assert (rows[deleted.id]["status"], rows[deleted.id]["private"]) == ("deleted", 1)
    assert rows[other.id]["private"] == 0
    assert catalog.unsealed_private([old.id, deleted.id, other.id]) == [("0" * 64, "a" * 40), ("1" * 64, "b" * 40)]
    catalog.change_versions(second, {old.id: {"status": "vanished", "private": 0}})
    assert catalog.find(title="File:A.png")[0]["private"] == 1  # gone from view is no reason to publish
    catalog.blob_encrypted("0" * 64, True)
    assert catalog.unsealed_private([old.id, deleted.id]) == [("1" * 64, "b" * 40)]
    assert catalog.version_ids([old.version, _version("File:Z.png", "f" * 40)]) == [old.id]


def test_ids_are_never_given_twice_even_when_the_newest_row_goes(catalogs: Catalogs) -> None:
    path = catalogs.new()
    catalog = Catalog(path)
    run = catalog.start_run("w", "full")
    first = catalog.record_versions(run, [_version(f"File:{n}.png", f"{n:040x}") for n in range(3)])
    assert [p.id for p in first] == [1, 2, 3]
    with catalog.conn:
        catalog.conn.execute("DELETE FROM versions WHERE id = 3")
    [again] = catalog.record_versions(run, [_version("File:9.png", "9" * 40)])
    assert again.id == 4


def test_new_batches_after_one_with_a_known_version_continue_the_ids_without_a_gap(catalogs: Catalogs) -> None:
    """PostgreSQL tries a batch straight into `versions` while batches come all new: one that
    holds a known version (last in it here, after new ones went in) keeps nothing of that try and
    uses up no id, and the next all-new batches go on from the last id given."""
    catalog = Catalog(catalogs.new())
    run = catalog.start_run("w", "full")
    assert [p.id for p in catalog.record_versions(run, [_version("File:A.png", "a" * 40)])] == [1]
    mixed = catalog.record_versions(run, [_version("File:B.png", "b" * 40), _version("File:C.png", "c" * 40),
                                          _version("File:A.png", "a" * 40)])
    assert [(p.id, p.version.title) for p in mixed] == [(2, "File:B.png"), (3, "File:C.png"), (1, "File:A.png")]
    for expected in ([4, 5], [6]):
        new = [_version(f"File:{n}.png", f"{n:040x}") for n in expected]
        assert [p.id for p in catalog.record_versions(run, new)] == expected
    assert sorted(r["id"] for r in catalog.find(wiki="w")) == [1, 2, 3, 4, 5, 6]
    assert catalog.run(run)["versions_seen"] == 6 + 1
    assert catalog.conn.execute("SELECT new_versions FROM snapshots WHERE run = ?", (run,)).fetchone() == (6,)
    notes = catalog.conn.execute("SELECT k1, k2 FROM metadata_changes WHERE tbl = 'versions'").fetchall()
    assert {k for k1, k2 in notes for k in (range(k1, k2 + 1) if k2 else [k1])} == set(range(1, 7))
    catalog.close()


def test_a_batch_of_new_known_changed_and_repeated_versions_is_recorded_alike_on_both_engines(
        catalogs: Catalogs) -> None:
    """One batch mixing every kind of version: new ones get fresh ids in the order given, a repeat
    counts once with its last listing, known ones keep their ids, and only a change since an earlier
    run leaves an earlier state (once a run); one the wiki shows as it was is noted as seen, its row
    not written; the pending versions come back in the order given."""
    catalog = Catalog(catalogs.new())
    first = catalog.start_run("w", "full")
    stored, waiting, moving, early = catalog.record_versions(first, [
        _version("File:S.png", "1" * 40), _version("File:W.png", "2" * 40), _version("File:M.png", "3" * 40),
        _version("File:E.png", "4" * 40)])
    catalog.stored(stored.id, "5" * 64, "1" * 40, 3, True, first)
    second = catalog.start_run("w", "full")
    catalog.record_versions(second, [_version("File:E.png", "4" * 40, status="old")])  # changed earlier this run
    with catalog.conn:
        catalog.conn.execute("DELETE FROM metadata_changes")
    pending = catalog.record_versions(second, [
        _version("File:N1.png", "6" * 40),
        _version("File:S.png", "1" * 40, status="old"),                    # stored, changed
        _version("File:W.png", "2" * 40),                                  # pending, unchanged
        _version("File:N2.png", "7" * 40)._replace(title_at_upload="File:Up.png", size=1),
        _version("File:M.png", "3" * 40, status="deleted"),                # pending, changed
        _version("File:E.png", "4" * 40, status="deleted"),                # changed again this run: first state kept
        _version("File:N2.png", "7" * 40)._replace(title_at_upload="File:Up.png", size=2),  # a repeat: the last wins
        _version("File:N3.png", "8" * 40)])
    assert [(p.id, p.version.title, p.version.size) for p in pending] == [
        (5, "File:N1.png", 3), (waiting.id, "File:W.png", 3), (6, "File:N2.png", 2), (moving.id, "File:M.png", 3),
        (early.id, "File:E.png", 3), (7, "File:N3.png", 3)]
    rows = catalog.conn.execute("SELECT title, id, status, first_run, last_run, size, title_at_upload FROM versions")
    assert {title: tuple(rest) for title, *rest in rows} == {
        "File:S.png": (stored.id, "old", first, second, 3, None),
        "File:W.png": (waiting.id, "current", first, first, 3, None),  # unchanged: not written
        "File:M.png": (moving.id, "deleted", first, second, 3, None),
        "File:E.png": (early.id, "deleted", first, second, 3, None),
        "File:N1.png": (5, "current", second, second, 3, None),
        "File:N2.png": (6, "current", second, second, 2, "File:Up.png"),
        "File:N3.png": (7, "current", second, second, 3, None)}
    assert sorted(catalog.conn.execute("SELECT version_id, until_run, title, status FROM version_states").fetchall()
                  ) == [(stored.id, second, "File:S.png", "current"), (moving.id, second, "File:M.png", "current"),
                        (early.id, second, "File:E.png", "current")]
    assert catalog.conn.execute("SELECT new_versions, changed_versions FROM snapshots WHERE run = ?",
                                (second,)).fetchone() == (3, 3)  # E's first change counted when it was made
    assert catalog.run(second)["versions_seen"] == 8
    assert catalog.conn.execute("SELECT run, first_id, last_id FROM seen_ranges").fetchall() == [
        (second, waiting.id, waiting.id)]
    notes = catalog.conn.execute("SELECT k1, k2 FROM metadata_changes WHERE tbl = 'versions'").fetchall()
    assert (5, 7) in notes  # the new versions: their id range, noted by record_versions
    # the changed ones, refreshed: a row each (SQLite's row trigger) or their run of ids (PostgreSQL's)
    assert {k for k1, k2 in notes for k in (range(k1, k2 + 1) if k2 else [k1])} == set(range(1, 8)) - {waiting.id}
    catalog.close()


def test_collectors_recording_at_once_on_postgresql_never_share_an_id(catalogs: Catalogs) -> None:
    """Two processes' batches in flight together (threads with connections of their own): each
    new version gets an id of its own from the sequence, and the batches' rows are all there."""
    if catalogs.engine != "postgres":
        pytest.skip("one writer at a time on SQLite: the lock file refuses a second")
    path = catalogs.new()
    first = Catalog(path)
    run = first.start_run("w", "full")
    writers, given = [first, Catalog(path)], {}

    def record(writer: int) -> None:
        for batch in range(20):
            versions = [_version(f"File:{writer}-{batch}-{n}.png", f"{writer}{batch:03d}{n:036x}") for n in range(25)]
            given.update((p.id, p.version.title) for p in writers[writer].record_versions(run, versions))

    threads = [threading.Thread(target=record, args=(w,)) for w in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(given) == 1000  # no id handed to two versions
    assert {r["id"]: r["title"] for r in first.find(wiki="w")} == given
    assert first.run(run)["versions_seen"] == 1000
    for writer in writers:
        writer.close()


def test_an_older_catalog_is_brought_up_to_the_schema(tmp_path: Path) -> None:
    """Catalogs written before the indexes were narrowed: the retired indexes and columns go, the
    ids given before stay given, and lookups answer as before."""
    catalog = Catalog(tmp_path / "c.db")
    run = catalog.start_run("w", "full")
    [old] = catalog.record_versions(run, [_version("File:A.png", "a" * 40)])
    catalog.close()
    with sqlite3.connect(tmp_path / "c.db") as db:
        for column in ("source_url", "source_container", "source_object"):
            db.execute(f"ALTER TABLE versions ADD COLUMN {column} TEXT")
        db.execute("UPDATE versions SET source_url = 'https://upload.example.org/a/ab/A.png'")
        for column in ("title", "sha1", "timestamp"):
            db.execute(f"CREATE INDEX versions_{column} ON versions ({column})")
        db.execute("UPDATE sqlite_sequence SET seq = 41 WHERE name = 'versions'")  # ids up to 41 were given once
        db.execute("DROP TABLE pages")  # keyed by revision alone, and a run that saw a revision last
        db.execute("CREATE TABLE pages (wiki TEXT NOT NULL, title TEXT NOT NULL, page_id INTEGER, rev_id INTEGER NOT "
                   "NULL, rev_timestamp TEXT, text TEXT NOT NULL, first_run INTEGER NOT NULL REFERENCES runs(id), "
                   "last_run INTEGER NOT NULL REFERENCES runs(id), PRIMARY KEY (wiki, rev_id))")
        db.execute("CREATE INDEX pages_title ON pages (wiki, title)")
        db.execute("INSERT INTO pages VALUES ('w', 'File:A.png', 1, 7, NULL, '{{self|cc0}}', ?, ?)", (run, run))

    catalog = Catalog(tmp_path / "c.db")
    indexes = {name for (name,) in catalog.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert not indexes & set(Catalog.RETIRED_INDEXES) and "versions_sha1_settled" in indexes
    columns = {row[1] for row in catalog.conn.execute("PRAGMA table_info(versions)")}
    assert not columns & {column for _, column in Catalog.RETIRED_COLUMNS}
    assert [r["id"] for r in catalog.find(sha1="a" * 40)] == [r["id"] for r in catalog.find(title="File:A.png")] \
        == [old.id]
    [new] = catalog.record_versions(catalog.start_run("w", "full"), [_version("File:B.png", "b" * 40)])
    assert new.id == 42
    assert catalog.page_text("w", "File:A.png") == "{{self|cc0}}"
    assert [row[1] for row in catalog.conn.execute("PRAGMA index_list(pages)")] == ["pages_identity"]
    catalog.close()
    assert Catalog(tmp_path / "c.db").page_text("w", "File:A.png") == "{{self|cc0}}"  # migrated once, and kept


def test_the_title_at_upload_is_kept_only_where_it_differs_and_a_move_keeps_it(catalogs: Catalogs) -> None:
    """~50 bytes a version: most versions were uploaded under their title. NULL reads as the title;
    a move writes down the title the version had before, so it still says what it was uploaded as."""
    catalog = Catalog(catalogs.new())
    run = catalog.start_run("w", "full")
    same, renamed = catalog.record_versions(run, [
        _version("File:A.png", "a" * 40), _version("File:B.png", "b" * 40)._replace(title_at_upload="File:Old.png")])
    kept = dict(catalog.conn.execute("SELECT id, title_at_upload FROM versions").fetchall())
    assert kept == {same.id: None, renamed.id: "File:Old.png"}
    later = catalog.start_run("w", "full")
    catalog.change_versions(later, {same.id: {"title": "File:C.png"}, renamed.id: {"title": "File:D.png"}})
    rows = {r["id"]: r for r in catalog.find(wiki="w")}
    assert (rows[same.id]["title"], rows[same.id]["title_at_upload"]) == ("File:C.png", "File:A.png")
    assert (rows[renamed.id]["title"], rows[renamed.id]["title_at_upload"]) == ("File:D.png", "File:Old.png")
    [before] = snapshots.find_as_of(catalog, run, title="File:A.png")
    assert (before["id"], before["title"], before["title_at_upload"]) == (same.id, "File:A.png", "File:A.png")
    catalog.close()


def test_a_postgresql_catalog_made_before_takes_the_compact_layout_when_opened(tmp_path: Path, postgres_bed: TestBed
                                                                         ) -> None:
    target = Catalogs("postgres", tmp_path, postgres_bed).new()
    catalog = Catalog(target)
    run = catalog.start_run("w", "full")
    catalog.record_versions(run, [_version("File:A.png", "a" * 40)._replace(title_at_upload="File:Z.png")])
    catalog.conn.execute("ALTER TABLE versions ALTER COLUMN title_at_upload SET NOT NULL")  # as it was made,
    for table, column in (("versions", "first_run"), ("versions", "last_run"), ("pages", "first_run")):  # with
        catalog.conn.execute(f"ALTER TABLE {table} ADD FOREIGN KEY ({column}) REFERENCES runs(id)")  # foreign keys
    catalog.close()
    catalog = Catalog(target)
    catalog.record_versions(run, [_version("File:B.png", "b" * 40)])
    assert catalog.conn.execute("SELECT title, title_at_upload FROM versions ORDER BY id").fetchall() == [
        ("File:A.png", "File:Z.png"), ("File:B.png", None)]
    assert catalog.conn.execute("SELECT conname FROM pg_constraint WHERE contype = 'f' AND confrelid = "
                                "'runs'::regclass AND conrelid IN ('versions'::regclass, 'pages'::regclass)"
                                ).fetchall() == []
    catalog.close()


def test_one_content_stored_by_two_collectors_at_once_is_one_new_blob(catalogs: Catalogs) -> None:
    """Two versions with the same bytes, fetched by two joined processes at the same moment: the
    store tells each that the content was new to it; the run counts it once."""
    catalog = Catalog(catalogs.new())
    run = catalog.start_run("w", "full")
    first, second = catalog.record_versions(run, [_version("File:A.png", "a" * 40), _version("File:B.png", "a" * 40)])
    catalog.stored(first.id, "c" * 64, "a" * 40, 3, True, run)
    catalog.stored(second.id, "c" * 64, "a" * 40, 3, True, run)
    assert (catalog.run(run)["new_blobs"], catalog.run(run)["bytes"], catalog.run(run)["versions_stored"]) == (1, 3, 2)
    catalog.close()


def test_a_description_page_revision_is_kept_once(catalogs: Catalogs) -> None:
    path = catalogs.new()
    catalog = Catalog(path)
    first, second = catalog.start_run("w", "full"), None
    page = {"wiki": "w", "title": "File:A.png", "page_id": 1, "rev_id": 7, "text": "{{self|cc0}}"}
    catalog.record_pages(first, [page])
    second = catalog.start_run("w", "full")
    catalog.record_pages(second, [page, {**page, "rev_id": 9, "text": "{{self|cc-by-4.0}}"}])
    assert catalog.page_text("w", "File:A.png") == "{{self|cc-by-4.0}}"  # the newest revision
    assert catalog.conn.execute("SELECT rev_id, first_run FROM pages ORDER BY rev_id").fetchall() == [
        (7, first), (9, second)]


def test_a_second_writer_is_refused(catalogs: Catalogs) -> None:
    path = catalogs.new()
    holder = Catalog(path)
    holder.lock()
    with pytest.raises(CatalogBusy):
        Catalog(path).lock()
    holder.close()
    Catalog(path).lock()  # free again once the holder is done


# The blob store's own tests, run on the local directory and on Swift alike: tests/test_blobstore.py.


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.toml"
    path.write_text(text)
    return path


GOOD = """catalog = "cat.db"
blobs = "blobs"
contact = "ops@example.org"
[wiki.commons]
api_url = "https://commons.example.org/w/api.php"
user = "Bot@app"
password_file = "pw"
"""


def test_config_resolves_paths_and_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pw").write_text("from-file\n")
    config = configuration.load(_config(tmp_path, GOOD))
    wiki = config.wiki(None)
    assert (config.catalog, config.blobs) == (tmp_path / "cat.db", tmp_path / "blobs")
    assert wiki.password == "from-file" and wiki.workers == 4 and wiki.swift is None
    assert "from-file" not in repr(config)
    monkeypatch.setenv("MEDIARESCUE_COMMONS_PASSWORD", "from-env")
    assert configuration.load(_config(tmp_path, GOOD)).wiki("commons").password == "from-env"


@pytest.mark.parametrize("change, message", [
    (("api_url = \"https://commons.example.org/w/api.php\"\n", ""), "wiki.commons.api_url is missing"),
    (("api_url = \"https://commons.example.org/w/api.php\"", "api_url = \"ftp://x/\""), "wiki.commons.api_url must"),
    (("password_file = \"pw\"", "password_file = \"nope\""), "wiki.commons.password_file: cannot read"),
    (("password_file = \"pw\"", "password_env = \"NO_SUCH_VAR_X\""), "NO_SUCH_VAR_X, which is not set"),
    (("contact = \"ops@example.org\"\n", ""), "contact is missing"),
    (("user = \"Bot@app\"", "user = \"Bot@app\"\nworkers = \"8\""), "wiki.commons.workers must be a int"),
    (("user = \"Bot@app\"", "user = \"Bot@app\"\n[wiki.commons.swift]\nuser = \"u\""), "wiki.commons.swift.auth_url"),
    (("[wiki.commons]", "[wiki.commons"), "is not valid TOML"),
])
def test_config_errors_name_the_key(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    (tmp_path / "pw").write_text("x")
    with pytest.raises(configuration.ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        configuration.load(_config(tmp_path, GOOD.replace(*change)))


def test_config_asks_which_wiki_when_there_are_several(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("x")
    two = GOOD + GOOD[GOOD.index("[wiki.commons]"):].replace("commons]", "meta]")
    config = configuration.load(_config(tmp_path, two))
    with pytest.raises(configuration.ConfigError, match="choose one with --wiki"):
        config.wiki(None)
    with pytest.raises(configuration.ConfigError, match="wiki.nope is not in"):
        config.wiki("nope")
    assert config.wiki("meta").name == "meta"


@pytest.mark.parametrize("typed, title", [
    ("Seed history.png", "File:Seed history.png"),
    ("File:Seed_history.png", "File:Seed history.png"),
    ("file:  seed   history.png", "File:Seed history.png"),
    ("Image:ünïcode.jpg", "File:Ünïcode.jpg"),
])
def test_titles_are_made_canonical(typed: str, title: str) -> None:
    assert canonical_title(typed) == title


def test_a_catalog_written_by_release_0_1_0_opens_and_answers_as_it_did(tmp_path: Path) -> None:
    """tests/golden/catalog-0.1.0.sql is a catalog as 0.1.0 wrote it, dumped as SQL text: every later
    layout must open it, read it and write to it, ids and history kept."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript((Path(__file__).parent / "golden" / "catalog-0.1.0.sql").read_text())
    catalog = Catalog.open_existing(path)
    try:
        [moved] = catalog.find(title="File:B.png", wiki="w")
        assert (moved["id"], moved["sha256"], moved["title_at_upload"]) == (1, "1" * 64, "File:A.png")
        assert [r["id"] for r in catalog.find(sha1="c" * 40)] == [3]
        # compact: the title a version was uploaded as is kept only where it is not its title now
        assert dict(catalog.conn.execute("SELECT id, title_at_upload FROM versions")) == {
            1: "File:A.png", 2: None, 3: None}
        assert catalog.find(sha1="c" * 40)[0]["title_at_upload"] == catalog.find(sha1="c" * 40)[0]["title"]
        assert catalog.page_text("w", "File:A.png") == "== Summary ==\nA file."
        assert catalog.last_verification_titles("w") == ["File:B.png"]
        journal = Journal(catalog, "w")
        assert journal.verified(1, "repair-current")["run"] == 1
        journal.close()
        run = catalog.start_run("w", "full")
        [new] = catalog.record_versions(run, [_version("File:New.png", "d" * 40)])
        assert new.id == 4  # ids are never given twice
        catalog.set_run_lag(run, 1.0)  # the columns added since are there
        catalog.record_check("exists", 1, 0, 0, 0)
        assert catalog.last_lag("w")["lag_seconds"] == 1.0 and catalog.check_results()[0]["last_checked"] == 1
        assert catalog.complete_digest("sha1", "c" * 8) == "c" * 40
    finally:
        catalog.close()


def test_digest_prefixes_find_hashes_kept_as_bytes_on_either_engine(catalogs: Catalogs) -> None:
    """A prefix is a range on the 20- or 32-byte column: even and odd lengths, both edges, settled
    and pending versions, one wiki or all."""
    catalog = Catalog(catalogs.new())
    run = catalog.start_run("w", "full")
    a, b, edge_low, edge_high = ("abcdef01" + "0" * 32, "abcdef01" + "1" * 32, "abcdef00" + "f" * 32,
                                 "abcdef0f" + "f" * 32)
    jobs = catalog.record_versions(run, [_version(f"File:{n}.png", s)
                                         for n, s in enumerate((a, b, edge_low, edge_high))])
    catalog.stored(jobs[0].id, "12345678" + "9" * 56, a, 3, True, run)  # b and the edges stay pending
    other = catalog.start_run("x", "full")
    catalog.record_versions(other, [Version("x", "File:X.png", "2026-01-01T00:00:00Z", "abcdef02" + "0" * 32,
                                            "File:X.png", 3, "current")])
    try:
        assert catalog.complete_digest("sha1", "abcdef010") == a  # odd length: half a byte
        assert catalog.complete_digest("sha1", "ABCDEF011") == b  # pending: through the other index
        assert catalog.complete_digest("sha1", "abcdef00") == edge_low
        assert catalog.complete_digest("sha1", "abcdef0f") == edge_high  # the top of the range is in it
        assert catalog.complete_digest("sha1", "abcdef02", wiki="w") is None
        assert catalog.complete_digest("sha1", "abcdef02") == "abcdef02" + "0" * 32
        assert catalog.complete_digest("sha1", "abcdef03") is None
        assert catalog.complete_digest("sha1", a) == a  # whole: as given
        assert catalog.complete_digest("sha256", "123456789") == "12345678" + "9" * 56
        with pytest.raises(ValueError, match="ambiguous: it starts abcdef0100000000, abcdef0111111111"):
            catalog.complete_digest("sha1", "abcdef01")
        with pytest.raises(ValueError, match="at least 8"):
            catalog.complete_digest("sha1", "abcdef0")
    finally:
        catalog.close()


def test_what_status_reads_and_records_on_either_engine(catalogs: Catalogs) -> None:
    catalog = Catalog(catalogs.new())
    try:
        run = catalog.start_run("w", "full")
        stored, failed, _pending = catalog.record_versions(run, [_version(f"File:{n}.png", c * 40)
                                                                 for n, c in enumerate("abc")])
        catalog.stored(stored.id, "1" * 64, "a" * 40, 3, True, run)
        catalog.failed(failed.id, "error", "HTTP 404", run)
        catalog.finish_run(run, "done")
        catalog.set_run_lag(run, 2.5)
        assert catalog.wikis() == ["w"]
        last = catalog.last_run("w", "full", done=True)
        assert (last["id"], last["versions_stored"], last["lag_seconds"]) == (run, 1, 2.5)
        assert catalog.last_run("w", "incremental") is None
        assert catalog.last_lag("w")["lag_seconds"] == 2.5
        assert catalog.backup_counts("w") == {"pending": 1, "error": 1, "unreachable": 0}
        totals = catalog.store_totals()
        assert totals == {"blobs": 1, "bytes": 3, "sealed": 0, "private_plaintext": 0}
        assert all(type(v) is int for v in totals.values())  # not PostgreSQL's NUMERIC sums
        catalog.check_progress("exists", "1" * 64, 1)
        catalog.record_check("exists", 1, 0, 1, 0)
        [check] = catalog.check_results()
        assert (check["mode"], check["last_checked"], check["last_corrupt"], check["position"]) == \
            ("exists", 1, 1, "1" * 64)
        journal = Journal(catalog, "w")
        restore = journal.start_run("a reason", None)
        journal.finish_run(restore, "failed", restored=2, failed=1)
        journal.close()
        assert {k: catalog.last_restore("w")[k] for k in ("id", "status", "restored", "failed")} == \
            {"id": restore, "status": "failed", "restored": 2, "failed": 1}
    finally:
        catalog.close()


def test_a_catalog_made_before_the_status_columns_gets_them_on_either_engine(catalogs: Catalogs) -> None:
    path = catalogs.new()
    catalog = Catalog(path)
    catalog.conn.execute("DROP INDEX versions_failed")
    for table, column in (("runs", "lag_seconds"), ("runs", "versions_stored"), ("checks", "last_run"),
                          ("restore_runs", "failed")):
        catalog.conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    catalog.close()
    catalog = Catalog.open_existing(path)
    try:
        assert {"lag_seconds", "versions_stored"} <= set(catalog.engine.columns(catalog.conn, "runs"))
        indexes = "SELECT indexname FROM pg_indexes" if catalogs.engine == "postgres" else \
            "SELECT name FROM sqlite_master WHERE type = 'index'"
        assert "versions_failed" in {name for (name,) in catalog.conn.execute(indexes)}
        run = catalog.start_run("w", "full")
        catalog.set_run_lag(run, 1.5)
        catalog.record_check("exists", 0, 0, 0, 0)
        assert catalog.last_lag("w")["lag_seconds"] == 1.5 and catalog.check_results()[0]["last_run"]
    finally:
        catalog.close()


def test_a_column_added_since_a_catalog_was_made_is_added_on_either_engine(catalogs: Catalogs) -> None:
    path = catalogs.new()
    catalog = Catalog(path)
    with catalog.conn:
        catalog.conn.execute("ALTER TABLE blobs DROP COLUMN encrypted")  # as a catalog made before the column
    catalog.close()
    catalog = Catalog(path)
    assert "encrypted" in catalog.engine.columns(catalog.conn, "blobs")
    run = catalog.start_run("w", "full")
    [pending] = catalog.record_versions(run, [_version("File:A.png", "a" * 40)])
    catalog.stored(pending.id, "1" * 64, "a" * 40, 3, True, run, encrypted=True)
    assert catalog.blob_record("1" * 64) == {"size": 3, "encrypted": True}
