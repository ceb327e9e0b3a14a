import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from captioner.images.loading import ImageLoadError, load_image, load_image_and_size


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_path_bytes_and_pil_inputs_agree(tmp_path, photos):
    path = tmp_path / "cat.png"
    photos["chelsea"].save(path)
    from_path = load_image(path)
    from_bytes = load_image(path.read_bytes())
    from_pil = load_image(Image.open(path))
    assert from_path.mode == "RGB" and from_path.size == photos["chelsea"].size
    assert np.array_equal(np.asarray(from_path), np.asarray(from_bytes))
    assert np.array_equal(np.asarray(from_path), np.asarray(from_pil))


@pytest.mark.parametrize("mode", ["L", "1", "CMYK", "LA", "RGBA", "I", "F"])
def test_modes_become_rgb(mode):
    img = Image.new("RGB", (8, 6), (200, 100, 50)).convert(mode)
    out = load_image(img)
    assert out.mode == "RGB" and out.size == (8, 6)


def test_transparent_pixels_composited_on_white():
    img = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    img.putpixel((0, 0), (255, 0, 0, 255))
    out = np.asarray(load_image(_encode(img, "PNG")))
    assert out[0, 0].tolist() == [255, 0, 0]
    assert out[3, 3].tolist() == [255, 255, 255]


def test_palette_with_transparency():
    img = Image.new("P", (4, 4), 0)
    img.putpalette([0, 0, 255] + [0, 255, 0] * 255)
    img.putpixel((1, 1), 1)
    out = np.asarray(load_image(_encode(img, "PNG", transparency=0)))
    assert out[0, 0].tolist() == [255, 255, 255]  # transparent index -> white
    assert out[1, 1].tolist() == [0, 255, 0]


def test_sixteen_bit_is_rescaled_not_clipped():
    arr = np.array([[0, 32768, 65535]], dtype=np.uint16)
    out = np.asarray(load_image(_encode(Image.fromarray(arr), "PNG")))
    assert out[0, :, 0].tolist() == [0, 128, 255]


@pytest.mark.parametrize(
    "orientation, top, bottom",
    [(1, "red", "blue"), (3, "blue", "red"), (6, "red", "blue"), (8, "blue", "red")],
)
def test_exif_orientation_is_honoured(orientation, top, bottom):
    # left half red, right half blue, 40 x 20. Displayed upright:
    # 6 (turn 90 degrees clockwise) puts the left half on top, 8 (counter-clockwise) the right half,
    # 3 (180 degrees) swaps them, 1 leaves the picture as stored. A turn the wrong way swaps the halves.
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = np.asarray(load_image(_encode(img, "JPEG", exif=exif)), dtype=int)
    rotated = orientation in (6, 8)
    assert out.shape[:2] == ((40, 20) if rotated else (20, 40))
    if rotated:
        halves = out[5, 10], out[-5, 10]  # a pixel in the top half, one in the bottom half
    else:
        halves = out[10, 5], out[10, -5]  # stored unrotated: left and right
    colour = {"red": 0, "blue": 2}
    assert halves[0][colour[top]] > 200 and halves[1][colour[bottom]] > 200


def _large_jpeg(photo: Image.Image, size=(1600, 1400), **kw) -> bytes:
    return _encode(photo.resize(size, Image.Resampling.BICUBIC), "JPEG", quality=90, **kw)


def test_a_large_jpeg_decodes_at_a_reduced_scale_no_smaller_than_asked(photos):
    data = _large_jpeg(photos["astronaut"])
    whole = load_image(data)
    small, size = load_image_and_size(data, min_side=672)
    assert whole.size == size == (1600, 1400)
    assert small.mode == "RGB" and small.size == (800, 700)  # 1/2: 1/4 would leave a side under 672
    assert load_image(data, min_side=300).size == (400, 350)  # 1/4
    # What the model sees: the reduced decode resized equals the whole one resized, to a level or two.
    resized = [np.asarray(im.resize((224, 224), Image.Resampling.BICUBIC, reducing_gap=3.0), dtype=float) for im in (whole, small)]
    diff = np.abs(resized[0] - resized[1])
    assert diff.mean() < 0.5 and diff.max() <= 8


