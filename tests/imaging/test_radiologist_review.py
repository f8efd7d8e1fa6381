"""The radiologist's scan page in headless Chromium, on the real template and scripts: the review
form (no answer chosen on an unreviewed scan, a refusal shown beside the field with the choice
kept, labels that choose their radio button), previews that open full size, the FA threshold of
the viewer, and the QC table and previews in Spanish with Spanish numbers.

The scan is a small phantom processed in the test's own process (tests/imaging/conftest.py), so
the page shows real pipeline output.
"""

import gzip
import io
import re

import nibabel as nib
import numpy as np
import pytest
from django.core.files.storage import default_storage

from imaging.models import Scan

pytestmark = [pytest.mark.browser]
VIEWER = ".dwi-viewer"
REASON = "Motion in 8 of 22 volumes"


@pytest.fixture
def open_page(chromium, sign_in, live_server):
    """open_page(scan, locale="en-US", role="radiology"): a signed-in page on the scan's page; every
    request must stay on the live server."""
    pages = []

    def expected(message):
        """Not an error, or the browser noting the refusal (400, 409) of a review the test sends."""
        return message.type != "error" or (
            message.text.startswith("Failed to load resource") and "/review/" in message.location["url"]
        )

    def open_(scan, locale="en-US", role="radiology"):
        context = chromium.new_context(viewport={"width": 1200, "height": 900}, locale=locale)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.problems = []
        page.on("console", lambda message: expected(message) or page.problems.append(message.text))
        page.on("pageerror", lambda error: page.problems.append(str(error)))
        page.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith(live_server.url + "/")
                else (page.problems.append(route.request.url), route.abort())
            ),
        )
        sign_in(page, role, f"{role}-{locale}-{len(pages)}")
        page.goto(f"{live_server.url}/imaging/scans/{scan.pk}/")
        pages.append(page)
        return page

    yield open_
    for page in pages:
        assert page.problems == [], page.problems


def in_viewport(locator):
    return locator.evaluate(
        "e => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }"
    )


def stored(name):
    with default_storage.open(name, "rb") as handle:
        return handle.read()


# ---- the review form -----------------------------------------------------------------------


def test_an_unreviewed_scan_opens_with_no_answer_chosen(open_page, processed_scan):
    page = open_page(processed_scan)
    radios = page.locator("#review input[name=usable]")
    assert radios.count() == 2
    assert [radios.nth(i).is_checked() for i in range(2)] == [False, False]


def test_not_usable_without_a_reason_is_refused_beside_the_reason_and_the_choice_is_kept(
    open_page, processed_scan, live_server
):
    page = open_page(processed_scan)
    page.click("#review label:has-text('Not usable')")  # the label's words choose its radio button
    assert page.is_checked("#review input[value=no]") and not page.is_checked("#review input[value=yes]")
    page.click("#review button[type=submit]")
    page.wait_for_load_state("load")

    reason_field = page.locator("#review .field", has=page.locator("input[name=reason]"))
    error = reason_field.locator(".error")
    assert error.inner_text() == "Say why the scan is not usable (e.g. motion, artefact, wrong sequence)."
    assert in_viewport(error), "the error is off screen: the page did not open at the review form"
    assert page.get_attribute("input[name=reason]", "aria-invalid") == "true"
    # The choice made is still chosen, so the next save records it and not the opposite.
    assert page.is_checked("#review input[value=no]") and not page.is_checked("#review input[value=yes]")
    processed_scan.refresh_from_db()
    assert processed_scan.usable is None and processed_scan.version == 1

    page.fill("input[name=reason]", REASON)
    page.click("#review button[type=submit]")
    page.wait_for_url(f"{live_server.url}/imaging/scans/{processed_scan.pk}/#review")
    processed_scan.refresh_from_db()
    assert (processed_scan.usable, processed_scan.usable_reason) == (False, REASON)
    # A reviewed scan opens with its answer chosen.
    assert page.is_checked("#review input[value=no]")
    assert page.input_value("input[name=reason]") == REASON
    assert "not usable — " + REASON in page.inner_text("#review")


def test_a_save_without_a_choice_is_refused_beside_the_choices(open_page, processed_scan):
    page = open_page(processed_scan)
    page.fill("input[name=reason]", "looked fine")
    page.click("#review button[type=submit]")
    page.wait_for_load_state("load")
    choices = page.locator("#review fieldset")
    assert choices.locator(".error").inner_text() == "Choose usable or not usable."
    assert in_viewport(choices.locator(".error"))
    assert page.input_value("input[name=reason]") == "looked fine"
    assert Scan.objects.get(pk=processed_scan.pk).usable is None


