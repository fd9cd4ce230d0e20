"""What the right recovery of one file is: a pure function from what the catalog holds and what the
live wiki shows to decisions an operator and a community member can read.

MediaWiki's upload rules shape every action (see docs/mediawiki-facts.md):
- a lost or corrupt current version is repaired by re-uploading identical bytes: the API answers
  `fileexists-no-change` but publishes them, so success is decided only by reading the URL back;
- a lost old version cannot be put back in place through the API: its bytes are uploaded (they
  become a new current version, warning `duplicateversions`), then `filerevert` restores the version
  that was current; the lost history row itself stays lost;
- deleted content is private: it is never re-uploaded publicly, and neither is a version whose
  content the wiki hides (revision deletion, suppression);
- a deletion or a rename is a community's decision, not a loss; and since a deletion's log entry can
  be hidden (suppressed), a file the wiki no longer shows is re-uploaded only on positive evidence
  that the wiki lost it, never because no visible log explains its absence.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum


class Action(str, Enum):
    REPAIR_CURRENT = "repair-current"
    REUPLOAD_FILE = "reupload-file"
    RESTORE_OLD = "restore-old-version"
    REPLACE_BAD_UPLOAD = "replace-bad-upload"
    NOTHING = "nothing-to-do"
    LOST_HISTORY = "history-row-lost"
    SKIP = "skip"
    REPORT_ADMIN = "report-to-admin"
    CANNOT = "cannot-restore"
    INPUT_ERROR = "input-error"


RESTORING = (Action.REPAIR_CURRENT, Action.REUPLOAD_FILE, Action.RESTORE_OLD, Action.REPLACE_BAD_UPLOAD)
FAILING = (Action.CANNOT, Action.INPUT_ERROR, Action.REPORT_ADMIN)  # what the bot cannot put right


@dataclass(frozen=True)
class Backed:
    """A version as the catalog holds it."""
    id: int
    title: str
    timestamp: str
    user: str | None
    size: int
    sha1: str
    sha256: str | None
    status: str                  # current | old | deleted | vanished (as of the backup)
    archive_name: str | None = None
    stored: bool = True          # the bytes are in the blob store, verified
    private: bool = False        # deleted or hidden content: its bytes, title and description are never published


@dataclass(frozen=True)
class Live:
    """A version as the wiki shows it now, with what its storage answered."""
    timestamp: str
    user: str | None
    size: int
    sha1: str                         # "" where the wiki hides it from the account (a filearchive row)
    archive_name: str | None = None   # None: the current version
    health: str = "ok"                # ok | missing | corrupt (unchecked: filearchive rows not looked at)


@dataclass(frozen=True)
class Situation:
    title: str                            # as asked
    backed: tuple[Backed, ...] = ()       # the catalog's versions of the title, any order
    live_title: str | None = None         # where the file is now (after following moves)
    live: tuple[Live, ...] = ()           # newest first, those hidden from the account left out; empty: no file
    deleted_on_wiki: bool = False         # the visible logs show a deletion since the backup
    deleted_live: tuple[Live, ...] = ()   # deleted versions on the wiki (filearchive), their storage checked
    archived: tuple[Live, ...] = ()       # the filearchive rows of a file the wiki does not show (sha1 "" if hidden)
    page_exists: bool = False             # a file the wiki does not show: its description page is still there
    can_see_deleted: bool = True          # the account reads the filearchive (deletedhistory)
    assume_lost: bool = False             # the operator says the file was lost, not deleted (--assume-lost)
    bot_uploads: tuple[str, ...] = ()     # upload times of live versions that are the bot's own failed uploads
    include_old: bool = False             # also restore lost old versions when a newer version exists
    input_error: str | None = None


@dataclass(frozen=True)
class Decision:
    title: str                    # the title the action applies to (after following moves)
    action: Action
    reason: str
    version: Backed | None = None
    revert_to: str | None = None  # RESTORE_OLD: upload time of the version to make current again afterwards
    asked: str = ""               # the title as the operator gave it
    assumed_lost: bool = False    # REUPLOAD_FILE on the operator's word (--assume-lost), not the wiki's evidence
    private: bool = False         # about deleted content: public reports name neither the file nor the version

    @property
    def restorable(self) -> bool:
        return self.action not in FAILING


def _match(live: Live, backed: tuple[Backed, ...]) -> Backed | None:
    """The backed-up version of these bytes: the very version (sha1 and upload time) if held, else
    a public one with the same sha1 (a revert or re-upload of the same bytes: the wiki records only
    the sha1). Never a private version for other bytes' sake: its uploader and upload time would
    reach an edit summary."""
    exact = next((b for b in backed if b.sha1 == live.sha1 and b.timestamp == live.timestamp), None)
    return exact or next((b for b in backed if b.sha1 == live.sha1 and not b.private), None)


def _by(user: str | None, timestamp: str) -> str:
    return f"uploaded {timestamp[:10]} by {user or 'an unknown user'}"


def decide(s: Situation) -> list[Decision]:
    """One decision per version that needs (or cannot get) a recovery; one 'nothing to do' or
    'skip' decision when the file needs none.

    The bot's own failed uploads (a version it uploaded whose read-back failed) are nobody's
    legitimate upload: they are left out of what the wiki shows, and if one is current, the
    backed-up bytes go up again over it."""
    if s.input_error:
        return [Decision(s.title, Action.INPUT_ERROR, s.input_error, asked=s.title)]
    title = s.live_title or s.title
    stored = tuple(b for b in s.backed if b.stored)
    admin = [Decision(title, Action.REPORT_ADMIN, f"a deleted version ({_by(v.user, v.timestamp)}) has lost its "
                      "bytes; deleted content is private and is never re-uploaded publicly: an administrator must "
                      "decide", asked=s.title, private=True) for v in s.deleted_live if v.health != "ok"]
    live = tuple(v for v in s.live if v.timestamp not in s.bot_uploads)
    over_bad_upload = bool(s.live) and s.live[0].timestamp in s.bot_uploads
    if not live:
        decisions = _absent(s, title, stored, admin)
    else:
        decisions = _present(s, title, live, stored) + admin or _healthy(s, title, live)
    return _replace_bad_upload(decisions, s, title, live, stored) if over_bad_upload else decisions


def _absent(s: Situation, title: str, stored: tuple[Backed, ...], admin: list[Decision]) -> list[Decision]:
    """The wiki shows no file: re-uploaded only on positive evidence that the wiki lost it (its
    description page is still there and its filearchive holds no deletion the backup did not know),
    or on the operator's word; a deletion, whose log entry may be hidden, is never undone here."""
    asked = s.title
    if s.deleted_on_wiki:
        return admin or [Decision(title, Action.SKIP, "deleted on the wiki since the backup: a deletion is a "
                                  "decision, not a loss", asked=asked, private=True)]
    if not s.backed:
        return [Decision(title, Action.INPUT_ERROR, "no such file on the wiki and none in the catalog", asked=asked)]
    if all(b.status == "deleted" or b.private for b in s.backed):
        return admin or [Decision(title, Action.SKIP, "gone from the wiki, and the backup knew it only as deleted or "
                                  "hidden content: nothing public to restore", asked=asked, private=True)]
    known_deleted = {(b.timestamp, b.sha1) for b in s.backed if b.status == "deleted"}
    deleted_since = [r for r in s.archived if (r.timestamp, r.sha1) not in known_deleted
                     and not (r.sha1 == "" and any(t == r.timestamp for t, _ in known_deleted))]
    if deleted_since:
        return admin + [Decision(title, Action.REPORT_ADMIN, f"gone from the wiki, and its filearchive holds "
                                 f"{len(deleted_since)} version(s) deleted since the backup: it was deleted (its log "
                                 "entry may be suppressed); deleted content is never republished: an administrator "
                                 "decides (undelete)", asked=asked, private=True)]
    public = [b for b in stored if b.status != "deleted" and not b.private]
    if not public:
        return admin + [Decision(title, Action.CANNOT, "gone from the wiki and the catalog holds no bytes of a public "
                                 "version of it", asked=asked)]
    latest = max(public, key=lambda b: b.timestamp)
    if not s.assume_lost:
        doubt = ("this account cannot read deletions (no deletedhistory), so a hidden deletion cannot be ruled out"
                 if not s.can_see_deleted else "its description page is gone too, so a deletion whose log entry is "
                 "hidden cannot be ruled out" if not s.page_exists else None)
        if doubt:
            return admin + [Decision(title, Action.REPORT_ADMIN, f"gone from the wiki, and {doubt}: an administrator "
                                     "decides; an operator who knows it was lost names it with --assume-lost",
                                     asked=asked)]
    evidence = ("the operator says it was lost (--assume-lost)" if s.assume_lost else "its description page is still "
                "there while the file row is gone, and no deletion or move explains it: the wiki lost it")
    return admin + [Decision(title, Action.REUPLOAD_FILE, f"gone from the wiki; {evidence}: re-upload the last "
                             f"backed-up version, {_by(latest.user, latest.timestamp)}, with its description page",
                             latest, asked=asked, assumed_lost=s.assume_lost)]


