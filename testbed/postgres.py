"""A real PostgreSQL for the test bed, from Debian's packages: its own cluster under the bed's folder,
on 127.0.0.1 and a free port, its socket in its own folder, stopped with the bed.

PostgreSQL refuses to run as root, and CI runs as root: then the cluster belongs to, and the server
runs as, an unprivileged system account (Debian's `postgres` if the package made it, else `nobody`).
Clients log in over TCP with a password (scram-sha-256); the password lives in a file of mode 0600."""
from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from testbed import procs
from testbed.procs import TestBedError

USER = "mediarescue"       # the catalog's login role (a superuser of this throwaway cluster)
DATABASE = "mediarescue"
UNPRIVILEGED = ("postgres", "nobody")


@dataclass(frozen=True)
class Postgres:
    port: int
    password: str
    os_user: str           # the system account the server runs as

    @property
    def url(self) -> str:
        """The catalog URL; like every secret, the password is not in it."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{DATABASE}"


def binaries() -> Path:
    """The newest installed server's bin folder (Debian: /usr/lib/postgresql/VERSION/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise TestBedError("PostgreSQL's server is not installed (Debian package postgresql-15): run scripts/setup")
    return found[-1].parent


def _os_user() -> str | None:
    """None when not root (the server runs as us); else the first unprivileged account that exists."""
    if os.geteuid() != 0:
        return None
    for name in UNPRIVILEGED:
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise TestBedError(f"running as root and none of the accounts {', '.join(UNPRIVILEGED)} exists to run PostgreSQL")


def _give(path: Path, os_user: str | None) -> None:
    if os_user:
        shutil.chown(path, os_user, pwd.getpwnam(os_user).pw_gid)


def _run(argv: list[str], os_user: str | None, cwd: Path, what: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, user=os_user, cwd=cwd, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", **(env or {})})
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise TestBedError(f"{what} failed: {lines[-1] if lines else f'exit code {done.returncode}'}")


def start(bed_dir: Path) -> Postgres:
    """initdb a new cluster in BED/postgres, start it, create the catalog's database; about 2 s."""
    bin_dir, os_user = binaries(), _os_user()
    home = bed_dir / "postgres"
    home.mkdir(mode=0o700)
    _give(home, os_user)
    password = secrets.token_hex(16)
    pwfile = home / "initdb-password"
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(password + "\n")
    _give(pwfile, os_user)
    data = home / "data"
    try:
        _run([str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "--pwfile", str(pwfile), "-E", "UTF8",
              "--locale", "C.UTF-8", "--auth-local", "scram-sha-256", "--auth-host", "scram-sha-256",
              "--no-sync"], os_user, home, "initdb")
    finally:
        pwfile.unlink(missing_ok=True)
    server = restart(bed_dir, password)
    _run([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(server.port), "-U", USER, DATABASE], os_user,
         home, "createdb", env={"PGPASSWORD": password})
    return server


def restart(bed_dir: Path, password: str) -> Postgres:
    """Start the cluster of BED/postgres that `start` made (and procs.stop_all stopped), on a free port."""
    bin_dir, os_user = binaries(), _os_user()
    home = bed_dir / "postgres"
    port = procs.free_port()
    # PostgreSQL's durable defaults: the benchmarks measure the catalog on this very server.
    argv = [str(bin_dir / "postgres"), "-D", str(home / "data"), "-c", "listen_addresses=127.0.0.1", "-c",
            f"port={port}", "-c", f"unix_socket_directories={home}"]
    proc = procs.start(bed_dir, "postgres", argv, env={"LC_ALL": "C.UTF-8"}, cwd=home,
                       user=os_user)
    procs.wait_until(lambda: _ready(bin_dir, port), "PostgreSQL", proc, bed_dir / "logs" / "postgres.log")
    return Postgres(port=port, password=password, os_user=os_user or pwd.getpwuid(os.geteuid()).pw_name)


def _ready(bin_dir: Path, port: int) -> bool:
    """Accepting logins: an open port alone may still answer "the database system is starting up"."""
    return subprocess.run([str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)],
                          timeout=10).returncode == 0
