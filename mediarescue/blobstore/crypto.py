"""Encryption at rest for private (deleted) content: a streaming AEAD, never a whole file in memory.

The format (version 1) is the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015) in the
shape Google Tink's AES-GCM-HKDF streaming AEAD gives it:

    header = MAGIC (8) | key id (8) | salt (16) | nonce prefix (7) | chunk size (4, big-endian)
    body   = chunk 0 | chunk 1 | ... | last chunk, each AES-256-GCM(plaintext piece) with its 16-byte tag

- Every blob is sealed with a key of its own, HKDF-SHA256(master key, salt): nonces never repeat
  across blobs however many millions are sealed under one master key (random 96-bit nonces under a
  single key would reach the 2^-32 collision bound after ~2^32 chunks, a few PB of Commons).
- Chunk i's nonce is prefix | i (4 bytes) | 1 if it is the last chunk else 0, so chunks cannot be
  reordered or dropped, nor the stream cut at a chunk boundary, without a tag failing. Every blob
  has at least one chunk (an empty file is one empty last chunk).
- The header is the associated data of every chunk: it cannot be altered either.
- The key id (derived from the key, reveals nothing about it) tells "sealed under another key" apart
  from "corrupt": a wrong key must never make `check` declare every encrypted blob corrupt.
Content addressing stays by the plaintext's sha256 (dedup works across private and public), so the
sha256 of a blob is not a secret; the bytes are.
"""
from __future__ import annotations

import io
import os
import struct
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"mrseal\x00\x01"
KEY_BYTES = 32
TAG = 16
CHUNK = 1 << 20
_HEADER = struct.Struct(">8s8s16s7sI")
HEADER_SIZE = _HEADER.size


class KeyRequired(Exception):
    """An encrypted blob was opened without a key."""


class WrongKey(Exception):
    """The blob was sealed under another key than the one configured."""


class CorruptBlob(Exception):
    """The sealed bytes fail authentication: altered, truncated or not a sealed blob."""


def generate_key() -> str:
    """A new master key as the text a key file holds: 64 hex digits."""
    return os.urandom(KEY_BYTES).hex()


def parse_key(text: str) -> bytes:
    """The key from a key file's text; ValueError when it is not 64 hex digits."""
    text = text.strip()
    if len(text) != 2 * KEY_BYTES:
        raise ValueError(f"must hold {2 * KEY_BYTES} hex digits (a 256-bit key), not {len(text)} characters")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ValueError("must hold hex digits only") from None


def _derive(key: bytes, salt: bytes | None, info: bytes, length: int = KEY_BYTES) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(key)


def key_id(key: bytes) -> bytes:
    return _derive(key, None, b"mediarescue key id v1", 8)


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", index, last)


def sealed_size(size: int, chunk_size: int = CHUNK) -> int:
    """The stored size of a sealed plaintext of `size` bytes."""
    chunks = max(1, -(-size // chunk_size))
    return HEADER_SIZE + size + chunks * TAG


class Sealer:
    """Encrypts a stream piece by piece: feed `update`, end with `finish`; write what they return."""

    def __init__(self, key: bytes, chunk_size: int = CHUNK):
        salt, self._prefix = os.urandom(16), os.urandom(7)
        self.header = _HEADER.pack(MAGIC, key_id(key), salt, self._prefix, chunk_size)
        self._aead = AESGCM(_derive(key, salt, b"mediarescue blob v1"))
        self._chunk_size, self._buffer, self._index, self._started = chunk_size, bytearray(), 0, False

    def _seal(self, piece: bytes, last: bool) -> bytes:
        sealed = self._aead.encrypt(_nonce(self._prefix, self._index, last), piece, self.header)
        self._index += 1
        return sealed

    def update(self, data: bytes) -> bytes:
        out = [] if self._started else [self.header]
        self._started = True
        self._buffer += data
        # Hold back at least one piece: only `finish` knows which chunk is the last.
        while len(self._buffer) > self._chunk_size:
            out.append(self._seal(bytes(self._buffer[:self._chunk_size]), last=False))
            del self._buffer[:self._chunk_size]
        return b"".join(out)

    def finish(self) -> bytes:
        head = b"" if self._started else self.header
        self._started = True
        last = self._seal(bytes(self._buffer), last=True)
        self._buffer = bytearray()
        return head + last


def _read_up_to(raw: BinaryIO, size: int) -> bytes:
    """`size` bytes, fewer only at the end: socket-backed streams return short reads."""
    parts, wanted = [], size
    while wanted:
        part = raw.read(wanted)
        if not part:
            break
        parts.append(part)
        wanted -= len(part)
    return b"".join(parts)


class _Unsealing(io.RawIOBase):
    def __init__(self, raw: BinaryIO, key: bytes | None, name: str, key_source: str):
        self._raw, self._name = raw, name
        header = _read_up_to(raw, HEADER_SIZE)
        if len(header) < HEADER_SIZE or header[:8] != MAGIC:
            raise CorruptBlob(f"blob {name} is not a sealed blob (bad header)")
        _magic, kid, salt, self._prefix, chunk_size = _HEADER.unpack(header)
        if key is None:
            raise KeyRequired(f"blob {name} is encrypted: configure encryption_key_file to read it")
        if kid != key_id(key):
            raise WrongKey(f"blob {name} was encrypted under another key than {key_source} holds")
        self._header, self._aead = header, AESGCM(_derive(key, salt, b"mediarescue blob v1"))
        self._sealed_chunk = chunk_size + TAG
        self._next = _read_up_to(raw, self._sealed_chunk)
        self._plain, self._offset, self._index, self._done = b"", 0, 0, False

    def readable(self) -> bool:
        return True

    def _advance(self) -> None:
        current = self._next
        self._next = _read_up_to(self._raw, self._sealed_chunk)
        last = not self._next  # one chunk of look-ahead: the last chunk is the one nothing follows
        try:
            self._plain = self._aead.decrypt(_nonce(self._prefix, self._index, last), current, self._header)
        except InvalidTag:
            raise CorruptBlob(f"blob {self._name}: chunk {self._index} fails authentication "
                              "(altered or truncated)") from None
        self._offset, self._index, self._done = 0, self._index + 1, last

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while self._offset == len(self._plain):
            if self._done:
                return 0
            self._advance()
        count = min(len(buffer), len(self._plain) - self._offset)
        buffer[:count] = self._plain[self._offset:self._offset + count]
        self._offset += count
        return count

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


def unsealing_reader(raw: BinaryIO, key: bytes | None, name: str,
                     key_source: str = "encryption_key_file") -> BinaryIO:
    """A readable stream of the plaintext of a sealed blob read from `raw`; fails at once with
    KeyRequired or WrongKey (whose message names `key_source`, where the key came from), and with
    CorruptBlob at the first chunk that fails authentication."""
    try:
        return io.BufferedReader(_Unsealing(raw, key, name, key_source), CHUNK)
    except BaseException:
        raw.close()
        raise
