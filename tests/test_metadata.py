"""The catalog's logical form and its copies in a (local) blob store, without a wiki: the pure
decisions of policies/metadata.py table by table, the round trip of every table through full
copies and deltas, and what recovery refuses. The same on the real test bed, both stores, through
the command: tests/test_metadata_recovery.py."""
from __future__ import annotations

import contextlib
import gzip
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from collector import metadata as kept
from mediarescue.blobstore.local import LocalBlobStore
from mediarescue.blobstore.metadata import MetadataObject
from mediarescue.catalog import Catalog, CatalogError, Version
from mediarescue.catalog.dump import DumpError, _noted, clear_changes, dump, note_range, pending_changes, table_rows
from mediarescue.catalog.engine import Target, dialect_of
from mediarescue.catalog.schema import BOOKKEEPING_TABLES, DUMPED_TABLES
from policies import metadata as policy
from tests.conftest import Catalogs

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _o(seq: int, kind: str, run: int, days: float = 0, size: int = 100) -> policy.Stored:
    return policy.Stored(seq, kind, run, T0 + timedelta(days=days), size)


OBJECTS = [_o(1, "full", 1), _o(2, "delta", 2, 1, 10), _o(3, "delta", 3, 2, 10), _o(4, "full", 4, 3),
           _o(5, "delta", 5, 4, 10), _o(6, "delta", 6, 5, 10)]


@pytest.mark.parametrize("upto, expected", [(None, [4, 5, 6]), (3, [1, 2, 3]), (4, [4]), (1, [1])])
def test_a_chain_is_the_last_full_copy_and_the_deltas_after_it(upto: int | None, expected: list[int]) -> None:
    end = next((o for o in OBJECTS if o.seq == upto), None)
    assert [o.seq for o in policy.chain(OBJECTS, end)] == expected
    assert policy.chain([_o(1, "delta", 1)]) == []


@pytest.mark.parametrize("run, moment, expected", [(3, None, 3), (2, None, 2), (99, None, 6), (0, None, None),
                                                   (None, T0 + timedelta(days=2, hours=1), 3)])
def test_as_of_a_run_or_a_time_is_the_newest_object_written_by_then(run, moment, expected) -> None:
    found = policy.as_of(OBJECTS, run=run, moment=moment)
    assert (found.seq if found else None) == expected


@pytest.mark.parametrize("objects, whole, pending, days, expected", [
    ([], True, 0, 0, "full"),                                              # the first object
    (OBJECTS, True, 5, 5.5, "delta"),                                      # deltas 20 bytes of a 100-byte full
    (OBJECTS, False, 5, 5.5, "full"),                                      # an object of the chain is gone
    (OBJECTS, True, 5, 33, "full"),                                        # the full copy is 30 days old
    (OBJECTS + [_o(7, "delta", 7, 6, 10)], True, 5, 6.5, "full"),          # deltas: 30 bytes of a 100-byte full
    (OBJECTS, True, 300_000, 5.5, "full"),                                 # the changes waiting are a quarter of it
])
def test_the_next_object_is_a_full_copy_when_the_deltas_grow_old_or_large(objects, whole, pending, days,
                                                                          expected) -> None:
    assert policy.next_kind(objects, whole, pending, 1_000_000, T0 + timedelta(days=days), 0.25, 30) == expected


def test_forget_keeps_the_chains_of_kept_snapshots_and_the_newest_one() -> None:
    assert policy.needed(OBJECTS, kept_runs=[6]) == {4, 5, 6}
    assert policy.needed(OBJECTS, kept_runs=[2, 6]) == {1, 2, 4, 5, 6}
    assert policy.needed(OBJECTS, kept_runs=[5]) == {4, 5, 6}


def test_every_table_of_the_schema_is_dumped_or_bookkeeping(catalogs: Catalogs) -> None:
    catalog = Catalog(catalogs.new())
    tables = catalog.engine.tables(catalog.conn) - {"sqlite_sequence"}
    catalog.close()
    assert tables == set(DUMPED_TABLES) | set(BOOKKEEPING_TABLES)  # a new table must say whether recovery needs it


def _version(title: str, sha1: str, status: str = "current") -> Version:
    return Version("w", title, "2026-01-01T00:00:00Z", sha1, title, 3, status, private=int(status == "deleted"))


