"""Paths and catalogs are what they claim (issue 16): owner-only modes whatever the umask, sha256s
that are sha256s, read-only verbs that refuse what is not a catalog of ours without writing a
byte, and one-line errors (exit 2) for bad input instead of tracebacks. Real files, the real
command; none of these needs a wiki (the config names one nobody listens at: a verb that opened
the catalog before contacting it, as it must, never finds out)."""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediarescue import config as configuration
from mediarescue.blobstore.base import BadDigest
from mediarescue.blobstore.crypto import generate_key, parse_key
from mediarescue.blobstore.local import LocalBlobStore
from mediarescue.blobstore.swift import SwiftBlobStore
from mediarescue.catalog import Catalog, CatalogError, Version
from restorer.restore import blob_file
from tests.conftest import MEDIARESCUE, mediarescue

NOBODY = "http://127.0.0.1:9/api.php"  # the discard port: a verb that contacts the wiki fails differently


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    before = os.umask(0o022)
    yield
    os.umask(before)


def _config(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "password").write_text("secret")
    config = tmp_path / "m.toml"
    config.write_text(f'catalog = "catalog.db"\nblobs = "blobs"\ncontact = "tests"\n{extra}[wiki.w]\n'
                      f'api_url = "{NOBODY}"\nuser = "Bot@app"\npassword_file = "password"\n')
    return config


def _one_line_error(done: subprocess.CompletedProcess) -> str:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert len(lines) == 1 and lines[0].startswith("mediarescue: error:") and "Traceback" not in done.stderr, \
        done.stderr
    return lines[0]


def _catalogue(catalog: Catalog, rows: list[tuple[str, bytes, bool]], store: LocalBlobStore | None = None
               ) -> list[int]:
    """Versions of `rows` (title, bytes, private), stored in `store` when given."""
    run = catalog.start_run("w", "full")
    pending = catalog.record_versions(run, [
        Version("w", title, "2026-01-01T00:00:00Z", hashlib.sha1(data).hexdigest(), title, len(data),
                "deleted" if private else "current", private=int(private)) for title, data, private in rows])
    for job, (_title, data, private) in zip(pending, rows):
        if store:
            stored = store.put(iter([data]), expect_sha1=job.version.sha1, private=private)
            catalog.stored(job.id, stored.sha256, stored.sha1, stored.size, stored.new, run, encrypted=stored.encrypted)
    catalog.finish_run(run, "done")
    return [job.id for job in pending]


# --- owner-only modes ---

def test_the_catalog_and_its_wal_and_shm_are_owner_only_under_umask_022(tmp_path: Path, umask_022: None) -> None:
    catalog = Catalog(tmp_path / "new folder" / "catalog.db")
    _catalogue(catalog, [("File:A.png", b"a", False)])
    assert _mode(tmp_path / "new folder") == 0o700
    for name in ("catalog.db", "catalog.db-wal", "catalog.db-shm"):
        assert _mode(tmp_path / "new folder" / name) == 0o600, name
    catalog.lock()
    assert _mode(tmp_path / "new folder" / "catalog.db.lock") == 0o600
    catalog.close()


def test_a_catalog_made_before_is_tightened_by_the_writer(tmp_path: Path, umask_022: None) -> None:
    Catalog(tmp_path / "catalog.db").close()
    (tmp_path / "catalog.db").chmod(0o644)
    Catalog.open_existing(tmp_path / "catalog.db").close()  # a reader changes nothing
    assert _mode(tmp_path / "catalog.db") == 0o644
    Catalog(tmp_path / "catalog.db").close()
    assert _mode(tmp_path / "catalog.db") == 0o600


def test_spool_and_quarantine_folders_are_owner_only_under_umask_022(tmp_path: Path, umask_022: None) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    digest = store.put(iter([b"bytes"])).sha256
    store.quarantine(digest)
    assert _mode(tmp_path / "blobs" / "tmp") == 0o700 and _mode(tmp_path / "blobs" / "quarantine") == 0o700
    assert all(_mode(p) == 0o600 for p in (tmp_path / "blobs" / "quarantine").iterdir())
    (tmp_path / "spool").mkdir(mode=0o755)  # an existing folder of ours is tightened
    SwiftBlobStore("https://swift.invalid/auth/v1.0", "u", "k", spool=tmp_path / "spool")  # connects lazily
    assert _mode(tmp_path / "spool") == 0o700


