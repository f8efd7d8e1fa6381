"""The patient page takes a fixed number of queries whatever the patient's course holds (harvests, products,
procedures, adverse events, visits, scores, scans, open queries, signatures), and reads each part of the
course once: the timeline, the trajectories, the planned visits and the first procedure share one read."""

import re

import pytest

from registry import queries, synthetic
from registry.models import AdverseEvent, Patient, Signature
from registry.roles import HEMATOLOGY, RADIOLOGY, REGISTRY_ADMIN


def _add_to_course(build, user, patient):
    """A second harvest with two products, a procedure with two adverse events, open queries on a score and
    a visit, and a signed visit."""
    harvest = build.harvest(patient=patient, date=patient.harvests.first().date)
    first = build.product(harvest=harvest)
    build.product(harvest=harvest)
    procedure = build.procedure(product=first, date=patient.procedures.first().date)
    build.adverse_event(procedure=procedure)
    build.adverse_event(procedure=procedure, term="Fever")
    visits = list(patient.visits.order_by("date"))
    for score in visits[-1].scores.all()[:3]:
        queries.query_open(actor=user, record=score, text="Please check this value.")
    queries.query_open(actor=user, record=visits[-1], text="Please check the date.")
    Signature.objects.create(
        patient=patient, visit=visits[0], subject="visit", meaning="I confirm.", signed_by=user, signer_name="Dr A"
    )


def _reads(sql, table, of_patient=True):
    """How many statements read ``table`` (its rows of one patient when ``of_patient``)."""
    by_patient = re.compile(rf'"{table}"\."patient_id" = (ANY|\d)')
    return sum(
        bool(f'FROM "{table}"' in statement and (not of_patient or by_patient.search(statement))) for statement in sql
    )


@pytest.mark.parametrize("role", [HEMATOLOGY, RADIOLOGY, REGISTRY_ADMIN])
def test_the_patient_page_takes_as_many_queries_for_a_full_course_as_for_a_short_one(
    signed_in_client, captured_queries, build, make_user, role
):
    client = signed_in_client(role)
    user = make_user(REGISTRY_ADMIN, "querist")
    synthetic.load(1, visits=2)
    synthetic.load(1, visits=10)
    few, many = Patient.objects.order_by("study_id")
    queries.query_open(actor=user, record=few.visits.first().scores.first(), text="Please check this value.")
    queries.query_open(actor=user, record=few.visits.first(), text="Please check the date.")
    _add_to_course(build, user, many)
    assert many.visits.filter(scans__isnull=False).count() == 4
    assert AdverseEvent.objects.filter(procedure__patient=many, term="Fever").exists()
    client.get(f"/patients/{few.pk}/")
    short = captured_queries(client, f"/patients/{few.pk}/")
    full = captured_queries(client, f"/patients/{many.pk}/")
    assert "Fever" in client.get(f"/patients/{many.pk}/").content.decode()
    assert len(full) == len(short), "\n".join(full)


def test_the_patient_page_reads_the_course_and_the_schedule_once(signed_in_client, captured_queries, build, make_user):
    client = signed_in_client(REGISTRY_ADMIN)
    synthetic.load(1, visits=10)
    patient = Patient.objects.get()
    _add_to_course(build, make_user(REGISTRY_ADMIN, "querist"), patient)
    client.get(f"/patients/{patient.pk}/")
    sql = captured_queries(client, f"/patients/{patient.pk}/")
    # One read for the course read model, one for the records the timeline links to.
    assert _reads(sql, "registry_visit") == 2, "\n".join(sql)
    assert _reads(sql, "registry_intrathecalprocedure") == 2, "\n".join(sql)
    assert _reads(sql, "registry_scheduledtimepoint", of_patient=False) == 2, "\n".join(sql)
    assert _reads(sql, "registry_query", of_patient=False) == 1, "\n".join(sql)