def _rows(target: Target) -> dict[str, list[tuple]]:
    """Every dumped table's rows, and the id counters: what two catalogs are compared by."""
    engine = dialect_of(target)
    with contextlib.closing(engine.connect()) as db:
        rows = {t: table_rows(db, engine, t) for t in DUMPED_TABLES}
        rows["sequences"] = sorted(engine.sequences(db).items())
    return rows


def _history(catalog: Catalog, store: LocalBlobStore) -> list[MetadataObject]:
    """Three runs touching every table kind: new versions and pages, a move, a state row forgotten,
    a blob, a verification, a check position; an object after each."""
    objects = []
    one = catalog.start_run("w", "full")
    [a, b] = catalog.record_versions(one, [_version("File:A.png", "a" * 40), _version("File:Gone.png", "b" * 40)])
    catalog.record_pages(one, [{"wiki": "w", "title": "File:A.png", "rev_id": 7, "text": "licence ✓"}])
    catalog.stored(a.id, "c" * 64, "a" * 40, 3, True, one)
    catalog.finish_run(one, "done")
    objects.append(kept.save(catalog, store, kept.Settings(full_share=10)))
    two = catalog.start_run("w", "incremental")
    catalog.change_versions(two, {a.id: {"title": "File:A2.png"}, b.id: {"status": "deleted", "private": 1}})
    catalog.record_verification("w", 2, 2, [{"title": "File:A2.png", "problem": "current-missing"}])
    catalog.check_progress("exists", "c" * 64, 1)
    catalog.finish_run(two, "done")
    objects.append(kept.save(catalog, store, kept.Settings(full_share=10)))
    three = catalog.start_run("w", "incremental")
    catalog.forget([(a.id, two)], [one], [], "2026-02-01T00:00:00Z")  # a state row deleted: a deletion in a delta
    catalog.finish_run(three, "failed")
    objects.append(kept.save(catalog, store, kept.Settings(full_share=10)))
    return objects


def test_full_copies_and_deltas_give_back_every_table_row_for_row(catalogs: Catalogs) -> None:
    path = catalogs.new()
    tmp_path = catalogs.tmp_path
    catalog = Catalog(path)
    store = LocalBlobStore(tmp_path / "blobs", encryption_key=bytes(range(32)))
    objects = _history(catalog, store)
    assert [o.kind for o in objects] == ["full", "delta", "delta"] and all(o.encrypted for o in objects)
    assert catalog.conn.execute("SELECT COUNT(*) FROM metadata_changes").fetchone()[0] == 0
    kept.recover(store, recovered := catalogs.new("r"))
    assert _rows(recovered) == _rows(path)
    early = kept.recover(store, early_path := catalogs.new("early"), as_of=1)
    assert early["objects"] == [objects[0].name]
    with contextlib.closing(dialect_of(early_path).connect()) as db:
        assert db.execute("SELECT title FROM versions ORDER BY id").fetchall() == [("File:A.png",), ("File:Gone.png",)]
        assert db.execute("SELECT COUNT(*) FROM catalog_identity").fetchone()[0] == 0  # a chain of its own
    with pytest.raises(CatalogError, match="never overwritten"):
        kept.recover(store, recovered)


def test_a_delta_with_a_blob_pruned_and_stored_again_applies_on_either_engine(catalogs: Catalogs) -> None:
    """The blobs row goes (prune) and comes back under a new key with the same sha256: the delta
    must remove the old row before it adds the new one, or PostgreSQL refuses the second sha256."""
    path = catalogs.new()
    catalog = Catalog(path)
    store = LocalBlobStore(catalogs.tmp_path / "blobs")
    _history(catalog, store)
    four = catalog.start_run("w", "full")
    catalog.forget([], [], ["c" * 64], "2026-03-01T00:00:00Z")
    [again] = catalog.record_versions(four, [_version("File:A2.png", "a" * 40)])  # pruned: pending again
    catalog.stored(again.id, "c" * 64, "a" * 40, 3, True, four)
    catalog.finish_run(four, "done")
    assert kept.save(catalog, store, kept.Settings(full_share=10)).kind == "delta"
    kept.recover(store, recovered := catalogs.new("r"))
    assert _rows(recovered) == _rows(path)


