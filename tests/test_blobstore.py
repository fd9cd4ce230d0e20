"""The blob stores: the same tests on the local directory and on a real Swift (the test bed's), and
the encryption of private content at rest, on real files and real objects."""
from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from swiftclient.exceptions import ClientException

from mediarescue import config as configuration
from mediarescue.blobstore import open_store
from mediarescue.blobstore.base import BlobMissing, BlobStore, ChecksumMismatch
from mediarescue.blobstore.crypto import (
    CorruptBlob,
    KeyRequired,
    Sealer,
    WrongKey,
    generate_key,
    parse_key,
    sealed_size,
    unsealing_reader,
)
from mediarescue.blobstore.local import LocalBlobStore
from mediarescue.blobstore.swift import SwiftBlobStore
from mediarescue.catalog import Catalog, Version
from mediarescue.catalog.base import records
from mediarescue.swift import SwiftStore
from testbed.bed import TestBed
from tests.conftest import mediarescue

KEY, OTHER_KEY = bytes(range(32)), bytes(32)


def _swift_store(test_bed: TestBed, spool: Path, key: bytes | None = KEY, prefix: str | None = None,
                 segment_size: int = 1 << 30) -> SwiftBlobStore:
    return SwiftBlobStore(test_bed.swift_auth_url, test_bed.swift_user, test_bed.swift_key,
                          prefix or f"blobs-{uuid.uuid4().hex[:10]}", encryption_key=key, segment_size=segment_size,
                          spool=spool, retries=1, backoff=0.1)


@pytest.fixture(params=["local", pytest.param("swift", marks=pytest.mark.integration)])
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_store(kind: str, request: pytest.FixtureRequest, tmp_path: Path):
    """A factory of stores of the parametrized kind over one place, opened with or without a key."""
    if kind == "local":
        return lambda key=KEY, **_: LocalBlobStore(tmp_path / "blobs", encryption_key=key)
    test_bed = request.getfixturevalue("collector_bed")
    prefix = f"blobs-{uuid.uuid4().hex[:10]}"
    return lambda key=KEY, **options: _swift_store(test_bed, tmp_path / "spool", key, prefix, **options)


@pytest.fixture
def store(make_store) -> BlobStore:
    return make_store()


def _raw(store: BlobStore, sha256: str, encrypted: bool) -> bytes | None:
    """The bytes as stored, behind the store's back; None when there are none."""
    name = sha256 + (".enc" if encrypted else "")
    if isinstance(store, LocalBlobStore):
        path = store.path(sha256, encrypted)
        return path.read_bytes() if path.exists() else None
    try:
        return b"".join(store.swift.get(store.container(sha256), name)[1])
    except ClientException as error:
        assert error.http_status == 404
        return None


def test_blobs_are_stored_once_and_only_when_whole_and_verified(store: BlobStore) -> None:
    data = [b"hello ", b"world"]
    sha1 = hashlib.sha1(b"hello world").hexdigest()
    stored = store.put(iter(data), expect_sha1=sha1)
    assert stored.new and stored.size == 11 and stored.sha256 == hashlib.sha256(b"hello world").hexdigest()
    assert not stored.encrypted and store.has(stored.sha256)
    assert store.open(stored.sha256).read() == b"hello world"
    assert not store.put(iter(data), expect_sha1=sha1).new  # the same content again: stored once

    with pytest.raises(ChecksumMismatch) as mismatch:
        store.put(iter([b"tampered"]), expect_sha1=sha1)
    assert mismatch.value.expected_sha1 == sha1 and mismatch.value.sha1 == hashlib.sha1(b"tampered").hexdigest()
    assert not store.has(mismatch.value.sha256)

    def broken_stream():
        yield b"half a file"
        raise ConnectionError("the server went away")

    with pytest.raises(ConnectionError):
        store.put(broken_stream())
    assert not store.has(hashlib.sha256(b"half a file").hexdigest())
    assert list(store.tmp.iterdir()) == []  # no half blob, no leftover
    with pytest.raises(BlobMissing):
        store.open(hashlib.sha256(b"half a file").hexdigest())
    assert [e.sha256 for e in store.names()] == [stored.sha256]


