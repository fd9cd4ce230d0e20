"""Nothing a title says is executed (issue 16): hostile lines of a titles file (lists of broken
files are often copied from pages anyone can edit) and a hostile --reason reach the report page
the bot publishes, the CSV, and the terminal as inert text; titles over MediaWiki's 255 bytes are
input errors at once. The report page is judged by the wiki itself: after the bot saved it, the
API lists the categories and templates it is in and uses."""
from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import pytest
from rich.console import Console

from mediarescue.catalog import Catalog
from mediarescue.mediawiki import MediaWiki
from policies.recovery import Backed, Situation, decide
from restorer import report
from restorer.escaping import csv_cell, linkable, wikilink, wikitext
from restorer.plan import Finding, Verification
from restorer.titles import parse, parse_line
from testbed.bed import TestBed
from tests.conftest import mediarescue

HOSTILE = [
    "x]] [[Category:Pwned]] {{Delete}} [[y",
    "a</nowiki>[[Category:Pwned]]<nowiki>",
    "{{subst:CURRENTYEAR}} ~~~~ __NOTOC__ <span>[[File:X.png|thumb]]</span> &lt;",
    "=HYPERLINK(\"http://evil.example/\",\"click\")",
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "-2+3",
    "[/x]",
    "[bold red]shouting",
]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _decisions(lines: list[str]):
    return [d for r in parse(lines) for d in decide(Situation(r.line, input_error=r.error))]


# --- wikitext ---

@pytest.mark.parametrize("text", HOSTILE + ["line\nbreak", "| cell || cell", "&amp; &#124;"])
def test_wikitext_is_one_nowiki_that_nothing_inside_can_close(text: str) -> None:
    escaped = wikitext(text)
    inner = escaped.removeprefix("<nowiki>").removesuffix("</nowiki>")
    assert escaped == f"<nowiki>{inner}</nowiki>" and "<" not in inner and ">" not in inner and "\n" not in inner
    assert inner.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") == " ".join(text.splitlines())


def test_only_valid_titles_become_links() -> None:
    assert wikilink("File:Valid name.png") == "[[:File:Valid name.png]]"
    for title in ("x]] [[Category:Pwned]] {{Delete}} [[y", "File:A ~~~~ b.png", "File:A &amp; b.png",
                  "File:" + "a" * 300 + ".png", "Category:Pwned", "File:Under_score.png"):
        assert not linkable(title) and wikilink(title).startswith("<nowiki>")


def test_the_plans_wikitext_holds_no_markup_from_its_input() -> None:
    text = report.as_wikitext(_decisions(HOSTILE))
    outside = "".join(part.split("</nowiki>")[-1] for part in text.split("<nowiki>"))  # what the parser reads
    for markup in ("[[", "{{", "~~~", "__", "<span"):
        assert markup not in outside


# --- CSV ---

def test_csv_cells_never_start_a_formula() -> None:
    assert [csv_cell(v) for v in ("=1+1", "+1", "-1", "@x", "\tx", "\rx", "x=1", None, 3)] == \
        ["'=1+1", "'+1", "'-1", "'@x", "'\tx", "'\rx", "x=1", "", "3"]
    rows = list(csv.reader(io.StringIO(report.as_csv(_decisions(HOSTILE)))))
    assert len(rows) == 1 + len(HOSTILE)
    assert not [cell for row in rows for cell in row if cell.startswith(FORMULA_START)]
    assert any(cell == "'=HYPERLINK(\"http://evil.example/\",\"click\")" for row in rows for cell in row)


def test_verify_csv_cells_never_start_a_formula(capsys: pytest.CaptureFixture) -> None:
    findings = [Finding("=cmd|' /C calc'!A0", "current-missing", "+1", "@sha1", "-archive")]
    report.verification(Verification(1, 1, findings), "csv", Console())
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[1] == ["'=cmd|' /C calc'!A0", "current-missing", "'+1", "'@sha1", "'-archive"]


# --- the terminal ---

def test_rich_tables_show_titles_as_written() -> None:
    console = Console(record=True, width=300)
    report.show(console, _decisions(HOSTILE))  # a MarkupError before: "[/x]" closes no tag
    report.verification(Verification(2, 2, [Finding("[/x]", "current-missing"),
                                             Finding("[bold red]shouting", "file-gone")]), "table", console)
    shown = console.export_text()
    assert shown.count("[/x]") == 2 and shown.count("[bold red]shouting") == 2


# --- titles ---

