"""The collector's verbs of the `mediarescue` command: backup, find, snapshots, forget, check,
keygen. Each loads what it needs, calls one function of the collector and prints the result."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from collector import forget
from collector import metadata as kept_metadata
from collector.backup import Options, Summary, backup, join
from collector.checker import CheckResult, check, repair
from collector.ranges import MAX_RANGES
from mediarescue import config as configuration
from mediarescue.blobstore import open_store
from mediarescue.blobstore.crypto import KeyRequired, WrongKey, generate_key
from mediarescue.catalog import Catalog, snapshots
from mediarescue.catalog.engine import PostgresURL
from mediarescue.cli import exits
from mediarescue.cli import follow as follow_cli
from mediarescue.cli.progress import reporter
from mediarescue.mediawiki import canonical_title
from mediarescue.swift import hide_location
from policies import retention


def add_verbs(verbs: argparse._SubParsersAction, common: Callable[[], argparse.ArgumentParser]) -> None:
    run = verbs.add_parser("backup", parents=[common()], help="back up every file version of a wiki")
    run.add_argument("--workers", type=int, help="parallel downloads (default: the config's, or 4)")
    run.add_argument("--join", action="store_true",
                     help="fetch for the run another `backup` (any host, same config) is listing; PostgreSQL "
                          "catalogs only")
    run.add_argument("--lease", type=float, default=120.0, metavar="SECONDS",
                     help="PostgreSQL catalogs: how long a claimed version stays claimed without renewal (a killed "
                          "process's claims return to the others after it; default 120)")
    run.add_argument("--list-split", type=int, default=0, metavar="N",
                     help="PostgreSQL catalogs, full runs: list the wiki as N title ranges, each listed by this "
                          "process or a `backup --join` (cut at quantiles of the titles the catalog knows, else at "
                          "first characters)")
    run.add_argument("--split-at", action="append", default=[], metavar="TITLE",
                     help="with or instead of --list-split: cut the listing at this title (repeat it for more cuts)")
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--full", dest="incremental", action="store_false", default=False,
                      help="list every file (the default); also marks what the wiki no longer shows as vanished")
    mode.add_argument("--incremental", dest="incremental", action="store_true",
                      help="only what the wiki's log says changed since the last run")
    mode.add_argument("--follow", action="store_true",
                      help="keep going: apply the wiki's log every --interval, a full run every --full-every; "
                           "SIGTERM or Ctrl-C ends the pass under way and exits 0")
    follow_cli.add_options(run)
    find = verbs.add_parser("find", parents=[common()], help="every catalogued version of a file")
    find.add_argument("title", nargs="?", help="a file title, with or without File:")
    find.add_argument("--sha1", help="versions whose wiki-reported sha1 is this (hex)")
    find.add_argument("--sha256", help="versions whose stored bytes have this sha256")
    find.add_argument("--as-of", metavar="DATE|RUN",
                      help="as the catalog saw it at a run (its id) or a date (2026-01-31: the end of that day, UTC)")
    listing = verbs.add_parser("snapshots", parents=[common()], help="every backup run, with what it saw and changed")
    listing.add_argument("--all", action="store_true", help="forgotten snapshots too")
    forgetting = verbs.add_parser("forget", parents=[common()],
                              help="drop the detail of snapshots outside a retention policy (a dry run unless --yes)")
    for rule in retention.RULES:
        forgetting.add_argument(f"--keep-{rule}", type=int, default=0, metavar="N",
                            help=f"keep the newest snapshot of each of the N newest {rule} buckets"
                            if rule != "last" else "keep the N newest snapshots")
    forgetting.add_argument("--prune", action="store_true",
                        help="also delete the blobs no kept snapshot and no current version needs")
    doing = forgetting.add_mutually_exclusive_group()
    doing.add_argument("--dry-run", dest="yes", action="store_false", default=False,
                       help="show what would be forgotten and freed (the default)")
    doing.add_argument("--yes", dest="yes", action="store_true", help="forget (and prune) for real")
    verify_store = verbs.add_parser("check", help="prove that every catalogued blob is in the blob store")
    verify_store.add_argument("--read-data", action="store_true",
                              help="also read every blob back (decrypted if sealed) and re-hash it")
    verify_store.add_argument("--max-duration", type=float, metavar="SECONDS",
                              help="stop after this long; the next check resumes where this one stopped")
    verify_store.add_argument("--repair", action="store_true",
                              help="also show the repairs the check found (a dry run unless --yes): versions of "
                                   "missing or corrupt blobs marked pending, corrupt blobs quarantined, private "
                                   "plaintext sealed")
    verify_store.add_argument("--yes", action="store_true", help="with --repair: make the repairs")
    verify_store.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    keygen = verbs.add_parser("keygen", help="write a new key for encrypting private content (mode 0600)")
    keygen.add_argument("file", type=Path, help="where to write it; an existing file is never overwritten")
    keygen.set_defaults(json=False)


def complete_digest(catalog: Catalog, column: str, text: str | None, wiki: str | None) -> str | None:
    """The whole digest a --sha1/--sha256 prefix names ("" when none has it); None without the option."""
    if text is None:
        return None
    try:
        return catalog.complete_digest(column, text, wiki) or ""
    except ValueError as error:
        raise configuration.ConfigError(str(error)) from None


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=1, ensure_ascii=False))


def run_backup(args: argparse.Namespace, config: configuration.Config, console: Console) -> int:
    wiki = config.wiki(args.wiki)
    if args.workers is not None and not 1 <= args.workers <= 64:
        raise configuration.ConfigError(f"--workers must be between 1 and 64, not {args.workers}")
    if args.join or args.lease != 120.0:
        if not isinstance(config.catalog, PostgresURL):
            raise configuration.ConfigError("backup --join (and --lease) need a PostgreSQL catalog: an SQLite "
                                            "catalog is written by one process on one host")
        if not 1 <= args.lease <= 86400:
            raise configuration.ConfigError(f"--lease must be between 1 and 86400 seconds, not {args.lease}")
    follow_cli.check_options(args)
    _check_split(args, config)
    if args.join:
        if args.follow:
            raise configuration.ConfigError("--join and --follow do not go together: a joined process fetches for "
                                            "the run another `backup` lists, once")
        return _run_join(args, config, console, wiki)
    if args.follow:
        return follow_cli.run_follow(args, config, console)
    catalog = Catalog(config.catalog)
    if (wiki.swift or wiki.upload_dir) and config.encryption_key is None:  # where deleted versions are read
        console.print("warning: no encryption_key_file: deleted versions are stored unencrypted", style="yellow")
    try:
        catalog.lock()
        began = time.monotonic()
        with reporter(console, wiki.name) as progress:
            summary = backup(wiki, catalog, open_store(config), config.contact,
                             Options(workers=args.workers or wiki.workers, progress=progress,
                                     url_rewrite=wiki.url_rewrite, metadata=kept_metadata.Settings.of(config),
                                     lease=args.lease, list_split=args.list_split,
                                     split_at=tuple(args.split_at)),
                             incremental_run=args.incremental)
    finally:
        catalog.close()
    if args.json:
        _print_json({"run": summary.run, "errors": [redacted(e) for e in summary.errors],
                     "unreachable": summary.unreachable, "collisions": summary.collisions,
                     "snapshot": summary.snapshot, "metadata": summary.metadata})
    else:
        _print_summary(console, summary, time.monotonic() - began)
    return exits.OK if summary.ok else exits.FAILED


def _check_split(args: argparse.Namespace, config: configuration.Config) -> None:
    """--list-split and --split-at: a full run's lister on a PostgreSQL catalog only."""
    if not (args.list_split or args.split_at):
        return
    if not isinstance(config.catalog, PostgresURL):
        raise configuration.ConfigError("backup --list-split (and --split-at) need a PostgreSQL catalog: an SQLite "
                                        "catalog is written by one process on one host")
    if args.join or args.follow or args.incremental:
        raise configuration.ConfigError("--list-split and --split-at go with a full run's lister only: joined "
                                        "processes list the ranges it makes; an incremental run lists no ranges")
    if args.list_split and not 2 <= args.list_split <= MAX_RANGES:
        raise configuration.ConfigError(f"--list-split must be between 2 and {MAX_RANGES}, not {args.list_split}")
    if len(args.split_at) >= MAX_RANGES:
        raise configuration.ConfigError(f"at most {MAX_RANGES - 1} --split-at cuts, not {len(args.split_at)}")


