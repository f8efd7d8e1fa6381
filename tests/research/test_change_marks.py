"""A change beyond measurement error (FA) or beyond the MCID (GMFM-66) is marked on the patient page
in both languages, in the research tables, and in the exported long table (whose dictionary
describes the columns); a change within it is not."""

import datetime as dt
import json
import re

import pytest

from registry.roles import HEMATOLOGY

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def site_mcid(settings):
    """This site's GMFM-66 MCID figures (the registry ships none: registry/quantities.py)."""
    settings.GMFM_MCID = {"GMFM-66": {1: 1.5, 2: 1.1, 3: 1.2}}


BASE, FOLLOW = dt.date(2024, 1, 20), dt.date(2024, 8, 2)


def two_visits(cohort, study_id, *, fa=(0.40, 0.45), gmfm66=(50.0, 52.0), gmfcs_level=3):
    return cohort.course(
        study_id,
        [(BASE, "baseline", {"GMFM-66": gmfm66[0]}, fa[0]), (FOLLOW, "follow-up", {"GMFM-66": gmfm66[1]}, fa[1])],
        gmfcs_level=gmfcs_level,
    )


def page(as_role, patient, language="en"):
    response = as_role(HEMATOLOGY).get(f"/patients/{patient.pk}/", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    return response.content.decode()


def white_matter(text):
    """The follow-up's white-matter FA line of the patient page (the last one)."""
    return re.findall(r'<p class="imaging"><strong>White-matter FA.*?</p>', text, re.S)[-1]


def test_fa_that_rose_beyond_the_error_is_marked_and_one_within_it_is_not(cohort, as_role):
    # baseline 0.40, CV 2 %: error 1.96 × √2 × 0.02 × 0.40 = 0.0222
    risen = two_visits(cohort, "CP-701", fa=(0.40, 0.45), gmfm66=(50.0, 50.5))
    steady = two_visits(cohort, "CP-702", fa=(0.40, 0.42), gmfm66=(50.0, 50.5))
    marked, unmarked = page(as_role, risen.patient), page(as_role, steady.patient)
    assert "+0.050" in white_matter(marked) and "±0.022" in white_matter(marked)
    assert "beyond measurement error" in white_matter(marked)
    assert "+0.020" in white_matter(unmarked) and "±0.022" in white_matter(unmarked)
    assert "beyond measurement error" not in white_matter(unmarked)
    assert "beyond the MCID" not in marked  # GMFM-66 +0.5 at level III is within its MCID


def test_the_whole_brain_fa_is_judged_on_its_own_baseline(cohort, as_role):
    # whole-brain FA 0.30 -> 0.32 (the scans' fa_mean): error 1.96 × √2 × 0.02 × 0.30 = 0.0166, so +0.020 is beyond
    steady = two_visits(cohort, "CP-705", fa=(0.40, 0.42))
    regions = re.findall(r'<p class="imaging regions">(.*?)</p>', page(as_role, steady.patient), re.S)[-1]
    assert "FA whole brain 0.320" in regions and "±0.017" in regions and "beyond measurement error" in regions


def test_the_mark_and_its_explanation_are_in_spanish(cohort, as_role):
    risen = two_visits(cohort, "CP-703", fa=(0.40, 0.45), gmfm66=(50.0, 53.0))
    text = page(as_role, risen.patient, "es")
    assert "±0,022" in text and "supera el error de medida" in text
    assert "El cambio supera el error de medida (±0,022): un cambio fiable" in text
    assert "supera la DMCI" in text and "Diferencia mínima clínicamente importante" in text


def test_a_site_s_own_test_retest_cv_moves_the_threshold(cohort, as_role, settings):
    settings.FA_TEST_RETEST_CV_PERCENT = 10.0  # error 0.111 at baseline 0.40
    risen = two_visits(cohort, "CP-704", fa=(0.40, 0.45))
    line = white_matter(page(as_role, risen.patient))
    assert "±0.111" in line and "beyond measurement error" not in line


@pytest.mark.parametrize("level, follow, marked", [(3, 51.2, False), (3, 51.3, True), (4, 60.0, False)])
def test_gmfm66_change_is_judged_against_the_mcid_of_the_gmfcs_level(cohort, as_role, level, follow, marked):
    # GMFCS III: the site's MCID 1.2 points; level IV has no figure
    course = two_visits(cohort, f"CP-71{level}{int(follow)}", gmfm66=(50.0, follow), gmfcs_level=level)
    text = page(as_role, course.patient)
    assert ("beyond the MCID" in text) is marked
    assert ("MCID 1.2" in text) is (level == 3)


def test_the_export_carries_the_error_and_the_mark_and_the_dictionary_describes_them(cohort, researcher, exports):
    two_visits(cohort, "CP-721", fa=(0.40, 0.45), gmfm66=(50.0, 51.0))
    two_visits(cohort, "CP-722", fa=(0.40, 0.41), gmfm66=(50.0, 52.0))
    response = researcher.get(f"{exports.cohort}?table=long&format=json")
    assert response.status_code == 200
    rows = [row for row in exports.read(response, "json") if row["visit_kind"] == "follow-up"]
    by = {(row["study_id"], row["measure"]): row for row in rows}
    fa_risen, fa_steady = by[("CP-721", "FA white matter")], by[("CP-722", "FA white matter")]
    assert fa_risen["change_error"] == pytest.approx(0.0222, abs=1e-4)
    assert (fa_risen["beyond_error"], fa_steady["beyond_error"]) == (True, False)
    assert (by[("CP-721", "GMFM-66")]["beyond_error"], by[("CP-722", "GMFM-66")]["beyond_error"]) == (False, True)
    assert by[("CP-722", "GMFM-66")]["change_error"] == 1.2
    assert by[("CP-721", "MD whole brain")]["beyond_error"] is None  # no error defined for MD
    entries = json.loads(exports.body(researcher.get(f"{exports.dictionary}?format=json")))
    names = {entry["name"]: entry for entry in entries if entry["table"] == "long"}
    assert names["beyond_error"]["type"] == "boolean" and "change_error" in names["beyond_error"]["description"]


def test_the_research_tables_mark_the_change(cohort, researcher):
    two_visits(cohort, "CP-731", fa=(0.40, 0.45), gmfm66=(50.0, 52.0))
    text = researcher.get("/research/").content.decode()
    assert "beyond measurement error" in text and "beyond the MCID" in text


def test_the_wide_export_carries_the_mark_per_measure(cohort, researcher, exports):
    two_visits(cohort, "CP-741", fa=(0.40, 0.45), gmfm66=(50.0, 51.0))
    rows = exports.read(researcher.get(f"{exports.cohort}?table=wide&format=json"), "json")
    follow = next(row for row in rows if row["study_id"] == "CP-741" and row["visit_kind"] == "follow-up")
    assert (follow["FA white matter beyond error"], follow["GMFM-66 beyond error"]) == (True, False)
