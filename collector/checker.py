"""`mediarescue check`: proof that the blob store holds every content the catalog says it does.

Every content the catalog records as stored (the blobs table, and the sha256 of every version
backed up 'ok') is looked for in the store, in sha256 order, merged against the store's own sorted
listing: on Swift one listing pass (~30,000 names/s) is far cheaper than a HEAD per blob (~300/s).
Swift updates listings asynchronously, so a name the listing lacks is confirmed with a HEAD before
it is called missing. A plaintext blob whose stored size differs from the catalog's is corrupt
without reading it. With `read_data` every blob is read back, decrypted when sealed (the AEAD tags
catch any change), and re-hashed to its sha256.

A check stopped by `max_duration`, Ctrl-C or kill -9 resumes where it stopped: the last sha256
checked is saved in the catalog (`checks`, one row per mode) every second and at the end; a pass
that reaches the end starts the next check from the beginning. Every run checks at least one blob,
so a tiny `max_duration` still makes progress.

`check` only reports (restic's rule): it changes nothing in the store or in the versions' state,
and keeps only its own place in the pass. What it would repair is a plan (`CheckResult.repairs`),
carried out by `repair` (`check --repair --yes`), chosen so that the next `mediarescue backup` makes
the store whole again and a repair can never lose anything:
- a missing or corrupt blob: each version backed up with it goes back to backup_status 'pending'
  (error: why), so the next full backup fetches its bytes from the wiki again, if the wiki has them;
- a corrupt blob is first moved to quarantine, never deleted (the store's dedup would otherwise keep
  the bad copy forever);
- private content stored in plaintext (backed up before a key was configured) is sealed in place
  when a key is configured, and counted otherwise; a plaintext copy beside a sealed one (a seal that
  was cut short) is removed; the catalog's record of how a blob is stored follows the store.
Transient failures (Swift 5xx, dropped connections) are listed as errors and never repaired: they
are no evidence of loss. A missing or wrong key stops the check (KeyRequired, WrongKey) before it
judges any sealed blob: a wrong key must not look like a store full of corrupt blobs.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3
from swiftclient.exceptions import ClientException

from mediarescue.blobstore.base import BlobMissing, BlobStore, ChecksumMismatch, Entry
from mediarescue.blobstore.crypto import CHUNK, HEADER_SIZE, TAG, CorruptBlob
from mediarescue.catalog import Catalog, CatalogBusy, CataloguedBlob


class CheckBusy(Exception):
    """Another check is running on this catalog."""


# Failures of a read that say nothing about the blob itself.
TRANSIENT = (OSError, ClientException, urllib3.exceptions.HTTPError, requests.RequestException)


@dataclass
class Problem:
    sha256: str
    problem: str  # missing | corrupt | error
    detail: str
    versions: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Repair:
    """One step of a check's repair plan."""
    sha256: str
    kind: str  # quarantine | pending | seal | remove-plaintext | record-encrypted | record-plaintext
    detail: str = ""
    sha1: str = ""


