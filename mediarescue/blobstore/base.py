"""Content-addressed blob stores: each distinct content stored once, under its sha256.

A blob becomes visible only when complete and verified: bytes stream into a temporary spool file
while sha1 and sha256 are computed in the same pass, the sha1 is checked against what the wiki says,
and only then is the file renamed into place (or, in Swift, PUT under its final name with its md5 as
ETag, so that Swift verifies it too). A crash leaves at most a temporary file, never a blob that
looks whole and is not. The local directory is the embedded default; blobstore_swift.SwiftBlobStore
implements the same interface on a Swift account; `open_store` picks one from the config.

Private (deleted) content is sealed while it is spooled (mediarescue.blobstore.crypto), so its plaintext never
touches a disk of ours, and stored as `<sha256>.enc` beside where `<sha256>` would be: the name says
whether a blob is encrypted, so no plaintext can be mistaken for a sealed one. The rule is
"once private, encrypted": putting private content that is stored in plaintext seals it and removes
the plaintext; putting public content that is stored sealed keeps the sealed copy (reading it needs
the key, which every mediarescue command has). Without a configured key private content is stored
in plaintext, as before encryption existed, and `mediarescue check` counts such blobs.
"""
from __future__ import annotations

import fcntl
import hashlib
import io
import os
import re
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Protocol

from mediarescue.blobstore.crypto import CHUNK, KeyRequired, Sealer, unsealing_reader
from mediarescue.blobstore.metadata import MetadataObject, VerifyingReader, stamp

ENCRYPTED_SUFFIX = ".enc"
BLOB_NAME = re.compile(r"^[0-9a-f]{64}(\.enc)?$")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class ChecksumMismatch(Exception):
    """The bytes are not what the wiki says they are."""

    def __init__(self, expected_sha1: str, sha1: str, sha256: str, size: int):
        super().__init__(f"sha1 mismatch: the wiki records {expected_sha1}, the bytes hash to {sha1} "
                         f"(sha256 {sha256}, {size} bytes)")
        self.expected_sha1, self.sha1, self.sha256, self.size = expected_sha1, sha1, sha256, size


class BlobMissing(FileNotFoundError):
    """No blob of that sha256 in the store."""


class BadDigest(ValueError):
    """Not a sha256: a blob's name is made of it, so nothing else may become a path or object name."""


@dataclass(frozen=True)
class Stored:
    sha256: str
    sha1: str
    size: int
    new: bool  # False when the content was already stored
    encrypted: bool = False  # as the content is stored now (it may have been sealed by this put)


@dataclass(frozen=True)
class Entry:
    """One stored blob as a listing shows it."""
    sha256: str
    encrypted: bool
    size: int | None  # bytes as stored (sealed size when encrypted); None when the listing cannot tell


class BlobStore(Protocol):
    encryption_key: bytes | None  # seals private content when set

    def has(self, sha256: str) -> bool: ...

    def put(self, chunks: Iterable[bytes], expect_sha1: str | None = None, private: bool = False) -> Stored: ...

    def open(self, sha256: str) -> BinaryIO: ...

    def names(self, after: str = "") -> Iterator[Entry]: ...

    def remove(self, sha256: str, encrypted: bool) -> None: ...

    def quarantine(self, sha256: str) -> None: ...

    def seal(self, sha256: str, sha1: str) -> Stored: ...

    def sweep(self, idle_seconds: float = 0) -> int: ...

    def put_metadata(self, catalog: str, seq: int, kind: str, run: int, chunks: Iterable[bytes]) -> MetadataObject: ...

    def metadata_objects(self, catalog: str | None = None) -> list[MetadataObject]: ...

    def open_metadata(self, obj: MetadataObject) -> BinaryIO: ...

    def remove_metadata(self, obj: MetadataObject) -> None: ...


def blob_name(sha256: str, encrypted: bool) -> str:
    """The name of a blob, for every store and every operation: only 64 lowercase hex digits pass
    (a crafted "sha256" such as ../../x would otherwise name a path outside the store)."""
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise BadDigest(f"{str(sha256)[:80]!r} is not a sha256 (64 lowercase hex digits): refused")
    return sha256 + (ENCRYPTED_SUFFIX if encrypted else "")


@dataclass
class Spooled:
    """A verified temporary copy of what is to be stored, and its hashes."""
    path: str
    sha1: str
    sha256: str  # of the plaintext: the blob's address
    size: int  # plaintext bytes
    stored_size: int  # bytes in the spool file (sealed size when sealed)
    segments: list[tuple[str, int]] = field(default_factory=list)  # (md5 hex, length) per segment of the file
    lock: int | None = None  # a descriptor holding the file's flock until it is installed or discarded (sweep)

    def discard(self) -> None:
        """Remove the temporary file if it is still there (not installed), then let go of its lock."""
        if os.path.exists(self.path):
            os.unlink(self.path)
        if self.lock is not None:
            os.close(self.lock)
            self.lock = None


