"""The dashboard in a real browser: ``xai dashboard`` serves it, headless Chromium (Debian's
package, driven by Playwright) opens it, asks for explanations and waits for the overlays.

Prints how long a new explanation takes to show from a warm app (one gradient method, then all
four, then a sentence typed for the text model), and checks the screenshots are not blank, that
the tokens of the typed sentence are highlighted (its markup shown as text, never run), and that
the page asked nothing of any host but the dashboard's own (the app works offline). ``XAI_UPDATE_SCREENSHOTS=1`` also copies the
screenshots into ``docs/images/`` for the dashboard's documentation page.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.torch import load as safetensors_load

from tests.report.browser import chromium

playwright = pytest.importorskip("playwright.sync_api")
pytest.importorskip("streamlit")

pytestmark = [
    pytest.mark.skipif(
        chromium() is None, reason="needs /usr/bin/chromium (apt-get install chromium)"
    ),
    pytest.mark.slow,
]

ROOT = Path(__file__).resolve().parents[2]
DOCS_IMAGES = ROOT / "docs" / "images"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[str], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"xai dashboard exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url}/_stcore/health did not answer 'ok' within {timeout} s")


@pytest.fixture(scope="module")
def dashboard() -> Iterator[str]:
    """``xai dashboard --model digits_cnn`` on a free port; yields its address."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "xai", "dashboard", "--model", "digits_cnn", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the server and its children stop together
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline().strip()
        url = f"http://127.0.0.1:{port}"
        assert first_line.startswith(f"xai dashboard: {url}"), first_line
        _wait_healthy(url, process)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def _leaves_the_machine(url: str) -> bool:
    """Whether a request goes to another host (data: and blob: URLs go nowhere)."""
    parts = urllib.parse.urlsplit(url)
    return parts.scheme not in ("data", "blob", "about") and parts.hostname not in LOCAL_HOSTS


def _idle(page) -> None:
    """Wait until the app's script run has finished (Streamlit marks its root element)."""
    page.wait_for_selector(
        '[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=120_000
    )


def _captions(page) -> list[str]:
    return page.locator('[data-testid="stImageCaption"]').all_inner_texts()


def _wait_for_overlays(page, sample: int, methods: list[str]) -> float:
    """Wait until the input of ``sample`` and one overlay per method show; returns the time."""
    page.wait_for_function(
        """([sample, methods]) => {
            const app = document.querySelector('[data-testid="stApp"]');
            if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
            const captions = [...document.querySelectorAll('[data-testid="stImageCaption"]')]
                .map(c => c.innerText);
            if (!captions.includes('sample #' + sample)) return false;
            const shown = captions.filter(c => c.includes(' · ')).map(c => c.split(' · ')[0]);
            const images = [...document.querySelectorAll('[data-testid="stImage"] img')];
            return JSON.stringify(shown) === JSON.stringify(methods)
                && images.length === methods.length + 1
                && images.every(img => img.complete && img.naturalWidth > 0);
        }""",
        arg=[sample, methods],
        timeout=120_000,
        polling=20,
    )
    return time.perf_counter()


def _choose_methods(page, methods: list[str]) -> None:
    """Replace the multiselect's choice by ``methods`` (keyboard, as a user would)."""
    box = page.locator('[data-testid="stMultiSelect"]').first
    field = box.locator("input")
    field.click()
    for _ in range(6):  # remove the chosen ones
        field.press("Backspace")
    for method in methods:
        field.fill(method)
        field.press("Enter")
    page.keyboard.press("Escape")


def _set_sample(page, sample: int) -> float:
    field = page.get_by_label("Sample index (0 to 358)")
    field.fill(str(sample))
    start = time.perf_counter()
    field.press("Enter")
    return start


def _check_not_blank(png: Path, minimum_colours: int = 300) -> None:
    image = np.asarray(Image.open(png).convert("RGB"))
    colours = np.unique(image.reshape(-1, 3), axis=0)
    assert len(colours) > minimum_colours, f"{png.name}: only {len(colours)} colours: blank?"
    not_white = (image.min(axis=2) < 235).mean()
    assert not_white > 0.02, f"{png.name}: {not_white:.1%} of the page is not white"


