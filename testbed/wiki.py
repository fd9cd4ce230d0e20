"""A MediaWiki 1.39 from Debian's package, on SQLite, served by `php -S` on 127.0.0.1.

The package's code is read-only and shared: each wiki gets a root folder of symlinks to it with
its own LocalSettings.php, images/ and database, and MW_INSTALL_PATH names that root (without it
PHP resolves the symlinks and MediaWiki looks for /etc/mediawiki/LocalSettings.php).
"""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import requests

from testbed import procs

CODE_CANDIDATES = (
    os.environ.get("MEDIARESCUE_MEDIAWIKI_CODE", ""),
    str(Path(os.environ.get("MEDIARESCUE_CACHE", Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                            / "mediarescue")) / "mediawiki/usr/share/mediawiki"),
    "/usr/share/mediawiki",
)
# Links in the package that point into /etc and /var; the wiki root has its own of each.
_OWN_ENTRIES = {"LocalSettings.php", "images", "config", "extensions", "cache"}
BOT_USER, BOT_APP = "MediarescueBot", "mediarescue"
SEED_USER, SEED_APP = "Seeder", "seed"
OVERSIGHT_USER, OVERSIGHT_APP = "Oversighter", "oversight"
VANDAL_USER, VANDAL_APP = "Vandal", "vandal"  # an incident's author: a sysop, not a bot (rollback's tests)
BOT_GRANTS = "basic,highvolume,uploadfile,uploadeditmovefile,delete,viewdeleted,editpage,createeditmovepage"
# The same bot account logged in through a bot password without `viewdeleted`: no deletedhistory,
# so no filearchive and no hidden log entries (what a wiki may grant a recovery bot at first).
NO_DELETED_APP, NO_DELETED_GRANTS = "nodeleted", "basic,highvolume,uploadfile,uploadeditmovefile,editpage"
# What a recovery bot needs beyond the 'user' and 'bot' groups' defaults.
BOT_RIGHTS = ("delete", "bigdelete", "deletedhistory", "deletedtext", "undelete", "browsearchive",
              "noratelimit")
PHP_INI = ("-d", "upload_max_filesize=200M", "-d", "post_max_size=210M", "-d", "memory_limit=512M")


@dataclass(frozen=True)
class Account:
    user: str           # log in as this (User@app for a bot password)
    password: str


def mediawiki_code() -> Path:
    for candidate in CODE_CANDIDATES:
        if candidate and (Path(candidate) / "api.php").is_file():
            return Path(candidate)
    raise procs.TestBedError("MediaWiki's code is missing: run scripts/setup")


