"""Every recovery case of the plan, table-tested on the pure policy (no wiki, no catalog)."""
from __future__ import annotations

import pytest

from policies.recovery import Action, Backed, Decision, Live, Situation, decide, order
from restorer.titles import parse, parse_line

T1, T2, T3 = "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"
A, B, C = "a" * 40, "b" * 40, "c" * 40


def backed(sha1: str, ts: str, status: str = "current", stored: bool = True, i: int = 1, archive: str | None = None,
           size: int = 100) -> Backed:
    return Backed(i, "File:X.png", ts, "Alice", size, sha1, "f" * 64 if stored else None, status, archive, stored)


def live(sha1: str, ts: str, health: str = "ok", archive: str | None = None) -> Live:
    return Live(ts, "Alice", 100, sha1, archive, health)


HISTORY = (backed(B, T2, i=2), backed(A, T1, "old", i=1, archive="20260101000000!X.png"))


CASES = [
    ("1 current missing, backup holds it", Situation("File:X.png", HISTORY, live=(live(B, T2, "missing"), live(A, T1))),
     [(Action.REPAIR_CURRENT, B)]),
    ("1 current corrupt, backup holds it", Situation("File:X.png", HISTORY, live=(live(B, T2, "corrupt"), live(A, T1))),
     [(Action.REPAIR_CURRENT, B)]),
    ("1 a revert's copy of backed-up bytes is repaired from them",
     Situation("File:X.png", HISTORY, live=(live(B, T3, "missing"), live(B, T2), live(A, T1))),
     [(Action.REPAIR_CURRENT, B)]),
    ("2 gone, its description page still there: the wiki lost it", Situation("File:X.png", HISTORY, page_exists=True),
     [(Action.REUPLOAD_FILE, B)]),
    ("2 gone with its page, no visible log: maybe a hidden deletion", Situation("File:X.png", HISTORY),
     [(Action.REPORT_ADMIN, None)]),
    ("2 ...unless the operator names it lost", Situation("File:X.png", HISTORY, assume_lost=True),
     [(Action.REUPLOAD_FILE, B)]),
    ("2 page kept, but the filearchive shows a deletion since the backup (log suppressed)",
     Situation("File:X.png", HISTORY, page_exists=True, archived=(live(B, T2, "unchecked"),)),
     [(Action.REPORT_ADMIN, None)]),
    ("2 ...a deleted row hidden from the account counts too, and --assume-lost does not override it",
     Situation("File:X.png", HISTORY, page_exists=True, assume_lost=True, archived=(live("", T2, "unchecked"),)),
     [(Action.REPORT_ADMIN, None)]),
    ("2 a deletion the backup already knew is no evidence",
     Situation("File:X.png", (*HISTORY, backed(C, T1, "deleted", i=3)), page_exists=True,
               archived=(live(C, T1, "unchecked"),)),
     [(Action.REUPLOAD_FILE, B)]),
    ("2 an account that cannot read deletions cannot rule one out",
     Situation("File:X.png", HISTORY, page_exists=True, can_see_deleted=False), [(Action.REPORT_ADMIN, None)]),
    ("2 gone: a hidden (private) version is never the one re-uploaded",
     Situation("File:X.png", (Backed(2, "File:X.png", T2, "Alice", 100, B, "f" * 64, "old", "b!X", True, True),
                              backed(A, T1, "old", i=1)), page_exists=True),
     [(Action.REUPLOAD_FILE, A)]),
    ("11 old version lost whose bytes the current version serves: the history row alone is lost",
     Situation("File:X.png", (backed(A, T2, i=2), backed(A, T1, "old", i=1)),
               live=(live(A, T2), live(A, T1, "missing", "a!X"))),
     [(Action.LOST_HISTORY, A)]),
    ("12 the bot's own failed upload over a lost current version: not a newer version",
     Situation("File:X.png", HISTORY, live=(live(C, T3), live(B, T2, "missing", "b!X"), live(A, T1)),
               bot_uploads=(T3,)),
     [(Action.REPLACE_BAD_UPLOAD, B)]),
    ("12 ...over a file that was gone", Situation("File:X.png", HISTORY, live=(live(C, T3),), bot_uploads=(T3,),
                                                  page_exists=True),
     [(Action.REPLACE_BAD_UPLOAD, B)]),
    ("12 ...but not where the filearchive shows the file was deleted: that is for an administrator",
     Situation("File:X.png", HISTORY, live=(live(C, T3),), bot_uploads=(T3,), page_exists=True,
               archived=(live(B, T2, "unchecked"),)),
     [(Action.REPORT_ADMIN, None)]),
    ("12 ...over a healthy current version, while restoring a lost old one: the restore reverts over it",
     Situation("File:X.png", HISTORY, live=(live(C, T3), live(B, T2, archive="b!X"), live(A, T1, "missing", "a!X")),
               bot_uploads=(T3,)),
     [(Action.RESTORE_OLD, A)]),
    ("12 ...and on its own: the version before it goes up again",
     Situation("File:X.png", HISTORY, live=(live(C, T3), live(B, T2, archive="b!X"), live(A, T1)), bot_uploads=(T3,)),
     [(Action.REPLACE_BAD_UPLOAD, B)]),
    ("12 a bad upload the bot later replaced is history, not news",
     Situation("File:X.png", HISTORY, live=(live(B, T3), live(C, T3[:-2] + "1Z"), live(B, T2, "missing", "b!X"),
                                            live(A, T1)), bot_uploads=(T3[:-2] + "1Z",)),
     [(Action.LOST_HISTORY, B)]),
    ("3 old version missing", Situation("File:X.png", HISTORY, live=(live(B, T2), live(A, T1, "missing", "a!X"))),
     [(Action.RESTORE_OLD, A)]),
    ("3 current and old missing: both, current first",
     Situation("File:X.png", HISTORY, live=(live(B, T2, "missing"), live(A, T1, "missing", "a!X"))),
     [(Action.REPAIR_CURRENT, B), (Action.RESTORE_OLD, A)]),
    ("4 newer healthy version", Situation("File:X.png", HISTORY, live=(live(C, T3), live(B, T2), live(A, T1))),
     [(Action.SKIP, None)]),
    ("4 newer version, old one lost: skip unless asked",
     Situation("File:X.png", HISTORY, live=(live(C, T3), live(B, T2, "missing", "b!X"), live(A, T1))),
     [(Action.SKIP, None)]),
    ("4 ...and restored when old versions are asked for",
     Situation("File:X.png", HISTORY, live=(live(C, T3), live(B, T2, "missing", "b!X"), live(A, T1)),
               include_old=True),
     [(Action.RESTORE_OLD, B)]),
    ("4 newer version broken and not in the backup",
     Situation("File:X.png", HISTORY, live=(live(C, T3, "missing"), live(B, T2), live(A, T1))),
     [(Action.CANNOT, None)]),
    ("5 renamed: restore under the current title",
     Situation("File:X.png", HISTORY, live_title="File:Y.png", live=(live(B, T2, "missing"), live(A, T1))),
     [(Action.REPAIR_CURRENT, B)]),
    ("6 deleted on the wiki after the backup", Situation("File:X.png", HISTORY, deleted_on_wiki=True),
     [(Action.SKIP, None)]),
    ("7 deleted version's bytes lost", Situation("File:X.png", (backed(B, T2),), live=(live(B, T2),),
                                                 deleted_live=(live(A, T1, "missing"),)),
     [(Action.REPORT_ADMIN, None)]),
    ("7 ...also when the whole file is deleted", Situation("File:X.png", (backed(A, T1, "deleted"),),
                                                         deleted_on_wiki=True, deleted_live=(live(A, T1, "missing"),)),
     [(Action.REPORT_ADMIN, None)]),
    ("8 no backup of those bytes", Situation("File:X.png", (backed(A, T1),), live=(live(B, T1, "missing"),)),
     [(Action.CANNOT, None)]),
    ("8 backup failed for those bytes", Situation("File:X.png", (backed(B, T2, stored=False),),
                                                  live=(live(B, T2, "missing"),)),
     [(Action.CANNOT, None)]),
    ("8 backup sha1 differs from the wiki's record", Situation("File:X.png", (backed(A, T2),),
                                                               live=(live(B, T2, "corrupt"),)),
     [(Action.CANNOT, None)]),
    ("9 healthy", Situation("File:X.png", HISTORY, live=(live(B, T2), live(A, T1))), [(Action.NOTHING, None)]),
    ("10 bad title", Situation("File:<x>", input_error="bad title: '<' is not allowed"), [(Action.INPUT_ERROR, None)]),
    ("10 unknown title", Situation("File:Nowhere.png"), [(Action.INPUT_ERROR, None)]),
    ("gone, but the catalog has only deleted bytes", Situation("File:X.png", (backed(A, T1, "deleted"),),
                                                               page_exists=True),
     [(Action.SKIP, None)]),
    ("gone, and the catalog's public versions were never stored",
     Situation("File:X.png", (backed(A, T1, stored=False),), page_exists=True),
     [(Action.CANNOT, None)]),
]


