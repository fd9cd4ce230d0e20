"""Deterministic sample media files for seeding a MediaWiki test wiki (stdlib only).

Writers stream in pieces of about 1 MiB so multi-GiB benchmark files never sit in
memory. Bulk content is random bytes, which cannot compress, so sizes stay put.
"""
import math
import os
import random
import struct
import zlib
from typing import BinaryIO, Callable

KINDS: tuple[str, ...] = ("png", "jpg", "gif", "svg", "pdf", "tif", "ogg", "webm")

_CHUNK = 1 << 20
# 64 symbols, so mapping random bytes through it keeps them uniform. There is
# no '<', '&', '-', ':' or '=', so padding text can never close an XML comment
# or look like markup or a script URL to MediaWiki's upload filters.
_TEXT = bytes(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 \n"[i % 64] for i in range(256))
_BITREV = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def write_media(path: str | os.PathLike, kind: str, seed: int, size: int) -> None:
    """Write a valid file of `kind` to `path`, about `size` bytes (within ~1 % or a few hundred bytes
    for small sizes; never less than the format's minimal size), fully determined by (kind, seed,
    size): same inputs -> byte-identical file; different seed -> different bytes."""
    if kind not in _WRITERS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    # A str seed is hashed with SHA-512, which is stable across runs and Python versions.
    rng = random.Random(f"{kind}:{seed}:{size}")
    with open(path, "wb") as f:
        _WRITERS[kind](f, rng, max(0, int(size)))


def _pad(f: BinaryIO, rng: random.Random, n: int) -> None:
    while n > 0:
        f.write(rng.randbytes(min(n, _CHUNK)))
        n -= _CHUNK


def _square(raw: int, bytes_per_pixel: int, row_extra: int = 0) -> tuple[int, int]:
    # Near-square keeps rows short; among near-square widths take the one whose
    # row length wastes the fewest bytes, which lands close to the target size.
    raw = max(raw, 0)
    w0 = max(1, math.isqrt(raw // bytes_per_pixel))
    w = min(range(w0, w0 + w0 // 4 + 1), key=lambda c: raw % (c * bytes_per_pixel + row_extra))
    return w, max(1, raw // (w * bytes_per_pixel + row_extra))


def _png_chunk(f: BinaryIO, tag: bytes, data: bytes) -> None:
    f.write(struct.pack(">I", len(data)) + tag)
    f.write(data)
    f.write(struct.pack(">I", zlib.crc32(data, zlib.crc32(tag))))


def _png(f: BinaryIO, rng: random.Random, size: int) -> None:
    # 63 bytes of framing; level-0 deflate adds 5 bytes per stored block of up to
    # 64 KiB, and each IDAT (one per ~1 MiB) adds 12.
    raw = int((size - 63) / (1 + 5 / 65535 + 12 / _CHUNK))
    w, h = _square(raw, 3, 1)
    row = 3 * w + 1
    f.write(b"\x89PNG\r\n\x1a\n")
    _png_chunk(f, b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    comp = zlib.compressobj(0)
    per = max(1, _CHUNK // row)
    for y in range(0, h, per):
        k = min(per, h - y)
        rows = bytearray(rng.randbytes(k * row))
        rows[::row] = bytes(k)  # filter type 0 in front of every row
        data = comp.compress(rows)
        if data:
            _png_chunk(f, b"IDAT", data)
    _png_chunk(f, b"IDAT", comp.flush())
    _png_chunk(f, b"IEND", b"")


def _jpg(f: BinaryIO, rng: random.Random, size: int) -> None:
    # A 16x16 greyscale baseline JPEG whose four 8x8 blocks carry only a DC value,
    # so the scan can be encoded by hand: a seeded 2x2 grey checkerboard.
    def seg(marker: int, payload: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload

    bits, prev = "", 0
    for _ in range(4):
        level = rng.randrange(-60, 61)  # pixel = 128 + 2 * level (quantiser 16)
        diff, prev = level - prev, level
        cat = abs(diff).bit_length()
        code = format(cat, "03b") if cat < 7 else "1110"  # matches the DC table below
        extra = format(diff if diff >= 0 else diff + (1 << cat) - 1, f"0{cat}b") if cat else ""
        bits += code + extra + "0"  # "0" is the only AC code: end of block
    bits += "1" * (-len(bits) % 8)
    scan = int(bits, 2).to_bytes(len(bits) // 8, "big").replace(b"\xff", b"\xff\x00")
    dc_table = bytes([0x00, 0, 0, 7, 1] + [0] * 12 + list(range(8)))
    ac_table = bytes([0x10, 1] + [0] * 15 + [0])
    head = (b"\xff\xd8"
            + seg(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
            + seg(0xDB, b"\x00" + b"\x10" * 64)
            + seg(0xC0, struct.pack(">BHHB3B", 8, 16, 16, 1, 1, 0x11, 0))
            + seg(0xC4, dc_table) + seg(0xC4, ac_table)
            + seg(0xDA, b"\x01\x01\x00\x00\x3f\x00") + scan + b"\xff\xd9")
    f.write(head)
    # Padding goes after EOI, where every decoder stops reading. In front of SOS it
    # would hit MediaWiki's 200-segment limit (~13 MB of COM) and COM text would be
    # copied into the image metadata stored in the database.
    _pad(f, rng, size - len(head))


def _gif(f: BinaryIO, rng: random.Random, size: int) -> None:
    pixels = [rng.randrange(4) for _ in range(16)]  # 4x4 image, 4-colour seeded palette
    # A Clear code (4) before every pair of literals keeps the LZW code width at
    # 3 bits, so no dictionary bookkeeping is needed. 5 ends the data.
    codes = [c for i in range(0, 16, 2) for c in (4, *pixels[i:i + 2])] + [5]
    lzw = sum(c << (3 * i) for i, c in enumerate(codes)).to_bytes((3 * len(codes) + 7) // 8, "little")
    head = (b"GIF89a" + struct.pack("<HHBBB", 4, 4, 0x91, 0, 0) + rng.randbytes(12)
            + b"\x2c" + struct.pack("<HHHHB", 0, 0, 4, 4, 0) + bytes([2, len(lzw)]) + lzw + b"\x00")
    f.write(head)
    n = size - len(head) - 1 - 15  # trailer; extension header and terminator
    if n >= 0:
        # An application extension rather than a comment: MediaWiki copies GIF
        # comments into the image metadata, but skips unknown application blocks.
        f.write(b"\x21\xff\x0bMWTESTBDpad")
        full, rest = divmod(n, 256)
        for start in range(0, full, 4096):
            k = min(4096, full - start)
            blocks = bytearray(rng.randbytes(256 * k))
            blocks[::256] = b"\xff" * k  # sub-block length prefixes
            f.write(blocks)
        if rest > 1:
            f.write(bytes([rest - 1]) + rng.randbytes(rest - 1))
        f.write(b"\x00")
    f.write(b"\x3b")


def _svg(f: BinaryIO, rng: random.Random, size: int) -> None:
    w, h = rng.randrange(64, 513), rng.randrange(64, 513)
    shapes = []
    for _ in range(12):
        x, y, s, fill = rng.randrange(w), rng.randrange(h), rng.randrange(4, 64), rng.randbytes(3).hex()
        shapes.append(f'<rect x="{x}" y="{y}" width="{s}" height="{s}" fill="#{fill}"/>\n' if rng.random() < 0.5
                      else f'<circle cx="{x}" cy="{y}" r="{s // 2}" fill="#{fill}" fill-opacity="0.7"/>\n')
    head = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">\n'
            + "".join(shapes)).encode()
    f.write(head)
    n = size - len(head) - 7  # len(b"</svg>\n")
    while n >= 8:
        # Many bounded comments, not one huge one: libxml (MediaWiki's SVG check)
        # rejects text nodes over 10 MB unless XML_PARSE_HUGE is set.
        k = min(n, 65536) - 8
        f.write(b"<!--" + rng.randbytes(k).translate(_TEXT) + b"-->\n")
        n -= k + 8
    f.write(b"</svg>\n")


def _pdf(f: BinaryIO, rng: random.Random, size: int) -> None:
    w, h = rng.randrange(200, 801), rng.randrange(200, 801)
    ops = "".join(f"{rng.random():.3f} {rng.random():.3f} {rng.random():.3f} rg "
                  f"{rng.randrange(w)} {rng.randrange(h)} {rng.randrange(10, 200)} {rng.randrange(10, 200)} re f\n"
                  for _ in range(8)).encode()
    bodies = [b"<</Type/Catalog/Pages 2 0 R>>", b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
              f"<</Type/Page/Parent 2 0 R/MediaBox[0 0 {w} {h}]/Contents 4 0 R/Resources<<>>>>".encode(),
              b"<</Length %d>>\nstream\n%s\nendstream" % (len(ops), ops)]
    out, offsets = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", []
    for num, body in enumerate(bodies, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (num, body)
    offsets.append(len(out))

    def layout(pad: int) -> tuple[bytes, bytes]:
        head = b"5 0 obj\n<</Length %d>>\nstream\n" % pad
        xref_at = len(out) + len(head) + pad + 18
        return head, (b"\nendstream\nendobj\nxref\n0 6\n0000000000 65535 f \n"
                      + b"".join(b"%010d 00000 n \n" % o for o in offsets)
                      + b"trailer\n<</Size 6/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % xref_at)

    pad = 0
    for _ in range(3):  # the digits of /Length and startxref shift the sizes a little
        head, tail = layout(pad)
        pad = max(0, size - len(out) - len(head) - len(tail))
    head, tail = layout(pad)
    # The padding is an unreferenced stream object, so the xref stays exact.
    f.write(out + head)
    _pad(f, rng, pad)
    f.write(tail)


def _tif(f: BinaryIO, rng: random.Random, size: int) -> None:
    # Classic TIFF offsets are 32-bit, so pixel data stops short of 4 GiB; any
    # rest becomes unreferenced trailing bytes, which TIFF readers ignore.
    raw = min(size - 180 - 8 * (size // _CHUNK + 1), 0xFFF00000)
    w, h = _square(raw, 3)
    row = 3 * w
    rps = max(1, _CHUNK // row)
    counts = [row * min(rps, h - y) for y in range(0, h, rps)]
    n = len(counts)
    offsets = [180 + (8 * n if n > 1 else 0) + i * row * rps for i in range(n)]
    entries = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, 3, 158), (259, 3, 1, 1), (262, 3, 1, 2),
               (273, 4, n, offsets[0] if n == 1 else 180), (277, 3, 1, 3), (278, 4, 1, rps),
               (279, 4, n, counts[0] if n == 1 else 180 + 4 * n),
               (282, 5, 1, 164), (283, 5, 1, 172), (296, 3, 1, 2)]
    head = b"II*\x00" + struct.pack("<IH", 8, len(entries))
    head += b"".join(struct.pack("<HHII", *e) for e in entries) + b"\x00" * 4
    head += struct.pack("<3H4I", 8, 8, 8, 72, 1, 72, 1)  # BitsPerSample, X/YResolution
    if n > 1:
        head += struct.pack(f"<{n}I{n}I", *offsets, *counts)
    f.write(head)
    for c in counts:
        _pad(f, rng, c)
    _pad(f, rng, size - len(head) - sum(counts))


def _ogg_crc(data: bytes) -> int:
    # Ogg's CRC-32 (poly 0x04C11DB7, MSB first, init 0, no final xor) is the bit
    # mirror of zlib's CRC run on bit-mirrored bytes with init 0 and no final xor;
    # mirroring lets zlib's C code do the work instead of a Python loop per byte.
    raw = zlib.crc32(data.translate(_BITREV), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{raw:032b}"[::-1], 2)


def _ogg(f: BinaryIO, rng: random.Random, size: int) -> None:
    serial, seq, rem = rng.getrandbits(32), 0, size
    body = b"\x00mwtestbed\x00" + rng.randbytes(8)  # opaque identification packet
    while True:
        lacing = bytes([255] * (len(body) // 255) + [len(body) % 255])
        rem -= 27 + len(lacing) + len(body)
        flags = (2 if seq == 0 else 0) | (4 if rem < 28 else 0)  # first / last page
        page = bytearray(struct.pack("<4sBBqIIIB", b"OggS", 0, flags, seq, serial, seq, 0, len(lacing)))
        page += lacing + body
        page[22:26] = struct.pack("<I", _ogg_crc(bytes(page)))
        f.write(page)
        if rem < 28:
            return
        seq += 1
        # One whole packet per page, at most 255 lacing values (65024 bytes).
        n = min(65024, rem - 28 - (rem - 28) // 256)
        while 28 + n // 255 + n > rem:
            n -= 1
        body = rng.randbytes(n)


def _ebml(eid: bytes, payload: bytes) -> bytes:
    # One-byte sizes where they fit: MediaWiki spots video WebM by "\x86\x85V_VP8".
    size = bytes([0x80 | len(payload)]) if len(payload) < 127 else (1 << 56 | len(payload)).to_bytes(8, "big")
    return eid + size + payload


def _webm(f: BinaryIO, rng: random.Random, size: int) -> None:
    w, h = rng.randrange(16, 1921), rng.randrange(16, 1081)
    head = _ebml(b"\x1a\x45\xdf\xa3", _ebml(b"\x42\x86", b"\x01") + _ebml(b"\x42\xf7", b"\x01")
                 + _ebml(b"\x42\xf2", b"\x04") + _ebml(b"\x42\xf3", b"\x08")
                 + _ebml(b"\x42\x82", b"webm") + _ebml(b"\x42\x87", b"\x02") + _ebml(b"\x42\x85", b"\x02"))
    info = _ebml(b"\x15\x49\xa9\x66", _ebml(b"\x2a\xd7\xb1", b"\x0f\x42\x40")
                 + _ebml(b"\x4d\x80", b"mwtestbed") + _ebml(b"\x57\x41", b"mwtestbed"))
    video = _ebml(b"\xe0", _ebml(b"\xb0", struct.pack(">H", w)) + _ebml(b"\xba", struct.pack(">H", h)))
    track = _ebml(b"\xae", _ebml(b"\xd7", b"\x01") + _ebml(b"\x73\xc5", struct.pack(">Q", rng.getrandbits(63) | 1))
                  + _ebml(b"\x83", b"\x01") + _ebml(b"\x86", b"V_VP8") + video)
    body = info + _ebml(b"\x16\x54\xae\x6b", track)
    void = max(0, size - len(head) - 12 - len(body) - 9)
    # All padding sits in one Void element, whose content players skip.
    f.write(head + b"\x18\x53\x80\x67" + (1 << 56 | len(body) + 9 + void).to_bytes(8, "big") + body)
    f.write(b"\xec" + (1 << 56 | void).to_bytes(8, "big"))
    _pad(f, rng, void)


_WRITERS: dict[str, Callable[[BinaryIO, random.Random, int], None]] = {
    "png": _png, "jpg": _jpg, "gif": _gif, "svg": _svg, "pdf": _pdf, "tif": _tif, "ogg": _ogg, "webm": _webm}
