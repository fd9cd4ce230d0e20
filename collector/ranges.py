"""A full run's listing: every file with all its versions (generator=allimages, sorted by name, with
imageinfo and the description page's text), then the deleted versions (list=filearchive), recorded
batch by batch; the whole wiki, or one title range of it.

On a PostgreSQL catalog the listing can be split by title ranges (`backup --list-split N`), when
one lister cannot keep up: the lister cuts the run into ranges (policies.title_ranges: quantiles of
the titles the catalog knows, else first characters, or cuts given with --split-at), and every
process of the run, the lister and each `backup --join`, claims a range at a time (a lease renewed
batch by batch, catalog.work), lists it, marks it listed and fetches meanwhile. A killed process's
range is claimed again once its lease runs out and listed from its start: recording what was
recorded already changes nothing (record_versions recognises versions by identity)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from collector.incremental import FAPROP, Recorder
from mediarescue.catalog import Catalog
from mediarescue.config import WikiConfig
from mediarescue.mediawiki import MediaWiki, canonical_title
from policies import title_ranges

IIPROP = "timestamp|user|comment|url|size|sha1|mime|mediatype|archivename"
MAX_RANGES = 10_000  # a range a claim query; more would be cuts finer than a lister's batch at Commons' size


class RangeRecorder(Recorder, Protocol):
    """What a range lister needs of its run's recorder (collector.backup implements it): the
    recording, and the owner and lease of its claims."""
    owner: str
    options: Any  # collector.backup.Options: its `lease`


class BadSplit(ValueError):
    """A cut given with --split-at is not a file title the wiki takes."""


def list_titles(api: MediaWiki, recorder: Recorder, batch: int, see_deleted: bool, first: str | None = None,
                next_first: str | None = None, keep: Callable[[], bool] = lambda: True) -> bool:
    """Every file from `first` (a title; None: the first) up to `next_first` (excluded; None: to the
    last) with all its versions, then its deleted versions. `keep` is asked before each batch is
    recorded: False ends the listing there (returns False; True once it is listed to its end)."""
    live = {"gaifrom": title_ranges.name_part(first) if first else None,
            "gaito": title_ranges.name_part(next_first) if next_first else None}
    for pages in api.pages(generator="allimages", gailimit=batch, gaisort="name", prop="imageinfo|revisions",
                           iilimit="max", iiprop=IIPROP, rvprop="ids|timestamp|content", rvslots="main",
                           **{k: v for k, v in live.items() if v}):
        versions, texts, hidden = [], [], []
        for page in pages:
            if title_ranges.next_ranges(page["title"], next_first):
                continue
            page_versions, page_texts, page_hidden = recorder.live_versions(page)
            versions += page_versions
            texts += page_texts
            hidden += page_hidden
        if not keep():
            return False
        recorder.record(versions, texts, hidden)
    if see_deleted:
        archived = {"fafrom": live["gaifrom"], "fato": live["gaito"]}
        for reply in api.query(list="filearchive", falimit=batch, faprop=FAPROP,
                               **{k: v for k, v in archived.items() if v}):
            rows = [r for r in reply.get("filearchive", []) if not title_ranges.next_ranges(r["title"], next_first)]
            versions = [v for v in map(recorder.deleted_version, rows) if v]
            if not keep():
                return False
            recorder.record(versions, hidden_deleted=[(r["title"], r["timestamp"]) for r in rows if "sha1" not in r])
    return True


def bounds(api: MediaWiki, catalog: Catalog, wiki: str, parts: int, split_at: Sequence[str] = ()) -> list[str]:
    """Where to cut the listing of `wiki` into `parts` ranges: the titles given (`split_at`), else
    quantiles of the titles the catalog knows of the wiki, else first characters; as the wiki
    spells them (asked once: it normalizes them as it does its own from/to) and in its order."""
    if split_at:
        titles = [canonical_title(t) for t in split_at]
    elif (count := catalog.title_count(wiki)) >= parts:
        titles = catalog.titles_at(wiki, title_ranges.quantile_positions(count, parts))
    else:
        titles = title_ranges.first_character_bounds(parts)
    spelled = []
    for page in api.pages_of(titles, 50):
        if "invalid" in page or page.get("ns") != 6:
            raise BadSplit(f"--split-at {page['asked']!r}: not a file title the wiki takes "
                           f"({page.get('invalidreason', 'not in the File namespace')})")
        spelled.append(page["title"])
    return title_ranges.ordered_bounds(spelled)


class RangeLister:
    """One process's part of a split listing: claims a range of the run at a time and lists it.
    `connect` gives the wiki's API, the batch size and whether deleted versions may be listed; a
    joined process logs in only once it has a range to list."""

    def __init__(self, catalog: Catalog, recorder: RangeRecorder, connect: Callable[[], tuple[MediaWiki, int, bool]]):
        self.catalog, self.recorder, self._connect = catalog, recorder, connect
        self._api: tuple[MediaWiki, int, bool] | None = None
        self.listed: list[int] = []  # the ranges this process listed to their end

    def list_one(self) -> bool:
        """List a free range of the run to its end, if one is free (True), fetching meanwhile."""
        run, owner, lease = self.recorder.run, self.recorder.owner, self.recorder.options.lease
        claimed = self.catalog.claim_range(run, owner, lease)
        if claimed is None:
            return False
        seq, first, next_first = claimed
        if self._api is None:
            self._api = self._connect()
        api, batch, see_deleted = self._api
        if list_titles(api, self.recorder, batch, see_deleted, first, next_first,
                       keep=lambda: self.catalog.renew_range(run, seq, owner, lease)):
            self.catalog.range_listed(run, seq)
            self.listed.append(seq)
        return True


def joined_lister(catalog: Catalog, recorder: RangeRecorder, connect: Callable[[], tuple[MediaWiki, int, bool]]
                  ) -> Callable[[], bool]:
    """What a joined process lists: ranges of the run while its lister is alive (a dead lister's
    run is over: the next run lists everything again)."""
    lister = RangeLister(catalog, recorder, connect)

    def list_some() -> bool:
        return not catalog.listing_over(recorder.run) and lister.list_one()
    return list_some


def login(wiki: WikiConfig, contact: str) -> tuple[MediaWiki, int, bool]:
    """The wiki's API, logged in as the config's account: (api, titles a request, may list deleted)."""
    api = MediaWiki(wiki.api_url, contact, maxlag=wiki.maxlag)
    api.login(wiki.user, wiki.password)
    rights = api.rights()
    return api, 500 if "apihighlimits" in rights else 50, "deletedhistory" in rights
