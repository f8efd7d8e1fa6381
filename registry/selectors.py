"""Reads that span relations: patient search, the patient's timeline, querysets for the API."""

from dataclasses import dataclass
from typing import NamedTuple

from django.db.models import OuterRef, Prefetch, Q, Subquery
from django.utils.translation import gettext as _

from registry import account
from registry import course as course_model
from registry.course import FA_WHITE_MATTER, read_course, schedule
from registry.models import (
    AdverseEvent,
    BoneMarrowHarvest,
    CellProduct,
    Instrument,
    IntrathecalProcedure,
    MuscleGroup,
    Patient,
    Score,
    Site,
    Visit,
    today,
)
from registry.roles import EVERY_SITE

RELATED = {
    Patient: ["site"],
    BoneMarrowHarvest: ["patient"],
    CellProduct: ["harvest__patient"],
    IntrathecalProcedure: ["patient", "product__harvest"],
    AdverseEvent: ["procedure__patient"],
    Visit: ["patient"],
    Score: ["visit__patient", "instrument"],
    Instrument: [],
}


def sees_every_site(user):
    """Registry-admins and research see the patients of every site; staff only those of their own sites."""
    return user.is_authenticated and user.has_perm(EVERY_SITE)


def user_sites(user):
    """The sites this account may see and put patients in (every site for registry-admins and research)."""
    if sees_every_site(user):
        return Site.objects.all()
    return Site.objects.filter(pk__in=site_ids(user))


def site_ids(user):
    """The ids of the sites whose patients this account sees (its own sites), read once per request
    with its roles (registry.account), so lists filter on a list of ids rather than a subquery per count."""
    return account.site_ids(user)


def visible_patients(user):
    """The patients this account may see: every patient for registry-admins and research, the patients of
    the account's sites for everyone else (none for an account in no site). The one place that decides it:
    every list, search, page, API answer and file download is scoped through it (see `visible`)."""
    return visible(Patient, user)


def visible(model, user, queryset=None):
    """The records of ``model`` (any clinical record with a ``patient_path``) whose patient the account may
    see (visible_patients), narrowing ``queryset`` if given; records of no patient (instruments) are not
    scoped."""
    queryset = model.objects.all() if queryset is None else queryset
    path = getattr(model, "patient_path", None)
    if path is None or sees_every_site(user):
        return queryset
    return queryset.filter(**{f"{path}__site_id__in" if path else "site_id__in": site_ids(user)})


def with_first_procedure(queryset):
    """Annotate each row with `first_procedure_date`: its patient's first intrathecal procedure."""
    path = queryset.model.patient_path
    patient_ref = OuterRef(path + "__pk" if path else "pk")
    first = IntrathecalProcedure.objects.filter(patient=patient_ref).order_by("date").values("date")[:1]
    return queryset.annotate(first_procedure_date=Subquery(first))


# A visit's scores as its representations list them: in instrument order (Score's own ordering would join
# every score's visit only to sort by its date). records() reads them into VISIT_SCORES, visit_scores()
# reads them for a visit read otherwise.
VISIT_SCORE_ORDER = ("instrument__code", "pk")
VISIT_SCORES = "scores_in_order"


def visit_scores(visit):
    """The scores of ``visit`` in VISIT_SCORE_ORDER: those records() read with it, or read now."""
    scores = getattr(visit, VISIT_SCORES, None)
    if scores is None:
        scores = list(visit.scores.select_related("instrument", "muscle").order_by(*VISIT_SCORE_ORDER))
    return scores


def records(model):
    """Every record of a kind, with what its representations need loaded."""
    queryset = model.objects.select_related(*RELATED[model])
    if model is Visit:
        # Each visit's scores in instrument order, as a plain list (a related manager's prefetch builds a
        # queryset for every visit of the page); the few instruments are read once, not once per score.
        scores = Score.objects.order_by(*VISIT_SCORE_ORDER)
        queryset = queryset.prefetch_related(
            Prefetch("scores", queryset=scores, to_attr=VISIT_SCORES), f"{VISIT_SCORES}__instrument"
        )
    if model is Instrument:
        return queryset
    return with_first_procedure(queryset)


def patient_search(query, identified=True):
    """Patients whose study ID (or, for staff who see identifiers, name or MRN) matches."""
    patients = Patient.objects.all()
    query = (query or "").strip()
    if not query:
        return patients
    match = Q(study_id__icontains=query)
    if identified:
        for word in query.split():
            match |= Q(given_name__icontains=word) | Q(family_name__icontains=word) | Q(mrn__iexact=word)
        match |= Q(mrn__iexact=query)
    return patients.filter(match)


