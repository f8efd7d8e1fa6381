"""Radiology pages: the worklist, upload, the scan page with status, QC, viewer and regions;
and media files, served to signed-in staff only."""

import mimetypes

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from imaging import comparability, forms, qc_display, regions, services, storage
from imaging.models import DiffusionResult, Region, RoiMeasurement, Scan
from imaging.selectors import counts_for_visit
from registry import audit
from registry import services as registry_services
from registry.api.tokens import login_or_token_required
from registry.models import Patient, Visit
from registry.roles import IDENTIFIERS
from registry.selectors import visible


def require(request, perm):
    if not (request.user.has_perm(perm) and request.user.has_perm(IDENTIFIERS)):
        raise PermissionDenied(_("Your role does not allow this."))


def add_errors(form, error, renamed=None):
    """A service's ValidationError on the form: each message on its field (`renamed`: model field to
    form field), the rest above the form."""
    for field, errors in error.message_dict.items() if hasattr(error, "error_dict") else [(None, error.messages)]:
        field = (renamed or {}).get(field, field)
        form.add_error(field if field in form.fields else None, errors)


@login_required
def worklist(request):
    require(request, "imaging.view_scan")
    scans = Scan.objects.select_related("visit__patient").prefetch_related("results").order_by("-created_at")
    scans = visible(Scan, request.user, scans)
    status = request.GET.get("status", "")
    if status in Scan.Status.values:
        scans = scans.filter(status=status)
    if request.GET.get("review") == "pending":
        scans = scans.filter(status=Scan.Status.DONE, usable__isnull=True)
    page = Paginator(scans, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "imaging/worklist.html",
        {
            "page": page,
            "status": status,
            "statuses": Scan.Status.choices,
            "review": request.GET.get("review", ""),
            "visits_without_scan": visible(
                Visit, request.user, Visit.objects.filter(scans__isnull=True)
            ).select_related("patient")[:20],
        },
    )


@login_required
def scan_upload(request, visit_pk):
    require(request, "imaging.add_scan")
    visit = get_object_or_404(visible(Visit, request.user).select_related("patient"), pk=visit_pk)
    form = forms.ScanUploadForm(request.POST or None, request.FILES or None)
    unavailable = False
    if request.method == "POST" and form.is_valid():
        data = {key: value for key, value in form.cleaned_data.items() if value not in (None, "")}
        try:
            scan, created = services.scan_register(visit, request.user, **data)
        except ValidationError as error:
            add_errors(form, error)
        except registry_services.ServiceUnavailable as error:
            form.add_error(None, str(error))
            unavailable = True
        else:
            if created:
                messages.success(request, _("Scan uploaded and queued for processing."))
            else:
                messages.info(request, _("These files were already uploaded for this visit; here is that scan."))
            return redirect("scan-detail", scan.pk)
    return render(
        request,
        "imaging/upload.html",
        {"form": form, "visit": visit, "patient": visit.patient},
        status=503 if unavailable else 400 if form.errors else 200,
    )


@login_required
def scan_detail(request, pk):
    require(request, "imaging.view_scan")
    scan = get_object_or_404(visible(Scan, request.user).select_related("visit__patient"), pk=pk)
    audit.record_access(request, audit.Kind.SCAN_PAGE, record_type="scan", object_id=pk, patients=[scan.visit.patient])
    return _scan_page(request, scan)


def _scan_page(request, scan, review_form=None, status=200, comparability_form=None):
    """The scan page; `review_form` is a refused review (`comparability_form` a refused inclusion),
    shown with its errors and the choice made."""
    result = scan.current_result
    carry = scan.carries.select_related("source_scan__visit").first()
    qc, files = _stored_dict(result, "qc"), _stored_dict(result, "files")
    # Every file of the current result is hashed and compared with its record (about 1 ms per MB):
    # a missing or damaged one is named here and neither linked nor shown.
    file_problems = storage.result_problems(result) if files else []
    files = {name: path for name, path in files.items() if name not in {found.key for found in file_problems}}
    return render(
        request,
        "imaging/scan_detail.html",
        {
            "scan": scan,
            "result": result,
            "files": files,
            "file_problems": file_problems,
            "previews": _previews(files),
            "wm_threshold": _wm_threshold(result),
            "viewer_ready": all(isinstance(files.get(name), str) and files[name] for name in VIEWER_MAPS),
            "qc_excludes": result is not None
            and qc.get("overall") == "fail"
            and not counts_for_visit(scan, result, "fail"),
            "patient": scan.visit.patient,
            "earlier_results": scan.results.filter(is_current=False),
            "rois": scan.rois.select_related("region", "carry"),
            "carry": carry,
            "carried_legend": _carried_legend(carry),
            "carry_threshold": regions.min_similarity(),
            "regions": Region.objects.all(),
            "events": scan.status_events.all(),
            "review_form": review_form or forms.ReviewForm.for_scan(scan),
            "labels_form": forms.LabelsForm(),
            "roi_form": forms.ManualRoiForm(),
            "qc_items": qc_display.qc_items(qc) + qc_display.protocol_items(scan),
            "comparability_form": comparability_form or forms.ComparabilityForm.for_scan(scan),
            "viewer_labels": viewer_labels(),
            "live": scan_live_status(scan),
            "poll_ms": settings.IMAGING_STATUS_POLL_MS,
        },
        status=status,
    )


