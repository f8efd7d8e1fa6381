"""The viewer on the real scan page (templates/imaging/scan_detail.html, static/imaging/viewer.js,
NiiVue vendored in static/vendor/niivue), in headless Chromium with software WebGL2, signed in as
a radiologist: the b0 in grey with FA or colour FA over it, read from the maps the pipeline stored
for the scan, in radiological convention, offline; a missing map or no WebGL2 gives a message the
reader can act on, in the reader's language.

The scan is a small phantom processed in the test's own process (no queue), so its maps are real
pipeline output in the test's own media folder (tests/imaging/conftest.py, private_media).
"""

import gzip
import io
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

pytestmark = [pytest.mark.browser]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
VIEWER = ".dwi-viewer"
NO_WEBGL2 = """(() => {
    const getContext = HTMLCanvasElement.prototype.getContext;
    HTMLCanvasElement.prototype.getContext = function (type, ...rest) {
        return type === 'webgl2' ? null : getContext.call(this, type, ...rest);
    };
})();"""


# ---- a processed scan and its stored maps -----------------------------------------------


def stored_maps(scan):
    """The files of the scan's current result (the one its page shows), by name ("b0", "fa", ...)."""
    return scan.current_result.files


def read_map(name):
    """A stored NIfTI map, read through the storage (so it works for any storage backend)."""
    with default_storage.open(name, "rb") as handle:
        data = handle.read()
    return nib.Nifti1Image.from_bytes(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)


def replace_map(name, image):
    """Stores `image` in place of the map at `name` (same address, so the page links to it), with its
    sha256 recorded in the result, as for a result stored in that form (else it is served as damaged)."""
    from imaging.dti.io import sha256_file
    from imaging.models import DiffusionResult

    default_storage.delete(name)
    saved = default_storage.save(name, ContentFile(gzip.compress(image.to_bytes())))
    assert saved == name
    for result in DiffusionResult.objects.filter(folder=name.rsplit("/", 1)[0]):
        with default_storage.open(name, "rb") as handle:
            sha256 = sha256_file(handle)
        result.checksums = {**result.checksums, **{key: sha256 for key, n in result.files.items() if n == name}}
        result.save(update_fields=["checksums"])


def as_vector_intent(image):
    """The same colour FA, float32 X×Y×Z×3 with NIfTI intent "vector"."""
    vector = nib.Nifti1Image(image.get_fdata(dtype=np.float32), image.affine)
    vector.header.set_intent("vector")
    return vector


def as_rgb24(image):
    """The same colour FA as 8-bit RGB24."""
    color_fa = image.get_fdata(dtype=np.float32)
    rgb = np.zeros(color_fa.shape[:3], dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    for channel, key in enumerate("RGB"):
        rgb[key] = np.round(np.clip(color_fa[..., channel], 0, 1) * 255).astype(np.uint8)
    return nib.Nifti1Image(rgb, image.affine)


# ---- the browser, signed in as a radiologist ---------------------------------------------


@pytest.fixture
def locale():
    return "en-US"


@pytest.fixture
def page(chromium, sign_in, live_server, locale):
    """A radiologist's signed-in page. Every request is routed: those to the live server (on the
    loopback interface) go through, any other is recorded in page.foreign_requests and aborted."""
    page = chromium.new_page(viewport={"width": 1000, "height": 900}, locale=locale)
    page.set_default_timeout(20_000)
    page.console_errors = []
    page.page_errors = []
    page.foreign_requests = []
    page.on("console", lambda message: message.type == "error" and page.console_errors.append(message.text))
    page.on("pageerror", lambda error: page.page_errors.append(str(error)))

    def only_the_live_server(route):
        if route.request.url.startswith(live_server.url + "/"):
            route.continue_()
        else:
            page.foreign_requests.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_live_server)
    sign_in(page, "radiology", "dr-elizondo")
    yield page
    page.close()


def open_scan_page(page, live_server, scan):
    page.goto(f"{live_server.url}/imaging/scans/{scan.pk}/")
    page.wait_for_function("sel => ['ready', 'error'].includes(document.querySelector(sel)?.dataset.state)", arg=VIEWER)
    return page.get_attribute(VIEWER, "data-state")


