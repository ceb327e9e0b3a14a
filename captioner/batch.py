"""Captioning many image files into one JSONL or CSV file: the library behind `captioner caption`.

- `discover_inputs`: files, folders (searched recursively), glob patterns and list files become an
  ordered list of `BatchItem`s without duplicates.
- `caption_items`: one record per input, in input order, failures included, from the library's
  one captioning path (Captioner.stream: images read by background threads while the model
  captions the previous batch).
- `run_batch`: writes those records to the output, flushed one by one, so a killed run loses
  nothing already written; `resume` skips what the output already holds and repairs a half-written
  last line. Under torchrun every process takes its share of the inputs (rank::world_size) into a
  part file of its own, and rank 0 merges the parts into the output in input order at the end.

A record is `{"path": ..., "caption": ..., "score": ..., "error": null}`; an image that cannot be
read gets `"caption": null, "score": null` and `"error": "<reason>"`. Optional fields:
`alternatives` (the n-best captions) and `peaks` (per word, the grid cell it attends to most).
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from captioner.decoding.options import DecodingOptions
from captioner.distributed import Distributed, process_group
from captioner.files import atomic_write
from captioner.pipeline import Captioned
from captioner.results import maps
from captioner.results.result import CaptionResult
from captioner.runtime.decoding_step import extra_names
from captioner.viz.export import export_heatmaps
from captioner.viz.render import HeatmapStyle

# What a folder search picks up. A file named on the command line, by a glob or in a list file is
# taken whatever its name: the user chose it, and a failed record tells them if it is no image.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jfif", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".pnm"})


class BatchError(ValueError):
    """A usage problem the user must fix: an input that matches nothing, an output that already
    exists, an output written with other columns. The command line exits with status 2."""


# ----------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class BatchItem:
    path: str  # as the records name it: as the user gave it, or a folder joined with the path under it
    name: PurePath  # unique relative path for the image's heatmap files: the path under the common folder


def discover_inputs(inputs: Sequence[str] = (), list_files: Sequence[str] = ()) -> list[BatchItem]:
    """The images to caption, in order: each of `inputs` (a file, a folder searched recursively for
    image files, or a glob pattern; `**` matches any depth) and then each path listed in `list_files`
    (one a line, relative to the current folder; blank lines and lines starting with # are skipped).

    A file reached twice is taken once, at its first place. Raises BatchError for an input that
    matches nothing; a listed path that does not exist is kept and fails as its own record.
    """
    paths: list[str] = []
    for pattern in inputs:
        found = _expand(pattern)
        if not found:
            raise BatchError(_nothing_found(pattern))
        paths.extend(found)
    for list_file in list_files:
        paths.extend(_read_list(list_file))
    if not paths:
        raise BatchError("no inputs: give image files, folders or glob patterns, or a list file")
    unique: dict[str, str] = {}  # absolute path -> the path as first given
    for path in paths:
        unique.setdefault(os.path.abspath(path), path)
    # The common folder of all inputs: paths under it are unique, and short enough for file names.
    root = os.path.commonpath([os.path.dirname(a) for a in unique])
    return [BatchItem(path, PurePath(os.path.relpath(a, root))) for a, path in unique.items()]


def _expand(pattern: str) -> list[str]:
    if os.path.isdir(pattern):
        return _search(pattern)
    if _present(pattern):
        return [pattern]
    found = []
    for match in sorted(glob.glob(pattern, recursive=True)):
        found.extend(_search(match) if os.path.isdir(match) else [match])
    return found


def _present(path: str) -> bool:
    """True if `path` names something, even something that cannot be read: a name too long, a
    symlink loop or a folder without permission keep their place and fail as their own record,
    with the real reason."""
    try:
        os.stat(path)
    except FileNotFoundError:
        return os.path.lexists(path)  # a dangling symlink: its record says "file not found"
    except OSError:
        return True
    except ValueError:  # a NUL byte: no file can have that name
        return False
    return True


def _search(folder: str) -> list[str]:
    """Image files under `folder`, sorted, skipping hidden files and folders (.git, and macOS's
    `._name.jpg` resource forks, which carry an image suffix but are no images)."""
    found = []
    for parent, folders, files in os.walk(folder):
        folders[:] = sorted(f for f in folders if not f.startswith("."))  # os.walk descends in this order
        found.extend(
            os.path.join(parent, f) for f in sorted(files) if not f.startswith(".") and os.path.splitext(f)[1].lower() in IMAGE_SUFFIXES
        )
    return found


def _nothing_found(pattern: str) -> str:
    if os.path.isdir(pattern):
        return f"{pattern}: folder holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))})"
    if glob.escape(pattern) != pattern:
        return f"{pattern}: the pattern matches no files"
    return f"{pattern}: no such file or folder"


def _read_list(list_file: str) -> list[str]:
    try:
        text = Path(list_file).read_text(encoding="utf-8-sig")  # a byte-order mark (Windows editors) is not part of the first path
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchError(f"cannot read list file {list_file}: {exc}") from exc
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


# ----------------------------------------------------------------------------------------------
# Records


# The attention lab's per-word fields of a caption's JSON (CaptionResult.to_json), in record order.
LAB_WORD_FIELDS = ("centres", "sentinel_shares")


def lab_word_fields(captioner: Any) -> tuple[str, ...]:
    """The attention lab's per-word fields (LAB_WORD_FIELDS) that `captioner`'s model (a Captioner's) gives."""
    return tuple(name for name in LAB_WORD_FIELDS if name in extra_names(captioner.model.decoder))


def record_columns(
    n_best: int = 1, peaks: bool = False, heatmaps: bool = False, objects: bool = False, word_extras: Sequence[str] = ()
) -> list[str]:
    """The fields of every record, in order (the CSV header). `heatmaps`: where the image's
    heatmap files are (their common prefix: add _grid.png, .gif, _attention.npy, .json).
    `objects`: where each object word's name came from (a captioner that names objects).
    `word_extras`: the attention lab's per-word fields the model gives ("centres": local attention's,
    which come with the "grid" they are measured on; "sentinel_shares": the visual sentinel's)."""
    return (
        ["path", "caption", "score", "error"]
        + ["alternatives"] * (n_best > 1)
        + ["peaks"] * peaks
        + ["heatmaps"] * heatmaps
        + ["objects"] * objects
        + ["grid"] * ("centres" in word_extras)
        + [name for name in LAB_WORD_FIELDS if name in word_extras]
    )


def result_record(path: str, result: CaptionResult, n_best: int = 1, peaks: bool = False) -> dict[str, Any]:
    """The record of a captioned image: its path and fields of the result's JSON (CaptionResult.to_json)."""
    data = result.to_json()
    record = {"path": path, "caption": data["caption"], "score": data["score"], "error": None}
    if n_best > 1:
        record["alternatives"] = data.get("alternatives", [])
    if peaks:
        record["peaks"] = attention_peaks(result.words, result.attention)
    if "objects" in data:
        record["objects"] = data["objects"]
    # The attention lab's per-word extras (docs/attention-lab.md), for the models that have them
    # (a CSV has their columns when BatchOptions.word_extras names them).
    record.update({k: data[k] for k in ("grid", *LAB_WORD_FIELDS) if k in data})
    return record


def error_record(path: str, error: str) -> dict[str, Any]:
    """The record of an image that could not be captioned."""
    return {"path": path, "caption": None, "score": None, "error": error}


def attention_peaks(words: Sequence[str], attention: np.ndarray) -> list[dict[str, Any]]:
    """For each word, the grid cell (row, col) where its attention peaks (captioner.results.maps.peak at
    the grid's resolution: the cell holding the upsampled map's peak) and the weight there."""
    peaks = []
    for word, grid in zip(words, attention):
        col, row = maps.peak(grid)
        peaks.append({"word": word, "row": row, "col": col, "weight": round(float(grid[row, col]), 4)})
    return peaks


# ----------------------------------------------------------------------------------------------
# Captioning


@dataclass(frozen=True)
class BatchOptions:
    decoding: DecodingOptions = DecodingOptions()
    batch_size: int = 32
    peaks: bool = False  # adds the `peaks` field
    heatmaps: Path | None = None  # a folder: write each image's heatmaps there (export_heatmaps)
    style: HeatmapStyle | None = None  # how the heatmaps look
    workers: int = 2  # threads that read images (and draw heatmaps) beside the model
    objects: bool = False  # adds the `objects` field (set when the captioner names objects)
    # The attention lab's per-word fields the model gives (LAB_WORD_FIELDS): CSV columns, as `objects`.
    word_extras: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        return record_columns(self.decoding.n_best, self.peaks, self.heatmaps is not None, self.objects, self.word_extras)


def caption_items(captioner: Any, items: Sequence[BatchItem], options: BatchOptions = BatchOptions()) -> Iterator[dict]:
    """Caption `items` with `captioner` (a Captioner) and yield one record per item, in order.

    Runs on Captioner.stream: background threads read the images while the model works on the
    previous batch, and draw the heatmaps when asked to. An image that cannot be read gets an error
    record and the others go on.
    """
    by_path = {item.path: item for item in items}
    finish = partial(_finish, by_path=by_path, options=options)
    yield from captioner.stream(
        [item.path for item in items],
        options.decoding,
        batch_size=options.batch_size,
        workers=options.workers,
        keep_images=options.heatmaps is not None,
        finish=finish,
    )


def _finish(captioned: Captioned, by_path: dict[str, BatchItem], options: BatchOptions) -> dict:
    item = by_path[captioned.source]
    if captioned.error is not None:
        return error_record(item.path, captioned.error.reason)  # the record names the path already
    record = result_record(item.path, captioned.result, options.decoding.n_best, options.peaks)
    if options.heatmaps is not None:
        # Written before the record: a record in the output promises its heatmaps exist (--resume).
        folder, stem = options.heatmaps / item.name.parent, heatmap_stem(item.name.name)
        try:
            export_heatmaps(captioned.image, captioned.result, folder, stem, style=options.style)
        except OSError as exc:  # a full disk, a folder that cannot be written: this image's failure
            return error_record(item.path, f"captioned, but its heatmaps could not be written ({exc})")
        record["heatmaps"] = str(folder / stem)
    return record


# File names stay well below the usual 255-byte limit once the heatmap suffixes are added.
_MAX_STEM_BYTES = 200


def heatmap_stem(name: str) -> str:
    """The stem of an image's heatmap files: its file name, or for a name too long to take the
    suffixes its first part and a hash of the whole name (unique, the same in every run)."""
    if len(os.fsencode(name)) <= _MAX_STEM_BYTES:
        return name
    digest = hashlib.sha1(os.fsencode(name)).hexdigest()[:12]
    head = name
    while len(os.fsencode(head)) > _MAX_STEM_BYTES - len(digest) - 1:
        head = head[: len(head) * 3 // 4]
    return f"{head}-{digest}"


# ----------------------------------------------------------------------------------------------
# Output files


def _check_record(record: Any, source: Path, number: int) -> dict:
    if not isinstance(record, dict) or not isinstance(record.get("path"), str) or "error" not in record:
        raise BatchError(f"{source}, line {number}: not a record of captioner caption; fix or remove it, or pass --overwrite")
    return record


class _JsonLines:
    """One JSON object a line, in UTF-8. A path that is not valid UTF-8 (its undecodable bytes are
    lone surrogates in Python, PEP 383) keeps them as \\udcXX escapes: valid JSON, read back as the
    same path."""

    header = ""
    errors = "strict"

    def line(self, record: dict) -> str:
        return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(record, ensure_ascii=False)) + "\n"

    def parse(self, text: str, source: Path) -> tuple[list[dict], int]:
        # split("\n"), not splitlines(): a caption or path may hold U+2028 and other line breaks.
        records = []
        for number, line in enumerate(text.split("\n")[:-1], 1):
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, RecursionError):
                record = None
            records.append(_check_record(record, source, number))
        return records, len(text)


_SURROGATE = re.compile("[\ud800-\udfff]")


class _Csv:
    """One record a row; list fields (alternatives, peaks, objects, the lab's grid, centres and
    sentinel shares) are JSON text in their cell; null is empty.
    Text is UTF-8, except a path's bytes that are not valid UTF-8: they are written as the file
    system has them (Python's surrogateescape), so the cell names the very file."""

    errors = "surrogateescape"

    def __init__(self, columns: list[str]):
        self.columns = columns
        self.header = self._row(columns)

    def line(self, record: dict) -> str:
        return self._row([_escape(_cell(record.get(c))) if c in _TEXT_COLUMNS else _cell(record.get(c)) for c in self.columns])

    def parse(self, text: str, source: Path) -> tuple[list[dict], int]:
        """The records, and where the last complete one ends (a run killed inside a quoted line
        break leaves a row without its closing quote: it is dropped and done again)."""
        pulled = 0

        def lines() -> Iterator[str]:
            nonlocal pulled
            for line in text.split("\n")[:-1]:
                pulled += len(line) + 1
                yield line + "\n"

        rows, end = [], 0
        reader = csv.reader(lines(), strict=True)
        try:
            for row in reader:
                rows.append(row)
                end = pulled
        except csv.Error as exc:
            if pulled < len(text) or "unexpected end of data" not in str(exc):
                raise BatchError(f"{source}, line {reader.line_num}: not a CSV file written by captioner caption ({exc})") from exc
        if rows and rows[0] != self.columns:
            raise BatchError(
                f"{source} has the columns {rows[0]}, this run writes {self.columns}: "
                f"use the same model and --n-best, --peaks and --heatmaps options, or --overwrite"
            )
        records = []
        for number, row in enumerate(rows[1:], 2):
            if len(row) != len(self.columns):
                raise BatchError(f"{source}, line {number}: {len(row)} cells, this run writes {len(self.columns)} columns")
            cells = {c: (_unescape(v) if c in _TEXT_COLUMNS else v) for c, v in zip(self.columns, row)}
            records.append(_check_record({c: (v if v != "" else None) for c, v in cells.items()}, source, number))
        return records, end

    @staticmethod
    def _row(values: list[str]) -> str:
        buffer = io.StringIO()
        # The writer quotes a cell holding "\n" (its line end) but not one holding a lone "\r", which
        # its reader then refuses: a row with one is quoted whole.
        quoting = csv.QUOTE_ALL if any("\r" in v for v in values) else csv.QUOTE_MINIMAL
        csv.writer(buffer, lineterminator="\n", quoting=quoting).writerow(values)
        return buffer.getvalue()


# Cells of text that a spreadsheet would run as a formula when they start with one of these
# (OWASP, "CSV injection"): a quote goes in front, and a cell that starts with a quote gets one
# more, so reading back (--resume) removes exactly one and gives the text as it was.
_TEXT_COLUMNS = frozenset({"path", "caption", "error", "heatmaps"})
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def _escape(cell: str) -> str:
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def _unescape(cell: str) -> str:
    return cell[1:] if cell.startswith("'") else cell


def _cell(value: Any) -> str:
    if value is None or isinstance(value, str):  # str also covers list fields read back from a CSV
        return value or ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


class RecordFile:
    """An output file of records: CSV if its name ends in .csv, JSON lines otherwise.

    Every record is one line (a CSV path holding a line break is the exception), written and
    flushed at once, so only the last line of a killed run can be incomplete.
    """

    def __init__(self, path: str | os.PathLike, columns: list[str]):
        self.path = Path(path)
        self.format = _Csv(columns) if self.path.suffix.lower() == ".csv" else _JsonLines()

    def read(self) -> list[dict]:
        """The complete records in the file (none if it does not exist); a partial last record is
        ignored. Raises BatchError for a file this format cannot continue."""
        return self._complete()[0]

    @contextmanager
    def writer(self, append: bool = False) -> Iterator[Callable[[dict], None]]:
        """A function that writes one record and flushes it. `append` keeps what the file holds,
        cutting off an incomplete last line first (the image it belonged to is done again)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if append and self.path.exists():
            _, end = self._complete()
            with open(self.path, "r+b") as fh:
                fh.truncate(end)
        with open(self.path, "a" if append else "w", encoding="utf-8", errors=self.format.errors, newline="") as fh:
            if fh.tell() == 0:
                fh.write(self.format.header)

            def write(record: dict) -> None:
                fh.write(self.format.line(record))
                fh.flush()

            yield write

    def rewrite(self, records: Iterable[dict]) -> None:
        """Replace the file's content with `records`, atomically: a reader sees the old file or the
        whole new one, never a mix."""
        text = self.format.header + "".join(self.format.line(record) for record in records)
        atomic_write(self.path, text.encode("utf-8", self.format.errors))

    def _complete(self) -> tuple[list[dict], int]:
        """The file's complete records, and the length in bytes of the part that holds them."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return [], 0
        except OSError as exc:
            raise BatchError(f"{self.path}: cannot read it ({exc.strerror or exc})") from exc
        if b"\0" in data:
            raise BatchError(f"{self.path}: not a text file written by captioner caption")
        try:
            text = data[: data.rfind(b"\n") + 1].decode("utf-8", self.format.errors)
        except UnicodeDecodeError as exc:
            raise BatchError(f"{self.path}: not a text file written by captioner caption") from exc
        records, end = self.format.parse(text, self.path)
        return records, len(text[:end].encode("utf-8", self.format.errors))


# ----------------------------------------------------------------------------------------------
# Running a batch, alone or as one of several processes


@dataclass(frozen=True)
class BatchSummary:
    captioned: int = 0
    failed: int = 0
    skipped: int = 0  # already in the output (resume)
    skipped_failed: int = 0  # of the skipped, those recorded as failures

    @property
    def exit_status(self) -> int:
        """0 if every image in the output has a caption, 1 if any failed."""
        return 1 if self.failed or self.skipped_failed else 0

    def __str__(self) -> str:
        text = f"captioned {self.captioned}, failed {self.failed}"
        if self.skipped:
            text += f"; {self.skipped} already in the output ({self.skipped_failed} of them failed)"
        return text


def check_output(out: str | os.PathLike, resume: bool = False, overwrite: bool = False) -> None:
    """Raise BatchError unless `out` may be written: it must not exist (or a cut-off run's part
    files beside it) unless `resume` continues it or `overwrite` replaces it."""
    out = Path(out)
    if resume and overwrite:
        raise BatchError("resume and overwrite exclude each other")
    if out.is_dir():
        raise BatchError(f"{out} is a folder; --out names the output file")
    if not (resume or overwrite):
        if out.exists():
            raise BatchError(f"{out} exists: pass --resume to continue it or --overwrite to replace it")
        if _part_files(out):
            raise BatchError(f"{out}: a cut-off run left part files beside it: pass --resume or --overwrite")


def run_batch(
    captioner: Any,
    items: Sequence[BatchItem],
    out: str | os.PathLike,
    options: BatchOptions = BatchOptions(),
    resume: bool = False,
    overwrite: bool = False,
    shard: Distributed = Distributed(),
    progress: bool = True,
    retry_failed: bool = False,
) -> BatchSummary:
    """Caption this process's share of `items` into `out` and return the counts of all processes.

    Alone, records go straight into `out`. Under torchrun (shard.world_size > 1) each rank writes
    `out.part-<rank>`, then rank 0 merges every part (and, with `resume`, what `out` held) into
    `out` in input order and deletes the parts. A rank's part file stays after a killed run and
    `resume` takes it up, with any number of processes. With `retry_failed` (and `resume`), the
    images the output records as failed are captioned again and their new records replace the old.
    """
    check_output(out, resume, overwrite)
    out = Path(out)
    output = RecordFile(out, options.columns)
    sink = output if not shard.enabled else RecordFile(_part_path(out, shard.rank), options.columns)
    mine = shard.take(items)
    with process_group(shard), locked(sink.path):  # every process has checked the output before any creates a file
        done: dict[str, bool] = {}  # resolved path -> failed, for what earlier runs wrote
        if resume:
            for earlier in (output, *(RecordFile(p, options.columns) for p in _part_files(out))):
                for record in earlier.read():
                    if not (retry_failed and record["error"] is not None):
                        done.setdefault(_key(record["path"]), record["error"] is not None)
        elif shard.is_main:
            # Replaced: the old output and parts of other ranks (each rank truncates its own), so a
            # later resume cannot bring their records back.
            current = {_part_path(out, r) for r in range(shard.world_size)} if shard.enabled else {out}
            for stale in [out, *_part_files(out)]:
                if stale not in current:
                    stale.unlink(missing_ok=True)
        todo = [item for item in mine if _key(item.path) not in done]
        failed = 0
        with sink.writer(append=resume) as write, _progress_bar(len(todo), shard, progress) as bar:
            # Records come in bursts, a batch at a time: counted one by one, the bar's first rate
            # was 1 image over the whole first batch's time (an estimate ~batch_size times too long).
            unshown = 0
            for record in caption_items(captioner, todo, options):
                write(record)
                failed += record["error"] is not None
                unshown += 1
                if unshown == options.batch_size:
                    bar.update(unshown)
                    unshown = 0
            bar.update(unshown)
        skipped_failed = sum(done.get(_key(item.path), False) for item in mine)
        summary = BatchSummary(len(todo) - failed, failed, len(mine) - len(todo), skipped_failed)
        summary = BatchSummary(*shard.sum_ints(dataclasses.astuple(summary)))  # every rank has closed its part file
        if shard.is_main and ((parts := _part_files(out)) or (retry_failed and todo)):
            _merge(output, [RecordFile(p, options.columns) for p in parts], items, latest=retry_failed)
    return summary


def _key(path: str) -> str:
    """What identifies an image across runs: its absolute, normalised path (./imgs/a.jpg, imgs/a.jpg
    and imgs//a.jpg are one image)."""
    return os.path.abspath(path)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the output file `path` (created if missing) while a run writes it:
    a second run on the same output stops with a BatchError instead of writing duplicates."""
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BatchError(f"{path} is being written by another captioner run; wait for it to finish") from None
        yield
    finally:
        os.close(fd)  # releases the lock


def _part_path(out: Path, rank: int) -> Path:
    return out.with_name(f"{out.name}.part-{rank}")


def _part_files(out: Path) -> list[Path]:
    prefix = f"{out.name}.part-"
    if not out.parent.is_dir():
        return []
    found = [p for p in out.parent.iterdir() if p.name.startswith(prefix) and p.name[len(prefix) :].isdigit()]
    return sorted(found, key=lambda p: int(p.name[len(prefix) :]))


def _merge(output: RecordFile, parts: list[RecordFile], items: Sequence[BatchItem], latest: bool = False) -> None:
    """Rewrite `output` with its own records and the parts', one per path, in input order: the
    first record of a path, or with `latest` its last (a retried image's new record)."""
    records: dict[str, dict] = {}
    for source in (output, *parts):
        for record in source.read():
            if latest:
                records[_key(record["path"])] = record
            else:
                records.setdefault(_key(record["path"]), record)
    position = {_key(item.path): i for i, item in enumerate(items)}
    output.rewrite(sorted(records.values(), key=lambda r: position.get(_key(r["path"]), len(position))))
    for part in parts:
        part.path.unlink()


@contextmanager
def _progress_bar(total: int, shard: Distributed, enabled: bool) -> Iterator[Any]:
    from tqdm import tqdm

    # One bar, on rank 0, for its share: several processes drawing on one terminal garble it.
    desc = "captioning" if not shard.enabled else f"captioning (rank 0 of {shard.world_size})"
    with tqdm(total=total, desc=desc, unit="img", disable=not enabled or not shard.is_main) as bar:
        yield bar
