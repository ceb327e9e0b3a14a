"""Reading images from paths, bytes or PIL objects into plain 8-bit RGB.

Everything that takes an image from a user goes through `load_image`, so every caller (library,
batch CLI, web app, training) gets the same conversions and the same error type. A bad image
raises `ImageLoadError`, whose message names the image and the reason.
"""

from __future__ import annotations

import io
import os
import re
import stat
import subprocess
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from captioner.images.guards import StructureError, check_structure

ImageInput = str | os.PathLike | bytes | bytearray | memoryview | Image.Image

# Images larger than this are refused before their pixels are decoded: a small file can declare
# huge dimensions (a "decompression bomb") and exhaust memory. 100 MP covers any camera photo.
DEFAULT_MAX_PIXELS = 100_000_000
_CHUNK_PIXELS = 1 << 18  # pixels converted at a time from 16-bit or float data
# The raster formats captioner reads (PIL's names; PPM covers .pbm/.pgm/.ppm/.pnm, JPEG also MPO).
# PIL's other plug-ins are never tried, whatever a file is named: some hand the file to external
# programs (EPS to Ghostscript) and the rarely used ones are the least hardened against crafted data.
READABLE_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP", "PPM")


class ImageLoadError(ValueError):
    """An input could not be read as an image. `source` names the input, `reason` says why."""

    def __init__(self, source: str, reason: str):
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


def describe_source(src: ImageInput) -> str:
    """A short human-readable name for an image input, used in error messages."""
    if isinstance(src, (str, os.PathLike)):
        return str(src)
    if isinstance(src, Image.Image):
        return f"<PIL image {src.mode} {src.size[0]}x{src.size[1]}>"
    if isinstance(src, (bytes, bytearray, memoryview)):
        return f"<{len(src)} bytes>"
    return f"<{type(src).__name__}>"


def load_image(src: ImageInput, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None, min_side: int | None = None) -> Image.Image:
    """Return `src` as an RGB PIL image, upright according to its EXIF orientation.

    Accepts a file path, the raw bytes of an encoded image, or a PIL image. Grayscale, palette,
    RGBA (composited on white), CMYK and 16-bit/float images are converted to 8-bit RGB.
    `min_side`: the caller needs no more than this many pixels on either side, so a JPEG read
    from a path or bytes is decoded at the smallest of libjpeg's reduced scales (1/2, 1/4, 1/8)
    that keeps both sides at least this long (a phone photo then decodes about 2.5x faster);
    other formats, and PIL images, come whole.
    Raises ImageLoadError (naming `name` or the input) for anything that is not a readable image.
    """
    return load_image_and_size(src, max_pixels, name, min_side)[0]


