"""The patient page draws each instrument and each FA measure over the months since the first procedure:
one inline SVG chart per measure with values, its points in time order, the procedures marked at their
months, levels in roman numerals, Modified Ashworth 1.5 as "1+", words and numbers in the page's language,
the values as a table, no chart for a patient without values, and no query per chart."""

import datetime as dt
import re
import uuid
import xml.etree.ElementTree as ET
from decimal import Decimal
from types import SimpleNamespace

import pytest

from registry import synthetic
from registry.charts import Axis, LineChart, Marker, Point, Series, line_chart, nice_ticks
from registry.course import CourseProcedure, CourseVisit, Measure
from registry.models import Instrument, Patient, Score
from registry.roles import HEMATOLOGY, RADIOLOGY, RESEARCH
from registry.trajectories import patient_trajectories

SVG = "{http://www.w3.org/2000/svg}"
ES = {"HTTP_ACCEPT_LANGUAGE": "es"}
WHITE_MATTER_ES = "FA de sustancia blanca"


def charts_of(html):
    """{chart title (its <h3>): parsed <svg> element} of the page's trajectories, in page order."""
    section = re.search(r'<section class="trajectories".*?</section>', html, re.S)
    if section is None:
        return {}
    figures = re.findall(r"<h3>(.*?)</h3>.*?(<svg .*?</svg>)", section.group(0), re.S)
    return {title: ET.fromstring(svg) for title, svg in figures}


def points(svg):
    return [(float(c.get("data-x")), float(c.get("data-y"))) for c in svg.iter(f"{SVG}circle")]


def markers(svg):
    return [
        (float(g.get("data-x")), g.find(f"{SVG}text").text) for g in svg.iter(f"{SVG}g") if g.get("class") == "marker"
    ]


def y_ticks(svg):
    axis = next(g for g in svg.iter(f"{SVG}g") if g.get("class") == "y-axis")
    return [text.text for text in axis.iter(f"{SVG}text")]


def add_scan_result(visit, fa_wm, fa_whole, regions=()):
    """A done scan with a current result written straight to the database (no files, no pipeline)."""
    from imaging.models import DiffusionResult, Region, RoiMeasurement, Scan

    scan = Scan.objects.create(
        visit=visit,
        acquisition_date=visit.date,
        dwi="fake/dwi.nii.gz",
        bval="fake/dwi.bval",
        bvec="fake/dwi.bvec",
        dwi_sha256="0" * 64,
        bval_sha256="0" * 64,
        bvec_sha256="0" * 64,
        fingerprint=uuid.uuid4().hex,
        status="done",
        shape=[24, 24, 16, 13],
    )
    result = DiffusionResult.objects.create(
        scan=scan,
        is_current=True,
        folder="fake",
        files={},
        fa_mean=fa_whole,
        fa_wm_mean=fa_wm,
        md_mean=0.0008,
        qc_passed=True,
        qc={"overall": "pass"},
    )
    for code, fa in regions:
        RoiMeasurement.objects.create(scan=scan, result=result, region=Region.objects.get(code=code), fa=fa)
    return scan


@pytest.fixture
def course(build):
    """Procedures on 2024-02-02 and 2024-06-01; a baseline, a 3-month and a 6-month visit with GMFM-88,
    GMFCS and MAS scores, and FA at the baseline and 6 months."""
    first = build.procedure()
    patient = first.patient
    build.procedure(product=first.product, date=dt.date(2024, 6, 1))
    baseline = build.visit(patient, date=dt.date(2024, 1, 20), kind="baseline")
    three = build.visit(patient, date=dt.date(2024, 5, 2))
    six = build.visit(patient, date=dt.date(2024, 8, 2))
    # Entered out of time order: the chart joins them by months.
    for visit, gmfm, level, mas in [(six, "36.5", 3, "1"), (baseline, "30", 4, "2"), (three, "34", 4, "1.5")]:
        build.score(visit, value=Decimal(gmfm))
        build.score(visit, instrument="GMFCS", value=Decimal(level))
        build.score(visit, instrument="MAS", value=Decimal(mas))
    add_scan_result(baseline, 0.41, 0.30, regions=[("cst-l", 0.45)])
    add_scan_result(six, 0.4375, 0.31, regions=[("cst-l", 0.48)])
    return patient