def test_leftovers_of_a_killed_writer_are_swept_when_idle(make_store) -> None:
    store = make_store()
    stale, fresh = store.tmp / "incoming-stale", store.tmp / "incoming-fresh"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"y")
    os.utime(stale, (0, 0))
    make_store()
    assert not stale.exists() and fresh.exists()


def _killed_writer(tmp: Path) -> Path:
    """A process that dies (kill -9) while spooling into `tmp`, as a killed backup's worker does."""
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\nfrom pathlib import Path\nfrom mediarescue.blobstore.base import spool\n"
        "def chunks():\n    yield b'half'\n    print('writing', flush=True)\n    time.sleep(60)\n    yield b''\n"
        f"spool(chunks(), Path({str(tmp)!r}))\n")], stdout=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[1])
    assert writer.stdout.readline() == "writing\n"
    [left] = list(tmp.glob("incoming-*"))
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    return left


def test_a_sweep_removes_killed_writers_files_at_once_and_never_a_live_writers(make_store) -> None:
    store = make_store()
    killed = _killed_writer(store.tmp)
    unlocked = store.tmp / "incoming-from-an-older-mediarescue"  # no lock at all, just written
    unlocked.write_bytes(b"x")
    writing, go_on = threading.Event(), threading.Event()

    def slow_chunks():
        yield b"being written "
        writing.set()
        go_on.wait(30)
        yield b"by a live writer"

    stored = []
    live = threading.Thread(target=lambda: stored.append(store.put(slow_chunks())))
    live.start()
    assert writing.wait(30)
    [live_file] = [f for f in store.tmp.glob("incoming-*") if f not in (killed, unlocked)]
    try:
        assert store.sweep() == 2  # at once: no hour of idleness needed
        assert not killed.exists() and not unlocked.exists() and live_file.exists()
    finally:
        go_on.set()
        live.join(30)
    assert store.open(stored[0].sha256).read() == b"being written by a live writer"
    assert list(store.tmp.glob("incoming-*")) == []


def test_sealing_in_place_keeps_the_content_and_drops_the_plaintext(make_store) -> None:
    store = make_store()
    data = b"public when backed up, deleted since"
    public = store.put(iter([data]))
    with pytest.raises(KeyRequired):
        make_store(key=None).seal(public.sha256, public.sha1)
    assert _raw(store, public.sha256, encrypted=False) == data
    sealed = store.seal(public.sha256, public.sha1)
    assert sealed.encrypted and _raw(store, public.sha256, encrypted=False) is None
    assert data not in _raw(store, public.sha256, encrypted=True) and store.open(public.sha256).read() == data
    assert store.seal(public.sha256, public.sha1).encrypted  # twice changes nothing


def test_private_content_is_sealed_readable_with_the_key_only(make_store) -> None:
    store = make_store()
    secret = b"deleted for a reason: " + os.urandom(3000) + b" the end"
    stored = store.put(iter([secret[:100], secret[100:]]), expect_sha1=hashlib.sha1(secret).hexdigest(), private=True)
    assert stored.new and stored.encrypted and stored.sha256 == hashlib.sha256(secret).hexdigest()
    raw = _raw(store, stored.sha256, encrypted=True)
    assert raw is not None and _raw(store, stored.sha256, encrypted=False) is None
    assert b"deleted for a reason" not in raw and secret[100:200] not in raw and len(raw) == sealed_size(len(secret))
    assert store.open(stored.sha256).read() == secret
    with pytest.raises(KeyRequired, match="encryption_key_file"):
        make_store(key=None).open(stored.sha256)
    with pytest.raises(WrongKey):
        make_store(key=OTHER_KEY).open(stored.sha256)
    assert [(e.sha256, e.encrypted) for e in store.names()] == [(stored.sha256, True)]
    # Without a key private content is stored as it is (and `check` counts it).
    assert not make_store(key=None).put(iter([b"no key"]), private=True).encrypted


