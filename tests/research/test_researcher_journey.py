"""In headless Chromium: a researcher signs in, filters the cohort by GMFCS level, sees n change,
opens the linking of FA with scores, sees its plot load, and downloads the plot (PNG) and the
long table (CSV)."""

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# study id, GMFCS, TNC (cells, 16 kg), baseline and follow-up GMFM-88, baseline and follow-up FA
COHORT = [
    ("CP-801", 3, 3_200_000_000, 40, 46, 0.400, 0.452),
    ("CP-802", 3, 4_800_000_000, 35, 37, 0.380, 0.391),
    ("CP-803", 3, 2_400_000_000, 52, 51, 0.455, 0.447),
    ("CP-804", 3, 6_400_000_000, 28, 36, 0.360, 0.423),
    ("CP-805", 2, 4_000_000_000, 60, 63, 0.470, 0.480),
    ("CP-806", 4, 5_600_000_000, 18, 20, 0.300, 0.320),
]


@pytest.fixture
def page(request, chromium):
    """A Chromium page; its locale (Accept-Language) is "en-US" unless the test passes another indirectly."""
    locale = getattr(request, "param", "en-US")
    context = chromium.new_context(viewport={"width": 1200, "height": 900}, locale=locale, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


@pytest.fixture
def cohort(build, exports):
    for study_id, gmfcs, tnc, base_score, follow_score, base_fa, follow_fa in COHORT:
        patient = build.patient(study_id=study_id, mrn=f"MRN-{study_id}", gmfcs_level=gmfcs)
        product = build.product(harvest=build.harvest(patient=patient, date=dt.date(2024, 2, 1)), tnc_count=tnc)
        build.procedure(product=product, date=dt.date(2024, 2, 2), weight_kg=Decimal("16"))
        for day, kind, score, fa in (
            (dt.date(2024, 1, 20), "baseline", base_score, base_fa),
            (dt.date(2024, 8, 2), "follow-up", follow_score, follow_fa),
        ):
            visit = build.visit(patient=patient, date=day, kind=kind)
            build.score(visit=visit, value=Decimal(score))
            exports.add_scan_result(visit, fa, usable=True)


def images_loaded(page):
    """Scroll every (lazy) plot into view and wait until each has loaded."""
    for image in page.locator("section.plots img").all():
        image.scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())


def test_researcher_filters_links_fa_with_scores_and_downloads(page, sign_in, cohort, tmp_path):
    sign_in(page, "research", "dr-rivera")
    page.get_by_role("link", name="Research").click()

    heading_n = page.locator(".pagehead .n")
    assert heading_n.inner_text() == "n = 6"
    page.check("input[name=gmfcs][value='3']")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**/research/?*gmfcs=3*")
    assert heading_n.inner_text() == "n = 4"
    assert page.locator("input[name=gmfcs][value='3']").is_checked()
    assert "CP-805" not in page.content() and "CP-801" in page.content()

    page.get_by_role("link", name="Link FA with scores").click()
    page.wait_for_url("**/research/linking/?*gmfcs=3*")
    assert page.locator(".pagehead .n").inner_text() == "n = 4"
    plot = page.locator("img[alt='fa-vs-score']")
    plot.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=plot.element_handle())
    assert page.evaluate("img => img.naturalWidth", plot.element_handle()) > 0
    images_loaded(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "research-linking.png"), full_page=True)

    figure = page.locator("figure", has=page.locator("img[alt='fa-vs-score']"))
    with page.expect_download() as download_info:
        figure.get_by_role("link", name="PNG").click()
    download = download_info.value
    assert download.suggested_filename == "fa-vs-score.png"
    png = Path(download.path()).read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 5_000

    page.locator(".crumbs a", has_text="Cohort").click()
    page.wait_for_url("**/research/?*gmfcs=3*")
    long_csv = page.locator("p.exports a", has_text="CSV").first
    with page.expect_download() as download_info:
        long_csv.click()
    download = download_info.value
    assert download.suggested_filename.startswith("cohort-long-") and download.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert rows and list(rows[0])[0] == "study_id"
    assert {row["study_id"] for row in rows} == {"CP-801", "CP-802", "CP-803", "CP-804"}
    assert {row["gmfcs_level_enrolment"] for row in rows} == {"3"}

    from research.models import ExportLog

    kinds = sorted(
        ExportLog.objects.filter(user__username="dr-rivera", completed=True).values_list("kind", "file_format")
    )
    assert kinds == [("long", "csv"), ("plot:fa-vs-score", "png")]


@pytest.mark.parametrize("page", ["es-ES"], indirect=True)
def test_a_researcher_reading_in_spanish_gets_statistics_and_figures_in_spanish(page, live_server, sign_in, cohort):
    sign_in(page, "research", "dr-rivera")
    page.goto(f"{live_server.url}/research/linking/?instrument=GMFM-88")
    wilcoxon = page.locator("dl.results dt", has_text="Prueba de rangos con signo de Wilcoxon")
    shown = wilcoxon.locator("xpath=following-sibling::dd[1]").inner_text()
    # Five of six patients rise in FA, CP-803 falls by 0.008 (the smallest |difference|, rank 1): W = 1.
    assert shown.startswith("W = 1 · p = 0,062 · n = 6 (6 diferencias no nulas)"), shown
    assert "diferencia mediana (seguimiento − basal) = +0,016" in shown
    images_loaded(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "research-linking-es.png"), full_page=True)
    # The figures the page shows are asked for in the browser's language, as the <img> tags ask for them.
    figure = page.evaluate("url => fetch(url).then(response => response.text())", "/research/plots/dose-vs-fa.svg")
    assert "TNC (×10⁸ células/kg)" in figure and "pendiente" in figure and "1e8" not in figure
