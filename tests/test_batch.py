"""captioner.batch: input discovery, error records, output formats, resume, part-file merging, heatmaps."""

import csv
import io
import json
import os
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from captioner import Captioner, ModelConfig
from captioner.batch import (
    BatchError,
    BatchOptions,
    RecordFile,
    attention_peaks,
    caption_items,
    check_output,
    discover_inputs,
    record_columns,
    run_batch,
)
from captioner.decoding.options import DecodingOptions
from scripts.fuzz_images import mutate, seed_images

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny(vocab):
    torch.manual_seed(0)
    return Captioner.from_config(ModelConfig(embed_dim=16, hidden_dim=16, attention_dim=16, max_len=6), vocab)


def _save_photos(folder, photos, names):
    """Small copies of the sample photos (small: reading them is not what these tests check)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        path = folder / name
        photos[path.stem].resize((96, 72)).save(path)
        paths.append(str(path))
    return paths


def _read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


# -- inputs -----------------------------------------------------------------------------------


def _tree(tmp_path):
    for rel in ["a.jpg", "b.PNG", "notes.txt", "sub/c.jpeg", "sub/deeper/d.webp", ".hidden/e.jpg", "sub/._f.jpg"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    return tmp_path


def test_folder_is_searched_recursively_for_image_files(tmp_path):
    root = _tree(tmp_path / "photos")
    items = discover_inputs([str(root)])
    assert [i.path for i in items] == [str(root / p) for p in ["a.jpg", "b.PNG", "sub/c.jpeg", "sub/deeper/d.webp"]]
    assert [str(i.name) for i in items] == ["a.jpg", "b.PNG", "sub/c.jpeg", "sub/deeper/d.webp"]


def test_file_glob_and_list_file(tmp_path, monkeypatch):
    root = _tree(tmp_path / "photos")
    monkeypatch.chdir(tmp_path)
    listing = tmp_path / "list.txt"
    listing.write_text("# my picks\nphotos/sub/c.jpeg\n\n  photos/missing.jpg  \nphotos/a.jpg\n")
    items = discover_inputs(["photos/notes.txt", "photos/**/*.jp*g"], [str(listing)])
    # an explicit file is taken whatever its suffix; the glob reaches every depth; a file reached
    # twice keeps its first place; a listed path that does not exist is kept (it fails as a record)
    assert [i.path for i in items] == [
        "photos/notes.txt",
        "photos/a.jpg",
        "photos/sub/c.jpeg",
        "photos/missing.jpg",
    ]
    assert [str(i.name) for i in items] == ["notes.txt", "a.jpg", "sub/c.jpeg", "missing.jpg"]
    assert root.exists()


def test_heatmap_names_stay_unique_across_folders(tmp_path):
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "same.jpg").write_bytes(b"x")
    items = discover_inputs([str(tmp_path / "x"), str(tmp_path / "y" / "same.jpg")])
    assert [str(i.name) for i in items] == ["x/same.jpg", "y/same.jpg"]


@pytest.mark.parametrize(
    "make, pattern, message",
    [
        (lambda d: None, "nope.jpg", "no such file"),
        (lambda d: None, "*.jpg", "matches no files"),
        (lambda d: (d / "empty").mkdir(), "empty", "holds no image files"),
    ],
)
def test_input_that_matches_nothing_is_a_usage_error(tmp_path, monkeypatch, make, pattern, message):
    monkeypatch.chdir(tmp_path)
    make(tmp_path)
    with pytest.raises(BatchError, match=message):
        discover_inputs([pattern])
    with pytest.raises(BatchError, match="no inputs"):
        discover_inputs([])


# -- records ----------------------------------------------------------------------------------


def test_attention_peaks_give_cell_and_weight():
    attention = np.full((2, 3, 4), 1 / 12, dtype=np.float32)
    attention[0, 2, 1] = 0.5
    attention[1, 0, 3] = 0.25
    assert attention_peaks(["red", "circle"], attention) == [
        {"word": "red", "row": 2, "col": 1, "weight": 0.5},
        {"word": "circle", "row": 0, "col": 3, "weight": 0.25},
    ]
    assert attention_peaks([], np.zeros((0, 3, 4), dtype=np.float32)) == []


def _chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _bomb_png():
    """A valid PNG header declaring 100000 x 100000 pixels (the pixel data is missing)."""
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _chunk(b"IEND", b"")


def _encoded(fmt, **options):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(buffer, fmt, **options)
    return buffer.getvalue()


def _unsupported_tiff():
    """A TIFF whose compression tag names a codec PIL cannot decode (JPEG 2000 in TIFF)."""
    data = _encoded("TIFF", compression="tiff_lzw")
    tag = data.index(b"\x03\x01\x03\x00\x01\x00\x00\x00")  # tag 259 (compression), SHORT, count 1
    return data[: tag + 8] + (34712).to_bytes(2, "little") + data[tag + 10 :]


def _dds_unknown_format():
    pixel_format = struct.pack("<II4sIIIII", 32, 0x4, b"ZZZZ", 0, 0, 0, 0, 0)
    return b"DDS " + struct.pack("<7I", 124, 0x1007, 4, 4, 0, 0, 0) + bytes(44) + pixel_format + bytes(20 + 64)


BROKEN = {
    "empty.jpg": (b"", "empty file"),
    "text.jpg": (b"hello, I am not a picture\n", "not a recognised image format"),
    "truncated.jpg": (_encoded("JPEG")[:300], "truncated"),
    "bomb.png": (_bomb_png(), "decompression bomb"),
    "odd.tiff": (_unsupported_tiff(), "not a recognised image format|cannot decode"),
    # DDS data under a .png name: PIL raised NotImplementedError, which stopped the whole batch (issue 12);
    # DDS is no format captioner reads, so PIL's DDS plug-in is never tried (issue 25).
    "dds.png": (_dds_unknown_format(), "not a recognised image format"),
}


def test_broken_images_get_error_records_and_the_run_goes_on(tmp_path, tiny, photos):
    folder = tmp_path / "in"
    good = _save_photos(folder, photos, ["chelsea.jpg", "rocket.png"])
    for name, (data, _) in BROKEN.items():
        (folder / name).write_bytes(data)
    out = tmp_path / "out.jsonl"
    summary = run_batch(tiny, discover_inputs([str(folder)]), out, BatchOptions(batch_size=3), progress=False)
    records = {r["path"]: r for r in _read_jsonl(out)}
    assert len(records) == 2 + len(BROKEN)
    for name, (_, reason) in BROKEN.items():
        record = records[str(folder / name)]
        assert record["caption"] is None and record["score"] is None
        assert re.search(reason, record["error"]), record["error"]
    for path in good:
        assert records[path]["error"] is None and isinstance(records[path]["caption"], str)
        assert records[path]["score"] <= 0
    assert (summary.captioned, summary.failed, summary.exit_status) == (2, len(BROKEN), 1)
    assert str(summary) == f"captioned 2, failed {len(BROKEN)}"


def test_images_whose_exif_broke_pil_are_captioned_upright(tmp_path, tiny, photos):
    # Mutated EXIF that raised struct.error and TypeError in PIL's EXIF handling (issue 12): the
    # pixels are fine, so the images are captioned and the run goes on.
    folder = tmp_path / "in"
    _save_photos(folder, photos, ["chelsea.jpg"])
    (folder / "mutated.jpg").write_bytes(mutate(seed_images()["JPEG"], 1389069535, 8))
    out = tmp_path / "out.jsonl"
    summary = run_batch(tiny, discover_inputs([str(folder)]), out, BatchOptions(batch_size=2), progress=False)
    assert [r["error"] for r in _read_jsonl(out)] == [None, None]
    assert summary.exit_status == 0


def test_records_match_the_captioner_and_options_add_fields(tmp_path, tiny, photos):
    paths = _save_photos(tmp_path, photos, ["chelsea.jpg", "coffee.jpg", "astronaut.jpg"])
    items = discover_inputs(paths)
    options = BatchOptions(decoding=DecodingOptions(beam_size=3, n_best=2), peaks=True, batch_size=2)
    records = list(caption_items(tiny, items, options))
    expected = tiny.caption(paths, beam_size=3, n_best=2)
    assert [r["path"] for r in records] == paths
    for record, result in zip(records, expected):
        assert list(record) == record_columns(n_best=2, peaks=True)
        assert record["caption"] == result.text
        assert record["score"] == pytest.approx(result.score, abs=1e-5)
        assert [a["caption"] for a in record["alternatives"]] == [t for t, _ in result.alternatives]
        assert [p["word"] for p in record["peaks"]] == result.words


def test_the_progress_bar_counts_a_batch_at_a_time(tmp_path, tiny, photos, monkeypatch):
    """Its first rate is then a batch over the first batch's time; counted one by one (the images
    of a batch arrive together), the first estimate was about batch_size times too long."""
    import contextlib

    from captioner import batch

    steps = []

    class Recorder:
        def update(self, n=1):
            steps.append(n)

    monkeypatch.setattr(batch, "_progress_bar", lambda total, shard, enabled: contextlib.nullcontext(Recorder()))
    paths = _save_photos(tmp_path, photos, ["chelsea.jpg", "coffee.jpg", "astronaut.jpg", "rocket.jpg"])
    paths += _save_photos(tmp_path / "sub", photos, ["chelsea.jpg"])
    run_batch(tiny, discover_inputs(paths), tmp_path / "out.jsonl", BatchOptions(batch_size=2))
    assert steps == [2, 2, 1]


# -- output files -----------------------------------------------------------------------------


def _without_scores(records):
    return {r["path"]: (r["caption"], r["error"]) for r in records}


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_resume_after_a_cut_off_run(tmp_path, tiny, photos, suffix):
    _save_photos(tmp_path / "in", photos, ["astronaut.jpg", "chelsea.jpg", "coffee.jpg", "rocket.jpg"])
    (tmp_path / "in" / "broken.jpg").write_bytes(b"")
    items = discover_inputs([str(tmp_path / "in")])
    options = BatchOptions(batch_size=2)
    fresh = tmp_path / f"fresh{suffix}"
    run_batch(tiny, items, fresh, options, progress=False)
    complete = RecordFile(fresh, options.columns).read()
    assert [r["path"] for r in complete] == [i.path for i in items]

    # A run killed while writing its third record: the header (CSV), two records and half a line.
    lines = fresh.read_text().splitlines(keepends=True)
    head = 1 if suffix == ".csv" else 0
    cut = tmp_path / f"cut{suffix}"
    cut.write_text("".join(lines[: head + 2]) + lines[head + 2][:15])
    summary = run_batch(tiny, items, cut, options, resume=True, progress=False)
    resumed = RecordFile(cut, options.columns).read()
    paths = [r["path"] for r in resumed]
    assert len(paths) == len(set(paths)) == len(items)  # no duplicate, nothing lost
    assert _without_scores(resumed) == _without_scores(complete)
    scores = {r["path"]: r["score"] for r in complete}
    for record in resumed:
        assert (record["score"] is None) == (scores[record["path"]] is None)
        if record["score"] is not None:
            assert float(record["score"]) == pytest.approx(float(scores[record["path"]]), abs=1e-5)
    assert (summary.skipped, summary.captioned + summary.failed) == (2, len(items) - 2)
    assert cut.read_text().endswith("\n") and "\n\n" not in cut.read_text()

    # Resuming a finished output changes nothing, and still reports the earlier failure.
    before = cut.read_bytes()
    again = run_batch(tiny, items, cut, options, resume=True, progress=False)
    assert cut.read_bytes() == before
    assert (again.captioned, again.skipped, again.skipped_failed, again.exit_status) == (0, len(items), 1, 1)


def test_csv_output_has_a_header_and_json_cells(tmp_path, tiny, photos):
    items = discover_inputs(_save_photos(tmp_path, photos, ["coffee.jpg"]))
    out = tmp_path / "out.csv"
    run_batch(tiny, items, out, BatchOptions(decoding=DecodingOptions(beam_size=2, n_best=2), peaks=True), progress=False)
    rows = list(csv.DictReader(out.open(newline="")))
    assert list(rows[0]) == ["path", "caption", "score", "error", "alternatives", "peaks"]
    assert rows[0]["error"] == "" and float(rows[0]["score"]) <= 0
    assert len(json.loads(rows[0]["alternatives"])) == 2
    assert [p["word"] for p in json.loads(rows[0]["peaks"])] == rows[0]["caption"].split()


def test_existing_output_needs_resume_or_overwrite(tmp_path, tiny, photos):
    items = discover_inputs(_save_photos(tmp_path, photos, ["rocket.png"]))
    out = tmp_path / "out.csv"
    out.write_text("stale\n")
    with pytest.raises(BatchError, match="--resume.*--overwrite"):
        run_batch(tiny, items, out, progress=False)
    with pytest.raises(BatchError, match="columns"):
        run_batch(tiny, items, out, resume=True, progress=False)
    summary = run_batch(tiny, items, out, overwrite=True, progress=False)
    assert summary.captioned == 1 and "stale" not in out.read_text()
    with pytest.raises(BatchError, match="exclude"):
        check_output(out, resume=True, overwrite=True)
    (tmp_path / "out.jsonl.part-0").write_text("")
    with pytest.raises(BatchError, match="part files"):
        check_output(tmp_path / "out.jsonl")


def test_resume_merges_the_part_files_of_a_cut_off_torchrun(tmp_path, tiny, photos):
    names = ["astronaut.jpg", "chelsea.jpg", "coffee.jpg", "rocket.jpg"]
    items = discover_inputs(_save_photos(tmp_path / "in", photos, names))
    out = tmp_path / "out.jsonl"
    options = BatchOptions(batch_size=4)
    # Two ranks were killed: rank 0 had finished items[0], rank 1 was half-way through items[1].
    first = list(caption_items(tiny, items[:2], options))
    (tmp_path / "out.jsonl.part-0").write_text(json.dumps(first[0]) + "\n")
    (tmp_path / "out.jsonl.part-1").write_text(json.dumps(first[1])[:20])
    summary = run_batch(tiny, items, out, options, resume=True, progress=False)
    assert [r["path"] for r in _read_jsonl(out)] == [i.path for i in items]  # merged in input order
    assert not list(tmp_path.glob("out.jsonl.part-*"))
    assert (summary.skipped, summary.captioned) == (1, 3)


# -- heatmaps ---------------------------------------------------------------------------------


def _gif_frames(path):
    with Image.open(path) as gif:
        return gif.n_frames


def test_heatmaps_written_per_input_with_a_frame_per_word(tmp_path, tiny, photos):
    _save_photos(tmp_path / "in", photos, ["chelsea.jpg"])
    _save_photos(tmp_path / "in" / "sub", photos, ["chelsea.jpg"])  # same file name, other folder
    items = discover_inputs([str(tmp_path / "in")])
    heatmaps = tmp_path / "maps"
    run_batch(tiny, items, tmp_path / "out.jsonl", BatchOptions(heatmaps=heatmaps), progress=False)
    for record, stem in zip(_read_jsonl(tmp_path / "out.jsonl"), ["chelsea.jpg", "sub/chelsea.jpg"]):
        words = record["caption"].split()
        assert words, "the random model should say something here"
        assert _gif_frames(heatmaps / f"{stem}.gif") == len(words)
        assert (heatmaps / f"{stem}_grid.png").is_file()
        assert np.load(heatmaps / f"{stem}_attention.npy").shape == (len(words), 14, 14)
        assert json.loads((heatmaps / f"{stem}.json").read_text())["words"] == words


@pytest.fixture
def silent(tiny, vocab):
    """`tiny` made to say <end> first: a caption of no words."""
    bias = tiny.model.decoder.out.bias
    saved = bias.detach().clone()
    with torch.no_grad():
        bias[vocab.end_id] = 1e4
    yield tiny.refresh()  # what runs is a snapshot of the weights
    with torch.no_grad():
        bias.copy_(saved)
    tiny.refresh()


def test_caption_without_words_gets_one_frame_and_no_peaks(tmp_path, silent, photos):
    items = discover_inputs(_save_photos(tmp_path, photos, ["coffee.jpg"]))
    options = BatchOptions(peaks=True, heatmaps=tmp_path / "maps")
    (record,) = caption_items(silent, items, options)
    assert record["caption"] == "" and record["peaks"] == [] and record["error"] is None
    assert _gif_frames(tmp_path / "maps" / "coffee.jpg.gif") == 1  # the image alone
    assert np.load(tmp_path / "maps" / "coffee.jpg_attention.npy").shape == (0, 14, 14)


# -- hostile paths and resume files (issue 12) --------------------------------------------------


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_file_names_that_are_not_utf8_are_recorded_losslessly_and_resumed(tmp_path, tiny, photos, suffix):
    folder = tmp_path / "in"
    _save_photos(folder, photos, ["chelsea.jpg", "coffee.jpg"])
    odd = os.path.join(os.fsencode(folder), b"\xff\xfe.jpg")
    os.rename(os.fsencode(folder / "coffee.jpg"), odd)
    items = discover_inputs([str(folder)])
    out = tmp_path / f"out{suffix}"
    summary = run_batch(tiny, items, out, BatchOptions(batch_size=1), progress=False)
    assert (summary.captioned, summary.failed) == (2, 0)
    if suffix == ".jsonl":
        lines = out.read_bytes().decode("utf-8").splitlines()  # valid UTF-8, strict JSON
        assert [json.loads(line)["path"] for line in lines] == [i.path for i in items]
    records = RecordFile(out, BatchOptions().columns).read()
    assert {os.fsencode(r["path"]) for r in records} == {os.fsencode(folder / "chelsea.jpg"), odd}
    again = run_batch(tiny, items, out, BatchOptions(), resume=True, progress=False)
    assert (again.skipped, again.captioned) == (2, 0)


def test_paths_whose_stat_fails_get_records_with_the_real_reason(tmp_path, tiny, photos, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _save_photos(tmp_path, photos, ["chelsea.jpg"])
    os.symlink("loop.jpg", tmp_path / "loop.jpg")
    long_name = "x" * 300 + ".jpg"
    listing = tmp_path / "list.txt"
    listing.write_text(f"{long_name}\nloop.jpg\n")
    items = discover_inputs(["chelsea.jpg", "loop.jpg", "y" * 300 + ".png"], [str(listing)])
    summary = run_batch(tiny, items, tmp_path / "out.jsonl", BatchOptions(), progress=False)
    records = _read_jsonl(tmp_path / "out.jsonl")
    assert len(records) == 4 and records[0]["error"] is None
    assert "name too long" in records[1]["error"].lower() or "name too long" in records[2]["error"].lower()
    assert "symbolic links" in records[1]["error"]
    assert all("name too long" in r["error"].lower() for r in records[2:])
    assert (summary.captioned, summary.failed) == (1, 3)


def test_long_image_names_get_short_heatmap_names_recorded_in_the_record(tmp_path, tiny, photos):
    folder = tmp_path / "in"
    _save_photos(folder, photos, ["chelsea.jpg"])
    long_path = folder / ("c" * 245 + ".jpg")
    (folder / "chelsea.jpg").rename(long_path)
    heatmaps = tmp_path / "maps"
    out = tmp_path / "out.jsonl"
    summary = run_batch(tiny, discover_inputs([str(folder)]), out, BatchOptions(heatmaps=heatmaps), progress=False)
    [record] = _read_jsonl(out)
    assert record["error"] is None and summary.exit_status == 0
    stem = Path(record["heatmaps"])
    assert len(stem.name) < 200 and stem.parent == heatmaps
    assert Path(f"{stem}_grid.png").is_file() and Path(f"{stem}.gif").is_file()


def test_resume_matches_another_spelling_of_the_same_inputs(tmp_path, tiny, photos, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _save_photos(tmp_path / "imgs", photos, ["chelsea.jpg", "coffee.jpg"])
    run_batch(tiny, discover_inputs(["imgs"]), "out.jsonl", BatchOptions(), progress=False)
    again = run_batch(tiny, discover_inputs(["./imgs/"]), "out.jsonl", BatchOptions(), resume=True, progress=False)
    assert (again.skipped, again.captioned) == (2, 0)
    assert len(_read_jsonl(tmp_path / "out.jsonl")) == 2


def test_a_second_run_on_the_same_output_is_refused_while_the_first_holds_it(tmp_path, tiny, photos):
    from captioner.batch import locked

    paths = _save_photos(tmp_path / "in", photos, ["chelsea.jpg"])
    out = tmp_path / "out.jsonl"
    with locked(out):
        with pytest.raises(BatchError, match="another captioner run"):
            run_batch(tiny, discover_inputs(paths), out, BatchOptions(), resume=True, progress=False)
    assert run_batch(tiny, discover_inputs(paths), out, BatchOptions(), resume=True, progress=False).captioned == 1


def test_csv_cut_inside_a_quoted_line_break_is_redone(tmp_path, tiny, photos):
    folder = tmp_path / "in"
    _save_photos(folder, photos, ["chelsea.jpg", "coffee.jpg"])
    (folder / "coffee.jpg").rename(folder / "two\nlines.jpg")
    items = discover_inputs([str(folder)])
    out = tmp_path / "out.csv"
    run_batch(tiny, items, out, BatchOptions(), progress=False)
    text = out.read_text()
    cut = text.index("lines.jpg")  # the second record, cut after its path's line break
    out.write_text(text[:cut])
    summary = run_batch(tiny, items, out, BatchOptions(), resume=True, progress=False)
    assert (summary.skipped, summary.captioned) == (1, 1)
    assert [r["path"] for r in RecordFile(out, BatchOptions().columns).read()] == [i.path for i in items]


# -- issue 25: hostile names, spreadsheets, list files, retrying failures ---------------------------


def test_a_name_with_a_carriage_return_round_trips_through_csv_and_resume(tmp_path, tiny, photos):
    # csv quotes a cell holding "\n" but not a lone "\r", which its own reader then refuses: --resume
    # refused captioner's own file (issue 25).
    folder = tmp_path / "in"
    paths = _save_photos(folder, photos, ["chelsea.jpg", "coffee.jpg"])
    odd = folder / "odd\rname.jpg"
    os.rename(paths[1], odd)
    items = discover_inputs([str(folder)])
    out = tmp_path / "r.csv"
    run_batch(tiny, items, out, BatchOptions(), progress=False)
    records = RecordFile(out, BatchOptions().columns).read()
    assert sorted(r["path"] for r in records) == sorted([paths[0], str(odd)])
    again = run_batch(tiny, items, out, BatchOptions(), resume=True, progress=False)
    assert (again.skipped, again.captioned) == (2, 0)


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised_and_read_back(tmp_path, tiny, photos, monkeypatch):
    names = ["=HYPERLINK(1).jpg", "+1.jpg", "-2.jpg", "@SUM(A1).jpg", "'quoted.jpg", "plain.jpg"]
    for name in names:
        photos["chelsea"].resize((32, 24)).save(tmp_path / name)
    monkeypatch.chdir(tmp_path)  # relative paths: the cells start with the names themselves
    items = discover_inputs(names)
    out = tmp_path / "r.csv"
    run_batch(tiny, items, out, BatchOptions(), progress=False)
    rows = list(csv.reader(out.read_text().splitlines()))[1:]
    for row in rows:
        assert not row[0].startswith(("=", "+", "-", "@")), row[0]
        assert row[1] == "" or not row[1].startswith(("=", "+", "-", "@"))
    assert float(rows[0][2]) <= 0  # numbers stay numbers
    assert sorted(r["path"] for r in RecordFile(out, BatchOptions().columns).read()) == sorted(names)  # read back unchanged
    assert run_batch(tiny, items, out, BatchOptions(), resume=True, progress=False).skipped == len(names)


def test_a_list_file_with_a_byte_order_mark_keeps_its_first_path(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "b.jpg").write_bytes(b"x")
    listing = tmp_path / "list.txt"
    listing.write_bytes("\ufeff".encode() + f"{tmp_path / 'a.jpg'}\r\n{tmp_path / 'b.jpg'}\r\n".encode())
    assert [i.path for i in discover_inputs(list_files=[str(listing)])] == [str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg")]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_retry_failed_captions_what_failed_before_and_replaces_its_records(tmp_path, tiny, photos, suffix):
    folder = tmp_path / "in"
    _save_photos(folder, photos, ["chelsea.jpg", "coffee.jpg", "rocket.jpg"])
    late = folder / "late.jpg"
    late.write_bytes(b"")  # not there yet (a copy still running)
    items = discover_inputs([str(folder)])
    out = tmp_path / f"r{suffix}"
    first = run_batch(tiny, items, out, BatchOptions(batch_size=2), progress=False)
    assert (first.captioned, first.failed) == (3, 1)
    photos["astronaut"].resize((96, 72)).save(late, format="JPEG")  # it arrived
    plain = run_batch(tiny, items, out, BatchOptions(batch_size=2), resume=True, progress=False)
    assert (plain.captioned, plain.skipped_failed, plain.exit_status) == (0, 1, 1)  # --resume alone keeps the failure
    retried = run_batch(tiny, items, out, BatchOptions(batch_size=2), resume=True, retry_failed=True, progress=False)
    assert (retried.captioned, retried.failed, retried.skipped, retried.exit_status) == (1, 0, 3, 0)
    records = RecordFile(out, BatchOptions().columns).read()
    assert [r["path"] for r in records] == [i.path for i in items]  # one record each, in input order
    assert all(r["error"] is None for r in records)


def test_a_lab_model_s_records_carry_its_centres_and_sentinel_shares():
    from captioner.batch import result_record
    from captioner.results.result import CaptionResult

    plain = CaptionResult("a circle", ["a", "circle"], np.full((2, 2, 3), 1 / 6, np.float32), -0.5, np.ones(2, np.float32))
    assert set(result_record("a.png", plain)) == {"path", "caption", "score", "error"}
    lab = CaptionResult(
        "a circle",
        ["a", "circle"],
        plain.attention,
        -0.5,
        plain.betas,
        centres=np.array([[0.5, 1.0], [1.5, 2.5]], np.float32),
        sentinel_shares=np.array([0.75, 0.25], np.float32),
    )
    record = result_record("a.png", lab)
    assert record["grid"] == [2, 3] and record["centres"] == [[0.5, 1.0], [1.5, 2.5]] and record["sentinel_shares"] == [0.75, 0.25]
