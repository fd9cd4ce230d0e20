"""Runs one Swift server, or builds the rings, under Debian's /usr/bin/python3.

Swift 2.30 reads swift.conf from /etc/swift unless told otherwise before a server starts, so this
launcher points it at the test bed's own folder first. It also puts this folder on sys.path so that
the proxy pipeline can load the test bed's URL-rewrite middleware.

    swift_launch.py SWIFT_DIR serve SERVER CONF
    swift_launch.py SWIFT_DIR rings ACCOUNT_PORT CONTAINER_PORT OBJECT_PORT
"""
import os
import sys


def build_rings(swift_dir, ports):
    from swift.common.ring import RingBuilder

    for kind, port in zip(("account", "container", "object"), ports):
        builder = RingBuilder(6, 1, 1)
        builder.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": int(port),
                         "device": "d1", "weight": 100})
        builder.rebalance()
        builder.get_ring().save(os.path.join(swift_dir, f"{kind}.ring.gz"))


def main(argv):
    swift_dir, verb, *args = argv
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from swift.common.utils import set_swift_dir

    set_swift_dir(swift_dir)
    if verb == "rings":
        build_rings(swift_dir, args)
        return 0
    from swift.common.wsgi import run_wsgi

    server, conf = args
    return run_wsgi(conf, server, verbose=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
