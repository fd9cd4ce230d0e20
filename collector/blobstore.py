"""Content-addressed blob stores: each distinct content stored once, under its sha256.

A blob becomes visible only when complete and verified: bytes stream into a temporary file while
sha1 and sha256 are computed in the same pass, the sha1 is checked against what the wiki says, and
only then is the file renamed into place. A crash leaves at most a temporary file, never a blob
that looks whole and is not. The local directory is the embedded default; a Swift container
backend implements the same interface.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol


class ChecksumMismatch(Exception):
    """The bytes are not what the wiki says they are."""

    def __init__(self, expected_sha1: str, sha1: str, sha256: str, size: int):
        super().__init__(f"sha1 mismatch: the wiki records {expected_sha1}, the bytes hash to {sha1} "
                         f"(sha256 {sha256}, {size} bytes)")
        self.expected_sha1, self.sha1, self.sha256, self.size = expected_sha1, sha1, sha256, size


@dataclass(frozen=True)
class Stored:
    sha256: str
    sha1: str
    size: int
    new: bool  # False when the content was already stored


class BlobStore(Protocol):
    def has(self, sha256: str) -> bool: ...

    def put(self, chunks: Iterable[bytes], expect_sha1: str | None = None) -> Stored: ...

    def open(self, sha256: str) -> BinaryIO: ...


class LocalBlobStore:
    """Blobs as files `ab/cd/<sha256>` under one directory; temporary files in `tmp/` beside them."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self._sweep()

    def _sweep(self, idle_seconds: float = 3600) -> None:
        """Remove what killed writers left behind: a live writer touches its file all the time."""
        cutoff = time.time() - idle_seconds
        for leftover in self.tmp.glob("incoming-*"):
            try:
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
            except FileNotFoundError:
                pass

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        return open(self.path(sha256), "rb")

    def put(self, chunks: Iterable[bytes], expect_sha1: str | None = None) -> Stored:
        sha1, sha256, size = hashlib.sha1(), hashlib.sha256(), 0
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp, prefix="incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    sha1.update(chunk)
                    sha256.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            digest = sha256.hexdigest()
            if expect_sha1 is not None and sha1.hexdigest() != expect_sha1:
                raise ChecksumMismatch(expect_sha1, sha1.hexdigest(), digest, size)
            final = self.path(digest)
            if final.exists():
                return Stored(digest, sha1.hexdigest(), size, new=False)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_name, final)
            tmp_name = None
            return Stored(digest, sha1.hexdigest(), size, new=True)
        finally:
            if tmp_name is not None:
                os.unlink(tmp_name)