def test_once_private_content_stays_sealed(store: BlobStore) -> None:
    data = b"first public, then deleted"
    public = store.put(iter([data]))
    assert public.new and not public.encrypted
    sealed = store.put(iter([data]), private=True)  # the same content deleted on the wiki
    assert not sealed.new and sealed.encrypted
    assert _raw(store, public.sha256, encrypted=False) is None  # the plaintext copy is gone
    assert store.open(public.sha256).read() == data
    again = store.put(iter([data]))  # public again (undeleted): the sealed copy stays
    assert not again.new and again.encrypted
    assert [(e.sha256, e.encrypted) for e in store.names()] == [(public.sha256, True)]


def test_large_blobs_stream_and_swift_stores_them_in_verified_segments(make_store, kind: str) -> None:
    store = make_store(segment_size=1 << 20)  # Swift: static large objects from 1 MiB on
    data = os.urandom((3 << 20) + 12345)
    chunks = [data[i:i + 100_000] for i in range(0, len(data), 100_000)]
    plain = store.put(iter(chunks), expect_sha1=hashlib.sha1(data).hexdigest())
    secret = data[::-1]
    sealed = store.put(iter([secret]), private=True)
    with store.open(plain.sha256) as f:
        assert hashlib.sha256(f.read()).hexdigest() == plain.sha256
    with store.open(sealed.sha256) as f:
        read = b"".join(iter(lambda: f.read(65536), b""))
    assert read == secret
    if kind == "swift":
        head = store.swift.head(store.container(sealed.sha256), sealed.sha256 + ".enc")
        assert head["x-static-large-object"] == "True"
        segments = list(store.swift.entries(store.segments_container))
        assert len(segments) == 4 + 4 and all(s["bytes"] <= 1 << 20 for s in segments)
        store.remove(sealed.sha256, encrypted=True)
        assert not store.has(sealed.sha256)
        assert len(list(store.swift.entries(store.segments_container))) == 4  # its segments went with it


def test_listing_is_in_sha256_order_and_resumes_after_a_position(store: BlobStore) -> None:
    digests = sorted(store.put(iter([f"blob {n}".encode()]), private=n % 3 == 0).sha256 for n in range(12))
    assert [e.sha256 for e in store.names()] == digests
    assert [e.sha256 for e in store.names(after=digests[4])] == digests[5:]
    assert [e.sha256 for e in store.names(after=digests[-1])] == []
    assert all(e.size is not None and e.size > 0 for e in store.names())


def test_quarantine_moves_a_blob_aside(store: BlobStore) -> None:
    stored = store.put(iter([b"will be judged corrupt"]))
    store.quarantine(stored.sha256)
    assert not store.has(stored.sha256)
    if isinstance(store, LocalBlobStore):
        assert [p.name.split(".")[0] for p in (store.root / "quarantine").iterdir()] == [stored.sha256]
    else:
        assert [str(e["name"]).split(".")[0] for e in store.swift.entries(store.quarantine_container)] == \
            [stored.sha256]


@pytest.mark.integration
def test_quarantining_a_large_blob_with_a_bad_segment_keeps_its_segment_list(collector_bed: TestBed,
                                                                             tmp_path: Path) -> None:
    store = _swift_store(collector_bed, tmp_path / "spool", segment_size=1 << 20)
    stored = store.put(iter([os.urandom((2 << 20) + 7)]))
    segments = store.swift.manifest(store.container(stored.sha256), stored.sha256)
    bad = segments[0]["path"].lstrip("/").split("/", 1)
    store.swift.put(bad[0], bad[1], b"rot")  # the segment changes: Swift refuses a manifest naming it
    store.quarantine(stored.sha256)
    assert not store.has(stored.sha256)
    [kept] = [str(e["name"]) for e in store.swift.entries(store.quarantine_container)]
    assert kept.startswith(stored.sha256) and kept.endswith(".manifest.json")
    assert json.loads(b"".join(store.swift.stream(store.quarantine_container, kept))) == segments