def test_each_instrument_is_drawn_with_its_points_in_time_order_and_the_procedures_marked(signed_in_client, course):
    client = signed_in_client(HEMATOLOGY)
    response = client.get(f"/patients/{course.pk}/")
    assert response.status_code == 200
    charts = charts_of(response.content.decode())
    assert list(charts) == ["GMFCS", "GMFM-88", "MAS", "White-matter FA", "Whole-brain FA", "FA cst-l"]
    gmfm = charts["GMFM-88"]
    # Months since 2024-02-02: 2024-01-20 is -0.4, 2024-05-02 is 3.0, 2024-08-02 is 6.0.
    assert points(gmfm) == [(-0.4, 30.0), (3.0, 34.0), (6.0, 36.5)]
    line = gmfm.find(f"{SVG}g[@class='series']/{SVG}polyline")
    assert len(line.get("points").split()) == 3
    xs = [float(pair.split(",")[0]) for pair in line.get("points").split()]
    assert xs == sorted(xs)
    # The second procedure, 2024-06-01, is 120 days (3.9 months) after the first.
    assert markers(gmfm) == [(0.0, "P1"), (3.9, "P2")]
    assert all(markers(chart) == markers(gmfm) for chart in charts.values())
    assert gmfm.find(f"{SVG}title").text == "GMFM-88 over the months since the first procedure"
    assert "3 values from −0.4 to 6.0 months" in gmfm.find(f"{SVG}desc").text
    assert gmfm.get("role") == "img"


def test_levels_are_roman_numerals_modified_ashworth_1_5_is_1_plus_and_each_scale_says_its_direction(
    signed_in_client, course
):
    client = signed_in_client(HEMATOLOGY)
    html = client.get(f"/patients/{course.pk}/").content.decode()
    charts = charts_of(html)
    assert y_ticks(charts["GMFCS"]) == ["I", "II", "III", "IV", "V"]
    assert points(charts["GMFCS"]) == [(-0.4, 4.0), (3.0, 4.0), (6.0, 3.0)]
    assert [c.find(f"{SVG}title").text for c in charts["GMFCS"].iter(f"{SVG}circle")][
        -1
    ] == "2024-08-02, 6.0 months: III"
    assert y_ticks(charts["MAS"]) == ["0", "1", "1+", "2", "3", "4"]
    assert "2024-05-02, 3.0 months: 1+" in [c.find(f"{SVG}title").text for c in charts["MAS"].iter(f"{SVG}circle")]
    assert "Scale I to V, lower is better." in html
    assert "Scale 0 to 100 %, higher is better." in html
    # The table under the GMFCS chart lists the level of each visit.
    table = re.search(r"GMFCS as a table.*?</table>", html, re.S).group(0)
    assert re.findall(r"<td>(IV|III)</td>", table) == ["IV", "IV", "III"]


def test_fa_measures_are_drawn_and_md_is_not(signed_in_client, course):
    client = signed_in_client(RADIOLOGY)
    charts = charts_of(client.get(f"/patients/{course.pk}/").content.decode())
    assert points(charts["White-matter FA"]) == [(-0.4, 0.41), (6.0, 0.4375)]
    assert points(charts["FA cst-l"]) == [(-0.4, 0.45), (6.0, 0.48)]
    assert not any(title.startswith("MD") for title in charts)
    assert y_ticks(charts["White-matter FA"])[0].startswith("0.")


def test_the_spanish_page_words_the_charts_in_spanish_with_decimal_commas(signed_in_client, course):
    client = signed_in_client(HEMATOLOGY)
    html = client.get(f"/patients/{course.pk}/", **ES).content.decode()
    charts = charts_of(html)
    assert "Trayectorias" in html
    gmfm = charts["GMFM-88"]
    assert gmfm.find(f"{SVG}title").text == "GMFM-88 a lo largo de los meses desde el primer procedimiento"
    assert "3 valores de −0,4 a 6,0 meses" in gmfm.find(f"{SVG}desc").text
    titles = [c.find(f"{SVG}title").text for c in gmfm.iter(f"{SVG}circle")]
    assert titles[-1] == "2024-08-02, 6,0 meses: 36,5"
    assert "Meses desde el primer procedimiento" in ET.tostring(gmfm, encoding="unicode")
    fa = charts[WHITE_MATTER_ES]
    assert all("," in tick for tick in y_ticks(fa)) and not any("." in tick for tick in y_ticks(fa))
    assert "Escala de 0 a 100 %, un valor más alto es mejor." in html
    assert "GMFM-88 en una tabla" in html and "<td>36,5</td>" in html


