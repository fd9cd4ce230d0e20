"""The catalog kept in the backup store, so that the backup survives the loss of its catalog:
after every backup run (done, failed or interrupted) the rows changed since the last copy are
written into the store as one object (a delta), or the whole catalog (a full copy) the first time
and whenever the deltas grow large or old (policies/metadata.py decides); `forget` writes a full
copy and drops the objects only forgotten snapshots needed; `catalog recover` rebuilds a catalog
from the store alone, `catalog export`/`import` move the same logical form through a file.

Each object is whole or absent (blobstore.metadata) and the catalog forgets its pending changes
(catalog.dump) only after the object is in the store and recorded, so a writer killed at any point
leaves the previous objects intact and the next run writes what is missing again.
"""
from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from mediarescue.blobstore.base import BlobMissing, BlobStore
from mediarescue.blobstore.crypto import CorruptBlob, KeyRequired, WrongKey
from mediarescue.blobstore.metadata import CATALOG_ID, CorruptMetadata, MetadataObject
from mediarescue.catalog import Catalog, CatalogError
from mediarescue.catalog.dump import DumpError, clear_changes, dump, pending_changes, read_lines
from mediarescue.catalog.engine import Target
from mediarescue.catalog.metadata import rebuild
from mediarescue.config import Config
from mediarescue.files import create_private
from policies import metadata as policy

CRASH_POINT = "MEDIARESCUE_TEST_CRASH_AT"  # tests only: a kill -9 of the writer at a named point


class RecoveryError(CatalogError):
    """The store cannot give back a catalog: no metadata, or none that is whole."""


@dataclass(frozen=True)
class Settings:
    full_share: float = 0.25
    full_days: float = 30.0

    @classmethod
    def of(cls, config: Config) -> Settings:
        """The config's [metadata] table."""
        return cls(config.metadata_full_share, config.metadata_full_days)


def _crash_at(point: str) -> None:
    """Where the tests kill the writer (as kill -9 would: no cleanup runs)."""
    if os.environ.get(CRASH_POINT) == point:
        os.kill(os.getpid(), signal.SIGKILL)


def _stored(obj: MetadataObject) -> policy.Stored:
    return policy.Stored(obj.seq, obj.kind, obj.run, datetime.strptime(obj.stamp, "%Y%m%dT%H%M%SZ").replace(
        tzinfo=timezone.utc), obj.size or 0)


def _whole(catalog: Catalog, listed: list[MetadataObject]) -> bool:
    """Whether every object the catalog recorded since its last full copy is still in the store."""
    recorded = catalog.metadata_recorded()
    fulls = [i for i, r in enumerate(recorded) if r["kind"] == "full"]
    names = {o.name for o in listed}
    return bool(fulls) and all(r["name"] in names for r in recorded[fulls[-1]:])


def save(catalog: Catalog, store: BlobStore, settings: Settings = Settings(), full: bool = False) -> MetadataObject:
    """Write what changed since the last object (or everything) into the store as one object,
    then record it and clear the changes it covers. Objects a killed writer installed but did
    not record are adopted first (recovery would use them: the next must come after them)."""
    identity = str(catalog.catalog_id())
    listed = store.metadata_objects(identity)
    recorded = {r["name"] for r in catalog.metadata_recorded()}
    catalog.record_metadata([o for o in listed if o.name not in recorded])
    kind = "full" if full else policy.next_kind(
        [_stored(o) for o in listed], _whole(catalog, listed), pending_changes(catalog.conn),
        catalog.catalog_size(), datetime.now(timezone.utc), settings.full_share, settings.full_days)
    seq = max([o.seq for o in listed] + [r["seq"] for r in catalog.metadata_recorded()] + [0]) + 1
    info, chunks = dump(catalog.engine, kind, {"catalog": identity, "seq": seq})

    def watched() -> Iterator[bytes]:
        for number, chunk in enumerate(chunks):
            yield chunk
            if number == 0:
                _crash_at("metadata-writing")  # the spool holds part of the object
        _crash_at("metadata-written")  # the spool holds all of it, not yet sealed to its end nor installed

    try:
        obj = store.put_metadata(identity, seq, kind, catalog.newest_run(), watched())
    finally:
        chunks.close()  # ends the dump's thread and read transaction, however the write ended
    _crash_at("metadata-installed")
    catalog.record_metadata([obj])
    _crash_at("metadata-recorded")
    clear_changes(catalog.conn, info.changes_seen)
    return obj


