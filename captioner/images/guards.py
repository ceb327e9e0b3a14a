"""Checks on an encoded image's structure that run before a decoder sees it, for files that are
valid enough to decode but cost far more to decode than their size suggests.

- A progressive JPEG can repeat a scan thousands of times: libjpeg decodes every one (it only
  warns), so a 1.8 MB upload held a server for 87 s where a photo takes under 2 s. A JPEG is
  refused when it holds more scans than any encoder writes (libjpeg's progression has 10,
  optimised ones a few dozen).
- A TIFF can declare millions of strips (or tiles): PIL makes a Python object for each on opening
  and decodes them one by one, gigabytes and many seconds for a few megabytes of file. A TIFF is
  refused when its first image (the one captioner reads) holds more than a photo ever needs.

`check_structure` reads only the header (TIFF) or scans the bytes for markers (JPEG); anything it
cannot parse is left to the decoder, which raises its own error.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

# libjpeg's default progression writes 10 scans, jpegtran/mozjpeg's optimised ones at most a few
# dozen; each scan costs a pass over the whole image's coefficients.
MAX_JPEG_SCANS = 100
# A strip is at least one row: 65,536 strips of one row each is a 65,536-row image. Tiles of the
# smallest size TIFF allows (16 x 16) cover 16 MP at this count.
MAX_TIFF_STRIPS = 65_536

_SOS = b"\xff\xda"  # start of scan: inside the entropy-coded data 0xFF is always followed by 0x00 or RSTn
_CHUNK = 1 << 20
_STRIP_OFFSETS, _TILE_OFFSETS = 273, 324


class StructureError(ValueError):
    """The file would cost too much to decode; the message says why."""


def check_structure(fp: BinaryIO) -> None:
    """Raise StructureError for a JPEG with too many scans or a TIFF with too many strips or tiles.
    Reads `fp` from its start and leaves it at its start."""
    fp.seek(0)
    head = fp.read(16)
    try:
        if head[:2] == b"\xff\xd8":
            _check_jpeg(fp)
        elif head[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"):
            _check_tiff(fp, head)
    except (struct.error, OverflowError, ValueError) as exc:  # a header cut short, an offset past any file
        if isinstance(exc, StructureError):
            raise
    finally:
        fp.seek(0)


def _check_jpeg(fp: BinaryIO) -> None:
    fp.seek(0)
    scans, tail = 0, b""
    while chunk := fp.read(_CHUNK):
        data = tail + chunk
        scans += data.count(_SOS)
        if scans > MAX_JPEG_SCANS:
            raise StructureError(
                f"JPEG holds more than {MAX_JPEG_SCANS} scans (no encoder writes that many; decoding them would take minutes)"
            )
        # A marker split across two reads is counted with the next: its 0xFF is carried over.
        tail = data[-1:] if data[-1:] == b"\xff" else b""


def _check_tiff(fp: BinaryIO, head: bytes) -> None:
    order = "<" if head[:2] == b"II" else ">"
    big = head[2:4] in (b"+\0", b"\0+")  # BigTIFF: 8-byte offsets and counts, 20-byte entries
    if big:
        (ifd,) = struct.unpack(order + "Q", head[8:16])
        count_fmt, entry_size, value_fmt = "Q", 20, "Q"
    else:
        (ifd,) = struct.unpack(order + "I", head[4:8])
        count_fmt, entry_size, value_fmt = "H", 12, "I"
    fp.seek(ifd)
    raw = fp.read(struct.calcsize(count_fmt))
    if len(raw) < struct.calcsize(count_fmt):
        return  # the decoder names the damage
    (entries,) = struct.unpack(order + count_fmt, raw)
    table = fp.read(entries * entry_size)
    for i in range(len(table) // entry_size):
        entry = table[i * entry_size : (i + 1) * entry_size]
        tag, _type = struct.unpack(order + "HH", entry[:4])
        if tag in (_STRIP_OFFSETS, _TILE_OFFSETS):
            (n,) = struct.unpack(order + value_fmt, entry[4 : 4 + struct.calcsize(value_fmt)])
            if n > MAX_TIFF_STRIPS:
                kind = "strips" if tag == _STRIP_OFFSETS else "tiles"
                raise StructureError(f"TIFF declares {n:,} {kind} (limit {MAX_TIFF_STRIPS:,}; reading them would take gigabytes)")
