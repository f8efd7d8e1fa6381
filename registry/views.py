"""Pages for clinical staff: find a patient, see the course, create and edit every record."""

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from registry import audit, forms, selectors, services
from registry.models import (
    AdverseEvent,
    BoneMarrowHarvest,
    CellProduct,
    IntrathecalProcedure,
    Patient,
    Score,
    Visit,
)
from registry.roles import IDENTIFIERS


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
    return render(
        request,
        "registry/patient_detail.html",
        {
            "patient": patient,
            "timeline": selectors.patient_timeline(patient),
            "first_procedure": patient.first_procedure_date(),
        },
    )


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
    """The create or edit page of a record, with the form's errors if any."""
    context = {
        "form": form,
        "patient": patient,
        "kind": kind,
        "record": record,
        "verbose_name": get_kind(kind).model._meta.verbose_name,
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
