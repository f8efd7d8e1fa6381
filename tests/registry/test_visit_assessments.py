"""One visit, one form: every instrument the schedule expects at a visit, validated together, stored at once."""

import datetime as dt
from decimal import Decimal

import pytest

from registry.models import Score, Visit

pytestmark = pytest.mark.django_db

FIRST = dt.date(2024, 2, 2)  # the first intrathecal procedure
SIX_MONTHS = dt.date(2024, 8, 2)
MUSCLES = ["hip-adductors", "hamstrings", "gastrocnemius-soleus", "elbow-flexors", "wrist-flexors"]


@pytest.fixture
def six_month_visit(build):
    procedure = build.procedure(date=FIRST)
    return build.visit(patient=procedure.patient, date=SIX_MONTHS)


@pytest.fixture
def hematology(signed_in_client):
    return signed_in_client("hematology")


def empty_form(visit):
    """What the page posts when nothing is entered: every value and reason empty, no versions."""
    data = {"assessor": ""}
    for code in ["CFCS", "GMFCS", "GMFM-66", "GMFM-88", "MACS"]:
        data[f"{code}-value"], data[f"{code}-missing"] = "", ""
    for muscle in MUSCLES:
        for side in ("left", "right"):
            data[f"MAS.{muscle}.{side}-value"], data[f"MAS.{muscle}.{side}-missing"] = "", ""
    return data


def test_the_page_lists_every_instrument_the_timepoint_expects_with_its_allowed_values(hematology, six_month_visit):
    response = hematology.get(f"/visits/{six_month_visit.pk}/assessments/")
    assert response.status_code == 200
    page = response.content.decode()
    for code in ["GMFM-88", "GMFM-66", "GMFCS", "MACS", "CFCS", "MAS"]:
        assert f'id="instrument-{code}"' in page
    for muscle in MUSCLES:
        for side in ("left", "right"):
            assert f'name="MAS.{muscle}.{side}-value"' in page
    assert '<option value="1+">1+</option>' in page
    assert '<option value="III">III</option>' in page
    assert "6 months" in page
    assert '<option value="refused">refused</option>' in page


def test_a_visit_s_assessments_are_saved_together_and_shown_on_the_patient_page(hematology, six_month_visit):
    data = empty_form(six_month_visit)
    data.update(
        {
            "assessor": "Physiotherapy team",
            "GMFM-88-value": "55,5",
            "GMFM-66-value": "48.2",
            "GMFCS-value": "III",
            "MACS-value": "II",
            "CFCS-missing": "refused",
            "MAS.hamstrings.left-value": "1+",
            "MAS.hamstrings.right-value": "2",
            "MAS.wrist-flexors.left-missing": "not-applicable",
        }
    )
    response = hematology.post(f"/visits/{six_month_visit.pk}/assessments/", data)
    assert response.status_code == 302
    patient = six_month_visit.patient
    assert response["Location"] == f"/patients/{patient.pk}/#visit-{six_month_visit.pk}"
    scores = {
        (s.instrument.code, s.muscle.code if s.muscle else "", s.side): (s.value, s.missing, s.assessor)
        for s in Score.objects.filter(visit=six_month_visit).select_related("instrument", "muscle")
    }
    assert scores == {
        ("GMFM-88", "", ""): (Decimal("55.50"), "", "Physiotherapy team"),
        ("GMFM-66", "", ""): (Decimal("48.20"), "", "Physiotherapy team"),
        ("GMFCS", "", ""): (Decimal("3.00"), "", "Physiotherapy team"),
        ("MACS", "", ""): (Decimal("2.00"), "", "Physiotherapy team"),
        ("CFCS", "", ""): (None, "refused", "Physiotherapy team"),
        ("MAS", "hamstrings", "left"): (Decimal("1.50"), "", "Physiotherapy team"),
        ("MAS", "hamstrings", "right"): (Decimal("2.00"), "", "Physiotherapy team"),
        ("MAS", "wrist-flexors", "left"): (None, "not-applicable", "Physiotherapy team"),
    }
    hamstring = Score.objects.get(visit=six_month_visit, muscle__code="hamstrings", side="left")
    assert hamstring.history.count() == 1 and hamstring.history.first().history_user.username == "hematology-user"

    page = hematology.get(f"/patients/{patient.pk}/").content.decode()
    assert f'id="visit-{six_month_visit.pk}"' in page
    assert "MAS hamstrings left</td><td>1+</td>" in page
    assert "GMFCS</td><td>III</td>" in page
    assert "missing: refused" in page


def test_one_refused_entry_stores_nothing_and_is_named_beside_its_field(hematology, six_month_visit):
    data = empty_form(six_month_visit)
    data.update({"GMFM-88-value": "200", "GMFCS-value": "III", "MAS.hamstrings.left-value": "2.5"})
    response = hematology.post(f"/visits/{six_month_visit.pk}/assessments/", data)
    assert response.status_code == 400
    page = response.content.decode()
    assert "GMFM-88 scores range from 0 to 100; 200 is outside it." in page
    assert "“2.5” is not one of the values this instrument allows." in page
    assert "Nothing was saved" in page
    assert not Score.objects.filter(visit=six_month_visit).exists()


def test_a_value_and_a_missing_reason_together_are_refused(hematology, six_month_visit):
    data = empty_form(six_month_visit)
    data.update({"GMFM-88-value": "50", "GMFM-88-missing": "not-done", "GMFCS-value": "II"})
    response = hematology.post(f"/visits/{six_month_visit.pk}/assessments/", data)
    assert response.status_code == 400
    assert "Either a value or why it is missing, not both." in response.content.decode()
    assert not Score.objects.filter(visit=six_month_visit).exists()


