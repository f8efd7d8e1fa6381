"""Changes since baseline are for a scheduled timepoint: an unscheduled or extra visit never replaces it."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command

from registry import quantities
from registry.models import Instrument, Patient, Score, Visit


@pytest.fixture
def cp_002(reference_data, exports):
    """The demo's CP-002: baseline GMFM-88 52.7, 58.9 at the 9-month follow-up (+6.2), FA on both visits."""
    call_command("seed_demo", allow_production=True, stdout=open("/dev/null", "w"))
    patient = Patient.objects.get(study_id="CP-002")
    baseline, nine_months = patient.visits.order_by("date")
    exports.add_scan_result(baseline, 0.40)
    exports.add_scan_result(nine_months, 0.43)
    return patient


def add_test_visit(patient, kind, months_after_procedure_days, gmfm, fa, exports):
    first = patient.first_procedure_date()
    visit = Visit.objects.create(
        patient=patient, kind=kind, date=quantities.add_months(first, 9) + months_after_procedure_days
    )
    Score.objects.create(visit=visit, instrument=Instrument.objects.get(code="GMFM-88"), value=Decimal(gmfm))
    exports.add_scan_result(visit, fa)
    return visit


def cp_002_pair(researcher, query=""):
    response = researcher.get(f"/research/linking/?instrument=GMFM-88{query}")
    assert response.status_code == 200
    pairs = [pair for pair in response.context["linked"]["pairs"] if pair["study_id"] == "CP-002"]
    assert len(pairs) == 1
    return pairs[0], response.content.decode()


@pytest.mark.parametrize(
    "kind,offset_days",
    [
        ("unscheduled", 20),  # a test visit entered after the 9-month one
        ("follow-up", 25),  # an extra follow-up in the 9-month window, further from its target
    ],
)
def test_a_test_visit_never_replaces_cp_002s_nine_month_change(cp_002, researcher, exports, kind, offset_days):
    before, _page = cp_002_pair(researcher)
    assert (before["timepoint"], round(before["delta_score"], 1)) == ("9m", 6.2)

    add_test_visit(cp_002, kind, dt.timedelta(days=offset_days), "45.5", 0.38, exports)  # −7.2 since baseline

    after, page = cp_002_pair(researcher)
    assert (after["timepoint"], round(after["delta_score"], 1), round(after["delta_fa"], 3)) == ("9m", 6.2, 0.03)
    assert "+6.2" in page and "-7.2" not in page

    cohort = researcher.get("/research/").context["score_table"]
    row = next(row for row in cohort if row["study_id"] == "CP-002" and row["measure"] == "GMFM-88")
    assert [(f["timepoint"], round(f["change"], 1)) for f in row["follow_ups"]] == [("9m", 6.2)]

    rows = exports.read(researcher.get(f"{exports.cohort}?table=long&format=csv"), "csv")
    gmfm = [
        r for r in rows if r["study_id"] == "CP-002" and r["measure"] == "GMFM-88" and r["visit_kind"] != "baseline"
    ]
    by_timepoint = {r["timepoint"]: round(float(r["change"]), 1) for r in gmfm}
    assert by_timepoint["9m"] == 6.2
    assert sorted(by_timepoint) == ["", "9m"]  # the test visit is there, under no timepoint


def test_latest_available_visit_is_used_only_when_asked_for(cp_002, researcher, exports):
    add_test_visit(cp_002, "unscheduled", dt.timedelta(days=20), "45.5", 0.38, exports)

    latest, page = cp_002_pair(researcher, "&follow_up=latest-available")
    assert (latest["timepoint"], round(latest["delta_score"], 1)) == (None, -7.2)
    assert "-7.2" in page

    nine, _page = cp_002_pair(researcher, "&follow_up=9m")
    assert round(nine["delta_score"], 1) == 6.2
    nothing_at_six = researcher.get("/research/linking/?instrument=GMFM-88&follow_up=6m").context["linked"]
    assert [pair["study_id"] for pair in nothing_at_six["pairs"]] == []
