"""The web app in a real browser: Debian's Chromium, driven by Playwright, against `streamlit run`
serving the app on localhost. Uploads a real photo and a generated scene and checks what a person
sees: each caption, and heatmap pictures that really loaded. Saves a screenshot of the page in
tests/artifacts/app.png to look at.

Without Chromium (/usr/bin/chromium, installed by `bash scripts/setup.sh --test`) this test is
skipped locally, but fails when the environment variable CI is set: a missing browser must never
pass silently in CI.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch
from test_app import save_tiny_model  # pytest puts tests/ on sys.path

from app import streamlit_app as webapp
from captioner import Captioner, ModelConfig
from captioner.decoding.options import DecodingOptions

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps calling hosts that this network refuses.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
UPLOADS = [webapp.SAMPLES_DIR / "photo-cat.jpg", webapp.SAMPLES_DIR / "scene-1.png"]
TIMEOUT_MS = 60_000  # first page load and model load take several seconds on a 2-core machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory, vocab) -> Path:
    folder = tmp_path_factory.mktemp("models")
    save_tiny_model(folder, vocab)
    torch.manual_seed(0)
    Captioner.from_config(ModelConfig(embed_dim=16, hidden_dim=16, attention_dim=16, max_len=6, local_sigma=1.5), vocab).save_pretrained(
        folder / "local"
    )
    return folder


@pytest.fixture(scope="module")
def server(models_dir, tmp_path_factory):
    port = _free_port()
    # This checkout's captioner and app, and the test's models folder. The rest of the environment
    # (thread settings included) is the test's own, so the server computes what expected_results does.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CAPTIONER_MODELS_DIR": str(models_dir)}
    log_path = tmp_path_factory.mktemp("server") / "streamlit.log"
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app/streamlit_app.py",
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
    ]
    # Output to a file: a pipe nobody reads can fill up and block the server.
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"streamlit exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit did not answer on {url} within 60 s:\n{log_path.read_text()}")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser():
    problem = None
    if not CHROMIUM.exists():
        problem = f"no browser at {CHROMIUM}: run `bash scripts/setup.sh --test` (installs Debian's chromium)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = "playwright is not installed: run `bash scripts/setup.sh --test`"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def expected_results(models_dir: Path):
    """What the page should show: the library's captions from the model the page picks by default,
    decoded as its sidebar starts (beam search, the model's own maximum length)."""
    model = webapp.available_models(models_dir)[0]  # the page's default: shipped ones come first
    captioner = Captioner.from_pretrained(model.path)
    default = DecodingOptions()
    decoding = DecodingOptions(beam_size=default.beam_size, n_best=default.beam_size, max_len=captioner.config.max_len)
    return [captioner.caption([path], decoding)[0] for path in UPLOADS]


def test_upload_a_photo_and_a_scene_and_see_captions_and_heatmaps(browser, server, models_dir):
    from playwright.sync_api import expect

    results = expected_results(models_dir)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server)
    page.wait_for_selector('input[type="file"]', state="attached", timeout=TIMEOUT_MS)
    page.set_input_files('input[type="file"]', [str(p) for p in UPLOADS])

    for path, result in zip(UPLOADS, results):
        expect(page.get_by_role("heading", name=path.name)).to_be_visible(timeout=TIMEOUT_MS)
        expect(page.get_by_text(f"“{result.text}”", exact=True)).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_text("Captioned in")).to_have_count(2, timeout=TIMEOUT_MS)

    # Per image: the word's overlay, the all-words grid and the GIF, each really decoded by the browser.
    pictures = page.locator('[data-testid="stMain"] [data-testid="stImageContainer"] img')
    expect(pictures).to_have_count(3 * len(UPLOADS), timeout=TIMEOUT_MS)
    for k in range(pictures.count()):
        picture = pictures.nth(k)
        picture.scroll_into_view_if_needed()
        page.wait_for_function("e => e.complete", arg=picture.element_handle(), timeout=TIMEOUT_MS)
        assert picture.evaluate("e => e.naturalWidth") > 0, picture.get_attribute("src")

    # Clicking a word moves the heatmap to that word.
    words = results[0].words
    pick = min(1, len(words) - 1)
    page.get_by_role("radio", name=webapp.word_labels(words)[pick], exact=True).first.click()
    expect(page.get_by_text(f"word {pick + 1} of {len(words)}", exact=False).first).to_be_visible(timeout=TIMEOUT_MS)
    # Clicking it again keeps it selected: the heatmap stays (it used to vanish).
    page.get_by_role("radio", name=webapp.word_labels(words)[pick], exact=True).first.click()
    page.wait_for_timeout(1500)  # the rerun the click starts
    expect(page.get_by_text(f"word {pick + 1} of {len(words)}", exact=False).first).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_text("no word picked")).to_have_count(0)

    # Streamlit scrolls inside its main section, so a "full page" shot needs a viewport that tall.
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": min(int(height) + 40, 6000)})
    page.wait_for_timeout(500)  # let the re-laid-out page settle before the picture
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "app.png"), full_page=True)
    page.close()


