"""What undoing an incident does to one title: a pure function from the title's state as of the
snapshot before the incident, what the wiki shows now and who touched it since, to one decision a
community member can read.

The bot's writes are MediaWiki's own tools, so each is an ordinary log entry (docs/mediawiki-facts.md):
- an overwrite is undone by `filerevert` to the version that was current, while its archived bytes
  are intact on the wiki; when they are lost, a filerevert fails (`backend-fail-notexists`), so the
  backed-up bytes are uploaded instead and become the current version;
- a deletion (of the file or of old versions) is undone by `undelete`; when the deleted-zone bytes
  are gone MediaWiki still undeletes, and then serves a 404: the backed-up bytes go up again after
  (an identical re-upload publishes them, `fileexists-no-change`);
- a move is undone by moving back over the redirect it left behind;
- a file that did not exist as of the snapshot is listed for an administrator, and deleted only on
  the operator's word (--delete-new) by an account with the `delete` right;
- a title someone not named changed after the incident is left alone (unless --force): undoing
  the incident would undo their work too.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from policies.recovery import Backed, Live


class Rollback(str, Enum):
    REVERT = "revert"                        # filerevert to the as-of version
    REUPLOAD = "reupload"                    # upload the backed-up bytes of the as-of version
    UNDELETE = "undelete"
    UNDELETE_REUPLOAD = "undelete-reupload"  # undelete, then re-upload what the deleted zone lost
    MOVE_BACK = "move-back"
    LIST_NEW = "list-new"                    # new in the window: for an administrator
    DELETE_NEW = "delete-new"
    SKIP = "skip"                            # changed again since by someone not named
    NOTHING = "nothing-to-do"
    CANNOT = "cannot"


# The bot's writes, in the order a decision carries them out.
MOVE, UNDELETE, FILEREVERT, UPLOAD, DELETE = "move", "undelete", "filerevert", "upload", "delete"
FAILING = (Rollback.CANNOT,)


@dataclass(frozen=True)
class Archived:
    """A filearchive row (a deleted version) of the title."""
    id: int                       # fa_id: what `undelete` takes in `fileids`
    timestamp: str
    sha1: str                     # "" where the wiki hides it from the account
    bytes_ok: bool | None = None  # its deleted-zone bytes are there; None: not known (no Swift access)


@dataclass(frozen=True)
class Case:
    title: str                            # as of the snapshot (as asked, for a title that did not exist)
    snapshot: int                         # the run whose state is the target
    target: tuple[Backed, ...] = ()       # the title's public versions as of the snapshot (current, old)
    live_title: str | None = None         # where the file is now; None: the wiki shows no file
    live: tuple[Live, ...] = ()           # newest first, their storage checked
    archived: tuple[Archived, ...] = ()   # the filearchive rows of the title
    changed_since: tuple[str, ...] = ()   # log entries after the incident by someone not named, as text
    force: bool = False                   # --force: roll back over later changes
    delete_new: bool = False              # --delete-new
    may_delete: bool = False              # the bot has the `delete` right


@dataclass(frozen=True)
class Decision:
    title: str                            # as of the snapshot: what the title is again afterwards
    action: Rollback
    reason: str
    steps: tuple[str, ...] = ()           # the bot's writes, in order
    live_title: str | None = None         # where the file is before the rollback
    version: Backed | None = None         # the version that must be current afterwards
    archive_name: str | None = None       # filerevert to this
    file_ids: tuple[int, ...] = ()        # undelete these filearchive rows
    snapshot: int = 0
    current_at: str | None = None         # the upload time of the version current when planned

    @property
    def acts(self) -> bool:
        return bool(self.steps)

    @property
    def ok(self) -> bool:
        return self.action not in FAILING


def _by(v: Backed | Live) -> str:
    return f"uploaded {v.timestamp} by {v.user or 'an unknown user'}"


def decide(c: Case) -> Decision:
    """One decision for the title: what makes it again what it was as of the snapshot."""
    as_of = f"as of backup run {c.snapshot}"
    current = next((b for b in c.target if b.status == "current"), None)
    if c.changed_since and not c.force:
        return Decision(c.title, Rollback.SKIP, f"changed again after the incident by someone not named "
                        f"({'; '.join(c.changed_since)}): rolling back would undo that too; --force does it anyway",
                        live_title=c.live_title, snapshot=c.snapshot)
    if current is None:
        return _new(c, as_of)
    if c.live_title is None:
        return _deleted(c, current, as_of)
    return _present(c, current, as_of)


def _new(c: Case, as_of: str) -> Decision:
    if c.live_title is None:
        return Decision(c.title, Rollback.NOTHING, f"no file {as_of}, and none now", snapshot=c.snapshot)
    why = f"uploaded in the incident: no file had this title {as_of}"
    if c.delete_new and c.may_delete:
        return Decision(c.title, Rollback.DELETE_NEW, f"{why}; deleted, as the operator asked (--delete-new)",
                        (DELETE,), c.live_title, snapshot=c.snapshot)
    unless = ("; the bot lacks the delete right, so --delete-new cannot" if c.delete_new else
              "; --delete-new deletes it")
    return Decision(c.title, Rollback.LIST_NEW, f"{why}: listed for an administrator, never deleted by "
                    f"default{unless}", live_title=c.live_title, snapshot=c.snapshot)


def _deleted(c: Case, current: Backed, as_of: str) -> Decision:
    """The wiki shows no file: undelete the versions it had as of the snapshot."""
    rows = _rows_of(c, c.target)
    if not any(r.timestamp == current.timestamp and r.sha1 == current.sha1 for r in rows):
        return Decision(c.title, Rollback.CANNOT, f"gone from the wiki, but its filearchive holds no deleted "
                        f"version that was current {as_of}: no deletion to undo (a loss is `restore`'s)",
                        version=current, snapshot=c.snapshot)
    ids = tuple(r.id for r in rows)
    why = f"deleted in the incident: undelete the {len(ids)} version(s) it had {as_of}"
    lost = next(r for r in rows if r.timestamp == current.timestamp and r.sha1 == current.sha1).bytes_ok is False
    if not lost:
        return Decision(c.title, Rollback.UNDELETE, why, (UNDELETE,), None, current, file_ids=ids,
                        snapshot=c.snapshot)
    if not current.stored:
        return Decision(c.title, Rollback.CANNOT, f"{why}, but the deleted zone lost the current version's bytes "
                        "and the catalog holds none of them", version=current, snapshot=c.snapshot)
    return Decision(c.title, Rollback.UNDELETE_REUPLOAD, f"{why}; its deleted-zone bytes are gone (MediaWiki "
                    f"undeletes and then serves a 404), so the backed-up bytes ({_by(current)}) go up again after",
                    (UNDELETE, UPLOAD), None, current, file_ids=ids, snapshot=c.snapshot)


def _present(c: Case, current: Backed, as_of: str) -> Decision:
    steps, why = [], []
    action = None
    if c.live_title != c.title:
        steps.append(MOVE)
        why.append(f"moved to {c.live_title} in the incident: move it back to its title {as_of}, over the "
                   "redirect left behind")
        action = Rollback.MOVE_BACK
    missing = [b for b in c.target if b.status == "old" and not any(_same(b, v) for v in c.live)]
    rows = _rows_of(c, missing)
    ids = tuple(r.id for r in rows)
    if ids:
        steps.append(UNDELETE)
        why.append(f"{len(ids)} old version(s) it had {as_of} deleted in the incident: undelete them")
        if any(r.bytes_ok is False for r in rows):  # undeleted, such a row serves 404: restore's case then
            why.append("the deleted zone lost the bytes of some of them: once undeleted, `mediarescue restore` "
                       "of this title puts them back (restore-old-version)")
        action = action or Rollback.UNDELETE
    archive_name = None
    now = c.live[0]
    if now.sha1 != current.sha1:
        kept = next((v for v in c.live[1:] if _same(current, v)), None) or \
            next((v for v in c.live[1:] if v.sha1 == current.sha1 and v.health == "ok"), None)
        if kept is not None and kept.health == "ok":
            steps.append(FILEREVERT)
            archive_name = kept.archive_name
            why.append(f"overwritten in the incident ({_by(now)}): revert to the version {as_of}, whose archived "
                       "bytes are intact on the wiki")
            action = action or Rollback.REVERT
        elif current.stored:
            steps.append(UPLOAD)
            why.append(f"overwritten in the incident ({_by(now)}); the archived bytes of the version {as_of} are "
                       f"lost on the wiki, so its backed-up bytes ({_by(current)}) are uploaded and become current")
            action = action or Rollback.REUPLOAD
        else:
            return Decision(c.title, Rollback.CANNOT, f"overwritten in the incident ({_by(now)}), the wiki lost "
                            f"the version {as_of} and the catalog holds no bytes of it", live_title=c.live_title,
                            version=current, snapshot=c.snapshot)
    elif now.health != "ok":
        if not current.stored:
            return Decision(c.title, Rollback.CANNOT, f"the version {as_of} is current again but its bytes are "
                            f"{now.health} on the wiki, and the catalog holds none", live_title=c.live_title,
                            version=current, snapshot=c.snapshot)
        steps.append(UPLOAD)
        why.append(f"the version {as_of} is current but its bytes are {now.health} on the wiki (an undeletion "
                   "whose deleted-zone bytes were gone): re-upload its backed-up bytes")
        action = action or Rollback.REUPLOAD
    if not steps:
        return Decision(c.title, Rollback.NOTHING, f"already as it was {as_of}", live_title=c.live_title,
                        version=current, snapshot=c.snapshot)
    return Decision(c.title, action, "; ".join(why), tuple(steps), c.live_title, current, archive_name, ids,
                    c.snapshot, now.timestamp)


def _same(b: Backed, v: Live) -> bool:
    return b.timestamp == v.timestamp and b.sha1 == v.sha1


def _rows_of(c: Case, versions: list[Backed] | tuple[Backed, ...]) -> list[Archived]:
    """The filearchive rows that are these versions (by upload time and sha1)."""
    wanted = {(b.timestamp, b.sha1) for b in versions}
    return [r for r in c.archived if (r.timestamp, r.sha1) in wanted]


ORDER = {Rollback.MOVE_BACK: 0, Rollback.UNDELETE: 1, Rollback.UNDELETE_REUPLOAD: 1, Rollback.REVERT: 2,
         Rollback.REUPLOAD: 2, Rollback.DELETE_NEW: 3}


def order(decisions: list[Decision]) -> list[Decision]:
    """Moves back first (they free the titles the others are at), then undeletions, then the rest;
    within each, by title."""
    return sorted(decisions, key=lambda d: (ORDER.get(d.action, 9), d.title))