def _present(s: Situation, title: str, live: tuple[Live, ...], stored: tuple[Backed, ...]) -> list[Decision]:
    """A decision for each version of a file the wiki shows whose storage is not healthy."""
    asked, current = s.title, live[0]
    moved = f" (renamed from {asked} since the backup)" if s.live_title and s.live_title != asked else ""
    # New content since the backup: bytes the catalog has never seen (a revert or a restore re-uses
    # known bytes under a new upload time, which is no new content).
    newer = _newer(s, live)
    decisions = []
    for version in live:
        if version.health == "ok":
            continue
        is_current = version is current
        kind = "current version" if is_current else f"old version {version.archive_name}"
        backup = _match(version, stored)
        if is_current and version in newer:
            decisions.append(Decision(title, Action.CANNOT, f"the {kind} is {version.health}, and it was uploaded "
                                      f"after the last backup ({_by(version.user, version.timestamp)}): no copy of "
                                      f"its bytes exists{moved}", asked=asked))
        elif not is_current and newer and not s.include_old:
            decisions.append(Decision(title, Action.SKIP, f"the {kind} is {version.health}, but a newer version was "
                                      f"uploaded since the backup and is healthy; ask for old versions to restore "
                                      f"it anyway", asked=asked))
        elif not is_current and version.sha1 == current.sha1 and current.health == "ok":
            decisions.append(Decision(title, Action.LOST_HISTORY, f"the {kind} is {version.health} in storage, but "
                                      "its bytes are the current version's, which serves them: nothing is lost but "
                                      "the history row itself, which no API call can put back", backup, asked=asked))
        elif backup is None:
            why = ("the backup of these bytes failed" if _match(version, s.backed) else
                   "the catalog holds no version with this sha1: the wiki's record and the backup disagree")
            decisions.append(Decision(title, Action.CANNOT, f"the {kind} is {version.health}; {why}{moved}",
                                      asked=asked))
        elif is_current:
            decisions.append(Decision(title, Action.REPAIR_CURRENT, f"the current version is {version.health} in "
                                      f"storage; the backup holds the bytes the wiki records (sha1 {version.sha1[:12]}"
                                      f"…): re-upload them identically; MediaWiki answers fileexists-no-change and "
                                      f"publishes them; success is read back from the URL{moved}", backup,
                                      asked=asked))
        else:
            decisions.append(Decision(title, Action.RESTORE_OLD, f"the {kind} is {version.health} in storage: upload "
                                      f"its backed-up bytes (they become the current version, warning "
                                      f"duplicateversions), then revert to the version that was current; both are "
                                      f"logged, and the lost history row itself stays{moved}", backup,
                                      revert_to=current.timestamp, asked=asked))
    return decisions


