"""`mediarescue status [--max-age HOURS] [--json]`: one screen per wiki, exit 1 when something needs
attention; and the metrics textfile written after every batch run (`metrics_file` in the config)."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from rich.console import Console

from mediarescue import config as configuration
from mediarescue import metrics
from mediarescue.catalog import Catalog
from mediarescue.cli import exits
from mediarescue.status import Status, gather

BATCH_VERBS = ("backup", "check", "restore")  # runs whose figures the metrics textfile carries


def add_verbs(verbs: argparse._SubParsersAction, common: Callable[[], argparse.ArgumentParser]) -> None:
    status = verbs.add_parser("status", parents=[common()],
                              help="the state of the backups, one screen per wiki (exit 1: something needs attention)")
    status.add_argument("--max-age", type=float, metavar="HOURS",
                        help="no backup run finished for longer needs attention (default: the config's "
                             "max_age_hours, or 26)")


def _status(catalog: Catalog, config: configuration.Config, max_age_hours: float | None = None) -> Status:
    return gather(catalog, list(config.wikis), config.encryption_key is not None,
                  timedelta(hours=max_age_hours or config.max_age_hours))


def run_status(args: argparse.Namespace, config: configuration.Config, console: Console) -> int:
    if args.max_age is not None and args.max_age <= 0:
        raise configuration.ConfigError(f"--max-age must be a number of hours above 0, not {args.max_age}")
    catalog = Catalog.open_existing(config.catalog)
    try:
        status = _status(catalog, config, args.max_age)
    finally:
        catalog.close()
    if args.wiki:
        config.wiki(args.wiki)  # a wiki that is not configured is a usage error
        status.wikis = [w for w in status.wikis if w["wiki"] == args.wiki]
    if args.json:
        print(json.dumps(status.as_json(), indent=1, ensure_ascii=False))
    else:
        _print(console, status)
    return exits.OK if status.ok else exits.FAILED


def _run_line(run: dict[str, Any] | None) -> str:
    if run is None:
        return "never"
    took = f", ended {run['ended']}" if run["ended"] else ""
    return (f"run {run['id']} started {run['started']}{took}: {run['status']}, {run['versions_seen']} versions seen, "
            f"{run['versions_stored']} stored, {run['new_blobs']} new blobs ({run['bytes'] / 2**20:.1f} MiB), "
            f"{run['errors']} errors")


def _print(console: Console, status: Status) -> None:
    def say(text: str, style: str | None = None) -> None:
        console.print(text, style=style, highlight=False, markup=False)

    for w in status.wikis:
        say(f"wiki {w['wiki']}: {'NEEDS ATTENTION' if w['attention'] else 'ok'}",
            "bold red" if w["attention"] else "bold green")
        for kind in ("full", "incremental"):
            say(f"  last {kind:<11}  {_run_line(w['last_run'][kind])}")
            done = w["last_success"][kind]
            if done and done["id"] != (w["last_run"][kind] or {}).get("id"):
                say(f"  last {kind} that finished: run {done['id']}, ended {done['ended']}")
        lag = w["lag"]
        say("  lag               " + (f"{lag['lag_seconds']:.1f} s (run {lag['id']}, ended {lag['ended']})" if lag
                                     else "not measured (no follow pass applied a change yet)"))
        v = w["versions"]
        say(f"  versions          {v['pending']} pending, {v['error']} failed, {v['unreachable']} unreachable "
            "(deleted versions this config cannot read)")
        r = w["last_restore"]
        say("  last restore      " + (f"run {r['id']} started {r['started']}: {r['status']}, {r['restored'] or 0} "
                                     f"restored, {r['failed'] or 0} failed" if r else "never"))
        for reason in w["attention"]:
            say(f"  attention: {reason}", "red")
    s = status.store
    if s["private_plaintext"]:
        private = f"{s['private_plaintext']} private blobs NOT encrypted" + \
            ("" if status.key_configured else " (no encryption key configured)")
    else:
        private = (f"encrypted ({s['sealed']} blobs sealed)" if status.key_configured
                   else "none stored in plaintext, but no encryption key is configured")
    say(f"store: {s['blobs']} blobs, {s['bytes'] / 2**30:.2f} GiB; private content: {private}")
    for c in status.checks:
        where = "pass complete" if c["position"] is None else "pass under way"
        say(f"  last check {c['mode']:<9}  {c['last_run']}: {c['last_checked']} blobs checked, {c['last_missing']} "
            f"missing, {c['last_corrupt']} corrupt, {c['last_errors']} errors ({where}; last complete pass "
            f"{c['last_complete'] or 'never'})")
    if not status.checks:
        say("  last check        never (`mediarescue check`)")
    for reason in status.store_attention:
        say(f"  attention: {reason}", "red")


def write_metrics(config: configuration.Config) -> None:
    """After a batch run: the textfile, if the config names one. A failure to write it is said, not
    fatal: the run's own result stands."""
    if config.metrics_file is None:
        return
    try:
        catalog = Catalog.open_existing(config.catalog)
        try:
            metrics.write_textfile(config.metrics_file, _status(catalog, config))
        finally:
            catalog.close()
    except OSError as error:
        print(f"mediarescue: warning: metrics_file {config.metrics_file} not written: {error}", file=sys.stderr)


HANDLERS = {"status": run_status}
