"""Content-addressed blob stores (base.py: the interface and spooling; local.py, swift.py), and
`open_store`, which picks the one the config names."""
from __future__ import annotations

from mediarescue.blobstore.base import BlobStore, SpoolingStore
from mediarescue.blobstore.local import LocalBlobStore
from mediarescue.config import Config, ConfigError


def open_store(config: Config) -> BlobStore:
    """The blob store the config names: `[blobs_swift]` when present, else the `blobs` directory."""
    store: SpoolingStore
    try:
        if config.blobs_swift is not None:
            from mediarescue.blobstore.swift import SwiftBlobStore  # swiftclient only when it is used

            s = config.blobs_swift
            store = SwiftBlobStore(s.auth_url, s.user, s.key, s.container_prefix,
                                   encryption_key=config.encryption_key, segment_size=s.segment_size, spool=s.spool)
        else:
            store = LocalBlobStore(config.blobs, encryption_key=config.encryption_key)
    except OSError as error:  # a folder that cannot be made or written is the config's to fix
        key = "blobs_swift.spool" if config.blobs_swift else "blobs"
        raise ConfigError(f"{key}: cannot use {error.filename or 'the folder'}: {error.strerror}") from None
    store.key_source = config.encryption_key_source
    return store
