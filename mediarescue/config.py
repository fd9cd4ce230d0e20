"""One TOML config file, read once into a frozen object that is passed around explicitly.

    catalog = "catalog.db"          # relative paths are relative to the config file; or PostgreSQL:
                                    # "postgresql://mediarescue@db.example:5432/mediarescue?sslmode=verify-full"
    catalog_password_file = "/etc/mediarescue/catalog-password"   # PostgreSQL only (or catalog_password_env)
    blobs = "blobs"                 # a local blob directory, or a [blobs_swift] table instead
    contact = "ops@example.org"     # goes into the User-Agent, as Wikimedia's policy asks
    encryption_key_file = "/etc/mediarescue/blob-key"   # optional (or encryption_key_env): seals
                                    # deleted content at rest; make one with `mediarescue keygen FILE`
    metrics_file = "/var/lib/prometheus/node-exporter/mediarescue.prom"  # optional: metrics after each run
    max_age_hours = 26              # `status` exits 1 when no backup run finished for longer (default 26)

    [metadata]                      # optional: the catalog's copies in the blob store
    full_share = 0.25               # a full copy instead of a delta once the deltas since the last
    full_days = 30                  # full copy reach this share of it, or it is this many days old

    [blobs_swift]                   # optional: blobs in a Swift account instead of `blobs`
    auth_url = "https://swift.example/auth/v1.0"
    user = "mediarescue:backup"
    key_file = "/etc/mediarescue/blobs-swift-key"        # or key_env = "VAR"
    container_prefix = "mediarescue-blobs"               # containers <prefix>-00 ... <prefix>-ff
    segment_size = 1073741824       # larger blobs are uploaded as static large objects
    spool = "/var/tmp/mediarescue"  # local temporary files (up to a whole blob each); default: $TMPDIR

    [wiki.commons]
    api_url = "https://commons.wikimedia.org/w/api.php"
    user = "MediarescueBot@mediarescue"     # a bot password login
    password_file = "/etc/mediarescue/commons-password"   # or password_env = "VAR"
    workers = 8
    url_rewrite = "https://upload.wikimedia.org=http://cache.local"   # optional: file URLs via a cache
    upload_dir = "/srv/mediawiki/images"    # optional: the wiki's upload directory ($wgUploadDirectory),
                                    # readable here: bytes are read from it, deleted versions included

    [wiki.commons.swift]            # optional: read bytes straight from the wiki's Swift
    auth_url = "https://swift.example/auth/v1.0"
    user = "mw:media"
    key_file = "/etc/mediarescue/commons-swift-key"       # or key_env = "VAR"
    wiki_id = "wikipedia-commons"
    sharded = true

Secrets never live in the file itself: they come from a file or an environment variable, and the
variables MEDIARESCUE_<WIKI>_PASSWORD and MEDIARESCUE_<WIKI>_SWIFT_KEY override both (and
MEDIARESCUE_BLOBS_SWIFT_KEY, MEDIARESCUE_ENCRYPTION_KEY for the blob store's, and
MEDIARESCUE_CATALOG_PASSWORD for a PostgreSQL catalog's).
"""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from mediarescue.catalog.engine import PASSWORD_ENV, PostgresURL, is_url
from mediarescue.transport import plain_to_remote


class ConfigError(Exception):
    """A missing or wrong setting; the message names the key."""


@dataclass(frozen=True)
class SwiftSource:
    auth_url: str
    user: str
    key: str = field(repr=False)
    wiki_id: str
    sharded: bool


@dataclass(frozen=True)
class SwiftBlobs:
    """The blob store in a Swift account (mediarescue.blobstore.swift)."""
    auth_url: str
    user: str
    key: str = field(repr=False)
    container_prefix: str = "mediarescue-blobs"
    segment_size: int = 1 << 30
    spool: Path | None = None


