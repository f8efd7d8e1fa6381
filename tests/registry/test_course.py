"""The course read model: which visit fills each scheduled timepoint, and months since the procedure."""

import datetime as dt

import pytest

from registry.course import assign_timepoints, follow_up_schedule, read_course

# The schedule is the one the data migration seeds (registry-admins may change it).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("reference_data")]

FIRST = dt.date(2024, 3, 19)  # the first intrathecal procedure


def visit(visit_id, date, kind="follow-up"):
    return (visit_id, date, kind)


def test_each_follow_up_fills_the_timepoint_whose_window_it_falls_in():
    visits = [
        visit(1, dt.date(2024, 3, 11), "baseline"),
        visit(2, dt.date(2024, 9, 19)),  # 6 months
        visit(3, dt.date(2025, 1, 19)),  # 10 months: the last day of the 9-month window (±1 month)
        visit(4, dt.date(2025, 9, 1)),  # 17.4 months: inside 18 ± 2
    ]
    assert assign_timepoints(FIRST, visits) == {2: "6m", 3: "9m", 4: "18m"}


def test_an_unscheduled_visit_never_fills_a_timepoint():
    visits = [visit(1, dt.date(2024, 9, 19), "unscheduled"), visit(2, dt.date(2024, 9, 30))]
    assert assign_timepoints(FIRST, visits) == {2: "6m"}


def test_the_visit_nearest_the_target_fills_it_and_an_extra_one_does_not_displace_it():
    on_schedule, extra_later, extra_earlier = dt.date(2024, 12, 20), dt.date(2025, 1, 15), dt.date(2024, 11, 22)
    filled = assign_timepoints(FIRST, [visit(7, extra_later), visit(5, on_schedule), visit(6, extra_earlier)])
    assert filled == {5: "9m"}


def test_visits_outside_every_window_fill_none():
    # 4.5 months lies between the 3- and 6-month windows; 21 months between 18 ± 2 and 24 ± 2.
    assert assign_timepoints(FIRST, [visit(1, dt.date(2024, 8, 3)), visit(2, dt.date(2025, 12, 19))]) == {}


def test_no_timepoint_before_any_procedure():
    assert assign_timepoints(None, [visit(1, dt.date(2024, 9, 19))]) == {}


def test_the_schedule_is_the_protocol_one():
    assert [(tp.code, tp.months, tp.before, tp.after, tp.unit) for tp in follow_up_schedule()] == [
        ("3m", 3, 1, 1, "months"),
        ("6m", 6, 1, 1, "months"),
        ("9m", 9, 1, 1, "months"),
        ("12m", 12, 1, 1, "months"),
        ("18m", 18, 2, 2, "months"),
        ("24m", 24, 2, 2, "months"),
    ]


@pytest.mark.django_db
def test_a_course_carries_doses_months_timepoints_and_changes(build, django_assert_max_num_queries):
    procedure = build.procedure(date=FIRST)
    patient = procedure.patient
    baseline = build.visit(patient=patient, date=dt.date(2024, 3, 11), kind="baseline")
    six = build.visit(patient=patient, date=dt.date(2024, 9, 20))
    unscheduled = build.visit(patient=patient, date=dt.date(2024, 10, 1), kind="unscheduled")
    build.score(visit=baseline, value=40)
    build.score(visit=six, value=46)
    build.score(visit=unscheduled, value=30)

    with django_assert_max_num_queries(9):  # the schedule is one of them
        course = read_course(patient.pk)

    assert course.tnc_per_kg == pytest.approx(3.2e9 / 16)
    assert course.cd34_per_kg == pytest.approx(2.5e7 / 16)
    assert course.age_at_procedure_months == 74  # born 2018-01-10
    assert [(v.kind, v.months, v.timepoint, v.in_window) for v in course.visits] == [
        ("baseline", -0.3, None, True),  # 8 days before the procedure: inside the baseline's 30 days
        ("follow-up", 6.1, "6m", True),
        ("unscheduled", 6.4, None, None),
    ]
    six_months = course.at_timepoint("6m")
    assert course.change(six_months, "GMFM-88").change == pytest.approx(6.0)
    assert course.change(six_months, "GMFM-88").percent == pytest.approx(15.0)
    assert course.change(course.baseline, "GMFM-88").change is None


@pytest.mark.django_db
def test_read_visits_gives_a_page_of_visits_the_facts_of_their_courses(build, django_assert_max_num_queries):
    from registry import synthetic
    from registry.course import read_courses, read_visits
    from registry.models import Patient, Visit

    synthetic.load(6, visits=10)
    every = Patient.objects.values_list("pk", flat=True)
    courses = {visit.id: visit for course in read_courses(every) for visit in course.visits}
    page = list(Visit.objects.order_by("date", "id")[5:25])  # visits of several patients, not whole courses
    with django_assert_max_num_queries(9):
        facts = read_visits(page)
    assert sorted(facts) == sorted(visit.pk for visit in page)
    for visit_id, fact in facts.items():
        whole = courses[visit_id]
        assert (fact.date, fact.kind, fact.months, fact.age_months, fact.timepoint, fact.in_window) == (
            whole.date,
            whole.kind,
            whole.months,
            whole.age_months,
            whole.timepoint,
            whole.in_window,
        )
        assert fact.measures == whole.measures
        assert [scan.pk for scan in fact.imaging.scans] == [scan.pk for scan in whole.imaging.scans]
    assert any(fact.imaging.scans for fact in facts.values())

    # Without measures (the API's visit list, which lists scores itself): the same facts and scans in fewer
    # queries, and no measure at all.
    with django_assert_max_num_queries(6):
        bare = read_visits(page, instruments=(), measures=())
    assert sorted(bare) == sorted(facts)
    for visit_id, fact in bare.items():
        full = facts[visit_id]
        assert (fact.months, fact.age_months, fact.timepoint, fact.in_window) == (
            full.months,
            full.age_months,
            full.timepoint,
            full.in_window,
        )
        assert fact.measures == {}
        assert [scan.pk for scan in fact.imaging.scans] == [scan.pk for scan in full.imaging.scans]
        assert getattr(fact.imaging.counted, "pk", None) == getattr(full.imaging.counted, "pk", None)
    assert any(fact.imaging.counted for fact in bare.values())


@pytest.mark.django_db
def test_enrolments_carry_the_course_s_doses_without_its_visits(build):
    from registry import synthetic
    from registry.course import read_courses, read_enrolments
    from registry.models import Patient

    synthetic.load(3, visits=4)
    whole = read_courses(Patient.objects.values_list("pk", flat=True))
    enrolled = read_enrolments([course.patient_id for course in whole])
    for course in whole:
        header = enrolled[course.patient_id]
        assert header.visits == [] and header.procedures == course.procedures
        assert (header.tnc_per_kg, header.cd34_per_kg, header.age_at_procedure_months) == (
            course.tnc_per_kg,
            course.cd34_per_kg,
            course.age_at_procedure_months,
        )
