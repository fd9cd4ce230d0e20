"""A single-node OpenStack Swift from Debian's packages: tempauth, one replica, memcached, and
everything (configs, rings, device, logs) under the test bed's folder, on 127.0.0.1."""
from __future__ import annotations

import getpass
import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import requests

from testbed import procs

SWIFT_PYTHON = "/usr/bin/python3"  # Debian's swift imports only under Debian's python
LAUNCHER = Path(__file__).with_name("swift_launch.py")
USER = "test:tester"
ACCOUNT = "AUTH_test"


@dataclass(frozen=True)
class Swift:
    proxy_port: int
    key: str

    @property
    def auth_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}/auth/v1.0"

    @property
    def storage_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}/v1/{ACCOUNT}"


def _defaults(swift_dir: Path, port: int) -> str:
    """One server process on 127.0.0.1, logging to a dropped UDP port (there is no /dev/log here)."""
    return f"""[DEFAULT]
bind_ip = 127.0.0.1
bind_port = {port}
workers = 0
user = {getpass.getuser()}
swift_dir = {swift_dir}
log_udp_host = 127.0.0.1
log_udp_port = 9
"""


def _server_conf(swift_dir: Path, port: int, app: str) -> str:
    return _defaults(swift_dir, port) + f"""devices = {swift_dir}/devices
mount_check = false
fallocate_reserve = 0

[pipeline:main]
pipeline = {app}-server

[app:{app}-server]
use = egg:swift#{app}
"""


def _proxy_conf(swift_dir: Path, port: int, memcached_port: int, key: str,
                wiki_id: str, url_prefix: str, sharded: bool) -> str:
    return _defaults(swift_dir, port) + f"""
[pipeline:main]
pipeline = catch_errors healthcheck proxy-logging cache mediaurls tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
error_suppression_interval = 1
node_timeout = 3
conn_timeout = 0.5

[filter:mediaurls]
paste.filter_factory = swift_rewrite:filter_factory
prefix = {url_prefix}
account = {ACCOUNT}
wiki_id = {wiki_id}
sharded = {str(sharded).lower()}

[filter:tempauth]
use = egg:swift#tempauth
user_{USER.replace(':', '_')} = {key} .admin

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:{memcached_port}

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo

[filter:proxy-logging]
use = egg:swift#proxy_logging
"""


def start(bed_dir: Path, wiki_id: str, url_prefix: str, sharded: bool) -> Swift:
    """Start memcached and the four Swift servers; return once tempauth hands out tokens."""
    for program in (SWIFT_PYTHON, "memcached"):
        if not shutil.which(program):
            raise procs.TestBedError(f"{program} is missing: run scripts/setup")
    swift_dir = bed_dir / "swift"
    (swift_dir / "devices" / "d1").mkdir(parents=True)
    ports = {name: procs.free_port() for name in ("memcached", "account", "container", "object", "proxy")}
    key = secrets.token_hex(12)
    (swift_dir / "swift.conf").write_text(
        f"[swift-hash]\nswift_hash_path_prefix = {secrets.token_hex(8)}\n"
        f"swift_hash_path_suffix = {secrets.token_hex(8)}\n\n"
        "[storage-policy:0]\nname = Policy-0\ndefault = yes\n")
    subprocess.run([SWIFT_PYTHON, str(LAUNCHER), str(swift_dir), "rings",
                    str(ports["account"]), str(ports["container"]), str(ports["object"])],
                   check=True, capture_output=True)

    memcached = ["memcached", "-l", "127.0.0.1", "-p", str(ports["memcached"]), "-U", "0", "-m", "64"]
    if getpass.getuser() == "root":
        memcached += ["-u", "root"]
    procs.start(bed_dir, "memcached", memcached)
    servers = {}
    for app in ("account", "container", "object"):
        conf = swift_dir / f"{app}-server.conf"
        conf.write_text(_server_conf(swift_dir, ports[app], app))
        servers[app] = procs.start(bed_dir, f"swift-{app}",
                                   [SWIFT_PYTHON, str(LAUNCHER), str(swift_dir), "serve", f"{app}-server", str(conf)])
    conf = swift_dir / "proxy-server.conf"
    conf.write_text(_proxy_conf(swift_dir, ports["proxy"], ports["memcached"], key, wiki_id, url_prefix, sharded))
    proxy = procs.start(bed_dir, "swift-proxy",
                        [SWIFT_PYTHON, str(LAUNCHER), str(swift_dir), "serve", "proxy-server", str(conf)])

    swift = Swift(proxy_port=ports["proxy"], key=key)
    logs = bed_dir / "logs"
    for app, proc in servers.items():
        procs.wait_until(lambda port=ports[app]: _listening(port), f"swift {app} server", proc,
                         logs / f"swift-{app}.log")
    procs.wait_until(lambda: _account_ready(swift), "swift proxy", proxy, logs / "swift-proxy.log")
    return swift


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _account_ready(swift: Swift) -> bool:
    try:
        auth = requests.get(swift.auth_url, headers={"X-Auth-User": USER, "X-Auth-Key": swift.key}, timeout=2)
        if not auth.ok:
            return False
        return requests.head(swift.storage_url, headers={"X-Auth-Token": auth.headers["X-Auth-Token"]},
                             timeout=2).ok
    except requests.RequestException:
        return False