def test_a_review_of_a_scan_changed_meanwhile_is_refused_and_offers_the_current_version(
    open_page, processed_scan, make_user
):
    from imaging import services

    page = open_page(processed_scan)
    services.scan_review(processed_scan, make_user("radiology", "colleague"), 1, True, "")
    page.click("#review label:has-text('Not usable')")
    page.fill("input[name=reason]", REASON)
    page.click("#review button[type=submit]")
    page.wait_for_load_state("load")
    assert "colleague" in page.inner_text("#review [role=alert]")
    assert page.is_checked("#review input[value=no]")  # the person's choice, not the colleague's
    assert Scan.objects.get(pk=processed_scan.pk).usable is True
    page.click("#review button[type=submit]")  # saving again, knowingly, overwrites
    page.wait_for_load_state("load")
    assert Scan.objects.get(pk=processed_scan.pk).usable is False


# ---- previews ------------------------------------------------------------------------------


def test_each_preview_opens_full_size(open_page, processed_scan, live_server):
    page = open_page(processed_scan)
    files = processed_scan.current_result.files
    for kind in ("fa", "color_fa"):
        figure = page.locator(f"figure[data-preview={kind}]")
        image = figure.locator("img")
        image.evaluate("img => img.decode()")
        natural, shown = image.evaluate("img => [img.naturalWidth, img.clientWidth]")
        assert natural > shown, f"the {kind} preview is shown at full size already: nothing to enlarge"
        with page.context.expect_page() as opened:
            figure.locator("figcaption a").click()
        full = opened.value
        full.wait_for_load_state("load")
        assert full.url == f"{live_server.url}/media/{files[f'preview_{kind}']}"
        assert full.evaluate("document.contentType") == "image/png"
        assert full.evaluate("document.images[0].naturalWidth") == natural
        full.close()


def test_the_full_size_preview_is_for_those_who_may_see_the_scan(client, make_user, processed_scan):
    url = f"/media/{processed_scan.current_result.files['preview_fa']}"
    assert client.get(url).status_code == 302  # to the sign-in page
    client.force_login(make_user("research", "analyst"))
    assert client.get(url).status_code == 403
    client.force_login(make_user("radiology", "reader"))
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"


# ---- the viewer's FA threshold -----------------------------------------------------------


def shown_voxels(page):
    return int(page.get_attribute(VIEWER, "data-shown-voxels"))


def warm_pixels(page):
    from PIL import Image

    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    pixels = np.asarray(Image.open(io.BytesIO(page.locator(f"{VIEWER} canvas").screenshot())).convert("RGB"))
    pixels = pixels.astype(int)
    return int((pixels[..., 0] > pixels[..., 2] + 60).sum())


def test_the_fa_threshold_hides_fa_below_it(open_page, processed_scan):
    files = processed_scan.current_result.files
    fa = nib.Nifti1Image.from_bytes(gzip.decompress(stored(files["fa"]))).get_fdata()
    mask = nib.Nifti1Image.from_bytes(gzip.decompress(stored(files["mask"]))).get_fdata() > 0

    page = open_page(processed_scan)
    page.wait_for_function("sel => document.querySelector(sel)?.dataset.state === 'ready'", arg=VIEWER)
    control = page.locator(f"{VIEWER} input[data-control=fa-threshold]")
    label = page.locator(f"{VIEWER} label", has=page.locator("input[data-control=fa-threshold]"))
    assert label.inner_text().startswith("Hide FA below")
    assert control.input_value() == "0.2"
    assert page.inner_text(f"{VIEWER} output[data-field=fa-threshold]") == "0.20"
    # The brain voxels shown are exactly those whose stored FA reaches the threshold.
    assert shown_voxels(page) == int(((fa >= 0.2) & mask).sum())
    at_default = warm_pixels(page)

    control.fill("0.6")
    assert page.get_attribute(VIEWER, "data-fa-threshold") == "0.6"
    assert shown_voxels(page) == int(((fa >= 0.6) & mask).sum())
    assert page.evaluate("window.dwiViewers[0].volumes[1].cal_min") == pytest.approx(0.6)
    # The colour scale under the image greys the FA values now hidden.
    assert page.locator(f"{VIEWER} .dwi-viewer__colorbar-hidden").evaluate("e => e.style.width") == "60%"
    at_high = warm_pixels(page)
    assert 0 < at_high < at_default, (at_high, at_default)

    control.fill("0")
    assert shown_voxels(page) == int(((fa > 0) & mask).sum())
    assert warm_pixels(page) > at_default


