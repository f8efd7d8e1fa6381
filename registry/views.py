"""Pages for clinical staff: find a patient, see the course, create and edit every record."""

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from registry import audit, forms, queries, selectors, services, signoff
from registry.course import read_visits, schedule
from registry.models import (
    AdverseEvent,
    BoneMarrowHarvest,
    CellProduct,
    IntrathecalProcedure,
    Patient,
    Query,
    QueryEvent,
    Score,
    Signature,
    Visit,
    today,
)
from registry.roles import IDENTIFIERS
from registry.trajectories import patient_trajectories


@dataclass(frozen=True)
class RecordKind:
    model: type
    form: type
    sets_patient: bool = False  # the record hangs directly off the patient


KINDS = {
    "patients": RecordKind(Patient, forms.PatientForm),
    "harvests": RecordKind(BoneMarrowHarvest, forms.HarvestForm, sets_patient=True),
    "products": RecordKind(CellProduct, forms.ProductForm),
    "procedures": RecordKind(IntrathecalProcedure, forms.ProcedureForm, sets_patient=True),
    "adverse-events": RecordKind(AdverseEvent, forms.AdverseEventForm),
    "visits": RecordKind(Visit, forms.VisitForm, sets_patient=True),
    "scores": RecordKind(Score, forms.ScoreForm),
}
# Links from the patient page may preselect the parent record: ?harvest=ID, ?visit=ID, ...
PRESELECTABLE = ("harvest", "product", "procedure", "visit", "instrument")


def require(request, action, model):
    """Refuse (403) unless the account may `action` this kind of record and see identifiers."""
    perm = f"{model._meta.app_label}.{action}_{model._meta.model_name}"
    if not (request.user.has_perm(perm) and request.user.has_perm(IDENTIFIERS)):
        raise PermissionDenied(_("Your role does not allow this."))


def get_kind(kind):
    if kind not in KINDS:
        from django.http import Http404

        raise Http404(_("No such kind of record."))
    return KINDS[kind]


def patient_url(patient):
    return reverse("patient-detail", args=[patient.pk])


@login_required
def home(request):
    if request.user.has_perm(IDENTIFIERS):
        if request.user.has_perm("imaging.add_scan") and not request.user.has_perm("registry.add_patient"):
            return redirect("worklist")
        return redirect("patient-list")
    if request.user.has_perm("research.view_cohort"):
        return redirect("cohort")
    raise PermissionDenied(_("Your account has no role yet; ask a registry-admin to give it one."))


@login_required
def patient_list(request):
    require(request, "view", Patient)
    query = request.GET.get("q", "")
    patients = selectors.visible(Patient, request.user, selectors.patient_search(query))
    patients = selectors.with_first_procedure(patients.select_related("site"))
    page = Paginator(patients, 50).get_page(request.GET.get("page"))
    audit.record_access(request, audit.Kind.PATIENT_LIST, record_type="patient", patients=page.object_list)
    # Each label translated once for the page, not once per row (get_cp_subtype_display translates
    # every choice at each call).
    subtypes = {value: str(label) for value, label in Patient.Subtype.choices}
    return render(request, "registry/patient_list.html", {"page": page, "query": query, "subtypes": subtypes})


@login_required
def patient_detail(request, pk):
    require(request, "view", Patient)
    patient = get_object_or_404(selectors.visible_patients(request.user).select_related("site"), pk=pk)
    audit.record_access(request, audit.Kind.PATIENT_PAGE, record_type="patient", object_id=pk, patients=[patient])
    page = selectors.patient_page(patient)
    context = {
        "patient": patient,
        "timeline": page.timeline,
        "trajectories": patient_trajectories(page.timeline),
        "first_procedure": page.course.first_procedure_date,
        "planned": page.planned,
        "locks": signoff.patient_locks(patient),
    }
    if request.user.has_perm("registry.view_query"):
        pending = list(patient.queries.exclude(status=Query.Status.CLOSED).select_related("opened_by", "record_type"))
        records = queries.describe_records(pending)
        context["open_queries"] = [
            {"query": query, "record": records[query.pk][1], "field": queries.field_label(query)} for query in pending
        ]
        context["query_counts"] = queries.counts_by_record(pending)
    return render(request, "registry/patient_detail.html", context)


def _save_form(request, form, write):
    """Run a service write for a valid form; put its refusals on the form. True if stored."""
    try:
        write()
    except services.EditConflict as conflict:
        form.add_error(None, str(conflict))
        form.data = form.data.copy()
        form.data["version"] = conflict.current_version
    except ValidationError as error:
        if hasattr(error, "error_dict"):
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            form.add_error(None, error.messages)
    else:
        return True
    return False