def _newer(s: Situation, live: tuple[Live, ...]) -> list[Live]:
    return [v for v in live if not any(b.sha1 == v.sha1 for b in s.backed)
            and v.timestamp > max((b.timestamp for b in s.backed), default="")]


def _healthy(s: Situation, title: str, live: tuple[Live, ...]) -> list[Decision]:
    moved = f" (renamed from {s.title} since the backup)" if s.live_title and s.live_title != s.title else ""
    newer = _newer(s, live)
    if newer:
        return [Decision(title, Action.SKIP, f"a newer version was uploaded since the backup "
                         f"({_by(newer[0].user, newer[0].timestamp)}) and every version is healthy{moved}",
                         asked=s.title)]
    return [Decision(title, Action.NOTHING, f"every version is healthy{moved}", asked=s.title)]


def _replace_bad_upload(decisions: list[Decision], s: Situation, title: str, live: tuple[Live, ...],
                        stored: tuple[Backed, ...]) -> list[Decision]:
    """The wiki's current version is the bot's own failed upload: the version that should be
    current goes up again over it (an identical re-upload cannot work: the wiki's current bytes
    are the bad ones). A lost old version's restore reverts to that version anyway, when it is
    healthy; otherwise it waits for the next run, when the replacement is current."""
    why = "the current version is mediarescue's own failed upload (its read-back did not match): "
    if live and live[0].health == "ok" and any(d.action == Action.RESTORE_OLD for d in decisions):
        return decisions
    if live:
        target = _match(live[0], stored)
    else:  # the file was gone before the bad upload: back only where a re-upload is still the decision
        reupload = [d for d in decisions if d.action == Action.REUPLOAD_FILE]
        if not reupload:
            return decisions
        target = reupload[0].version
    if target is None:
        return [d for d in decisions if d.action in FAILING] + [Decision(
            title, Action.CANNOT, why + "the backup holds no public version to put back; revert it by hand",
            asked=s.title)]
    later = [replace(d, action=Action.SKIP, reason=d.reason + "; after the bad upload is replaced: run again")
             for d in decisions if d.action == Action.RESTORE_OLD]
    kept = [d for d in decisions if d.action in FAILING or d.action == Action.LOST_HISTORY]
    return [Decision(title, Action.REPLACE_BAD_UPLOAD, why + f"upload the backed-up version, "
                     f"{_by(target.user, target.timestamp)}, again over it; both stay in the file's history",
                     target, asked=s.title), *later, *kept]


ORDER = {Action.REPAIR_CURRENT: 0, Action.REPLACE_BAD_UPLOAD: 0, Action.REUPLOAD_FILE: 1, Action.RESTORE_OLD: 2}


def order(decisions: list[Decision], priority: str = "size", usage: dict[str, int] | None = None) -> list[Decision]:
    """The order of a large recovery: current versions (and whole files) before old ones; within
    each, the most used files first (when usage is known), else by the settable priority: `size`
    (small first: more files back sooner), `mediatype` (bitmaps, then drawings, then the rest)."""
    usage = usage or {}
    media_rank = {"png": 0, "jpg": 0, "jpeg": 0, "gif": 0, "webp": 0, "tif": 1, "tiff": 1, "svg": 2}

    def key(d: Decision) -> tuple:
        size = d.version.size if d.version else 0
        extension = d.title.rsplit(".", 1)[-1].lower()
        then = {"size": (size,), "mediatype": (media_rank.get(extension, 3), size),
                "usage": (-usage.get(d.title, 0), size)}[priority]
        return (ORDER.get(d.action, 9), *then, d.title)

    return sorted(decisions, key=key)