def _locked_temporary(directory: Path) -> tuple[int, str]:
    """A new temporary file, flock-ed for as long as its writer lives: `sweep` removes only the
    temporary files whose lock it can take, so a live writer's file is never swept, whichever
    catalog or process it writes for."""
    while True:
        fd, name = tempfile.mkstemp(dir=directory, prefix="incoming-")
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits only while a sweep holds it, about to remove it
        if os.fstat(fd).st_nlink:  # not swept between its creation and the lock
            return fd, name
        os.close(fd)


def spool(chunks: Iterable[bytes], directory: Path, *, sealer: Sealer | None = None, segment: int | None = None,
          fsync: bool = False, expect_sha1: str | None = None) -> Spooled:
    """Write `chunks` to a temporary file in `directory`, sealed if `sealer`, hashing everything in
    one pass: sha1 and sha256 of the plaintext, and with `segment` the md5 of each `segment`-sized
    piece of the file (what Swift checks as ETag). The file is removed if anything fails; else the
    caller installs it and calls `Spooled.discard`, which releases its lock."""
    sha1, sha256, size, stored = hashlib.sha1(), hashlib.sha256(), 0, 0
    md5s: list[tuple[str, int]] = []
    md5, md5_len = hashlib.md5(usedforsecurity=False), 0
    fd, tmp_name = _locked_temporary(directory)
    lock = os.dup(fd)  # the same open file: its flock lasts until this copy is closed, past the writing

    def write(out: BinaryIO, data: bytes) -> None:
        nonlocal stored, md5, md5_len
        out.write(data)
        stored += len(data)
        if segment is None:
            return
        view = memoryview(data)
        while view:
            take = min(len(view), segment - md5_len)
            md5.update(view[:take])
            md5_len += take
            view = view[take:]
            if md5_len == segment:
                md5s.append((md5.hexdigest(), md5_len))
                md5, md5_len = hashlib.md5(usedforsecurity=False), 0

    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                sha1.update(chunk)
                sha256.update(chunk)
                size += len(chunk)
                write(out, sealer.update(chunk) if sealer else chunk)
            if sealer:
                write(out, sealer.finish())
            out.flush()
            if fsync:
                os.fsync(out.fileno())
        if segment is not None and (md5_len or not md5s):
            md5s.append((md5.hexdigest(), md5_len))
        if expect_sha1 is not None and sha1.hexdigest() != expect_sha1:
            raise ChecksumMismatch(expect_sha1, sha1.hexdigest(), sha256.hexdigest(), size)
        return Spooled(tmp_name, sha1.hexdigest(), sha256.hexdigest(), size, stored, md5s, lock)
    except BaseException:
        os.unlink(tmp_name)
        os.close(lock)
        raise


def sweep(directory: Path, idle_seconds: float = 3600) -> int:
    """Remove the temporary files killed writers left behind, idle for `idle_seconds`; returns how
    many. A file whose flock is held belongs to a live writer (`_locked_temporary`) and stays; the
    age rule only spares files of writers older than the lock (an earlier mediarescue)."""
    cutoff, removed = time.time() - idle_seconds, 0
    for leftover in directory.glob("incoming-*"):
        try:
            with open(leftover, "rb") as held:
                if os.fstat(held.fileno()).st_mtime >= cutoff:
                    continue
                try:
                    fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # being written
                leftover.unlink()  # under the lock: its writer, if it just started, sees it gone and starts anew
                removed += 1
        except FileNotFoundError:
            pass  # its writer finished meanwhile
    return removed