def render_record_form(request, form, kind, patient, record=None):
    """The create or edit page of a record, with the form's errors if any (read-only when a signature locks it)."""
    signature = signoff.standing_signature(record) if record is not None else None
    if signature is not None:
        for field in form.fields.values():
            field.disabled = True
    context = {
        "form": form,
        "patient": patient,
        "kind": kind,
        "record": record,
        "verbose_name": get_kind(kind).model._meta.verbose_name,
        "signature": signature,
    }
    return render(request, "registry/record_form.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def record_create(request, kind, patient_pk=None):
    spec = get_kind(kind)
    require(request, "add", spec.model)
    patients = selectors.visible_patients(request.user)
    patient = get_object_or_404(patients, pk=patient_pk) if patient_pk else None
    if patient is None and kind != "patients":
        raise PermissionDenied(_("Records are added from their patient's page."))
    instance = spec.model(patient=patient) if spec.sets_patient else spec.model()
    initial = {name: request.GET[name] for name in PRESELECTABLE if request.GET.get(name, "").isdigit()}
    form = spec.form(request.POST or None, instance=instance, patient=patient, initial=initial, user=request.user)
    if request.method == "POST" and form.is_valid():
        fields = form.record_fields()
        if spec.sets_patient:
            fields["patient"] = patient
        created = {}

        def write():
            created["record"] = services.record_create(spec.model, request.user, **fields)

        if _save_form(request, form, write):
            record = created["record"]
            messages.success(request, _("%(record)s saved.") % {"record": record})
            return redirect(patient_url(record.owner_patient))
    return render_record_form(request, form, kind, patient)


@login_required
@require_http_methods(["GET", "POST"])
def record_edit(request, kind, pk):
    spec = get_kind(kind)
    require(request, "change", spec.model)
    instance = get_object_or_404(selectors.visible(spec.model, request.user), pk=pk)
    patient = instance.owner_patient
    form = spec.form(request.POST or None, instance=instance, patient=patient, user=request.user)
    if request.method == "POST" and form.is_valid():

        def write():
            services.record_update(instance, request.user, form.cleaned_data.get("version"), **form.record_fields())

        if _save_form(request, form, write):
            messages.success(request, _("%(record)s updated.") % {"record": instance})
            return redirect(patient_url(patient))
    if request.method == "GET":
        audit.record_access(
            request, audit.Kind.RECORD_FORM, record_type=spec.model._meta.model_name, object_id=pk, patients=[patient]
        )
    return render_record_form(request, form, kind, patient, record=instance)


@login_required
@require_http_methods(["GET", "POST"])
def record_delete(request, kind, pk):
    spec = get_kind(kind)
    require(request, "delete", spec.model)
    instance = get_object_or_404(selectors.visible(spec.model, request.user), pk=pk)
    patient = instance.owner_patient
    error = code = None
    if request.method == "POST":
        try:
            services.record_delete(instance, request.user, request.POST.get("version"))
        except (services.EditConflict, services.RecordInUse) as refusal:
            error = str(refusal)
        except ValidationError as refusal:
            error, code = " ".join(refusal.messages), 400
        else:
            messages.success(request, _("%(record)s deleted.") % {"record": instance})
            return redirect("patient-list" if kind == "patients" else patient_url(patient))
    return render(
        request,
        "registry/record_delete.html",
        {
            "record": instance,
            "patient": patient,
            "kind": kind,
            "error": error,
            "verbose_name": spec.model._meta.verbose_name,
        },
        status=(code or 409) if error else 200,
    )


@login_required
def record_history(request, kind, pk):
    spec = get_kind(kind)
    require(request, "view", spec.model)
    instance = get_object_or_404(selectors.visible(spec.model, request.user), pk=pk)
    audit.record_access(
        request,
        audit.Kind.RECORD_HISTORY,
        record_type=spec.model._meta.model_name,
        object_id=pk,
        patients=[instance.owner_patient],
    )
    return render(
        request,
        "registry/record_history.html",
        {
            "record": instance,
            "patient": instance.owner_patient,
            "kind": kind,
            "entries": selectors.record_history(instance),
            "verbose_name": spec.model._meta.verbose_name,
        },
    )


@login_required
def access_log(request):
    """Who read which identified data, when and from where; registry-admins filter by patient and user."""
    if not request.user.has_perm("registry.view_accesslog"):
        raise PermissionDenied(_("Your role does not allow this."))
    patient, user = request.GET.get("patient", ""), request.GET.get("user", "")
    page = Paginator(audit.access_entries(patient=patient, user=user), 50).get_page(request.GET.get("page"))
    return render(request, "registry/access_log.html", {"page": page, "patient": patient, "user_name": user})


def visit_anchor_url(visit):
    return f"{patient_url(visit.patient)}#visit-{visit.pk}"


def assessment_groups(form):
    """The form's rows as the page lays them out: one group per instrument; an instrument scored per
    muscle group has a line per muscle group with its left and right side."""
    groups = []
    for row in form.rows:
        if not groups or groups[-1]["instrument"] != row.instrument:
            groups.append({"instrument": row.instrument, "whole": None, "muscles": []})
        group, fields = groups[-1], (row, *form.bound(row))
        if row.muscle is None:
            group["whole"] = fields
        elif group["muscles"] and group["muscles"][-1]["muscle"] == row.muscle:
            group["muscles"][-1][row.side] = fields
        else:
            group["muscles"].append({"muscle": row.muscle, row.side: fields})
    return groups


def _refused_rows(form, refusal):
    for key, errors in refusal.errors.items():
        form.add_error(f"{key}-value", errors)


def render_assessments(request, patient, form, *, visit=None, visit_form=None, timepoint=None, status=200):
    context = {
        "patient": patient,
        "visit": visit,
        "visit_form": visit_form,
        "form": form,
        "groups": assessment_groups(form),
        "timepoint": timepoint,
    }
    return render(request, "registry/visit_assessments.html", context, status=status)


# ---- data-quality queries ------------------------------------------------------------------


def require_queries(request, action="view"):
    if not (request.user.has_perm(f"registry.{action}_query") and request.user.has_perm(IDENTIFIERS)):
        raise PermissionDenied(_("Your role does not allow this."))


@login_required
def query_list(request):
    """Queries of the patients the account sees, filtered by status and assigned role."""
    require_queries(request)
    status = request.GET.get("status", Query.Status.OPEN)
    role = request.GET.get("role", "")
    found = selectors.visible(Query, request.user).select_related("patient", "opened_by", "record_type")
    if status in Query.Status.values:
        found = found.filter(status=status)
    elif status == "pending":
        found = found.exclude(status=Query.Status.CLOSED)
    else:
        status = ""
    if role in Query.Role.values:
        found = found.filter(assigned_role=role)
    else:
        role = ""
    page = Paginator(found, 50).get_page(request.GET.get("page"))
    audit.record_access(
        request, audit.Kind.PATIENT_LIST, record_type="query", patients=list({q.patient for q in page.object_list})
    )
    records = queries.describe_records(page.object_list)
    rows = [
        {
            "query": query,
            "kind": records[query.pk][0],
            "record": records[query.pk][1],
            "field": queries.field_label(query),
        }
        for query in page
    ]
    context = {
        "page": page,
        "rows": rows,
        "status": status,
        "role": role,
        "statuses": Query.Status.choices,
        "roles": Query.Role.choices,
    }
    return render(request, "registry/query_list.html", context)


def _visible_query(request, pk):
    return get_object_or_404(selectors.visible(Query, request.user).select_related("patient", "opened_by"), pk=pk)


def _render_query(request, query, status=200, errors=None):
    kind, record = queries.describe_records([query])[query.pk]
    context = {
        "query": query,
        "patient": query.patient,
        "kind": kind,
        "record": record,
        "field": queries.field_label(query),
        "events": query.events.select_related("user"),
        "may_answer": query.status == Query.Status.OPEN and queries.may_answer(request.user, query),
        "may_close": query.status != Query.Status.CLOSED and queries.may_close(request.user, query),
        "may_reopen": query.status == Query.Status.CLOSED and queries.may_close(request.user, query),
        "errors": errors or {},
    }
    return render(request, "registry/query_detail.html", context, status=status)


@login_required
def query_detail(request, pk):
    require_queries(request)
    query = _visible_query(request, pk)
    audit.record_access(request, audit.Kind.PATIENT_PAGE, record_type="query", object_id=pk, patients=[query.patient])
    return _render_query(request, query)


@login_required
@require_http_methods(["POST"])
def query_step(request, pk, step):
    """Answer, close or re-open a query; a refusal shows the query again with the reason."""
    require_queries(request)
    if step not in queries.STEPS:
        raise Http404(_("No such step of a query."))
    query = _visible_query(request, pk)
    try:
        queries.query_step(step, actor=request.user, query=query, text=request.POST.get("text", ""))
    except queries.QueryTransitionRefused as refusal:
        return _render_query(request, query, status=409, errors={step: [str(refusal)]})
    except ValidationError as error:
        messages_ = (
            [m for values in error.message_dict.values() for m in values]
            if hasattr(error, "error_dict")
            else error.messages
        )
        return _render_query(request, query, status=400, errors={step: messages_})
    messages.success(request, _("Query #%(id)s: %(step)s.") % {"id": query.pk, "step": STEP_DONE[step]})
    return redirect("query-detail", pk=query.pk)


STEP_DONE = {
    "answer": QueryEvent.Action.ANSWERED.label,
    "close": QueryEvent.Action.CLOSED.label,
    "reopen": QueryEvent.Action.REOPENED.label,
}


@login_required
@require_http_methods(["GET", "POST"])
def query_create(request, kind, pk):
    """Open a query on a record, from the record's place on its patient's page."""
    require_queries(request, "add")
    model = get_kind(kind).model
    record = get_object_or_404(selectors.visible(model, request.user), pk=pk)
    patient = record.owner_patient
    fields = [(f.name, f.verbose_name) for f in type(record)._meta.fields if f.editable and f.name != "id"]
    data = {"text": "", "field": "", "assigned_role": Query.Role.HEMATOLOGY}
    errors, status = {}, 200
    if request.method == "POST":
        data = {name: request.POST.get(name, "") for name in data}
        try:
            query = queries.query_open(actor=request.user, record=record, **data)
        except ValidationError as error:
            errors, status = error.message_dict, 400
        else:
            messages.success(request, _("Query #%(id)s opened.") % {"id": query.pk})
            return redirect(patient_url(patient))
    context = {
        "record": record,
        "kind": kind,
        "patient": patient,
        "fields": fields,
        "roles": Query.Role.choices,
        "data": data,
        "errors": errors,
        "verbose_name": type(record)._meta.verbose_name,
    }
    return render(request, "registry/query_form.html", context, status=status)


# ---- sign-off and unlocking ------------------------------------------------------------------


def _sign_page(request, *, patient, subject, meaning, signature, status=200, errors=None):
    context = {
        "patient": patient,
        "subject": subject,
        "meaning": meaning,
        "signature": signature,
        "errors": errors or {},
        "may_sign": request.user.has_perm(signoff.SIGN),
    }
    return render(request, "registry/sign.html", context, status=status)


def _sign(request, *, patient, subject, meaning, standing, sign):
    require(request, "view", Patient)
    if request.method == "POST":
        if not request.user.has_perm(signoff.SIGN):
            raise PermissionDenied(_("Only investigators may sign."))
        try:
            sign(password=request.POST.get("password", ""), acknowledged=request.POST.get("acknowledge") == "on")
        except ValidationError as error:
            errors = error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}
            return _sign_page(
                request,
                patient=patient,
                subject=subject,
                meaning=meaning,
                signature=standing,
                status=400,
                errors=errors,
            )
        messages.success(request, _("Signed: %(subject)s.") % {"subject": subject})
        return redirect(patient_url(patient))
    return _sign_page(request, patient=patient, subject=subject, meaning=meaning, signature=standing)