def _carried_legend(carry):
    """The carried label image's legend for the viewer, as JSON: {label value: region name in the page's
    language} from the names given where the regions were drawn."""
    import json

    if carry is None:
        return ""
    names = carry.source_scan.label_names if isinstance(carry.source_scan.label_names, dict) else {}
    known = Region.objects.in_bulk([str(code) for code in names.values()], field_name="code")
    return json.dumps({str(value): known[code].name if code in known else str(code) for value, code in names.items()})


# What the worker reports in Scan.stage (imaging.services.scan_process and the stages of
# imaging.dti.pipeline), in words for people. A stage missing here shows as UNKNOWN_STAGE.
STAGE_LABELS = {
    "start": gettext_lazy("Starting"),
    "validate": gettext_lazy("Checking the files"),
    "load": gettext_lazy("Reading the images"),
    "premask": gettext_lazy("Computing a first brain mask"),
    "denoise": gettext_lazy("Removing noise"),
    "gibbs": gettext_lazy("Removing Gibbs ringing"),
    "motion": gettext_lazy("Correcting motion"),
    "mask": gettext_lazy("Computing the brain mask"),
    "fit": gettext_lazy("Fitting the tensor"),
    "qc": gettext_lazy("Checking quality"),
    "rois": gettext_lazy("Measuring regions"),
    "save": gettext_lazy("Saving the maps"),
    "previews": gettext_lazy("Drawing previews"),
    "results": gettext_lazy("Storing the results"),
    "done": gettext_lazy("Finished"),
}
UNKNOWN_STAGE = gettext_lazy("Processing…")


def scan_live_status(scan):
    """The scan's status and stage as codes and as words in the active language: what the scan
    page shows when rendered and what static/imaging/scan.js shows while it polls."""
    return {
        "status": scan.status,
        "status_label": scan.get_status_display(),
        "stage": scan.stage,
        "stage_label": str(STAGE_LABELS.get(scan.stage, UNKNOWN_STAGE)) if scan.stage else "",
        "progress": scan.progress,
        "error": scan.error,
    }


@login_required
@require_GET
@never_cache
def scan_status(request, pk):
    """The live status of a scan as JSON, polled by the scan page."""
    require(request, "imaging.view_scan")
    return JsonResponse(scan_live_status(get_object_or_404(visible(Scan, request.user), pk=pk)))


def viewer_labels():
    """The viewer's words in the page's language (static/imaging/viewer.js reads them as JSON)."""
    import json

    return json.dumps(
        {
            "overlay": _("Overlay"),
            "colorFa": _("Colour FA"),
            "opacity": _("Opacity"),
            "threshold": _("Hide FA below"),
            "fa": _("FA"),
            "b0": _("b0"),
            "colorFaFormat": _("The colour FA image must be float32 X×Y×Z×3 or RGB24; it is neither."),
            "view": _("View"),
            "axial": _("Axial"),
            "coronal": _("Coronal"),
            "sagittal": _("Sagittal"),
            "multiplanar": _("Multiplanar"),
            "readout": _("FA {value} at voxel {x}, {y}, {z}"),
            "regions": _("Carried regions"),
            "regionsImage": _("carried regions"),
            "outside": _("outside the image"),
            "loading": _("Loading images…"),
            "noWebgl": _(
                "This browser cannot show the images: WebGL2 is not available. Use a current Chrome, Edge "
                "or Firefox, with hardware acceleration on."
            ),
            "httpError": _("The {what} image could not be loaded (HTTP {status})."),
            "networkError": _("The {what} image could not be loaded: the server did not answer."),
            "notNifti": _("The {what} image is not a NIfTI file (perhaps the session expired: reload the page)."),
            "parseError": _("The {what} image could not be read: {detail}"),
            "missingUrl": _("No address is given for the {what} image."),
            "libraryError": _("The image viewer could not be loaded; reload the page."),
            "mask": _("brain mask"),
        }
    )


