"""The `mediarescue` command: a thin shell over the library. Each verb loads the config, opens the
catalog, calls one function and maps errors to a one-line message and an exit code (exits.py).

    mediarescue [--config FILE] backup [--full | --incremental] [--wiki NAME] [--workers N] [--json]
    mediarescue [--config FILE] find [TITLE] [--sha1 X | --sha256 X] [--as-of DATE|RUN] [--wiki NAME] [--json]
    mediarescue [--config FILE] snapshots [--all] [--wiki NAME] [--json]
    mediarescue [--config FILE] forget --keep-daily N ... [--prune] [--dry-run | --yes] [--wiki NAME] [--json]
    mediarescue [--config FILE] check [--read-data] [--max-duration SECONDS] [--repair [--yes]] [--json]
    mediarescue [--config FILE] catalog recover [--as-of RUN|DATE] [PATH] | save [--full] | export FILE
                                        | import FILE [PATH]   (mediarescue/cli/catalog.py)
    mediarescue keygen FILE
    mediarescue [--config FILE] verify | plan | restore ...   (mediarescue/cli/restore.py)
    mediarescue [--config FILE] status [--max-age HOURS] [--wiki NAME] [--json]   (mediarescue/cli/status.py)
    mediarescue [--config FILE] rollback --since TIME ...      (mediarescue/cli/rollback.py)
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from pathlib import Path

import requests
from rich.console import Console
from swiftclient.exceptions import ClientException

from collector.backup import StorageUnreachable
from collector.checker import CheckBusy
from collector.incremental import NoLogPosition
from collector.metadata import RecoveryError
from collector.ranges import BadSplit
from mediarescue import config as configuration
from mediarescue.blobstore.base import BadDigest
from mediarescue.blobstore.crypto import KeyRequired, WrongKey
from mediarescue.catalog import CatalogBusy, CatalogDamaged, CatalogError, snapshots
from mediarescue.cli import backup as backup_cli
from mediarescue.cli import catalog as catalog_cli
from mediarescue.cli import exits
from mediarescue.cli import restore as restorer_cli
from mediarescue.cli import rollback as rollback_cli
from mediarescue.cli import status as status_cli
from mediarescue.mediawiki import VERSION, APIError
from mediarescue.transport import RedirectRefused
from restorer.inspection import Outage


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        self.exit(exits.USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _common() -> argparse.ArgumentParser:
    """Options that mean the same on every verb."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--wiki", metavar="NAME", help="which configured wiki (needed when there are several)")
    common.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    return common


def parser() -> argparse.ArgumentParser:
    main = _Parser(prog="mediarescue", description="Backs up a MediaWiki's media files with their metadata, "
                                                   "and restores lost ones through the API as a bot.")
    main.add_argument("--version", action="version", version=f"mediarescue {VERSION}")
    main.add_argument("--config", type=Path, default=Path(os.environ.get("MEDIARESCUE_CONFIG", "mediarescue.toml")),
                      help="the config file (default: $MEDIARESCUE_CONFIG or ./mediarescue.toml)")
    verbs = main.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser, required=True)
    backup_cli.add_verbs(verbs, _common)
    restorer_cli.add_verbs(verbs, _common)
    status_cli.add_verbs(verbs, _common)
    catalog_cli.add_verbs(verbs, _common)
    rollback_cli.add_verbs(verbs, _common)
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    stream = sys.stderr if args.json else sys.stdout
    # Not on a terminal: whole log lines, and tables as wide as a log viewer shows them.
    console = Console(stderr=args.json, soft_wrap=True, width=None if stream.isatty() else 160)
    try:
        if args.verb == "keygen":  # needs no config: it makes what the config will name
            return backup_cli.run_keygen(args)
        config = configuration.load(args.config)
        handlers = {**backup_cli.HANDLERS, **restorer_cli.HANDLERS, **rollback_cli.HANDLERS,
                    **status_cli.HANDLERS, **catalog_cli.HANDLERS}
        try:
            return handlers[args.verb](args, config, console)
        finally:
            if args.verb in status_cli.BATCH_VERBS:  # the figures of the run, also one that failed
                status_cli.write_metrics(config)
    except RecoveryError as error:  # the store cannot give a whole catalog back
        print(f"mediarescue: error: {error}", file=sys.stderr)
        return exits.FAILED
    except sqlite3.DatabaseError as error:
        if type(error) is not sqlite3.DatabaseError:  # locked, a constraint: not a damaged file
            raise
        print(f"mediarescue: error: {CatalogDamaged(config.catalog, str(error))}", file=sys.stderr)
        return exits.USAGE
    except (configuration.ConfigError, NoLogPosition, CatalogError, RedirectRefused, BadDigest, BadSplit) as error:
        print(f"mediarescue: error: {error}", file=sys.stderr)
        return exits.USAGE
    except (KeyRequired, WrongKey) as error:  # a key problem is a configuration problem, not corruption
        print(f"mediarescue: error: {error}", file=sys.stderr)
        return exits.USAGE
    except StorageUnreachable as error:
        print(f"mediarescue: error: {error}: the run stopped; run it again once the storage answers",
              file=sys.stderr)
        return exits.FAILED
    except snapshots.SnapshotError as error:  # no such point in time: nothing found
        print(f"mediarescue: {error}", file=sys.stderr)
        return exits.FAILED
    except (CatalogBusy, CheckBusy, APIError, OSError, requests.RequestException, ClientException) as error:
        print(f"mediarescue: error: {error}", file=sys.stderr)
        return exits.FAILED
    except Outage as error:
        print(f"mediarescue: storage outage: {error}; nothing was declared lost", file=sys.stderr)
        return exits.OUTAGE
    except KeyboardInterrupt:
        print("mediarescue: interrupted; run the same command again to resume", file=sys.stderr)
        return exits.INTERRUPTED
    except Exception as error:
        if not type(error).__module__.startswith("psycopg"):
            raise
        detail = " ".join(str(error).split())  # a PostgreSQL catalog's server failed or went away
        print(f"mediarescue: error: the catalog's PostgreSQL server: {detail[:300]}; run the same command again "
              "to resume", file=sys.stderr)
        return exits.FAILED


if __name__ == "__main__":
    sys.exit(main())