@login_required
@require_http_methods(["GET", "POST"])
def visit_assessments(request, pk):
    """Every assessment of one visit on one page: the instruments its timepoint expects and those scored."""
    for action in ("add", "change", "delete"):
        require(request, action, Score)
    visit = get_object_or_404(selectors.visible(Visit, request.user).select_related("patient"), pk=pk)
    facts = read_visits([visit])[visit.pk]
    timepoints = {timepoint.code: timepoint for timepoint in schedule()}
    form = forms.AssessmentForm(request.POST or None, rows=selectors.assessment_rows(visit, facts.schedule_code))
    if request.method == "POST":
        if form.is_valid():
            try:
                services.visit_assessments_save(
                    visit=visit, actor=request.user, entries=form.entries, assessor=form.cleaned_data["assessor"]
                )
            except services.AssessmentRefused as refusal:
                _refused_rows(form, refusal)
            else:
                messages.success(request, _("Assessments of the visit of %(date)s saved.") % {"date": visit.date})
                return redirect(visit_anchor_url(visit))
        return render_assessments(
            request, visit.patient, form, visit=visit, timepoint=timepoints.get(facts.schedule_code), status=400
        )
    audit.record_access(request, audit.Kind.RECORD_FORM, record_type="visit", object_id=pk, patients=[visit.patient])
    return render_assessments(request, visit.patient, form, visit=visit, timepoint=timepoints.get(facts.schedule_code))