def test_a_corrupt_object_is_never_trusted_and_leaves_nothing(catalogs: Catalogs) -> None:
    path = catalogs.new()
    tmp_path = catalogs.tmp_path
    catalog = Catalog(path)
    store = LocalBlobStore(tmp_path / "blobs")  # no key: the bytes are plain gzip, altered below
    objects = _history(catalog, store)
    path = tmp_path / "blobs" / "metadata" / objects[1].name
    text = gzip.decompress(path.read_bytes()).replace(b"File:A2.png", b"File:XX.png")
    path.write_bytes(gzip.compress(text))  # a valid dump, but not the bytes its name promises
    with pytest.raises(kept.RecoveryError, match="not to the sha256 its name holds"):
        kept.recover(store, recovered := catalogs.new("r"))
    assert not list(tmp_path.glob("*r.db*"))
    with pytest.raises(CatalogError, match="run `mediarescue backup` first"):  # nothing made
        Catalog.open_existing(recovered)
    found = kept.check_metadata(catalog, store)
    assert [p["problem"] for p in found.problems] == ["metadata-corrupt"]
    path.write_bytes(gzip.compress(text.rsplit(b"\n", 2)[0] + b"\n"))  # cut short before its end line
    with pytest.raises(kept.RecoveryError):
        kept.recover(store, recovered)


def test_a_chain_missing_an_object_is_followed_by_a_full_copy(catalogs: Catalogs) -> None:
    path = catalogs.new()
    tmp_path = catalogs.tmp_path
    catalog = Catalog(path)
    store = LocalBlobStore(tmp_path / "blobs")
    objects = _history(catalog, store)
    store.remove_metadata(objects[1])
    assert [p["problem"] for p in kept.check_metadata(catalog, store).problems] == ["metadata-missing"]
    run = catalog.start_run("w", "incremental")
    catalog.finish_run(run, "done")
    assert kept.save(catalog, store).kind == "full"
    kept.recover(store, recovered := catalogs.new("r"))
    assert _rows(recovered) == _rows(path)


def test_import_refuses_what_is_no_full_export(tmp_path: Path) -> None:
    (tmp_path / "not.gz").write_bytes(b"plain text")
    with pytest.raises(DumpError, match="not whole gzip"):
        kept.import_file(tmp_path / "not.gz", tmp_path / "i.db")
    (tmp_path / "other.gz").write_bytes(gzip.compress(b'{"format": "something else"}\n'))
    with pytest.raises(DumpError, match="not a mediarescue catalog dump"):
        kept.import_file(tmp_path / "other.gz", tmp_path / "i.db")
    assert not (tmp_path / "i.db").exists()


def test_an_sqlite_export_imports_into_postgresql_and_back_the_same(tmp_path: Path, postgres_bed) -> None:
    """The logical form is the engines' common one: SQLite → PostgreSQL → SQLite gives every row back."""
    catalog = Catalog(tmp_path / "c.db")
    _history(catalog, LocalBlobStore(tmp_path / "blobs"))
    kept.export(catalog, tmp_path / "from-sqlite.gz")
    into = Catalogs("postgres", tmp_path, postgres_bed).new("into")
    kept.import_file(tmp_path / "from-sqlite.gz", into)
    assert _rows(into) == _rows(tmp_path / "c.db")
    moved = Catalog.open_existing(into)
    assert [r["title"] for r in moved.find(title="File:A2.png")] == ["File:A2.png"]
    [new] = moved.record_versions(moved.start_run("w", "full"), [_version("File:N.png", "e" * 40)])
    assert new.id == 3 and moved.newest_run() == 4  # ids go on after the export's
    kept.export(moved, tmp_path / "from-postgres.gz")
    kept.import_file(tmp_path / "from-postgres.gz", tmp_path / "back.db")
    assert _rows(tmp_path / "back.db") == _rows(into)


def _notes(catalog: Catalog, table: str) -> list[tuple[int, int]]:
    return [tuple(r) for r in catalog.conn.execute(
        "SELECT k1, k2 FROM metadata_changes WHERE tbl = ? ORDER BY seq", (table,)).fetchall()]


