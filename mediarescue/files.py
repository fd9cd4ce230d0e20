"""Files and folders that hold private data (the catalog, reports, spooled and quarantined bytes)
are their owner's alone, whatever the umask: folders 0700, files 0600. The catalog holds titles,
uploaders and comments of deleted versions and description texts; the usual umask 022 would make
them readable by every account on the machine."""
from __future__ import annotations

import errno
import fcntl
import os
import stat
from pathlib import Path

SQLITE_MAGIC = b"SQLite format 3\x00"


def private_dir(path: Path, tighten: bool = True) -> Path:
    """`path` as a folder only its owner may enter: made (with its parents) if missing; with
    `tighten` (a folder that is mediarescue's alone), an existing one of ours is tightened to 0700
    and one of another account's refused (PermissionError): that account could read or replace
    what is put in it. Without, a folder the operator named is left as it is."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not tighten:
        return path
    info = path.stat()
    if info.st_uid != os.getuid():
        raise PermissionError(errno.EPERM, "the folder belongs to another user", str(path))
    if stat.S_IMODE(info.st_mode) != 0o700:
        path.chmod(0o700)
    return path


def private_write(path: Path, text: str) -> None:
    """Write `text` to `path`, mode 0600 even when the file existed with a wider one."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(fd, 0o600)
        out.write(text)


def create_private(path: Path) -> None:
    """An empty file of mode 0600 (its folder 0700 if it has to be made); SQLite then gives the
    catalog's -wal and -shm files the same mode as the database file."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:  # another backup made it just now: it is opened as it is
        pass


def tighten(path: Path) -> None:
    """Take group and other access away from a file of ours (one made before modes were private)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    if info.st_uid == os.getuid() and info.st_mode & 0o077:
        path.chmod(stat.S_IMODE(info.st_mode) & 0o700)


def sqlite_problem(path: Path, must_exist: bool) -> str | None:
    """What keeps `path` from being an SQLite database we may open, or None: looked at without
    opening it with SQLite, which would create a missing file or write to an empty one."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return "does not exist" if must_exist else None
    except OSError as error:
        return f"cannot be read: {error.strerror}"
    if stat.S_ISDIR(info.st_mode):
        return "is a folder"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if info.st_size == 0:
        return "is empty" if must_exist else None
    try:
        with open(path, "rb") as data:
            head = data.read(len(SQLITE_MAGIC))
    except OSError as error:
        return f"cannot be read: {error.strerror}"
    return None if head == SQLITE_MAGIC else "is not an SQLite database"


# Private temporary folders (a restore's copies of blobs, the bot's pywikibot folder with its session
# cookie) are made 0700 by tempfile, and removed when their process ends normally. A process killed
# with -9 cannot remove them, so each holds an flock on a file inside for as long as it lives: the
# kernel drops the lock with the process, and the next start removes exactly the folders whose lock
# it can take, never one of a live process (another user's or another restore's).
OWNER_LOCK = ".owner.lock"
_held_locks: list[int] = []  # descriptors kept open (locks held) for the life of this process


def owned_tempdir(prefix: str) -> Path:
    """A new private temporary folder `<tmp>/<prefix>XXXX`, marked as this process's while it lives."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix=prefix))
    fd = os.open(path / OWNER_LOCK, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    _held_locks.append(fd)
    return path


def sweep_stale_tempdirs(prefix: str) -> list[Path]:
    """Remove the folders `owned_tempdir(prefix)` made whose process is gone; returns them. A folder
    without its lock file (being made this instant, or not ours) is left alone."""
    import shutil
    import tempfile

    removed = []
    for path in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        try:
            if path.is_symlink() or not path.is_dir() or path.stat().st_uid != os.getuid():
                continue
            fd = os.open(path / OWNER_LOCK, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # its process lives
        finally:
            os.close(fd)
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed
