"""`mediarescue check` through the real command: a blob corrupted on disk, a blob deleted in Swift,
a check cut short that resumes, private content sealed at rest by a whole backup of the test bed."""
from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import uuid
from pathlib import Path

import pytest

from collector import metadata as kept_metadata
from collector.checker import check
from mediarescue.blobstore.base import BlobStore
from mediarescue.blobstore.crypto import KeyRequired, generate_key, parse_key
from mediarescue.blobstore.local import LocalBlobStore
from mediarescue.blobstore.swift import SwiftBlobStore
from mediarescue.catalog import Catalog, Version
from testbed.bed import TestBed
from testbed.seed import SeedResult
from tests.conftest import mediarescue


def _mediarescue(config: Path, *args: str) -> tuple[int, dict | str]:
    done = mediarescue(config, *args)
    if "--json" in args and done.stdout.strip():
        return done.returncode, json.loads(done.stdout)
    return done.returncode, done.stdout + done.stderr


def _key_file(path: Path, key: str | None = None) -> Path:
    path.write_text((key or generate_key()) + "\n")
    path.chmod(0o600)
    return path


def _local_setup(tmp_path: Path, contents: list[tuple[bytes, bool]], key_file: Path | None = None
                 ) -> tuple[Path, LocalBlobStore, list[str]]:
    """A catalog and a local blob store holding `contents` (bytes, private), as a backup leaves
    them, and a config naming both; returns the sha256 of each content."""
    config = tmp_path / "m.toml"
    config.write_text('catalog = "catalog.db"\nblobs = "blobs"\ncontact = "tests"\n'
                      + (f'encryption_key_file = "{key_file}"\n' if key_file else ""))
    store = LocalBlobStore(tmp_path / "blobs", encryption_key=parse_key(key_file.read_text()) if key_file else None)
    return config, store, _catalogue(Catalog(tmp_path / "catalog.db"), store, contents)


def _catalogue(catalog: Catalog, store: BlobStore, contents: list[tuple[bytes, bool]]) -> list[str]:
    run = catalog.start_run("w", "full")
    pending = catalog.record_versions(run, [
        Version("w", f"File:Blob {n}.png", "2026-01-01T00:00:00Z", hashlib.sha1(data).hexdigest(), f"File:Blob {n}.png",
                len(data), "deleted" if private else "current", private=int(private))
        for n, (data, private) in enumerate(contents)])
    digests = []
    for job, (data, private) in zip(pending, contents):
        stored = store.put(iter([data]), expect_sha1=job.version.sha1, private=private)
        catalog.stored(job.id, stored.sha256, stored.sha1, stored.size, stored.new, run, encrypted=stored.encrypted)
        digests.append(stored.sha256)
    catalog.finish_run(run, "done")
    kept_metadata.save(catalog, store)  # as the backup run does at its end: check finds the store's copy
    catalog.close()
    return digests


def _backup_status(catalog: Path) -> dict[str, str]:
    with sqlite3.connect(catalog) as db:
        return dict(db.execute("SELECT title, backup_status FROM versions"))


def _state(root: Path) -> tuple:
    """What a check must not change: every file of the store, the versions' backup state, the blobs table."""
    files = sorted((str(f.relative_to(root)), f.read_bytes()) for f in (root / "blobs").rglob("*") if f.is_file())
    with sqlite3.connect(root / "catalog.db") as db:
        return (files, db.execute("SELECT id, backup_status, error FROM versions ORDER BY id").fetchall(),
                db.execute("SELECT sha256, encrypted FROM blobs ORDER BY sha256").fetchall())


