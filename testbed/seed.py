"""A realistic, deterministic media history on any wiki, through the API as one logged-in user
(who needs upload, delete, undelete and move rights).

Everything a backup and a recovery must cope with is in it: several media types, titles with
spaces, unicode and punctuation, several versions of one title, the same bytes under two titles,
a file deleted, a file deleted then undeleted, one old version deleted alone, a file renamed with
a redirect left behind, a file large enough to go up in chunks, and description pages with a
license. The same (seed, count, size) gives the same bytes and titles on every run.
"""
from __future__ import annotations

import hashlib
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mediarescue.mediawiki import MediaWiki
from testbed.media import KINDS, write_media

_NAMES = ("Sunset over the bay", "Ünïcode façade – Ωmega", "Map (1890), \"old\" & new", "Kyōto 京都 temple",
          "Semi;colon, comma's + plus", "Ελληνικά γράμματα", "Dash—and…dots", "Café au lait 100 percent")
ROLES = {  # role -> (title, kind)
    "history": ("File:Seed history – three versions.png", "png"),
    "old_version_deleted": ("File:Seed old version deleted alone.jpg", "jpg"),
    "duplicate_original": ("File:Seed duplicate original.gif", "gif"),
    "duplicate_copy": ("File:Seed duplicate copy.gif", "gif"),
    "deleted": ("File:Seed deleted later.svg", "svg"),
    "undeleted": ("File:Seed deleted and restored.pdf", "pdf"),
    "moved_from": ("File:Seed before the move.tif", "tif"),
    "moved_to": ("File:Seed after the move.tif", "tif"),
    "large": ("File:Seed large chunked upload.png", "png"),
}
SAME_TITLE_GAP = 1.05  # MediaWiki names archived versions by the second: two writes to one title need a gap


class SeedError(Exception):
    pass


@dataclass
class SeedResult:
    """What the wiki holds afterwards, as the API lists it (newest version first)."""
    files: dict[str, list[str]] = field(default_factory=dict)     # live title -> sha1 of each version
    deleted: dict[str, list[str]] = field(default_factory=dict)   # title -> sha1 of its deleted versions
    redirects: dict[str, str] = field(default_factory=dict)       # old title -> title it now redirects to
    roles: dict[str, str] = field(default_factory=lambda: {role: title for role, (title, _) in ROLES.items()})
    uploads: int = 0
    bytes: int = 0


def license_text(description: str, seed: int) -> str:
    return (f"== Summary ==\n{{{{Information\n|description={description}\n|source=own work\n"
            f"|author=[[User:Seeder]]\n|date=seed {seed}\n}}}}\n\n== Licensing ==\n{{{{self|cc-by-sa-4.0}}}}\n"
            "This file is licensed under the Creative Commons Attribution-Share Alike 4.0 International license.\n")


class _Seeder:
    def __init__(self, api: MediaWiki, workdir: Path, seed: int):
        self.api, self.workdir, self.seed = api, workdir, seed
        self.result = SeedResult()
        self._last_write: dict[str, float] = {}

    def _pace(self, title: str) -> None:
        wait = self._last_write.get(title, 0) + SAME_TITLE_GAP - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last_write[title] = time.monotonic()

    def upload(self, title: str, kind: str, variant: int, size: int, comment: str) -> str:
        path = self.workdir / f"upload.{kind}"
        write_media(path, kind, self.seed * 1_000_003 + variant, size)
        sha1 = hashlib.sha1()
        with open(path, "rb") as data:
            for block in iter(lambda: data.read(1 << 20), b""):
                sha1.update(block)
        self._pace(title)
        result = self.api.upload(path, title.split(":", 1)[1], comment=comment, ignore_warnings=True,
                                 text=license_text(f"{title} (variant {variant})", self.seed))
        if result.get("result") != "Success":
            raise SeedError(f"uploading {title} did not succeed: {result}")
        self.result.files.setdefault(title, []).insert(0, sha1.hexdigest())
        self.result.uploads += 1
        self.result.bytes += path.stat().st_size
        path.unlink()
        return sha1.hexdigest()

    def write(self, title: str, /, **params: object) -> dict:
        self._pace(title)
        return self.api.post(**params)

    def delete_file(self, title: str) -> None:
        self.write(title, action="delete", title=title, reason="Seed: a deletion to back up")
        self.result.deleted.setdefault(title, []).extend(self.result.files.pop(title))

    def delete_old_version(self, title: str, sha1: str) -> None:
        info = self.api.get(action="query", titles=title, prop="imageinfo", iilimit="max",
                            iiprop="sha1|archivename")["query"]["pages"][0]["imageinfo"]
        archive_name = next(v["archivename"] for v in info if v["sha1"] == sha1 and "archivename" in v)
        self.write(title, action="delete", title=title, oldimage=archive_name, reason="Seed: one old version")
        self.result.files[title].remove(sha1)
        self.result.deleted.setdefault(title, []).append(sha1)


