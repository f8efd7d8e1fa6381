"""The research pages: the cohort and the linking of FA with scores render for research with n
shown; the plots come as PNG and SVG; a download is logged; clinical roles are kept out."""

import datetime as dt
import html
import re

import pytest

from research.models import ExportLog

PLOTS = ["fa-vs-score", "dose-vs-fa", "dose-vs-score", "fa-before-after", "score-trajectories", "fa-trajectories"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def two(cohort):
    cohort.simple("CP-501", gmfcs_level=3)
    cohort.simple(
        "CP-502",
        gmfcs_level=2,
        baseline_score=30,
        follow_score=37,
        baseline_fa=0.35,
        follow_fa=0.43,
        tnc=4_800_000_000,
        cp_subtype="spastic-quadriplegia",
    )
    cohort.simple(
        "CP-503",
        gmfcs_level=4,
        baseline_score=20,
        follow_score=21,
        baseline_fa=0.30,
        follow_fa=0.31,
        procedure_date=dt.date(2024, 3, 1),
        baseline_date=dt.date(2024, 2, 1),
        follow_date=dt.date(2025, 3, 1),
    )


def n_shown(content):
    return [int(n) for n in re.findall(rb'<span class="n">n = (\d+)</span>', content)]


def test_the_cohort_page_shows_n_tables_and_export_links(two, researcher):
    response = researcher.get("/research/")
    assert response.status_code == 200
    page = response.content.decode()
    assert n_shown(response.content)[:2] == [3, 3]  # the cohort and its baseline characteristics
    for study_id in ("CP-501", "CP-502", "CP-503"):
        assert study_id in page
    assert "Baseline characteristics" in page and "GMFM-88" in page and "FA white matter" in page
    assert "/api/v1/export/cohort/?" in page and "/api/v1/export/dictionary/?format=csv" in page
    assert "/api/v1/export/bids/" in page


def test_the_cohort_page_filters_and_keeps_the_filter_in_its_links(two, researcher):
    response = researcher.get("/research/?gmfcs=2&gmfcs=3")
    assert response.status_code == 200
    assert n_shown(response.content)[:2] == [2, 2]
    page = html.unescape(response.content.decode())
    assert "CP-503" not in page
    assert "/api/v1/export/cohort/?gmfcs=2&gmfcs=3&table=long&format=csv" in page
    assert "/api/v1/export/bids/?gmfcs=2&gmfcs=3" in page
    assert "/research/linking/?gmfcs=2&gmfcs=3" in page
    # A filter matching nobody still shows n.
    empty = researcher.get("/research/?gmfcs=5")
    assert empty.status_code == 200 and n_shown(empty.content)[:2] == [0, 0]


def test_the_linking_page_shows_n_and_the_per_patient_changes(two, researcher):
    response = researcher.get("/research/linking/?instrument=GMFM-88&fa=FA white matter")
    assert response.status_code == 200
    page = response.content.decode()
    assert n_shown(response.content) == [3, 3]  # cohort; patients with both changes
    assert "Does FA rise with function?" in page
    row = re.search(r"<tr><td>CP-502</td>(.*?)</tr>", page).group(1)
    assert "+0.080" in row and "+7.0" in row  # ΔFA 0.43 - 0.35, ΔGMFM-88 37 - 30
    for name in PLOTS:
        assert f'src="/research/plots/{name}.png?' in page
    assert "<option selected>GMFM-88</option>" in page and "<option selected>FA white matter</option>" in page


def test_the_linking_page_keeps_the_filter(two, researcher):
    response = researcher.get("/research/linking/?gmfcs=4&instrument=GMFM-88")
    assert response.status_code == 200
    assert n_shown(response.content) == [1, 1]
    assert "/research/plots/fa-vs-score.png?gmfcs=4&instrument=GMFM-88" in html.unescape(response.content.decode())


@pytest.mark.parametrize("name", PLOTS)
def test_plots_come_as_png_and_svg(two, researcher, name):
    png = researcher.get(f"/research/plots/{name}.png?instrument=GMFM-88")
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert png.content.startswith(PNG_MAGIC) and len(png.content) > 5_000
    assert "Content-Disposition" not in png

    svg = researcher.get(f"/research/plots/{name}.svg?instrument=GMFM-88")
    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml"
    text = svg.content.decode()
    assert "<svg" in text and "</svg>" in text
    assert "n = 3 patients" in text
    assert not ExportLog.objects.exists()  # looking is not exporting


def test_the_plots_show_the_filtered_cohort(two, researcher):
    svg = researcher.get("/research/plots/fa-vs-score.svg?gmfcs=2&gmfcs=3").content.decode()
    assert "n = 2 patients" in svg and "CP-501" in svg and "CP-502" in svg and "CP-503" not in svg


@pytest.mark.parametrize("name,fmt", [("fa-vs-score", "png"), ("score-trajectories", "svg")])
def test_a_downloaded_plot_is_logged(two, researcher, name, fmt):
    response = researcher.get(f"/research/plots/{name}.{fmt}?gmfcs=3&download=1")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{name}.{fmt}"'
    log = ExportLog.objects.get()
    assert (log.user, log.kind, log.file_format, log.completed) == (researcher.user, f"plot:{name}", fmt, True)
    assert log.filters == {"gmfcs": [3]}


@pytest.mark.parametrize(
    "url,code",
    [
        ("/research/plots/no-such-plot.png", 404),
        ("/research/plots/fa-vs-score.pdf", 404),
        ("/research/plots/fa-vs-score.png?tnc_min=abc", 400),
        ("/research/?gmfcs=9", 400),
        ("/research/linking/?months_min=9&months_max=1", 400),
    ],
)
def test_bad_plot_or_filter(two, researcher, url, code):
    assert researcher.get(url).status_code == code
    assert not ExportLog.objects.exists()


RESEARCH_PAGES = [
    "/research/",
    "/research/linking/",
    "/research/plots/fa-vs-score.png",
    "/research/plots/score-trajectories.svg?download=1",
]


@pytest.mark.parametrize("url", RESEARCH_PAGES)
@pytest.mark.parametrize(
    "role,code", [("hematology", 403), ("radiology", 403), ("research", 200), ("registry-admin", 200)]
)
def test_who_may_see_the_research_pages(two, as_role, url, role, code):
    response = as_role(role).get(url)
    assert response.status_code == code
    if code == 403:
        assert b"CP-501" not in response.content
        assert not ExportLog.objects.exists()


@pytest.mark.parametrize("url", RESEARCH_PAGES + ["/research/exports/"])
def test_anonymous_is_sent_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_research_menu_is_shown_to_research_only(two, as_role):
    assert b'href="/research/"' in as_role("research").get("/research/").content
    assert b'href="/research/exports/"' not in as_role("research").get("/research/").content
    assert b'href="/research/"' not in as_role("hematology").get("/patients/").content


def statistic_shown(page, name):
    """The text shown under a statistic's name in the linking page's results (HTML), tags removed."""
    match = re.search(rf"<dt>{re.escape(name)}</dt>\s*<dd[^>]*>(.*?)</dd>", page, re.S)
    assert match, f"no statistic named {name!r}"
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", match.group(1))).strip())


def test_the_linking_page_names_each_statistic_with_its_estimate_statistic_and_p(two, researcher):
    page = researcher.get("/research/linking/?instrument=GMFM-88").content.decode()
    # ΔFA 0.05, 0.08, 0.01: all three rise, so W (the smaller rank sum) is 0 and the exact two-sided p is 2/8.
    wilcoxon = statistic_shown(page, "Wilcoxon signed-rank test, FA white matter at baseline vs follow-up")
    assert wilcoxon == (
        "W = 0 · p = 0.250 · n = 3 (3 non-zero differences) · median difference (follow-up − baseline) = +0.050"
    )
    # ΔGMFM-88 6, 7, 1 rank the patients as ΔFA does: rho 1, exact p 2/6.
    correlation = statistic_shown(page, "Spearman correlation, ΔFA white matter vs ΔGMFM-88")
    assert correlation == "ρ = 1.00 · n = 3 · p = 0.333 (exact permutation)"
    # Doses 2, 3, 2 ×10⁸/kg against ΔFA: tied ranks, rho = 1.5 / √3.
    dose = statistic_shown(page, "Dose–response, Spearman correlation, TNC/kg vs ΔFA white matter")
    assert dose.startswith("ρ = 0.87 · n = 3 · p = ")
    assert statistic_shown(page, "Dose–response, Spearman correlation, TNC/kg vs ΔGMFM-88").startswith("ρ = ")


def test_with_fewer_than_three_patients_the_page_says_why_there_is_no_p(two, researcher):
    page = researcher.get("/research/linking/?gmfcs=2&gmfcs=3&instrument=GMFM-88").content.decode()
    wilcoxon = statistic_shown(page, "Wilcoxon signed-rank test, FA white matter at baseline vs follow-up")
    assert wilcoxon.startswith("W = — · n < 3: no p-value · n = 2")
    assert "median difference (follow-up − baseline) = +0.065" in wilcoxon


def test_the_linking_page_in_spanish(two, researcher):
    response = researcher.get("/research/linking/?instrument=GMFM-88", HTTP_ACCEPT_LANGUAGE="es")
    page = response.content.decode()
    wilcoxon = statistic_shown(page, "Prueba de rangos con signo de Wilcoxon, FA white matter basal vs. seguimiento")
    assert wilcoxon == (
        "W = 0 · p = 0,250 · n = 3 (3 diferencias no nulas) · diferencia mediana (seguimiento − basal) = +0,050"
    )


SCIENTIFIC = re.compile(r"\d[eE][+\-−]?\d")


@pytest.mark.parametrize("name", ["dose-vs-fa", "dose-vs-score"])
def test_dose_plots_are_in_the_units_of_the_pages(two, researcher, svg_text, name):
    text = svg_text(researcher.get(f"/research/plots/{name}.svg?instrument=GMFM-88").content)
    assert "TNC (×10⁸ cells/kg)" in text and "per 10⁸ cells/kg" in text
    assert not SCIENTIFIC.search(text), text
    x_ticks = [float(t) for t in text.splitlines() if re.fullmatch(r"\d\.\d", t)]
    assert x_ticks and min(x_ticks) <= 2.0 and max(x_ticks) >= 3.0 and max(x_ticks) < 4  # doses 2 and 3 ×10⁸/kg


def test_a_plot_of_two_patients_has_no_fit_line(two, researcher, svg_text):
    two_patients = svg_text(researcher.get("/research/plots/dose-vs-score.svg?gmfcs=2&gmfcs=3").content)
    assert "no least-squares line (n < 3)" in two_patients and "slope" not in two_patients
    three = svg_text(researcher.get("/research/plots/dose-vs-score.svg").content)
    assert "least-squares line, slope" in three


def test_plots_follow_the_language_of_the_page(two, researcher, svg_text):
    text = svg_text(researcher.get("/research/plots/dose-vs-fa.svg", HTTP_ACCEPT_LANGUAGE="es").content)
    assert "TNC (×10⁸ células/kg)" in text and "n = 3 pacientes" in text and "por 10⁸ células/kg" in text
