"""Incident rollback: every file an incident touched put back to how the last backup before it saw
it, by the bot, in the open.

The incident is read from the wiki's file log (uploads, overwrites, reverts, deletions, moves in the
window, by the named users), or given as titles. Each title's target is its state as of a snapshot
(the last finished backup run before the incident, or --as-of); what the wiki shows now is read and
checked (every version's bytes, the filearchive, the deleted zone where Swift is configured), and
the pure policy (policies/rollback.py) decides. Without --yes that plan is all there is.

With --yes the bot carries out each decision's writes in order, each journaled before and after
(rollback_journal). Every write is guarded by a fresh look at the wiki, so a run killed at any point
and run again finds what the killed run did and does not do it twice: a title already at its target
is only read back. Every resulting current version is read back from its URL and its sha1 checked.
"""
from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import urllib3

from mediarescue.blobstore import open_store
from mediarescue.catalog import Catalog
from mediarescue.catalog.journal import RollbackJournal
from mediarescue.catalog.snapshots import find_as_of, snapshot_before, snapshot_of
from mediarescue.config import Config, WikiConfig
from mediarescue.files import owned_tempdir, private_dir, private_write
from mediarescue.mediawiki import APIError, MediaWiki, db_key
from policies.recovery import Backed
from policies.rollback import (
    DELETE,
    FILEREVERT,
    MOVE,
    UNDELETE,
    UPLOAD,
    Archived,
    Case,
    Decision,
    Rollback,
    decide,
    order,
)
from restorer import escaping, report
from restorer.bot import ROLLBACK_RIGHTS, THROTTLE, Bot, BotError
from restorer.inspection import IIPROP, FileState, Inspector, file_pool, served_sha1
from restorer.restore import WORKDIR_PREFIX, after_the_second_of, blob_file, sweep_left_behind

INCIDENT_TYPES = ("upload", "delete", "move")


@dataclass(frozen=True)
class Incident:
    """What the operator named: the window, its authors, or the titles."""
    since: str                          # ISO 8601 UTC
    until: str | None = None
    users: tuple[str, ...] = ()         # none: anyone
    titles: tuple[str, ...] = ()        # given instead of (or within) the log's
    as_of: int | str | None = None      # the snapshot to go back to (default: the last before `since`)

    def describe(self) -> str:
        by = f" by {', '.join(self.users)}" if self.users else ""
        return f"{self.since} to {self.until or 'now'}{by}"


@dataclass(frozen=True)
class Options:
    """How a rollback run goes: one object, passed from the command."""
    force: bool = False                  # roll back over later changes by others
    delete_new: bool = False             # delete files the incident created
    reason: str | None = None
    report_page: str | None = None
    report_dir: Path | None = None
    throttle: float = THROTTLE
    workers: int = 1                     # titles rolled back side by side
    progress: Callable[[Outcome], None] = lambda outcome: None


@dataclass
class Outcome:
    decision: Decision
    result: str                          # rolled-back | failed | not-attempted
    detail: str = ""


@dataclass
class Plan:
    snapshot: int
    incident: Incident
    decisions: list[Decision] = field(default_factory=list)
    resumed: dict[str, dict[str, Any]] = field(default_factory=dict)  # titles a killed run left half done


class NotRolledBack(Exception):
    """A write went through, but the wiki does not show the target state."""


# --- the incident and the plan ---
def _events(api: MediaWiki, incident: Incident) -> list[dict[str, Any]]:
    """Every file log entry from the start of the window on (later ones tell who changed a title since)."""
    return [e for e in api.log_events(incident.since) if e.get("type") in INCIDENT_TYPES and "title" in e]


def _in_incident(e: dict[str, Any], incident: Incident) -> bool:
    return (incident.until is None or e["timestamp"] <= incident.until) and \
        (not incident.users or e.get("user") in incident.users)


def _titles(events: list[dict[str, Any]], incident: Incident) -> tuple[list[str], dict[str, str]]:
    """The incident's titles (a move's source, never its target) and where its moves took each."""
    ours = [e for e in events if _in_incident(e, incident)]
    moves = {e["title"]: e["params"]["target_title"] for e in ours if e["type"] == "move" and e.get("params")}
    titles = list(incident.titles) or [t for t in dict.fromkeys(e["title"] for e in ours)
                                       if t not in set(moves.values()) - set(moves)]
    return titles, moves


