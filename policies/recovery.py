"""What the right recovery of one file is: a pure function from what the catalog holds and what the
live wiki shows to decisions an operator and a community member can read.

MediaWiki's upload rules shape every action (see shared/notes/mediawiki-facts.md):
- a lost or corrupt current version is repaired by re-uploading identical bytes: the API answers
  `fileexists-no-change` but publishes them, so success is decided only by reading the URL back;
- a lost old version cannot be put back in place through the API: its bytes are uploaded (they
  become a new current version, warning `duplicateversions`), then `filerevert` restores the version
  that was current; the lost history row itself stays lost;
- deleted content is private: it is never re-uploaded publicly;
- a deletion or a rename is a community's decision, not a loss.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Action(str, Enum):
    REPAIR_CURRENT = "repair-current"
    REUPLOAD_FILE = "reupload-file"
    RESTORE_OLD = "restore-old-version"
    NOTHING = "nothing-to-do"
    SKIP = "skip"
    REPORT_ADMIN = "report-to-admin"
    CANNOT = "cannot-restore"
    INPUT_ERROR = "input-error"


RESTORING = (Action.REPAIR_CURRENT, Action.REUPLOAD_FILE, Action.RESTORE_OLD)
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
    status: str                  # current | old | deleted (as of the backup)
    archive_name: str | None = None
    stored: bool = True          # the bytes are in the blob store, verified


@dataclass(frozen=True)
class Live:
    """A version as the wiki shows it now, with what its storage answered."""
    timestamp: str
    user: str | None
    size: int
    sha1: str
    archive_name: str | None = None   # None: the current version
    health: str = "ok"                # ok | missing | corrupt | deleted-missing


@dataclass(frozen=True)
class Situation:
    title: str                            # as asked
    backed: tuple[Backed, ...] = ()       # the catalog's versions of the title, any order
    live_title: str | None = None         # where the file is now (after following moves)
    live: tuple[Live, ...] = ()           # newest first; empty when the wiki has no such file
    deleted_on_wiki: bool = False         # the logs show a deletion since the backup
    deleted_live: tuple[Live, ...] = ()   # deleted versions on the wiki (filearchive), with health
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

    @property
    def restorable(self) -> bool:
        return self.action not in FAILING


def _match(live: Live, backed: tuple[Backed, ...]) -> Backed | None:
    """The backed-up version of these bytes: the very version (sha1 and upload time) if held, else
    any held with the same sha1 (a revert or re-upload of the same bytes: the wiki records only
    the sha1, so these are the bytes it expects)."""
    exact = next((b for b in backed if b.sha1 == live.sha1 and b.timestamp == live.timestamp), None)
    return exact or next((b for b in backed if b.sha1 == live.sha1), None)


def _by(user: str | None, timestamp: str) -> str:
    return f"uploaded {timestamp[:10]} by {user or 'an unknown user'}"


def decide(s: Situation) -> list[Decision]:
    """One decision per version that needs (or cannot get) a recovery; one 'nothing to do' or
    'skip' decision when the file needs none."""
    asked = s.title
    if s.input_error:
        return [Decision(asked, Action.INPUT_ERROR, s.input_error, asked=asked)]
    title = s.live_title or s.title
    moved = f" (renamed from {asked} since the backup)" if s.live_title and s.live_title != asked else ""
    stored = tuple(b for b in s.backed if b.stored)

    admin = [Decision(title, Action.REPORT_ADMIN, f"a deleted version ({_by(v.user, v.timestamp)}) has lost its "
                      "bytes; deleted content is private and is never re-uploaded publicly: an administrator must "
                      "decide", _match(v, stored), asked=asked) for v in s.deleted_live if v.health != "ok"]
    if not s.live:
        if s.deleted_on_wiki:
            return admin or [Decision(title, Action.SKIP, "deleted on the wiki since the backup: a deletion is a "
                                      "decision, not a loss", asked=asked)]
        if not s.backed:
            return [Decision(title, Action.INPUT_ERROR, "no such file on the wiki and none in the catalog",
                             asked=asked)]
        public = [b for b in stored if b.status != "deleted"]
        if not public:
            return [Decision(title, Action.CANNOT, "gone from the wiki and the catalog holds no bytes of a public "
                             "version of it", asked=asked)]
        latest = max(public, key=lambda b: b.timestamp)
        return [Decision(title, Action.REUPLOAD_FILE, f"gone from the wiki (no file row) and no deletion or move in "
                         f"the logs explains it: re-upload the last backed-up version, {_by(latest.user, latest.timestamp)}"
                         f", with its description page", latest, asked=asked)]

    decisions = []
    current = s.live[0]
    # New content since the backup: bytes the catalog has never seen (a revert or a restore re-uses
    # known bytes under a new upload time, which is no new content).
    newer = [v for v in s.live if not any(b.sha1 == v.sha1 for b in s.backed)
             and v.timestamp > max((b.timestamp for b in s.backed), default="")]
    for version in s.live:
        if version.health == "ok":
            continue
        is_current = version is current
        kind = "current version" if is_current else f"old version {version.archive_name}"
        backup = _match(version, stored)
        if is_current and version in newer:
            decisions.append(Decision(title, Action.CANNOT, f"the {kind} is {version.health}, and it was uploaded "
                                      f"after the last backup ({_by(version.user, version.timestamp)}): no copy of "
                                      f"its bytes exists{moved}", asked=asked))
            continue
        if not is_current and newer and not s.include_old:
            decisions.append(Decision(title, Action.SKIP, f"the {kind} is {version.health}, but a newer version was "
                                      f"uploaded since the backup and is healthy; ask for old versions to restore "
                                      f"it anyway", asked=asked))
            continue
        if backup is None:
            held = _match(version, s.backed)
            why = ("the backup of these bytes failed" if held else
                   "the catalog holds no version with this sha1: the wiki's record and the backup disagree")
            decisions.append(Decision(title, Action.CANNOT, f"the {kind} is {version.health}; {why}{moved}",
                                      asked=asked))
            continue
        if is_current:
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
    decisions += admin
    if decisions:
        return decisions
    if newer:
        return [Decision(title, Action.SKIP, f"a newer version was uploaded since the backup "
                         f"({_by(newer[0].user, newer[0].timestamp)}) and every version is healthy{moved}",
                         asked=asked)]
    return [Decision(title, Action.NOTHING, f"every version is healthy{moved}", asked=asked)]


ORDER = {Action.REPAIR_CURRENT: 0, Action.REUPLOAD_FILE: 1, Action.RESTORE_OLD: 2}


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
