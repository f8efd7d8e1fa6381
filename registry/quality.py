"""Data-quality rules: each reads a patient's course (registry/course.py) and returns findings; a
finding opens a query on the record (one per rule, record and field), and a query whose finding is
gone is closed automatically with a note. Rules run after every clinical write and nightly."""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, transaction
from django.utils import translation
from django.utils.translation import gettext, gettext_noop

from registry import course as course_model
from registry.models import IntrathecalProcedure, Patient, Query, QueryEvent, Visit


@dataclass(frozen=True)
class Finding:
    """What a rule found: the record (and field), and its message as an untranslated text with its
    values, so that each reader sees it in their own language."""

    rule: str
    model: type
    record_id: int
    field: str
    template: str
    params: dict

    @property
    def message(self):
        return gettext(self.template) % self.params


RULES = {}


def rule(code):
    """Register ``function(course) -> [Finding]`` under ``code`` (the code stored on its queries)."""

    def register(function):
        RULES[code] = function
        return function

    return register


def _date(value):
    return value.isoformat()


@rule("out-of-window")
def out_of_window(course):
    findings = []
    for visit in course.visits:
        if visit.kind != Visit.Kind.FOLLOW_UP or (visit.months is not None and visit.in_window is not False):
            continue
        if visit.months is None:  # no procedure yet: the visit has no window to be in (in_window is None)
            template = gettext_noop(
                "Follow-up visit of %(date)s: no intrathecal procedure is recorded, so it fills no timepoint."
            )
        else:
            template = gettext_noop(
                "Follow-up visit of %(date)s (%(months).1f months after the first procedure) is outside every "
                "scheduled window."
            )
        params = {"date": _date(visit.date), "months": visit.months or 0}
        findings.append(Finding("out-of-window", Visit, visit.id, "date", template, params))
    return findings


@rule("missing-instrument")
def missing_instrument(course):
    findings, expected = [], {}
    for visit in course.visits:
        if not visit.schedule_code:
            continue
        # A score recorded as missing with its reason counts as entered; per muscle group, any one counts.
        recorded = {name.split(" ", 1)[0] for name, measure in visit.measures.items() if measure.kind == "score"}
        if visit.schedule_code not in expected:
            expected[visit.schedule_code] = course_model.expected_instruments(visit.schedule_code)
        for code in expected[visit.schedule_code]:
            if code not in recorded:
                template = gettext_noop("The visit of %(date)s (timepoint %(timepoint)s) has no %(code)s score.")
                params = {"timepoint": visit.schedule_code, "date": _date(visit.date), "code": code}
                findings.append(Finding("missing-instrument", Visit, visit.id, code, template, params))
    return findings


def _outside(value, bounds):
    low, high = bounds
    return value is not None and ((low is not None and value < low) or (high is not None and value > high))


@rule("dose-range")
def dose_range(course):
    findings = []
    checks = [
        ("tnc_per_kg", "TNC/kg", settings.QUALITY_TNC_PER_KG_RANGE),
        ("cd34_per_kg", "CD34+/kg", settings.QUALITY_CD34_PER_KG_RANGE),
    ]
    template = gettext_noop(
        "The dose of the procedure of %(date)s, %(value).2e %(label)s, is outside the protocol's range "
        "(%(low)s to %(high)s)."
    )
    for procedure in course.procedures:
        for field, label, bounds in checks:
            value = getattr(procedure, field)
            if bounds != (None, None) and _outside(value, bounds):
                params = {
                    "date": _date(procedure.date),
                    "value": value,
                    "label": label,
                    "low": f"{bounds[0]:.2e}" if bounds[0] is not None else "—",
                    "high": f"{bounds[1]:.2e}" if bounds[1] is not None else "—",
                }
                findings.append(Finding("dose-range", IntrathecalProcedure, procedure.id, field, template, params))
    return findings


@rule("score-drop")
def score_drop(course):
    findings = []
    template = gettext_noop(
        "%(code)s fell by %(drop).1f points, from %(old)g (%(old_date)s) to %(new)g (%(new_date)s): "
        "more than %(limit)g points between consecutive visits."
    )
    for code, limit in settings.QUALITY_SCORE_DROP_POINTS.items():
        if limit is None:
            continue
        # Scores recorded as missing have no value: the change is read between the visits that have one.
        measured = [(visit, visit.measures[code].value) for visit in course.visits if code in visit.measures]
        measured = [(visit, value) for visit, value in measured if value is not None]
        for (before, old), (after, new) in zip(measured, measured[1:], strict=False):
            if old - new > limit:
                params = {
                    "code": code,
                    "drop": old - new,
                    "old": old,
                    "new": new,
                    "old_date": _date(before.date),
                    "new_date": _date(after.date),
                    "limit": limit,
                }
                findings.append(Finding("score-drop", Visit, after.id, code, template, params))
    return findings


