"""The linking page offers the instruments scored in the cohort (counted in the database, as only the
chosen instrument's scores are read): scored as a whole, recorded as missing included, at a visit inside
the follow-up window; never an instrument scored per muscle group only."""

import datetime as dt
import gc
import html
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


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("instrument=NOPE", "instrument: the registry has no instrument “NOPE”."),
        ("fa=FA+no-such-region", "fa: the registry has no FA measure “FA no-such-region”."),
        ("fa=MD+whole+brain", "fa: the registry has no FA measure “MD whole brain”."),
        ("follow_up=7y", "follow_up: “7y” is not one of the follow-ups listed."),
    ],
)
def test_a_choice_the_registry_does_not_know_is_named_and_the_default_shown(scored, signed_in_client, query, named):
    researcher = signed_in_client(RESEARCH)
    response = researcher.get(f"/research/linking/?{query}")
    assert response.status_code == 400
    page = response.content.decode()
    assert html.escape(named) in page
    assert offered(page) == [("", "GMFCS"), (" selected", "GMFM-88"), ("", "MACS")]
    assert response.context["fa_measure"] == "FA white matter"
    assert response.context["linked"]["follow_up"] == "latest-timepoint"
    assert response.context["n"] == 1  # the cohort is still shown, with the defaults
    # Its links (plots, pages) carry the choices shown, not the one refused.
    assert query.split("=")[0] not in response.context["query"].split("=")
    assert 'src="/research/plots/fa-vs-score.png?"' in page

    plot = researcher.get(f"/research/plots/fa-vs-score.png?{query}")
    assert plot.status_code == 400 and plot.content.decode() == named


def test_an_instrument_the_registry_knows_but_the_cohort_lacks_is_a_choice(scored, signed_in_client):
    researcher = signed_in_client(RESEARCH)
    response = researcher.get("/research/linking/?instrument=CFCS&fa=FA+cst-l")
    assert response.status_code == 200
    assert response.context["instrument"] == "CFCS" and response.context["fa_measure"] == "FA cst-l"
    assert researcher.get("/research/plots/fa-vs-score.png?instrument=CFCS").status_code == 200


def test_an_empty_instrument_is_the_default_even_in_a_registry_without_instruments(signed_in_client):
    """Only an instrument typed is checked: an empty one (the form sent with nothing chosen) is the default."""
    from registry.models import Instrument

    Instrument.objects.all().delete()
    researcher = signed_in_client(RESEARCH)
    response = researcher.get("/research/linking/?instrument=&fa=&follow_up=")
    assert response.status_code == 200, response.content.decode()
    assert "choice_errors" not in response.context or not response.context["choice_errors"]
    assert researcher.get("/research/plots/fa-vs-score.png?instrument=").status_code == 200
