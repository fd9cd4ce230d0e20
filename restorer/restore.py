"""Carrying out a plan as the bot: exactly the plan's actions, in the plan's order, each journaled
in the catalog before and after it happens, each restored version read back from its URL and its
sha1 checked. Only a match counts as restored.

Resuming after a kill -9 never uploads twice: an action found 'started' is first looked for on the
wiki (a version with these bytes, by the bot, since the journal entry began) before anything is
sent again; a lost current version is re-uploaded only while its URL is still broken (an identical
re-upload over a healthy file leaves an orphan copy behind).
"""
from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import requests
import urllib3

from mediarescue.blobstore import open_store
from mediarescue.blobstore.base import blob_name
from mediarescue.catalog import Catalog, Journal
from mediarescue.config import Config, WikiConfig
from mediarescue.files import owned_tempdir, private_dir, private_write, sweep_stale_tempdirs
from mediarescue.mediawiki import APIError, MediaWiki, title_batches
from policies.recovery import RESTORING, Action, Decision
from restorer import escaping, report
from restorer.bot import PYWIKIBOT_DIR_PREFIX, SAME_TITLE_GAP, THROTTLE, Bot, BotError
from restorer.inspection import IIPROP, file_pool, served_sha1
from restorer.outcomes import Outcome, RestoreResult

WORKDIR_PREFIX = "mediarescue-restore-"  # copies of blobs (deleted content among them) for the bot to upload
CHUNK = 50  # titles whose state is fetched in one request, just before their actions


class NotRestored(Exception):
    """The action ran, but what the wiki serves is not the backed-up version."""


def summary_text(d: Decision, reason: str | None, run: int) -> str:
    v = d.version
    original = f"original upload {v.timestamp} by {v.user or 'an unknown user'}, sha1 {v.sha1}"
    why = f"; {escaping.summary(reason)}" if reason else ""
    text = {Action.REPAIR_CURRENT: "restoring the lost content of the current version from backup, identical bytes",
            Action.REUPLOAD_FILE: "re-uploading a file lost from the wiki, from backup",
            Action.RESTORE_OLD: "restoring a lost old version from backup (it becomes current; "
                                "the version that was current is reverted to next)",
            Action.REPLACE_BAD_UPLOAD: "replacing an earlier mediarescue upload that arrived damaged with the "
                                       "backed-up version"}[d.action]
    assumed = "; the operator states it was lost, not deleted (--assume-lost)" if d.assumed_lost else ""
    return f"mediarescue recovery run {run}: {text} ({original}){assumed}{why}"


