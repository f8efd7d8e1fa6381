"""Missing-data codes and labelled values through the API, the pages, the research tables and the exports;
statistics leave missing scores out and count them."""

import datetime as dt
from decimal import Decimal

import pytest

from registry.course import read_courses
from registry.models import MuscleGroup, Score
from research import analysis

pytestmark = pytest.mark.django_db


@pytest.fixture
def visit(build):
    procedure = build.procedure(date=dt.date(2024, 2, 2))
    return build.visit(patient=procedure.patient, date=dt.date(2024, 8, 2))


def test_a_score_recorded_as_missing_through_the_api(hematology_api, visit):
    response = hematology_api.post(
        "/api/v1/scores/", {"visit": visit.pk, "instrument": "GMFM-88", "missing": "refused"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["value"], body["missing"], body["display_value"]) == (None, "refused", "refused")
    score = Score.objects.get(pk=body["id"])
    assert (score.value, score.missing) == (None, "refused")

    both = hematology_api.post(
        "/api/v1/scores/",
        {"visit": visit.pk, "instrument": "GMFM-66", "value": "40", "missing": "not-done"},
        format="json",
    )
    assert both.status_code == 400
    assert "not missing" in str(both.json())
    neither = hematology_api.post("/api/v1/scores/", {"visit": visit.pk, "instrument": "GMFM-66"}, format="json")
    assert neither.status_code == 400
    assert "Enter a value, or say why it is missing." in str(neither.json())
    unknown = hematology_api.post(
        "/api/v1/scores/", {"visit": visit.pk, "instrument": "GMFM-66", "missing": "lost"}, format="json"
    )
    assert unknown.status_code == 400 and "lost" in str(unknown.json())
    assert Score.objects.count() == 1


def test_modified_ashworth_is_1_plus_in_the_api_per_muscle_group_and_side(hematology_api, visit):
    response = hematology_api.post(
        "/api/v1/scores/",
        {"visit": visit.pk, "instrument": "MAS", "muscle": "hamstrings", "side": "left", "value": "1+"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert (response.json()["value"], response.json()["muscle"], response.json()["side"]) == (
        "1+",
        "hamstrings",
        "left",
    )
    assert Score.objects.get().value == Decimal("1.50")
    numeric = hematology_api.post(
        "/api/v1/scores/",
        {"visit": visit.pk, "instrument": "MAS", "muscle": "hamstrings", "side": "right", "value": 1.5},
        format="json",
    )
    assert numeric.status_code == 201 and numeric.json()["value"] == "1+"  # numeric posting still works
    for bad, words in (("2.5", "MAS allows only 0, 1, 1+, 2, 3, 4."), ("1++", "“1++” is not a MAS value")):
        response = hematology_api.post(
            "/api/v1/scores/",
            {"visit": visit.pk, "instrument": "MAS", "muscle": "elbow-flexors", "side": "left", "value": bad},
            format="json",
        )
        assert response.status_code == 400 and words in str(response.json()), response.content
    same_again = hematology_api.post(
        "/api/v1/scores/",
        {"visit": visit.pk, "instrument": "MAS", "muscle": "hamstrings", "side": "left", "value": "2"},
        format="json",
    )
    assert same_again.status_code == 400
    levels = hematology_api.post(
        "/api/v1/scores/", {"visit": visit.pk, "instrument": "GMFCS", "value": "III"}, format="json"
    )
    assert levels.status_code == 201 and (levels.json()["value"], levels.json()["display_value"]) == ("3.00", "III")
    assert Score.objects.count() == 3


def test_research_reads_the_missing_code_and_the_muscle_group(build, visit, api_as):
    build.score(visit=visit, instrument="GMFM-88", value=None, missing="unable-to-assess")
    hamstrings = MuscleGroup.objects.get(code="hamstrings")
    build.score(visit=visit, instrument="MAS", muscle=hamstrings, side="right", value=Decimal("1.5"))
    rows = api_as("research").get("/api/v1/scores/").json()["results"]
    assert sorted((row["instrument"], row["muscle"], row["side"], row["value"], row["missing"]) for row in rows) == [
        ("GMFM-88", None, "", None, "unable-to-assess"),
        ("MAS", "hamstrings", "right", "1+", ""),
    ]


def test_exports_carry_the_missing_code_and_the_label(build, visit, researcher, exports):
    build.visit(patient=visit.patient, date=dt.date(2024, 1, 25), kind="baseline")
    build.score(visit=visit, instrument="CFCS", value=None, missing="refused")
    build.score(
        visit=visit,
        instrument="MAS",
        muscle=MuscleGroup.objects.get(code="hamstrings"),
        side="left",
        value=Decimal("1.5"),
    )
    rows = exports.read(researcher.get(f"{exports.cohort}?table=long&format=csv"), "csv")
    cfcs = next(row for row in rows if row["measure"] == "CFCS")
    assert (cfcs["value"], cfcs["missing_code"], cfcs["measure_type"]) == ("", "refused", "score")
    mas = next(row for row in rows if row["measure"] == "MAS hamstrings-l")
    assert (float(mas["value"]), mas["value_label"], mas["missing_code"]) == (1.5, "1+", "")
    wide = exports.read(researcher.get(f"{exports.cohort}?table=wide&format=csv"), "csv")
    follow_up = next(row for row in wide if row["visit_kind"] == "follow-up")
    assert (follow_up["CFCS"], follow_up["missing_codes"]) == ("", "CFCS=refused")
    assert float(follow_up["MAS hamstrings-l"]) == 1.5
    dictionary = exports.body(researcher.get(exports.dictionary)).decode()
    assert "missing_code" in dictionary and "1+, 2, 3, 4 as 0, 1, 1.5, 2, 3, 4" in dictionary


def test_statistics_leave_a_missing_score_out_and_count_it(build, exports):
    patients = []
    for number, (base_score, follow_score) in enumerate([(40, 46), (30, None), (50, 55)]):
        procedure = build.procedure(date=dt.date(2024, 2, 2))
        baseline = build.visit(patient=procedure.patient, date=dt.date(2024, 1, 25), kind="baseline")
        follow_up = build.visit(patient=procedure.patient, date=dt.date(2024, 8, 2))
        build.score(visit=baseline, value=Decimal(base_score))
        if follow_score is None:
            build.score(visit=follow_up, value=None, missing="not-done")
        else:
            build.score(visit=follow_up, value=Decimal(follow_score))
        exports.add_scan_result(baseline, 0.40)
        exports.add_scan_result(follow_up, 0.42 + number / 100)
        patients.append(procedure.patient.pk)
    linked = analysis.link(read_courses(patients), "GMFM-88")
    assert len(linked["pairs"]) == 2
    assert (linked["n_missing"], linked["missing_codes"]) == (1, {"not-done": 1})
    table = analysis.measure_table(read_courses(patients), {"score"})
    missing_row = next(row for row in table if row["baseline"] == 30.0)
    assert [(f["value"], f["missing"], f["change"]) for f in missing_row["follow_ups"]] == [(None, "not-done", None)]


def test_research_tables_write_levels_and_ashworth_as_clinicians_do(build, visit, researcher):
    baseline = build.visit(patient=visit.patient, date=dt.date(2024, 1, 25), kind="baseline")
    build.score(visit=baseline, instrument="GMFCS", value=Decimal("4"))
    build.score(visit=visit, instrument="GMFCS", value=Decimal("3"))
    row = next(row for row in analysis.measure_table(read_courses([visit.patient_id]), {"score"}))
    assert (row["measure"], row["baseline_label"], row["follow_ups"][0]["label"]) == ("GMFCS", "IV", "III")
    page = researcher.get("/research/").content.decode()
    assert "<td>IV</td>" in page and "<strong>6m</strong>" in page and "· III" in page


@pytest.mark.parametrize(
    "language, reason, linking_reason",
    [("en", "missing: unable to assess", "(unable to assess 1)"), ("es", "ausente: no evaluable", "(no evaluable 1)")],
)
def test_research_pages_say_why_a_score_is_missing_in_the_page_s_language(
    build, exports, researcher, language, reason, linking_reason
):
    """The pages word the reason as the clinical pages do; the exports keep the code (test above)."""
    for follow_score in (46, None):
        procedure = build.procedure(date=dt.date(2024, 2, 2))
        baseline = build.visit(patient=procedure.patient, date=dt.date(2024, 1, 25), kind="baseline")
        follow_up = build.visit(patient=procedure.patient, date=dt.date(2024, 8, 2))
        build.score(visit=baseline, value=Decimal(40))
        if follow_score is None:
            build.score(visit=follow_up, value=None, missing="unable-to-assess")
        else:
            build.score(visit=follow_up, value=Decimal(follow_score))
        exports.add_scan_result(baseline, 0.40)
        exports.add_scan_result(follow_up, 0.43)
    cohort = researcher.get("/research/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert f'<span class="score-missing">{reason}</span>' in cohort
    assert "unable-to-assess" not in cohort
    linking = researcher.get("/research/linking/?instrument=GMFM-88", HTTP_ACCEPT_LANGUAGE=language)
    assert linking.status_code == 200
    page = linking.content.decode()
    assert linking_reason in page and "unable-to-assess" not in page