@dataclass(frozen=True)
class WikiConfig:
    name: str
    api_url: str
    user: str
    password: str = field(repr=False)
    workers: int = 4
    maxlag: int = 5
    swift: SwiftSource | None = None
    url_rewrite: tuple[str, str] | None = None  # file URLs starting with [0] are read from [1] + the rest
    upload_dir: Path | None = None  # the wiki's $wgUploadDirectory, readable here (public, archive, deleted)


@dataclass(frozen=True)
class Config:
    path: Path
    catalog: Path | PostgresURL  # a file (SQLite), or a PostgreSQL URL with its password
    blobs: Path | None  # None when the blobs are in Swift (`blobs_swift`)
    contact: str
    wikis: dict[str, WikiConfig]
    blobs_swift: SwiftBlobs | None = None
    encryption_key: bytes | None = field(default=None, repr=False)  # 32 bytes; None: private content unsealed
    encryption_key_source: str = "encryption_key_file"  # where the key came from, named when it is the wrong one
    metrics_file: Path | None = None  # a textfile for node_exporter, written after each batch run
    max_age_hours: float = 26.0       # status: no backup run finished for longer needs attention
    metadata_full_share: float = 0.25  # [metadata] full_share
    metadata_full_days: float = 30.0  # [metadata] full_days

    @property
    def reports_dir(self) -> Path:
        """Where restore and rollback reports go by default: reports/ beside the catalog's file, or
        beside the config for a PostgreSQL catalog (it has no folder of its own here)."""
        return (self.catalog.parent if isinstance(self.catalog, Path) else self.path.parent) / "reports"

    def wiki(self, name: str | None) -> WikiConfig:
        if name is None:
            if len(self.wikis) != 1:
                raise ConfigError(f"{self.path} names {len(self.wikis)} wikis: choose one with --wiki "
                                  f"({', '.join(self.wikis) or 'none configured'})")
            return next(iter(self.wikis.values()))
        if name not in self.wikis:
            raise ConfigError(f"wiki.{name} is not in {self.path} (configured: {', '.join(self.wikis) or 'none'})")
        return self.wikis[name]


def _get(table: dict, key: str, where: str, kind: type, default: Any = ...) -> Any:
    if key not in table:
        if default is ...:
            raise ConfigError(f"{where}{key} is missing")
        return default
    value = table[key]
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigError(f"{where}{key} must be a {kind.__name__}, not {value!r}")
    return value


def _secret(table: dict, where: str, name: str, env_override: str, base: Path) -> str:
    """A secret from the override variable, else `<name>_env`, else `<name>_file`."""
    if os.environ.get(env_override):
        return os.environ[env_override]
    if f"{name}_env" in table:
        var = _get(table, f"{name}_env", where, str)
        if not os.environ.get(var):
            raise ConfigError(f"{where}{name}_env names {var}, which is not set")
        return os.environ[var]
    if f"{name}_file" in table:
        path = base / _get(table, f"{name}_file", where, str)
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConfigError(f"{where}{name}_file: cannot read {path}: {error.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{where}{name}_file: {path} is not UTF-8 text") from None
    raise ConfigError(f"{where}{name}_file (or {name}_env, or ${env_override}) is missing")


