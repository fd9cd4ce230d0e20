"""Turning what an operator pastes into file titles: one per line, `File:` optional, underscores
or spaces, URL-encoded names, full file-page URLs and file URLs (current, archived and thumbnail),
blank lines and `#` comments ignored. A line that is none of these is an input error of its own;
the rest goes on."""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from mediarescue.mediawiki import canonical_title

# MediaWiki's $wgLegalTitleChars, less what a file name may not hold (its $wgIllegalFileChars).
_ILLEGAL = re.compile(r"[#<>\[\]|{}/\\:\x00-\x1f\x7f]")
MAX_TITLE_BYTES = 255  # MediaWiki's limit on a title without its namespace, in UTF-8 bytes
# A line longer than this cannot hold a valid title even URL-encoded in a long URL: it is refused
# before any parsing, and only its start is kept for messages (a 50 MB line must not be printed).
MAX_LINE = 8 * MAX_TITLE_BYTES + 2000
SHOWN = 200
_FILE_URL = re.compile(r"/(?:thumb/)?(?:archive/)?[0-9a-f]/[0-9a-f]{2}/(?P<archived>\d{14}!)?(?P<name>[^/]+)")


@dataclass(frozen=True)
class Requested:
    line: str                  # what was given, for messages
    title: str | None          # File:Name, canonical; None on an input error
    error: str | None = None
    archived_at: str | None = None  # a file URL of an old version names its upload time


def _from_url(text: str) -> tuple[str, str | None]:
    parts = urlsplit(text)
    path = unquote(parts.path)
    if "title" in parse_qs(parts.query):
        return parse_qs(parts.query)["title"][0], None
    if "/wiki/" in path:
        return path.split("/wiki/", 1)[1], None
    match = _FILE_URL.search(path)
    if match:
        archived = match.group("archived")
        return match.group("name"), archived[:-1] if archived else None
    raise ValueError("neither a file page URL nor a file URL")


def _shown(text: str) -> str:
    return text if len(text) <= SHOWN else f"{text[:SHOWN]}… ({len(text)} characters)"


def parse_line(line: str) -> Requested | None:
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    if len(text) > MAX_LINE:
        return Requested(_shown(text), None, f"bad title: a line of {len(text)} characters cannot name a file "
                                             f"(MediaWiki allows {MAX_TITLE_BYTES} bytes)")
    archived_at = None
    try:
        if re.match(r"^https?://", text):
            text, archived_at = _from_url(text)
        elif "%" in text:
            text = unquote(text)
    except ValueError as error:
        return Requested(_shown(line.strip()), None, f"not a title: {error}")
    title = canonical_title(text)
    name = title.split(":", 1)[1]
    bad = _ILLEGAL.search(name)
    if bad or not name or "." not in name.strip("."):
        why = f"{bad.group()!r} is not allowed in a file name" if bad else "a file name needs a name and an extension"
        return Requested(_shown(line.strip()), None, f"bad title: {why}")
    if len(name.encode()) > MAX_TITLE_BYTES:
        return Requested(_shown(line.strip()), None, f"bad title: the name has {len(name.encode())} bytes in "
                                                     f"UTF-8, more than MediaWiki's {MAX_TITLE_BYTES}")
    if archived_at:
        archived_at = f"{archived_at[:4]}-{archived_at[4:6]}-{archived_at[6:8]}T{archived_at[8:10]}:" \
                      f"{archived_at[10:12]}:{archived_at[12:14]}Z"
    return Requested(line.strip(), title, archived_at=archived_at)


def parse(lines: Iterable[str]) -> list[Requested]:
    """Each title once, in the order given."""
    seen, result = set(), []
    for line in lines:
        requested = parse_line(line)
        if requested and (requested.title is None or requested.title not in seen):
            seen.add(requested.title)
            result.append(requested)
    return result