class Restorer:
    def __init__(self, journal: Journal, blob_path: Callable[[str], Path], bot: Bot, reader: MediaWiki,
                 contact: str, reason: str | None = None, page_texts: dict[int, str | None] | None = None):
        self.journal, self.blob_path, self.bot, self.reader = journal, blob_path, bot, reader
        self.reason = reason
        self.page_texts = page_texts or {}  # version id -> backed-up description page, for full losses
        self._prefetched: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.pool = file_pool(contact)  # thread-safe: one for every worker

    # --- what the wiki shows ---
    def prefetch(self, titles: list[str]) -> None:
        """The versions of a chunk of titles in one request, just before their actions run: each
        action's first look at its title is then free; every look after a write asks again."""
        for page in self.reader.pages_of(titles, len(titles), prop="imageinfo", iilimit="max", iiprop=IIPROP):
            self._prefetched[page["title"]] = page.get("imageinfo", [])

    def _versions(self, title: str) -> list[dict[str, Any]]:
        """The title's versions, newest first, those hidden from the bot (no sha1) left out."""
        with self._lock:
            versions = self._prefetched.pop(title, None)
        if versions is None:
            page = next(self.reader.pages_of([title], 1, prop="imageinfo", iilimit="max", iiprop=IIPROP))
            versions = page.get("imageinfo", [])
        return [v for v in versions if "sha1" in v]

    def _current_first(self, title: str) -> list[dict[str, Any]]:
        """As _versions, for a file that must exist: NotRestored when the wiki shows none."""
        versions = self._versions(title)
        if not versions:
            raise NotRestored(f"the wiki lists no version of {title} the bot may see")
        return versions

    def _serves(self, url: str, sha1: str) -> bool:
        return served_sha1(self.pool, url) == (200, sha1)

    def _ours(self, title: str, sha1: str, since: str) -> dict[str, Any] | None:
        """A version with these bytes that the bot uploaded since `since`."""
        return next((v for v in self._versions(title) if v["sha1"] == sha1 and v.get("user") == self.bot.user
                     and v["timestamp"] >= since[:19]), None)

    # --- the actions ---
    def _repair_current(self, d: Decision, entry: dict, run: int) -> Outcome:
        current = self._current_first(d.title)[0]
        if current["sha1"] != d.version.sha1:
            raise NotRestored(f"the wiki's current version changed since the plan (sha1 {current['sha1']})")
        if not self._serves(current["url"], d.version.sha1):  # never re-upload over a healthy file
            # warnings exists and nochange: the point of an identical re-upload
            self.bot.upload(d.title, self.blob_path(d.version.sha256), summary_text(d, self.reason, run))
        if not self._serves(current["url"], d.version.sha1):
            raise NotRestored(f"after the re-upload {current['url']} still does not serve sha1 {d.version.sha1}")
        return Outcome(d, "restored", f"identical bytes republished and read back from {current['url']} "
                                      "(MediaWiki logs nothing for this)")

    def _reupload_file(self, d: Decision, entry: dict, run: int) -> Outcome:
        ours = self._ours(d.title, d.version.sha1, entry["started"])
        if ours is None:
            text = self.page_texts.get(d.version.id) or \
                f"Restored by mediarescue from backup. Originally uploaded {d.version.timestamp} by {d.version.user}."
            # warning page-exists: a full loss can leave the description page behind
            self.bot.upload(d.title, self.blob_path(d.version.sha256), summary_text(d, self.reason, run), text=text)
            ours = self._ours(d.title, d.version.sha1, entry["started"])
            if ours is None:
                raise NotRestored("the upload succeeded but the wiki lists no such version")
        self.journal.step(entry, "uploaded", upload_timestamp=ours["timestamp"])
        if not self._serves(ours["url"], d.version.sha1):
            raise NotRestored(f"{ours['url']} does not serve sha1 {d.version.sha1}")
        what = "a new file" if d.action == Action.REUPLOAD_FILE else "the current version"
        return Outcome(d, "restored", f"uploaded as {what} ({ours['timestamp']}) and read back",
                       upload_timestamp=ours["timestamp"])

    def _restore_old(self, d: Decision, entry: dict, run: int) -> Outcome:
        if entry["step"] == "started":
            ours = self._ours(d.title, d.version.sha1, entry["started"])
            if ours is None:
                # warnings exists and duplicateversions: these bytes were a version here
                self.bot.upload(d.title, self.blob_path(d.version.sha256), summary_text(d, self.reason, run))
                ours = self._ours(d.title, d.version.sha1, entry["started"])
                if ours is None:
                    raise NotRestored("the upload succeeded but the wiki lists no such version")
            self.journal.step(entry, "uploaded", upload_timestamp=ours["timestamp"])
        uploaded_at = entry["upload_timestamp"]
        revert_to = entry["revert_to"]  # as first planned: a re-plan after our upload would see it as current
        versions = self._current_first(d.title)
        if entry["step"] == "uploaded":
            if versions[0]["timestamp"] == uploaded_at:  # our upload is still current: revert
                previous = next((v for v in versions if v["timestamp"] == revert_to and "archivename" in v), None)
                if previous is None:
                    raise NotRestored(f"the version that was current ({revert_to}) is no longer listed")
                after_the_second_of(versions[0]["timestamp"])  # the upload may be a killed run's, just now
                self.bot.filerevert(d.title, previous["archivename"],
                                    f"mediarescue recovery run {run}: back to the version of {revert_to}, "
                                    f"after restoring the lost old version of {d.version.timestamp}"
                                    + (f"; {escaping.summary(self.reason)}" if self.reason else ""))
                versions = self._current_first(d.title)
            self.journal.step(entry, "reverted")
        restored = next((v for v in versions if v["timestamp"] == uploaded_at and v["sha1"] == d.version.sha1), None)
        if restored is None or not self._serves(restored["url"], d.version.sha1):
            raise NotRestored(f"the restored version of {uploaded_at} does not serve sha1 {d.version.sha1}")
        return Outcome(d, "restored", f"uploaded as the version of {uploaded_at}, then reverted to the version of "
                                      f"{revert_to}; read back from {restored['url']}", upload_timestamp=uploaded_at)

    def carry_out(self, d: Decision, run: int) -> Outcome:
        entry = self.journal.open_entry(run, d)
        act = {Action.REPAIR_CURRENT: self._repair_current, Action.REUPLOAD_FILE: self._reupload_file,
               Action.REPLACE_BAD_UPLOAD: self._reupload_file, Action.RESTORE_OLD: self._restore_old}[d.action]
        try:
            outcome = act(d, entry, run)
        except (BotError, NotRestored, APIError, OSError, requests.RequestException,
                urllib3.exceptions.HTTPError) as error:
            self.journal.step(entry, "failed", str(error))
            return Outcome(d, "failed", str(error), entry["id"])
        self.journal.step(entry, "verified", outcome.detail, outcome.upload_timestamp)
        outcome.journal_id = entry["id"]
        return outcome


def after_the_second_of(timestamp: str) -> None:
    """Wait until a write now falls in a later wall-clock second than the wiki's `timestamp`."""
    written = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    wait = SAME_TITLE_GAP - (datetime.now(timezone.utc) - written).total_seconds()
    if wait > 0:
        time.sleep(min(wait, SAME_TITLE_GAP))


def blob_file(blobs: Any, workdir: Path) -> Callable[[str], Path]:
    """A path pywikibot can upload from: the blob itself where the store keeps files, else a
    private copy streamed into `workdir`."""
    def path(sha256: str) -> Path:
        blob_name(sha256, False)  # refuses what is not a sha256 before it becomes a path
        if hasattr(blobs, "path") and blobs.path(sha256).is_file():
            return blobs.path(sha256)
        target = workdir / sha256
        if not target.exists():
            with blobs.open(sha256) as source, tempfile.NamedTemporaryFile(dir=workdir, delete=False) as out:
                for chunk in iter(lambda: source.read(1 << 20), b""):
                    out.write(chunk)
            Path(out.name).replace(target)
        return target
    return path


