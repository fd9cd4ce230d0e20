"""The `mediarescue` command: a thin shell over the library. Each verb opens what it needs, calls
one function and maps errors to a one-line message.

Exit codes: 0 done, 1 done with failures (or a failure), 2 bad usage or configuration.
"""
from __future__ import annotations

import argparse
import sys

from collector.mediawiki import VERSION


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def parser() -> argparse.ArgumentParser:
    main = _Parser(prog="mediarescue", description="Backs up a MediaWiki's media files with their metadata, "
                                                   "and restores lost ones through the API as a bot.")
    main.add_argument("--version", action="version", version=f"mediarescue {VERSION}")
    main.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.verb is None:
        parser().print_help()
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