def _timepoint_to_enter(request, patient, timepoints):
    """The timepoint a new visit is entered for: ?timepoint=CODE, else the baseline while there is none,
    else the patient's first scheduled visit not done yet; None when all are done."""
    asked = request.GET.get("timepoint", "")
    if asked in timepoints:
        return timepoints[asked]
    if not patient.visits.filter(kind=Visit.Kind.BASELINE).exists():
        return timepoints.get("baseline")
    planned = selectors.planned_visits(patient.pk)
    return planned[0].timepoint if planned else None


@login_required
@require_http_methods(["GET", "POST"])
def visit_sign(request, pk):
    visit = get_object_or_404(selectors.visible(Visit, request.user).select_related("patient"), pk=pk)
    return _sign(
        request,
        patient=visit.patient,
        subject=signoff.visit_subject(visit),
        meaning=signoff.VISIT_MEANING,
        standing=signoff.standing_signature(visit),
        sign=lambda **given: signoff.sign_visit(request, visit, **given),
    )


@login_required
@require_http_methods(["GET", "POST"])
def visit_create_with_assessments(request, patient_pk):
    """A new visit and its assessments, entered and stored at once."""
    require(request, "add", Visit)
    require(request, "add", Score)
    patient = get_object_or_404(selectors.visible_patients(request.user), pk=patient_pk)
    timepoints = {timepoint.code: timepoint for timepoint in schedule()}
    timepoint = _timepoint_to_enter(request, patient, timepoints)
    kind = Visit.Kind.BASELINE if timepoint and timepoint.is_baseline else Visit.Kind.FOLLOW_UP
    visit_form = forms.AssessmentVisitForm(
        request.POST or None, instance=Visit(patient=patient), patient=patient, initial={"date": today(), "kind": kind}
    )
    form = forms.AssessmentForm(
        request.POST or None, rows=selectors.assessment_rows(None, timepoint.code if timepoint else None)
    )
    if request.method == "POST":
        visit_valid, rows_valid = visit_form.is_valid(), form.is_valid()
        if visit_valid and rows_valid:
            created = {}

            def write():
                created["visit"] = services.visit_create_with_assessments(
                    patient=patient,
                    actor=request.user,
                    visit_fields=visit_form.record_fields(),
                    entries=form.entries,
                    assessor=form.cleaned_data["assessor"],
                )

            try:
                stored = _save_form(request, visit_form, write)
            except services.AssessmentRefused as refusal:
                _refused_rows(form, refusal)
            else:
                if stored:
                    visit = created["visit"]
                    messages.success(request, _("%(record)s saved with its assessments.") % {"record": visit})
                    return redirect(visit_anchor_url(visit))
        return render_assessments(request, patient, form, visit_form=visit_form, timepoint=timepoint, status=400)
    return render_assessments(request, patient, form, visit_form=visit_form, timepoint=timepoint)