def test_a_patient_without_values_shows_no_chart(signed_in_client, build):
    patient = build.procedure().patient
    build.visit(patient)
    client = signed_in_client(HEMATOLOGY)
    html = client.get(f"/patients/{patient.pk}/").content.decode()
    assert 'class="trajectories"' not in html
    assert "<svg" not in html


def test_values_before_any_procedure_wait_for_it_without_an_empty_chart(signed_in_client, build):
    visit = build.visit(kind="baseline")
    build.score(visit, value=Decimal("30"))
    client = signed_in_client(HEMATOLOGY)
    html = client.get(f"/patients/{visit.patient_id}/").content.decode()
    assert "Trajectories are drawn over the months since the first procedure, once it is recorded." in html
    assert "<svg" not in html


def test_research_accounts_still_may_not_open_the_patient_page(signed_in_client, course):
    client = signed_in_client(RESEARCH)
    assert client.get(f"/patients/{course.pk}/").status_code == 403


def first_procedure():
    """A timeline's procedure event as patient_timeline gives it, for tests of values the database cannot hold."""
    date = dt.date(2024, 2, 2)
    facts = CourseProcedure(1, date, 16.0, 2e8, 1.5e6, 72, months_since_procedure=0.0)
    return {"kind": "procedure", "record": SimpleNamespace(date=date), "course": facts}


def test_several_scores_of_one_instrument_at_a_visit_are_drawn_as_their_mean_and_say_so(reference_data):
    """Several scores of one instrument at a visit (one per muscle, say) are drawn as their mean."""
    mas = Instrument.objects.get(code="MAS")
    procedure = first_procedure()

    def visit(date, months, values):
        scores = [{"score": Score(instrument=mas, value=Decimal(v))} for v in values]
        facts = CourseVisit(2, date, "follow-up", months, 80)
        return {"kind": "visit", "record": SimpleNamespace(date=date), "course": facts, "scores": scores}

    timeline = [procedure, visit(dt.date(2024, 1, 30), -0.1, ["2", "3"]), visit(dt.date(2024, 8, 2), 6.0, ["1.5"])]
    trajectories = patient_trajectories(timeline)
    (chart,) = trajectories.charts
    assert chart.note == "Where a visit has several scores of this instrument, their mean is drawn."
    assert [(row.value, row.note) for row in chart.rows] == [("2.5", "mean of 2 scores"), ("1+", "")]
    svg = ET.fromstring(str(chart.svg))
    assert points(svg) == [(-0.1, 2.5), (6.0, 1.5)]


def test_fa_of_a_visit_in_the_read_model_is_charted_by_its_name(reference_data):
    procedure = first_procedure()
    facts = CourseVisit(2, dt.date(2024, 8, 2), "follow-up", 6.0, 80)
    facts.measures = {
        "FA plic-r": Measure("FA plic-r", "fa", "", 0.62),
        "MD plic-r": Measure("MD plic-r", "md", "", 8e-4),
    }
    visit = {"kind": "visit", "record": SimpleNamespace(date=facts.date), "course": facts, "scores": []}
    trajectories = patient_trajectories([procedure, visit])
    assert [chart.title for chart in trajectories.charts] == ["FA plic-r"]
    assert [row.value for row in trajectories.charts[0].rows] == ["0.620"]


def test_a_chart_escapes_what_it_draws(reference_data, build, signed_in_client):
    Instrument.objects.create(code="odd", name="<b>Odd</b> & scale", min_value=0, max_value=50)
    visit = build.visit(build.procedure().patient)
    build.score(visit, instrument="odd", value=Decimal("12"))
    html = signed_in_client(HEMATOLOGY).get(f"/patients/{visit.patient_id}/").content.decode()
    assert "<b>Odd</b>" not in html and "&lt;b&gt;Odd&lt;/b&gt; &amp; scale" in html
    assert points(charts_of(html)["odd"]) == [(6.0, 12.0)]


def test_round_ticks_cover_the_values():
    assert nice_ticks(30, 36.5) == [30, 32, 34, 36, 38]
    assert nice_ticks(0.41, 0.46) == [0.4, 0.42, 0.44, 0.46]
    assert nice_ticks(5, 5) == [5, 5.25, 5.5, 5.75, 6]