def _changed_since(title: str, live_title: str | None, events: list[dict[str, Any]], incident: Incident,
                   bot_user: str) -> tuple[str, ...]:
    """Log entries on the title (or where it is now) after its first incident entry, by someone not
    named and not the bot; with no one named, those after the window."""
    here = {title, live_title} - {None}
    mine = [e for e in events if e["title"] in here and _in_incident(e, incident)]
    if not mine:
        return ()
    first = min(e["timestamp"] for e in mine)
    later = [e for e in events if (e["title"] in here or e.get("params", {}).get("target_title") in here)
             and e["timestamp"] >= first and e.get("user") != bot_user and not _in_incident(e, incident)]
    return tuple(f"{e['type']}/{e['action']} by {e.get('user', 'a hidden user')} at {e['timestamp']}" for e in later)


def _target(catalog: Catalog, wiki: str, title: str, snapshot: int) -> tuple[Backed, ...]:
    rows = find_as_of(catalog, snapshot, title=title, wiki=wiki)
    return tuple(Backed(r["id"], r["title"], r["timestamp"], r["user"], r["size"], r["sha1"], r["sha256"],
                        r["status"], r["archive_name"], r["backup_status"] == "ok", bool(r["private"]))
                 for r in rows if r["status"] in ("current", "old") and not r["private"])


def _live(inspector: Inspector, titles: list[str], moves: dict[str, str]) -> dict[str, FileState]:
    """Where each title's file is now (redirects followed, then the incident's moves), every version checked."""
    states = inspector.records(titles)
    for title, state in states.items():
        seen, target = {title}, moves.get(title)
        while not state.live_title and target and target not in seen:  # a move that left no redirect
            seen.add(target)
            found = inspector.records([target])[target]
            if found.live_title:
                state.live_title, state.versions, state.urls = found.live_title, found.versions, found.urls
            target = moves.get(target)
    inspector.check(states)
    return states


def _archived(inspector: Inspector, titles: list[str]) -> dict[str, list[Archived]]:
    """The filearchive rows of these titles, each with whether the deleted zone still has its bytes."""
    by_name = {db_key(t): t for t in titles}
    found: dict[str, list[Archived]] = {t: [] for t in titles}
    for row in inspector.api.filearchive(by_name, "sha1|timestamp", inspector.batch):
        title, sha1 = by_name[row["name"]], row.get("sha1", "")
        ok = inspector.deleted_bytes_ok(title, sha1) if sha1 else None
        found[title].append(Archived(int(row["id"]), row["timestamp"], sha1, ok))
    return found


def plan(inspector: Inspector, catalog: Catalog, wiki: str, incident: Incident, force: bool = False,
         delete_new: bool = False, may_delete: bool = False) -> Plan:
    """The rollback's decisions, one per title, in the order the bot would carry them out."""
    snapshot = snapshot_of(catalog, wiki, incident.as_of) if incident.as_of is not None else \
        snapshot_before(catalog, wiki, incident.since)
    events = _events(inspector.api, incident)
    titles, moves = _titles(events, incident)
    journal = RollbackJournal(catalog, wiki)
    resumed = journal.unfinished_titles()
    journal.close()
    states = _live(inspector, titles, moves)
    targets = {t: _target(catalog, wiki, t, snapshot) for t in titles}
    need_archive = [t for t in titles if targets[t] and (not states[t].live_title or any(
        b.status == "old" and not any(v.timestamp == b.timestamp for v in states[t].versions) for b in targets[t]))]
    archived = _archived(inspector, need_archive) if need_archive and inspector.may_see_deleted else {}
    decisions = []
    for t in titles:
        s = states[t]
        decisions.append(decide(Case(
            t, snapshot, targets[t], s.live_title, tuple(s.versions), tuple(archived.get(t, ())),
            _changed_since(t, s.live_title, events, incident, inspector.user), force, delete_new, may_delete)))
    return Plan(snapshot, incident, order(decisions), {t: e for t, e in resumed.items() if t in titles})


