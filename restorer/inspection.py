"""What the live wiki shows of a set of files, and what its storage answers for each version.

The wiki's records come in batches (imageinfo for 50 titles a request, 500 with apihighlimits,
redirects followed so a renamed file is found under its new title); each version's URL is then
asked in parallel: HEAD and the size for a shallow look, GET and the sha1 for a deep one (or when
the headers say too little). Deleted versions are looked at in the wiki's Swift, where configured.

An outage is not a loss: storage that answers 5xx or not at all stops the inspection with an
Outage, and before anything is called lost a few files the backup saw healthy are probed first (a
Swift outage behind img_auth.php even looks like 404s).
"""
from __future__ import annotations

import hashlib
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import requests
import urllib3
from swiftclient.exceptions import ClientException

from mediarescue.config import WikiConfig
from mediarescue.mediawiki import (
    MediaLayout,
    MediaWiki,
    db_key,
    deleted_path,
    public_path,
    upload_dir_path,
    user_agent,
)
from mediarescue.swift import SwiftStore
from policies.recovery import Live

IIPROP = "timestamp|user|size|sha1|url|archivename"
# Files the outage probe may ask: were the storage up with 90 % of the files lost, all of them failing
# would happen once in 800 probes (0.9 ** 64); one answering ends the probe, so only an outage asks them all.
PROBE_SAMPLE = 64


def file_pool(contact: str) -> urllib3.PoolManager:
    """A connection pool for reading file URLs: urllib3 itself, not requests, since the client's own
    cost per request is what limits a verify of millions of files."""
    return urllib3.PoolManager(maxsize=2, headers={"User-Agent": user_agent(contact)},
                               retries=urllib3.Retry(total=3, connect=3, read=0, status=0, redirect=3))


def served_sha1(pool: urllib3.PoolManager, url: str) -> tuple[int, str | None]:
    """The HTTP status of a GET of `url` and, when 200, the sha1 of what it serves (streamed)."""
    response = pool.request("GET", url, timeout=120, preload_content=False)
    try:
        if response.status != 200:
            return response.status, None
        digest = hashlib.sha1()
        for chunk in response.stream(1 << 20):
            digest.update(chunk)
        return 200, digest.hexdigest()
    finally:
        response.release_conn()


class Outage(Exception):
    """The media storage is down or failing: nothing can be called lost now."""


@dataclass
class FileState:
    title: str                               # as asked (canonical)
    live_title: str | None = None            # where the wiki has it now; None when it has no such file
    versions: list[Live] = field(default_factory=list)    # newest first
    urls: list[str] = field(default_factory=list)         # one per version
    deleted: list[Live] = field(default_factory=list)     # deleted versions (with Swift or upload_dir only)
    deleted_on_wiki: bool = False            # the logs the account sees end with a deletion
    page_exists: bool = False                # the description page exists (with or without a file)
    archived: list[Live] | None = None       # the filearchive rows (sha1 "" where hidden); None: not read
    invalid: str | None = None               # the wiki rejects the title