def _run_join(args: argparse.Namespace, config: configuration.Config, console: Console,
              wiki: configuration.WikiConfig) -> int:
    catalog = Catalog(config.catalog)  # joined before the lister made it: made here (one maker, a lock says)
    try:
        joined = join(wiki, catalog, open_store(config), config.contact,
                      Options(workers=args.workers or wiki.workers, url_rewrite=wiki.url_rewrite, lease=args.lease))
    finally:
        catalog.close()
    errors = [redacted(e) for e in joined.errors]
    if args.json:
        _print_json({"run": joined.run, "stored": joined.stored, "errors": errors})
    elif joined.run is None:
        console.print(f"no run of {wiki.name} is under way to join", highlight=False, markup=False)
    else:
        console.print(f"joined run {joined.run} of {wiki.name}: {joined.stored} versions stored, {len(errors)} errors",
                      highlight=False, markup=False)
        for error in errors:
            console.print(f"error: {error['title']} ({error['status']} version {error['id']}): {error['error']}",
                          highlight=False, markup=False)
    return exits.FAILED if errors else exits.OK


def _print_summary(console: Console, summary: Summary, seconds: float) -> None:
    run = summary.run
    console.print(f"run {run['id']} ({run['kind']}, {run['wiki']}) {run['status']} in {seconds:.1f} s: "
                  f"{run['versions_seen']} versions seen, {run['new_blobs']} new blobs "
                  f"({run['bytes'] / 2**20:.1f} MiB), {run['errors']} errors", highlight=False, markup=False)
    if summary.snapshot:
        s = summary.snapshot
        console.print(f"snapshot {run['id']}: {s.get('new_versions', 0)} new versions, {s.get('changed_versions', 0)} "
                      f"changed; {s['log_entries']} log entries read, {s['titles_read_again']} titles read again, "
                      f"{s['requests']} API requests", highlight=False)
    meta = summary.metadata
    if "error" in meta:
        console.print(f"error: {meta['error']}", highlight=False, markup=False)
    elif meta:
        console.print(f"metadata: {meta['kind']} copy of the catalog in the store, {meta['bytes'] / 2**20:.2f} MiB in "
                      f"{meta['seconds']:.2f} s", highlight=False)
    if summary.unreachable:
        console.print(f"{summary.unreachable} deleted versions not backed up: readable only from the wiki's Swift "
                      "or its upload directory (upload_dir)")
    for error in map(redacted, summary.errors):
        console.print(f"error: {error['title']} ({error['status']} version {error['id']}): {error['error']}",
                      highlight=False, markup=False)
    for collision in summary.collisions:
        console.print(f"sha1 collision: {collision['sha1']} names {collision['contents']} different contents "
                      f"(versions {collision['version_ids']}); all are kept", highlight=False, markup=False)


