"""Where a full run's listing is cut into title ranges (`backup --list-split`): pure decisions.

MediaWiki orders file names (img_name, fa_name) byte by byte, as stored: the title without its
namespace, spaces as underscores, UTF-8. `allimages` and `filearchive` take a range as `from`/`to`,
and both ends are inclusive (ApiQueryBase::addWhereRange: >= and <=), so a range [first, next) is
asked as from=first, to=next and the titles equal to `next` are dropped from its replies: they are
the first of the following range. Ranges cut at strictly increasing bounds thus neither overlap
nor leave a gap, whatever the characters of the titles.
"""
from __future__ import annotations

from collections.abc import Sequence

# For a catalog that knows no titles of the wiki yet: cuts at first characters. Titles start with
# a capital on most wikis (Commons included); digits sort before capitals, punctuation before both
# and everything beyond ASCII after them (into the last range).
FIRST_CHARACTERS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def name_key(title: str) -> bytes:
    """A title (`File:A b.jpg`, or without its namespace) as MediaWiki orders it: `A_b.jpg` in UTF-8."""
    name = title.split(":", 1)[1] if ":" in title else title
    return name.replace(" ", "_").encode("utf-8")


def name_part(title: str) -> str:
    """What allimages' from/to and filearchive's take: the title without its namespace."""
    return title.split(":", 1)[1]


def quantile_positions(count: int, parts: int) -> list[int]:
    """The 0-based positions, among `count` titles in order, at which `parts` ranges of (nearly)
    equal numbers of titles begin, the first range's excepted; fewer when there are fewer titles."""
    return sorted({i * count // parts for i in range(1, parts)} - {0})


def first_character_bounds(parts: int, namespace: str = "File") -> list[str]:
    """`parts` - 1 cuts spread over FIRST_CHARACTERS (at most one a character)."""
    n, parts = len(FIRST_CHARACTERS), min(parts, len(FIRST_CHARACTERS))
    return [f"{namespace}:{FIRST_CHARACTERS[i * n // parts]}" for i in range(1, parts)]


def ordered_bounds(titles: Sequence[str]) -> list[str]:
    """Cuts as MediaWiki orders them, each once: strictly increasing, so that no range is empty by
    construction and none overlaps the next."""
    seen: dict[bytes, str] = {}
    for title in titles:
        seen.setdefault(name_key(title), title)
    return [seen[key] for key in sorted(seen) if key]


def ranges(bounds: Sequence[str]) -> list[tuple[str | None, str | None]]:
    """The ranges the cuts make: (first title or None for the start, next range's first or None for the end)."""
    edges: list[str | None] = [None, *bounds, None]
    return list(zip(edges[:-1], edges[1:]))


def next_ranges(title: str, next_first: str | None) -> bool:
    """Whether a title a range's reply holds is the following range's first (`to` is inclusive)."""
    return next_first is not None and name_key(title) == name_key(next_first)
