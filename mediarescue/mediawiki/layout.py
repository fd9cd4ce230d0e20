"""MediaWiki's file layout: names as stored, the hash directories, and the zones and containers a
file version lives in.

MediaWiki stores a file's current version at `a/ab/Name` (ab: the md5 of the name), old versions
at `archive/a/ab/TIMESTAMP!Name`, and deleted versions content-addressed at `a/b/c/<sha1 base36>.ext`;
the same relative paths are files under images/ on a filesystem-backed wiki. With SwiftFileBackend
each zone is a container `<wikiId>-local-<zone>`, and big wikis shard it by the hash directories
into `<container>.<ab>` (base 16) or, for the deleted zone, `<container>.<ab>` in base 36.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
# FileBackendStore::getContainerShard: directories of 2+ chars may stand above the hash dirs.
_SHARD_HEX = re.compile(r"^(?:[^/]{2,}/)*[0-9a-f]/([0-9a-f]{2})(?:/|$)")


_SHARD_BASE36 = re.compile(r"^(?:[^/]{2,}/)*([0-9a-z])/([0-9a-z])(?:/|$)")


def db_key(title: str) -> str:
    """A file name as MediaWiki stores it: no namespace, underscores for spaces."""
    name = title.split(":", 1)[1] if title.lower().startswith(("file:", "image:")) else title
    return name.replace(" ", "_")


def hash_dirs(name: str) -> str:
    digest = hashlib.md5(db_key(name).encode()).hexdigest()
    return f"{digest[0]}/{digest[:2]}/"


def public_path(name: str) -> str:
    return hash_dirs(name) + db_key(name)


def archive_path(archive_name: str) -> str:
    """`archive_name` is imageinfo's `archivename`: TIMESTAMP!Name."""
    return "archive/" + hash_dirs(archive_name.split("!", 1)[1]) + archive_name


def sha1_base36(sha1_hex: str) -> str:
    number = int(sha1_hex, 16)
    digits = ""
    while number:
        number, rest = divmod(number, 36)
        digits = _BASE36[rest] + digits
    return digits.rjust(31, "0")


def sha1_from_base36(sha1_base36: str) -> str:
    """The inverse of sha1_base36: log entries (img_sha1) carry base 36, the API's lists hex."""
    return format(int(sha1_base36, 36), "040x")


def deleted_path(sha1_hex: str, name: str) -> str:
    """Deleted versions are stored once per content: the key is the sha1 in base 36."""
    extension = name.rsplit(".", 1)[1].lower() if "." in name else ""
    key = sha1_base36(sha1_hex) + (f".{extension}" if extension else "")
    return f"{key[0]}/{key[1]}/{key[2]}/{key}"


@dataclass(frozen=True)
class MediaLayout:
    """Where a wiki's zones live in Swift."""
    wiki_id: str
    sharded: bool

    def container(self, zone: str, rel_path: str) -> str:
        base = f"{self.wiki_id}-local-{zone}"
        if not self.sharded:
            return base
        match = (_SHARD_BASE36 if zone == "deleted" else _SHARD_HEX).match(rel_path)
        if not match:
            raise ValueError(f"{rel_path!r} has no hash directories to shard on")
        return f"{base}.{''.join(match.groups())}"

    def locate(self, zone: str, rel_path: str) -> tuple[str, str]:
        return self.container(zone, rel_path), rel_path


def upload_dir_path(upload_dir: Path, zone: str, rel_path: str) -> Path:
    """Where a filesystem-backed wiki keeps a zone's file: `rel_path` under its upload directory
    ($wgUploadDirectory), the deleted zone under its `deleted/` ($wgDeletedDirectory's default)."""
    return upload_dir / "deleted" / rel_path if zone == "deleted" else upload_dir / rel_path