def redacted(row: dict[str, Any]) -> dict[str, Any]:
    """The row with the error of a private (deleted) version stripped of where its bytes were read
    from, as recorded by catalogs from before backups stopped recording it."""
    private = row.get("private") or row.get("status") == "deleted"
    return {**row, "error": hide_location(row["error"])} if private and row.get("error") else row


FIND_COLUMNS = ("id", "title", "status", "timestamp", "size", "sha1", "sha256", "backup_status")


def run_find(args: argparse.Namespace, config: configuration.Config, console: Console) -> int:
    if sum(x is not None for x in (args.title, args.sha1, args.sha256)) != 1:
        raise configuration.ConfigError("find takes one of TITLE, --sha1 or --sha256")
    catalog = Catalog.open_existing(config.catalog)
    try:
        query = dict(title=canonical_title(args.title) if args.title else None, wiki=args.wiki,
                     sha1=complete_digest(catalog, "sha1", args.sha1, args.wiki),
                     sha256=complete_digest(catalog, "sha256", args.sha256, args.wiki))
        if query["sha1"] == "" or query["sha256"] == "":  # a prefix no version has
            rows = []
        elif args.as_of is None:
            rows = catalog.find(**query)
        else:
            try:
                as_of = snapshots.parse_as_of(args.as_of)
            except snapshots.SnapshotError as error:
                raise configuration.ConfigError(str(error)) from None
            rows = snapshots.find_as_of(catalog, as_of, **query)
    finally:
        catalog.close()
    rows = [redacted(row) for row in rows]
    if args.json:
        _print_json(rows)
    elif rows:
        table = Table(*FIND_COLUMNS, "error")
        for row in rows:
            cells = {c: "" if row[c] is None else str(row[c]) for c in FIND_COLUMNS}
            cells["sha1"], cells["sha256"] = cells["sha1"][:12], cells["sha256"][:12]  # --json has them whole
            table.add_row(*map(Text, cells.values()), Text(row["error"] or ""))  # Text: titles are not markup
        console.print(table)
    else:
        console.print("no catalogued version matches" + (f" as of {args.as_of}" if args.as_of else ""),
                      markup=False, highlight=False)
    return exits.OK if rows else exits.FAILED


