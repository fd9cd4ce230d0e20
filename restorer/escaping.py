"""Nothing a title says is executed: every string an operator or a wiki supplied (titles as pasted,
uploaders, reasons, error texts) is made inert before it goes into the three languages the restorer
writes besides plain text.

- Wikitext (the report page the bot publishes, `plan --wikitext`): inside <nowiki>, with & < >
  as entities so that no </nowiki> in the text can end it. MediaWiki expands nothing inside
  nowiki: no links, categories, templates, substitutions, signatures (~~~~) or magic words, and a
  table's | is just a character there. Links are made only for valid file titles.
- CSV (`plan --csv`, `verify --csv`): a cell that a spreadsheet would take for a formula (= + - @,
  a tab or a carriage return first) gets a leading ', the OWASP rule.
- The terminal: rich reads [..] as markup in plain strings; cells go to it as rich.text.Text.
"""
from __future__ import annotations

import re
from typing import Any

from rich.text import Text

from restorer.titles import parse_line

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ENTITY = re.compile(r"&[#0-9A-Za-z]+;")


def wikitext(value: Any) -> str:
    """`value` as inert wikitext, shown as it is; "" for None or an empty string."""
    text = "" if value is None else " ".join(str(value).splitlines())
    if not text:
        return ""
    return "<nowiki>" + text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") + "</nowiki>"


def linkable(title: str) -> bool:
    """A file title the parser would make nothing but a link of: what titles.parse_line accepts
    as written (canonical, no character MediaWiki forbids, at most 255 bytes), no ~~~ (which
    MediaWiki refuses in titles and the save would turn into a signature) and no character
    reference (&amp; in a link target is decoded: the link would go elsewhere than it says)."""
    parsed = parse_line(title)
    return parsed is not None and parsed.title == title and "~~~" not in title and not _ENTITY.search(title)


def wikilink(title: str) -> str:
    """A link to the file page of a valid title; anything else as inert text."""
    return f"[[:{title}]]" if linkable(title) else wikitext(title)


def summary(value: Any) -> str:
    """`value` as inert text in an edit summary or log comment, one line. MediaWiki formats
    summaries itself: [[links]] become links and /* section */ a section link (nothing else is
    expanded, and entities are shown as typed). A word joiner (U+2060) between the brackets and in
    /* keeps each shown as written, a link to nowhere."""
    text = "" if value is None else " ".join(str(value).splitlines())
    for pair in ("[[", "]]", "/*", "*/"):
        text = text.replace(pair, pair[0] + "\u2060" + pair[1])
    return text


def csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def plain(value: Any) -> Text:
    """A rich cell that is shown as written: "[/x]" or "[bold red]" are not markup."""
    return Text("" if value is None else str(value))
