"""The blob store on an OpenStack Swift account: the scale-out store, same interface and same tests
as the local directory (mediarescue.blobstore.local).

Placement: blob `<sha256>[.enc]` lives in container `<prefix>-<first two hex digits>`, 256
containers. Every object PUT or DELETE updates its container's database (one SQLite file per
replica), and listings read it, so a single container holding all of Commons' ~100 million blobs
would be the hot spot of the whole store; sha256 prefixes spread the load evenly over 256 of them
(~400,000 objects each at Commons' size, well inside what one container handles). Prefixing names
inside one container would not help: the container database is the bottleneck, not the names.
This is the sharding MediaWiki itself uses on Wikimedia's Swift, so operators know its shape.
Containers are created on first use; they are private (no ACL).

Writing: the bytes are spooled to a local temporary file while sha1, sha256 and md5 are computed in
one pass (mediarescue.blobstore.base.spool); after the sha1 check the file is PUT under the final name with
its md5 as ETag, so Swift verifies what it received, and a PUT cut short stores nothing: an object
appears whole or not at all. Blobs larger than `segment_size` (default 1 GiB; Swift refuses single
objects over 5 GiB, and a sealed 5 GiB file is a little more) are uploaded as a static large object:
segments `<name>/<upload id>/<n>` in `<prefix>-segments`, each PUT with its own md5, then the
manifest under the final name, which Swift accepts only when every segment is there with that md5.
A writer killed between segments and manifest leaves unreferenced segments, never a blob.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from swiftclient.exceptions import ClientException

from mediarescue.blobstore.base import (
    BLOB_NAME,
    ENCRYPTED_SUFFIX,
    BlobMissing,
    Entry,
    Spooled,
    SpoolingStore,
    _stamp,
    blob_name,
    sweep,
)
from mediarescue.files import private_dir
from mediarescue.swift import SwiftStore

DEFAULT_PREFIX = "mediarescue-blobs"
DEFAULT_SEGMENT = 1 << 30


class _BodyReader(io.RawIOBase):
    """A Swift GET body as a readable stream; closing it releases the connection."""

    def __init__(self, body: Iterator[bytes]):
        self._body, self._iter, self._pending = body, iter(body), b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            self._pending = next(self._iter, b"")
            if not self._pending:
                return 0
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def close(self) -> None:
        if not self.closed and hasattr(self._body, "close"):
            self._body.close()
        super().close()


class SwiftBlobStore(SpoolingStore):
    def __init__(self, auth_url: str, user: str, key: str, container_prefix: str = DEFAULT_PREFIX, *,
                 encryption_key: bytes | None = None, segment_size: int = DEFAULT_SEGMENT,
                 spool: Path | str | None = None, retries: int = 5, backoff: float = 1.0):
        self.prefix = container_prefix
        self.encryption_key = encryption_key
        self.segment = segment_size
        # One spool per account: a folder in the shared temporary directory that belongs to
        # another user is refused (private_dir), so the default must not be shared.
        default = Path(tempfile.gettempdir()) / f"mediarescue-spool-{os.getuid()}"
        self.tmp = private_dir(Path(spool) if spool else default)
        sweep(self.tmp)
        self._store = SwiftStore(auth_url, user, key, retries=retries, starting_backoff=backoff)
        self._local = threading.local()  # one connection per thread: backups put from a pool of workers

    @property
    def swift(self) -> SwiftStore:
        if not hasattr(self._local, "swift"):
            self._local.swift = self._store if threading.current_thread() is threading.main_thread() \
                else self._store.clone()
        return self._local.swift

    def container(self, sha256: str) -> str:
        return f"{self.prefix}-{sha256[:2]}"

    @property
    def segments_container(self) -> str:
        return f"{self.prefix}-segments"

    @property
    def quarantine_container(self) -> str:
        return f"{self.prefix}-quarantine"

    def _head(self, name: str) -> dict[str, str] | None:
        return self.swift.head(self.container(name), name)

    def _exists(self, name: str) -> bool:
        return self._head(name) is not None

    def _install(self, spooled: Spooled, name: str) -> None:
        self._upload(spooled, self.container(name), name)

    def _upload(self, spooled: Spooled, container: str, name: str) -> None:
        with open(spooled.path, "rb") as data:
            if len(spooled.segments) == 1:
                self.swift.upload(container, name, data, spooled.stored_size, spooled.segments[0][0])
                return
            upload = os.urandom(6).hex()  # concurrent writers of one sealed content write different bytes
            manifest = []
            try:
                for index, (md5, length) in enumerate(spooled.segments):
                    segment = f"{name}/{upload}/{index:06d}"
                    self.swift.upload(self.segments_container, segment, data, length, md5)
                    manifest.append({"path": f"/{self.segments_container}/{segment}", "etag": md5,
                                     "size_bytes": length})
                self.swift.put_manifest(container, name, manifest)
            except BaseException:
                for done in manifest:  # best effort: a killed writer leaves them, unreferenced
                    try:
                        self.swift.delete(self.segments_container, str(done["path"]).split("/", 2)[2])
                    except Exception:
                        pass
                raise

    def _open_raw(self, name: str) -> BinaryIO:
        try:
            _headers, body = self.swift.get(self.container(name), name)
        except ClientException as error:
            if error.http_status == 404:
                raise BlobMissing(f"no blob {name} in Swift container {self.container(name)}") from None
            raise
        return io.BufferedReader(_BodyReader(body), 1 << 20)

    def _delete(self, name: str, headers: dict[str, str]) -> None:
        try:
            if headers.get("x-static-large-object", "").lower() == "true":
                self.swift.delete_large(self.container(name), name)
            else:
                self.swift.delete(self.container(name), name)
        except ClientException as error:
            if error.http_status != 404:
                raise

    def remove(self, sha256: str, encrypted: bool) -> None:
        name = blob_name(sha256, encrypted)
        headers = self._head(name)
        if headers is not None:
            self._delete(name, headers)

    def quarantine(self, sha256: str) -> None:
        """Move the blob to `<prefix>-quarantine` (not delete it: corruption is worth a second look).
        A large object moves as its manifest; its segments stay where they are. When a segment
        itself is bad, Swift refuses a manifest that names it: the segment list is then kept as a
        plain JSON object, so nothing that was stored is lost track of."""
        for encrypted in (False, True):
            name = blob_name(sha256, encrypted)
            headers = self._head(name)
            if headers is None:
                continue
            aside = f"{name}.{_stamp()}"
            if headers.get("x-static-large-object", "").lower() == "true":
                segments = self.swift.manifest(self.container(name), name)
                try:
                    self.swift.put_manifest(self.quarantine_container, aside, segments)
                except ClientException:  # a segment itself is bad: keep its list, plainly
                    self.swift.create_container(self.quarantine_container)  # Swift judged the segments first
                    self.swift.put(self.quarantine_container, f"{aside}.manifest.json", json.dumps(segments).encode())
                self.swift.delete(self.container(name), name)  # the manifest only; segments stay
            else:
                self.swift.copy(self.container(name), name, self.quarantine_container, aside)
                self.swift.delete(self.container(name), name)

    # Metadata objects: container `<prefix>-metadata`, objects `<catalog id>/<name>`; no blob
    # container's name ends in anything but two hex digits.
    @property
    def metadata_container(self) -> str:
        return f"{self.prefix}-metadata"

    def _metadata_install(self, spooled: Spooled, name: str) -> None:
        self._upload(spooled, self.metadata_container, name)

    def _metadata_names(self, catalog: str | None) -> Iterator[tuple[str, int]]:
        for entry in self.swift.entries(self.metadata_container, prefix=f"{catalog}/" if catalog else None):
            yield str(entry["name"]), int(entry["bytes"])

    def _metadata_open_raw(self, name: str) -> BinaryIO:
        try:
            _headers, body = self.swift.get(self.metadata_container, name)
        except ClientException as error:
            if error.http_status == 404:
                raise BlobMissing(f"no metadata object {name} in Swift container {self.metadata_container}") from None
            raise
        return io.BufferedReader(_BodyReader(body), 1 << 20)

    def _metadata_delete(self, name: str) -> None:
        headers = self.swift.head(self.metadata_container, name)
        if headers is None:
            return
        try:
            if headers.get("x-static-large-object", "").lower() == "true":
                self.swift.delete_large(self.metadata_container, name)
            else:
                self.swift.delete(self.metadata_container, name)
        except ClientException as error:
            if error.http_status != 404:
                raise

    def names(self, after: str = "") -> Iterator[Entry]:
        """Every stored blob whose sha256 sorts after `after`, in sha256 order, from the 256
        container listings (paged, ~30,000 names/s: far cheaper than a HEAD per blob). Swift
        updates listings asynchronously: a name missing here may still exist (check HEADs it)."""
        first = int(after[:2], 16) if after else 0
        for shard in range(first, 256):
            container = f"{self.prefix}-{shard:02x}"
            for entry in self.swift.entries(container, marker=after if shard == first else ""):
                name = str(entry["name"])
                if BLOB_NAME.match(name) and name[:64] > after:
                    yield Entry(name[:64], name.endswith(ENCRYPTED_SUFFIX), int(entry["bytes"]))