# --- carrying it out ---
class RollbackBot:
    def __init__(self, bot: Bot, reader: MediaWiki, journal: RollbackJournal, blob_path: Callable[[str], Path],
                 contact: str, summary_tail: str, may_suppress_redirect: bool):
        self.bot, self.reader, self.journal, self.blob_path = bot, reader, journal, blob_path
        self.tail, self.suppress = summary_tail, may_suppress_redirect
        self.pool = file_pool(contact)

    def _versions(self, title: str) -> list[dict[str, Any]]:
        """The file versions at `title` itself: none for a redirect (imageinfo follows file redirects)."""
        page = next(self.reader.pages_of([title], 1, prop="imageinfo|info", iilimit="max", iiprop=IIPROP))
        return [] if page.get("redirect") else [v for v in page.get("imageinfo", []) if "sha1" in v]

    def _summary(self, run: int, what: str) -> str:
        return f"mediarescue rollback run {run}: {what}; {self.tail}"

    def carry_out(self, d: Decision, run: int) -> Outcome:
        entry = self.journal.open_entry(run, d)
        if not d.steps and d.version is None:  # a killed run's title that is now skipped or only listed
            self.journal.step(entry, "failed", f"left unfinished: {d.reason}")
            return Outcome(d, "not-attempted", d.reason)
        try:
            steps = list(d.steps)
            if UNDELETE in steps and UPLOAD not in steps and d.live_title is None:
                steps.append(UPLOAD)  # the deleted zone may have lost the bytes unseen (no Swift access): checked
            for n, step in enumerate(steps):
                self.journal.step(entry, f"{step}-started")
                # The plan's look at the wiki is the first write's, unless a killed run worked on the title
                fresh = n == 0 and not entry["resumed"]
                sent = {MOVE: self._move, UNDELETE: self._undelete, FILEREVERT: self._filerevert,
                        UPLOAD: self._upload, DELETE: self._delete}[step](d, run, fresh)
                self.journal.step(entry, f"{step}-{'done' if sent else 'found-done'}")
            detail = self._read_back(d)
        except (BotError, NotRolledBack, APIError, OSError, requests.RequestException,
                urllib3.exceptions.HTTPError) as error:
            self.journal.step(entry, "failed", str(error))
            return Outcome(d, "failed", str(error))
        if entry["resumed"]:
            detail += f" (resumed what run {entry['run']} left at '{entry['step']}')"
        self.journal.step(entry, "verified", detail)
        return Outcome(d, "rolled-back", detail)

    # Each write looks first: a killed run may have done it already (its answer lost with it).
    def _move(self, d: Decision, run: int, fresh: bool = False) -> bool:
        if self._versions(d.title):
            return False  # the file is back at its title (a redirect has no file versions)
        self.bot.move(d.live_title, d.title, self._summary(run, f"moving {d.live_title} back to the title it had "
                                                                 f"as of backup run {d.snapshot}"), self.suppress)
        return True

    def _undelete(self, d: Decision, run: int, fresh: bool = False) -> bool:
        still = {int(r["id"]) for r in self.reader.filearchive([db_key(d.title)], "timestamp", 50)}
        ids = tuple(i for i in d.file_ids if i in still)
        if not ids:
            return False
        whole = d.live_title is None  # the page's text comes back with a whole file's versions
        revisions = tuple(self.reader.deleted_revisions(d.title)) if whole else ()
        self.bot.undelete(d.title, self._summary(run, f"undeleting {len(ids)} file version(s) the incident deleted"),
                          ids, revisions)
        return True

    def _filerevert(self, d: Decision, run: int, fresh: bool = False) -> bool:
        if fresh:
            current_at = d.current_at
        else:
            versions = self._versions(d.title)
            if versions and versions[0]["sha1"] == d.version.sha1:
                return False
            current_at = versions[0]["timestamp"]
        after_the_second_of(current_at)  # never in the second of the write it undoes
        self.bot.filerevert(d.title, d.archive_name, self._summary(
            run, f"reverting to the version of {d.version.timestamp} by {d.version.user} (sha1 {d.version.sha1})"))
        return True

    def _upload(self, d: Decision, run: int, fresh: bool = False) -> bool:
        versions = self._versions(d.title)
        if versions and versions[0]["sha1"] == d.version.sha1 and self._serves(versions[0]["url"], d.version.sha1):
            return False
        if versions:
            after_the_second_of(versions[0]["timestamp"])
        # over a lost current version of the same bytes this publishes them (fileexists-no-change)
        self.bot.upload(d.title, self.blob_path(d.version.sha256), self._summary(
            run, f"uploading the backed-up version of {d.version.timestamp} by {d.version.user} (sha1 "
                 f"{d.version.sha1}): the wiki lost its bytes"))
        return True

    def _delete(self, d: Decision, run: int, fresh: bool = False) -> bool:
        if not self._versions(d.live_title or d.title):
            return False
        self.bot.delete(d.live_title or d.title, self._summary(run, "deleting a file uploaded in the incident "
                                                                    "(the operator asked: --delete-new)"))
        return True

    def _serves(self, url: str, sha1: str) -> bool:
        return served_sha1(self.pool, url) == (200, sha1)

    def _read_back(self, d: Decision) -> str:
        versions = self._versions(d.live_title or d.title if d.action == Rollback.DELETE_NEW else d.title)
        if d.action == Rollback.DELETE_NEW:
            if versions:
                raise NotRolledBack("the wiki still shows the file")
            return "deleted; the wiki shows no file"
        if not versions or versions[0]["sha1"] != d.version.sha1:
            raise NotRolledBack(f"the wiki's current version of {d.title} is not sha1 {d.version.sha1}")
        if not self._serves(versions[0]["url"], d.version.sha1):
            raise NotRolledBack(f"{versions[0]['url']} does not serve sha1 {d.version.sha1}")
        return f"current version sha1 {d.version.sha1}, read back from {versions[0]['url']}"