# --- a sha256 is a sha256 ---

def test_the_blob_stores_refuse_what_is_not_a_sha256(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    (tmp_path / "outside").write_text("not yours")
    for crafted in ("../../outside", "../" * 3 + "x" * 55, "A" * 64, "a" * 63, "a" * 64 + "/"):
        for call in (store.path, store.has, store.open, store.quarantine):
            with pytest.raises(BadDigest):
                call(crafted)
        with pytest.raises(BadDigest):
            store.remove(crafted, encrypted=False)
        with pytest.raises(BadDigest):
            blob_file(store, tmp_path)(crafted)
    swift = SwiftBlobStore("https://swift.invalid/auth/v1.0", "u", "k", spool=tmp_path / "spool")
    with pytest.raises(BadDigest):
        swift.has("../../outside")  # refused before any request
    assert (tmp_path / "outside").read_text() == "not yours"


def _crafted(tmp_path: Path) -> tuple[Path, list[Path]]:
    """A catalog whose version row and orphan blobs row name files outside the store as their
    "sha256", as a tampered or foreign catalog might: the store's path() joins root/ab/cd/<sha256>,
    and "..//" makes the rest an absolute path."""
    config = _config(tmp_path)
    store = LocalBlobStore(tmp_path / "blobs")
    catalog = Catalog(tmp_path / "catalog.db")
    _catalogue(catalog, [("File:Good.png", b"good bytes", False), ("File:Crafted.png", b"crafted", False)], store)
    victims = [tmp_path / "victim-of-check", tmp_path / "victim-of-prune"]
    for victim in victims:
        victim.write_text("outside the store")
    bad = ["..//" + str(victim) for victim in victims]
    assert os.path.samefile(tmp_path / "blobs" / bad[0][:2] / bad[0][2:4] / bad[0], victims[0])  # what it names
    with catalog.conn:
        catalog.conn.execute("UPDATE versions SET sha256 = ? WHERE title = 'File:Crafted.png'", (bad[0],))
        catalog.conn.execute("INSERT INTO blobs (sha256, sha1, size, stored) VALUES (?, 'x', 17, 'then')", (bad[1],))
    catalog.close()
    return config, victims


@pytest.mark.parametrize("verb", [("check",), ("check", "--read-data"), ("forget", "--keep-last", "1", "--prune",
                                                                          "--yes"), ("find", "File:Crafted.png")])
def test_a_crafted_catalog_row_touches_nothing_outside_the_store(tmp_path: Path, verb: tuple[str, ...]) -> None:
    config, victims = _crafted(tmp_path)
    done = mediarescue(config, *verb)
    assert "not 64 hex digits" in _one_line_error(done)
    assert all(victim.read_text() == "outside the store" for victim in victims)
    assert not (tmp_path / "blobs" / "quarantine").exists()


def test_restore_refuses_a_crafted_row_before_it_uploads_anything(tmp_path: Path) -> None:
    _crafted(tmp_path)
    catalog = Catalog.open_existing(tmp_path / "catalog.db")
    with pytest.raises(CatalogError, match="not 64 hex digits"):
        catalog.find(title="File:Crafted.png", wiki="w")  # plan and restore decide from these rows
    assert [r["title"] for r in catalog.find(title="File:Good.png", wiki="w")] == ["File:Good.png"]


# --- read-only verbs open an existing catalog of ours, and write nothing otherwise ---

def _foreign(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        db.execute("INSERT INTO notes (text) VALUES ('not a catalog')")
    sqlite3.connect(path).close()


NOT_CATALOGS = {
    "missing": lambda p: None,
    "empty": lambda p: p.write_bytes(b""),
    "foreign": _foreign,
    "folder": lambda p: p.mkdir(),
    "text": lambda p: p.write_text("catalog.db is a text file\n" * 20),
}
VERBS = {
    "find": ("find", "File:A.png"), "snapshots": ("snapshots",), "check": ("check",),
    "forget": ("forget", "--keep-last", "1"), "verify": ("verify", "titles.txt"), "plan": ("plan", "titles.txt"),
    "restore": ("restore", "--yes", "titles.txt"), "backup": ("backup",),
}


def _snapshot(folder: Path) -> dict[str, tuple]:
    return {str(p.relative_to(folder)): (p.is_dir(), p.stat().st_size, p.stat().st_mtime_ns, _mode(p))
            for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("verb, case", [(verb, case) for verb in VERBS for case in NOT_CATALOGS
                                         if verb != "backup" or case not in ("missing", "empty")])  # backup makes one
def test_a_verb_refuses_what_is_not_a_catalog_and_writes_nothing(tmp_path: Path, verb: str, case: str) -> None:
    config = _config(tmp_path)
    config.write_text(config.read_text().replace('"catalog.db"', '"sub/catalog.db"'))
    (tmp_path / "titles.txt").write_text("File:A.png\n")
    if case != "missing":
        (tmp_path / "sub").mkdir()
        NOT_CATALOGS[case](tmp_path / "sub" / "catalog.db")
    before = _snapshot(tmp_path)
    args = [str(tmp_path / a) if a == "titles.txt" else a for a in VERBS[verb]]
    message = _one_line_error(mediarescue(config, *args))
    assert "catalog" in message and "sub/catalog.db" in message
    assert _snapshot(tmp_path) == before  # no folder, no schema, no -wal, no lock file
    if case == "foreign":
        with sqlite3.connect(tmp_path / "sub" / "catalog.db") as db:
            assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)


def test_backup_still_makes_a_new_catalog(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "deep" / "er" / "catalog.db")
    assert {"runs", "versions"} <= {t for (t,) in catalog.conn.execute("SELECT name FROM sqlite_master")}
    catalog.close()
    (tmp_path / "empty.db").write_bytes(b"")
    Catalog(tmp_path / "empty.db").close()  # an empty file holds nothing to lose
    assert Catalog.open_existing(tmp_path / "empty.db").find(title="File:A.png") == []


# --- verify of nothing keeps the last findings ---

@pytest.mark.parametrize("titles", ["", "# only a comment\n\n", "x]] [[not a title\n"])
def test_verify_of_no_titles_is_a_usage_error_and_keeps_the_findings(tmp_path: Path, titles: str) -> None:
    config = _config(tmp_path)
    catalog = Catalog(tmp_path / "catalog.db")
    catalog.record_verification("w", 3, 4, [{"title": "File:Broken.png", "problem": "current-missing"}])
    catalog.close()
    (tmp_path / "titles.txt").write_text(titles)
    done = mediarescue(config, "verify", str(tmp_path / "titles.txt"))
    lines = done.stderr.strip().splitlines()  # the input errors first, one a line
    assert done.returncode == 2 and "Traceback" not in done.stderr and len(lines) == 1 + ("[[" in titles)
    assert lines[-1].startswith(f"mediarescue: error: {tmp_path / 'titles.txt'} holds no file title")
    catalog = Catalog.open_existing(tmp_path / "catalog.db")
    assert catalog.last_verification_titles("w") == ["File:Broken.png"]
    assert catalog.conn.execute("SELECT COUNT(*) FROM verifications").fetchone() == (1,)


# --- one line, exit 2, for bad input ---

def _run_bytes(config: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    done = subprocess.run([str(MEDIARESCUE), "--config", str(config), *args], input=stdin, capture_output=True)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    config = _config(tmp_path)
    Catalog(tmp_path / "catalog.db").close()
    (tmp_path / "latin1.txt").write_bytes("File:Caf\xe9.png\n".encode("latin-1"))
    assert "not UTF-8" in _one_line_error(_run_bytes(config, "plan", str(tmp_path / "latin1.txt")))
    assert "standard input is not UTF-8" in _one_line_error(_run_bytes(config, "verify", "-", stdin=b"File:\xff.png"))
    (tmp_path / "latin1.toml").write_bytes(b'catalog = "caf\xe9.db"\n')
    assert "not UTF-8" in _one_line_error(_run_bytes(tmp_path / "latin1.toml", "snapshots"))
    (tmp_path / "folder.toml").mkdir()
    assert "is a folder" in _one_line_error(_run_bytes(tmp_path / "folder.toml", "snapshots"))
    (tmp_path / "password-latin1").write_bytes(b"caf\xe9")
    config.write_text(config.read_text().replace('"password"', '"password-latin1"'))
    assert "password_file" in _one_line_error(_run_bytes(config, "snapshots"))
    config.write_text(config.read_text().replace('"password-latin1"', '"password"') + "maxlag = -1\n")
    assert "wiki.w.maxlag must be 0 or more" in _one_line_error(_run_bytes(config, "snapshots"))


def test_a_blob_directory_that_cannot_be_made_is_a_config_error(tmp_path: Path) -> None:
    config = _config(tmp_path)
    (tmp_path / "blobs").write_text("a file where the blob folder should be")
    Catalog(tmp_path / "catalog.db").close()
    for verb in (("check",), ("backup",)):
        assert "blobs: cannot use" in _one_line_error(mediarescue(config, *verb))


# --- find shows no private location; a wrong key is named where it came from ---

def test_find_never_shows_where_deleted_bytes_were_read_from(tmp_path: Path) -> None:
    config = _config(tmp_path)
    catalog = Catalog(tmp_path / "catalog.db")
    deleted, current = _catalogue(catalog, [("File:Gone.png", b"deleted", True), ("File:Gone.png", b"live", False)])
    where = "wikipedia-commons-local-deleted.k0/k/0/k0x9qzt8pvbc2xk1y4u3n5m7q6w8e0r2.png"
    catalog.failed(deleted, "error", f"no object {where} in Swift", 1)  # what backups recorded before
    catalog.failed(current, "error", "no object wikipedia-commons-local-public.ab/a/ab/Gone.png in Swift", 1)
    catalog.close()
    table = mediarescue(config, "find", "File:Gone.png")
    found = mediarescue(config, "find", "File:Gone.png", "--json")
    assert table.returncode == found.returncode == 0
    rows = {r["id"]: r for r in json.loads(found.stdout)}
    assert rows[deleted]["error"] == "no object [private location] in Swift"
    assert "local-public.ab/a/ab/Gone.png" in rows[current]["error"]  # public locations are no secret
    for output in (table.stdout, found.stdout):
        assert "local-deleted" not in output and "k0x9qzt8" not in output


def test_a_wrong_key_from_the_environment_is_named_as_such(tmp_path: Path) -> None:
    (tmp_path / "key").write_text(generate_key() + "\n")
    config = _config(tmp_path, f'encryption_key_file = "{tmp_path / "key"}"\n')
    store = LocalBlobStore(tmp_path / "blobs", encryption_key=parse_key((tmp_path / "key").read_text()))
    _catalogue(Catalog(tmp_path / "catalog.db"), [("File:Deleted.png", b"private bytes", True)], store)
    done = mediarescue(config, "check", "--read-data", env={"MEDIARESCUE_ENCRYPTION_KEY": generate_key()})
    message = _one_line_error(done)
    assert "another key than $MEDIARESCUE_ENCRYPTION_KEY holds" in message and "encryption_key_file" not in message
    (tmp_path / "key2").write_text(generate_key() + "\n")  # the message of a wrong key file stays as it was
    config.write_text(config.read_text().replace(str(tmp_path / "key"), str(tmp_path / "key2")))
    assert "another key than encryption_key_file holds" in _one_line_error(mediarescue(config, "check", "--read-data"))


def test_url_rewrite_is_read_from_the_config_and_checked(tmp_path: Path) -> None:
    base = 'catalog = "c.db"\nblobs = "b"\ncontact = "x"\n[wiki.w]\napi_url = "https://w.example/api.php"\n' \
           'user = "U@a"\npassword_env = "HOME"\n'
    path = tmp_path / "m.toml"
    path.write_text(base + 'url_rewrite = "https://up.example=http://127.0.0.1:9"\n')
    assert configuration.load(path).wiki("w").url_rewrite == ("https://up.example", "http://127.0.0.1:9")
    path.write_text(base + 'url_rewrite = "nonsense"\n')
    with pytest.raises(configuration.ConfigError, match="url_rewrite"):
        configuration.load(path)
