"""`mediarescue backup --follow`: the follower as a service. SIGTERM or Ctrl-C (SIGINT) once: the
pass under way ends at its next batch's edge, its downloads stored, and the command exits 0; a
second one stops at once (exit 130; the next start resumes just the same)."""
from __future__ import annotations

import argparse
import signal
import time
from collections.abc import Callable
from datetime import timedelta
from types import FrameType

from rich.console import Console

from collector.backup import Options
from collector.follow import Follower, FollowOptions, quiet_progress
from mediarescue import config as configuration
from mediarescue.blobstore import open_store
from mediarescue.catalog import Catalog
from mediarescue.cli import exits
from mediarescue.metrics import FollowMetrics


def add_options(run: argparse.ArgumentParser) -> None:
    run.add_argument("--interval", type=float, default=60.0, metavar="SECONDS",
                     help="with --follow: seconds from the start of one pass to the next (default 60)")
    run.add_argument("--full-every", type=float, default=7.0, metavar="DAYS",
                     help="with --follow: a full run when the last one is this old (default 7; 0: never)")
    run.add_argument("--metrics-port", type=int, metavar="PORT",
                     help="with --follow: serve Prometheus metrics on this port (at /metrics)")
    run.add_argument("--metrics-address", default="127.0.0.1", metavar="ADDRESS",
                     help="with --metrics-port: the address to listen on (default 127.0.0.1)")


def check_options(args: argparse.Namespace) -> None:
    if not args.follow:
        if args.metrics_port is not None:
            raise configuration.ConfigError("--metrics-port goes with --follow (batch runs write metrics_file)")
        return
    if not 1 <= args.interval <= 86400:
        raise configuration.ConfigError(f"--interval must be between 1 and 86400 seconds, not {args.interval}")
    if args.full_every < 0:
        raise configuration.ConfigError(f"--full-every must be 0 (never) or more days, not {args.full_every}")
    if args.metrics_port is not None and not 1 <= args.metrics_port <= 65535:
        raise configuration.ConfigError(f"--metrics-port must be a port number, not {args.metrics_port}")


def run_follow(args: argparse.Namespace, config: configuration.Config, console: Console) -> int:
    wiki = config.wiki(args.wiki)

    def log(line: str) -> None:
        print(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {line}", flush=True)

    catalog = Catalog(config.catalog)
    try:
        catalog.lock()  # one follower (or backup) per catalog
        follow_metrics = FollowMetrics() if args.metrics_port is not None else None
        options = FollowOptions(
            interval=args.interval, full_every=args.full_every * 86400 if args.full_every else None,
            backup=Options(workers=args.workers or wiki.workers, url_rewrite=wiki.url_rewrite,
                           progress=quiet_progress(log), lease=args.lease),
            max_age=timedelta(hours=config.max_age_hours), metrics_file=config.metrics_file, log=log)
        follower = Follower(wiki, catalog, open_store(config), config.contact, options, follow_metrics,
                            key_configured=config.encryption_key is not None)
        if follow_metrics is not None:
            follow_metrics.serve(args.metrics_port, args.metrics_address)
            log(f"follow {wiki.name}: metrics on http://{args.metrics_address}:{args.metrics_port}/metrics")
        log(f"follow {wiki.name}: a pass every {args.interval:g} s, a full run every "
            + (f"{args.full_every:g} days" if args.full_every else "never (after the first)"))
        previous = {sig: signal.signal(sig, _stopper(follower, log)) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            follower.run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    finally:
        catalog.close()
    log(f"follow {wiki.name}: stopped after {follower.passes} passes ({follower.quiet} quiet ones not logged since "
        "the last line); the next start resumes")
    return exits.OK


def _stopper(follower: Follower, log: Callable[[str], None]) -> Callable[[int, FrameType | None], None]:
    def stop(signum: int, frame: FrameType | None) -> None:
        if follower.stopping:  # asked twice: stop now (the run is recorded interrupted and resumes)
            raise KeyboardInterrupt
        log(f"follow: {signal.Signals(signum).name}: finishing the pass under way, then stopping "
            "(again to stop at once)")
        follower.stop()
    return stop


