"""One TOML config file, read once into a frozen object that is passed around explicitly.

    catalog = "catalog.db"          # relative paths are relative to the config file
    blobs = "blobs"
    contact = "ops@example.org"     # goes into the User-Agent, as Wikimedia's policy asks

    [wiki.commons]
    api_url = "https://commons.wikimedia.org/w/api.php"
    user = "MediarescueBot@mediarescue"     # a bot password login
    password_file = "/etc/mediarescue/commons-password"   # or password_env = "VAR"
    workers = 8

    [wiki.commons.swift]            # optional: read bytes straight from the wiki's Swift
    auth_url = "https://swift.example/auth/v1.0"
    user = "mw:media"
    key_file = "/etc/mediarescue/commons-swift-key"       # or key_env = "VAR"
    wiki_id = "wikipedia-commons"
    sharded = true

Secrets never live in the file itself: they come from a file or an environment variable, and the
variables MEDIARESCUE_<WIKI>_PASSWORD and MEDIARESCUE_<WIKI>_SWIFT_KEY override both.
"""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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
class WikiConfig:
    name: str
    api_url: str
    user: str
    password: str = field(repr=False)
    workers: int = 4
    maxlag: int = 5
    swift: SwiftSource | None = None


@dataclass(frozen=True)
class Config:
    path: Path
    catalog: Path
    blobs: Path
    contact: str
    wikis: dict[str, WikiConfig]

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
            return path.read_text().strip()
        except OSError as error:
            raise ConfigError(f"{where}{name}_file: cannot read {path}: {error.strerror}") from None
    raise ConfigError(f"{where}{name}_file (or {name}_env, or ${env_override}) is missing")


def _env_name(wiki: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", wiki.upper())


def _wiki(name: str, table: Any, base: Path) -> WikiConfig:
    where = f"wiki.{name}."
    if not isinstance(table, dict):
        raise ConfigError(f"wiki.{name} must be a table")
    api_url = _get(table, "api_url", where, str)
    if not re.match(r"^https?://[^/]+/.*api\.php$", api_url):
        raise ConfigError(f"{where}api_url must be the http(s) URL of an api.php, not {api_url!r}")
    workers = _get(table, "workers", where, int, 4)
    if not 1 <= workers <= 64:
        raise ConfigError(f"{where}workers must be between 1 and 64, not {workers}")
    swift = None
    if "swift" in table:
        s, swhere = table["swift"], f"{where}swift."
        swift = SwiftSource(auth_url=_get(s, "auth_url", swhere, str), user=_get(s, "user", swhere, str),
                            key=_secret(s, swhere, "key", f"MEDIARESCUE_{_env_name(name)}_SWIFT_KEY", base),
                            wiki_id=_get(s, "wiki_id", swhere, str), sharded=_get(s, "sharded", swhere, bool, False))
    return WikiConfig(name=name, api_url=api_url, user=_get(table, "user", where, str),
                      password=_secret(table, where, "password", f"MEDIARESCUE_{_env_name(name)}_PASSWORD", base),
                      workers=workers, maxlag=_get(table, "maxlag", where, int, 5), swift=swift)


def load(path: Path | str) -> Config:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    base = path.parent

    def local_path(key: str) -> Path:
        return base / _get(data, key, "", str)

    wikis = _get(data, "wiki", "", dict, {})
    return Config(path=path, catalog=local_path("catalog"), blobs=local_path("blobs"),
                  contact=_get(data, "contact", "", str), wikis={n: _wiki(n, t, base) for n, t in wikis.items()})