def _wm_threshold(result):
    """The FA above which the result counted a voxel as white matter (0.2 unless it says otherwise)."""
    threshold = _stored_dict(result, "summary").get("wm_fa_threshold")
    return threshold if isinstance(threshold, (int, float)) and not isinstance(threshold, bool) else 0.2


def _previews(files):
    """The previews to show, drawn in the page's language when the worker drew one (results from
    before previews were drawn per language have the English ones only)."""
    language = (get_language() or "en").split("-")[0]
    shown = []
    for kind, alt, caption in (
        ("fa", _("Axial montage of FA"), _("FA")),
        ("color_fa", _("Axial montage of colour FA"), _("Colour FA (red x, green y, blue z)")),
    ):
        path = files.get(f"preview_{kind}_{language}") or files.get(f"preview_{kind}")
        if isinstance(path, str) and path:
            shown.append({"kind": kind, "path": path, "alt": alt, "caption": caption})
    return shown


# The maps the viewer needs; without all of them the page says the maps are missing.
VIEWER_MAPS = ("fa", "color_fa", "mask")


def _stored_dict(result, field):
    """A JSON field of a stored result as a dict ({} when there is no result or it holds something else):
    results written by earlier versions, or damaged, must still show."""
    value = getattr(result, field, None)
    return value if isinstance(value, dict) else {}


def _scan_action(request, pk, perm):
    require(request, perm)
    return get_object_or_404(visible(Scan, request.user), pk=pk)


def _versioned_scan_form(request, pk, form, save, *, page_form, anchor, saved, renamed=None):
    """Apply a radiologist's form that edits the scan at a known version (`save(scan, cleaned_data)`);
    a refused one shows the scan page again with the error beside the field at fault and the choice the
    person made; an edit conflict offers the current version, so a second save is a deliberate overwrite."""
    scan = _scan_action(request, pk, "imaging.change_scan")
    status = 400
    if form.is_valid():
        try:
            save(scan, form.cleaned_data)
        except registry_services.EditConflict as conflict:
            form.add_error(None, str(conflict))
            form.data = form.data.copy()
            form.data["version"] = conflict.current_version
            status = 409
        except ValidationError as error:
            add_errors(form, error, renamed=renamed)
        else:
            messages.success(request, saved)
            return redirect(reverse("scan-detail", args=[pk]) + anchor)
    scan = Scan.objects.select_related("visit__patient").get(pk=pk)
    audit.record_access(request, audit.Kind.SCAN_PAGE, record_type="scan", object_id=pk, patients=[scan.visit.patient])
    return _scan_page(request, scan, status=status, **{page_form: form})


@login_required
@require_POST
def scan_review(request, pk):
    """Save a radiologist's review (usable or not, with the reason)."""

    def save(scan, data):
        services.scan_review(scan, request.user, data["version"], data["usable"], data["reason"])

    return _versioned_scan_form(
        request,
        pk,
        forms.ReviewForm(request.POST),
        save,
        page_form="review_form",
        anchor="#review",
        saved=_("Review saved."),
        renamed={"usable_reason": "reason"},
    )


@login_required
@require_POST
def scan_comparability(request, pk):
    """Include a scan not acquired like the baseline in change analyses (with a reason) or leave it out."""

    def save(scan, data):
        comparability.comparability_override_set(scan, request.user, data["version"], data["include"], data["reason"])

    return _versioned_scan_form(
        request,
        pk,
        forms.ComparabilityForm(request.POST),
        save,
        page_form="comparability_form",
        anchor="#comparability",
        saved=_("Saved: the scan's part in change analyses."),
    )


@login_required
@require_POST
def scan_labels(request, pk):
    scan = _scan_action(request, pk, "imaging.change_scan")
    form = forms.LabelsForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            rois = services.labels_apply(scan, request.user, form.cleaned_data["labels"], form.cleaned_data["names"])
            messages.success(request, _("%(count)d regions measured.") % {"count": len(rois)})
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
    elif "labels" in form.errors:
        messages.error(request, _("Choose a label image to upload."))
    else:
        messages.error(request, " ".join(str(error) for errors in form.errors.values() for error in errors))
    return redirect("scan-detail", pk)


@login_required
@require_POST
def scan_carried_regions(request, pk):
    """The radiologist accepts or rejects the regions carried to the scan."""
    scan = _scan_action(request, pk, "imaging.change_scan")
    decision = request.POST.get("decision")
    try:
        regions.carried_regions_decide(scan, request.user, decision, request.POST.get("carry"))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            _("Carried regions accepted.") if decision == "accepted" else _("Carried regions rejected."),
        )
    return redirect(reverse("scan-detail", args=[pk]) + "#carried-regions")