@login_required
def due_visits(request):
    """Scheduled visits due now or overdue, most overdue first, with a link to enter each (for the staff
    who enter visits)."""
    require(request, "add", Visit)
    due = selectors.due_visits(request.user)
    page = Paginator(due, 50).get_page(request.GET.get("page"))
    audit.record_access(
        request, audit.Kind.PATIENT_LIST, record_type="visit", patients=[item.patient for item in page.object_list]
    )
    return render(request, "registry/due_visits.html", {"page": page, "today": today()})


@login_required
@require_http_methods(["GET", "POST"])
def patient_sign(request, pk):
    patient = get_object_or_404(selectors.visible_patients(request.user), pk=pk)
    return _sign(
        request,
        patient=patient,
        subject=signoff.patient_subject(patient),
        meaning=signoff.PATIENT_MEANING,
        standing=signoff.standing_signature(patient),
        sign=lambda **given: signoff.sign_patient(request, patient, **given),
    )


@login_required
@require_http_methods(["GET", "POST"])
def signature_unlock(request, pk):
    """A registry-admin voids a standing signature with a reason; the records it covered can be edited."""
    if not request.user.has_perm(signoff.UNLOCK):
        raise PermissionDenied(_("Only a registry-admin may unlock signed records."))
    signature = get_object_or_404(selectors.visible(Signature, request.user).select_related("patient"), pk=pk)
    errors, status = {}, 200
    if request.method == "POST":
        try:
            signoff.unlock(signature, request.user, request.POST.get("reason", ""))
        except ValidationError as error:
            errors = error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}
            status = 400
        else:
            messages.success(
                request, _("Unlocked: %(subject)s; the signature is void.") % {"subject": signature.subject}
            )
            return redirect(patient_url(signature.patient))
    context = {
        "signature": signature,
        "patient": signature.patient,
        "errors": errors,
        "reason": request.POST.get("reason", ""),
    }
    return render(request, "registry/unlock.html", context, status=status)