def test_drawing_the_trajectories_adds_no_query_per_visit_or_chart(signed_in_client, captured_queries):
    client = signed_in_client(HEMATOLOGY)
    synthetic.load(1, visits=2)
    synthetic.load(1, visits=10)
    few, many = Patient.objects.order_by("study_id")
    client.get(f"/patients/{few.pk}/")
    two = captured_queries(client, f"/patients/{few.pk}/")
    ten = captured_queries(client, f"/patients/{many.pk}/")
    assert len(ten) == len(two), "\n".join(ten)
    charts = charts_of(client.get(f"/patients/{many.pk}/").content.decode())
    assert {"GMFM-88", "GMFCS", "White-matter FA"} <= set(charts)
    assert len(points(charts["GMFM-88"])) == 10


@pytest.mark.browser
def test_a_hematologist_sees_the_trajectories_in_chromium_and_opens_their_numbers(watched_browser, course):
    watched = watched_browser(HEMATOLOGY, "dr-trajectories")
    page = watched.visit(f"/patients/{course.pk}/", ready="section.trajectories svg.chart circle.point")
    gmfm = page.locator("figure.trajectory", has=page.locator("h3", has_text="GMFM-88"))
    box = gmfm.locator("svg.chart").bounding_box()
    assert box["width"] > 250 and box["height"] > 140, box  # drawn at a readable size, not collapsed
    assert gmfm.locator("circle.point").count() == 3
    assert gmfm.locator("g.marker").count() == 2
    assert page.locator("section.trajectories svg.chart").count() == 6
    table = gmfm.locator("table.trajectory-values")
    assert not table.is_visible()
    gmfm.locator("summary").click()
    assert table.is_visible()
    assert table.locator("tbody tr").all_inner_texts()[-1].split("\t") == ["2024-08-02", "6.0", "36.5"]
    assert watched.problems == []


def test_labels_of_procedures_close_in_time_do_not_overlap():
    x = Axis(-1, 30, ((0, "0"), (12, "12"), (24, "24")))
    y = Axis(0, 10, ((0, "0"), (10, "10")))
    markers = (Marker(0.0, "P1", "first"), Marker(1.0, "P2", "second"), Marker(20.0, "P3", "third"))
    series = (Series("GMFM", (Point(0.5, 4, "a"), Point(12, 6, "b"))),)
    svg = ET.fromstring(str(line_chart(LineChart("c", "t", "d", x, y, series, markers))))
    labels = {
        g.find(f"{SVG}text").text: float(g.find(f"{SVG}text").get("y"))
        for g in svg.iter(f"{SVG}g")
        if g.get("class") == "marker"
    }
    assert labels["P1"] == labels["P3"] != labels["P2"]


def test_an_instrument_scored_per_muscle_group_gets_a_chart_per_muscle_with_a_line_per_side(reference_data):
    """Modified Ashworth per muscle group and side: one chart per muscle group, left and right as two
    lines; a score recorded as missing is not drawn."""
    from registry.models import MuscleGroup

    mas = Instrument.objects.get(code="MAS")
    hips = MuscleGroup.objects.get(code="hip-adductors")
    calves = MuscleGroup.objects.get(code="gastrocnemius-soleus")
    procedure = first_procedure()

    def visit(date, months, scores):
        items = [
            {"score": Score(instrument=mas, muscle=muscle, side=side, value=value, missing=missing)}
            for muscle, side, value, missing in scores
        ]
        facts = CourseVisit(2, date, "follow-up", months, 80)
        return {"kind": "visit", "record": SimpleNamespace(date=date), "course": facts, "scores": items}

    timeline = [
        procedure,
        visit(
            dt.date(2024, 1, 30),
            -0.1,
            [(hips, "left", Decimal("2"), ""), (hips, "right", Decimal("3"), ""), (calves, "left", None, "refused")],
        ),
        visit(dt.date(2024, 8, 2), 6.0, [(hips, "left", Decimal("1.5"), ""), (hips, "right", Decimal("2"), "")]),
    ]
    charts = patient_trajectories(timeline).charts
    assert [chart.title for chart in charts] == ["MAS, hip adductors"]
    svg = ET.fromstring(str(charts[0].svg))
    lines = {g.get("data-name"): points(g) for g in svg.iter(f"{SVG}g") if g.get("class") == "series"}
    assert lines == {"left": [(-0.1, 2.0), (6.0, 1.5)], "right": [(-0.1, 3.0), (6.0, 2.0)]}
    assert [(row.value, row.note) for row in charts[0].rows] == [
        ("2", "left"),
        ("3", "right"),
        ("1+", "left"),
        ("2", "right"),
    ]
