"""The `mediarescue` command."""
from mediarescue.cli.main import main

__all__ = ["main"]
