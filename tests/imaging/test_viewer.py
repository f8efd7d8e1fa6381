"""In headless Chromium (software WebGL2): the vendored NiiVue and static/imaging/viewer.js show a
b0 with FA or colour FA over it, offline; a missing file or no WebGL2 gives a clear message.

No Django server: a local http.server on 127.0.0.1 serves /static/ from the project's static/
folder and everything else (synthetic NIfTI files, the test pages) from tmp_path.
"""

import functools
import io
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import nibabel as nib
import numpy as np
import pytest

from tests.conftest import CHROMIUM

pytestmark = [pytest.mark.browser]
ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "static"
ARTIFACTS = ROOT / "test-artifacts"
# Headless Chromium draws WebGL2 in software with SwiftShader (through ANGLE).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]
SHAPE = (16, 16, 8)
AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])
AFFINE[:3, 3] = [-15.0, -15.0, -7.0]


def synthetic_dwi(folder: Path):
    """A b0, FA, colour FA (X, Y, Z, 3 float32, RGB 0..1) and brain mask on one 16×16×8 grid."""
    x, y, z = np.meshgrid(*(np.linspace(-1, 1, n) for n in SHAPE), indexing="ij")
    r = np.sqrt(x**2 + y**2 + (z * 0.9) ** 2)
    mask = r < 0.95
    b0 = np.where(mask, 800 + 400 * np.cos(3 * r), 20).astype(np.float32)
    fa = np.where(mask, np.clip(0.15 + 0.8 * np.abs(x), 0, 1), 0).astype(np.float32)
    # principal direction: left-right on the left, anterior-posterior on the right, superior in the middle
    v1 = np.zeros(SHAPE + (3,), np.float32)
    v1[x < -0.2, 0] = 1
    v1[x > 0.2, 1] = 1
    v1[np.abs(x) <= 0.2, 2] = 1
    color_fa = (v1 * fa[..., None]).astype(np.float32)
    images = {"b0": b0, "fa": fa, "color_fa": color_fa, "mask": mask.astype(np.uint8)}
    for name, data in images.items():
        nib.save(nib.Nifti1Image(data, AFFINE), folder / f"{name}.nii.gz")
    # The same colour FA in the other layouts the viewer accepts: float32 with intent "vector",
    # and 8-bit RGB24.
    vector = nib.Nifti1Image(color_fa, AFFINE)
    vector.header.set_intent("vector")
    nib.save(vector, folder / "color_fa_vector.nii.gz")
    rgb = np.zeros(SHAPE, dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    for channel, key in enumerate("RGB"):
        rgb[key] = np.round(color_fa[..., channel] * 255).astype(np.uint8)
    nib.save(nib.Nifti1Image(rgb, AFFINE), folder / "color_fa_rgb24.nii.gz")
    return images


def viewer_page(b0="/data/b0.nii.gz", fa="/data/fa.nii.gz", color_fa="/data/color_fa.nii.gz", mask="/data/mask.nii.gz"):
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>DWI viewer demo</title>
<link rel="icon" href="data:,"></head>
<body>
<main style="max-width: 900px; margin: 1rem auto; font-family: sans-serif">
  <h1>DWI viewer</h1>
  <div class="dwi-viewer" id="viewer" data-height="420px"
       data-b0="{b0}" data-fa="{fa}" data-color-fa="{color_fa}" data-mask="{mask}"></div>
</main>
<script type="module" src="/static/imaging/viewer.js"></script>
</body></html>"""


class Handler(SimpleHTTPRequestHandler):
    """/static/ from the project, anything else from the tmp folder."""

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript", ".gz": "application/gzip"}

    def __init__(self, *args, data_dir, **kwargs):
        self.data_dir = data_dir
        super().__init__(*args, directory=str(data_dir), **kwargs)

    def translate_path(self, path):
        clean = urlparse(path).path
        if clean.startswith("/static/"):
            target = (STATIC / clean[len("/static/") :]).resolve()
            return str(target) if target.is_relative_to(STATIC) else str(self.data_dir / "forbidden")
        return super().translate_path(path)

    def log_message(self, *args):
        pass


@pytest.fixture
def site(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    images = synthetic_dwi(data)
    (tmp_path / "viewer-demo.html").write_text(viewer_page())
    (tmp_path / "viewer-missing.html").write_text(viewer_page(fa="/data/no-such-fa.nii.gz"))
    for variant in ("vector", "rgb24"):
        (tmp_path / f"viewer-{variant}.html").write_text(viewer_page(color_fa=f"/data/color_fa_{variant}.nii.gz"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, data_dir=tmp_path))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_port}", "images": images}
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, site):
    page = browser.new_page(viewport={"width": 1000, "height": 760}, locale="en-US")
    page.set_default_timeout(20_000)
    page.console_errors = []
    page.page_errors = []
    page.foreign_requests = []
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    page.on("pageerror", lambda e: page.page_errors.append(str(e)))

    def check_origin(request):
        if not (request.url.startswith(site["url"] + "/") or request.url.startswith(("data:", "blob:"))):
            page.foreign_requests.append(request.url)

    page.on("request", check_origin)
    yield page
    page.close()


def wait_for_state(page, selector="#viewer"):
    page.wait_for_function(
        "sel => ['ready', 'error'].includes(document.querySelector(sel)?.dataset.state)", arg=selector
    )
    return page.get_attribute(selector, "data-state")


def next_frames(page):
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def canvas_pixels(page):
    """The viewer's canvas as an RGB array, from a screenshot (the drawing buffer is not kept)."""
    from PIL import Image

    png = page.locator("#viewer canvas").screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def test_viewer_shows_b0_with_fa_and_colour_fa_offline(page, site):
    page.goto(f"{site['url']}/viewer-demo.html")
    assert wait_for_state(page) == "ready", page.inner_text("#viewer")
    assert page.evaluate("window.dwiViewers.length") == 1
    assert page.evaluate("window.dwiViewers[0].volumes.length") == 3
    assert page.evaluate("window.dwiViewers[0].gl instanceof WebGL2RenderingContext")

    # The FA readout under the crosshair is the FA file's value at that voxel.
    readout = page.locator("#viewer [data-field=fa-value]")
    assert readout.inner_text().startswith("FA ")
    x, y, z = page.evaluate("""() => {
        const nv = window.dwiViewers[0];
        return Array.from(nv.volumes[1].mm2vox(nv.frac2mm(nv.scene.crosshairPos)), Math.round);
    }""")
    assert float(readout.get_attribute("data-value")) == pytest.approx(site["images"]["fa"][x, y, z], abs=1e-4)
    assert f"{x}, {y}, {z}" in readout.inner_text()

    next_frames(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viewer-fa.png"), full_page=True)
    fa_view = canvas_pixels(page)
    assert fa_view.max() > 100, "the canvas is black: nothing was drawn"
    warm = (fa_view[..., 0] > fa_view[..., 2] + 60).sum()
    assert warm > 200, "no warm-coloured FA overlay visible"

    # View buttons and the opacity slider drive NiiVue.
    page.click("#viewer button[data-view=axial]")
    assert page.evaluate("window.dwiViewers[0].opts.sliceType") == 0
    assert page.get_attribute("#viewer button[data-view=axial]", "aria-pressed") == "true"
    page.click("#viewer button[data-view=coronal]")
    assert page.evaluate("window.dwiViewers[0].opts.sliceType") == 1
    page.click("#viewer button[data-view=multiplanar]")
    assert page.evaluate("window.dwiViewers[0].opts.sliceType") == 3
    page.fill("#viewer input[data-control=opacity]", "0.8")
    assert page.evaluate("window.dwiViewers[0].volumes[1].opacity") == pytest.approx(0.8)

    # Switch to colour FA: the FA overlay is hidden, the RGB one shown.
    page.check("#viewer input[data-control=overlay-color-fa]")
    page.wait_for_function("document.querySelector('#viewer').dataset.overlay === 'color-fa'")
    assert page.evaluate("window.dwiViewers[0].volumes[1].opacity") == 0
    assert page.evaluate("window.dwiViewers[0].volumes[2].opacity") == pytest.approx(0.8)
    next_frames(page)
    colour_view = canvas_pixels(page)
    red = ((colour_view[..., 0] > 150) & (colour_view[..., 1] < 120) & (colour_view[..., 2] < 120)).sum()
    green = ((colour_view[..., 1] > 150) & (colour_view[..., 0] < 120) & (colour_view[..., 2] < 120)).sum()
    assert red > 50 and green > 50, f"colour FA not visible (red {red}, green {green} pixels)"

    page.screenshot(path=str(ARTIFACTS / "viewer.png"), full_page=True)
    assert page.console_errors == []
    assert page.page_errors == []
    assert page.foreign_requests == [], "requests left the local server"


@pytest.mark.parametrize("variant", ["vector", "rgb24"])
def test_colour_fa_may_also_be_a_vector_or_rgb24_file(page, site, variant):
    page.goto(f"{site['url']}/viewer-{variant}.html")
    assert wait_for_state(page) == "ready", page.inner_text("#viewer")
    page.check("#viewer input[data-control=overlay-color-fa]")
    page.wait_for_function("document.querySelector('#viewer').dataset.overlay === 'color-fa'")
    next_frames(page)
    view = canvas_pixels(page)
    red = ((view[..., 0] > 120) & (view[..., 1] < 100) & (view[..., 2] < 100)).sum()
    green = ((view[..., 1] > 120) & (view[..., 0] < 100) & (view[..., 2] < 100)).sum()
    assert red > 50 and green > 50, f"colour FA not visible (red {red}, green {green} pixels)"
    assert page.console_errors == []
    assert page.page_errors == []


def test_a_missing_file_gives_a_visible_error(page, site):
    page.goto(f"{site['url']}/viewer-missing.html")
    assert wait_for_state(page) == "error"
    message = page.locator("#viewer [role=alert]")
    assert message.is_visible()
    assert "FA image could not be loaded (HTTP 404)" in message.inner_text()
    assert not page.locator("#viewer canvas").is_visible()
    assert page.evaluate("window.dwiViewers.length") == 0
    # The only console error is the browser's own note of the 404.
    assert all("404" in text for text in page.console_errors), page.console_errors
    assert page.page_errors == []
    assert page.foreign_requests == []


def test_without_webgl2_the_viewer_says_so(page, site):
    page.add_init_script("""(() => {
        const getContext = HTMLCanvasElement.prototype.getContext;
        HTMLCanvasElement.prototype.getContext = function (type, ...rest) {
            return type === 'webgl2' ? null : getContext.call(this, type, ...rest);
        };
    })();""")
    page.goto(f"{site['url']}/viewer-demo.html")
    assert wait_for_state(page) == "error"
    message = page.locator("#viewer [role=alert]")
    assert message.is_visible()
    assert "WebGL2 is not available" in message.inner_text()
    assert page.console_errors == []
    assert page.page_errors == []
