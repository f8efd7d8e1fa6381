"""Reads that span relations: patient search, the patient's timeline, querysets for the API."""

from django.db.models import OuterRef, Prefetch, Q, Subquery
from django.utils.translation import gettext as _

from registry.models import (
    AdverseEvent,
    BoneMarrowHarvest,
    CellProduct,
    Instrument,
    IntrathecalProcedure,
    Patient,
    Score,
    Visit,
)

RELATED = {
    Patient: [],
    BoneMarrowHarvest: ["patient"],
    CellProduct: ["harvest__patient"],
    IntrathecalProcedure: ["patient", "product__harvest"],
    AdverseEvent: ["procedure__patient"],
    Visit: ["patient"],
    Score: ["visit__patient", "instrument"],
    Instrument: [],
}


def with_first_procedure(queryset):
    """Annotate each row with `first_procedure_date`: its patient's first intrathecal procedure."""
    path = queryset.model.patient_path
    patient_ref = OuterRef(path + "__pk" if path else "pk")
    first = IntrathecalProcedure.objects.filter(patient=patient_ref).order_by("date").values("date")[:1]
    return queryset.annotate(first_procedure_date=Subquery(first))


def records(model):
    """Every record of a kind, with what its representations need loaded."""
    queryset = model.objects.select_related(*RELATED[model])
    if model is Visit:
        from imaging.models import DiffusionResult, Scan

        current = Prefetch(
            "results", queryset=DiffusionResult.objects.filter(is_current=True), to_attr="current_results"
        )
        scans = Prefetch("scans", queryset=Scan.objects.order_by("created_at").prefetch_related(current))
        queryset = queryset.prefetch_related("scores__instrument", scans)
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


def patient_timeline(patient):
    """The patient's whole course as dated events, oldest first.

    Each event is a dict: date, kind ("harvest", "procedure", "visit", "adverse-event"),
    the record, and what the page shows with it (products, doses, scores, months).
    """
    first = patient.first_procedure_date()
    events = []
    for harvest in patient.harvests.prefetch_related("products"):
        events.append(
            {"date": harvest.date, "kind": "harvest", "record": harvest, "products": list(harvest.products.all())}
        )
    procedures = patient.procedures.select_related("product__harvest").prefetch_related("adverse_events")
    for procedure in procedures:
        events.append(
            {
                "date": procedure.date,
                "kind": "procedure",
                "record": procedure,
                "age_months": patient.age_in_months(procedure.date),
            }
        )
        for event in procedure.adverse_events.all():
            events.append({"date": event.onset_date, "kind": "adverse-event", "record": event})
    visits = list(patient.visits.prefetch_related("scores__instrument"))
    imaging = visit_imaging(visits)
    baseline = next((visit for visit in visits if visit.kind == Visit.Kind.BASELINE), None)
    baseline_scores = {score.instrument_id: score.value for score in baseline.scores.all()} if baseline else {}
    baseline_fa = imaging.get(baseline.pk, {}).get("fa_wm_mean") if baseline else None
    for visit in visits:
        is_baseline = visit.kind == Visit.Kind.BASELINE
        scores = []
        for score in visit.scores.all():
            base = baseline_scores.get(score.instrument_id)
            change = None if base is None or is_baseline else score.value - base
            scores.append({"score": score, "change": change})
        fa = imaging.get(visit.pk, {})
        if fa.get("fa_wm_mean") is not None and baseline_fa is not None and not is_baseline:
            fa = {**fa, "fa_change": fa["fa_wm_mean"] - baseline_fa}
        events.append(
            {
                "date": visit.date,
                "kind": "visit",
                "record": visit,
                "scores": scores,
                "imaging": fa,
                "months": visit.months_since_procedure(first) if first else None,
            }
        )
    order = {"harvest": 0, "procedure": 1, "adverse-event": 2, "visit": 3}
    events.sort(key=lambda event: (event["date"], order[event["kind"]]))
    return events


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


def visit_imaging(visits):
    """Per visit id: its scans and the FA of the scan that counts for the visit.

    The scan that counts is the newest processed one a radiologist did not mark unusable
    (reviewed-usable first). Returns {visit_id: {"scans": [...], "scan": scan or None,
    "fa_wm_mean": float or None, "fa_mean": ..., "md_mean": ...}}.
    """
    from imaging.models import DiffusionResult, Scan

    by_visit = {visit.pk: {"scans": [], "scan": None} for visit in visits}
    scans = (
        Scan.objects.filter(visit__in=list(by_visit))
        .order_by("-created_at")
        .prefetch_related(
            Prefetch("results", queryset=DiffusionResult.objects.filter(is_current=True), to_attr="current_results")
        )
    )
    for scan in scans:
        entry = by_visit[scan.visit_id]
        entry["scans"].append(scan)
        result = scan.current_results[0] if scan.current_results else None
        if result is None or scan.usable is False:
            continue
        chosen = entry["scan"]
        if chosen is None or (scan.usable and not chosen.usable):
            entry.update(scan=scan, fa_wm_mean=result.fa_wm_mean, fa_mean=result.fa_mean, md_mean=result.md_mean)
    return by_visit