class Inspector:
    def __init__(self, api: MediaWiki, wiki: WikiConfig, contact: str, workers: int = 8, batch: int | None = None):
        self.api, self.wiki, self.workers = api, wiki, workers
        self.user, rights = api.account()
        self.batch = batch or (500 if "apihighlimits" in rights else 50)
        self.may_see_deleted = "deletedhistory" in rights  # reads the filearchive
        self._local = threading.local()
        self._contact = contact
        self.layout = MediaLayout(wiki.swift.wiki_id, wiki.swift.sharded) if wiki.swift else None

    # --- the wiki's records ---
    def records(self, titles: list[str]) -> dict[str, FileState]:
        states = {title: FileState(title) for title in titles}
        for page in self.api.pages_of(titles, self.batch, prop="imageinfo", iilimit="max", iiprop=IIPROP,
                                      redirects=1):
            state = states.get(page["asked"]) or states.get(page["title"])
            if state is None:
                continue
            if page.get("invalid"):
                state.invalid = page.get("invalidreason", "invalid title")
                continue
            state.page_exists = not page.get("missing")
            infos = [i for i in page.get("imageinfo", []) if "sha1" in i]
            if infos:
                state.live_title = page["title"]
                state.versions = [Live(i["timestamp"], i.get("user"), int(i["size"]), i["sha1"],
                                       i.get("archivename")) for i in infos]
                state.urls = [i["url"] for i in infos]
        return states

    def explain_missing(self, states: dict[str, FileState]) -> None:
        """For files the wiki does not show: did the logs delete or move them? (One request each:
        such files are few, and a full loss is exactly what must not be mistaken for either.)"""
        for state in states.values():
            if state.live_title or state.invalid:
                continue
            events = next(self.api.query(list="logevents", letitle=state.title, lelimit=50), {}).get("logevents", [])
            for event in events:  # newest first
                if event.get("type") == "delete" and event.get("action") in ("delete", "restore"):
                    state.deleted_on_wiki = event["action"] == "delete"
                    break
                if event.get("type") == "move":
                    target = event.get("params", {}).get("target_title")
                    moved = self.records([target]).get(target) if target else None
                    if moved and moved.live_title:
                        state.live_title, state.versions, state.urls = moved.live_title, moved.versions, moved.urls
                    break

    def filearchive(self, states: dict[str, FileState]) -> None:
        """Each file's filearchive rows (its deleted versions), where the account may read them: one
        request per title for a few titles, one listing of the whole archive for many. A row whose
        content is hidden from the account comes without its sha1: it still says 'deleted'."""
        if not self.may_see_deleted:
            return
        by_name = {db_key(s.live_title or s.title): s for s in states.values() if s.archived is None}
        for state in by_name.values():
            state.archived = []
        for row in self.api.filearchive(by_name, "sha1|timestamp|user|size", self.batch):
            by_name[row["name"]].archived.append(Live(row["timestamp"], row.get("user"), int(row.get("size", 0)),
                                                      row.get("sha1", ""), None, "unchecked"))

    def deleted_versions(self, states: dict[str, FileState]) -> None:
        """Deleted versions of each file whose bytes can be looked up in the deleted zone (in the
        wiki's Swift or its upload directory)."""
        if not ((self.layout or self.wiki.upload_dir) and self.may_see_deleted):
            return
        self.filearchive(states)
        for state in states.values():
            state.deleted = [row for row in state.archived or () if row.sha1]

    # --- what storage answers ---
    def _pool(self) -> urllib3.PoolManager:
        if not hasattr(self._local, "pool"):
            self._local.pool = file_pool(self._contact)
        return self._local.pool

    def health(self, url: str, size: int, sha1: str, deep: bool) -> str:
        """ok | missing | corrupt; raises Outage when storage fails rather than answers."""
        pool = self._pool()
        try:
            length = None
            if deep:  # one GET: its status says what a HEAD would, and its bytes the rest
                status, digest = served_sha1(pool, url)
            else:
                head = pool.request("HEAD", url, timeout=30)
                status, length = head.status, head.headers.get("Content-Length")
            if status == 404:
                return "missing"
            if status >= 500 or status == 429:
                raise Outage(f"storage answered HTTP {status} for {url}")
            if status >= 400:
                raise Outage(f"storage refused the read of {url}: HTTP {status}")
            if deep:
                return "ok" if digest == sha1 else "corrupt"
            if length is not None:
                return "ok" if int(length) == size else "corrupt"
            status, digest = served_sha1(pool, url)  # no length given: the bytes must say
            if status != 200:
                raise Outage(f"storage answered HTTP {status} for {url} after a HEAD")
            return "ok" if digest == sha1 else "corrupt"
        except urllib3.exceptions.HTTPError as error:
            raise Outage(f"storage did not answer for {url}: {type(error).__name__}") from None

    def deleted_bytes_ok(self, title: str, sha1: str) -> bool | None:
        """Whether the deleted zone still holds these bytes of `title`; None where it cannot be
        looked at (neither Swift access nor the upload directory configured)."""
        if not self.layout and not self.wiki.upload_dir:
            return None
        return self._deleted_health(title, Live("", None, 0, sha1), deep=True).health == "ok"

    def _deleted_health(self, title: str, version: Live, deep: bool = False) -> Live:
        if not self.layout:
            return replace(version, health=self._deleted_file_health(title, version, deep))
        container, obj = self.layout.locate("deleted", deleted_path(version.sha1, title))
        try:
            found = self._swift().head(container, obj)
        except (ClientException, requests.RequestException) as error:
            raise Outage(f"Swift did not answer for {container}/{obj}: {error}") from None
        return replace(version, health="ok" if found else "missing")

    def _deleted_file_health(self, title: str, version: Live, deep: bool) -> str:
        """ok | missing | corrupt, of a deleted version in the upload directory's deleted zone. A zone
        that is not there at all (a mount gone) is an outage, not the loss of every deleted file."""
        zone = self.wiki.upload_dir / "deleted"
        if not zone.is_dir():
            raise Outage(f"the wiki's deleted zone {zone} is not a readable folder (upload_dir not mounted?)")
        path = upload_dir_path(self.wiki.upload_dir, "deleted", deleted_path(version.sha1, title))
        try:
            if not deep:
                return "ok" if path.stat().st_size == version.size else "corrupt"
            digest = hashlib.sha1()
            with open(path, "rb") as data:
                while chunk := data.read(1 << 20):
                    digest.update(chunk)
            return "ok" if digest.hexdigest() == version.sha1 else "corrupt"
        except FileNotFoundError:
            return "missing"
        except OSError as error:
            raise Outage(f"the wiki's deleted zone cannot be read: {error.strerror}") from None

    def check(self, states: dict[str, FileState], deep: bool = False) -> None:
        """Fill in every version's health, in parallel."""
        jobs: list[tuple[FileState, int]] = [(s, i) for s in states.values() for i in range(len(s.versions))]
        with ThreadPoolExecutor(self.workers) as pool:
            results = pool.map(lambda job: self.health(job[0].urls[job[1]], job[0].versions[job[1]].size,
                                                       job[0].versions[job[1]].sha1, deep), jobs)
            for (state, i), health in zip(jobs, results):
                state.versions[i] = replace(state.versions[i], health=health)
            deleted = [(s, i) for s in states.values() for i in range(len(s.deleted))]
            checked = pool.map(lambda job: self._deleted_health(job[0].live_title or job[0].title,
                                                                job[0].deleted[job[1]], deep), deleted)
            for (state, i), version in zip(deleted, checked):
                state.deleted[i] = version

    def probe(self, known_good: list[dict[str, Any]], sample: int = PROBE_SAMPLE) -> None:
        """Before calling anything lost: is the storage up? Raises Outage when it is not.

        `known_good`: files the backup saw healthy (Catalog.sample_healthy: spread over the whole
        catalog, since files lost together have neighbouring ids). Of those the wiki still shows
        unchanged, up to `sample` are asked in turn, a few at a time, until one answers: a large
        partial loss still leaves some answering, an outage none (a Swift outage behind
        img_auth.php even answers 404). Where the wiki's Swift is configured, Swift itself says:
        its containers answer when it is up, and a 404 from it is a real one."""
        states = self.records([c["title"] for c in known_good])
        picks = []
        for candidate in known_good:
            state = states.get(candidate["title"])
            if state and state.versions and state.versions[0].sha1 == candidate["sha1"]:
                picks.append((state.live_title, state.urls[0], state.versions[0]))
        random.shuffle(picks)  # the catalog's order would put one region of it first
        picks = picks[:sample]
        if not picks:
            return
        ask = self._ask_swift if self.layout else self._ask_url
        with ThreadPoolExecutor(self.workers) as pool:
            if self.layout:
                list(pool.map(self._container_answers, {self.layout.locate("public", public_path(title))[0]
                                                        for title, _, _ in picks}))
            for start in range(0, len(picks), self.workers):
                if any(pool.map(ask, picks[start:start + self.workers])):
                    return
        if not self.layout:
            raise Outage(f"none of {len(picks)} files that were healthy at the last backup, spread over the "
                         "catalog, answers (all 404): this looks like a storage outage, not a loss")

    def _swift(self) -> SwiftStore:
        if not hasattr(self._local, "swift"):
            s = self.wiki.swift
            self._local.swift = SwiftStore(s.auth_url, s.user, s.key, retries=1, starting_backoff=0.5)
        return self._local.swift

    def _container_answers(self, container: str) -> None:
        """A public container answers a HEAD when Swift is up (a missing one answers 404: an answer)."""
        try:
            self._swift().head_container(container)
        except (ClientException, requests.RequestException) as error:
            raise Outage(f"the wiki's Swift does not answer for its container {container}: {error}") from None

    def _ask_url(self, pick: tuple[str, str, Live]) -> bool:
        """Whether the file's URL answers (a wrong size is an answer too); Outage on 5xx."""
        _title, url, live = pick
        return self.health(url, live.size, live.sha1, deep=False) != "missing"

    def _ask_swift(self, pick: tuple[str, str, Live]) -> bool:
        """Whether Swift holds the file; when it does, its URL must serve it, or the front end
        (img_auth.php, a rewrite) is what fails."""
        title, url, live = pick
        container, name = self.layout.locate("public", public_path(title))
        try:
            held = self._swift().head(container, name) is not None
        except (ClientException, requests.RequestException) as error:
            raise Outage(f"the wiki's Swift did not answer for {container}/{name}: {error}") from None
        if held and not self._ask_url(pick):
            raise Outage(f"Swift holds {container}/{name} but {url} answers 404: the file server in front of "
                         "Swift is failing, not the files")
        return held