def drop_unneeded(catalog: Catalog, store: BlobStore) -> list[MetadataObject]:
    """After `forget`: remove the objects no kept snapshot needs (policies.metadata.needed),
    newest chain always kept; the record goes first, so a crash leaves an object, never a record
    of a missing one."""
    identity = str(catalog.catalog_id())
    listed = store.metadata_objects(identity)
    kept_runs = [r[0] for r in catalog.live_runs(None)]
    keep = policy.needed([_stored(o) for o in listed], kept_runs)
    gone = [o for o in listed if o.seq not in keep]
    catalog.forget_metadata(o.name for o in gone)
    for obj in gone:
        store.remove_metadata(obj)
    return gone


# --- reading back ---

def store_catalogs(store: BlobStore) -> dict[str, list[MetadataObject]]:
    """The store's metadata objects by catalog id."""
    found: dict[str, list[MetadataObject]] = {}
    for obj in store.metadata_objects():
        found.setdefault(obj.catalog, []).append(obj)
    return found


def _choose(store: BlobStore, catalog_id: str | None) -> tuple[str, list[MetadataObject]]:
    catalogs = store_catalogs(store)
    if catalog_id is not None:
        if not CATALOG_ID.match(catalog_id) or catalog_id not in catalogs:
            raise RecoveryError(f"the store holds no metadata of catalog {catalog_id[:40]!r} "
                                f"(it holds: {', '.join(sorted(catalogs)) or 'none'})")
        return catalog_id, catalogs[catalog_id]
    if not catalogs:
        raise RecoveryError("the blob store holds no catalog metadata: nothing to recover from")
    if len(catalogs) > 1:
        raise RecoveryError(f"the blob store holds the metadata of {len(catalogs)} catalogs: choose one with "
                            f"--catalog-id ({', '.join(sorted(catalogs))})")
    return next(iter(catalogs.items()))


def recovery_chain(objects: list[MetadataObject], as_of: int | str | None) -> list[MetadataObject]:
    """The objects that give the catalog as of `as_of` (a run id, an ISO time, or None: now)."""
    stored = {o.seq: o for o in objects}
    views = [_stored(o) for o in objects]
    upto = None
    if as_of is not None:
        moment = datetime.strptime(as_of, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc) \
            if isinstance(as_of, str) else None
        upto = policy.as_of(views, run=as_of if isinstance(as_of, int) else None, moment=moment)
        if upto is None:
            raise RecoveryError(f"the store holds no metadata written by {'run ' if moment is None else ''}{as_of}")
    found = policy.chain(views, upto)
    if not found:
        raise RecoveryError("the store holds no full copy of the catalog to start from")
    return [stored[s.seq] for s in found]


def recover(store: BlobStore, path: Target, as_of: int | str | None = None, catalog_id: str | None = None,
            progress: Callable[[MetadataObject], None] = lambda obj: None) -> dict[str, Any]:
    """A new catalog at `path` from the store alone: the newest full copy and the deltas after it
    (as of an earlier run or time with `as_of`). Recovered as of now, it goes on writing the same
    chain; as of earlier, it starts a chain of its own (the store's later objects are another past)."""
    identity, objects = _choose(store, catalog_id)
    used = recovery_chain(objects, as_of)

    def streams() -> Iterator[IO[bytes]]:
        for obj in used:
            progress(obj)
            yield store.open_metadata(obj)

    try:
        infos = rebuild(path, streams(), identity if as_of is None else None, objects if as_of is None else [])
    except (CorruptMetadata, CorruptBlob, DumpError, BlobMissing) as error:
        raise RecoveryError(f"{error}; nothing was written to {path} (try --as-of an earlier run)") from None
    return {"catalog": identity, "path": str(path), "objects": [o.name for o in used],
            "run": infos[-1].run, "rows": sum(i.rows for i in infos)}