@dataclass
class CheckResult:
    read_data: bool
    resumed_from: str | None  # the sha256 this run started after; None: from the beginning
    position: str | None  # the next run resumes after this sha256; None: the pass is complete
    checked: int = 0  # blobs checked by this run
    pass_checked: int = 0  # blobs checked by the pass so far, this run included
    bytes_read: int = 0
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)
    repairs: list[Repair] = field(default_factory=list)  # the plan; `repair` carries it out
    repaired: bool = False  # the plan was carried out
    sealed: int = 0  # private blobs found in plaintext and sealed in place (by the repair)
    unsealed_private: int = 0  # private blobs in plaintext, no key configured to seal them
    plaintext_removed: int = 0  # plaintext copies found beside a sealed copy, removed (by the repair)
    orphans: int = 0  # blobs in the store this catalog does not reference (seen by this run)

    @property
    def complete(self) -> bool:
        return self.position is None

    @property
    def ok(self) -> bool:
        return not self.problems

    def of(self, kind: str) -> list[Problem]:
        return [p for p in self.problems if p.problem == kind]

    def hints(self) -> list[str]:
        hints = []
        lost = [p for p in self.problems if p.problem in ("missing", "corrupt")]
        if self.repairs and not self.repaired:
            hints.append(f"{len(self.repairs)} repairs are planned: `mediarescue check --repair` lists them, "
                         "`--repair --yes` makes them (a check itself changes nothing)")
        if lost and self.repaired:
            wikis = sorted({v["wiki"] for p in lost for v in p.versions})
            pending = sum(v["backup_status"] == "pending" for p in lost for v in p.versions)
            runs = " and ".join(f"`mediarescue backup --wiki {w}`" for w in wikis) or "`mediarescue backup`"
            hints.append(f"{pending} versions referencing missing or corrupt blobs are marked pending: run {runs} "
                         "to fetch their bytes from the wiki again, then `mediarescue check` to confirm")
        if self.of("corrupt") and self.repaired:
            hints.append("corrupt blobs were moved to the store's quarantine, not deleted: remove them once "
                         "looked at")
        if self.of("error"):
            hints.append("errors are failures to read (Swift down, a dropped connection), not evidence of loss: "
                         "run `mediarescue check` again once the store answers")
        if self.unsealed_private:
            hints.append(f"{self.unsealed_private} blobs of private (deleted) versions are stored unencrypted: set "
                         "encryption_key_file (make a key with `mediarescue keygen FILE`) and run `mediarescue "
                         "check --repair --yes`, which seals them in place")
        if not self.complete:
            hints.append(f"the pass stopped after {self.position}: run `mediarescue check"
                         f"{' --read-data' if self.read_data else ''}` again to continue it")
        return hints

    def as_json(self) -> dict[str, Any]:
        return {"read_data": self.read_data, "complete": self.complete, "resumed_from": self.resumed_from,
                "position": self.position, "checked": self.checked, "pass_checked": self.pass_checked,
                "bytes_read": self.bytes_read, "seconds": round(self.seconds, 3),
                **{kind: [p.__dict__ for p in self.of(kind.rstrip("s"))] for kind in ("missing", "corrupt", "errors")},
                "repairs": [r.__dict__ for r in self.repairs], "repaired": self.repaired,
                "sealed": self.sealed, "unsealed_private": self.unsealed_private,
                "plaintext_removed": self.plaintext_removed, "orphans": self.orphans,
                "ok": self.ok, "hints": self.hints()}


class _Listing:
    """The store's sorted listing, consumed in step with the catalog's sorted sha256s."""

    def __init__(self, entries: Iterator[Entry]):
        self._entries, self._head, self.orphans = entries, None, 0
        self._last_orphan: str | None = None
        self._advance()

    def _advance(self) -> None:
        self._head = next(self._entries, None)

    def take(self, sha256: str) -> list[Entry]:
        found = []
        while self._head is not None and self._head.sha256 <= sha256:
            if self._head.sha256 == sha256:
                found.append(self._head)
            elif self._head.sha256 != self._last_orphan:
                self.orphans += 1
                self._last_orphan = self._head.sha256
            self._advance()
        return found