def test_titles_over_255_bytes_are_input_errors_at_once() -> None:
    assert parse_line("File:" + "a" * 251 + ".png").title is not None  # 255 bytes
    for name in ("a" * 252 + ".png", "é" * 126 + ".png", "日" * 84 + ".png"):  # 256, 256, 256 bytes
        found = parse_line(name)
        assert found.title is None and "256 bytes" in found.error
    began = time.monotonic()
    huge = parse(["File:" + "x" * 50_000_000 + ".png", "y]]" * 10_000_000])
    assert time.monotonic() - began < 2
    assert all(r.title is None and len(r.line) < 300 for r in huge)


def test_help_says_the_reason_is_plain_text() -> None:
    done = mediarescue(None, "restore", "--help")
    assert done.returncode == 0 and "plain text" in " ".join(done.stdout.split())


# --- on the real wiki ---

def _bed_config(test_bed: TestBed, tmp_path: Path) -> Path:
    config = test_bed.write_config(tmp_path / "m.toml", tmp_path / "catalog.db", tmp_path / "blobs")
    Catalog(tmp_path / "catalog.db").close()
    return config


@pytest.mark.integration
def test_plan_shows_hostile_lines_as_text_and_csv_quotes_formulas(fs_bed: TestBed, tmp_path: Path) -> None:
    config = _bed_config(fs_bed, tmp_path)
    (tmp_path / "titles.txt").write_text("\n".join(HOSTILE + ["File:" + "z" * 2_000_000 + ".png"]) + "\n")
    began = time.monotonic()
    table = mediarescue(config, "plan", str(tmp_path / "titles.txt"))
    assert time.monotonic() - began < 30  # a 1 MB line took 32 s before
    assert table.returncode == 1 and "Traceback" not in table.stderr, table.stderr
    assert "[/x]" in table.stdout and "[bold red]shouting" in table.stdout and "zzzz" * 100 not in table.stdout
    done = mediarescue(config, "plan", "--csv", str(tmp_path / "titles.txt"))
    rows = list(csv.reader(io.StringIO(done.stdout)))
    assert done.returncode == 1 and len(rows) == 2 + len(HOSTILE)
    assert not [cell for row in rows for cell in row if cell.startswith(FORMULA_START)]


@pytest.mark.integration
def test_the_published_report_page_is_in_no_category_and_uses_no_template(fs_bed: TestBed, tmp_path: Path) -> None:
    config = _bed_config(fs_bed, tmp_path)
    (tmp_path / "titles.txt").write_text("\n".join(HOSTILE + ["File:A valid title nobody uploaded.png"]) + "\n")
    page = f"User:{fs_bed.bot_user.split('@')[0]}/Hardening report {time.time_ns()}"
    reason = "incident ~~~~ {{subst:CURRENTYEAR}} [[Category:Pwned by reason]] {{Delete}} </nowiki>~~~"
    done = mediarescue(config, "restore", "--yes", "--report-page", page, "--reason", reason,
                       str(tmp_path / "titles.txt"), timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr  # input errors cannot be restored
    api = MediaWiki(fs_bed.api_url)
    found = api.get(action="query", titles=page, prop="categories|templates|links|revisions", rvprop="content",
                    rvslots="main", cllimit="max", tllimit="max", pllimit="max")["query"]["pages"][0]
    assert "missing" not in found, "the bot did not publish the report"
    assert found.get("categories", []) == [] and found.get("templates", []) == []
    assert [link["title"] for link in found.get("links", [])] == ["File:A valid title nobody uploaded.png"]
    text = found["revisions"][0]["slots"]["main"]["content"]
    assert "~~~~" in text and "{{subst:CURRENTYEAR}}" in text  # not signed, not substituted: saved as text
    assert "[[User:" not in text and str(time.gmtime().tm_year) not in text.split("Reason:")[1].split(".")[0]
    reports = tmp_path / "reports"
    assert reports.stat().st_mode & 0o777 == 0o700
    assert [p.stat().st_mode & 0o777 for p in reports.iterdir()] == [0o600, 0o600]


@pytest.mark.parametrize("reason", HOSTILE + ["/* section */ [[User:X|me]]"])
def test_a_hostile_reason_is_inert_in_edit_summaries(reason: str) -> None:
    """MediaWiki formats edit summaries and log comments: [[...]] becomes a link, /* ... */ a section
    link. The reason keeps every character it had, with a word joiner inside each of those pairs."""
    from restorer.escaping import summary
    from restorer.restore import summary_text

    inert = summary(reason)
    for pair in ("[[", "]]", "/*", "*/"):
        assert pair not in inert
    assert inert.replace("\u2060", "") == reason
    backed = Backed(1, "File:X.png", "2026-01-01T00:00:00Z", "Alice", 10, "a" * 40, "f" * 64, "current")
    d = decide(Situation("File:X.png", page_exists=True, backed=(backed,)))[0]
    assert "[[" not in summary_text(d, reason, 1) and inert in summary_text(d, reason, 1)
