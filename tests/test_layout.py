"""MediaWiki's storage layout and the proxy's URL rewrite, without a server. The golden values were
read off the real test bed (object names and X-Object-Meta-Sha1base36 that MediaWiki wrote)."""
from __future__ import annotations

import pytest

from mediarescue.mediawiki import MediaLayout, archive_path, db_key, deleted_path, public_path, sha1_base36
from testbed.swift_rewrite import rewrite

SHA1 = "9c1dbc5f182bc9526965ba2cc756284565110c07"


def test_sha1_in_base36_matches_what_mediawiki_stores() -> None:
    assert sha1_base36(SHA1) == "i8hzvi94rbkarobkfj5yze2h27o75l3"
    assert sha1_base36("0" * 39 + "1") == "0" * 30 + "1"  # padded to 31 characters
    assert len(sha1_base36("f" * 40)) == 31


def test_paths_follow_mediawikis_hash_directories() -> None:
    assert db_key("File:Test ä b.png") == "Test_ä_b.png"
    assert public_path("Test ä b.png") == "a/a2/Test_ä_b.png"
    assert archive_path("20261121052311!Test_ä_b.png") == "archive/a/a2/20261121052311!Test_ä_b.png"
    assert deleted_path(SHA1, "Test ä b.PNG") == "i/8/h/i8hzvi94rbkarobkfj5yze2h27o75l3.png"


def test_containers_shard_on_the_hash_directories() -> None:
    sharded = MediaLayout("wikipedia-commons", sharded=True)
    assert sharded.container("public", "a/a2/X.png") == "wikipedia-commons-local-public.a2"
    assert sharded.container("public", "archive/a/a2/1!X.png") == "wikipedia-commons-local-public.a2"
    assert sharded.container("deleted", "i/8/h/i8h.png") == "wikipedia-commons-local-deleted.i8"
    assert MediaLayout("w", sharded=False).container("public", "a/a2/X.png") == "w-local-public"
    with pytest.raises(ValueError):
        sharded.container("public", "X.png")


@pytest.mark.parametrize("path, expected", [
    ("/wikipedia/commons/a/a2/X.png", "/v1/AUTH_t/w-local-public.a2/a/a2/X.png"),
    ("/wikipedia/commons/archive/a/a2/1!X.png", "/v1/AUTH_t/w-local-public.a2/archive/a/a2/1!X.png"),
    ("/wikipedia/commons/thumb/a/a2/X.png/120px-X.png", "/v1/AUTH_t/w-local-thumb.a2/a/a2/X.png/120px-X.png"),
    ("/wikipedia/commons/a/b2/X.png", None),     # hash directories that disagree
    ("/wikipedia/commons/X.png", None),
    ("/v1/AUTH_t/w-local-public.a2/a/a2/X.png", None),
])
def test_upload_urls_rewrite_to_sharded_containers(path: str, expected: str | None) -> None:
    assert rewrite(path, "/wikipedia/commons", "AUTH_t", "w", sharded=True) == expected


def test_upload_urls_rewrite_to_one_container_when_unsharded() -> None:
    assert rewrite("/p/a/a2/X.png", "/p", "AUTH_t", "w", sharded=False) == "/v1/AUTH_t/w-local-public/a/a2/X.png"
