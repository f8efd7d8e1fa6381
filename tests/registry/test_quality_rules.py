"""Data-quality rules: each fires on the data it is about, opens one query per record and field, and
closes it by itself once the data are corrected; rules run after each write and nightly."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command

from registry import course, quality, services
from registry.models import Query, QueryEvent, Visit


def rule_queries(patient, rule):
    return list(Query.objects.filter(patient=patient, rule=rule).order_by("pk"))


@pytest.fixture
def treated(build):
    """A patient with a baseline visit and one procedure on 2024-02-02 (2.0e8 TNC/kg)."""
    procedure = build.procedure()
    patient = procedure.patient
    build.visit(patient=patient, date=dt.date(2024, 1, 20), kind="baseline")
    return patient, procedure


def test_an_out_of_window_visit_opens_a_query_that_closes_once_the_date_is_corrected(build, treated):
    patient, _procedure = treated
    visit = build.visit(patient=patient, date=dt.date(2024, 6, 20))  # 4.6 months: between two windows
    quality.check_patients([patient.pk])
    [query] = rule_queries(patient, "out-of-window")
    assert (query.record_id, query.field, query.status) == (visit.pk, "date", "open")
    assert "2024-06-20" in query.text and "4.6 months" in query.text
    assert query.events.get().action == QueryEvent.Action.OPENED

    services.record_update(visit, None, 1, date=dt.date(2024, 8, 2))
    totals = quality.check_patients([patient.pk])
    query.refresh_from_db()
    assert query.status == "closed" and totals["closed"] == 1
    closing = query.events.order_by("-pk").first()
    assert closing.action == QueryEvent.Action.CLOSED and closing.user is None
    assert "no longer finds" in closing.note


def test_a_scheduled_visit_without_an_expected_instrument_opens_one_query_per_instrument(build, treated, monkeypatch):
    patient, _procedure = treated
    monkeypatch.setattr(course, "expected_instruments", lambda code: ["GMFM-66", "GMFM-88"])
    baseline = patient.visits.get(kind="baseline")
    visit = build.visit(patient=patient, date=dt.date(2024, 8, 2))  # fills 6m
    quality.check_patients([patient.pk])
    # The baseline is a scheduled visit too.
    assert [(q.record_id, q.field) for q in rule_queries(patient, "missing-instrument")] == [
        (baseline.pk, "GMFM-66"),
        (baseline.pk, "GMFM-88"),
        (visit.pk, "GMFM-66"),
        (visit.pk, "GMFM-88"),
    ]
    build.score(visit=visit, instrument="GMFM-88")
    build.score(visit=visit, instrument="GMFM-66", value=None, missing="refused")  # missing, with a reason
    quality.check_patients([patient.pk])
    statuses = {q.field: q.status for q in rule_queries(patient, "missing-instrument") if q.record_id == visit.pk}
    assert statuses == {"GMFM-66": "closed", "GMFM-88": "closed"}


def test_the_missing_instrument_rule_uses_the_expected_instruments_of_the_timepoint(build, treated):
    patient, _procedure = treated
    visit = build.visit(patient=patient, date=dt.date(2024, 8, 2))
    quality.check_patients([patient.pk])
    found = {q.field for q in rule_queries(patient, "missing-instrument") if q.record_id == visit.pk}
    assert found == set(course.expected_instruments("6m")) and found


def test_a_dose_outside_the_protocol_range_opens_a_query_that_closes_when_corrected(build, treated, settings):
    patient, procedure = treated
    settings.QUALITY_TNC_PER_KG_RANGE = (1e6, 1e8)  # the procedure's 3.2e9 cells / 16 kg is 2.0e8/kg
    quality.check_patients([patient.pk])
    [query] = rule_queries(patient, "dose-range")
    assert (query.record_id, query.field) == (procedure.pk, "tnc_per_kg")
    assert "2.00e+08 TNC/kg" in query.text and "1.00e+08" in query.text

    services.record_update(procedure, None, 1, weight_kg=Decimal("40"))  # 8.0e7/kg
    quality.check_patients([patient.pk])
    query.refresh_from_db()
    assert query.status == "closed"


def test_a_fall_of_gmfm_88_by_more_than_20_points_opens_a_query_on_the_later_visit(build, treated):
    patient, _procedure = treated
    baseline = Visit.objects.get(patient=patient, kind="baseline")
    build.score(visit=baseline, instrument="GMFM-88", value=Decimal("60"))
    later = build.visit(patient=patient, date=dt.date(2024, 8, 2))
    score = build.score(visit=later, instrument="GMFM-88", value=Decimal("38"))
    build.score(visit=later, instrument="GMFM-66", value=Decimal("40"))
    quality.check_patients([patient.pk])
    [query] = rule_queries(patient, "score-drop")
    assert (query.record_id, query.field) == (later.pk, "GMFM-88")
    assert "22.0 points" in query.text

    services.record_update(score, None, 1, value=Decimal("45"))  # a fall of 15: plausible
    quality.check_patients([patient.pk])
    query.refresh_from_db()
    assert query.status == "closed"


def test_a_fall_of_exactly_the_limit_is_not_queried(build, treated):
    patient, _procedure = treated
    build.score(visit=Visit.objects.get(patient=patient), instrument="GMFM-66", value=Decimal("60"))
    build.score(visit=build.visit(patient=patient), instrument="GMFM-66", value=Decimal("40"))
    quality.check_patients([patient.pk])
    assert rule_queries(patient, "score-drop") == []


def test_weight_changing_more_than_20_percent_within_a_month_opens_a_query(build, treated):
    patient, procedure = treated
    second = build.procedure(product=procedure.product, date=dt.date(2024, 2, 22), weight_kg=Decimal("20"))
    quality.check_patients([patient.pk])
    [query] = rule_queries(patient, "weight-change")
    assert (query.record_id, query.field) == (second.pk, "weight_kg")
    assert "+25 %" in query.text and "20 days" in query.text

    services.record_update(second, None, 1, weight_kg=Decimal("17"))
    quality.check_patients([patient.pk])
    query.refresh_from_db()
    assert query.status == "closed"


def test_weight_changes_further_apart_than_a_month_are_not_queried(build, treated):
    patient, procedure = treated
    build.procedure(product=procedure.product, date=dt.date(2024, 5, 2), weight_kg=Decimal("20"))
    quality.check_patients([patient.pk])
    assert rule_queries(patient, "weight-change") == []


def test_a_procedure_without_a_baseline_visit_opens_a_query_that_closes_when_one_is_added(build):
    procedure = build.procedure()
    patient = procedure.patient
    quality.check_patients([patient.pk])
    [query] = rule_queries(patient, "no-baseline")
    assert (query.record_id, query.field) == (procedure.pk, "")
    build.visit(patient=patient, date=dt.date(2024, 1, 30), kind="baseline")
    quality.check_patients([patient.pk])
    query.refresh_from_db()
    assert query.status == "closed"


def test_a_rerun_opens_no_duplicate_and_leaves_a_query_a_person_closed_closed(build, make_user):
    from registry import queries

    procedure = build.procedure()
    patient = procedure.patient
    quality.check_patients([patient.pk])
    quality.check_patients([patient.pk])
    [query] = rule_queries(patient, "no-baseline")
    admin = make_user("registry-admin")
    queries.query_close(actor=admin, query=query, note="Baseline assessed elsewhere; accepted.")
    totals = quality.check_patients([patient.pk])
    query.refresh_from_db()
    assert query.status == "closed" and totals == {"opened": 0, "reopened": 0, "closed": 0}
    assert Query.objects.filter(patient=patient, rule="no-baseline").count() == 1


def test_a_query_the_rule_closed_is_reopened_when_the_problem_comes_back(build, treated):
    patient, _procedure = treated
    visit = build.visit(patient=patient, date=dt.date(2024, 6, 20))
    quality.check_patients([patient.pk])
    visit = services.record_update(visit, None, 1, date=dt.date(2024, 8, 2))
    quality.check_patients([patient.pk])
    services.record_update(visit, None, 2, date=dt.date(2024, 6, 21))
    totals = quality.check_patients([patient.pk])
    [query] = rule_queries(patient, "out-of-window")
    assert query.status == "open" and totals["reopened"] == 1
    assert [e.action for e in query.events.all()] == ["opened", "closed", "reopened"]


def test_rules_run_after_a_write_through_the_api(build, hematology_api, django_capture_on_commit_callbacks):
    patient = build.patient()
    with django_capture_on_commit_callbacks(execute=True):
        response = hematology_api.post(
            "/api/v1/visits/", {"patient": patient.pk, "date": "2024-03-01", "kind": "follow-up"}, format="json"
        )
    assert response.status_code == 201, response.content
    [query] = rule_queries(patient, "out-of-window")
    assert query.record_id == response.json()["id"]
    assert "no intrathecal procedure" in query.text


def test_the_nightly_command_checks_every_patient(build, capsys):
    first, second = build.procedure().patient, build.procedure().patient
    call_command("run_quality_rules")
    assert "Queries opened: 2" in capsys.readouterr().out
    assert Query.objects.filter(rule="no-baseline", patient__in=[first, second]).count() == 2
    call_command("run_quality_rules", "--patient", first.study_id)
    assert "Queries opened: 0" in capsys.readouterr().out


def test_the_nightly_run_is_scheduled_with_celery_beat(settings):
    from registry.tasks import run_quality_rules

    entry = settings.CELERY_BEAT_SCHEDULE["quality-rules-nightly"]
    assert entry["task"] == run_quality_rules.name == "registry.tasks.run_quality_rules"


def test_a_rules_query_reads_in_each_readers_language(build, hematology_api):
    procedure = build.procedure()
    quality.check_patients([procedure.patient_id])
    english = hematology_api.get("/api/v1/queries/", HTTP_ACCEPT_LANGUAGE="en").json()["results"][0]["text"]
    spanish = hematology_api.get("/api/v1/queries/", HTTP_ACCEPT_LANGUAGE="es").json()["results"][0]["text"]
    assert english == "The procedure of 2024-02-02 has no baseline visit."
    assert spanish == "El procedimiento del 2024-02-02 no tiene visita basal."


def test_a_gmfm_recorded_as_missing_is_skipped_and_the_fall_is_read_across_it(build, treated):
    """A visit whose GMFM-88 was not done has no value: the rules neither fail on it nor hide a fall
    between the visits around it."""
    patient, _procedure = treated
    build.score(visit=Visit.objects.get(patient=patient, kind="baseline"), instrument="GMFM-88", value=Decimal("60"))
    skipped = build.visit(patient=patient, date=dt.date(2024, 5, 2))
    build.score(visit=skipped, instrument="GMFM-88", value=None, missing="not-done")
    later = build.visit(patient=patient, date=dt.date(2024, 8, 2))
    build.score(visit=later, instrument="GMFM-88", value=Decimal("35"))
    quality.check_patients([patient.pk])
    [query] = rule_queries(patient, "score-drop")
    assert (query.record_id, query.field) == (later.pk, "GMFM-88")
