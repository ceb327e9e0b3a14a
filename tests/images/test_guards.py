import io
import struct

import pytest
from PIL import Image

from captioner.images.guards import MAX_JPEG_SCANS, MAX_TIFF_STRIPS, StructureError, check_structure
from captioner.images.loading import ImageLoadError, load_image


def _tiff_with_strips(n: int, width: int = 4, big_endian: bool = False) -> bytes:
    """An uncompressed 8-bit grey TIFF of `n` one-row strips (all pointing at one row of pixels)."""
    o = ">" if big_endian else "<"
    tags = 9
    offsets_at = 8 + 2 + tags * 12 + 4
    counts_at = offsets_at + 4 * n
    pixels_at = counts_at + 4 * n

    def entry(tag, kind, count, value):
        packed = struct.pack(o + "H", value) + b"\0\0" if kind == 3 and count == 1 else struct.pack(o + "I", value)
        return struct.pack(o + "HHI", tag, kind, count) + packed

    ifd = (
        struct.pack(o + "H", tags)
        + b"".join(
            [
                entry(256, 4, 1, width),
                entry(257, 4, 1, n),
                entry(258, 3, 1, 8),
                entry(259, 3, 1, 1),
                entry(262, 3, 1, 1),
                entry(273, 4, n, offsets_at),
                entry(277, 3, 1, 1),
                entry(278, 4, 1, 1),
                entry(279, 4, n, counts_at),
            ]
        )
        + struct.pack(o + "I", 0)
    )
    head = (b"MM\0*" if big_endian else b"II*\0") + struct.pack(o + "I", 8)
    return head + ifd + struct.pack(f"{o}{n}I", *[pixels_at] * n) + struct.pack(f"{o}{n}I", *[width] * n) + bytes(width)


@pytest.mark.parametrize("big_endian", [False, True])
def test_a_tiff_with_millions_of_strips_is_refused_from_its_header(big_endian):
    import time

    data = _tiff_with_strips(MAX_TIFF_STRIPS + 1, big_endian=big_endian)
    started = time.process_time()
    with pytest.raises(ImageLoadError, match="65,537 strips"):
        load_image(data, max_pixels=10**9)
    assert time.process_time() - started < 0.2  # PIL took 2.8 s and 350 MB to open 1,000,000 strips


def test_a_tiff_of_many_strips_within_the_limit_reads():
    assert load_image(_tiff_with_strips(2000)).size == (4, 2000)


def test_jpeg_scans_are_counted_across_read_boundaries(monkeypatch):
    import captioner.images.guards as guards

    monkeypatch.setattr(guards, "_CHUNK", 7)  # every marker split somewhere
    data = b"\xff\xd8" + b"\x00\x00\x00\xff\xda" * (MAX_JPEG_SCANS + 1)
    with pytest.raises(StructureError, match="scans"):
        check_structure(io.BytesIO(data))
    check_structure(io.BytesIO(b"\xff\xd8" + b"\x00\x00\x00\xff\xda" * MAX_JPEG_SCANS))  # at the limit: passes


def test_other_files_pass_and_are_left_at_their_start():
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG")
    buffer.seek(5)
    check_structure(buffer)
    assert buffer.tell() == 0