COMPARED = ("tiny", "local")  # the paper's model and a local attention one, both tiny (the models fixture)
COMPARE_SAMPLE = "scene-1.png"


def test_compare_two_models_on_one_image_side_by_side(browser, server, models_dir):
    """The compare view: switch it on, pick two models (a tiny paper's model and a tiny local
    attention one: small enough to load quickly on a busy machine), pick one sample, and see both
    captions, as the library writes them, and both models' heatmaps of one word."""
    from playwright.sync_api import expect

    sidebar_model = webapp.available_models(models_dir)[0]  # its maximum length is the sidebar's
    default = DecodingOptions()
    decoding = DecodingOptions(
        beam_size=default.beam_size, n_best=default.beam_size, max_len=webapp.read_config(sidebar_model.path).max_len
    )
    expected = [Captioner.from_pretrained(models_dir / name).caption(webapp.SAMPLES_DIR / COMPARE_SAMPLE, decoding)[0] for name in COMPARED]

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server)
    page.get_by_text("Compare models side by side").click(timeout=TIMEOUT_MS)
    models = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Models to compare")
    expect(models).to_be_visible(timeout=TIMEOUT_MS)
    labels = [f"{name} (saved)" for name in COMPARED]
    # Each change reruns the page: wait for what it shows before the next one.
    for label in [t for t in models.locator("[data-tag] [title]").all_inner_texts() if t not in labels]:
        page.get_by_role("button", name=f"Remove {label}").click()
        expect(models.locator(f'[data-tag][aria-label="{label}"]')).to_have_count(0, timeout=TIMEOUT_MS)
    for label in labels:
        tag = models.locator(f'[data-tag][aria-label="{label}"]')
        if not tag.count():
            models.locator("input").click()
            page.keyboard.type(label)
            page.keyboard.press("Enter")
            page.keyboard.press("Escape")
            expect(tag).to_have_count(1, timeout=TIMEOUT_MS)
    expect(models.locator("[data-tag]")).to_have_count(2, timeout=TIMEOUT_MS)
    sample = page.locator('[data-testid="stSelectbox"]').filter(has_text="pick a bundled sample")
    sample.locator("input").click()
    page.keyboard.type(COMPARE_SAMPLE)
    page.keyboard.press("Enter")
    expect(sample.locator("input")).to_have_value(COMPARE_SAMPLE, timeout=TIMEOUT_MS)

    # Two models load, and on this machine's first visit each is exported to ONNX Runtime: slow on a busy machine.
    captions = page.locator('[data-testid="stMain"] h4')
    try:
        expect(captions).to_have_count(2, timeout=4 * TIMEOUT_MS)
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "app_compare.png"))
    assert captions.all_inner_texts() == [f"“{r.text}”" for r in expected]
    heatmaps = page.locator('[data-testid="stMain"] [data-testid="stImageContainer"]').filter(has_text="attention for")
    expect(heatmaps).to_have_count(2, timeout=TIMEOUT_MS)
    word = page.locator('[data-testid="stSlider"]').filter(has_text="all models step together")
    expect(word).to_be_visible(timeout=TIMEOUT_MS)
    for k in range(2):
        picture = heatmaps.nth(k).locator("img")
        page.wait_for_function("e => e.complete", arg=picture.element_handle(), timeout=TIMEOUT_MS)
        assert picture.evaluate("e => e.naturalWidth") > 0
    # both show the same word, each at its own place in its caption
    shown = [t.split("”")[0] for t in heatmaps.all_inner_texts()]
    assert shown[0] == shown[1] and shown[0].startswith("attention for “")

    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": min(int(height) + 40, 6000)})
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "app_compare.png"), full_page=True)
    page.close()
