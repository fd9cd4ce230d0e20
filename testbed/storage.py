"""Reach behind a test bed's MediaWiki into its media storage, to break files the way outages do
(an object lost, its bytes corrupted) and to look at what is really stored. Tests and the demo
only: mediarescue itself never writes behind MediaWiki's back."""
from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from swiftclient.exceptions import ClientException

from mediarescue.mediawiki import MediaLayout
from mediarescue.swift import SwiftStore
from testbed import procs
from testbed.bed import TestBed


class BedStorage:
    """Zones: "public" (current versions, and old ones under archive/) and "deleted"."""

    def __init__(self, test_bed: TestBed):
        self.bed = test_bed
        if test_bed.swift_auth_url:
            self.swift = SwiftStore(test_bed.swift_auth_url, test_bed.swift_user, test_bed.swift_key,
                                    retries=1, starting_backoff=0.1)
            self.layout = MediaLayout(test_bed.wiki_id, test_bed.sharded)

    def _file(self, zone: str, rel_path: str) -> Path:
        return self.bed.images_dir / ("deleted/" if zone == "deleted" else "") / rel_path

    def sha1(self, zone: str, rel_path: str) -> str | None:
        """The stored bytes' sha1 (hex), or None when nothing is stored there."""
        digest = hashlib.sha1()
        if self.bed.swift_auth_url:
            container, name = self.layout.locate(zone, rel_path)
            if self.swift.head(container, name) is None:
                return None
            for block in self.swift.stream(container, name):
                digest.update(block)
        else:
            path = self._file(zone, rel_path)
            if not path.is_file():
                return None
            digest.update(path.read_bytes())
        return digest.hexdigest()

    def read(self, zone: str, rel_path: str) -> bytes:
        """The stored bytes (small test files only)."""
        if self.bed.swift_auth_url:
            return b"".join(self.swift.stream(*self.layout.locate(zone, rel_path)))
        return self._file(zone, rel_path).read_bytes()

    def lose_file_records(self, name: str) -> None:
        """The database forgets the file (its image and oldimage rows): a full loss that no
        deletion or move in the logs explains."""
        key = name.replace(" ", "_")
        with sqlite3.connect(self.bed.dir / "db" / "wiki.sqlite") as db:
            db.execute("DELETE FROM image WHERE img_name = ?", (key,))
            db.execute("DELETE FROM oldimage WHERE oi_name = ?", (key,))

    def lose(self, zone: str, rel_path: str) -> None:
        if self.bed.swift_auth_url:
            self.swift.delete(*self.layout.locate(zone, rel_path))
        else:
            self._file(zone, rel_path).unlink()

    def corrupt(self, zone: str, rel_path: str, data: bytes = b"not the file you stored") -> None:
        """Replace the stored bytes, keeping whatever metadata MediaWiki set on the object."""
        if self.bed.swift_auth_url:
            container, name = self.layout.locate(zone, rel_path)
            headers = self.swift.head(container, name) or {}
            meta = {k: v for k, v in headers.items() if k.startswith("x-object-meta-") or k == "content-type"}
            self.swift.put(container, name, data, headers=meta)
        else:
            self._file(zone, rel_path).write_bytes(data)

    @contextmanager
    def object_server_hung(self, held: str, timeout: float = 60) -> Iterator[None]:
        """Swift's object server hangs (SIGSTOP): the proxy times out on it and answers 503. On leaving
        it resumes, and the outage is over only once Swift serves the public file `held` again: the
        proxy answers 503 without asking a node for error_suppression_interval after its last error,
        and the object server first works off the requests that piled up while it hung."""
        object_server = procs.running(self.bed.dir)["swift-object"]
        for pid in object_server:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in object_server:
                os.kill(pid, signal.SIGCONT)
        deadline = time.monotonic() + timeout
        while True:
            try:
                found = self.sha1("public", held)
                break
            except ClientException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert found is not None, f"Swift answers again but no longer holds {held}"