def test_check_changes_nothing_and_check_repair_yes_repairs_exactly_what_the_plan_listed(tmp_path: Path) -> None:
    secret = b"private, stored before a key was configured " * 20
    contents = [(f"content {n} ".encode() * 50, False) for n in range(3)] + [(secret, True)]
    config, store, digests = _local_setup(tmp_path, contents)
    config.write_text(config.read_text() + f'encryption_key_file = "{_key_file(tmp_path / "key")}"\n')
    assert _mediarescue(config, "check")[0] == 0
    flipped, lost, private = store.path(digests[1]), store.path(digests[2]), digests[3]
    flipped.write_bytes(b"X" + flipped.read_bytes()[1:])  # same size: only reading it shows it
    lost.unlink()
    before = _state(tmp_path)

    code, result = _mediarescue(config, "check", "--read-data", "--json")
    assert code == 1 and [p["sha256"] for p in result["corrupt"]] == [digests[1]]
    assert [p["sha256"] for p in result["missing"]] == [digests[2]]
    assert "the bytes hash to" in result["corrupt"][0]["detail"]
    plan = sorted((r["kind"], r["sha256"]) for r in result["repairs"])
    assert plan == sorted([("quarantine", digests[1]), ("pending", digests[1]), ("pending", digests[2]),
                           ("seal", private)])
    assert not result["repaired"] and result["dry_run"] and any("--repair" in h for h in result["hints"])
    code, text = _mediarescue(config, "check", "--read-data", "--repair")  # the plan shown: still a dry run
    assert code == 1 and f"would repair: seal {private}" in text and "add --yes" in text
    assert _state(tmp_path) == before  # a check, with or without --repair, changed nothing

    code, result = _mediarescue(config, "check", "--read-data", "--repair", "--yes", "--json")
    assert code == 1 and result["repaired"] and result["sealed"] == 1
    assert sorted((r["kind"], r["sha256"]) for r in result["repairs"]) == plan
    assert not flipped.exists() and len(list((tmp_path / "blobs" / "quarantine").iterdir())) == 1
    assert _backup_status(tmp_path / "catalog.db") == {"File:Blob 0.png": "ok", "File:Blob 1.png": "pending",
                                                        "File:Blob 2.png": "pending", "File:Blob 3.png": "ok"}
    assert not store.path(private).exists() and secret[:40] not in store.path(private, encrypted=True).read_bytes()
    assert any("mediarescue backup --wiki w" in hint for hint in result["hints"])
    code, text = _mediarescue(config, "check", "--read-data")  # quarantined: missing until the backup fetches it
    assert code == 1 and f"missing: {digests[1]}" in text and "File:Blob 1.png (current version 2, w)" in text
    assert _mediarescue(config, "check", "--yes")[0] == 2  # --yes alone: check only reports


def test_check_stops_at_max_duration_and_the_next_run_resumes(tmp_path: Path) -> None:
    config, _store, digests = _local_setup(tmp_path, [(f"blob {n}".encode(), n == 2) for n in range(5)])
    runs = [_mediarescue(config, "check", "--read-data", "--max-duration", "0", "--json")[1] for _ in range(5)]
    assert [r["checked"] for r in runs] == [1] * 5  # one blob a run: the least a run does
    assert [r["position"] for r in runs] == sorted(digests)[:4] + [None]
    assert [r["resumed_from"] for r in runs] == [None] + sorted(digests)[:4]
    assert [r["pass_checked"] for r in runs] == [1, 2, 3, 4, 5] and runs[-1]["complete"]
    assert any("again to continue" in h for h in runs[0]["hints"]) and runs[0]["unsealed_private"] == 0
    assert sum(r["bytes_read"] for r in runs) == sum(len(f"blob {n}") for n in range(5))
    again = _mediarescue(config, "check", "--read-data", "--max-duration", "0", "--json")[1]
    assert again["resumed_from"] is None and again["position"] == sorted(digests)[0]  # a new pass
    whole = _mediarescue(config, "check", "--json")[1]  # the other mode keeps its own place
    assert whole["checked"] == 5 and whole["complete"] and whole["unsealed_private"] == 1


def test_an_interrupted_check_resumes_after_the_last_blob_it_checked(tmp_path: Path) -> None:
    _config, store, digests = _local_setup(tmp_path, [(f"blob {n}".encode(), False) for n in range(4)])

    class Interrupted(LocalBlobStore):
        opened = 0

        def open(self, sha256: str):
            self.opened += 1
            if self.opened == 3:
                raise KeyboardInterrupt
            return super().open(sha256)

    catalog = Catalog(tmp_path / "catalog.db")
    with pytest.raises(KeyboardInterrupt):
        check(catalog, Interrupted(store.root), read_data=True)
    result = check(catalog, store, read_data=True)
    assert result.resumed_from == sorted(digests)[1] and result.checked == 2 and result.complete and result.ok


