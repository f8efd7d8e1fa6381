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
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from imaging import forms, services, storage
from imaging.models import DiffusionResult, Region, RoiMeasurement, Scan
from imaging.selectors import counts_for_visit
from registry import audit
from registry import services as registry_services
from registry.api.tokens import login_or_token_required
from registry.models import Patient, Visit
from registry.roles import IDENTIFIERS


def require(request, perm):
    if not (request.user.has_perm(perm) and request.user.has_perm(IDENTIFIERS)):
        raise PermissionDenied(_("Your role does not allow this."))


def add_errors(form, error):
    for field, errors in error.message_dict.items() if hasattr(error, "error_dict") else [(None, error.messages)]:
        form.add_error(field if field in form.fields else None, errors)


@login_required
def worklist(request):
    require(request, "imaging.view_scan")
    scans = Scan.objects.select_related("visit__patient").prefetch_related("results").order_by("-created_at")
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
            "visits_without_scan": Visit.objects.filter(scans__isnull=True).select_related("patient")[:20],
        },
    )


@login_required
def scan_upload(request, visit_pk):
    require(request, "imaging.add_scan")
    visit = get_object_or_404(Visit.objects.select_related("patient"), pk=visit_pk)
    form = forms.ScanUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = {key: value for key, value in form.cleaned_data.items() if value not in (None, "")}
        try:
            scan, created = services.scan_register(visit, request.user, **data)
        except ValidationError as error:
            add_errors(form, error)
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
        status=400 if form.errors else 200,
    )


@login_required
def scan_detail(request, pk):
    require(request, "imaging.view_scan")
    scan = get_object_or_404(Scan.objects.select_related("visit__patient"), pk=pk)
    audit.record_access(request, audit.Kind.SCAN_PAGE, record_type="scan", object_id=pk, patients=[scan.visit.patient])
    result = scan.current_result
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
            "viewer_ready": all(isinstance(files.get(name), str) and files[name] for name in VIEWER_MAPS),
            "qc_excludes": result is not None
            and qc.get("overall") == "fail"
            and not counts_for_visit(scan, result, "fail"),
            "patient": scan.visit.patient,
            "earlier_results": scan.results.filter(is_current=False),
            "rois": scan.rois.select_related("region"),
            "regions": Region.objects.all(),
            "events": scan.status_events.all(),
            "review_form": forms.ReviewForm(
                initial={
                    "usable": "yes" if scan.usable is not False else "no",
                    "reason": scan.usable_reason,
                    "version": scan.version,
                }
            ),
            "labels_form": forms.LabelsForm(),
            "roi_form": forms.ManualRoiForm(),
            "qc_items": _qc_items(qc),
            "viewer_labels": viewer_labels(),
            "live": scan_live_status(scan),
            "poll_ms": settings.IMAGING_STATUS_POLL_MS,
        },
    )


# What the worker reports in Scan.stage (imaging.services.scan_process and the stages of
# imaging.dti.pipeline), in words for people. A stage missing here shows as UNKNOWN_STAGE.
STAGE_LABELS = {
    "start": _lazy("Starting"),
    "validate": _lazy("Checking the files"),
    "load": _lazy("Reading the images"),
    "premask": _lazy("Computing a first brain mask"),
    "denoise": _lazy("Removing noise"),
    "gibbs": _lazy("Removing Gibbs ringing"),
    "motion": _lazy("Correcting motion"),
    "mask": _lazy("Computing the brain mask"),
    "fit": _lazy("Fitting the tensor"),
    "qc": _lazy("Checking quality"),
    "rois": _lazy("Measuring regions"),
    "save": _lazy("Saving the maps"),
    "previews": _lazy("Drawing previews"),
    "results": _lazy("Storing the results"),
    "done": _lazy("Finished"),
}
UNKNOWN_STAGE = _lazy("Processing…")


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
    return JsonResponse(scan_live_status(get_object_or_404(Scan, pk=pk)))