def load_image_and_size(
    src: ImageInput, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None, min_side: int | None = None
) -> tuple[Image.Image, tuple[int, int]]:
    """`load_image`, and the upright image's (width, height) at full scale, which is the returned
    image's own size unless `min_side` let a JPEG decode at a reduced scale."""
    label = name or describe_source(src)
    if isinstance(src, Image.Image):
        img = src
    else:
        img = _open(src, label)
    try:
        width, height = (int(side) for side in img.size)
    except (TypeError, ValueError) as exc:  # a crafted header that PIL parsed into something else
        raise ImageLoadError(label, f"image header declares no valid size ({img.size!r:.80})") from exc
    if width < 1 or height < 1:
        raise ImageLoadError(label, f"image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageLoadError(label, f"image is too large ({width}x{height} = {width * height:,} pixels; limit {max_pixels:,})")
    try:
        if min_side is not None and img is not src:
            # Scaling in the DCT skips most of the decoder's work; a PIL image given to us is
            # the caller's object and is left as it is.
            img.draft(None, (min_side, min_side))
        img.load()  # decode now so truncated or corrupt data fails here, with the image named
        decoded = img.size
        img = to_rgb(upright(img))
    except ImageLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever a decoder raises on crafted data, it is this image's error
        raise ImageLoadError(label, _reason(exc)) from exc
    return img, ((height, width) if img.size != decoded else (width, height))  # turned a quarter: sides swap


# EXIF orientation -> the transpose that turns the image upright (as ImageOps.exif_transpose).
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def upright(img: Image.Image) -> Image.Image:
    """`img` turned as its EXIF orientation says. Only the orientation tag is read: the rest of
    the EXIF is neither trusted nor rewritten (ImageOps.exif_transpose re-serialises it, and a
    tag of the wrong type there raised TypeError). Unreadable EXIF means no rotation."""
    try:
        orientation = img.getexif().get(0x0112)
    except Exception:  # noqa: BLE001 - damaged EXIF: the pixels are still good
        return img
    method = _ORIENTATION.get(orientation) if isinstance(orientation, int) else None
    return img.transpose(method) if method is not None else img


def _open(src: ImageInput, label: str) -> Image.Image:
    if isinstance(src, (bytes, bytearray, memoryview)):
        if len(src) == 0:
            raise ImageLoadError(label, "empty input (0 bytes)")
        fp = io.BytesIO(bytes(src))
        try:
            check_structure(fp)
        except StructureError as exc:
            raise ImageLoadError(label, str(exc)) from None
    elif isinstance(src, (str, os.PathLike)):
        path = Path(src)
        try:
            info = path.stat()
        except FileNotFoundError:
            raise ImageLoadError(label, "file not found") from None
        except (OSError, ValueError) as exc:  # a name too long, a symlink loop, no permission, a NUL byte
            raise ImageLoadError(label, f"cannot read file ({getattr(exc, 'strerror', None) or exc})") from exc
        if stat.S_ISDIR(info.st_mode):
            raise ImageLoadError(label, "is a directory, not an image file")
        if info.st_size == 0:
            raise ImageLoadError(label, "empty file (0 bytes)")
        fp = path
        try:
            with open(path, "rb") as fh:
                check_structure(fh)
        except StructureError as exc:
            raise ImageLoadError(label, str(exc)) from None
        except OSError as exc:
            raise ImageLoadError(label, f"cannot read file ({exc.strerror or exc})") from exc
    else:
        raise ImageLoadError(label, f"unsupported input type {type(src).__name__}; give a path, bytes or a PIL image")
    try:
        with warnings.catch_warnings():
            # PIL warns above ~89 MP; our own limit (max_pixels) decides, with a clear error.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(fp, formats=READABLE_FORMATS)
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(label, f"image declares absurd dimensions (decompression bomb): {exc}") from exc
    except UnidentifiedImageError as exc:
        raise ImageLoadError(label, f"not a recognised image format (captioner reads {', '.join(READABLE_FORMATS)})") from exc
    except OSError as exc:
        if exc.errno is not None:  # the file system's refusal (permission, I/O error), not the decoder's
            raise ImageLoadError(label, f"cannot read file ({exc.strerror or exc})") from exc
        raise ImageLoadError(label, _reason(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - struct.error, NotImplementedError, ... from a crafted header
        raise ImageLoadError(label, _reason(exc)) from exc


# A path in a decoder's message (a temporary file, a library's) is the server's business, not the
# reader's: messages are shown to web visitors. The image itself is named by the message's label.
_PATH = re.compile(r"(?<![\w.])(?:[A-Za-z]:)?[\\/][^\s'\",:;()\[\]]+")
_MAX_REASON = 300


def _reason(exc: BaseException) -> str:
    if isinstance(exc, subprocess.SubprocessError):  # its text is the command line
        return "cannot decode image (an external decoder failed)"
    text = _PATH.sub("<path>", str(exc) or type(exc).__name__)[:_MAX_REASON]
    if "truncated" in text.lower():
        return f"image data is truncated or corrupt ({text})"
    if isinstance(exc, (OSError, ValueError, SyntaxError)):
        return f"cannot decode image ({text})"
    return f"cannot decode image ({type(exc).__name__}: {text})"


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB. Transparency is composited on white."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # PIL's own convert("L") clips 16-bit and float data instead of rescaling it.
        if img.mode.startswith("I;16"):
            top = 65535.0
        else:
            high = img.getextrema()[1]
            top = float(high) if np.isfinite(high) and high > 255 else 255.0
        # A band of rows at a time: memory stays near the 8-bit image's size, not 8 bytes a pixel.
        width, height = img.size
        out = np.empty((height, width), dtype=np.uint8)
        rows = max(1, _CHUNK_PIXELS // max(1, width))
        for top_row in range(0, height, rows):
            band = np.asarray(img.crop((0, top_row, width, min(height, top_row + rows))), dtype=np.float32)
            out[top_row : top_row + rows] = np.clip(np.nan_to_num(band) / top * 255.0, 0, 255).round()
        return Image.fromarray(out, mode="L").convert("RGB")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")