@pytest.mark.integration
def test_swift_keeps_no_object_from_an_upload_that_fails_its_checks(collector_bed: TestBed) -> None:
    swift = SwiftStore(collector_bed.swift_auth_url, collector_bed.swift_user, collector_bed.swift_key, retries=0)
    container = f"atomic-{uuid.uuid4().hex[:8]}"
    data = b"x" * 100_000
    with pytest.raises(ClientException) as wrong:  # the md5 we computed disagrees with what Swift got
        swift.upload(container, "etag", io.BytesIO(data), len(data), hashlib.md5(b"other").hexdigest())
    assert wrong.value.http_status == 422 and swift.head(container, "etag") is None

    class DiesHalfway(io.RawIOBase):  # a writer killed in the middle of its PUT
        sent = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            if self.sent >= 50_000:
                raise ConnectionError("killed")
            buffer[:1000] = data[:1000]
            self.sent += 1000
            return 1000

    with pytest.raises(Exception):
        swift.upload(container, "cut", DiesHalfway(), len(data), hashlib.md5(data).hexdigest())
    assert swift.head(container, "cut") is None
    swift.upload(container, "whole", io.BytesIO(data), len(data), hashlib.md5(data).hexdigest())
    assert swift.head(container, "whole")["etag"] == hashlib.md5(data).hexdigest()


# --- the sealed format itself ---

def _seal(data: bytes, chunk: int = 1000, key: bytes = KEY) -> bytes:
    sealer = Sealer(key, chunk_size=chunk)
    return sealer.update(data) + sealer.finish()


@pytest.mark.parametrize("size", [0, 1, 999, 1000, 1001, 3000, 4321])
def test_sealed_streams_round_trip_at_every_chunk_boundary(size: int) -> None:
    data = os.urandom(size)
    sealed = _seal(data)
    assert len(sealed) == sealed_size(size, 1000)
    assert unsealing_reader(io.BytesIO(sealed), KEY, "x").read() == data
    assert _seal(data) != sealed  # a fresh salt and nonce prefix every time


def _chunks(sealed: bytes, chunk: int = 1000) -> tuple[bytes, list[bytes]]:
    from mediarescue.blobstore.crypto import HEADER_SIZE, TAG
    body = sealed[HEADER_SIZE:]
    return sealed[:HEADER_SIZE], [body[i:i + chunk + TAG] for i in range(0, len(body), chunk + TAG)]


@pytest.mark.parametrize("damage", ["flip a byte", "drop the last chunk", "swap two chunks", "cut in a chunk",
                                    "alter the header", "append a chunk"])
def test_any_change_to_a_sealed_blob_is_detected(damage: str) -> None:
    data = os.urandom(3500)
    sealed = _seal(data)
    header, chunks = _chunks(sealed)
    if damage == "flip a byte":
        altered = sealed[:2000] + bytes([sealed[2000] ^ 1]) + sealed[2001:]
    elif damage == "drop the last chunk":
        altered = header + b"".join(chunks[:-1])
    elif damage == "swap two chunks":
        altered = header + chunks[1] + chunks[0] + b"".join(chunks[2:])
    elif damage == "cut in a chunk":
        altered = sealed[:-100]
    elif damage == "alter the header":
        altered = header[:-1] + bytes([header[-1] ^ 1]) + sealed[len(header):]  # the chunk size
    else:
        altered = sealed + _chunks(_seal(b"z" * 10))[1][0]
    with pytest.raises(CorruptBlob):
        unsealing_reader(io.BytesIO(altered), KEY, "x").read()


def test_keys_are_64_hex_digits() -> None:
    assert len(parse_key(generate_key())) == 32
    for bad in ("abc", "zz" * 32, ""):
        with pytest.raises(ValueError):
            parse_key(bad)


# --- config, catalog and CLI around the stores ---

def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_config_selects_the_swift_store_and_reads_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sk").write_text("swift-secret\n")
    key = generate_key()
    (tmp_path / "key").write_text(key + "\n")
    config = configuration.load(_write(tmp_path / "m.toml", 'catalog = "c.db"\ncontact = "x"\n'
                                       'encryption_key_file = "key"\n[blobs_swift]\nauth_url = "https://s/auth/v1.0"\n'
                                       'user = "a:b"\nkey_file = "sk"\ncontainer_prefix = "mr"\nspool = "spool"\n'))
    assert config.blobs is None and config.encryption_key == bytes.fromhex(key)
    assert (config.blobs_swift.key, config.blobs_swift.container_prefix, config.blobs_swift.spool) == \
        ("swift-secret", "mr", tmp_path / "spool")
    shown = repr(config)
    assert "swift-secret" not in shown and key not in shown and str(bytes.fromhex(key)) not in shown
    assert isinstance(open_store(config), SwiftBlobStore)  # connects lazily: no Swift needed here
    local = configuration.load(_write(tmp_path / "l.toml", 'catalog = "c.db"\nblobs = "b"\ncontact = "x"\n'))
    assert local.encryption_key is None and isinstance(open_store(local), LocalBlobStore)
    monkeypatch.setenv("MEDIARESCUE_ENCRYPTION_KEY", "00" * 32)
    assert configuration.load(tmp_path / "l.toml").encryption_key == bytes(32)