@rule("weight-change")
def weight_change(course):
    findings = []
    limit, window = settings.QUALITY_WEIGHT_CHANGE_PERCENT, settings.QUALITY_WEIGHT_WINDOW_DAYS
    template = gettext_noop(
        "Weight changed by %(change)+.0f %% in %(days)s days, from %(old)g kg (%(old_date)s) to "
        "%(new)g kg (%(new_date)s): more than %(limit)g %%."
    )
    for before, after in zip(course.procedures, course.procedures[1:], strict=False):
        days = (after.date - before.date).days
        change = (after.weight_kg - before.weight_kg) / before.weight_kg * 100
        if days <= window and abs(change) > limit:
            params = {
                "change": change,
                "days": days,
                "old": before.weight_kg,
                "new": after.weight_kg,
                "old_date": _date(before.date),
                "new_date": _date(after.date),
                "limit": limit,
            }
            findings.append(Finding("weight-change", IntrathecalProcedure, after.id, "weight_kg", template, params))
    return findings


@rule("no-baseline")
def no_baseline(course):
    first = course.first_procedure
    if first is None:
        return []
    baseline = course.baseline
    params = {"date": _date(first.date)}
    if baseline is None:
        template = gettext_noop("The procedure of %(date)s has no baseline visit.")
    elif baseline.date > first.date:
        template = gettext_noop("The baseline visit (%(baseline)s) is after the first procedure (%(date)s).")
        params["baseline"] = _date(baseline.date)
    else:
        return []
    return [Finding("no-baseline", IntrathecalProcedure, first.id, "", template, params)]


def findings_of(course):
    """Every rule's findings for one course."""
    return [finding for function in RULES.values() for finding in function(course)]


def check_patients(patient_ids):
    """Run every rule over these patients and bring their rule queries up to date; the counts of
    queries opened, re-opened and closed."""
    totals = {"opened": 0, "reopened": 0, "closed": 0}
    for course in course_model.read_courses(patient_ids):
        for key, count in _synchronise(course.patient_id, findings_of(course)).items():
            totals[key] += count
    return totals


def check_all():
    """The nightly run: every patient, a hundred at a time."""
    ids = list(Patient.objects.order_by("pk").values_list("pk", flat=True))
    totals = {"opened": 0, "reopened": 0, "closed": 0}
    for start in range(0, len(ids), 100):
        for key, count in check_patients(ids[start : start + 100]).items():
            totals[key] += count
    return totals


def check_after_commit(instance):
    """After a write to ``instance`` commits, check its patient again (a failure is logged, never
    turned into an error for the write that is already stored)."""
    try:
        patient = instance.owner_patient
    except (ObjectDoesNotExist, NotImplementedError):
        return
    if patient is None or patient.pk is None:
        return
    transaction.on_commit(lambda: check_patients([patient.pk]), robust=True)


def _closed_by_rule(query):
    last = query.events.order_by("-at", "-pk").first()
    return last is not None and last.action == QueryEvent.Action.CLOSED and last.user_id is None


@transaction.atomic
def _synchronise(patient_id, findings):
    counts = {"opened": 0, "reopened": 0, "closed": 0}
    types = ContentType.objects.get_for_models(Visit, IntrathecalProcedure)
    existing = {
        (query.rule, query.record_type_id, query.record_id, query.field): query
        for query in Query.objects.select_for_update().filter(patient_id=patient_id, rule__in=list(RULES))
    }
    found = set()
    for finding in findings:
        key = (finding.rule, types[finding.model].pk, finding.record_id, finding.field)
        found.add(key)
        query = existing.get(key)
        if query is None:
            if _open(patient_id, key, finding):
                counts["opened"] += 1
        elif query.status == Query.Status.CLOSED and _closed_by_rule(query):
            with translation.override(settings.LANGUAGE_CODE):
                _step(query, Query.Status.OPEN, QueryEvent.Action.REOPENED, finding.message)
            query.message, query.params = finding.template, finding.params
            query.save(update_fields=["message", "params"])
            counts["reopened"] += 1
    with translation.override(settings.LANGUAGE_CODE):
        note = gettext("Closed automatically: the rule no longer finds this.")
    for key, query in existing.items():
        if key not in found and query.status != Query.Status.CLOSED:
            _step(query, Query.Status.CLOSED, QueryEvent.Action.CLOSED, note)
            counts["closed"] += 1
    return counts


def _open(patient_id, key, finding):
    rule_code, record_type_id, record_id, field = key
    with translation.override(settings.LANGUAGE_CODE):
        text = finding.message  # as stored for searching and for the API's text; pages translate `message`
    try:
        with transaction.atomic():
            query = Query.objects.create(
                patient_id=patient_id,
                record_type_id=record_type_id,
                record_id=record_id,
                field=field,
                rule=rule_code,
                text=text,
                message=finding.template,
                params=finding.params,
                assigned_role=Query.Role.HEMATOLOGY,
            )
            QueryEvent.objects.create(query=query, action=QueryEvent.Action.OPENED, note=text)
    except IntegrityError:  # opened by a run at the same moment
        return False
    return True


def _step(query, status, action, note):
    query.status = status
    query._history_user = None
    query.save()
    QueryEvent.objects.create(query=query, action=action, note=note)