SNAPSHOT_COLUMNS = ("run", "wiki", "kind", "started", "status", "versions_seen", "new_versions", "changed_versions",
                    "new_blobs", "errors")


def run_snapshots(args: argparse.Namespace, config: configuration.Config, console: Console) -> int:
    catalog = Catalog.open_existing(config.catalog)
    try:
        rows = snapshots.list_snapshots(catalog, args.wiki, include_forgotten=args.all)
    finally:
        catalog.close()
    if args.json:
        _print_json(rows)
        return exits.OK
    table = Table(*SNAPSHOT_COLUMNS, "MiB", *(["forgotten"] if args.all else []))
    for row in rows:
        table.add_row(*(Text("" if row[c] is None else str(row[c])) for c in SNAPSHOT_COLUMNS),
                      f"{row['bytes'] / 2**20:.1f}", *([Text(row["forgotten"] or "")] if args.all else []))
    console.print(table if rows else "no snapshots")
    return exits.OK


def run_forget(args: argparse.Namespace, config: configuration.Config, console: Console) -> int:
    policy = retention.Policy(**{rule: getattr(args, f"keep_{rule}") for rule in retention.RULES})
    if any(n < 0 for n in vars(policy).values()):
        raise configuration.ConfigError("--keep-* take a count of 0 or more")
    if policy.empty():
        raise configuration.ConfigError("forget needs a policy that keeps something: --keep-last, --keep-hourly, "
                                        "--keep-daily, --keep-weekly, --keep-monthly or --keep-yearly of 1 or more")
    catalog = Catalog.open_existing(config.catalog)
    try:
        catalog.lock()  # no backup may write while snapshots are forgotten
        plan = forget.plan_forget(catalog, policy, wiki=args.wiki, prune=args.prune)
        done = (forget.execute(catalog, open_store(config), plan, kept_metadata.Settings.of(config))
                if args.yes else None)
    finally:
        catalog.close()
    if args.json:
        _print_json({**plan.as_json(), "dry_run": not args.yes, "done": done})
        return exits.OK
    for kept in plan.keep:
        console.print(f"keep   run {kept['run']} ({kept['wiki']}, {kept['kind']}, {kept['started']}): "
                      f"{', '.join(kept['reasons'])}", highlight=False, markup=False)
    for removed in plan.remove:
        console.print(f"forget run {removed['run']} ({removed['wiki']}, {removed['kind']}, {removed['started']}, "
                      f"{removed['status']}): {', '.join(removed['reasons'])}", highlight=False, markup=False)
    verb = "forgot" if args.yes else "would forget"
    freed = (f"; {'deleted' if args.yes else 'would delete'} {len(plan.blobs)} blobs, "
             f"{'freeing' if args.yes else 'which would free'} {plan.bytes / 2**20:.1f} MiB" if args.prune
             else "; no blobs deleted without --prune")
    console.print(f"{verb} {len(plan.remove)} snapshots and {len(plan.state_rows)} earlier version states{freed}"
                  + ("" if args.yes else " (a dry run: run again with --yes to do it)"), highlight=False)
    return exits.OK


