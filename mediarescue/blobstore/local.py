"""The embedded default blob store: a local directory, two levels of sha256 prefix folders."""
from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

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


class LocalBlobStore(SpoolingStore):
    """Blobs as files `ab/cd/<sha256>[.enc]` under one directory; temporary files in `tmp/` beside
    them, blobs that failed `check` in `quarantine/`."""

    fsync = True  # a blob renamed into place must survive a power cut as a whole

    def __init__(self, root: Path | str, encryption_key: bytes | None = None):
        self.root = Path(root)
        self.tmp = private_dir(self.root / "tmp")
        self.encryption_key = encryption_key
        sweep(self.tmp)

    def path(self, sha256: str, encrypted: bool = False) -> Path:
        name = blob_name(sha256, encrypted)  # first: it refuses what is not a sha256
        return self.root / sha256[:2] / sha256[2:4] / name

    def _exists(self, name: str) -> bool:
        return self.path(name[:64], name.endswith(ENCRYPTED_SUFFIX)).is_file()

    def _install(self, spooled: Spooled, name: str) -> None:
        final = self.path(name[:64], name.endswith(ENCRYPTED_SUFFIX))
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(spooled.path, final)

    def _open_raw(self, name: str) -> BinaryIO:
        try:
            return open(self.path(name[:64], name.endswith(ENCRYPTED_SUFFIX)), "rb")
        except FileNotFoundError:
            raise BlobMissing(f"no blob {name} in {self.root}") from None

    def remove(self, sha256: str, encrypted: bool) -> None:
        self.path(sha256, encrypted).unlink(missing_ok=True)

    def quarantine(self, sha256: str) -> None:
        """Move the blob aside (not delete it: a verdict of corruption is worth a second look)."""
        private_dir(self.root / "quarantine")
        for encrypted in (False, True):
            path = self.path(sha256, encrypted)
            if path.exists():
                shutil.move(path, self.root / "quarantine" / f"{path.name}.{_stamp()}")

    # Metadata objects: `metadata/<catalog id>/<name>`, beside the two-hex-digit blob folders.
    def _metadata_path(self, name: str) -> Path:
        return self.root / "metadata" / name

    def _metadata_install(self, spooled: Spooled, name: str) -> None:
        final = self._metadata_path(name)
        private_dir(final.parent)
        os.replace(spooled.path, final)
        folder = os.open(final.parent, os.O_RDONLY)  # the rename itself must survive a power cut
        try:
            os.fsync(folder)
        finally:
            os.close(folder)

    def _metadata_names(self, catalog: str | None) -> Iterator[tuple[str, int]]:
        top = self.root / "metadata"
        folders = [top / catalog] if catalog else sorted(p for p in top.glob("*") if p.is_dir())
        for folder in folders:
            for path in sorted(folder.glob("*")) if folder.is_dir() else []:
                try:
                    yield f"{folder.name}/{path.name}", path.stat().st_size
                except FileNotFoundError:
                    continue  # removed while listed

    def _metadata_open_raw(self, name: str) -> BinaryIO:
        try:
            return open(self._metadata_path(name), "rb")
        except FileNotFoundError:
            raise BlobMissing(f"no metadata object {name} in {self.root / 'metadata'}") from None

    def _metadata_delete(self, name: str) -> None:
        self._metadata_path(name).unlink(missing_ok=True)

    def names(self, after: str = "") -> Iterator[Entry]:
        """Every stored blob whose sha256 sorts after `after`, in sha256 order."""
        def sorted_dirs(path: Path, floor: str) -> list[str]:
            try:
                return sorted(d for d in os.listdir(path) if re.fullmatch(r"[0-9a-f]{2}", d) and d >= floor)
            except FileNotFoundError:
                return []

        for top in sorted_dirs(self.root, after[:2]):
            for sub in sorted_dirs(self.root / top, after[2:4] if top == after[:2] else ""):
                folder = self.root / top / sub
                for name in sorted(os.listdir(folder)):
                    if BLOB_NAME.match(name) and name[:64] > after:
                        try:
                            size = (folder / name).stat().st_size
                        except FileNotFoundError:
                            continue  # removed while listed
                        yield Entry(name[:64], name.endswith(ENCRYPTED_SUFFIX), size)