@pytest.mark.parametrize("text, message", [
    ('blobs = "b"\nencryption_key_file = "nope"\n', "encryption_key_file: cannot read"),
    ('blobs = "b"\nencryption_key_file = "short"\n', "encryption_key_file must hold 64 hex digits"),
    ('blobs = "b"\nencryption_key_env = "NO_SUCH_KEY_VAR"\n', "encryption_key_env names NO_SUCH_KEY_VAR"),
    ('blobs = "b"\n[blobs_swift]\nauth_url = "https://s"\nuser = "u"\nkey_file = "short"\n',
     "blobs and \\[blobs_swift\\] both"),
    ('[blobs_swift]\nauth_url = "https://s"\nuser = "u"\n', "blobs_swift.key_file .*is missing"),
    ('[blobs_swift]\nuser = "u"\nkey_file = "short"\n', "blobs_swift.auth_url is missing"),
    ('[blobs_swift]\nauth_url = "https://s"\nuser = "u"\nkey_file = "short"\nsegment_size = 10\n',
     "blobs_swift.segment_size must be between"),
])
def test_store_config_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "short").write_text("abc")
    with pytest.raises(configuration.ConfigError, match=message):
        configuration.load(_write(tmp_path / "m.toml", 'catalog = "c.db"\ncontact = "x"\n' + text))


def test_an_older_catalog_gains_the_encrypted_column(tmp_path: Path) -> None:
    Catalog(tmp_path / "old.db").close()  # a catalog (runs, versions...) whose blobs table predates `encrypted`
    with sqlite3.connect(tmp_path / "old.db") as db:
        db.execute("ALTER TABLE blobs DROP COLUMN encrypted")
        db.execute("INSERT INTO blobs VALUES ('a', 'b', 1, 'then')")
    catalog = Catalog(tmp_path / "old.db")
    assert catalog.conn.execute("SELECT encrypted FROM blobs").fetchall() == [(0,)]
    Catalog(tmp_path / "old.db").close()  # twice: nothing to do the second time


def test_stored_records_which_blobs_are_sealed(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "c.db")
    run = catalog.start_run("w", "full")
    versions = [Version("w", f"File:{n}.png", "2026-01-01T00:00:00Z", n * 40, f"File:{n}.png", 1, status,
                        private=int(private))
                for n, status, private in (("a", "current", False), ("b", "deleted", True), ("c", "current", False))]
    public, private, shared = catalog.record_versions(run, versions)
    catalog.stored(public.id, "1" * 64, "a" * 40, 1, True, run)
    catalog.stored(private.id, "2" * 64, "b" * 40, 1, True, run, encrypted=True)
    catalog.stored(shared.id, "2" * 64, "b" * 40, 1, False, run)  # public version, same bytes: still sealed
    assert [(r["sha256"], r["encrypted"]) for r in records(catalog.conn.execute(
        "SELECT sha256, encrypted FROM blobs ORDER BY sha256"))] == [("1" * 64, 0), ("2" * 64, 1)]


def test_keygen_writes_a_private_key_file_once(tmp_path: Path) -> None:
    done = mediarescue(None, "keygen", str(tmp_path / "k"))
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o600
    assert len(parse_key((tmp_path / "k").read_text())) == 32
    before = (tmp_path / "k").read_text()
    again = mediarescue(None, "keygen", str(tmp_path / "k"))
    assert again.returncode == 2 and "never overwritten" in again.stderr and (tmp_path / "k").read_text() == before