@pytest.mark.parametrize("name, situation, expected", CASES, ids=[c[0] for c in CASES])
def test_each_case_gets_the_right_decision(name: str, situation: Situation, expected: list) -> None:
    decisions = decide(situation)
    assert [(d.action, d.version.sha1 if d.version else None) for d in decisions] == expected
    assert all(d.reason and d.asked == situation.title for d in decisions)


def test_decisions_about_deleted_content_are_private_and_name_no_deleted_uploader() -> None:
    deleted = Situation("File:X.png", HISTORY, page_exists=True, archived=(live(B, T2, "unchecked"),))
    lost_bytes = Situation("File:X.png", (backed(B, T2),), live=(live(B, T2),), deleted_live=(live(A, T1, "missing"),))
    for situation in (deleted, lost_bytes):
        decisions = [d for d in decide(situation) if d.action == Action.REPORT_ADMIN]
        assert decisions and all(d.private and d.version is None for d in decisions)
    assert not any(d.private for d in decide(Situation("File:X.png", HISTORY, page_exists=True)))


def test_a_private_version_with_the_same_bytes_never_lends_its_metadata_to_a_restore() -> None:
    deleted_twin = Backed(7, "File:Secret.png", T1, "Hidden person", 100, B, "f" * 64, "deleted", None, True, True)
    [decision] = decide(Situation("File:X.png", (deleted_twin,), live=(live(B, T2, "missing"),)))
    assert decision.action == Action.CANNOT and decision.version is None and "Hidden person" not in decision.reason
    public_twin = backed(B, T3, "old", i=8)
    [decision] = decide(Situation("File:X.png", (deleted_twin, public_twin), live=(live(B, T2, "missing"),)))
    assert decision.action == Action.REPAIR_CURRENT and decision.version == public_twin


