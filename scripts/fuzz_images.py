"""Fuzz campaign for captioner.images.loading.load_image: mutate small images of every format PIL writes
(the ones captioner reads and the ones it must refuse, whatever their content claims) and report
every input that raises anything but ImageLoadError (an "escape") or takes more than --slow seconds.

    python scripts/fuzz_images.py --seconds 600 --out fuzz-escapes/

Each escape is written to --out as <format>-<seed>-<n>.bin with its traceback printed; the exit
status is 1 if any escaped. tests/images/test_loading_fuzz.py runs a bounded number of the same
mutations in the test suite.
"""

from __future__ import annotations

import argparse
import io
import random
import struct
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

# The formats captioner reads, with the variants that exercise its conversions, then every other
# format PIL can write (ICNS aside: its smallest file is 1.3 MB), which it must refuse cleanly.
READ_SEEDS = ("JPEG", "JPEG-PROGRESSIVE", "PNG", "PNG16", "GIF", "WEBP", "BMP", "TIFF", "PPM")
OTHER_SEEDS = (
    "AVIF",
    "DDS",
    "DIB",
    "EPS",
    "ICO",
    "IM",
    "JPEG2000",
    "MPO",
    "MSP",
    "PALM",
    "PCX",
    "PDF",
    "QOI",
    "SGI",
    "SPIDER",
    "TGA",
    "XBM",
)
SEED_FORMATS = READ_SEEDS + OTHER_SEEDS


def seed_images() -> dict[str, bytes]:
    """One small valid file per format (the JPEG with EXIF orientation, the PNG with alpha)."""
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x011A] = 72.0
    images = {
        "JPEG": (rgb, {"exif": exif.tobytes()}),
        "PNG": (rgb.convert("RGBA"), {}),
        "PNG16": (Image.fromarray(rng.integers(0, 65535, (12, 16), dtype=np.uint16)), {"format": "PNG"}),
        "GIF": (rgb.convert("P"), {}),
        "WEBP": (rgb, {}),
        "BMP": (rgb, {}),
        "TIFF": (rgb, {"compression": "tiff_lzw"}),
        "JPEG-PROGRESSIVE": (rgb, {"format": "JPEG", "progressive": True}),
        "PPM": (rgb, {}),
        **{name: (rgb.convert("1") if name in ("MSP", "PALM", "XBM") else rgb, {}) for name in OTHER_SEEDS},
    }
    seeds = {}
    for name, (img, kwargs) in images.items():
        buf = io.BytesIO()
        img.save(buf, kwargs.pop("format", name), **kwargs)
        seeds[name] = buf.getvalue()
    return seeds


def mutate(data: bytes, seed: int, n: int) -> bytes:
    """`n` random mutations of `data`, a function of (data, seed, n) alone: flipped bits, random or
    extreme bytes and 32-bit values, inserted, deleted or duplicated runs, truncation."""
    rng = random.Random(seed)
    buf = bytearray(data)
    for _ in range(n):
        if not buf:
            break
        i = rng.randrange(len(buf))
        op = rng.randrange(7)
        if op == 0:
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            buf[i] = rng.choice((0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)))
        elif op == 2 and i + 4 <= len(buf):
            buf[i : i + 4] = struct.pack("<I", rng.choice((0, 1, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, rng.getrandbits(32))))
        elif op == 3:
            buf[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
        elif op == 4:
            del buf[i : i + rng.randrange(1, 16)]
        elif op == 5:
            j = min(len(buf), i + rng.randrange(1, 64))
            buf[j:j] = buf[i:j]
        else:
            del buf[max(1, i) :]
    return bytes(buf)


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the captioner of this checkout
    from captioner.images.loading import ImageLoadError, load_image

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--out", type=Path, help="folder for the inputs that escaped")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--slow", type=float, default=1.0, help="seconds of CPU above which an input is reported as slow")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # PIL warns on every damaged EXIF block; only escapes matter here
    seeds = seed_images()
    rng = random.Random(args.seed)
    tried, escapes, slow, kinds = 0, 0, 0, {}
    stop = time.monotonic() + args.seconds
    while time.monotonic() < stop:
        fmt, seed, n = rng.choice(SEED_FORMATS), rng.getrandbits(32), rng.randint(1, 8)
        data = mutate(seeds[fmt], seed, n)
        tried += 1
        started = time.process_time()
        try:
            load_image(data, max_pixels=4_000_000)
        except ImageLoadError:
            pass
        except Exception as exc:  # noqa: BLE001 - what the campaign looks for
            escapes += 1
            kinds[type(exc).__name__] = kinds.get(type(exc).__name__, 0) + 1
            print(f"ESCAPE {fmt} seed={seed} n={n}: {type(exc).__name__}: {exc}", file=sys.stderr)
            traceback.print_exc(limit=3)
            if args.out:
                args.out.mkdir(parents=True, exist_ok=True)
                (args.out / f"{fmt.lower()}-{seed}-{n}.bin").write_bytes(data)
        if (spent := time.process_time() - started) > args.slow:
            slow += 1
            print(f"SLOW {fmt} seed={seed} n={n}: {spent:.1f} s of CPU", file=sys.stderr)
    print(f"{tried} mutated files of {len(SEED_FORMATS)} formats in {args.seconds:.0f} s, {escapes} escapes {kinds}, {slow} slow")
    return 1 if escapes or slow else 0


if __name__ == "__main__":
    sys.exit(main())