def seed(api: MediaWiki, count: int = 16, seed: int = 1, size: int = 30_000,
         large_size: int = 21 * 1024 * 1024, progress: Callable[[str], None] = lambda message: None) -> SeedResult:
    """Create the seeded history on the wiki `api` is logged in to; refuses an already seeded wiki."""
    existing = api.get(action="query", titles=ROLES["history"][0])["query"]["pages"][0]
    if not existing.get("missing"):
        raise SeedError(f"the wiki already holds {ROLES['history'][0]}: seed a fresh wiki")
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="mediarescue-seed-") as workdir:
        s = _Seeder(api, Path(workdir), seed)
        titles = {role: title for role, (title, _) in ROLES.items()}
        kinds = {role: kind for role, (_, kind) in ROLES.items()}

        progress(f"uploading {count} files")
        for i in range(count):
            kind = KINDS[i % len(KINDS)]
            s.upload(f"File:{_NAMES[i % len(_NAMES)]} {i:04d}.{kind}", kind, i,
                     rng.randint(size // 2, size * 3 // 2), f"Seed upload {i}")

        progress("building the special cases")
        first = {role: 10_000 + 1_000 * n for n, role in enumerate(ROLES)}
        for role in ("history", "old_version_deleted", "duplicate_original", "deleted", "undeleted", "moved_from"):
            s.upload(titles[role], kinds[role], first[role], size, f"Seed: {role}, first version")
        s.upload(titles["duplicate_copy"], kinds["duplicate_copy"], first["duplicate_original"], size,
                 "Seed: the same bytes under another title")
        for role in ("history", "old_version_deleted", "deleted"):
            s.upload(titles[role], kinds[role], first[role] + 1, size, f"Seed: {role}, second version")
        s.upload(titles["history"], kinds["history"], first["history"] + 2, size, "Seed: history, third version")

        s.delete_old_version(titles["old_version_deleted"], s.result.files[titles["old_version_deleted"]][-1])
        s.delete_file(titles["deleted"])
        s.delete_file(titles["undeleted"])
        s.write(titles["undeleted"], action="undelete", title=titles["undeleted"], reason="Seed: restored")
        s.result.files[titles["undeleted"]] = s.result.deleted.pop(titles["undeleted"])
        s.write(titles["moved_from"], action="move", **{"from": titles["moved_from"]}, to=titles["moved_to"],
                reason="Seed: a better name", movetalk=True)
        s.result.files[titles["moved_to"]] = s.result.files.pop(titles["moved_from"])
        s.result.redirects[titles["moved_from"]] = titles["moved_to"]

        progress(f"uploading a {large_size / 2**20:.0f} MiB file in chunks")
        s.upload(titles["large"], kinds["large"], 40_000, large_size, "Seed: a large file, uploaded in chunks")
        return s.result