def _read_hash(store: BlobStore, sha256: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with store.open(sha256) as stream:
        while block := stream.read(CHUNK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


class _Checker:
    def __init__(self, catalog: Catalog, store: BlobStore, read_data: bool, result: CheckResult,
                 can_seal: bool):
        self.catalog, self.store, self.read_data, self.result, self.can_seal = \
            catalog, store, read_data, result, can_seal

    def lost(self, blob: CataloguedBlob, problem: str, detail: str) -> None:
        why = f"check: blob {problem}: {detail}"
        if problem == "corrupt":
            self.result.repairs.append(Repair(blob.sha256, "quarantine", why))
        self.result.repairs.append(Repair(blob.sha256, "pending", why))
        self.result.problems.append(Problem(blob.sha256, problem, detail, self.catalog.blob_versions(blob.sha256)))

    def unsure(self, blob: CataloguedBlob, detail: str) -> None:
        """A transient failure: listed, never repaired (it is no evidence of loss)."""
        self.result.problems.append(Problem(blob.sha256, "error", detail, self.catalog.blob_versions(blob.sha256)))

    def one(self, blob: CataloguedBlob, entries: list[Entry]) -> None:
        if not entries and not self.store.has(blob.sha256):
            return self.lost(blob, "missing", "not in the store")
        sealed = [e for e in entries if e.encrypted]
        if sealed and len(sealed) < len(entries):  # an interrupted seal: the content is private
            self.result.repairs.append(Repair(blob.sha256, "remove-plaintext", "a plaintext copy beside a sealed one"))
            entries = sealed
        if entries:  # else only a HEAD saw it: how it is stored is unknown here
            if bool(sealed) != blob.encrypted:
                self.result.repairs.append(Repair(blob.sha256, "record-encrypted" if sealed else "record-plaintext",
                                                  "the catalog's record of how the blob is stored"))
                blob.encrypted = bool(sealed)
            size = entries[0].size
            if size is not None and (size < blob.size + HEADER_SIZE + TAG if sealed else size != blob.size):
                return self.lost(blob, "corrupt", f"{size} bytes stored for a {blob.size}-byte content")
        if self.read_data:
            try:
                digest, size = _read_hash(self.store, blob.sha256)
            except BlobMissing:
                return self.lost(blob, "missing", "not in the store")
            except CorruptBlob as error:
                return self.lost(blob, "corrupt", str(error))
            except TRANSIENT as error:
                return self.unsure(blob, f"{type(error).__name__}: {error}")
            self.result.bytes_read += size
            if digest != blob.sha256:
                return self.lost(blob, "corrupt", f"the bytes hash to {digest} ({size} bytes)")
        if blob.private and not blob.encrypted and entries:
            if self.can_seal:
                self.result.repairs.append(Repair(blob.sha256, "seal", "private content stored in plaintext",
                                                  blob.sha1))
            else:
                self.result.unsealed_private += 1
        return None


def repair(catalog: Catalog, store: BlobStore, result: CheckResult) -> CheckResult:
    """Carry out the check's repair plan, exactly: nothing it did not list. A seal that finds the
    bytes wrong quarantines the blob and marks its versions pending instead."""
    for step in result.repairs:
        if step.kind == "quarantine":
            store.quarantine(step.sha256)
        elif step.kind == "pending":
            lost = catalog.blob_lost(step.sha256, step.detail)
            for problem in (p for p in result.problems if p.sha256 == step.sha256):
                problem.versions = lost
        elif step.kind == "remove-plaintext":
            store.remove(step.sha256, encrypted=False)
            result.plaintext_removed += 1
        elif step.kind in ("record-encrypted", "record-plaintext"):
            catalog.blob_encrypted(step.sha256, step.kind == "record-encrypted")
        elif step.kind == "seal":
            _seal(catalog, store, result, step)
    result.repaired = True
    return result


def _seal(catalog: Catalog, store: BlobStore, result: CheckResult, step: Repair) -> None:
    """Private content kept in plaintext: sealed in place (the store's one sealing step)."""
    try:
        stored = store.seal(step.sha256, step.sha1)
    except ChecksumMismatch as error:
        store.quarantine(step.sha256)
        versions = catalog.blob_lost(step.sha256, f"check: blob corrupt: {error}")
        result.problems.append(Problem(step.sha256, "corrupt", str(error), versions))
        return
    except TRANSIENT as error:
        result.problems.append(Problem(step.sha256, "error", f"sealing failed: {error}",
                                       catalog.blob_versions(step.sha256)))
        return
    catalog.blob_encrypted(step.sha256, stored.encrypted)
    result.sealed += 1


def check(catalog: Catalog, store: BlobStore, *, read_data: bool = False, max_duration: float | None = None,
          can_seal: bool = False, save_every: float = 1.0, clock: Callable[[], float] = time.monotonic
          ) -> CheckResult:
    """One check run: from where the last one stopped to the end of the pass, or until
    `max_duration` seconds have passed (at least one blob is checked). It changes nothing but its own
    place in the pass; what it would repair is in the result's plan. `can_seal`: the store has a
    key, so sealing private plaintext blobs can be planned."""
    try:
        catalog.lock("check")
    except CatalogBusy:
        raise CheckBusy(f"another check is running on {catalog.path}") from None
    mode = "read-data" if read_data else "exists"
    state = catalog.check_state(mode)
    after = state["position"] or ""
    result = CheckResult(read_data=read_data, resumed_from=state["position"], position=state["position"])
    checker = _Checker(catalog, store, read_data, result, can_seal)
    began = saved = clock()
    complete = False
    try:
        listing = _Listing(store.names(after))
        for blob in catalog.catalogued_blobs(after):
            if result.checked and max_duration is not None and clock() - began >= max_duration:
                break
            checker.one(blob, listing.take(blob.sha256))
            result.checked += 1
            result.position = blob.sha256
            if clock() - saved >= save_every:
                catalog.check_progress(mode, result.position, state["checked"] + result.checked)
                saved = clock()
        else:
            complete = True
        result.orphans = listing.orphans
    finally:
        result.pass_checked = state["checked"] + result.checked
        if complete:
            result.position = None
        if complete or result.checked:
            catalog.check_progress(mode, result.position, result.pass_checked, complete=complete)
        result.seconds = clock() - began
        catalog.unlock("check")
    catalog.record_check(mode, result.checked, len(result.of("missing")), len(result.of("corrupt")),
                         len(result.of("error")))
    return result
