"""Every rollback case, table-tested on the pure policy (no wiki, no catalog)."""
from __future__ import annotations

import pytest

from policies.recovery import Backed, Live
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

T1, T2, T3, T4 = "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z"
A, B, V, W = "a" * 40, "b" * 40, "e" * 40, "f" * 40  # A, B: before the incident; V, W: the vandal's


def backed(sha1: str, ts: str, status: str = "current", stored: bool = True, i: int = 1) -> Backed:
    return Backed(i, "File:X.png", ts, "Alice", 100, sha1, "f" * 64 if stored else None, status,
                  None if status == "current" else f"{ts}!X.png", stored)


def live(sha1: str, ts: str, health: str = "ok", archive: bool = True, user: str = "Alice") -> Live:
    return Live(ts, user, 100, sha1, f"{ts}!X.png" if archive else None, health)


TARGET = (backed(B, T2, i=2), backed(A, T1, "old", i=1))
AS_OF = (live(B, T2, archive=False), live(A, T1))


def case(**kw: object) -> Case:
    return Case("File:X.png", 7, **{"target": TARGET, "live_title": "File:X.png", **kw})


CASES = [
    ("overwritten, the as-of version's archive intact: revert",
     case(live=(live(V, T3, archive=False, user="Vandal"), live(B, T2), live(A, T1))),
     Rollback.REVERT, (FILEREVERT,)),
    ("overwritten twice: revert to the as-of version, not the vandal's first",
     case(live=(live(W, T4, archive=False), live(V, T3), live(B, T2), live(A, T1))), Rollback.REVERT, (FILEREVERT,)),
    ("overwritten, the as-of version's archived bytes lost: upload the backed-up bytes",
     case(live=(live(V, T3, archive=False), live(B, T2, "missing"), live(A, T1))), Rollback.REUPLOAD, (UPLOAD,)),
    ("overwritten, archived bytes lost and no backup of them: cannot",
     case(target=(backed(B, T2, stored=False),), live=(live(V, T3, archive=False), live(B, T2, "missing"))),
     Rollback.CANNOT, ()),
    ("deleted whole: undelete the as-of versions only",
     case(live_title=None, archived=(Archived(11, T2, B, True), Archived(10, T1, A, True), Archived(9, T1, W, True))),
     Rollback.UNDELETE, (UNDELETE,)),
    ("deleted whole, its deleted-zone bytes gone: undelete then re-upload",
     case(live_title=None, archived=(Archived(11, T2, B, False), Archived(10, T1, A, True))),
     Rollback.UNDELETE_REUPLOAD, (UNDELETE, UPLOAD)),
    ("deleted whole, bytes gone and not backed up: cannot",
     case(target=(backed(B, T2, stored=False),), live_title=None, archived=(Archived(11, T2, B, False),)),
     Rollback.CANNOT, ()),
    ("gone but not in the filearchive: no deletion to undo",
     case(live_title=None), Rollback.CANNOT, ()),
    ("one old version deleted: undelete it",
     case(live=(live(B, T2, archive=False),), archived=(Archived(10, T1, A, True),)), Rollback.UNDELETE, (UNDELETE,)),
    ("moved: move back", case(live_title="File:Y.png", live=AS_OF), Rollback.MOVE_BACK, (MOVE,)),
    ("moved and overwritten: move back, then revert",
     case(live_title="File:Y.png", live=(live(V, T3, archive=False), live(B, T2), live(A, T1))),
     Rollback.MOVE_BACK, (MOVE, FILEREVERT)),
    ("new in the window: listed", case(target=(), live=(live(V, T3, archive=False),)), Rollback.LIST_NEW, ()),
    ("new, --delete-new without the delete right: listed",
     case(target=(), live=(live(V, T3, archive=False),), delete_new=True), Rollback.LIST_NEW, ()),
    ("new, --delete-new with the delete right: deleted",
     case(target=(), live=(live(V, T3, archive=False),), delete_new=True, may_delete=True),
     Rollback.DELETE_NEW, (DELETE,)),
    ("new and already gone: nothing", case(target=(), live_title=None), Rollback.NOTHING, ()),
    ("changed again by someone not named: skipped",
     case(live=(live(W, T4, archive=False), live(V, T3), live(B, T2), live(A, T1)),
          changed_since=("upload/overwrite by Bob at " + T4,)), Rollback.SKIP, ()),
    ("...unless --force",
     case(live=(live(W, T4, archive=False), live(V, T3), live(B, T2), live(A, T1)),
          changed_since=("upload/overwrite by Bob",), force=True), Rollback.REVERT, (FILEREVERT,)),
    ("as it was: nothing to do (a second run)",
     case(live=(live(B, T4, archive=False), live(V, T3), live(B, T2), live(A, T1))), Rollback.NOTHING, ()),
    ("undeleted but its bytes a 404 (a run killed after the undelete): re-upload",
     case(live=(live(B, T2, "missing", archive=False), live(A, T1))), Rollback.REUPLOAD, (UPLOAD,)),
]


@pytest.mark.parametrize("situation, action, steps", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rollback_decisions(situation: Case, action: Rollback, steps: tuple[str, ...]) -> None:
    d = decide(situation)
    assert (d.action, d.steps) == (action, steps), d.reason
    assert d.reason and d.snapshot == 7
    if action in (Rollback.REVERT, Rollback.REUPLOAD, Rollback.UNDELETE, Rollback.UNDELETE_REUPLOAD,
                  Rollback.MOVE_BACK):
        assert d.version is not None and d.version.sha1 == B  # the as-of current version is the target
        assert "as of backup run 7" in d.reason


def test_revert_names_the_as_of_archive_and_undelete_the_as_of_rows() -> None:
    reverted = decide(case(live=(live(W, T4, archive=False), live(V, T3), live(B, T2), live(A, T1))))
    assert reverted.archive_name == f"{T2}!X.png"
    undeleted = decide(case(live_title=None, archived=(Archived(11, T2, B, True), Archived(10, T1, A, True),
                                                       Archived(9, T1, W, True))))
    assert undeleted.file_ids == (11, 10)  # a version deleted before the snapshot stays deleted


def test_an_old_version_whose_deleted_bytes_are_gone_is_undeleted_and_left_to_restore_by_name() -> None:
    d = decide(case(live=(live(B, T2, archive=False),), archived=(Archived(10, T1, A, False),)))
    assert (d.action, d.steps, d.file_ids) == (Rollback.UNDELETE, (UNDELETE,), (10,))
    assert "mediarescue restore" in d.reason


def test_order_moves_back_first() -> None:
    ds = [Decision("File:C", Rollback.REVERT, "r"), Decision("File:B", Rollback.UNDELETE, "u"),
          Decision("File:A", Rollback.LIST_NEW, "n"), Decision("File:D", Rollback.MOVE_BACK, "m")]
    assert [d.title for d in order(ds)] == ["File:D", "File:B", "File:C", "File:A"]