def test_check_seals_private_blobs_stored_in_plaintext_once_a_key_is_configured(tmp_path: Path) -> None:
    secret = b"stored before a key was configured " * 20
    config, store, [public, private] = _local_setup(tmp_path, [(b"public", False), (secret, True)])
    assert store.path(private).read_bytes() == secret  # no key, so no encryption
    code, result = _mediarescue(config, "check", "--json")
    assert code == 0 and result["unsealed_private"] == 1 and any("keygen" in h for h in result["hints"])
    _key_file(tmp_path / "key")
    config.write_text(config.read_text() + f'encryption_key_file = "{tmp_path / "key"}"\n')
    code, result = _mediarescue(config, "check", "--json")
    assert code == 0 and result["sealed"] == 0 and [r["kind"] for r in result["repairs"]] == ["seal"]
    assert store.path(private).read_bytes() == secret  # a check only reports
    code, result = _mediarescue(config, "check", "--repair", "--yes", "--json")
    assert code == 0 and result["sealed"] == 1
    assert not store.path(private).exists() and secret[:40] not in store.path(private, encrypted=True).read_bytes()
    with sqlite3.connect(tmp_path / "catalog.db") as db:
        assert dict(db.execute("SELECT sha256, encrypted FROM blobs")) == {public: 0, private: 1}
    code, result = _mediarescue(config, "check", "--read-data", "--json")
    assert code == 0 and result["sealed"] == 0 and result["bytes_read"] == len(secret) + len(b"public")


def test_a_wrong_or_missing_key_stops_the_check_and_declares_nothing_corrupt(tmp_path: Path) -> None:
    config, store, [sealed] = _local_setup(tmp_path, [(b"private bytes", True)], _key_file(tmp_path / "key"))
    _key_file(tmp_path / "key2")
    text = config.read_text()
    config.write_text(text.replace(str(tmp_path / "key"), str(tmp_path / "key2")))
    code, message = _mediarescue(config, "check", "--read-data")
    assert code == 2 and "another key than encryption_key_file holds" in message
    config.write_text(re.sub(r"encryption_key_file.*\n", "", text))
    code, message = _mediarescue(config, "check", "--read-data")
    assert code == 2 and "configure encryption_key_file" in message
    assert store.path(sealed, encrypted=True).exists()
    assert _backup_status(tmp_path / "catalog.db") == {"File:Blob 0.png": "ok"}
    assert _mediarescue(config, "check")[0] == 0  # existence needs no key