def _php(root: Path, *args: str) -> str:
    env = dict(os.environ, MW_INSTALL_PATH=str(root))
    done = subprocess.run(["php", *PHP_INI, *args], cwd=root, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise procs.TestBedError(f"php {args[0]} failed: {(done.stdout + done.stderr).strip()[-500:]}")
    return done.stdout


@dataclass(frozen=True)
class Accounts:
    bot: Account
    seeder: Account          # a sysop
    oversighter: Account     # a sysop in the suppress group: deletes and suppresses
    bot_no_deleted: Account  # the bot through a bot password without viewdeleted
    vandal: Account          # a compromised admin account: uploads, overwrites, deletes, moves


def install(bed_dir: Path, port: int) -> tuple[Path, Accounts]:
    """Build the wiki root, install MediaWiki on SQLite and create the accounts."""
    if not shutil.which("php"):
        raise procs.TestBedError("php is missing: run scripts/setup")
    code = mediawiki_code()
    root = bed_dir / "wiki"
    root.mkdir()
    for entry in code.iterdir():
        if entry.name not in _OWN_ENTRIES:
            (root / entry.name).symlink_to(entry)
    (root / "extensions").symlink_to(code / "extensions-core")
    for own in ("images", "cache"):
        (root / own).mkdir()
    (bed_dir / "db").mkdir()
    admin_password = secrets.token_hex(12)
    _php(root, "maintenance/install.php", "--dbtype=sqlite", f"--dbpath={bed_dir / 'db'}", "--dbname=wiki",
         f"--server=http://127.0.0.1:{port}", "--scriptpath=", f"--confpath={root}",
         f"--pass={admin_password}", "--lang=en", "mediarescue test wiki", "Admin")
    bot = _account(root, BOT_USER, BOT_APP, "--bot")
    return root, Accounts(bot=bot, seeder=_account(root, SEED_USER, SEED_APP, "--sysop"),
                          oversighter=_account(root, OVERSIGHT_USER, OVERSIGHT_APP, "--sysop",
                                               "--custom-groups=suppress", grants=BOT_GRANTS + ",oversight"),
                          bot_no_deleted=_bot_password(root, BOT_USER, NO_DELETED_APP, NO_DELETED_GRANTS),
                          vandal=_account(root, VANDAL_USER, VANDAL_APP, "--sysop"))


def _account(root: Path, user: str, app: str, *groups: str, grants: str = BOT_GRANTS) -> Account:
    # Hex: a password starting with "-" would be read as an option by the maintenance script.
    _php(root, "maintenance/createAndPromote.php", *groups, user, secrets.token_hex(12))
    return _bot_password(root, user, app, grants)


def _bot_password(root: Path, user: str, app: str, grants: str) -> Account:
    password = secrets.token_hex(16)  # MediaWiki takes bot passwords of exactly 32 characters
    _php(root, "maintenance/createBotPassword.php", f"--appid={app}", f"--grants={grants}", user, password)
    return Account(f"{user}@{app}", password)


def configure(root: Path, bed_dir: Path, file_settings: str) -> None:
    """Append the test bed's settings: uploads on, limits off for tests, the file backend."""
    rights = "\n".join(f"$wgGroupPermissions['bot']['{right}'] = true;" for right in BOT_RIGHTS)
    with open(root / "LocalSettings.php", "a") as settings:
        settings.write(f"""
# --- mediarescue test bed ---
$wgUseImageMagick = false;
$wgEnableUploads = true;
$wgFileExtensions = [ 'png', 'gif', 'jpg', 'jpeg', 'webp', 'svg', 'pdf', 'tif', 'tiff',
    'ogg', 'oga', 'ogv', 'webm', 'djvu' ];
$wgMaxUploadSize = 6 * 1024 * 1024 * 1024;
$wgEnableBotPasswords = true;
$wgRateLimits = [];
$wgJobRunRate = 0;
$wgGroupPermissions['sysop']['deleterevision'] = true;  # as on Wikimedia wikis: admins hide file versions
$wgEnableAsyncUploads = false;
$wgMainCacheType = CACHE_NONE;
$wgSessionCacheType = CACHE_DB;  # sessions must persist: login needs them
$wgShowExceptionDetails = true;
$wgDebugLogGroups['exception'] = '{bed_dir}/logs/mediawiki-exception.log';
$wgDebugLogGroups['error'] = '{bed_dir}/logs/mediawiki-error.log';
$wgDBservers = [ [
    'type' => 'sqlite', 'host' => '', 'dbname' => $wgDBname, 'user' => '', 'password' => '',
    'dbDirectory' => $wgSQLiteDataDir, 'flags' => DBO_DEFAULT, 'load' => 1,
    'variables' => [ 'synchronous' => 'OFF' ], 'trxMode' => 'IMMEDIATE',
] ];
{rights}
{file_settings}
""")


def swift_settings(auth_base: str, user: str, key: str, wiki_id: str, sharded: bool,
                   upload_url: str, thumb_url: str) -> str:
    """SwiftFileBackend as Wikimedia production configures it (big-wiki sharding optional)."""
    levels = 2 if sharded else 0
    shards = ", ".join(f"'local-{zone}' => [ 'levels' => {levels}, 'base' => 16, 'repeat' => 1 ]"
                       for zone in ("public", "thumb", "temp", "transcoded"))
    return f"""$wgUploadPath = '{upload_url}';
$wgFileBackends[] = [
    'class' => 'SwiftFileBackend', 'name' => 'swift-backend', 'wikiId' => '{wiki_id}',
    'lockManager' => 'nullLockManager',
    'swiftAuthUrl' => '{auth_base}', 'swiftUser' => '{user}', 'swiftKey' => '{key}',
    'shardViaHashLevels' => [ {shards},
        'local-deleted' => [ 'levels' => {levels}, 'base' => 36, 'repeat' => 0 ] ],
    'parallelize' => 'implicit', 'cacheAuthInfo' => true,
];
$wgLocalFileRepo = [
    'class' => 'LocalRepo', 'name' => 'local', 'backend' => 'swift-backend',
    'url' => $wgUploadPath, 'scriptDirUrl' => $wgScriptPath,
    'hashLevels' => 2, 'deletedHashLevels' => 3,
    'thumbScriptUrl' => false, 'transformVia404' => false,
    'zones' => [ 'thumb' => [ 'url' => '{thumb_url}' ] ],
];
"""


def serve(bed_dir: Path, root: Path, port: int, workers: int = 4) -> None:
    env = dict(os.environ, MW_INSTALL_PATH=str(root), PHP_CLI_SERVER_WORKERS=str(workers))
    proc = procs.start(bed_dir, "php", ["php", *PHP_INI, "-S", f"127.0.0.1:{port}", "-t", str(root)],
                       env=env, cwd=root)
    api = f"http://127.0.0.1:{port}/api.php?action=query&meta=siteinfo&format=json"
    procs.wait_until(lambda: _api_answers(api), "MediaWiki (php -S)", proc, bed_dir / "logs" / "php.log")


def _api_answers(url: str) -> bool:
    try:
        return "query" in requests.get(url, timeout=5).json()
    except (requests.RequestException, ValueError):
        return False
