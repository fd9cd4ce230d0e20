"""Start, stop and describe a whole test bed: Swift (unless the wiki is filesystem-backed) and a
MediaWiki storing its media in it. The same code serves scripts/testbed and the pytest fixtures."""
from __future__ import annotations

import json
import os
import shutil
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from testbed import postgres, procs, swift_server, wiki
from testbed.procs import TestBedError

INFO = "testbed.json"
# Where beds live unless told otherwise: the tests', the benchmarks' and `scripts/testbed`'s alike.
BEDS = Path(os.environ.get("MEDIARESCUE_TESTBEDS", Path(__file__).resolve().parents[1] / ".testbed"))
WIKI_ID = "wikipedia-commons"
URL_PREFIX = "/wikipedia/commons"


@dataclass(frozen=True)
class Profile:
    name: str
    swift: bool
    sharded: bool
    description: str


PROFILES = {p.name: p for p in (
    Profile("swift", True, True, "production-shaped: sharded Swift containers, upload.wikimedia.org-style URLs"),
    Profile("swift-flat", True, False, "Swift without sharding, file URLs straight to the public container"),
    Profile("fs", False, False, "filesystem-backed wiki, no Swift"),
)}


@dataclass(frozen=True)
class TestBed:
    __test__ = False  # not a pytest test class

    dir: Path
    profile: str
    api_url: str
    wiki_root: Path
    upload_url: str
    bot_user: str
    bot_password: str
    seed_user: str
    seed_password: str
    oversight_user: str        # a sysop in the suppress group
    oversight_password: str
    bot_no_deleted_user: str   # the bot through a bot password without viewdeleted (no deletedhistory)
    bot_no_deleted_password: str
    swift_auth_url: str | None = None
    swift_user: str | None = None
    swift_key: str | None = None
    wiki_id: str | None = None
    sharded: bool = False
    catalog_url: str | None = None       # a PostgreSQL catalog's URL (`start(catalog="postgres")`), no password
    catalog_password: str | None = None
    vandal_user: str = ""      # a sysop, not a bot: the author of rollback's scripted incident
    vandal_password: str = ""

    @property
    def images_dir(self) -> Path:
        """Where a filesystem-backed wiki keeps its media."""
        return self.wiki_root / "images"

    def env(self) -> dict[str, str]:
        values = {"MEDIARESCUE_API_URL": self.api_url, "MEDIARESCUE_BOT_USER": self.bot_user,
                  "MEDIARESCUE_BOT_PASSWORD": self.bot_password, "MEDIARESCUE_UPLOAD_URL": self.upload_url}
        if self.swift_auth_url:
            values |= {"MEDIARESCUE_SWIFT_AUTH_URL": self.swift_auth_url, "MEDIARESCUE_SWIFT_USER": self.swift_user,
                       "MEDIARESCUE_SWIFT_KEY": self.swift_key, "MEDIARESCUE_SWIFT_WIKI_ID": self.wiki_id,
                       "MEDIARESCUE_SWIFT_SHARDED": "1" if self.sharded else "0"}
        if self.catalog_url:
            values |= {"MEDIARESCUE_CATALOG_URL": self.catalog_url,
                       "MEDIARESCUE_CATALOG_PASSWORD": self.catalog_password}
        return values


    def write_config(self, path: Path, catalog: Path | str, blobs: Path, swift: bool = True, name: str = "testbed",
                     workers: int = 4) -> Path:
        """A mediarescue config for this wiki, the secrets in files beside it (mode 0600). With
        `swift`, the collector reads bytes straight from the test bed's Swift. `catalog`: a path, or
        a URL of this bed's PostgreSQL (its password goes in a file too)."""
        secrets_dir = path.parent / f"{path.stem}-secrets"
        secrets_dir.mkdir(parents=True, exist_ok=True)
        _private_write(secrets_dir / "bot-password", self.bot_password)
        text = f'catalog = "{catalog}"\n'
        if str(catalog).startswith("postgresql://") and self.catalog_password:
            _private_write(secrets_dir / "catalog-password", self.catalog_password)
            text += f'catalog_password_file = "{secrets_dir / "catalog-password"}"\n'
        text += (f'blobs = "{blobs}"\ncontact = "mediarescue test bed"\n\n'
                f'[wiki.{name}]\napi_url = "{self.api_url}"\nuser = "{self.bot_user}"\n'
                f'password_file = "{secrets_dir / "bot-password"}"\nworkers = {workers}\n')
        if swift and self.swift_auth_url:
            _private_write(secrets_dir / "swift-key", self.swift_key)
            text += (f'\n[wiki.{name}.swift]\nauth_url = "{self.swift_auth_url}"\nuser = "{self.swift_user}"\n'
                     f'key_file = "{secrets_dir / "swift-key"}"\nwiki_id = "{self.wiki_id}"\n'
                     f'sharded = {str(self.sharded).lower()}\n')
        path.write_text(text)
        return path


def _private_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    tmp.replace(path)