@dataclass
class PatientPage:
    """What the patient page shows of a patient's course, read once: the course read model, the schedule,
    the timeline built from them, and the scheduled visits still to come."""

    course: course_model.Course
    timepoints: tuple
    timeline: list
    planned: list


def patient_page(patient, on=None):
    """The patient's course for its page in a fixed number of queries whatever the number of its records:
    the course and the schedule are read once and give the timeline, the planned visits and the first
    procedure's date alike."""
    course = read_course(patient.pk)
    timepoints = schedule()
    return PatientPage(
        course=course,
        timepoints=timepoints,
        timeline=patient_timeline(patient, course=course, timepoints=timepoints),
        planned=course_model.planned_visits(course, on or today(), timepoints),
    )


def patient_timeline(patient, *, course=None, timepoints=None):
    """The patient's whole course as dated events, oldest first.

    Each event is a dict: date, kind ("harvest", "procedure", "visit", "adverse-event"), the record,
    and what the page shows with it; every derived number (doses, age, months, timepoint, change
    since baseline, the FA of the scan that counts) comes from the course read model (``course``, read
    when not given, as is the schedule ``timepoints``).
    """
    course = read_course(patient.pk) if course is None else course
    timepoints = {timepoint.code: timepoint for timepoint in (schedule() if timepoints is None else timepoints)}
    procedure_facts = {item.id: item for item in course.procedures}
    visit_facts = {item.id: item for item in course.visits}
    # Each kind of child record is read once for the whole patient and grouped by its parent here (what
    # prefetch_related would do, at a fraction of its cost in Python).
    products = _grouped(CellProduct.objects.filter(harvest__patient=patient), "harvest_id")
    adverse_events = _grouped(AdverseEvent.objects.filter(procedure__patient=patient), "procedure_id")
    scored = Score.objects.filter(visit__patient=patient).select_related("instrument", "muscle")
    scores_of = _grouped(
        scored.order_by("instrument__code", "muscle__position", "muscle__code", "side", "pk"), "visit_id"
    )
    events = []
    for harvest in patient.harvests.all():
        events.append(
            {"date": harvest.date, "kind": "harvest", "record": harvest, "products": products.get(harvest.pk, [])}
        )
    for procedure in patient.procedures.all():
        events.append(
            {"date": procedure.date, "kind": "procedure", "record": procedure, "course": procedure_facts[procedure.pk]}
        )
        for event in adverse_events.get(procedure.pk, []):
            events.append({"date": event.onset_date, "kind": "adverse-event", "record": event})
    for visit in patient.visits.all():
        facts = visit_facts[visit.pk]
        scores = [
            {"score": score, "change": course.change(facts, _measure_of(score))}
            for score in scores_of.get(visit.pk, [])
        ]
        events.append(
            {
                "date": visit.date,
                "kind": "visit",
                "record": visit,
                "course": facts,
                "scores": scores,
                "timepoint": timepoints.get(facts.timepoint),
                "fa_wm": facts.measures.get(FA_WHITE_MATTER),
                "fa_change": course.change(facts, FA_WHITE_MATTER),
                "fa_regions": [
                    {"measure": measure, "change": course.change(facts, measure.name)}
                    for name, measure in sorted(facts.measures.items())
                    if measure.kind == "fa" and name != FA_WHITE_MATTER
                ],
            }
        )
    order = {"harvest": 0, "procedure": 1, "adverse-event": 2, "visit": 3}
    events.sort(key=lambda event: (event["date"], order[event["kind"]]))
    return events


def _grouped(records, parent):
    """{parent id: [record, ...]} in the order of ``records``."""
    groups = {}
    for record in records:
        groups.setdefault(getattr(record, parent), []).append(record)
    return groups


def _measure_of(score):
    return course_model.score_measure_name(
        score.instrument.code, score.muscle.code if score.muscle else None, score.side
    )


HIDDEN_IN_HISTORY = {"id", "created_at", "updated_at", "version"}