def run_check(args: argparse.Namespace, config: configuration.Config, console: Console) -> int:
    if args.max_duration is not None and args.max_duration < 0:
        raise configuration.ConfigError(f"--max-duration must not be negative, not {args.max_duration}")
    if args.yes and not args.repair:
        raise configuration.ConfigError("--yes goes with --repair: `check` alone only reports")
    catalog = Catalog.open_existing(config.catalog)
    try:
        store = open_store(config)
        result = check(catalog, store, read_data=args.read_data, max_duration=args.max_duration,
                       can_seal=config.encryption_key is not None)
        if args.repair and args.yes:
            repair(catalog, store, result)
        kept = kept_metadata.check_metadata(catalog, store, read_all=args.read_data)
    except (KeyRequired, WrongKey) as error:  # a key problem is a configuration problem, not corruption
        raise configuration.ConfigError(f"{error}; the check stopped before judging it") from None
    finally:
        catalog.close()
    if args.json:
        _print_json({**result.as_json(), "dry_run": not (args.repair and args.yes),
                     "metadata": {"objects": kept.objects, "read": kept.read, "unread_without_key": kept.unread,
                                  "problems": kept.problems}})
    else:
        _print_check(console, result, show_plan=args.repair)
        console.print(f"catalog and metadata: {kept.objects} metadata objects in the store, {kept.read} read whole"
                      + (f", {kept.unread} sealed ones not read (no key)" if kept.unread else "")
                      + f"; {len(kept.problems)} problems", highlight=False)
        for problem in kept.problems:
            console.print(f"{problem['problem']}: {problem['name']}: {problem['detail']}", highlight=False,
                          markup=False)
        if kept.problems:
            console.print("hint: `mediarescue catalog save --full` writes a whole new copy of the catalog into the "
                          "store (a damaged catalog is rebuilt from the store with `mediarescue catalog recover "
                          "NEW_PATH` instead)", highlight=False, markup=False)
    return exits.OK if result.ok and not kept.problems else exits.FAILED


def _print_check(console: Console, result: CheckResult, show_plan: bool) -> None:
    where = ("pass complete" if result.complete
             else f"stopped after {result.position[:12]}, the next check resumes there")
    console.print(f"check{' --read-data' if result.read_data else ''}: {result.checked} blobs checked "
                  f"({result.pass_checked} in this pass, {result.bytes_read / 2**20:.1f} MiB read) in "
                  f"{result.seconds:.1f} s; {len(result.of('missing'))} missing, {len(result.of('corrupt'))} "
                  f"corrupt, {len(result.of('error'))} errors; {where}", highlight=False)
    for problem in result.problems:
        versions = "; ".join(f"{v['title']} ({v['status']} version {v['id']}, {v['wiki']})" for v in problem.versions)
        console.print(f"{problem.problem}: {problem.sha256}: {problem.detail} — {versions or 'no version'}",
                      highlight=False, markup=False)
    for count, what in ((result.sealed, "private blobs found unencrypted were sealed"),
                        (result.plaintext_removed, "plaintext copies beside sealed ones were removed"),
                        (result.orphans, "blobs in the store are not in this catalog")):
        if count:
            console.print(f"{count} {what}", highlight=False)
    if show_plan:
        verb = "repaired" if result.repaired else "would repair"
        for step in result.repairs:
            console.print(f"{verb}: {step.kind} {step.sha256}: {step.detail}", highlight=False, markup=False)
        if not result.repaired:
            console.print(f"{len(result.repairs)} repairs planned (a dry run: add --yes to make them)", highlight=False)
    for hint in result.hints():
        console.print(f"hint: {hint}", highlight=False, markup=False)


def run_keygen(args: argparse.Namespace) -> int:
    """A new 256-bit key in a new file only readable by its owner: a key that is overwritten takes
    every blob sealed under it along, so an existing file is refused."""
    try:
        fd = os.open(args.file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        print(f"mediarescue: error: {args.file} exists: a key is never overwritten", file=sys.stderr)
        return exits.USAGE
    with os.fdopen(fd, "w") as out:
        out.write(generate_key() + "\n")
    print(f"wrote a new key to {args.file}; keep a copy apart from the backups: "
          "without it the encrypted blobs cannot be read")
    return exits.OK


HANDLERS = {"backup": run_backup, "find": run_find, "check": run_check, "snapshots": run_snapshots,
            "forget": run_forget}