@dataclass(frozen=True)
class Options:
    """How a restore run goes: one object, passed from the command."""
    reason: str | None = None            # the operator's, e.g. an incident ticket: in every summary and report
    report_page: str | None = None       # also publish the report as this wiki page
    report_dir: Path | None = None       # default: reports/ beside the catalog (a PostgreSQL one: the config)
    workers: int = 1                     # titles restored side by side
    throttle: float = THROTTLE           # least seconds between two writes of the bot
    progress: Callable[[Outcome], None] = lambda outcome: None  # called from the workers' threads


def sweep_left_behind() -> None:
    """Remove what bot runs (restores, rollbacks) killed with -9 left in the temporary folder: blob
    copies (deleted content among them) and pywikibot's folder with the bot's session cookie."""
    for prefix in (WORKDIR_PREFIX, PYWIKIBOT_DIR_PREFIX):
        sweep_stale_tempdirs(prefix)


def run(config: Config, wiki: WikiConfig, catalog: Catalog, decisions: list[Decision],
        options: Options = Options()) -> tuple[dict[str, Any], list[Path]]:
    """The bot loop: preflight, then each decision in the plan's order (restoring ones carried out,
    the others reported), then the report, locally and (asked for) on the wiki."""
    reason, report_page = options.reason, options.report_page
    sweep_left_behind()
    bot = Bot(wiki, config.contact, throttle=options.throttle)
    missing = bot.missing_rights()
    if missing:
        raise BotError("permissiondenied", f"{wiki.user} lacks the rights {', '.join(missing)} on {wiki.api_url}")
    reader = MediaWiki(wiki.api_url, config.contact, maxlag=wiki.maxlag)
    reader.login(wiki.user, wiki.password)
    journal = Journal(catalog, wiki.name)
    restore_run = journal.start_run(reason, report_page)
    page_texts = {d.version.id: catalog.page_text(wiki.name, d.version.title)
                  for d in decisions if d.action == Action.REUPLOAD_FILE}
    # One title's actions in order on one worker; titles side by side, submitted in the plan's order.
    by_title: dict[str, list[int]] = {}
    for i, d in enumerate(decisions):
        if d.action in RESTORING:
            by_title.setdefault(d.title, []).append(i)
    outcomes: dict[int, Outcome] = {i: Outcome(d, "not-attempted", d.reason) for i, d in enumerate(decisions)
                                    if d.action not in RESTORING}
    status, counts = "interrupted", {}
    workdir = owned_tempdir(WORKDIR_PREFIX)
    try:
        restorer = Restorer(journal, blob_file(open_store(config), workdir), bot, reader,
                            config.contact, reason, page_texts)
        pool = ThreadPoolExecutor(options.workers, thread_name_prefix="restore")
        began = time.monotonic()
        try:
            def one_title(indexes: list[int]) -> None:
                for i in indexes:
                    outcomes[i] = restorer.carry_out(decisions[i], restore_run)
                    options.progress(outcomes[i])
            for chunk in title_batches(list(by_title), CHUNK):
                restorer.prefetch(chunk)
                for future in [pool.submit(one_title, by_title[title]) for title in chunk]:
                    future.result()
            result = RestoreResult(restore_run, [outcomes[i] for i in range(len(decisions))])
            status = "done" if result.ok else "failed"
            counts = {"restored": sum(o.result == "restored" for o in result.outcomes),
                      "failed": sum(o.result == "failed" for o in result.outcomes)}
        finally:
            pool.shutdown(wait=status != "interrupted", cancel_futures=True)
            journal.finish_run(restore_run, status, **counts)
            journal.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    summary = report.restore_report(result, wiki.name, reason)
    summary["seconds"] = round(time.monotonic() - began, 3)  # carrying out the actions, reads-back included
    return summary, _reports(config, wiki, options, bot, summary, restore_run)


def _reports(config: Config, wiki: WikiConfig, options: Options, bot: Bot, summary: dict[str, Any],
             restore_run: int) -> list[Path]:
    """The run's report, always locally, and on the wiki when asked."""
    # Reports name private versions too: reports/ is ours alone; a --report-dir is made 0700 if missing.
    folder = private_dir(options.report_dir, tighten=False) if options.report_dir \
        else private_dir(config.reports_dir)
    paths = [folder / f"restore-{wiki.name}-{restore_run}.json", folder / f"restore-{wiki.name}-{restore_run}.txt"]
    private_write(paths[0], json.dumps(summary, indent=1, ensure_ascii=False))
    private_write(paths[1], report.restore_text(summary))
    if options.report_page:
        bot.edit(options.report_page, report.restore_wikitext(summary), f"mediarescue restore run {restore_run}: "
                 "report" + (f"; {escaping.summary(options.reason)}" if options.reason else ""))
    return paths