QC_NAMES = {
    "b0_count": _lazy("b0 volumes"),
    "n_directions": _lazy("Diffusion directions"),
    "b_values": _lazy("b-values"),
    "snr": _lazy("SNR in the brain mask"),
    "brain_mask": _lazy("Brain mask"),
    "fit_residual": _lazy("Mean fit residual"),
    "nonphysical_eigenvalues": _lazy("Non-physical eigenvalues"),
    "fa_histogram": _lazy("FA histogram"),
    "motion": _lazy("Motion"),
}


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _qc_value(name, value):
    """A QC value as a radiologist reads it (a value of an unexpected kind is shown as stored)."""
    if name == "b_values" and isinstance(value, list):
        return ", ".join(
            f"b={shell[0]:g} ×{shell[1]}"
            for shell in value
            if isinstance(shell, list) and len(shell) == 2 and all(_number(v) for v in shell)
        )
    if name == "brain_mask" and isinstance(value, dict):
        fraction = value.get("fraction")
        return f"{value.get('voxels')} voxels ({100 * fraction if _number(fraction) else 0:.0f} %)"
    if name == "nonphysical_eigenvalues" and _number(value):
        return f"{100 * value:.2f} %"
    if isinstance(value, float):
        return f"{value:.3g}"
    return value if value is None or _number(value) or isinstance(value, str) else str(value)


def _histogram_svg(value):
    """Inline SVG bars of the FA histogram (bin_edges, counts), FA 0 to 1 from left to right."""
    counts = value.get("counts") or []
    if not isinstance(counts, list) or not all(_number(c) and c >= 0 for c in counts) or not any(counts):
        return ""
    width, height, bar = 200, 40, 200 / len(counts)
    top = max(counts) ** 0.5  # square-root scale, so the few white-matter voxels still show
    scaled = [height * count**0.5 / top for count in counts]
    bars = "".join(
        f'<rect x="{i * bar:.1f}" y="{height - h:.1f}" width="{bar - 1:.1f}" height="{h:.1f}"/>'
        for i, h in enumerate(scaled)
    )
    return mark_safe(
        f'<svg class="histogram" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="FA 0-1">{bars}</svg>'
    )


def viewer_labels():
    """The viewer's words in the page's language (static/imaging/viewer.js reads them as JSON)."""
    import json

    return json.dumps(
        {
            "overlay": _("Overlay"),
            "colorFa": _("Colour FA"),
            "opacity": _("Opacity"),
            "view": _("View"),
            "axial": _("Axial"),
            "coronal": _("Coronal"),
            "sagittal": _("Sagittal"),
            "multiplanar": _("Multiplanar"),
            "readout": _("FA {value} at voxel {x}, {y}, {z}"),
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


# The maps the viewer needs; without all of them the page says the maps are missing.
VIEWER_MAPS = ("fa", "color_fa", "mask")
QC_FLAGS = ("pass", "warn", "fail")


def _stored_dict(result, field):
    """A JSON field of a stored result as a dict ({} when there is no result or it holds something else):
    results written by earlier versions, or damaged, must still show."""
    value = getattr(result, field, None)
    return value if isinstance(value, dict) else {}


def _qc_items(qc):
    items = []
    stored = qc.get("items")
    for name, item in (stored if isinstance(stored, dict) else {}).items():
        if not isinstance(item, dict):
            continue
        value = item.get("value")
        flag = item.get("flag")
        items.append(
            {
                "flag": flag if flag in QC_FLAGS else "",
                "message": str(item.get("message") or ""),
                "name": QC_NAMES.get(name, name.replace("_", " ").capitalize()),
                "value": _histogram_svg(value)
                if name == "fa_histogram" and isinstance(value, dict)
                else _qc_value(name, value),
            }
        )
    return items


def _scan_action(request, pk, perm):
    require(request, perm)
    return get_object_or_404(Scan, pk=pk)


@login_required
@require_POST
def scan_review(request, pk):
    scan = _scan_action(request, pk, "imaging.change_scan")
    form = forms.ReviewForm(request.POST)
    if form.is_valid():
        try:
            services.scan_review(
                scan,
                request.user,
                form.cleaned_data["version"],
                form.cleaned_data["usable"],
                form.cleaned_data["reason"],
            )
            messages.success(request, _("Review saved."))
        except registry_services.EditConflict as conflict:
            messages.error(request, str(conflict))
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
    else:
        messages.error(request, _("Choose usable or not usable."))
    return redirect("scan-detail", pk)


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
    else:
        messages.error(request, _("Choose a label image to upload."))
    return redirect("scan-detail", pk)


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
    if not Scan.objects.filter(pk=_int(parts[1])).exists():  # files of a deleted scan are never served
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
        _lazy("The %(file)s of scan %(scan)s is missing from storage. Reprocess the scan to make it again."),
    ),
    storage.DAMAGED: (
        410,
        _lazy(
            "The %(file)s of scan %(scan)s is damaged: its content is no longer what was stored, so it is not "
            "served. Reprocess the scan to make it again."
        ),
    ),
    storage.UNREADABLE: (
        503,
        _lazy("The %(file)s of scan %(scan)s cannot be read from storage just now; try again in a few minutes."),
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
