"""The rollback journal on a real catalog of either engine (no wiki): an entry per title resumes after a kill, and a
title a killed run left half done that is now only skipped closes its entry without a write."""
from __future__ import annotations

from pathlib import Path

from mediarescue.catalog import Catalog
from mediarescue.catalog.journal import RollbackJournal
from policies.rollback import MOVE, Decision, Rollback
from restorer.rollback import RollbackBot
from tests.conftest import Catalogs


def test_an_unfinished_entry_resumes_and_a_now_skipped_title_closes_it(catalogs: Catalogs, tmp_path: Path) -> None:
    catalog = Catalog(catalogs.new())
    journal = RollbackJournal(catalog, "w")
    killed = journal.start_run("INC-1", None)
    move = Decision("File:X.png", Rollback.MOVE_BACK, "moved", (MOVE,), "File:Y.png", snapshot=1)
    entry = journal.open_entry(killed, move)
    journal.step(entry, "move-started")
    assert not entry["resumed"] and set(journal.unfinished_titles()) == {"File:X.png"}

    again = journal.start_run(None, None)
    resumed = journal.open_entry(again, move)
    assert resumed["resumed"] and resumed["id"] == entry["id"] and resumed["step"] == "move-started"

    skipped = Decision("File:X.png", Rollback.SKIP, "changed again by Bob", live_title="File:Y.png", snapshot=1)
    worker = RollbackBot(None, None, journal, lambda sha256: tmp_path, "tests", "tail", False)  # type: ignore[arg-type]
    outcome = worker.carry_out(skipped, again)
    assert (outcome.result, outcome.detail) == ("not-attempted", "changed again by Bob")
    assert journal.unfinished_titles() == {}
    kind = catalog.conn.execute("SELECT kind FROM restore_runs WHERE id = ?", (again,)).fetchone()[0]
    assert kind == "rollback"
    journal.close()
    catalog.close()