def test_a_batch_of_new_versions_is_noted_as_one_range_and_its_delta_gives_every_row_back(catalogs: Catalogs) -> None:
    """Versions written after a full copy are in the store only through the delta: a batch noted
    as its id range (and nothing else: its INSERT fires no trigger) must give back each row, as
    it is now (some stored since, one moved), and count as its length for the full-or-delta choice."""
    path = catalogs.new()
    catalog = Catalog(path)
    store = LocalBlobStore(catalogs.tmp_path / "blobs")
    _history(catalog, store)
    four = catalog.start_run("w", "full")
    first = catalog.record_versions(four, [_version(f"File:N{i}.png", f"{i:040x}") for i in range(700)])
    known = _version("File:A2.png", "a" * 40)._replace(comment="new")  # id 1, stored; changed: refreshed
    second = catalog.record_versions(four, [_version(f"File:M{i}.png", f"{i + 1000:040x}") for i in range(300)]
                                     + [known])
    # in any order within the batch's transaction (PostgreSQL notes the refreshed row before the range)
    assert sorted(_notes(catalog, "versions")) == [(1, 0), (first[0].id, first[-1].id), (second[0].id, second[-1].id)]
    assert second[0].id == first[-1].id + 1 and len(first) == 700 and len(second) == 300
    others = catalog.conn.execute("SELECT COUNT(*) FROM metadata_changes WHERE tbl != 'versions'").fetchone()[0]
    pending = pending_changes(catalog.conn)
    assert pending == others + 1000 + 1 and isinstance(pending, int)  # ranges by their length
    catalog.stored(first[5].id, "d" * 64, f"{5:040x}", 3, True, four)  # a key in a range, noted alone as well
    catalog.change_versions(four, {second[1].id: {"title": "File:Moved.png"}})
    catalog.finish_run(four, "done")
    assert kept.save(catalog, store, kept.Settings(full_share=10)).kind == "delta"
    assert pending_changes(catalog.conn) == 0
    kept.recover(store, recovered := catalogs.new("r"))
    assert _rows(recovered) == _rows(path)


def test_versions_seen_again_are_noted_as_runs_of_ids_and_their_delta_gives_every_row_back(catalogs: Catalogs) -> None:
    """A full run refreshes every version it sees again changed (what the wiki says now): on
    PostgreSQL its statement trigger notes each run of consecutive ids as one range, not a row each
    (SQLite's row trigger notes a row each); either way the delta brings back every row as it is."""
    path = catalogs.new()
    catalog = Catalog(path)
    store = LocalBlobStore(catalogs.tmp_path / "blobs")
    one = catalog.start_run("w", "full")
    listed = [_version(f"File:N{i:03}.png", f"{i:040x}") for i in range(300)]
    ids = [p.id for p in catalog.record_versions(one, listed)]
    catalog.finish_run(one, "done")
    kept.save(catalog, store, kept.Settings(full_share=10))
    two = catalog.start_run("w", "full")
    again = listed[:100] + listed[150:]  # ids 1-100 and 151-300 refreshed, in one statement
    catalog.record_versions(two, [v._replace(comment="seen again") for v in again])
    notes = _notes(catalog, "versions")
    if catalogs.engine == "postgres":
        assert sorted(notes) == [(ids[0], ids[99]), (ids[150], ids[299])]
    else:
        assert sorted(notes) == [(ids[i], 0) for i in range(300) if not 100 <= i < 150]
    catalog.finish_run(two, "done")
    assert kept.save(catalog, store, kept.Settings(full_share=10)).kind == "delta"
    kept.recover(store, recovered := catalogs.new("r"))
    assert _rows(recovered) == _rows(path)
    comments = catalog.conn.execute("SELECT comment FROM versions ORDER BY id").fetchall()
    assert [c for (c,) in comments].count("seen again") == 250