def test_editing_changes_and_clears_scores_with_versions_and_refuses_a_stale_one(build, hematology, six_month_visit):
    gmfm = build.score(visit=six_month_visit, instrument="GMFM-88", value=Decimal("50"))
    gmfcs = build.score(visit=six_month_visit, instrument="GMFCS", value=Decimal("3"))
    page = hematology.get(f"/visits/{six_month_visit.pk}/assessments/").content.decode()
    assert 'name="GMFM-88-value" value="50"' in page
    data = empty_form(six_month_visit)
    data.update({"GMFM-88-value": "52", "GMFM-88-version": "1", "GMFCS-version": "1"})  # GMFCS cleared
    response = hematology.post(f"/visits/{six_month_visit.pk}/assessments/", data)
    assert response.status_code == 302
    gmfm.refresh_from_db()
    assert (gmfm.value, gmfm.version) == (Decimal("52.00"), 2)
    assert not Score.objects.filter(pk=gmfcs.pk).exists()

    data.update({"GMFM-88-value": "60", "GMFM-88-version": "1", "GMFCS-value": "IV", "GMFCS-version": ""})
    response = hematology.post(f"/visits/{six_month_visit.pk}/assessments/", data)
    assert response.status_code == 400
    assert "after you opened it" in response.content.decode()
    gmfm.refresh_from_db()
    assert gmfm.value == Decimal("52.00")
    assert not Score.objects.filter(visit=six_month_visit, instrument__code="GMFCS").exists()


def test_a_new_visit_and_its_assessments_are_stored_at_once_or_not_at_all(build, hematology):
    patient = build.procedure(date=FIRST).patient
    build.visit(patient=patient, date=dt.date(2024, 1, 20), kind="baseline")
    page = hematology.get(f"/patients/{patient.pk}/assessments/new/?timepoint=6m")
    assert page.status_code == 200 and 'id="instrument-MAS"' in page.content.decode()
    data = empty_form(None)
    data.update(
        {"date": "2024-08-05", "kind": "follow-up", "GMFM-88-value": "61", "MAS.hip-adductors.right-value": "1+"}
    )
    response = hematology.post(f"/patients/{patient.pk}/assessments/new/?timepoint=6m", data)
    assert response.status_code == 302
    visit = Visit.objects.get(patient=patient, date=dt.date(2024, 8, 5))
    assert response["Location"] == f"/patients/{patient.pk}/#visit-{visit.pk}"
    assert sorted(visit.scores.values_list("instrument__code", "value")) == [
        ("GMFM-88", Decimal("61.00")),
        ("MAS", Decimal("1.50")),
    ]

    data.update({"date": "2024-11-04", "GMFM-88-value": "abc"})
    response = hematology.post(f"/patients/{patient.pk}/assessments/new/?timepoint=9m", data)
    assert response.status_code == 400
    assert "“abc” is not a number" in response.content.decode()
    assert not Visit.objects.filter(patient=patient, date=dt.date(2024, 11, 4)).exists()

    data.update({"date": "2024-11-04", "kind": "baseline", "GMFM-88-value": "62"})  # a second baseline
    response = hematology.post(f"/patients/{patient.pk}/assessments/new/?timepoint=9m", data)
    assert response.status_code == 400
    assert "already has a baseline visit" in response.content.decode()
    assert (
        Visit.objects.filter(patient=patient).count() == 2 and Score.objects.filter(visit__patient=patient).count() == 2
    )


def test_research_and_radiology_may_not_enter_assessments(signed_in_client, six_month_visit):
    for role in ("research", "radiology"):
        client = signed_in_client(role)
        assert client.get(f"/visits/{six_month_visit.pk}/assessments/").status_code == 403
        response = client.post(f"/visits/{six_month_visit.pk}/assessments/", empty_form(six_month_visit))
        assert response.status_code == 403
    assert not Score.objects.exists()


def test_the_single_score_form_takes_1_plus_and_names_the_allowed_labels(build, hematology, six_month_visit):
    from registry.models import Instrument

    mas = Instrument.objects.get(code="MAS").pk
    url = f"/patients/{six_month_visit.patient.pk}/scores/new/"
    response = hematology.post(url, {"visit": six_month_visit.pk, "instrument": mas, "value": "2.5"})
    assert response.status_code == 200
    assert "MAS allows only 0, 1, 1+, 2, 3, 4." in response.content.decode()
    assert not Score.objects.exists()
    response = hematology.post(url, {"visit": six_month_visit.pk, "instrument": mas, "value": "1+"})
    assert response.status_code == 302
    assert Score.objects.get().value == Decimal("1.50")


def test_a_version_that_is_not_a_number_is_named_and_nothing_is_stored(build, hematology, six_month_visit):
    gmfm = build.score(visit=six_month_visit, instrument="GMFM-88", value=Decimal("50"))
    data = empty_form(six_month_visit)
    data.update({"GMFM-88-value": "52", "GMFM-88-version": "1.0", "GMFCS-value": "II"})
    response = hematology.post(f"/visits/{six_month_visit.pk}/assessments/", data)
    assert response.status_code == 400
    assert "The version must be a whole number written in digits 0-9" in response.content.decode()
    gmfm.refresh_from_db()
    assert (gmfm.value, gmfm.version) == (Decimal("50.00"), 1)
    assert not Score.objects.filter(visit=six_month_visit, instrument__code="GMFCS").exists()
