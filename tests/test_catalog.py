"""The catalog and the config on real SQLite files and real directories."""
from __future__ import annotations

from pathlib import Path

import pytest

from collector import config as configuration
from collector.catalog import Catalog, CatalogBusy
from collector.mediawiki import canonical_title


def _version(title: str, sha1: str, timestamp: str = "2026-01-01T00:00:00Z", status: str = "current") -> dict:
    return {"wiki": "w", "title": title, "title_at_upload": title, "timestamp": timestamp, "size": 3,
            "sha1": sha1, "status": status, "private": int(status == "deleted")}


def test_recording_the_same_versions_again_keeps_their_ids_and_adds_no_rows(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "c.db")
    first = catalog.start_run("w", "full")
    pending = catalog.record_versions(first, [_version("File:A.png", "a" * 40), _version("File:B.png", "b" * 40)])
    catalog.stored(pending[0].id, "1" * 64, "a" * 40, 3, True, first)
    second = catalog.start_run("w", "full")
    again = catalog.record_versions(second, [_version("File:B.png", "b" * 40), _version("File:A.png", "a" * 40,
                                                                                          status="old")])
    assert [p.title for p in again] == ["File:B.png"]  # A's bytes are stored: nothing to fetch
    assert again[0].id == pending[1].id
    rows = catalog.find(wiki="w")
    assert len(rows) == 2
    a = catalog.find(title="File:A.png")[0]
    assert (a["id"], a["status"], a["first_run"], a["last_run"], a["sha256"]) == (pending[0].id, "old", first, second,
                                                                                  "1" * 64)
    [new] = catalog.record_versions(second, [_version("File:C.png", "d" * 40)])
    assert new.id == 3  # seeing known versions again used up no ids
    assert catalog.run(first)["status"] == "interrupted"  # left running by a run that never finished
    assert catalog.run(second)["versions_seen"] == 3


def test_equal_sha1_with_different_sha256_is_a_collision_and_both_are_kept(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "c.db")
    run = catalog.start_run("w", "full")
    one, two = catalog.record_versions(run, [_version("File:A.pdf", "c" * 40), _version("File:B.pdf", "c" * 40)])
    catalog.stored(one.id, "1" * 64, "c" * 40, 3, True, run)
    assert catalog.collisions() == []
    catalog.stored(two.id, "2" * 64, "c" * 40, 3, True, run)
    [collision] = catalog.collisions()
    assert collision["sha1"] == "c" * 40 and collision["contents"] == 2
    assert {r["sha256"] for r in catalog.find(sha1="c" * 40)} == {"1" * 64, "2" * 64}
    assert [r["title"] for r in catalog.find(sha256="2" * 64)] == ["File:B.pdf"]


def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    holder = Catalog(tmp_path / "c.db")
    holder.lock()
    with pytest.raises(CatalogBusy):
        Catalog(tmp_path / "c.db").lock()
    holder.close()
    Catalog(tmp_path / "c.db").lock()  # free again once the holder is done


# The blob store's own tests, run on the local directory and on Swift alike: tests/test_blobstore.py.


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.toml"
    path.write_text(text)
    return path


GOOD = """catalog = "cat.db"
blobs = "blobs"
contact = "ops@example.org"
[wiki.commons]
api_url = "https://commons.example.org/w/api.php"
user = "Bot@app"
password_file = "pw"
"""


def test_config_resolves_paths_and_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pw").write_text("from-file\n")
    config = configuration.load(_config(tmp_path, GOOD))
    wiki = config.wiki(None)
    assert (config.catalog, config.blobs) == (tmp_path / "cat.db", tmp_path / "blobs")
    assert wiki.password == "from-file" and wiki.workers == 4 and wiki.swift is None
    assert "from-file" not in repr(config)
    monkeypatch.setenv("MEDIARESCUE_COMMONS_PASSWORD", "from-env")
    assert configuration.load(_config(tmp_path, GOOD)).wiki("commons").password == "from-env"


@pytest.mark.parametrize("change, message", [
    (("api_url = \"https://commons.example.org/w/api.php\"\n", ""), "wiki.commons.api_url is missing"),
    (("api_url = \"https://commons.example.org/w/api.php\"", "api_url = \"ftp://x/\""), "wiki.commons.api_url must"),
    (("password_file = \"pw\"", "password_file = \"nope\""), "wiki.commons.password_file: cannot read"),
    (("password_file = \"pw\"", "password_env = \"NO_SUCH_VAR_X\""), "NO_SUCH_VAR_X, which is not set"),
    (("contact = \"ops@example.org\"\n", ""), "contact is missing"),
    (("user = \"Bot@app\"", "user = \"Bot@app\"\nworkers = \"8\""), "wiki.commons.workers must be a int"),
    (("user = \"Bot@app\"", "user = \"Bot@app\"\n[wiki.commons.swift]\nuser = \"u\""), "wiki.commons.swift.auth_url"),
    (("[wiki.commons]", "[wiki.commons"), "is not valid TOML"),
])
def test_config_errors_name_the_key(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    (tmp_path / "pw").write_text("x")
    with pytest.raises(configuration.ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        configuration.load(_config(tmp_path, GOOD.replace(*change)))


def test_config_asks_which_wiki_when_there_are_several(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("x")
    two = GOOD + GOOD[GOOD.index("[wiki.commons]"):].replace("commons]", "meta]")
    config = configuration.load(_config(tmp_path, two))
    with pytest.raises(configuration.ConfigError, match="choose one with --wiki"):
        config.wiki(None)
    with pytest.raises(configuration.ConfigError, match="wiki.nope is not in"):
        config.wiki("nope")
    assert config.wiki("meta").name == "meta"


@pytest.mark.parametrize("typed, title", [
    ("Seed history.png", "File:Seed history.png"),
    ("File:Seed_history.png", "File:Seed history.png"),
    ("file:  seed   history.png", "File:Seed history.png"),
    ("Image:ünïcode.jpg", "File:Ünïcode.jpg"),
])
def test_titles_are_made_canonical(typed: str, title: str) -> None:
    assert canonical_title(typed) == title