def test_reduced_scale_keeps_the_orientation_and_reports_the_upright_full_size(photos):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    small, size = load_image_and_size(_large_jpeg(photos["astronaut"], exif=exif), min_side=672)
    assert size == (1400, 1600) and small.size == (700, 800)


def test_reduced_scale_only_for_jpegs_read_here(tmp_path, photos):
    png = _encode(photos["astronaut"].resize((1600, 1400)), "PNG")
    assert load_image_and_size(png, min_side=672)[0].size == (1600, 1400)
    path = tmp_path / "big.jpg"
    path.write_bytes(_large_jpeg(photos["astronaut"]))
    assert load_image(path, min_side=672).size == (800, 700)
    given = Image.open(path)  # the caller's own image object: decoded whole, left as it was
    assert load_image(given, min_side=672).size == given.size == (1600, 1400)


def test_gif_first_frame():
    frames = [Image.new("RGB", (5, 5), c) for c in [(255, 0, 0), (0, 0, 255)]]
    data = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert np.asarray(load_image(data))[0, 0].tolist() == [255, 0, 0]


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header(width: int, height: int) -> bytes:
    """A tiny PNG file that declares huge dimensions (its pixel data is missing)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_text("hello, not an image"), "not a recognised image"),
        (lambda p: p.write_bytes(_encode(Image.new("RGB", (64, 64), (1, 2, 3)), "JPEG")[:300]), "truncated"),
        (lambda p: p.write_bytes(_png_header(100_000, 100_000)), "decompression bomb|too large"),
        (lambda p: p.write_bytes(_png_header(12_000, 10_000)), "too large"),
    ],
    ids=["empty", "text", "truncated", "bomb", "too-large"],
)
def test_bad_files_raise_one_clear_error(tmp_path, make, reason):
    path = tmp_path / "bad.png"
    make(path)
    with pytest.raises(ImageLoadError, match=reason) as info:
        load_image(path)
    assert str(path) in str(info.value)
    assert info.value.source == str(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageLoadError, match="not found"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageLoadError, match="directory"):
        load_image(tmp_path)


def test_bad_bytes_and_types_named():
    with pytest.raises(ImageLoadError, match=r"<5 bytes>: not a recognised"):
        load_image(b"abcde")
    with pytest.raises(ImageLoadError, match="unsupported input type int"):
        load_image(42)
    with pytest.raises(ImageLoadError, match="upload.jpg"):
        load_image(b"", name="upload.jpg")


# -- hostile inputs (issue 12) ------------------------------------------------------------------


def _exif(entries) -> bytes:
    """Raw little-endian EXIF with the given IFD entries (tag, type, count, 4-byte value)."""
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHI", t, ty, n) + v for t, ty, n, v in entries)
    return b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0)


def test_exif_tag_of_the_wrong_type_does_not_escape():
    # Orientation 6 (rotate) and XResolution, a RATIONAL tag, written as ASCII: PIL's EXIF
    # handling raised TypeError (abs() of a str) when it rewrote the EXIF after rotating.
    exif = _exif([(0x0112, 3, 1, struct.pack("<HH", 6, 0)), (0x011A, 2, 4, b"abc\x00")])
    data = _encode(Image.new("RGB", (20, 10), (255, 0, 0)), "JPEG", exif=exif)
    out = load_image(data)
    assert out.mode == "RGB" and out.size == (10, 20)  # still turned upright


@pytest.mark.parametrize("error", [TypeError("bad operand"), struct.error("unpack"), NotImplementedError("DDS"), RuntimeError("x")])
def test_any_decoder_failure_becomes_image_load_error(monkeypatch, error):
    from PIL import ImageFile

    def broken(self, *args, **kwargs):
        raise error

    data = _encode(Image.new("RGB", (4, 4)), "PNG")
    monkeypatch.setattr(ImageFile.ImageFile, "load", broken)
    with pytest.raises(ImageLoadError, match="evil.png") as info:
        load_image(data, name="evil.png")
    assert type(error).__name__ in info.value.reason


def test_sixteen_bit_conversion_memory_stays_near_the_8_bit_size():
    import tracemalloc

    img = Image.fromarray(np.random.default_rng(0).integers(0, 65535, (1500, 1500), dtype=np.uint16))
    img.load()
    tracemalloc.start()
    try:
        out = load_image(img)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.size == (1500, 1500)
    assert peak < 3 * 1500 * 1500  # the 8-bit RGB result's size; float64 conversion took 8 bytes a pixel and more


@pytest.mark.parametrize("size_line", [b"16*12*12", b"16"])
def test_im_file_with_a_malformed_size_line_is_an_image_load_error(size_line):
    # PIL's IM plug-in parsed "16*12*12" into a 3-tuple size: a plain ValueError that stopped a whole
    # batch (issue 25). IM is no format captioner reads: refused before PIL parses it.
    data = _encode(Image.new("L", (16, 12)), "IM").replace(b"16*12", size_line, 1)
    with pytest.raises(ImageLoadError, match="not a recognised image format"):
        load_image(data, name="x.png")


def test_postscript_named_png_never_reaches_ghostscript(tmp_path, monkeypatch):
    from PIL import EpsImagePlugin

    log = tmp_path / "gs.log"
    gs = tmp_path / "bin" / "gs"
    gs.parent.mkdir()
    gs.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexit 1\n')
    gs.chmod(0o755)
    monkeypatch.setenv("PATH", f"{gs.parent}:{__import__('os').environ['PATH']}")
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", None)  # found again, on this PATH
    monkeypatch.setattr(EpsImagePlugin, "gs_windows_binary", None)
    eps = tmp_path / "photo.png"
    eps.write_bytes(_encode(Image.new("RGB", (16, 12)), "EPS"))
    for src in (eps, eps.read_bytes()):
        with pytest.raises(ImageLoadError) as info:
            load_image(src)
        assert "not a recognised image format" in info.value.reason
        assert str(tmp_path) not in info.value.reason
    assert not log.exists()  # Ghostscript never ran


def test_decoder_messages_shown_to_people_hold_no_paths_or_command_lines(monkeypatch):
    import subprocess

    from PIL import ImageFile

    errors = iter(
        [
            OSError("cannot open /tmp/tmpk2j/decoder-input.ps: bad data"),
            subprocess.CalledProcessError(1, ["gs", "-q", "-sOutputFile=/tmp/secret/out.png", "/tmp/secret/in.eps"]),
        ]
    )

    def broken(self, *args, **kwargs):
        raise next(errors)

    monkeypatch.setattr(ImageFile.ImageFile, "load", broken)
    data = _encode(Image.new("RGB", (4, 4)), "PNG")
    reasons = []
    for _ in range(2):
        with pytest.raises(ImageLoadError, match="upload.png") as info:
            load_image(data, name="upload.png")
        reasons.append(info.value.reason)
    assert "/tmp" not in "".join(reasons) and "gs" not in reasons[1]
    assert reasons[0] == "cannot decode image (cannot open <path>: bad data)"


def _progressive_with_repeated_scan(repeats: int) -> bytes:
    """A valid progressive JPEG whose smallest scan is repeated `repeats` more times (libjpeg
    decodes every copy, only warning)."""
    rng = np.random.default_rng(0)
    data = _encode(Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)), "JPEG", progressive=True)
    starts = [i for i in range(len(data) - 1) if data[i : i + 2] == b"\xff\xda"] + [data.rfind(b"\xff\xd9")]
    scan = min((data[a:b] for a, b in zip(starts, starts[1:])), key=len)
    end = starts[-1]
    return data[:end] + scan * repeats + data[end:]


def test_a_jpeg_repeating_its_scans_is_refused_before_decoding():
    import time

    started = time.process_time()
    with pytest.raises(ImageLoadError, match="scans"):
        load_image(_progressive_with_repeated_scan(3000))
    assert time.process_time() - started < 1.0  # decoding it took seconds (a 1.8 MB one 87 s)
    assert load_image(_progressive_with_repeated_scan(0)).size == (640, 480)  # a normal progressive JPEG reads