def test_an_older_postgres_catalog_gets_the_trigger_functions_of_this_version_when_opened(catalogs: Catalogs) -> None:
    if catalogs.engine != "postgres":
        pytest.skip("PostgreSQL's statement triggers: SQLite's note a row each")
    path = catalogs.new()
    catalog = Catalog(path)
    catalog.conn.execute(  # as tracking() made it before: a row a key
        "CREATE OR REPLACE FUNCTION versions_update_noted() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO metadata_changes (tbl, k1, k2) SELECT 'versions', id, 0 FROM changed; RETURN NULL; END $$")
    run = catalog.start_run("w", "full")
    listed = [_version(f"File:N{i}.png", f"{i:040x}") for i in range(3)]
    catalog.record_versions(run, listed)
    catalog.conn.execute("DELETE FROM metadata_changes")
    catalog.record_versions(run, [v._replace(comment="changed") for v in listed])
    assert len(_notes(catalog, "versions")) == 3
    catalog.close()
    catalog = Catalog.open_existing(path)
    catalog.conn.execute("DELETE FROM metadata_changes")
    ids = [p.id for p in catalog.record_versions(catalog.start_run("w", "full"), listed)]  # changed back
    assert _notes(catalog, "versions") == [(min(ids), max(ids))]


def test_an_older_catalog_loses_its_versions_insert_trigger_when_opened(catalogs: Catalogs) -> None:
    path = catalogs.new()
    catalog = Catalog(path)
    if catalogs.engine == "sqlite":  # as tracking() made it before
        catalog.conn.execute("CREATE TRIGGER versions_insert_noted AFTER INSERT ON versions BEGIN INSERT INTO "
                             "metadata_changes (tbl, k1, k2) VALUES ('versions', NEW.id, 0); END;")
        triggers = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'versions'"
    else:
        catalog.conn.execute(
            "CREATE FUNCTION versions_insert_noted() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "INSERT INTO metadata_changes (tbl, k1, k2) SELECT 'versions', id, 0 FROM changed; RETURN NULL; END $$")
        catalog.conn.execute("CREATE TRIGGER versions_insert_noted AFTER INSERT ON versions REFERENCING NEW TABLE "
                             "AS changed FOR EACH STATEMENT EXECUTE FUNCTION versions_insert_noted()")
        triggers = "SELECT tgname FROM pg_trigger WHERE tgrelid = 'versions'::regclass AND NOT tgisinternal"
    assert "versions_insert_noted" in {name for (name,) in catalog.conn.execute(triggers)}
    catalog.close()
    catalog = Catalog.open_existing(path)
    assert {name for (name,) in catalog.conn.execute(triggers)} == {"versions_update_noted", "versions_delete_noted"}
    run = catalog.start_run("w", "full")
    new = catalog.record_versions(run, [_version(f"File:N{i}.png", f"{i:040x}") for i in range(3)])
    assert _notes(catalog, "versions") == [(new[0].id, new[-1].id)]  # the range alone, no row a version


def test_a_change_committed_after_a_dump_began_stays_pending_for_the_next(postgres_bed, tmp_path: Path) -> None:
    """On PostgreSQL a writer can take a seq, then commit after a dump's snapshot was taken and after
    a higher seq committed: the dump holds neither its row nor its note, so clearing what the dump
    saw must leave that note for the next one (clearing "up to the highest seq" lost it)."""
    path = Catalogs("postgres", tmp_path, postgres_bed).new()
    catalog, late = Catalog(path), Catalog(path)
    store = LocalBlobStore(tmp_path / "blobs")
    _history(catalog, store)
    with late.conn:
        note_range(late.conn, "versions", 7001, 7002)  # the lower seq, not committed yet
        with catalog.conn:
            note_range(catalog.conn, "versions", 8001, 8002)  # a higher seq, committed
        info, chunks = dump(catalog.engine, "delta")
        assert b"".join(chunks)  # the dump's snapshot is taken, read to its end
    clear_changes(catalog.conn, info.changes_seen)  # once the dump is safe: after the late commit
    assert _notes(catalog, "versions") == [(7001, 7002)]


def test_a_delta_reads_the_rows_of_a_range_by_their_key_never_by_a_scan(tmp_path: Path) -> None:
    """SQLite's planner, left to itself, scans all of versions to match ranges (it knows no sizes):
    a delta after a day's run must cost its changes, not the catalog."""
    catalog = Catalog(tmp_path / "c.db")
    changed, match, _ = _noted(catalog.engine, "versions", ("id",))
    plan = [row[3] for row in catalog.conn.execute(
        f"EXPLAIN QUERY PLAN SELECT t.* FROM ({changed}) AS c JOIN versions AS t ON {match}", ("versions", 1) * 2)]
    assert not [step for step in plan if step.startswith("SCAN t")], plan
    assert "SEARCH t USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)" in plan