@login_required
@require_POST
def scan_manual_roi(request, pk):
    scan = _scan_action(request, pk, "imaging.add_roimeasurement")
    form = forms.ManualRoiForm(request.POST, instance=RoiMeasurement(scan=scan))
    if form.is_valid():
        registry_services.record_create(
            RoiMeasurement,
            request.user,
            scan=scan,
            measured_by=request.user,
            source=RoiMeasurement.Source.MANUAL,
            **form.cleaned_data,
        )
        messages.success(request, _("Measurement saved."))
    else:
        messages.error(
            request,
            " ".join(
                f"{form.fields[f].label if f in form.fields else ''}: {' '.join(e)}" for f, e in form.errors.items()
            ),
        )
    return redirect("scan-detail", pk)


@login_required
@require_POST
def scan_reprocess(request, pk):
    scan = _scan_action(request, pk, "imaging.change_scan")
    try:
        services.scan_reprocess(
            scan, request.user, request.POST.get("profile") or None, request.POST.get("fit_method") or None
        )
        messages.success(request, _("Scan queued for processing again; the earlier result is kept."))
    except registry_services.RecordBusy as busy:
        messages.error(request, str(busy))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("scan-detail", pk)


@login_or_token_required
def media(request, path):
    """A stored file (scan input, map, preview), for staff who may view scans with identifiers;
    API clients download the links the API gives them with their token.

    A map, preview or results file of a result is served only when its bytes hash to the sha256
    recorded with the result; otherwise the answer says it is missing (404) or damaged (410).
    """
    require(request, "imaging.view_scan")
    parts = path.split("/")
    if ".." in parts or not path.startswith("scans/") or len(parts) < 3:
        raise Http404(_("No such file."))
    # Files of a deleted scan, or of another site's patient, are never served.
    if not visible(Scan, request.user).filter(pk=_int(parts[1])).exists():
        raise Http404(_("No such file."))
    if parts[2] == "results":
        return _serve_result_file(request, path, int(parts[1]))
    if not default_storage.exists(path):
        raise Http404(_("No such file."))
    try:
        handle = default_storage.open(path, "rb")
    except OSError:  # a folder, or removed meanwhile
        raise Http404(_("No such file.")) from None
    return _file_response(request, path, handle)


def _int(text):
    return int(text) if text.isascii() and text.isdigit() else None


def _serve_result_file(request, path, scan_id):
    """A file of one of the scan's results, checked against its sha256 before a byte is sent."""
    for result in DiffusionResult.objects.filter(scan_id=scan_id):
        files = result.files if isinstance(result.files, dict) else {}
        key = next((key for key, name in files.items() if name == path), None)
        if key is not None:
            break
    else:
        raise Http404(_("No such file."))  # no result names it (left by a failed attempt)
    found, handle = storage.open_verified(result, key)
    if handle is None:
        storage.log_problem(found, result, f"refused to {request.user}")
        return stored_file_problem(request, scan_id, found)
    return _file_response(request, path, handle)


FILE_PROBLEMS = {
    storage.MISSING: (
        404,
        gettext_lazy("The %(file)s of scan %(scan)s is missing from storage. Reprocess the scan to make it again."),
    ),
    storage.DAMAGED: (
        410,
        gettext_lazy(
            "The %(file)s of scan %(scan)s is damaged: its content is no longer what was stored, so it is not "
            "served. Reprocess the scan to make it again."
        ),
    ),
    storage.UNREADABLE: (
        503,
        gettext_lazy("The %(file)s of scan %(scan)s cannot be read from storage just now; try again in a few minutes."),
    ),
}


def stored_file_problem(request, scan_id, found):
    """The answer for a stored file that is not served: JSON for API clients, a page for people."""
    code, text = FILE_PROBLEMS[found.status]
    message = text % {"file": found.label, "scan": scan_id}
    if request.headers.get("Authorization") or "html" not in request.headers.get("Accept", ""):
        response = JsonResponse({"detail": message}, status=code)
    else:
        response = render(request, "imaging/file_problem.html", {"message": message, "scan_id": scan_id}, status=code)
    response["Cache-Control"] = "no-store"
    return response


def _file_response(request, path, handle):
    record_file_access(request, path)
    content_type, encoding = mimetypes.guess_type(path)
    if encoding == "gzip":
        content_type = "application/gzip"
    response = FileResponse(handle, content_type=content_type or "application/octet-stream")
    response["Cache-Control"] = "private, max-age=3600"
    return response


def record_file_access(request, path):
    """Log the download of a stored file: scan files live under scans/<scan id>/, so the path names the patient."""
    scan_id = path.split("/")[1]
    patients = Patient.objects.filter(visits__scans__pk=scan_id) if scan_id.isascii() and scan_id.isdigit() else []
    audit.record_access(request, audit.Kind.SCAN_FILE, record_type="scan", object_id=scan_id, patients=patients)