@pytest.mark.integration
def test_full_backup_to_swift_seals_deleted_versions_and_check_finds_a_lost_blob(
        collector_bed: TestBed, seeded: SeedResult, tmp_path: Path) -> None:
    prefix = f"backup-{uuid.uuid4().hex[:8]}"
    config = collector_bed.write_config(tmp_path / "mediarescue.toml", tmp_path / "catalog.db", tmp_path / "unused")
    key = _key_file(tmp_path / "blob-key")
    (tmp_path / "blobs-swift-key").write_text(collector_bed.swift_key)
    config.write_text(f'encryption_key_file = "{key}"\n' + re.sub(r"^blobs = .*\n", "", config.read_text(), flags=re.M)
                      + f'\n[blobs_swift]\nauth_url = "{collector_bed.swift_auth_url}"\n'
                      f'user = "{collector_bed.swift_user}"\nkey_file = "{tmp_path / "blobs-swift-key"}"\n'
                      f'container_prefix = "{prefix}"\nspool = "{tmp_path / "spool"}"\n')
    code, output = _mediarescue(config, "backup")
    assert code == 0, output
    assert "unencrypted" not in output

    catalog = Catalog(tmp_path / "catalog.db")
    rows = catalog.find(wiki="testbed")
    private = {r["sha256"] for r in rows if r["private"]}
    assert len(private) == sum(map(len, seeded.deleted.values())) and all(r["backup_status"] == "ok" for r in rows)
    encrypted = dict(catalog.conn.execute("SELECT sha256, encrypted FROM blobs"))
    assert {s for s, e in encrypted.items() if e} == private and set(encrypted) == {r["sha256"] for r in rows}
    store = SwiftBlobStore(collector_bed.swift_auth_url, collector_bed.swift_user, collector_bed.swift_key, prefix,
                           encryption_key=parse_key(key.read_text()), spool=tmp_path / "spool")
    keyless = SwiftBlobStore(collector_bed.swift_auth_url, collector_bed.swift_user, collector_bed.swift_key, prefix,
                             spool=tmp_path / "spool")
    for sha256 in private:
        plaintext = store.open(sha256).read()
        assert hashlib.sha256(plaintext).hexdigest() == sha256
        raw = b"".join(store.swift.get(store.container(sha256), sha256 + ".enc")[1])
        assert plaintext[:64] not in raw and plaintext[len(plaintext) // 2:][:64] not in raw
        assert store.swift.head(store.container(sha256), sha256) is None  # no plaintext copy
        with pytest.raises(KeyRequired):
            keyless.open(sha256)
    assert {e.sha256 for e in store.names()} == set(encrypted)
    assert len({e.sha256[:2] for e in store.names()}) > 1  # spread over containers

    code, result = _mediarescue(config, "check", "--read-data", "--json")
    assert code == 0 and result["complete"] and result["checked"] == len(encrypted), result
    assert result["bytes_read"] == sum(dict(catalog.conn.execute("SELECT sha256, size FROM blobs")).values())

    lost = sorted(private)[0]
    lost_titles = sorted(r["title"] for r in rows if r["sha256"] == lost)
    store.remove(lost, encrypted=True)
    code, result = _mediarescue(config, "check", "--read-data", "--repair", "--yes", "--json")
    assert code == 1 and [p["sha256"] for p in result["missing"]] == [lost] and not result["corrupt"]
    assert sorted(v["title"] for v in result["missing"][0]["versions"]) == lost_titles
    code, found = _mediarescue(config, "find", "--json", "--sha256", lost)
    assert code == 0 and {r["backup_status"] for r in found} == {"pending"}
    assert not [v for r in found for v in r.values() if "-deleted" in str(v)]  # the deleted zone: never shown

    code, output = _mediarescue(config, "backup")  # the repair the hint names: the wiki still has the bytes
    assert code == 0, output
    assert hashlib.sha256(store.open(lost).read()).hexdigest() == lost
    assert store.swift.head(store.container(lost), lost + ".enc") is not None  # sealed again
    code, result = _mediarescue(config, "check", "--read-data", "--json")
    assert code == 0 and result["checked"] == len(encrypted), result


@pytest.mark.parametrize("page", [1, 2, 1000])
def test_catalogued_blobs_are_each_content_once_in_order_across_pages(tmp_path: Path, page: int) -> None:
    catalog = Catalog(tmp_path / "c.db")
    run = catalog.start_run("w", "full")
    shas = ["a" * 64, "b" * 64, "c" * 64, "d" * 64]
    versions = [Version("w", f"File:{n}.png", "2026-01-01T00:00:00Z", f"{n:040x}", f"File:{n}.png", 1, "current",
                        private=int(n == 4)) for n in range(7)]
    pending = catalog.record_versions(run, versions)
    for job, sha in zip(pending, ["b", "a", "b", "d", "b", "a", None]):  # three versions of b, two of a
        if sha:
            catalog.stored(job.id, sha * 64, job.version.sha1, 1, True, run)
    catalog.conn.execute("INSERT INTO blobs (sha256, sha1, size, stored, encrypted) VALUES (?, 'x', 1, 'now', 1)",
                         (shas[2],))  # in the blobs table only
    catalog.conn.commit()
    listed = list(catalog.catalogued_blobs(page=page))
    assert [b.sha256 for b in listed] == shas
    assert [b.private for b in listed] == [False, True, False, False] and listed[2].encrypted
    assert [b.sha256 for b in catalog.catalogued_blobs("b" * 64, page=page)] == shas[2:]