def _moves(decisions: list[Decision], moves: bool) -> list[Decision]:
    return [d for d in decisions if (MOVE in d.steps) == moves]


def run(config: Config, wiki: WikiConfig, catalog: Catalog, the_plan: Plan, options: Options = Options()
        ) -> tuple[dict[str, Any], list[Path]]:
    """The bot loop: rights first, then each decision in the plan's order, then the report."""
    sweep_left_behind()
    bot = Bot(wiki, config.contact, throttle=options.throttle)
    needed = ROLLBACK_RIGHTS + (("delete",) if any(d.action == Rollback.DELETE_NEW for d in the_plan.decisions)
                                else ())
    missing = bot.missing_rights(needed)
    if missing:
        raise BotError("permissiondenied", f"{wiki.user} lacks the rights {', '.join(missing)} on {wiki.api_url}: "
                       "a rollback needs them all before its first write")
    reader = MediaWiki(wiki.api_url, config.contact, maxlag=wiki.maxlag)
    reader.login(wiki.user, wiki.password)
    journal = RollbackJournal(catalog, wiki.name)
    run_id = journal.start_run(options.reason, options.report_page)
    tail = (f"undoing the incident of {the_plan.incident.describe()}, back to backup run {the_plan.snapshot}"
            + (f"; {escaping.summary(options.reason)}" if options.reason else ""))
    outcomes: list[Outcome] = []
    status = "interrupted"
    began = time.monotonic()
    workdir = owned_tempdir(WORKDIR_PREFIX)  # a kill -9 leaves it to the next bot run's sweep
    try:
        worker = RollbackBot(bot, reader, journal, blob_file(open_store(config), workdir), config.contact,
                             tail, bot.site.has_right("suppressredirect"))
        pool = ThreadPoolExecutor(options.workers, thread_name_prefix="rollback")

        def one(d: Decision) -> Outcome:
            outcome = worker.carry_out(d, run_id) if d.acts or d.title in the_plan.resumed else \
                Outcome(d, "not-attempted", d.reason)
            options.progress(outcome)
            return outcome
        try:
            # Moves back first, all of them, before any other write: they free the titles the rest is at.
            for group in (_moves(the_plan.decisions, True), _moves(the_plan.decisions, False)):
                outcomes += list(pool.map(one, group))
            status = "done" if all(o.result != "failed" and o.decision.ok for o in outcomes) else "failed"
        finally:
            pool.shutdown(wait=status != "interrupted", cancel_futures=True)
            journal.finish_run(run_id, status)
            journal.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    summary = report.rollback_report(run_id, wiki.name, the_plan, outcomes, options.reason)
    summary["seconds"] = round(time.monotonic() - began, 3)
    folder = private_dir(options.report_dir, tighten=False) if options.report_dir else \
        private_dir(config.reports_dir)
    paths = [folder / f"rollback-{wiki.name}-{run_id}.json", folder / f"rollback-{wiki.name}-{run_id}.txt"]
    private_write(paths[0], json.dumps(summary, indent=1, ensure_ascii=False))
    private_write(paths[1], report.rollback_text(summary))
    if options.report_page:
        bot.edit(options.report_page, report.rollback_wikitext(summary),
                 f"mediarescue rollback run {run_id}: report; {tail}")
    return summary, paths