def test_the_operators_word_is_recorded_on_the_decision() -> None:
    [assumed] = decide(Situation("File:X.png", HISTORY, assume_lost=True))
    [evidenced] = decide(Situation("File:X.png", HISTORY, page_exists=True))
    assert assumed.assumed_lost and "--assume-lost" in assumed.reason and not evidenced.assumed_lost


def test_a_renamed_file_is_restored_under_its_new_title_and_says_so() -> None:
    [decision] = decide(Situation("File:X.png", HISTORY, live_title="File:Y.png",
                                  live=(live(B, T2, "missing"), live(A, T1))))
    assert decision.title == "File:Y.png" and "renamed from File:X.png" in decision.reason


def test_restoring_an_old_version_names_the_version_to_make_current_again() -> None:
    [decision] = decide(Situation("File:X.png", HISTORY, live=(live(B, T2), live(A, T1, "missing", "a!X"))))
    assert decision.revert_to == T2 and "stays" in decision.reason


def test_recovery_order_puts_current_versions_first_then_the_priority() -> None:
    def d(title: str, action: Action, size: int) -> Decision:
        return Decision(title, action, "r", backed(A, T1, size=size))
    decisions = [d("File:Old.png", Action.RESTORE_OLD, 1), d("File:Big.png", Action.REPAIR_CURRENT, 900),
                 d("File:Small.svg", Action.REPAIR_CURRENT, 5), d("File:Gone.jpg", Action.REUPLOAD_FILE, 1)]
    assert [x.title for x in order(decisions)] == ["File:Small.svg", "File:Big.png", "File:Gone.jpg", "File:Old.png"]
    assert [x.title for x in order(decisions, "mediatype")][:2] == ["File:Big.png", "File:Small.svg"]
    used = order(decisions, "usage", usage={"File:Big.png": 40})
    assert [x.title for x in used][:2] == ["File:Big.png", "File:Small.svg"]


@pytest.mark.parametrize("line, title", [
    ("Seed history.png", "File:Seed history.png"),
    ("File:Seed_history.png", "File:Seed history.png"),
    ("  file:seed history.png  ", "File:Seed history.png"),
    ("K%C5%8Dto%20temple.jpg", "File:Kōto temple.jpg"),
    ("https://commons.wikimedia.org/wiki/File:K%C5%8Dto_temple.jpg", "File:Kōto temple.jpg"),
    ("https://commons.wikimedia.org/w/index.php?title=File:A_b.png&action=history", "File:A b.png"),
    ("https://upload.wikimedia.org/wikipedia/commons/a/ab/A_b.png", "File:A b.png"),
    ("https://upload.wikimedia.org/wikipedia/commons/thumb/a/ab/A_b.png/120px-A_b.png", "File:A b.png"),
    ("http://127.0.0.1:8080/images/archive/a/ab/20260101000000!A_b.png", "File:A b.png"),
])
def test_titles_are_read_from_what_operators_paste(line: str, title: str) -> None:
    assert parse_line(line).title == title


def test_archived_file_urls_name_the_version_and_bad_lines_are_errors_of_their_own() -> None:
    assert parse_line("https://x/w/images/archive/a/ab/20260102030405!A.png").archived_at == "2026-01-02T03:04:05Z"
    requested = parse(["# broken after the outage", "", "A.png", "File:A.png", "Bad<name>.png", "noextension",
                       "https://example.org/about", "B.png"])
    assert [(r.title, r.error is not None) for r in requested] == [
        ("File:A.png", False), (None, True), (None, True), (None, True), ("File:B.png", False)]
    assert "'<' is not allowed" in requested[1].error