def export(catalog: Catalog, file: Path) -> dict[str, Any]:
    """A full logical copy of the catalog in a new local file (mode 0600: it holds private
    metadata), written beside it and renamed into place whole."""
    if file.exists():
        raise CatalogError(f"{file} exists: an export never overwrites a file")
    partial = file.with_name(f".{file.name}.partial-{os.getpid()}")
    create_private(partial)
    info, chunks = dump(catalog.engine, "full", {"catalog": catalog.catalog_id(create=False)})
    try:
        with open(partial, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.link(partial, file)
    except FileExistsError:
        raise CatalogError(f"{file} exists: an export never overwrites a file") from None
    finally:
        chunks.close()
        partial.unlink(missing_ok=True)
    return {"file": str(file), "rows": info.rows, "run": info.run, "bytes": file.stat().st_size}


def import_file(file: Path, path: Target) -> dict[str, Any]:
    """A new catalog at `path` from an exported file; it gets a catalog id of its own (its first
    metadata in the store is a full copy), so it never mixes with the chain it was exported from."""
    try:
        stream = open(file, "rb")
    except OSError as error:
        raise CatalogError(f"{file} cannot be read: {error.strerror}") from None
    with stream:
        first = next(read_lines(stream), None)  # refuse a file that is no dump before anything is made
        if not isinstance(first, dict) or first.get("kind") != "full":
            raise DumpError(f"{file} is not a full catalog export")
        stream.seek(0)
        infos = rebuild(path, [stream], None)
    return {"file": str(file), "path": str(path), "rows": infos[0].rows, "run": infos[0].run}


# --- check ---

@dataclass
class MetadataFindings:
    objects: int = 0
    read: int = 0
    unread: int = 0  # sealed, and no key configured
    problems: list[dict[str, str]] = field(default_factory=list)  # {"problem", "name", "detail"}


def check_metadata(catalog: Catalog, store: BlobStore, read_all: bool = False) -> MetadataFindings:
    """The catalog's file (SQLite's quick_check), and its metadata in the store: every object it
    recorded is there, the newest holds its last finished run, and the objects recovery would use
    (all of them with `read_all`) read whole: checksum right, decryptable, a dump to its end."""
    found = MetadataFindings()
    quick = catalog.quick_check()
    if quick != ["ok"]:
        found.problems.append({"problem": "catalog-damaged", "name": str(catalog.path), "detail": "; ".join(quick)})
    identity = catalog.catalog_id(create=False)  # a check writes nothing: no id yet, no metadata yet
    listed = store.metadata_objects(identity) if identity else []
    found.objects = len(listed)
    names = {o.name for o in listed}
    for record in catalog.metadata_recorded():
        if record["name"] not in names:
            found.problems.append({"problem": "metadata-missing", "name": record["name"],
                                   "detail": "recorded as written, not in the store"})
    last = catalog.last_finished_run()
    if last is not None and (not listed or max(listed).run < last):
        found.problems.append({"problem": "metadata-behind", "name": max(listed).name if listed else "",
                               "detail": f"the store's newest metadata does not hold run {last}, the catalog's "
                                         "last finished run"})
    try:
        wanted = listed if read_all else (recovery_chain(listed, None) if listed else [])
    except RecoveryError as error:
        found.problems.append({"problem": "metadata-unrecoverable", "name": identity or "", "detail": str(error)})
        wanted = listed
    for obj in wanted:
        if obj.encrypted and store.encryption_key is None and not read_all:
            found.unread += 1  # as for blobs, only reading everything needs the key (and stops without it)
            continue
        try:
            with store.open_metadata(obj) as stream:
                for _ in read_lines(stream):
                    pass
            found.read += 1
        except (KeyRequired, WrongKey):
            raise
        except (CorruptMetadata, CorruptBlob, DumpError, BlobMissing) as error:
            found.problems.append({"problem": "metadata-corrupt", "name": obj.name, "detail": str(error)})
    return found
