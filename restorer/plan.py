"""Detect and plan: `verify` finds what is broken on the live wiki; `plan` decides, per title, what a
recovery would do and why. Neither writes anything to the wiki.

Both read the wiki through an Inspector (restorer/inspect.py) and the catalog; the decisions come
from the pure policies (policies/recovery.py). The plan is a list of Decisions in recovery order,
which the restorer carries out exactly, and which renders as a dry-run report.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from mediarescue.catalog import Catalog, Journal
from policies.recovery import Action, Backed, Decision, Situation, decide, order
from restorer.inspection import PROBE_SAMPLE, FileState, Inspector
from restorer.titles import Requested


@dataclass(frozen=True)
class Finding:
    title: str            # as the wiki has it now (or as catalogued, when the file is gone)
    problem: str          # current-missing | current-corrupt | old-missing | old-corrupt | deleted-missing
    #                       | deleted-corrupt (upload_dir, where a deleted file's size or sha1 can be read)
                          # | file-gone (the wiki lost it) | gone-unexplained (for an administrator)
    timestamp: str | None = None
    sha1: str | None = None
    archive_name: str | None = None


@dataclass
class Verification:
    checked_files: int = 0
    checked_versions: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def broken_titles(self) -> list[str]:
        return list(dict.fromkeys(f.title for f in self.findings))


def _backed(catalog: Catalog, wiki: str, *titles: str) -> tuple[Backed, ...]:
    rows = [r for t in dict.fromkeys(titles) for r in catalog.find(title=t, wiki=wiki)]
    return tuple(Backed(r["id"], r["title"], r["timestamp"], r["user"], r["size"], r["sha1"], r["sha256"],
                        r["status"], r["archive_name"], r["backup_status"] == "ok", bool(r["private"])) for r in rows)


def inspect_titles(inspector: Inspector, catalog: Catalog, wiki: str, titles: list[str], deep: bool,
            probe: bool = True) -> dict[str, FileState]:
    """The live state of `titles`, every version's health checked; raises Outage.

    The filearchive is read for every file the wiki does not show: a deletion whose log entry is
    hidden still leaves its row there. Deleted versions are looked up in storage only where the
    catalog holds some (or across the whole archive when there are many titles): a deleted version
    never backed up cannot be restored anyway. The outage probe uses files outside `titles` where
    it can: those are the suspects, not the witnesses."""
    states = inspector.records(titles)
    inspector.explain_missing(states)
    inspector.filearchive({t: s for t, s in states.items() if not s.live_title and not s.invalid})
    if len(states) > inspector.batch:  # one listing of the whole archive is cheaper than a request per title
        inspector.deleted_versions(states)
    else:
        with_deleted = catalog.titles_with_deleted(wiki, [*states, *(s.live_title for s in states.values()
                                                                       if s.live_title)])
        inspector.deleted_versions({t: s for t, s in states.items() if t in with_deleted
                                    or s.live_title in with_deleted})
    if probe:  # witnesses outside the suspects; when every file is a suspect (verify --all), a sample of them
        asked, sample = set(titles), catalog.sample_healthy(wiki, 2 * PROBE_SAMPLE)
        inspector.probe([r for r in sample if r["title"] not in asked] or sample)
    inspector.check(states, deep)
    return states


def _situation(inspector: Inspector, state: FileState, backed: tuple[Backed, ...], bot_uploads: tuple[str, ...] = (),
               assume_lost: bool = False, include_old: bool = False) -> Situation:
    return Situation(
        state.title, backed=backed, live_title=state.live_title, live=tuple(state.versions),
        deleted_on_wiki=state.deleted_on_wiki, deleted_live=tuple(state.deleted), archived=tuple(state.archived or ()),
        page_exists=state.page_exists, can_see_deleted=inspector.may_see_deleted, assume_lost=assume_lost,
        bot_uploads=bot_uploads, include_old=include_old,
        input_error=f"the wiki rejects this title: {state.invalid}" if state.invalid else None)


def verify(inspector: Inspector, catalog: Catalog, wiki: str, titles: list[str], deep: bool = False,
           probe: bool = True) -> Verification:
    """What is broken. A file the wiki no longer shows is broken only where the policy would re-upload
    it (the wiki lost it), or 'gone-unexplained' where an administrator must look; a deletion, seen
    in the logs or in the filearchive, is no finding."""
    states = inspect_titles(inspector, catalog, wiki, titles, deep, probe)
    result = Verification(checked_files=len(states))
    for state in states.values():
        result.checked_versions += len(state.versions) + len(state.deleted)
        backed = _backed(catalog, wiki, state.title) if not state.live_title and not state.invalid else ()
        for d in decide(_situation(inspector, state, backed)) if backed else ():
            if d.action == Action.REUPLOAD_FILE or (d.action == Action.REPORT_ADMIN and not d.private):
                result.findings.append(Finding(state.title, "file-gone" if d.version else "gone-unexplained"))
        for i, version in enumerate(state.versions):
            if version.health != "ok":
                kind = "current" if i == 0 else "old"
                result.findings.append(Finding(state.live_title, f"{kind}-{version.health}", version.timestamp,
                                               version.sha1, version.archive_name))
        for version in state.deleted:
            if version.health != "ok":
                result.findings.append(Finding(state.live_title or state.title, f"deleted-{version.health}",
                                               version.timestamp,
                                               version.sha1))
    return result


def plan(inspector: Inspector, catalog: Catalog, wiki: str, requested: list[Requested], deep: bool = False,
         include_old: bool = False, priority: str = "size", probe: bool = True,
         assume_lost: frozenset[str] = frozenset()) -> list[Decision]:
    """`assume_lost`: titles the operator says were lost, not deleted, where the wiki gives no evidence."""
    titles = [r.title for r in requested if r.title]
    states = inspect_titles(inspector, catalog, wiki, titles, deep, probe)
    journal = Journal(catalog, wiki)
    failed = journal.failed([*titles, *(s.live_title for s in states.values() if s.live_title)])
    bad = {t: _bot_uploads(inspector, failed, states[t]) for t in titles}
    # A file whose only versions are the bot's failed uploads was gone before them: its filearchive decides too.
    inspector.filearchive({t: states[t] for t in titles if bad[t] and len(bad[t]) == len(states[t].versions)})
    decisions: list[Decision] = []
    for r in requested:
        if r.title is None:
            decisions += decide(Situation(r.line, input_error=r.error))
            continue
        state = states[r.title]
        backed = _backed(catalog, wiki, r.title, state.live_title or r.title)
        decisions += decide(_situation(inspector, state, backed, bad[r.title], r.title in assume_lost,
                                       include_old or r.archived_at is not None))
    decisions = [_settled(catalog, journal, wiki, d) for d in decisions]
    journal.close()
    usage = _usage(inspector, [d.title for d in decisions if d.restorable]) if priority == "usage" else None
    return order(decisions, priority, usage)


def _bot_uploads(inspector: Inspector, failed: dict[str, list[dict[str, Any]]], state: FileState
                 ) -> tuple[str, ...]:
    """Upload times of the versions that are the bot's own failed uploads: by the bot's account, made
    while a journalled action on the title ran and then failed, with other bytes than it meant to
    upload (the read-back did not match)."""
    entries = [e for title in {state.title, state.live_title or state.title} for e in failed.get(title, [])]
    return tuple(v.timestamp for v in state.versions if v.user == inspector.user and any(
        v.sha1 != entry["sha1"] and _during(v.timestamp, entry["started"], entry["updated"]) for entry in entries))


def _during(timestamp: str, started: str, ended: str, slack: int = 2) -> bool:
    """Within [started, ended], give or take `slack` seconds of clock difference between bot and wiki."""
    def at(text: str) -> datetime:
        return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")
    return at(started) - timedelta(seconds=slack) <= at(timestamp) <= at(ended) + timedelta(seconds=slack)


def _settled(catalog: Catalog, journal: Journal, wiki: str, d: Decision) -> Decision:
    """A lost old version stays lost in the wiki's history even once its bytes are back as a new
    version, and a re-uploaded file looks like a newer upload: the journal knows both are done."""
    pending = journal.unfinished(d.title) if d.action in (Action.NOTHING, Action.SKIP, Action.LOST_HISTORY) else None
    if pending:  # the wiki may already show our write: the restorer finds it, finishes and verifies it
        version = next((b for b in _backed(catalog, wiki, d.asked, d.title) if b.id == pending["version_id"]), None)
        if version:
            return replace(d, action=Action(pending["action"]), version=version, revert_to=pending["revert_to"],
                           reason=f"resuming the {pending['action']} that run {pending['run']} left at "
                                  f"'{pending['step']}'")
    if d.action == Action.RESTORE_OLD and d.version:
        done = journal.verified(d.version.id, Action.RESTORE_OLD.value)
        if done:
            return replace(d, action=Action.NOTHING, reason=f"already restored by mediarescue run {done['run']}: its "
                           f"bytes are the version uploaded {done['upload_timestamp']} (the lost history row stays)")
    if d.action == Action.SKIP:
        for version in _backed(catalog, wiki, d.asked, d.title):
            done = journal.verified(version.id, Action.REUPLOAD_FILE.value)
            if done:
                return replace(d, action=Action.NOTHING, reason=f"already re-uploaded by mediarescue run "
                               f"{done['run']} as the version of {done['upload_timestamp']}")
    return d


def _usage(inspector: Inspector, titles: list[str]) -> dict[str, int]:
    """How many pages use each file: the most used are restored first."""
    counts: dict[str, int] = {}
    for page in inspector.api.pages_of(titles, inspector.batch, prop="fileusage", fulimit="max", fuprop="pageid"):
        counts[page["title"]] = len(page.get("fileusage", []))
    return counts
