"""The docs say what the code and the reports say: generated pages are current, links resolve."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_generated_pages_match_their_sources_and_the_reports():
    done = subprocess.run([sys.executable, "scripts/make_docs.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_changed_report_makes_the_page_stale(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import make_docs
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    source = "# t\n\n{{results objects-test-beam3}}\n"
    page = make_docs.render(source, "t")
    assert "| objects | test | 3 |" in page and "4.433" in page
    real = make_docs._report
    monkeypatch.setattr(make_docs, "_report", lambda name: {**real(name), "metrics": {**real(name)["metrics"], "CIDEr-D": 1.0}})
    assert make_docs.render(source, "t") != page


def test_the_speed_page_shows_what_each_benchmark_printed(monkeypatch):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import make_docs
        import record_benchmarks
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    source = (ROOT / "docs" / "src" / "speed.md").read_text()
    named = re.findall(r"^\{\{bench (\S+)\}\}$", source, flags=re.M)
    assert sorted(named) == sorted(record_benchmarks.BENCHMARKS)  # every benchmark recorded is on the page, once
    page = make_docs.render(source, "speed")
    record = make_docs._report("speed/beam-search")
    assert record["command"] == record_benchmarks.BENCHMARKS["beam-search"] and record["output"] in page
    real = make_docs._report
    monkeypatch.setattr(make_docs, "_report", lambda name: {**real(name), "output": real(name)["output"] + " "})
    assert make_docs.render(source, "speed") != page


def test_links_in_the_readme_and_docs_resolve():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    missing = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)\)", page.read_text()):
            if "://" in target:
                continue
            if not (page.parent / target).exists():
                missing.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not missing