def _env_name(wiki: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", wiki.upper())


def _url(table: dict, key: str, where: str) -> str:
    """An http(s) URL that passwords or keys are sent to: plain http only to this machine, unless
    the table says `allow_insecure = true` (bot passwords and Swift keys would cross in clear)."""
    url = _get(table, key, where, str)
    if not re.match(r"^https?://[^/]+", url, re.IGNORECASE):
        raise ConfigError(f"{where}{key} must be an http(s) URL, not {url!r}")
    if plain_to_remote(url) and not _get(table, "allow_insecure", where, bool, False):
        raise ConfigError(f"{where}{key} is plain http to a host that is not this machine: credentials would "
                          f"cross the network unencrypted; use https, or set {where}allow_insecure = true")
    return url


def _wiki(name: str, table: Any, base: Path) -> WikiConfig:
    where = f"wiki.{name}."
    if not isinstance(table, dict):
        raise ConfigError(f"wiki.{name} must be a table")
    api_url = _url(table, "api_url", where)
    if not re.match(r"^https?://[^/]+/.*api\.php$", api_url):
        raise ConfigError(f"{where}api_url must be the http(s) URL of an api.php, not {api_url!r}")
    workers = _get(table, "workers", where, int, 4)
    if not 1 <= workers <= 64:
        raise ConfigError(f"{where}workers must be between 1 and 64, not {workers}")
    maxlag = _get(table, "maxlag", where, int, 5)
    if maxlag < 0:
        raise ConfigError(f"{where}maxlag must be 0 or more seconds, not {maxlag}")
    swift = None
    if "swift" in table:
        s, swhere = table["swift"], f"{where}swift."
        if not isinstance(s, dict):
            raise ConfigError(f"{where}swift must be a table")
        swift = SwiftSource(auth_url=_url(s, "auth_url", swhere), user=_get(s, "user", swhere, str),
                            key=_secret(s, swhere, "key", f"MEDIARESCUE_{_env_name(name)}_SWIFT_KEY", base),
                            wiki_id=_get(s, "wiki_id", swhere, str), sharded=_get(s, "sharded", swhere, bool, False))
    upload_dir = _get(table, "upload_dir", where, str, None)
    if upload_dir is not None and swift is not None:
        raise ConfigError(f"{where}upload_dir and {where}swift both say where the wiki keeps its files: keep one")
    return WikiConfig(name=name, api_url=api_url, user=_get(table, "user", where, str),
                      password=_secret(table, where, "password", f"MEDIARESCUE_{_env_name(name)}_PASSWORD", base),
                      workers=workers, maxlag=maxlag, swift=swift, url_rewrite=_url_rewrite(table, where),
                      upload_dir=base / upload_dir if upload_dir is not None else None)


def _url_rewrite(table: dict, where: str) -> tuple[str, str] | None:
    """`url_rewrite = "FROM=TO"`: read file URLs that start with FROM from TO instead (a cache or a
    proxy in front of the media servers; the benchmarks' latency proxy)."""
    text = _get(table, "url_rewrite", where, str, None)
    if text is None:
        return None
    prefix, _, replacement = text.partition("=")
    if not (re.match(r"^https?://", prefix) and re.match(r"^https?://", replacement)):
        raise ConfigError(f"{where}url_rewrite must be \"http(s)://FROM=http(s)://TO\", not {text!r}")
    return prefix, replacement


def load(path: Path | str) -> Config:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a folder") from None
    except OSError as error:
        raise ConfigError(f"config file {path} cannot be read: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path} is not UTF-8 text (byte {error.start} cannot be decoded)") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    base = path.parent

    def local_path(key: str) -> Path:
        return base / _get(data, key, "", str)

    wikis = _get(data, "wiki", "", dict, {})
    blobs_swift = _blobs_swift(data["blobs_swift"], base) if "blobs_swift" in data else None
    if blobs_swift and "blobs" in data:
        raise ConfigError("blobs and [blobs_swift] both name a blob store: keep one")
    max_age = data.get("max_age_hours", 26.0)
    if isinstance(max_age, bool) or not isinstance(max_age, (int, float)) or max_age <= 0:
        raise ConfigError(f"max_age_hours must be a number of hours above 0, not {max_age!r}")
    return Config(path=path, catalog=_catalog(data, base), blobs=None if blobs_swift else local_path("blobs"),
                  contact=_get(data, "contact", "", str), wikis={n: _wiki(n, t, base) for n, t in wikis.items()},
                  blobs_swift=blobs_swift, encryption_key=_encryption_key(data, base),
                  encryption_key_source=_key_source(data),
                  metrics_file=local_path("metrics_file") if "metrics_file" in data else None,
                  max_age_hours=float(max_age), **_metadata(_get(data, "metadata", "", dict, {})))


def _catalog(data: dict, base: Path) -> Path | PostgresURL:
    """`catalog`: a path (SQLite), or `postgresql://user@host:port/db` with the password from
    `catalog_password_file`, `catalog_password_env` or $MEDIARESCUE_CATALOG_PASSWORD; never in the URL.
    A host other than this machine needs TLS (sslmode=require or verify-*) unless
    `catalog_allow_insecure = true`: the password and every private row would cross in clear."""
    text = _get(data, "catalog", "", str)
    if not is_url(text):
        return base / text
    parts = urlsplit(text)
    if parts.password is not None:
        raise ConfigError("catalog holds a password: keep it out of the URL, in catalog_password_file or "
                          f"${PASSWORD_ENV}")
    if not parts.hostname or not parts.path.strip("/"):
        raise ConfigError(f"catalog must be postgresql://USER@HOST:PORT/DATABASE, not {text[:80]!r}")
    sslmode = dict(parse_qsl(parts.query)).get("sslmode", "")
    local = parts.hostname in ("localhost", "127.0.0.1", "::1") or parts.hostname.startswith("127.")
    if not local and sslmode not in ("require", "verify-ca", "verify-full") \
            and not _get(data, "catalog_allow_insecure", "", bool, False):
        raise ConfigError("catalog is a PostgreSQL server on another host without TLS: add ?sslmode=verify-full "
                          "(or require) to the URL, or set catalog_allow_insecure = true")
    password = None
    if any(k in data for k in ("catalog_password_file", "catalog_password_env")) or os.environ.get(PASSWORD_ENV):
        password = _secret(data, "", "catalog_password", PASSWORD_ENV, base)
    return PostgresURL(text, password)


def _metadata(table: dict) -> dict[str, float]:
    share, days = table.get("full_share", 0.25), table.get("full_days", 30)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 10:
        raise ConfigError(f"metadata.full_share must be a number above 0 and at most 10, not {share!r}")
    if isinstance(days, bool) or not isinstance(days, (int, float)) or not 0 < days <= 3650:
        raise ConfigError(f"metadata.full_days must be a number of days above 0, at most 3650, not {days!r}")
    return {"metadata_full_share": float(share), "metadata_full_days": float(days)}


def _blobs_swift(table: Any, base: Path) -> SwiftBlobs:
    where = "blobs_swift."
    if not isinstance(table, dict):
        raise ConfigError("blobs_swift must be a table")
    prefix = _get(table, "container_prefix", where, str, "mediarescue-blobs")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,200}", prefix):
        raise ConfigError(f"{where}container_prefix must be letters, digits, '-', '_' or '.', not {prefix!r}")
    segment = _get(table, "segment_size", where, int, 1 << 30)
    if not 1 << 20 <= segment <= 5 << 30:  # Swift refuses objects over 5 GiB
        raise ConfigError(f"{where}segment_size must be between 1 MiB and 5 GiB, not {segment}")
    spool = _get(table, "spool", where, str, None)
    return SwiftBlobs(auth_url=_url(table, "auth_url", where), user=_get(table, "user", where, str),
                      key=_secret(table, where, "key", "MEDIARESCUE_BLOBS_SWIFT_KEY", base), container_prefix=prefix,
                      segment_size=segment, spool=base / spool if spool else None)


def _encryption_key(data: dict, base: Path) -> bytes | None:
    """The master key that seals private content, or None when none is configured."""
    from mediarescue.blobstore.crypto import parse_key  # the cryptography package only where keys are read

    if not any(k in data for k in ("encryption_key_file", "encryption_key_env")) \
            and not os.environ.get("MEDIARESCUE_ENCRYPTION_KEY"):
        return None
    text = _secret(data, "", "encryption_key", "MEDIARESCUE_ENCRYPTION_KEY", base)
    try:
        return parse_key(text)
    except ValueError as error:
        raise ConfigError(f"{_key_source(data)} {error}; make a key with `mediarescue keygen FILE`") from None


def _key_source(data: dict) -> str:
    """Where the encryption key is read from (the order of _secret), for messages about it."""
    return ("$MEDIARESCUE_ENCRYPTION_KEY" if os.environ.get("MEDIARESCUE_ENCRYPTION_KEY")
            else "encryption_key_env" if "encryption_key_env" in data else "encryption_key_file")