def _display(field, value):
    """A stored value as people read it: the related record's name, the choice's label, ISO dates."""
    if value is None or value == "":
        return None
    if field.is_relation:
        related = field.related_model.objects.filter(pk=value).first()
        return str(related) if related else _("#%(id)s (deleted)") % {"id": value}
    if field.choices:
        return dict(field.flatchoices).get(value, value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def record_history(instance):
    """Every saved state of a record, newest first, each with who, when and what changed.

    Each entry: {"entry": the historical row (history_type, history_date, history_user),
    "changes": [{"field": label, "old": value or None, "new": value or None}]}.
    """
    model = type(instance)
    fields = [field for field in model._meta.fields if field.name not in HIDDEN_IN_HISTORY]
    entries, previous = [], None
    for entry in instance.history.select_related("history_user").order_by("history_date", "history_id"):
        changes = []
        for field in fields:
            old = _display(field, getattr(previous, field.attname)) if previous is not None else None
            new = _display(field, getattr(entry, field.attname))
            if previous is None or old != new:
                changes.append({"field": field.verbose_name, "old": old, "new": new})
        entries.append({"entry": entry, "changes": changes})
        previous = entry
    entries.reverse()
    return entries


def planned_visits(patient_id, on=None):
    """The scheduled visits of a patient that no visit fills yet (registry.course.planned_visits)."""
    timepoints = schedule()
    state = course_model.read_schedules([patient_id], timepoints).get(patient_id)
    return course_model.planned_visits(state, on or today(), timepoints) if state else []


class PatientLabel(NamedTuple):
    """A patient as a list names it (and as audit.record_access logs it): its id and study id."""

    pk: int
    study_id: str


@dataclass(frozen=True)
class DueVisit:
    patient: PatientLabel
    planned: course_model.PlannedVisit


def due_visits(user, on=None):
    """Scheduled visits whose window is open or closed without a visit, for the patients ``user`` sees:
    the most overdue first. A fixed number of queries whatever the number of patients."""
    on = on or today()
    treated = visible_patients(user).filter(procedures__isnull=False).distinct().order_by("pk")
    patients = {pk: PatientLabel(pk, study_id) for pk, study_id in treated.values_list("pk", "study_id")}
    timepoints = schedule()
    due = []
    for patient_id, state in course_model.read_schedules(list(patients), timepoints).items():
        for planned in course_model.planned_visits(state, on, timepoints):
            if planned.status != "planned":
                due.append(DueVisit(patients[patient_id], planned))
    due.sort(key=lambda item: (-item.planned.days_overdue, item.planned.end, item.patient.study_id))
    return due


@dataclass
class AssessmentRow:
    """One entry of a visit's assessment form: an instrument (and for instruments scored per muscle
    group, a muscle group and side) with the score already stored for it, if any."""

    instrument: Instrument
    muscle: MuscleGroup = None
    side: str = ""
    score: Score = None

    @property
    def key(self):
        return f"{self.instrument.code}.{self.muscle.code}.{self.side}" if self.muscle else self.instrument.code

    @property
    def side_label(self):
        return Score.Side(self.side).label if self.side else ""


def assessment_rows(visit, timepoint_code):
    """The rows of a visit's assessment form: each instrument the schedule expects at ``timepoint_code``
    (every instrument when it is None: an unscheduled visit) and each instrument already scored at
    ``visit`` (None for a visit not saved yet), in instrument order; instruments scored per muscle
    group get a row per active muscle group (and any already scored) and side."""
    scores = list(visit.scores.select_related("instrument", "muscle")) if visit is not None else []
    if timepoint_code is None:
        instruments = list(Instrument.objects.all())
    else:
        expected = set(course_model.expected_instruments(timepoint_code))
        scored = {score.instrument_id for score in scores}
        instruments = list(Instrument.objects.filter(Q(code__in=expected) | Q(pk__in=scored)))
    instruments.sort(key=lambda instrument: instrument.code)
    by_key = {}
    for score in scores:
        row = AssessmentRow(score.instrument, score.muscle, score.side, score)
        by_key[row.key] = row
    muscles = list(MuscleGroup.objects.filter(active=True))
    rows = []
    for instrument in instruments:
        if instrument.per_muscle_group:
            scored_muscles = [s.muscle for s in scores if s.instrument_id == instrument.pk and s.muscle_id]
            shown = {muscle.pk: muscle for muscle in muscles + scored_muscles}
            keys = [instrument.code] if instrument.code in by_key else []  # a score of the whole instrument
            ordered = sorted(shown.values(), key=lambda muscle: (muscle.position, muscle.code))
            for muscle in ordered:
                for side in (Score.Side.LEFT, Score.Side.RIGHT):
                    keys.append(f"{instrument.code}.{muscle.code}.{side}")
                    by_key.setdefault(keys[-1], AssessmentRow(instrument, muscle, side))
        else:
            keys = [instrument.code]
            by_key.setdefault(instrument.code, AssessmentRow(instrument))
        rows.extend(by_key[key] for key in keys)
    return rows
