"""Metadata objects in the blob store: the catalog's logical dumps (mediarescue.catalog.dump), kept
under a reserved prefix no content blob can take — `metadata/` in a local store, whose blobs live
in two-hex-digit folders, and the container `<prefix>-metadata` in Swift, whose blob containers end
in two hex digits — and named so that the name alone says what an object is and proves its bytes:

    <catalog id>/<seq, 8 digits>-<full|delta>-r<run>-<UTC time>-<sha256>.jsonl.gz[.enc]

`catalog id` tells apart catalogs sharing one store; `seq` orders the objects of one catalog; `run`
is the catalog's newest run when it was written; the sha256 is of the gzip bytes (before sealing),
checked on every read to the end; `.enc` says it is sealed (with a key configured, every metadata
object is, like private blobs). An object is installed only whole: spooled, then renamed into place
after an fsync, or PUT with its md5 as ETag, so a writer killed half-way leaves no object at all.
"""
from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import BinaryIO

NAME = re.compile(r"^(?P<catalog>[0-9a-f]{16})/(?P<seq>\d{8})-(?P<kind>full|delta)-r(?P<run>\d+)-"
                  r"(?P<stamp>\d{8}T\d{6}Z)-(?P<sha256>[0-9a-f]{64})\.jsonl\.gz(?P<enc>\.enc)?$")
CATALOG_ID = re.compile(r"^[0-9a-f]{16}$")


class CorruptMetadata(Exception):
    """A metadata object whose bytes are not those its name promises."""


@dataclass(frozen=True, order=True)
class MetadataObject:
    catalog: str
    seq: int
    kind: str
    run: int
    stamp: str  # %Y%m%dT%H%M%SZ
    sha256: str
    encrypted: bool
    size: int | None = None  # bytes as stored, when the listing tells

    @property
    def name(self) -> str:
        return (f"{self.catalog}/{self.seq:08d}-{self.kind}-r{self.run}-{self.stamp}-{self.sha256}.jsonl.gz"
                + (".enc" if self.encrypted else ""))

    @property
    def written(self) -> str:
        """When it was written, as the catalog writes times (ISO 8601 UTC)."""
        return datetime.strptime(self.stamp, "%Y%m%dT%H%M%SZ").strftime("%Y-%m-%dT%H:%M:%SZ")

    @classmethod
    def parse(cls, name: str, size: int | None = None) -> MetadataObject | None:
        """The object a name names, or None for anything else (a temporary file, a stray name)."""
        found = NAME.match(name)
        if not found:
            return None
        return cls(found["catalog"], int(found["seq"]), found["kind"], int(found["run"]), found["stamp"],
                   found["sha256"], bool(found["enc"]), size)


def stamp(moment: datetime | None = None) -> str:
    return (moment or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")


class VerifyingReader(io.RawIOBase):
    """Reads a stream through, and at its end checks the sha256 of what was read against the one
    the object's name promises: CorruptMetadata instead of the end if they differ, so that no
    reader trusts an object it did not read whole and right."""

    def __init__(self, raw: BinaryIO, expected_sha256: str, name: str):
        self._raw, self._expected, self._name = raw, expected_sha256, name
        self._hash, self._checked = hashlib.sha256(), False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer))
        if not data:
            if not self._checked and self._hash.hexdigest() != self._expected:
                raise CorruptMetadata(f"metadata object {self._name}: its bytes hash to {self._hash.hexdigest()}, "
                                      f"not to the sha256 its name holds (altered or cut short)")
            self._checked = True
            return 0
        self._hash.update(data)
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()
