"""The `catalog` verbs: the catalog kept in the backup store (collector/metadata.py) and its
logical form in a file.

    mediarescue catalog recover [--as-of RUN|DATE] [--catalog-id ID] [PATH]
    mediarescue catalog save [--full]
    mediarescue catalog export FILE
    mediarescue catalog import FILE [PATH]

PATH defaults to the config's `catalog`; nothing ever overwrites an existing catalog.
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from collector import metadata as kept_metadata
from mediarescue import config as configuration
from mediarescue.blobstore import open_store
from mediarescue.catalog import Catalog, snapshots
from mediarescue.cli import exits


def add_verbs(verbs: argparse._SubParsersAction, common: Callable[[], argparse.ArgumentParser]) -> None:
    top = verbs.add_parser("catalog", help="the catalog's copies in the backup store, and in files")
    actions = top.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(top))
    recover = actions.add_parser("recover", parents=[common()],
                                 help="rebuild a catalog from the backup store alone, into a new path")
    recover.add_argument("path", nargs="?", type=Path, help="the new catalog (default: the config's `catalog`, "
                                                            "which must not exist)")
    recover.add_argument("--as-of", metavar="RUN|DATE",
                         help="the catalog as an earlier run (its id) or date (2026-01-31: that day's end, UTC) "
                              "left it")
    recover.add_argument("--catalog-id", metavar="ID", help="which catalog, when several share the store")
    save = actions.add_parser("save", parents=[common()],
                              help="write what changed in the catalog into the store now (backup does it each run)")
    save.add_argument("--full", action="store_true", help="a whole new copy rather than the changes")
    export = actions.add_parser("export", parents=[common()], help="the whole catalog's rows into a new file")
    export.add_argument("file", type=Path)
    load = actions.add_parser("import", parents=[common()], help="a new catalog from an exported file")
    load.add_argument("file", type=Path)
    load.add_argument("path", nargs="?", type=Path, help="the new catalog (default: the config's `catalog`)")


def run_catalog(args: argparse.Namespace, config: configuration.Config, console: Console) -> int:
    if args.action == "recover":
        as_of = None
        if args.as_of is not None:
            try:
                as_of = snapshots.parse_as_of(args.as_of)
            except snapshots.SnapshotError as error:
                raise configuration.ConfigError(str(error)) from None
        path = args.path or config.catalog
        result = kept_metadata.recover(open_store(config), path, as_of, args.catalog_id, progress=lambda obj: (
            None if args.json else console.print(f"reading {obj.name}", highlight=False, markup=False)))
        message = (f"recovered {path} from {len(result['objects'])} metadata objects: {result['rows']} rows, "
                   f"up to run {result['run']}")
    elif args.action == "import":
        path = args.path or config.catalog
        result = kept_metadata.import_file(args.file, path)
        message = f"imported {result['rows']} rows from {args.file} into {path}, up to run {result['run']}"
    else:
        catalog = Catalog.open_existing(config.catalog)
        try:
            if args.action == "export":
                result = kept_metadata.export(catalog, args.file)
                message = f"exported {result['rows']} rows, up to run {result['run']}, to {args.file}"
            else:
                catalog.lock()  # one writer of the catalog's metadata at a time, as a backup
                obj = kept_metadata.save(catalog, open_store(config), kept_metadata.Settings.of(config), full=args.full)
                result = {"name": obj.name, "kind": obj.kind, "bytes": obj.size}
                message = f"wrote a {obj.kind} copy of the catalog into the store: {obj.name}"
        finally:
            catalog.close()
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        console.print(message, highlight=False, markup=False)
    return exits.OK


HANDLERS = {"catalog": run_catalog}
