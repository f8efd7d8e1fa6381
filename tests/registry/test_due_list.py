"""The due list: each patient's planned visits exactly as the course read model leaves them unfilled,
at a cost that does not grow with the number of patients, and never stale after a write."""

import datetime as dt
import re

import pytest

from registry import selectors
from registry.course import planned_visits, read_course, schedule
from registry.lookups import Ids
from registry.models import ScheduledTimepoint, Visit, today
from registry.roles import HEMATOLOGY

pytestmark = pytest.mark.django_db


def days_ago(days):
    return today() - dt.timedelta(days=days)


def treated(build, days, *follow_up_days, baseline=True):
    """A patient first treated ``days`` ago, with a baseline visit and follow-ups ``follow_up_days``
    after the procedure."""
    procedure = build.procedure(date=days_ago(days))
    if baseline:
        build.visit(patient=procedure.patient, date=procedure.date - dt.timedelta(days=5), kind="baseline")
    for after in follow_up_days:
        build.visit(patient=procedure.patient, date=procedure.date + dt.timedelta(days=after))
    return procedure.patient


def rows(user):
    return [
        (item.patient.study_id, item.planned.timepoint.code, item.planned.status) for item in selectors.due_visits(user)
    ]


def from_the_courses(patients):
    """The due and overdue visits worked out from each patient's whole course, most overdue first."""
    found = []
    for patient in patients:
        for planned in planned_visits(read_course(patient.pk), today(), schedule()):
            if planned.status != "planned":
                found.append(
                    (-planned.days_overdue, planned.end, patient.study_id, planned.timepoint.code, planned.status)
                )
    return [(study_id, code, status) for _late, _end, study_id, code, status in sorted(found)]


def test_the_due_list_is_what_each_course_leaves_unfilled(build, make_user):
    patients = [
        treated(build, 200),  # 3 months overdue, 6 months due
        treated(build, 380, 91, 183),  # 9 months overdue, 12 months due
        treated(build, 380, 91, 130, 183),  # an extra visit between windows fills nothing
        treated(build, 800, baseline=False),  # no baseline: the baseline is overdue too
        treated(build, 420, 91, 183, 320),  # the 9-month visit is late: outside every window
        treated(build, 30),  # nothing due yet: the first window opens later
    ]
    untreated = build.patient()
    build.visit(patient=untreated, date=days_ago(10), kind="baseline")
    user = make_user(HEMATOLOGY)
    expected = from_the_courses(patients)
    assert {status for _s, _c, status in expected} == {"due", "overdue"}
    filled = patients[1].study_id
    assert [(code, status) for study_id, code, status in expected if study_id == filled] == [
        ("9m", "overdue"),
        ("12m", "due"),
    ]
    assert rows(user) == expected
    assert untreated.study_id not in {study_id for study_id, _c, _s in expected}


def test_a_visit_entered_leaves_the_due_list_at_once(build, signed_in_client):
    patient = treated(build, 200)
    client = signed_in_client(HEMATOLOGY)
    link = f'href="/patients/{patient.pk}/assessments/new/?timepoint=6m"'
    assert link in client.get("/visits/due/").content.decode()
    visit = build.visit(patient=patient, date=days_ago(200) + dt.timedelta(days=182))
    assert link not in client.get("/visits/due/").content.decode()
    Visit.objects.filter(pk=visit.pk).update(kind="unscheduled")  # an unscheduled visit fills nothing
    assert link in client.get("/visits/due/").content.decode()


def test_a_window_widened_in_the_schedule_shows_at_once(build, signed_in_client):
    patient = treated(build, 200)
    client = signed_in_client(HEMATOLOGY)
    overdue = f'href="/patients/{patient.pk}/assessments/new/?timepoint=3m"'
    assert overdue in client.get("/visits/due/").content.decode()
    ScheduledTimepoint.objects.filter(code="3m").update(window_after=4)  # now open until month 7
    page = client.get("/visits/due/").content.decode()
    assert overdue in page and "<td>3 months</td>" in page
    assert page.count('<td class="due">') == 2  # 3 and 6 months both due now, none overdue
    assert '<td class="overdue">' not in page


def test_the_due_list_takes_as_many_queries_for_ten_patients_as_for_two(build, signed_in_client, captured_queries):
    client = signed_in_client(HEMATOLOGY)
    for _ in range(2):
        treated(build, 400, 91)
    client.get("/visits/due/")
    two = captured_queries(client, "/visits/due/")
    for _ in range(8):
        treated(build, 400, 91, 183)
    ten = captured_queries(client, "/visits/due/")
    listed = set(re.findall(r'href="/patients/(\d+)/"', client.get("/visits/due/").content.decode()))
    assert len(listed) == 10
    assert len(ten) == len(two), "\n".join(ten)


def test_a_list_of_ids_is_one_parameter_whatever_its_length(build):
    visits = [build.visit(date=dt.date(2024, 8, day)) for day in (2, 3, 4)]
    ids = [visit.pk for visit in visits]
    assert sorted(Visit.objects.filter(pk__any=Ids(ids[:2])).values_list("pk", flat=True)) == ids[:2]
    assert sorted(Visit.objects.filter(pk__any=ids[1:]).values_list("pk", flat=True)) == ids[1:]
    assert not Visit.objects.filter(pk__any=Ids([])).exists()