def test_the_threshold_also_hides_colour_fa(open_page, processed_scan):
    page = open_page(processed_scan)
    page.wait_for_function("sel => document.querySelector(sel)?.dataset.state === 'ready'", arg=VIEWER)
    page.check(f"{VIEWER} input[data-control=overlay-color-fa]")

    def coloured():
        from PIL import Image

        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        png = page.locator(f"{VIEWER} canvas").screenshot()
        pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
        return int((pixels.max(axis=-1) - pixels.min(axis=-1) > 60).sum())

    page.locator(f"{VIEWER} input[data-control=fa-threshold]").fill("0")
    everything = coloured()
    page.locator(f"{VIEWER} input[data-control=fa-threshold]").fill("0.6")
    assert 0 < coloured() < everything


# ---- in Spanish ----------------------------------------------------------------------------


def qc_rows(page):
    """{check code: (name, value, flag, note)} as the QC table shows them."""
    rows = {}
    for row in page.locator("table.qc tbody tr").all():
        cells = row.locator("td").all_inner_texts()
        rows[row.get_attribute("data-check")] = tuple(cell.strip() for cell in cells)
    return rows


def test_the_qc_table_and_previews_speak_spanish_with_spanish_numbers(open_page, processed_scan):
    english = qc_rows(open_page(processed_scan, "en-US"))
    page = open_page(processed_scan, "es-ES")
    spanish = qc_rows(page)
    assert page.inner_text("section:has(table.qc) h2") == "Control de calidad"
    assert set(spanish) == set(english) and len(spanish) >= 8
    for code, (name, _value, flag, note) in spanish.items():
        en_name, _en_value, en_flag, en_note = english[code]
        assert name != en_name and flag != en_flag and note != en_note, (code, spanish[code], english[code])
        assert flag in ("correcto", "aviso", "fallo")
    assert spanish["b0_count"][3] == "2 volumen(es) b0"
    assert spanish["n_directions"][3] == "20 direcciones de difusión distintas"
    # Numbers with the decimal comma, in values and notes alike; never a decimal point.
    snr = processed_scan.current_result.qc["items"]["snr"]["value"]
    assert spanish["snr"][1] == f"{snr:.3g}".replace(".", ",") and english["snr"][1] == f"{snr:.3g}"
    assert f"{snr:.1f}".replace(".", ",") in spanish["snr"][3]
    for code, (_name, value, _flag, note) in spanish.items():
        for text in (value, note):
            assert not re.search(r"\d\.\d", text.replace("0.95", "")), (code, text)
    assert "vóxeles" in spanish["brain_mask"][1]
    histogram = page.locator("tr[data-check=fa_histogram] svg")
    assert histogram.get_attribute("aria-label") == "Histograma de FA de la máscara cerebral, FA de 0 a 1"

    # The previews are the ones drawn in Spanish.
    files = processed_scan.current_result.files
    for kind in ("fa", "color_fa"):
        src = page.get_attribute(f"figure[data-preview={kind}] img", "src")
        assert src == f"/media/{files[f'preview_{kind}_es']}"
        assert stored(files[f"preview_{kind}_es"]) != stored(files[f"preview_{kind}"])
    # The summary's words and numbers too.
    summary = page.inner_text("section.card dl")
    assert "FA, sustancia blanca (FA > 0,2, media)" in summary
    assert f"{processed_scan.current_result.fa_wm_mean:.3f}".replace(".", ",") in summary
    # And the viewer's: its threshold, its colour scale and its readout.
    page.wait_for_function("sel => document.querySelector(sel)?.dataset.state === 'ready'", arg=VIEWER)
    assert page.inner_text(f"{VIEWER} output[data-field=fa-threshold]") == "0,20"
    assert page.locator(f"{VIEWER} .dwi-viewer__colorbar-ticks span").all_inner_texts() == [
        "0",
        "0,25",
        "0,5",
        "0,75",
        "1",
    ]
    assert re.fullmatch(r"FA \d,\d{3} en el vóxel \d+, \d+, \d+", page.inner_text(f"{VIEWER} [data-field=fa-value]"))