def next_frames(page):
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def canvas_pixels(page):
    """The viewer's canvas as an RGB array, from a screenshot (the drawing buffer is not kept)."""
    from PIL import Image

    png = page.locator(f"{VIEWER} canvas").screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def red_and_green(pixels, bright, dark):
    red = ((pixels[..., 0] > bright) & (pixels[..., 1] < dark) & (pixels[..., 2] < dark)).sum()
    green = ((pixels[..., 1] > bright) & (pixels[..., 0] < dark) & (pixels[..., 2] < dark)).sum()
    return red, green


def crosshair_voxel(page):
    """The FA voxel under NiiVue's crosshair."""
    return page.evaluate("""() => {
        const nv = window.dwiViewers[0];
        return Array.from(nv.volumes[1].mm2vox(nv.frac2mm(nv.scene.crosshairPos)), Math.round);
    }""")


# ---- the viewer ---------------------------------------------------------------------------


def test_the_scan_page_shows_the_b0_with_fa_and_colour_fa_over_it_offline(page, live_server, processed_scan):
    maps = stored_maps(processed_scan)
    b0, fa = read_map(maps["b0"]).get_fdata(), read_map(maps["fa"]).get_fdata()

    assert open_scan_page(page, live_server, processed_scan) == "ready", page.inner_text(VIEWER)
    assert page.evaluate("window.dwiViewers.length") == 1
    assert page.evaluate("window.dwiViewers[0].volumes.length") == 3
    assert page.evaluate("window.dwiViewers[0].gl instanceof WebGL2RenderingContext")
    # The patient's left on the screen's right, as radiologists read.
    assert page.evaluate("window.dwiViewers[0].opts.isRadiologicalConvention") is True

    # Under the crosshair: the background is the stored b0, the overlay the stored FA, and the
    # readout says the FA value and the voxel.
    x, y, z = crosshair_voxel(page)
    assert fa[x, y, z] > 0, "the crosshair starts outside the brain: nothing to compare"
    shown_b0, shown_fa = page.evaluate(
        "([x, y, z]) => window.dwiViewers[0].volumes.slice(0, 2).map(v => v.getValue(x, y, z))", [x, y, z]
    )
    assert shown_b0 == pytest.approx(b0[x, y, z], rel=1e-4)
    assert shown_fa == pytest.approx(fa[x, y, z], abs=1e-4)
    readout = page.locator(f"{VIEWER} [data-field=fa-value]")
    assert float(readout.get_attribute("data-value")) == pytest.approx(fa[x, y, z], abs=1e-4)
    assert readout.inner_text() == f"FA {fa[x, y, z]:.3f} at voxel {x}, {y}, {z}"

    next_frames(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(VIEWER).screenshot(path=str(ARTIFACTS / "viewer-fa.png"))
    fa_view = canvas_pixels(page)
    assert fa_view.max() > 100, "the canvas is black: nothing was drawn"
    warm = (fa_view[..., 0] > fa_view[..., 2] + 60).sum()
    assert warm > 200, "no warm-coloured FA overlay visible"

    # View buttons and the opacity slider drive NiiVue.
    page.click(f"{VIEWER} button[data-view=axial]")
    assert page.evaluate("window.dwiViewers[0].opts.sliceType") == 0
    assert page.get_attribute(f"{VIEWER} button[data-view=axial]", "aria-pressed") == "true"
    page.click(f"{VIEWER} button[data-view=coronal]")
    assert page.evaluate("window.dwiViewers[0].opts.sliceType") == 1
    assert page.get_attribute(f"{VIEWER} button[data-view=axial]", "aria-pressed") == "false"
    page.click(f"{VIEWER} button[data-view=multiplanar]")
    assert page.evaluate("window.dwiViewers[0].opts.sliceType") == 3
    page.fill(f"{VIEWER} input[data-control=opacity]", "0.8")
    assert page.evaluate("window.dwiViewers[0].volumes[1].opacity") == pytest.approx(0.8)

    # Switch to colour FA: the FA overlay is hidden, the RGB one shown (the phantom's tracts run
    # along x, red, and y, green, through the middle slices).
    page.check(f"{VIEWER} input[data-control=overlay-color-fa]")
    page.wait_for_function(f"document.querySelector('{VIEWER}').dataset.overlay === 'color-fa'")
    assert page.evaluate("window.dwiViewers[0].volumes[1].opacity") == 0
    assert page.evaluate("window.dwiViewers[0].volumes[2].opacity") == pytest.approx(0.8)
    next_frames(page)
    red, green = red_and_green(canvas_pixels(page), bright=150, dark=120)
    assert red > 50 and green > 50, f"colour FA not visible (red {red}, green {green} pixels)"

    page.locator(VIEWER).screenshot(path=str(ARTIFACTS / "viewer-color-fa.png"))
    assert page.console_errors == []
    assert page.page_errors == []
    assert page.foreign_requests == [], "requests left the local server"


@pytest.mark.parametrize("layout", [as_vector_intent, as_rgb24], ids=["vector", "rgb24"])
def test_colour_fa_may_also_be_a_vector_or_rgb24_file(page, live_server, processed_scan, layout):
    color_fa = stored_maps(processed_scan)["color_fa"]
    replace_map(color_fa, layout(read_map(color_fa)))

    assert open_scan_page(page, live_server, processed_scan) == "ready", page.inner_text(VIEWER)
    page.check(f"{VIEWER} input[data-control=overlay-color-fa]")
    page.wait_for_function(f"document.querySelector('{VIEWER}').dataset.overlay === 'color-fa'")
    next_frames(page)
    red, green = red_and_green(canvas_pixels(page), bright=120, dark=100)
    assert red > 50 and green > 50, f"colour FA not visible (red {red}, green {green} pixels)"
    assert page.console_errors == []
    assert page.page_errors == []
    assert page.foreign_requests == []


MISSING_FA = {
    "en-US": "The FA image could not be loaded (HTTP 404).",
    "es-ES": "No se pudo cargar la imagen FA (HTTP 404).",
}


@pytest.mark.parametrize("locale", MISSING_FA)
def test_a_missing_map_gives_a_visible_message_in_the_readers_language(page, live_server, processed_scan, locale):
    # The map goes after the page was drawn (a map missing before is named by the page, which then shows
    # no viewer: tests/imaging/test_result_integrity.py); the server then answers its request 404.
    fa = stored_maps(processed_scan)["fa"]

    def gone_meanwhile(route):
        default_storage.delete(fa)
        route.continue_()

    page.route(f"{live_server.url}/media/{fa}", gone_meanwhile)

    assert open_scan_page(page, live_server, processed_scan) == "error"
    message = page.locator(f"{VIEWER} [role=alert]")
    assert message.is_visible()
    assert message.inner_text() == MISSING_FA[locale]
    assert not page.locator(f"{VIEWER} canvas").is_visible()
    assert page.evaluate("window.dwiViewers.length") == 0
    # The only console error is the browser's own note of the 404.
    assert page.console_errors and all("404" in text for text in page.console_errors), page.console_errors
    assert page.page_errors == []
    assert page.foreign_requests == []


def test_without_webgl2_the_viewer_says_so(page, live_server, processed_scan):
    page.add_init_script(NO_WEBGL2)

    assert open_scan_page(page, live_server, processed_scan) == "error"
    message = page.locator(f"{VIEWER} [role=alert]")
    assert message.is_visible()
    assert "WebGL2 is not available" in message.inner_text()
    assert not page.locator(f"{VIEWER} canvas").is_visible()
    assert page.console_errors == []
    assert page.page_errors == []
    assert page.foreign_requests == []


@pytest.mark.parametrize("locale", ["es-ES"])
def test_the_viewer_speaks_spanish_to_a_spanish_reader(page, live_server, processed_scan, locale):
    fa = read_map(stored_maps(processed_scan)["fa"]).get_fdata()

    assert open_scan_page(page, live_server, processed_scan) == "ready", page.inner_text(VIEWER)
    assert page.inner_text(f"{VIEWER} legend") == "Superposición"
    assert page.locator(f"{VIEWER} label", has=page.locator("input[data-control=overlay-color-fa]")).inner_text() == (
        "FA en color"
    )
    assert page.locator(f"{VIEWER} label", has=page.locator("input[data-control=opacity]")).inner_text() == "Opacidad"
    x, y, z = crosshair_voxel(page)
    value = f"{fa[x, y, z]:.3f}".replace(".", ",")  # the page's decimal comma
    assert page.inner_text(f"{VIEWER} [data-field=fa-value]") == f"FA {value} en el vóxel {x}, {y}, {z}"
    assert page.console_errors == []
    assert page.page_errors == []
    assert page.foreign_requests == []
