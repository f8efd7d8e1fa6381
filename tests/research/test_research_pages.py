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