class SpoolingStore:
    """What every store shares: spool, verify, then install under the final name; dedup and the
    encryption rule. Subclasses say how a name is tested, installed, read and removed."""

    tmp: Path
    encryption_key: bytes | None
    key_source = "encryption_key_file"  # where the key came from, for a wrong key's message (Config)
    segment: int | None = None  # md5 per segment of this many bytes (Swift); None: no md5 needed
    fsync: bool = False

    def _exists(self, name: str) -> bool:
        raise NotImplementedError

    def _install(self, spooled: Spooled, name: str) -> None:
        raise NotImplementedError

    def _open_raw(self, name: str) -> BinaryIO:
        """The stored bytes of `name`; BlobMissing when there is no such blob."""
        raise NotImplementedError

    def remove(self, sha256: str, encrypted: bool) -> None:
        raise NotImplementedError

    def has(self, sha256: str) -> bool:
        return self._exists(blob_name(sha256, False)) or self._exists(blob_name(sha256, True))

    def open(self, sha256: str) -> BinaryIO:
        """The plaintext, streaming; KeyRequired/WrongKey (mediarescue.blobstore.crypto) for a sealed blob
        without the right key, BlobMissing when the store has no such blob."""
        try:
            return self._open_raw(blob_name(sha256, False))
        except BlobMissing:
            pass
        raw = self._open_raw(blob_name(sha256, True))
        return unsealing_reader(raw, self.encryption_key, sha256, self.key_source)

    def put(self, chunks: Iterable[bytes], expect_sha1: str | None = None, private: bool = False) -> Stored:
        seal = private and self.encryption_key is not None
        spooled = spool(chunks, self.tmp, sealer=Sealer(self.encryption_key) if seal else None, segment=self.segment,
                        fsync=self.fsync, expect_sha1=expect_sha1)
        try:
            digest = spooled.sha256
            plain, sealed = blob_name(digest, False), blob_name(digest, True)
            if seal:
                if self._exists(sealed):
                    new = False
                else:
                    new = not self._exists(plain)
                    self._install(spooled, sealed)
                if not new and self._exists(plain):
                    self.remove(digest, encrypted=False)  # private now: the plaintext copy goes
                return Stored(digest, spooled.sha1, spooled.size, new=new, encrypted=True)
            if self._exists(plain):
                return Stored(digest, spooled.sha1, spooled.size, new=False)
            if self._exists(sealed):
                return Stored(digest, spooled.sha1, spooled.size, new=False, encrypted=True)
            self._install(spooled, plain)
            return Stored(digest, spooled.sha1, spooled.size, new=True)
        finally:
            spooled.discard()

    def seal(self, sha256: str, sha1: str) -> Stored:
        """Private content kept in plaintext, sealed in place: read back, stored sealed and verified
        by its sha1, then the plaintext removed (`put` does both, as for any private content). The
        one sealing step: `check` and the backup run that learns a version became private call it.
        ChecksumMismatch when the stored bytes are not that content; KeyRequired without a key."""
        if self.encryption_key is None:
            raise KeyRequired(f"blob {sha256} cannot be sealed: no encryption_key_file")
        with self.open(sha256) as stream:
            return self.put(iter(lambda: stream.read(CHUNK), b""), expect_sha1=sha1, private=True)

    def sweep(self, idle_seconds: float = 0) -> int:
        """Remove the temporary files of killed writers now (no live writer's: see `sweep`)."""
        return sweep(self.tmp, idle_seconds)

    # --- metadata objects (mediarescue.blobstore.metadata): subclasses say where they are kept ---
    def _metadata_install(self, spooled: Spooled, name: str) -> None:
        raise NotImplementedError

    def _metadata_names(self, catalog: str | None) -> Iterator[tuple[str, int]]:
        """(name, stored size) of every metadata object, of one catalog or of all."""
        raise NotImplementedError

    def _metadata_open_raw(self, name: str) -> BinaryIO:
        raise NotImplementedError

    def _metadata_delete(self, name: str) -> None:
        raise NotImplementedError

    def put_metadata(self, catalog: str, seq: int, kind: str, run: int, chunks: Iterable[bytes]) -> MetadataObject:
        """Store one metadata object whole, sealed when a key is configured, named by the sha256 of
        its plaintext bytes; the chunks are spooled first, so a writer killed half-way leaves at
        most a temporary file (swept), never an object."""
        seal = self.encryption_key is not None
        spooled = spool(chunks, self.tmp, sealer=Sealer(self.encryption_key) if seal else None,
                        segment=self.segment, fsync=self.fsync)
        try:
            obj = MetadataObject(catalog, seq, kind, run, stamp(), spooled.sha256, seal, spooled.stored_size)
            self._metadata_install(spooled, obj.name)
            return obj
        finally:
            spooled.discard()

    def metadata_objects(self, catalog: str | None = None) -> list[MetadataObject]:
        """The metadata objects in the store, of one catalog or of all, in catalog and seq order;
        names that are not metadata objects' are left out."""
        found = (MetadataObject.parse(name, size) for name, size in self._metadata_names(catalog))
        return sorted(obj for obj in found if obj is not None and (catalog is None or obj.catalog == catalog))

    def open_metadata(self, obj: MetadataObject) -> BinaryIO:
        """The object's plaintext (gzip) bytes, streaming; its sha256 is checked at the end
        (CorruptMetadata), a sealed one is authenticated chunk by chunk (CorruptBlob, WrongKey,
        KeyRequired); BlobMissing when it is not there."""
        raw = self._metadata_open_raw(obj.name)
        if obj.encrypted:
            raw = unsealing_reader(raw, self.encryption_key, obj.name, self.key_source)
        return io.BufferedReader(VerifyingReader(raw, obj.sha256, obj.name), CHUNK)

    def remove_metadata(self, obj: MetadataObject) -> None:
        self._metadata_delete(obj.name)


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


