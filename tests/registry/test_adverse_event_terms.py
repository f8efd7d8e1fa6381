"""Adverse-event terms come from the CTCAE v5.0 list; anything else is "Other, specify" with the
words in `term_other`, which research sees only where a registry-admin released that exact value."""

from importlib import import_module

import pytest
from django.apps import apps

from registry import ctcae
from registry.models import AdverseEvent
from registry.roles import HEMATOLOGY, RESEARCH


def test_other_specify_keeps_the_words_for_clinical_staff_only(build, api_as):
    event = build.adverse_event(term=ctcae.OTHER, term_other="Post-dural puncture headache, Dr Ruiz")
    url = f"/api/v1/adverse-events/{event.pk}/"

    clinical = api_as(HEMATOLOGY).get(url).json()
    research = api_as(RESEARCH).get(url).json()

    assert (clinical["term"], clinical["term_other"]) == ("Other, specify", "Post-dural puncture headache, Dr Ruiz")
    assert (research["term"], research["term_other"]) == ("Other, specify", None)


def test_a_listed_term_reaches_research(build, api_as):
    event = build.adverse_event(term="Meningismus")

    assert api_as(RESEARCH).get(f"/api/v1/adverse-events/{event.pk}/").json()["term"] == "Meningismus"


@pytest.mark.parametrize(
    "typed,term,term_other",
    [
        ("headache", "Headache", ""),
        (" BACK PAIN ", "Back pain", ""),
        ("other, specify", "Other, specify", ""),
        ("vomiting x3 after the LP", "Other, specify", "vomiting x3 after the LP"),
    ],
)
def test_the_migration_maps_typed_terms_onto_the_list(build, typed, term, term_other):
    event = build.adverse_event()
    AdverseEvent.objects.filter(pk=event.pk).update(term=typed, term_other="")

    import_module("registry.migrations.0005_ctcae_terms_and_release_by_value").terms_to_ctcae(apps, None)

    event.refresh_from_db()
    assert (event.term, event.term_other) == (term, term_other)


def test_a_term_off_the_list_is_refused_with_what_to_do_instead(build, hematology_api):
    procedure = build.procedure()
    response = hematology_api.post(
        "/api/v1/adverse-events/",
        {"procedure": procedure.pk, "onset_date": procedure.date.isoformat(), "term": "Headache after LP", "grade": 1},
        format="json",
    )
    assert response.status_code == 400
    message = response.json()["term"][0]
    assert '"Headache after LP"' in message and "Other, specify" in message and "term_other" in message
    assert not AdverseEvent.objects.exists()
