"""The units in contrib/systemd run commands the `mediarescue` parser accepts, with the options the
README describes (a unit that fails at its first start is found here, not on a server)."""
from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import pytest

from mediarescue.cli.main import parser

UNITS = Path(__file__).resolve().parents[1] / "contrib" / "systemd"


def _exec_start(unit: Path) -> list[str]:
    config = configparser.ConfigParser(strict=False, interpolation=None)
    config.optionxform = str
    config.read_string(unit.read_text())
    return shlex.split(config["Service"]["ExecStart"].replace("%i", "commons"))


@pytest.mark.parametrize("unit, verb, options", [
    ("mediarescue-follow@.service", "backup", {"follow": True, "wiki": "commons", "interval": 60.0,
                                               "metrics_port": 9617}),
    ("mediarescue-check.service", "check", {"read_data": True, "max_duration": 14400.0, "repair": False}),
])
def test_the_units_commands_parse(unit: str, verb: str, options: dict) -> None:
    argv = _exec_start(UNITS / unit)
    assert argv[0].endswith("/mediarescue")
    args = parser().parse_args(argv[1:])
    assert args.verb == verb and {k: getattr(args, k) for k in options} == options


def test_the_timer_starts_the_check_weekly() -> None:
    timer = configparser.ConfigParser(interpolation=None)
    timer.read_string((UNITS / "mediarescue-check.timer").read_text())
    assert timer["Timer"]["OnCalendar"].startswith("Sun ") and timer["Timer"]["Persistent"] == "true"