def _claim(bed_dir: Path) -> None:
    """Make `bed_dir` an empty test bed folder; refuse any folder that is not one of ours."""
    if not bed_dir.parent.is_dir():
        raise TestBedError(f"folder {bed_dir.parent} does not exist")
    if bed_dir.exists():
        if not bed_dir.is_dir():
            raise TestBedError(f"{bed_dir} is not a folder")
        if any(bed_dir.iterdir()) and not (bed_dir / INFO).exists():
            raise TestBedError(f"{bed_dir} is not empty and holds no test bed: refusing to use it")
        if procs.running(bed_dir):
            raise TestBedError(f"a test bed is already running in {bed_dir}: stop it first")
        shutil.rmtree(bed_dir)
    bed_dir.mkdir()
    (bed_dir / INFO).write_text(json.dumps({"state": "starting"}))


CATALOGS = ("sqlite", "postgres")


def start(bed_dir: Path, profile: str = "swift", port: int | None = None, catalog: str = "sqlite") -> TestBed:
    """A fresh test bed in `bed_dir`; with catalog="postgres", a PostgreSQL server for the catalog too."""
    if profile not in PROFILES:
        raise TestBedError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
    if catalog not in CATALOGS:
        raise TestBedError(f"unknown catalog {catalog!r}: choose one of {', '.join(CATALOGS)}")
    chosen = PROFILES[profile]
    bed_dir = bed_dir.resolve()
    if port is not None:
        procs.check_port_free(port)
    _claim(bed_dir)
    try:
        return _start(bed_dir, chosen, port or procs.free_port(), catalog)
    except BaseException:
        procs.stop_all(bed_dir)
        raise


def _start(bed_dir: Path, profile: Profile, port: int, catalog: str) -> TestBed:
    swift_result: dict[str, object] = {}

    def start_swift() -> None:
        try:
            swift_result["swift"] = swift_server.start(bed_dir, WIKI_ID, URL_PREFIX, profile.sharded)
        except BaseException as error:  # handed to the main thread below
            swift_result["error"] = error

    swift_thread = threading.Thread(target=start_swift)
    if profile.swift:
        swift_thread.start()
    try:
        root, accounts = wiki.install(bed_dir, port)
    finally:
        if profile.swift:
            swift_thread.join()
    if "error" in swift_result:
        raise swift_result["error"]

    extra_fields: dict[str, object] = {}
    if profile.swift:
        swift: swift_server.Swift = swift_result["swift"]
        if profile.sharded:
            upload_url = f"http://127.0.0.1:{swift.proxy_port}{URL_PREFIX}"
            thumb_url = upload_url + "/thumb"
        else:
            upload_url = f"{swift.storage_url}/{WIKI_ID}-local-public"
            thumb_url = f"{swift.storage_url}/{WIKI_ID}-local-thumb"
        auth_base = swift.auth_url.removesuffix("/v1.0")  # MediaWiki appends it
        file_settings = wiki.swift_settings(auth_base, swift_server.USER, swift.key, WIKI_ID, profile.sharded,
                                            upload_url, thumb_url)
        extra_fields = {"swift_auth_url": swift.auth_url, "swift_user": swift_server.USER, "swift_key": swift.key,
                        "wiki_id": WIKI_ID, "sharded": profile.sharded}
    else:
        upload_url = f"http://127.0.0.1:{port}/images"
        file_settings = ""
    wiki.configure(root, bed_dir, file_settings)
    wiki.serve(bed_dir, root, port)
    if catalog == "postgres":
        server = postgres.start(bed_dir)
        extra_fields |= {"catalog_url": server.url, "catalog_password": server.password}
    bed = TestBed(dir=bed_dir, profile=profile.name, api_url=f"http://127.0.0.1:{port}/api.php", wiki_root=root,
                  upload_url=upload_url, bot_user=accounts.bot.user, bot_password=accounts.bot.password,
                  seed_user=accounts.seeder.user, seed_password=accounts.seeder.password,
                  oversight_user=accounts.oversighter.user, oversight_password=accounts.oversighter.password,
                  bot_no_deleted_user=accounts.bot_no_deleted.user,
                  bot_no_deleted_password=accounts.bot_no_deleted.password,
                  vandal_user=accounts.vandal.user, vandal_password=accounts.vandal.password, **extra_fields)
    info = {key: str(value) if isinstance(value, Path) else value for key, value in asdict(bed).items()}
    _private_write(bed_dir / INFO, json.dumps(info, indent=1))
    _private_write(bed_dir / "testbed.env", "".join(f"export {k}='{v}'\n" for k, v in bed.env().items()))
    return bed


def load(bed_dir: Path) -> TestBed:
    try:
        info = json.loads((bed_dir / INFO).read_text())
    except FileNotFoundError:
        raise TestBedError(f"no test bed in {bed_dir}") from None
    if info.get("state") == "starting":
        raise TestBedError(f"the test bed in {bed_dir} did not finish starting")
    return TestBed(**{**info, "dir": Path(info["dir"]), "wiki_root": Path(info["wiki_root"])})


def stop(bed_dir: Path) -> list[str]:
    """End every process this test bed started; its files stay for a look afterwards."""
    if not bed_dir.is_dir():
        raise TestBedError(f"folder {bed_dir} does not exist")
    if not (bed_dir / INFO).exists() and not (bed_dir / procs.RECORDS).exists():
        raise TestBedError(f"no test bed in {bed_dir}")
    return procs.stop_all(bed_dir)
