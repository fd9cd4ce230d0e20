"""The test bed's processes: each started in a session of its own and recorded, so that `stop`
ends whole process groups (php -S workers, swift greenthreads) and never a recycled pid."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

RECORDS = "processes.json"


class TestBedError(Exception):
    """A test bed cannot do what was asked; the message is meant for a person."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def check_port_free(port: int) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise TestBedError(f"port {port} on 127.0.0.1 is busy") from None


def _stat(pid: int | str) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name: [state, ppid, pgrp, session, ...]."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()


def _start_time(pid: int) -> int | None:
    """The kernel's start time of `pid`: with the pid it names one process for good."""
    fields = _stat(pid)
    return None if fields is None or fields[0] == "Z" else int(fields[19])


def _group(record: dict) -> list[int]:
    """Live members of a recorded process group, the leader included even once it has gone
    (php -S workers outlive their parent); later than the leader, so never a recycled pgid."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat(entry.name)
        if (fields and fields[0] != "Z" and int(fields[2]) == record["pid"]
                and record.get("started") is not None and int(fields[19]) >= record["started"]):
            members.append(int(entry.name))
    return members


def _load(bed_dir: Path) -> dict[str, dict]:
    try:
        return json.loads((bed_dir / RECORDS).read_text())
    except FileNotFoundError:
        return {}


def _save(bed_dir: Path, records: dict[str, dict]) -> None:
    tmp = bed_dir / (RECORDS + ".tmp")
    tmp.write_text(json.dumps(records, indent=1))
    tmp.replace(bed_dir / RECORDS)


def start(bed_dir: Path, name: str, argv: list[str], env: dict[str, str] | None = None,
          cwd: Path | None = None, user: str | None = None) -> subprocess.Popen:
    """Start `argv` in a session of its own, output to logs/NAME.log; as `user` when root asks it."""
    logs = bed_dir / "logs"
    logs.mkdir(exist_ok=True)
    with open(logs / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env, cwd=cwd, user=user)
    records = _load(bed_dir)
    records[name] = {"pid": proc.pid, "started": _start_time(proc.pid), "argv": argv}
    _save(bed_dir, records)
    return proc


def running(bed_dir: Path) -> dict[str, list[int]]:
    """Name -> live pids of each recorded process group that still has any."""
    groups = {name: _group(rec) for name, rec in _load(bed_dir).items()}
    return {name: pids for name, pids in groups.items() if pids}


def stop_all(bed_dir: Path, grace: float = 5.0) -> list[str]:
    """End every recorded process group, politely first; returns the names that were running."""
    records = _load(bed_dir)
    was_running = sorted(running(bed_dir))
    for sig in (signal.SIGTERM, signal.SIGKILL):
        deadline = time.monotonic() + grace
        pids = [pid for rec in records.values() for pid in _group(rec)]
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        while pids and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
            pids = [pid for rec in records.values() for pid in _group(rec)]
            time.sleep(0.05)
        if not pids:
            break
    (bed_dir / RECORDS).unlink(missing_ok=True)
    return was_running


def wait_until(ready: Callable[[], bool], what: str, proc: subprocess.Popen, log: Path,
               timeout: float = 60.0) -> None:
    """Poll `ready` until it holds; fail early, with the log's tail, if `proc` dies. The deadline is
    for a server that hangs: on a loaded 2-core machine one starting beside another takes its time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise TestBedError(f"{what} exited with code {proc.returncode}: {_tail(log)}")
        try:
            if ready():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise TestBedError(f"{what} not ready after {timeout:.0f} s: {_tail(log)}")


def _tail(log: Path, lines: int = 5) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"
