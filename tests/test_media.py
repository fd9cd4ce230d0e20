"""Checks for testbed.media: determinism, sizes, per-format structure, streaming.

The structure checks parse the files independently of the writer (for Ogg,
with a plain table-driven CRC as in the spec), so a writer bug cannot hide
behind a shared helper. Pillow is optional and used only for a decode check.
"""
import hashlib
import re
import struct
import tracemalloc
import xml.etree.ElementTree as ET
import zlib

import pytest

from testbed.media import KINDS, write_media


def make(tmp_path, kind, seed=1, size=100_000, name="f"):
    path = tmp_path / f"{name}-{seed}-{size}.{kind}"
    write_media(path, kind, seed, size)
    return path.read_bytes()


def check_png(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (n,) = struct.unpack_from(">I", data, pos)
        tag, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        assert struct.unpack_from(">I", data, pos + 8 + n)[0] == zlib.crc32(tag + body)
        assert n <= 3 << 20  # MediaWiki reads and CRC-checks chunks up to 3 MiB
        chunks.append((tag, body))
        pos += 12 + n
    assert pos == len(data)
    tags = [t for t, _ in chunks]
    assert tags[0] == b"IHDR" and tags[-1] == b"IEND" and set(tags[1:-1]) == {b"IDAT"}
    w, h, depth, colour = struct.unpack(">IIBB", chunks[0][1][:10])
    assert (depth, colour) == (8, 2) and w > 0 and h > 0
    raw = zlib.decompress(b"".join(b for t, b in chunks if t == b"IDAT"))
    row = 3 * w + 1
    assert len(raw) == h * row and raw[::row] == bytes(h)


def check_jpg(data):
    assert data[:2] == b"\xff\xd8"
    pos, markers = 2, []
    while markers[-1:] != [0xDA]:
        assert data[pos] == 0xFF
        marker, (n,) = data[pos + 1], struct.unpack_from(">H", data, pos + 2)
        if marker == 0xC0:
            precision, h, w, comps = struct.unpack_from(">BHHB", data, pos + 4)
            assert (precision, comps) == (8, 1) and w > 0 and h > 0
        markers.append(marker)
        pos += 2 + n
    assert {0xDB, 0xC0, 0xC4} <= set(markers)
    end = data.index(b"\xff\xd9", pos)
    assert b"\xff" not in data[pos:end].replace(b"\xff\x00", b"")  # byte stuffing


def check_gif(data):
    assert data[:6] == b"GIF89a"
    w, h, flags = struct.unpack_from("<HHB", data, 6)
    assert w > 0 and h > 0 and flags & 0x80
    pos, images = 13 + 3 * (2 << (flags & 7)), 0
    while data[pos] != 0x3B:
        if data[pos] == 0x2C:
            assert not data[pos + 9] & 0x80  # no local colour table
            pos, images = pos + 11, images + 1  # descriptor + LZW minimum code size
        else:
            assert data[pos] == 0x21
            pos += 2
        while data[pos]:
            pos += data[pos] + 1
        pos += 1
    assert images == 1 and pos == len(data) - 1


def check_svg(data):
    root = ET.fromstring(data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert int(root.get("width")) > 0 and int(root.get("height")) > 0
    for el in root.iter():
        assert el.tag.rsplit("}", 1)[-1] in {"svg", "rect", "circle"}
        assert not any(a.lower().startswith("on") or "href" in a for a in el.attrib)
    lowered = data.lower()
    assert b"<script" not in lowered and b"<!doctype" not in lowered and b"javascript" not in lowered
    # libxml refuses text nodes over 10 MB without XML_PARSE_HUGE, so comments stay small.
    assert all(len(c) <= 65536 for c in re.findall(rb"<!--.*?-->", data, re.S))


def check_pdf(data):
    assert data.startswith(b"%PDF-1.4\n") and data.endswith(b"%%EOF\n")
    xref = int(re.search(rb"startxref\n(\d+)\n%%EOF\n$", data).group(1))
    head = re.match(rb"xref\n0 (\d+)\n", data[xref:])
    count, table = int(head.group(1)), xref + head.end()
    assert data[table:table + 20] == b"0000000000 65535 f \n"
    for num in range(1, count):
        entry = data[table + 20 * num:table + 20 * num + 20]
        assert entry.endswith(b" 00000 n \n")
        off = int(entry[:10])
        assert data[off:].startswith(b"%d 0 obj\n" % num)
        stream = re.match(rb"\d+ 0 obj\n<</Length (\d+)>>\nstream\n", data[off:off + 64])
        if stream:
            end = off + stream.end() + int(stream.group(1))
            assert data[end:end + 10] == b"\nendstream"
    trailer = data[table + 20 * count:]
    assert trailer.startswith(b"trailer\n<</Size %d/Root 1 0 R>>" % count)
    assert b"/Type/Catalog" in data[int(data[table + 20:table + 30]):][:64]


def check_tif(data):
    assert data[:4] == b"II*\x00"
    (ifd,) = struct.unpack_from("<I", data, 4)
    (n,) = struct.unpack_from("<H", data, ifd)
    tags = {}
    for i in range(n):
        at = ifd + 2 + 12 * i
        tag, typ, count, value = struct.unpack_from("<HHII", data, at)
        fmt = {3: "H", 4: "I", 5: "II"}[typ] * count
        src = at + 8 if struct.calcsize("<" + fmt) <= 4 else value
        tags[tag] = struct.unpack_from("<" + fmt, data, src)
    assert list(tags) == sorted(tags)
    assert {256, 257, 258, 259, 262, 273, 277, 278, 279, 282, 283, 296} <= set(tags)
    (w,), (h,) = tags[256], tags[257]
    assert tags[258] == (8, 8, 8) and tags[259] == (1,) and tags[262] == (2,) and tags[277] == (3,)
    offsets, counts = tags[273], tags[279]
    assert len(offsets) == len(counts) == -(-h // tags[278][0])
    assert sum(counts) == w * h * 3 and offsets[-1] + counts[-1] <= len(data)
    assert all(a + c == b for a, c, b in zip(offsets, counts, offsets[1:]))


def _ogg_crc_table():
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7 if r & 0x80000000 else r << 1) & 0xFFFFFFFF
        table.append(r)
    return table


OGG_CRC = _ogg_crc_table()


def ogg_crc(data):
    crc = 0
    for b in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ OGG_CRC[(crc >> 24) ^ b]
    return crc


def check_ogg(data):
    pos, seq, serials = 0, 0, set()
    while pos < len(data):
        assert data[pos:pos + 5] == b"OggS\x00"
        flags = data[pos + 5]
        serial, page_seq, crc = struct.unpack_from("<III", data, pos + 14)
        nseg = data[pos + 26]
        end = pos + 27 + nseg + sum(data[pos + 27:pos + 27 + nseg])
        page = bytearray(data[pos:end])
        page[22:26] = bytes(4)
        assert ogg_crc(page) == crc
        assert page_seq == seq and bool(flags & 2) == (seq == 0) and bool(flags & 4) == (end == len(data))
        serials.add(serial)
        pos, seq = end, seq + 1
    assert pos == len(data) and len(serials) == 1


def ebml_children(data, start, end):
    found, pos = {}, start
    while pos < end:
        id_len = 9 - data[pos].bit_length()
        eid, pos = data[pos:pos + id_len], pos + id_len
        size_len = 9 - data[pos].bit_length()
        size = int.from_bytes(data[pos:pos + size_len], "big") & ((1 << 7 * size_len) - 1)
        pos += size_len
        found.setdefault(eid, []).append((pos, pos + size))
        pos += size
    assert pos == end
    return found


def check_webm(data):
    top = ebml_children(data, 0, len(data))
    assert data[:4] == b"\x1a\x45\xdf\xa3" and list(top) == [b"\x1a\x45\xdf\xa3", b"\x18\x53\x80\x67"]
    header = ebml_children(data, *top[b"\x1a\x45\xdf\xa3"][0])
    assert data[slice(*header[b"\x42\x82"][0])] == b"webm"
    segment = ebml_children(data, *top[b"\x18\x53\x80\x67"][0])
    assert {b"\x15\x49\xa9\x66", b"\x16\x54\xae\x6b"} <= set(segment)
    tracks = ebml_children(data, *segment[b"\x16\x54\xae\x6b"][0])
    entry = ebml_children(data, *tracks[b"\xae"][0])
    assert data[slice(*entry[b"\x86"][0])] == b"V_VP8"
    # MediaWiki calls WebM video only if it finds this exact byte sequence.
    assert b"\x86\x85V_VP8" in data[:16384]


CHECKS = {"png": check_png, "jpg": check_jpg, "gif": check_gif, "svg": check_svg,
          "pdf": check_pdf, "tif": check_tif, "ogg": check_ogg, "webm": check_webm}


def test_every_kind_has_a_check():
    assert set(CHECKS) == set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_same_inputs_same_bytes_and_seed_changes_them(tmp_path, kind):
    first = hashlib.sha1(make(tmp_path, kind, seed=1, name="a")).hexdigest()
    again = hashlib.sha1(make(tmp_path, kind, seed=1, name="b")).hexdigest()
    other = hashlib.sha1(make(tmp_path, kind, seed=2, name="a")).hexdigest()
    assert first == again != other


@pytest.mark.parametrize("size", [3_000, 100_000, 2_000_000])
@pytest.mark.parametrize("kind", KINDS)
def test_size_within_tolerance(tmp_path, kind, size):
    assert abs(len(make(tmp_path, kind, size=size)) - size) <= max(size // 100, 300)


@pytest.mark.parametrize("size", [0, 3_000, 100_000])
@pytest.mark.parametrize("kind", KINDS)
def test_structure(tmp_path, kind, size):
    CHECKS[kind](make(tmp_path, kind, seed=size + 7, size=size))


def test_unknown_kind_is_rejected(tmp_path):
    with pytest.raises(ValueError):
        write_media(tmp_path / "x.bmp", "bmp", 1, 1000)


def test_png_streams_with_bounded_memory(tmp_path):
    size = 64 << 20
    tracemalloc.start()
    try:
        write_media(tmp_path / "big.png", "png", 3, size)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20
    assert abs((tmp_path / "big.png").stat().st_size - size) <= size // 100


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "png"])
def test_other_kinds_stream_too(tmp_path, kind):
    tracemalloc.start()
    try:
        write_media(tmp_path / f"big.{kind}", kind, 3, 16 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


@pytest.mark.parametrize("kind, fmt", [("png", "PNG"), ("jpg", "JPEG"), ("gif", "GIF"), ("tif", "TIFF")])
def test_pillow_decodes(tmp_path, kind, fmt):
    Image = pytest.importorskip("PIL.Image")
    pixels = []
    for seed in (5, 6):
        path = tmp_path / f"{seed}.{kind}"
        write_media(path, kind, seed, 50_000)
        with Image.open(path) as im:
            im.load()
            assert im.format == fmt and im.width > 0 and im.height > 0
            pixels.append(im.tobytes())
    assert pixels[0] != pixels[1]  # the seed shows in the picture, not just the padding
