"""A WSGI filter for the Swift proxy that serves MediaWiki file URLs shaped like
upload.wikimedia.org straight from Swift, as Wikimedia's own rewrite does, so no PHP sits in the
read path:

    PREFIX/[archive/]a/ab/Name          -> /v1/ACCOUNT/WIKIID-local-public[.ab]/[archive/]a/ab/Name
    PREFIX/thumb/[archive/]a/ab/Name/.. -> /v1/ACCOUNT/WIKIID-local-thumb[.ab]/[archive/]a/ab/Name/..

It runs before tempauth: anonymous reads are allowed by the `.r:*` ACL MediaWiki puts on public
containers (a 401 from a container that does not exist yet is
answered as 404). Only GET and HEAD are rewritten; anything else under PREFIX is refused.
Runs inside Swift's proxy (Debian's python3), so it uses the standard library only.
"""
import re

_HASH_PATH = re.compile(r"^((?:archive/)?([0-9a-f])/([0-9a-f]{2})/.+)$")


def rewrite(path, prefix, account, wiki_id, sharded):
    """The Swift path for a MediaWiki file URL path, or None when it is not one."""
    if not path.startswith(prefix + "/"):
        return None
    rest = path[len(prefix) + 1:]
    zone = "public"
    if rest.startswith("thumb/"):
        zone, rest = "thumb", rest[len("thumb/"):]
    match = _HASH_PATH.match(rest)
    if not match or not match.group(3).startswith(match.group(2)):
        return None
    shard = "." + match.group(3) if sharded else ""
    return f"/v1/{account}/{wiki_id}-local-{zone}{shard}/{match.group(1)}"


class MediaUrls:
    def __init__(self, app, conf):
        self.app = app
        self.prefix = conf["prefix"].rstrip("/")
        self.account = conf["account"]
        self.wiki_id = conf["wiki_id"]
        self.sharded = conf.get("sharded", "true").lower() in ("1", "true", "yes")

    def __call__(self, env, start_response):
        path = env.get("PATH_INFO", "")
        if not path.startswith(self.prefix + "/"):
            return self.app(env, start_response)
        target = rewrite(path, self.prefix, self.account, self.wiki_id, self.sharded)
        if env["REQUEST_METHOD"] not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD"), ("Content-Length", "0")])
            return [b""]
        if target is None:
            start_response("404 Not Found", [("Content-Length", "0")])
            return [b""]
        env["PATH_INFO"] = target

        def not_found_for_strangers(status, headers, exc_info=None):
            # A shard container that does not exist yet has no read ACL: to a reader that is
            # simply a missing file, as on upload.wikimedia.org, not an auth challenge.
            if status.startswith("401"):
                status = "404 Not Found"
            return start_response(status, headers, exc_info)

        return self.app(env, not_found_for_strangers)


def filter_factory(global_conf, **local_conf):
    conf = dict(global_conf, **local_conf)
    return lambda app: MediaUrls(app, conf)
