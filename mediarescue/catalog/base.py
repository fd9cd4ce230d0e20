"""What every part of the catalog shares: its errors, the sha256 guard, the clock."""
from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import Any


class CatalogBusy(Exception):
    """Another backup holds the catalog."""


class CatalogError(Exception):
    """The path is not a mediarescue catalog (missing, a folder, not SQLite, another program's
    database), or it holds a row no catalog of ours can hold: it is input, and refused."""


class CatalogDamaged(CatalogError):
    """The catalog's file is damaged (SQLite finds it malformed): it is rebuilt from the store."""

    def __init__(self, path: object, detail: str):
        detail = " ".join(detail.replace("*** in database main ***", "").split())  # quick_check's lines, as one
        super().__init__(f"the catalog {path} is damaged ({detail[:200]}): rebuild it from the backup store with "
                         f"`mediarescue catalog recover NEW_PATH`, then point `catalog` in the config at it")
        self.path = path


_SHA256 = re.compile(r"[0-9a-f]{64}")
CORE_TABLES = {"runs", "versions"}  # every catalog of ours has had them since the first schema


def checked_sha256(value: str | None, where: str) -> str | None:
    """`value` if it is a sha256 (64 lowercase hex digits) or None; CatalogError otherwise. A blob's
    name is made of it, so a crafted "sha256" such as ../../x must never reach a blob store."""
    if value is None or _SHA256.fullmatch(value):
        return value
    raise CatalogError(f"{where} holds {value[:80]!r} as a sha256, which is not 64 hex digits: the catalog "
                       "was altered or is not ours; nothing was touched")


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def in_chunks(values: Sequence[Any], size: int = 500) -> Iterator[tuple[list[Any], str]]:
    """`values` in slices of `size`, each with its `(?, ?, …)` placeholders: the one way a query
    here takes a long list (SQLite limits the variables of one statement)."""
    for start in range(0, len(values), size):
        chunk = list(values[start:start + size])
        yield chunk, f"({', '.join('?' * len(chunk))})"


def records(cursor: Any) -> list[dict[str, Any]]:
    """The rest of a query's rows as dicts by column name (what callers outside the catalog get),
    hashes as hex and upload times as ISO 8601: the catalog keeps them compact, the edges read them."""
    names = [column[0] for column in cursor.description]
    rows = [dict(zip(names, row)) for row in cursor]
    if {"sha1", "sha256", "timestamp"} & set(names):
        for row in rows:
            for name, value in row.items():
                if isinstance(value, bytes | memoryview):
                    row[name] = bytes(value).hex()
            if isinstance(row.get("timestamp"), int):
                row["timestamp"] = time_out(row["timestamp"])
            if "title_at_upload" in row and row["title_at_upload"] is None:  # kept only where it differs
                row["title_at_upload"] = row.get("title")
    return rows


# The compact forms the catalog keeps: sha1 and sha256 as 20 and 32 bytes, upload times as Unix
# seconds. Hex and ISO 8601 only at the edges (what callers pass and get, dumps, reports).

def hash_in(value: str | None) -> bytes | str | None:
    """A hex hash as the catalog keeps it; anything else as it is (a lookup that matches nothing)."""
    if value is None:
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return value


def hash_out(value: bytes | memoryview | str | None) -> str | None:
    """A kept hash as hex; a value that is no bytes (a crafted row) as it is, for checked_sha256 to refuse."""
    return bytes(value).hex() if isinstance(value, bytes | memoryview) else value


def time_in(iso: str) -> int:
    """2026-01-31T12:00:00Z as Unix seconds (the wiki's upload times are whole seconds, UTC; one
    without a zone is UTC). fromisoformat: the fastest parse there is, a backup makes 100 million."""
    try:
        moment = datetime.fromisoformat(iso)
    except (ValueError, TypeError):
        raise CatalogError(f"{str(iso)[:40]!r} is not an upload time (YYYY-MM-DDTHH:MM:SSZ)") from None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp())


def time_out(seconds: int | str) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds)) if isinstance(seconds, int) else seconds
