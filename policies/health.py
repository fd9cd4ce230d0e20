"""When a backup needs an operator's attention: pure judgements of what `status` gathered (the
same reasons make `status` exit 1 and the `mediarescue_attention` metric 1).

A wiki needs attention when it was never backed up, when no run finished its work within the
allowed age, when its newest run failed or had errors, when versions could not be backed up, or
when its last restore failed. The store needs it when the last check of a mode found blobs
missing or corrupt (or could not read them), or when private content lies in plaintext although a
key is configured (`check --repair --yes` seals it).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

_ISO = "%Y-%m-%dT%H:%M:%SZ"


def moment(timestamp: str) -> datetime:
    """A catalog timestamp (ISO 8601 UTC, by the second) as an aware datetime."""
    return datetime.strptime(timestamp, _ISO).replace(tzinfo=timezone.utc)


def _age(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def wiki_attention(wiki: dict[str, Any], now: datetime, max_age: timedelta) -> list[str]:
    """Why this wiki's backups need attention (nothing: they are fine). `wiki` is a status.wiki_status."""
    reasons = []
    done = [r for r in (wiki["last_success"].get(k) for k in ("full", "incremental")) if r]
    if not done:
        reasons.append("no backup run of this wiki finished its work yet")
    else:
        newest = max(moment(r["ended"]) for r in done)
        if now - newest > max_age:
            reasons.append(f"no backup run finished for {_age((now - newest).total_seconds())} "
                           f"(allowed: {_age(max_age.total_seconds())})")
    runs = [r for r in (wiki["last_run"].get(k) for k in ("full", "incremental")) if r]
    if runs:
        newest_run = max(runs, key=lambda r: r["id"])
        if newest_run["status"] == "failed":
            reasons.append(f"the last run ({newest_run['id']}, {newest_run['kind']}) failed")
        elif newest_run["errors"]:
            reasons.append(f"the last run ({newest_run['id']}, {newest_run['kind']}) had "
                           f"{newest_run['errors']} errors")
    if wiki["versions"]["error"]:
        reasons.append(f"{wiki['versions']['error']} versions could not be backed up (a full run retries them)")
    restore = wiki.get("last_restore")
    if restore and (restore["status"] == "failed" or restore.get("failed")):
        reasons.append(f"the last restore ({restore['id']}) failed for {restore.get('failed') or 'some'} actions")
    return reasons


def store_attention(checks: list[dict[str, Any]], store: dict[str, int], key_configured: bool) -> list[str]:
    """Why the blob store needs attention: what the last check of each mode found, unsealed private content."""
    reasons = []
    for c in checks:
        found = {k: c[f"last_{k}"] or 0 for k in ("missing", "corrupt", "errors")}
        if any(found.values()):
            what = ", ".join(f"{n} {k}" for k, n in found.items() if n)
            reasons.append(f"the last check ({c['mode']}, {c['last_run']}) found {what}: see `mediarescue check`")
    if key_configured and store["private_plaintext"]:
        reasons.append(f"{store['private_plaintext']} blobs of private content are stored unencrypted: "
                       "`mediarescue check --repair --yes` seals them")
    return reasons
