"""The linking page offers the instruments scored in the cohort (counted in the database, as only the
chosen instrument's scores are read): scored as a whole, recorded as missing included, at a visit inside
the follow-up window; never an instrument scored per muscle group only."""

import datetime as dt
import gc
import re
from decimal import Decimal

import pytest

from registry.course import read_courses
from registry.models import MuscleGroup
from registry.roles import RESEARCH

pytestmark = pytest.mark.django_db


def offered(page):
    choices = re.search(r'<select name="instrument">(.*?)</select>', page, re.S).group(1)
    return re.findall(r"<option( selected)?>([^<]+)</option>", choices)


@pytest.fixture
def scored(build):
    procedure = build.procedure(date=dt.date(2024, 2, 2))
    patient = procedure.patient
    baseline = build.visit(patient=patient, date=dt.date(2024, 1, 20), kind="baseline")
    six = build.visit(patient=patient, date=dt.date(2024, 8, 2))
    eighteen = build.visit(patient=patient, date=dt.date(2025, 8, 2))
    build.score(visit=baseline, instrument="GMFM-88", value=Decimal("40"))
    build.score(visit=six, instrument="GMFM-88", value=Decimal("44"))
    build.score(visit=six, instrument="GMFCS", value=None, missing="not-done")
    build.score(visit=eighteen, instrument="MACS", value=Decimal("2"))
    hamstrings = MuscleGroup.objects.get(code="hamstrings")
    build.score(visit=baseline, instrument="MAS", muscle=hamstrings, side="left", value=Decimal("1.5"))
    return patient


def test_the_instruments_offered_are_those_scored_in_the_cohort(scored, signed_in_client):
    researcher = signed_in_client(RESEARCH)
    page = researcher.get("/research/linking/").content.decode()
    assert offered(page) == [("", "GMFCS"), (" selected", "GMFM-88"), ("", "MACS")]
    within_a_year = researcher.get("/research/linking/?months_max=12").content.decode()
    assert offered(within_a_year) == [("", "GMFCS"), (" selected", "GMFM-88")]
    chosen = researcher.get("/research/linking/?instrument=MACS").content.decode()
    assert offered(chosen) == [("", "GMFCS"), ("", "GMFM-88"), (" selected", "MACS")]


def test_a_score_entered_is_offered_at_once(scored, build, signed_in_client):
    researcher = signed_in_client(RESEARCH)
    assert ("", "CFCS") not in offered(researcher.get("/research/linking/").content.decode())
    visit = scored.visits.get(date=dt.date(2024, 8, 2))
    build.score(visit=visit, instrument="CFCS", value=Decimal("2"))
    assert ("", "CFCS") in offered(researcher.get("/research/linking/").content.decode())


def test_a_course_read_with_some_instruments_has_their_scores_only(scored):
    (course,) = read_courses([scored.pk], instruments=["GMFM-88"])
    assert [sorted(visit.measures) for visit in course.visits] == [["GMFM-88"], ["GMFM-88"], []]
    (whole,) = read_courses([scored.pk])
    assert sorted(whole.visits[0].measures) == ["GMFM-88", "MAS hamstrings-l"]


@pytest.mark.parametrize("enabled", [True, False])
def test_reading_courses_leaves_the_garbage_collector_as_it_was(scored, enabled):
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        read_courses([scored.pk])
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()