def _save(page, tmp_path: Path, name: str, top=None) -> Path:
    """Screenshot the window (scrolled so that ``top``, a locator, is at the top) into
    ``tmp_path / name``; checked not blank; copied to docs/images when asked."""
    if top is not None:
        top.evaluate("element => element.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(300)  # let the scroll settle before the screenshot
    png = tmp_path / name
    page.screenshot(path=str(png), full_page=True)
    _check_not_blank(png)
    if os.environ.get("XAI_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, DOCS_IMAGES / name)
    return png


#: A typed sentence: a keyword of class "food" among neutral words, and markup that must show
#: as text (its words are outside the vocabulary: read as [UNK], named in a warning).
TYPED = "We loved the pizza <img src=x onerror=alert(1)>"
TYPED_TOKENS = ["we", "loved", "the", "pizza", "[UNK]", "[UNK]", "[UNK]"]


def _highlighted(page) -> list[list[str]]:
    """The tokens of each highlighted sentence on the page, in order."""
    return page.evaluate(
        """() => [...document.querySelectorAll('[data-testid="stHtml"] .xai-text')]
            .map(div => [...div.querySelectorAll('span')].map(span => span.innerText))"""
    )


def _explain_typed_sentence(page, tmp_path: Path) -> float:
    """The text model in the sidebar, a sentence typed on the Explain page, its tokens
    highlighted by Integrated Gradients; returns the seconds from the click to the tokens."""
    dialogs: list[str] = []  # an alert() would mean typed markup ran
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name="keywords_text_cnn", exact=True).click()
    _idle(page)
    page.locator('[data-testid="stSidebarNavLink"]', has_text="Explain").click()
    page.get_by_role("heading", name="Explain a prediction").wait_for(timeout=60_000)
    _idle(page)
    page.get_by_text("a sentence you type", exact=True).click()
    _idle(page)
    box = page.get_by_role("textbox", name="Your sentence (up to 24 tokens)")
    box.fill(TYPED)
    box.press("Control+Enter")
    page.get_by_text("3 words of your sentence are not in the vocabulary").wait_for(timeout=60_000)
    _idle(page)
    warning = page.locator('[data-testid="stAlert"]', has_text="not in the vocabulary")
    assert "'<img', 'src=x', 'onerror=alert(1)>'" in warning.inner_text()  # shown as typed
    _choose_methods(page, ["integrated_gradients"])
    start = time.perf_counter()
    page.get_by_role("button", name="Explain", exact=True).click()
    page.wait_for_function(
        """(tokens) => {
            const app = document.querySelector('[data-testid="stApp"]');
            if (app.getAttribute('data-test-script-state') !== 'notRunning') return false;
            const shown = [...document.querySelectorAll('[data-testid="stHtml"] .xai-text')]
                .map(div => [...div.querySelectorAll('span')].map(span => span.innerText));
            return shown.length === 1 && JSON.stringify(shown[0]) === JSON.stringify(tokens);
        }""",
        arg=TYPED_TOKENS,
        timeout=120_000,
        polling=50,
    )
    seconds = time.perf_counter() - start
    assert _highlighted(page) == [TYPED_TOKENS]
    assert page.locator('[data-testid="stMetricValue"]', has_text="food").count() == 1
    # nothing typed became markup: no image or script in the page's own HTML
    assert page.locator('[data-testid="stHtml"] img, [data-testid="stHtml"] script').count() == 0
    assert dialogs == []
    # the whole page in one screenshot: the sentence, its warning, the prediction, the tokens
    page.set_viewport_size({"width": 1400, "height": 1900})
    _idle(page)
    _save(
        page,
        tmp_path,
        "dashboard_explain_text.png",
        top=page.get_by_role("heading", name="Explain a prediction"),
    )
    return seconds


def test_dashboard_explains_in_a_browser(
    dashboard: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    timings: dict[str, float] = {}
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=chromium(), args=["--no-sandbox", "--disable-gpu"]
        )
        outside: list[str] = []  # every request of the page to another host
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1100})
            context.on(
                "request",
                lambda request: _leaves_the_machine(request.url) and outside.append(request.url),
            )
            page = context.new_page()
            page.on(
                "websocket",
                lambda socket: _leaves_the_machine(socket.url) and outside.append(socket.url),
            )
            start = time.perf_counter()
            page.goto(dashboard)
            page.get_by_role("heading", name="Model: digits_cnn").wait_for(timeout=180_000)
            page.locator('[data-testid="stImage"] img').nth(3).wait_for(timeout=120_000)
            _idle(page)
            timings["first page, cold"] = time.perf_counter() - start
            _save(page, tmp_path, "dashboard_models.png")
            favicon = page.locator("link[rel='shortcut icon']").get_attribute("href") or ""
            assert not _leaves_the_machine(
                page.evaluate("(h) => new URL(h, location).href", favicon)
            ), favicon

            page.locator('[data-testid="stSidebarNavLink"]', has_text="Explain").click()
            page.get_by_role("heading", name="Explain a prediction").wait_for(timeout=60_000)
            _idle(page)

            # Warm-up: the preselected methods (the first two deterministic ones the registry
            # lists for images: Grad-CAM and Integrated Gradients) on sample 0.
            start = time.perf_counter()
            page.get_by_role("button", name="Explain", exact=True).click()
            timings["IG + Grad-CAM, first request"] = (
                _wait_for_overlays(page, 0, ["gradcam", "integrated_gradients"]) - start
            )
            _save(page, tmp_path, "dashboard_explain.png")

            # A download as the browser gets it: the attributions shown, as safetensors.
            start = time.perf_counter()
            with page.expect_download(timeout=60_000) as download_info:
                page.get_by_role("button", name="Attributions (safetensors)").click()
            saved = tmp_path / download_info.value.suggested_filename
            download_info.value.save_as(saved)
            timings["download attributions (safetensors)"] = time.perf_counter() - start
            assert saved.name == "digits_cnn_sample0_class0_attributions.safetensors"
            tensors = safetensors_load(saved.read_bytes())
            assert set(tensors) == {
                "inputs", "target", "attributions.gradcam", "attributions.integrated_gradients"
            }  # fmt: skip
            assert tensors["attributions.integrated_gradients"].shape == (1, 1, 32, 32)

            # Pick one gradient method; the explanation of a new sample is computed afresh.
            _choose_methods(page, ["integrated_gradients"])
            page.get_by_role("button", name="Explain", exact=True).click()
            _wait_for_overlays(page, 0, ["integrated_gradients"])
            for sample in (11, 12, 13):
                start = _set_sample(page, sample)
                seconds = _wait_for_overlays(page, sample, ["integrated_gradients"]) - start
                timings[f"IG, new sample #{sample}"] = seconds

            everything = ["gradcam", "integrated_gradients", "lime", "shap"]
            _choose_methods(page, everything)
            page.get_by_role("button", name="Explain", exact=True).click()
            _wait_for_overlays(page, 13, everything)
            for sample in (21, 22):
                start = _set_sample(page, sample)
                timings[f"all four, new sample #{sample}"] = (
                    _wait_for_overlays(page, sample, everything) - start
                )
            start = time.perf_counter()
            page.get_by_text("Shared colour scale").click()
            # every map's caption ends with the same scale once the rerun has drawn them
            page.wait_for_function(
                """(count) => {
                    const app = document.querySelector('[data-testid="stApp"]');
                    if (app.getAttribute('data-test-script-state') !== 'notRunning') return false;
                    const scales = [...document.querySelectorAll('[data-testid="stImageCaption"]')]
                        .map(c => c.innerText).filter(c => c.includes(' · '))
                        .map(c => c.split('scale ')[1]);
                    return scales.length === count && new Set(scales).size === 1;
                }""",
                arg=len(everything),
                timeout=60_000,
                polling=20,
            )
            timings["toggle shared scale (cached)"] = time.perf_counter() - start
            captions = [c for c in _captions(page) if " · " in c]
            assert len({c.rsplit("scale ", 1)[1] for c in captions}) == 1, captions
            overlay = tmp_path / "overlay.png"
            page.locator('[data-testid="stImage"] img').nth(1).screenshot(path=str(overlay))
            _check_not_blank(overlay, minimum_colours=50)
            _save(
                page,
                tmp_path,
                "dashboard_explain_all.png",
                top=page.get_by_role("heading", name="Attributions for class"),
            )

            page.locator('[data-testid="stSidebarNavLink"]', has_text="Trust").click()
            page.get_by_role("heading", name="How far to trust the explanations").wait_for()
            _idle(page)
            start = time.perf_counter()
            page.get_by_role("button", name="Compare methods").click()
            page.get_by_text("Means over 4 samples").wait_for(timeout=180_000)
            _idle(page)
            timings["Trust: compare 4 methods on 4 samples"] = time.perf_counter() - start
            _save(
                page,
                tmp_path,
                "dashboard_trust.png",
                top=page.get_by_role("heading", name="Over a set of samples"),
            )
            page.locator('[data-testid="stSidebarNavLink"]', has_text="Your model").click()
            page.get_by_role("heading", name="Your own model").wait_for(timeout=60_000)
            _idle(page)

            timings["text: type a sentence, see its tokens"] = _explain_typed_sentence(
                page, tmp_path
            )
        finally:
            browser.close()
        assert outside == [], f"the dashboard contacted other hosts: {sorted(set(outside))}"

    report = {name: round(seconds, 3) for name, seconds in timings.items()}
    (tmp_path / "timings.json").write_text(json.dumps(report, indent=2))
    with capsys.disabled():
        print("\ndashboard timings in a browser (seconds):")
        for name, seconds in report.items():
            print(f"  {name:<42} {seconds:8.3f}")
    one_method = [v for k, v in timings.items() if k.startswith("IG, new sample")]
    assert len(one_method) == 3 and all(v > 0 for v in one_method)
