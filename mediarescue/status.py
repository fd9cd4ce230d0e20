"""The operator's view of a catalog: for each wiki its last runs and their results, lag, pending and
failed versions and last restore; for the store its size, how private content is kept and what the
last checks found; and whether anything needs attention (policies.health). What `mediarescue status`
prints and what the metrics carry (mediarescue.metrics)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from mediarescue.catalog import Catalog
from mediarescue.catalog.status import RUN_KINDS
from policies import health


@dataclass
class Status:
    wikis: list[dict[str, Any]]
    store: dict[str, int]
    checks: list[dict[str, Any]]
    key_configured: bool
    store_attention: list[str] = field(default_factory=list)
    generated: str = ""

    @property
    def ok(self) -> bool:
        return not self.store_attention and not any(w["attention"] for w in self.wikis)

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "generated": self.generated, "wikis": self.wikis, "store": self.store,
                "encryption_key_configured": self.key_configured, "checks": self.checks,
                "store_attention": self.store_attention}


def wiki_status(catalog: Catalog, wiki: str) -> dict[str, Any]:
    """What the catalog knows about one wiki's backups (without a judgement)."""
    return {"wiki": wiki,
            "last_run": {kind: catalog.last_run(wiki, kind) for kind in RUN_KINDS},
            "last_success": {kind: catalog.last_run(wiki, kind, done=True) for kind in RUN_KINDS},
            "lag": catalog.last_lag(wiki), "versions": catalog.backup_counts(wiki),
            "last_restore": catalog.last_restore(wiki)}


def gather(catalog: Catalog, wikis: list[str], key_configured: bool, max_age: timedelta,
           now: datetime | None = None, store: dict[str, int] | None = None) -> Status:
    """The status of `wikis` (those configured, and any other the catalog holds) and of the store.
    `store`: totals already known (a follower keeps them), to spare a pass over the blobs table."""
    now = now or datetime.now(timezone.utc)
    names = list(dict.fromkeys([*wikis, *catalog.wikis()]))
    found = []
    for name in names:
        wiki = wiki_status(catalog, name)
        wiki["attention"] = health.wiki_attention(wiki, now, max_age)
        found.append(wiki)
    store = store if store is not None else catalog.store_totals()
    checks = catalog.check_results()
    return Status(found, store, checks, key_configured, health.store_attention(checks, store, key_configured),
                  now.strftime("%Y-%m-%dT%H:%M:%SZ"))
