"""Writes for diffusion scans: register an upload, process it, review it, measure regions."""

import io
import json
import logging
import os
import shutil
import tempfile
import traceback
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError, transaction
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, pgettext

from imaging import atlas, claims, comparability, regions, storage
from imaging.dti import DiffusionInputError, InputLimits, PipelineSettings, run_pipeline
from imaging.dti.io import (
    Sha256Reader,
    load_labels,
    parse_label_names,
    sha256_file,
    stream_dwi,
    validate_inputs,
)
from imaging.dti.preview import PreviewWords
from imaging.dti.roi import region_stats
from imaging.models import DiffusionResult, Region, RegionCarry, RoiMeasurement, Scan, scan_folder
from registry import services as registry_services

log = logging.getLogger(__name__)
# Worth another try: the database or broker blinked, a network file system timed out.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, ConnectionError, TimeoutError)
GZIP_MAGIC = b"\x1f\x8b"
PROCESS_SCAN_TASK = "imaging.tasks.process_scan"


def input_limits():
    return InputLimits(
        max_spatial_dim=settings.IMAGING_MAX_SPATIAL_DIM,
        max_volumes=settings.IMAGING_MAX_VOLUMES,
        max_file_bytes=settings.IMAGING_MAX_UPLOAD_BYTES,
        max_data_bytes=settings.IMAGING_MAX_DATA_BYTES,
    )


def preview_languages():
    """The previews' words in each language of the interface besides English (the pipeline's own),
    so that a page shows the figure drawn in its language."""
    languages = []
    for code, _name in settings.LANGUAGES:
        if code.startswith("en"):
            continue
        with translation.override(code):
            languages.append(
                (
                    code,
                    PreviewWords(
                        fa_title=_("FA"),
                        color_fa_title=_("Colour FA"),
                        fa_bar=_("FA"),
                        brightness_bar=_("FA (brightness)"),
                        # Translators: the patient's left and right, one letter each, drawn on the images.
                        left=pgettext("image side", "L"),
                        right=pgettext("image side", "R"),
                        x_axis=_("L-R (x)"),
                        y_axis=_("A-P (y)"),
                        z_axis=_("S-I (z)"),
                        decimal=formats.get_format("DECIMAL_SEPARATOR", code),
                    ),
                )
            )
    return tuple(languages)


# The upload field each input of the pipeline comes from.
UPLOAD_FIELDS = {"dwi": "dwi", "bval": "bval", "bvec": "bvec", "labels": "labels", "label_names": "names"}


def _field_error(error, named=None, sent=None, field=None):
    """A pipeline input error as a ValidationError on the upload's field, speaking of the person's file.

    `named`: {staged file name: the name of the file the person sent}, so that the message names
    their file ('scan.txt'), not the name it was staged under ('dwi.nii'). `sent`: the name of the
    file at fault as the person sent it, put before a message that does not name it yet. `field`:
    the field to answer on when it is not the error's own (a DICOM zip's converted series).
    """
    message = error.message
    for staged, name in (named or {}).items():
        message = message.replace(f"'{staged}'", name)
    if sent and sent not in message:
        if message[:1].isupper() and message[1:2].islower():  # "The zip…" reads "'x.zip': the zip…"
            message = message[0].lower() + message[1:]
        message = _("%(file)s: %(problem)s") % {"file": sent, "problem": message}
    return ValidationError({field or UPLOAD_FIELDS.get(error.field, error.field): [message]})


def _sent_name(upload):
    """The base name of an uploaded file as the person's computer called it (never a folder), quoted."""
    return "'%s'" % (Path((getattr(upload, "name", "") or "").replace("\\", "/")).name or "?")


def _refuse_empty(**uploads):
    """Refuse every empty file among `uploads` ({field: upload or None}), naming it."""
    empty = {
        field: [_("%(file)s is empty (0 bytes); upload the file again.") % {"file": _sent_name(upload)}]
        for field, upload in uploads.items()
        if upload is not None and not upload.size
    }
    if empty:
        raise ValidationError(empty)


def stage_upload(upload, folder, name):
    """Copy an uploaded file into `folder` in chunks, hashing as it goes; returns (path, sha256).

    A .nii upload that is gzip-compressed is named .nii.gz whatever the client called it, so
    the reader looks at the content, not at the name.
    """
    tmp_path = folder / (name + ".part")
    upload.seek(0)
    reader = Sha256Reader(upload)
    with open(tmp_path, "wb") as out:
        for chunk in reader.chunks():
            out.write(chunk)
    with open(tmp_path, "rb") as staged:
        head = staged.read(len(GZIP_MAGIC))
    if name == "dwi":
        lowered = (upload.name or "").lower()
        if head.startswith(GZIP_MAGIC):
            name = "dwi.nii.gz"
        elif lowered.endswith((".nii", ".nii.gz")) or not head.startswith(GZIP_MAGIC):
            name = "dwi.nii"
    path = folder / name
    os.replace(tmp_path, path)
    return path, reader.hexdigest()


def _fingerprint(*hashes):
    """One SHA-256 over the files' SHA-256s: the same upload twice has the same fingerprint."""
    return sha256_file(io.BytesIO("".join(hashes).encode()))


def _store(scan_id, path, name):
    return storage.put(f"{scan_folder(scan_id)}/input/{name}", path).name


def _check_nifti_series(dwi_path, bval_path, bvec_path):
    """The checks made before anything is queued; a DiffusionInputError names the bad input.

    Returns the header summary and the DWI's SHA-256 (from the same pass that checked its data).
    """
    summary = validate_inputs(dwi_path, bval_path, bvec_path, limits=input_limits())
    dwi = stream_dwi(dwi_path, keep_data=False)  # corrupt gzip, truncated data, NaN or inf
    return summary, dwi.sha256


def scan_register(
    visit,
    actor,
    *,
    dwi=None,
    bval=None,
    bvec=None,
    dicom_zip=None,
    acquisition_date=None,
    profile=Scan.Profile.STANDARD,
    fit_method=Scan.FitMethod.WLS,
):
    """Check an uploaded diffusion series and queue it for processing.

    Either `dwi` + `bval` + `bvec` (uploaded files) or `dicom_zip`. Returns (scan, created):
    the same files uploaded again for the visit return the existing scan, not a new one.
    Raises ValidationError with the field at fault; a refused upload stores nothing.
    """
    if dicom_zip is not None and any(f is not None for f in (dwi, bval, bvec)):
        raise ValidationError(
            {"dicom_zip": [_("Upload either a DICOM zip or the NIfTI with its bval and bvec, not both.")]}
        )
    if dicom_zip is None:
        missing = [name for name, f in (("dwi", dwi), ("bval", bval), ("bvec", bvec)) if f is None]
        if missing:
            raise ValidationError(
                {name: [_("This file is required (or upload a DICOM zip instead).")] for name in missing}
            )

    _refuse_empty(dwi=dwi, bval=bval, bvec=bvec, dicom_zip=dicom_zip)
    with storage.staging_folder() as folder:
        try:
            if dicom_zip is not None:
                from imaging import dicom

                zip_path, zip_sha = stage_upload(dicom_zip, folder, "series.zip")
                dwi_path, bval_path, bvec_path = dicom.convert_zip(
                    zip_path, folder / "converted", max_bytes=settings.IMAGING_MAX_UPLOAD_BYTES * 4
                )
                shas = [zip_sha]
                scanner = dicom.scanner_details(Path(dwi_path).parent / "dwi.json")
            else:
                scanner = {}
                dwi_path, dwi_sha = stage_upload(dwi, folder, "dwi")
                bval_path, bval_sha = stage_upload(bval, folder, "dwi.bval")
                bvec_path, bvec_sha = stage_upload(bvec, folder, "dwi.bvec")
                shas = [dwi_sha, bval_sha, bvec_sha]
            summary, dwi_sha = _check_nifti_series(dwi_path, bval_path, bvec_path)
        except DiffusionInputError as error:
            raise _upload_error(error, dwi=dwi, bval=bval, bvec=bvec, dicom_zip=dicom_zip) from None

        fingerprint = _fingerprint(*shas)
        existing = Scan.objects.filter(visit=visit, fingerprint=fingerprint).first()
        if existing:
            return existing, False

        # Uploaded files were hashed while staged; files converted from DICOM are hashed here.
        hashes = dict(
            zip(
                ("dwi_sha256", "bval_sha256", "bvec_sha256"),
                shas if dicom_zip is None else [dwi_sha, sha256_file(bval_path), sha256_file(bvec_path)],
            )
        )
        with transaction.atomic():
            scan = Scan(
                visit=visit,
                acquisition_date=acquisition_date or visit.date,
                fingerprint=fingerprint,
                profile=profile,
                fit_method=fit_method,
                uploaded_by=actor,
                shape=list(summary.header.shape),
                status=Scan.Status.QUEUED,
                affine=np.asarray(summary.header.affine).round(6).tolist(),
                status_changed_at=timezone.now(),
                **hashes,
                dicom_sha256=shas[0] if dicom_zip is not None else "",
                acquisition=scanner,
            )
            scan.dwi.name = scan.bval.name = scan.bvec.name = "pending"
            scan.full_clean(exclude=["dwi", "bval", "bvec", "dicom_zip"])
            scan._history_user = actor
            scan.save()
            stored = []
            try:
                scan.dwi.name = _store(
                    scan.pk, dwi_path, Path(dwi_path).name if str(dwi_path).endswith(".gz") else "dwi.nii"
                )
                stored.append(scan.dwi.name)
                scan.bval.name = _store(scan.pk, bval_path, "dwi.bval")
                stored.append(scan.bval.name)
                scan.bvec.name = _store(scan.pk, bvec_path, "dwi.bvec")
                stored.append(scan.bvec.name)
                if dicom_zip is not None:
                    scan.dicom_zip.name = _store(scan.pk, zip_path, "series.zip")
                    stored.append(scan.dicom_zip.name)
                scan.save(update_fields=["dwi", "bval", "bvec", "dicom_zip"])
            except (storage.StoredFileError, OSError) as error:
                storage.delete_quietly(stored)
                log.warning("scan upload for visit %s not stored: %s", visit.pk, error)
                raise registry_services.ServiceUnavailable(
                    _(
                        "The uploaded files could not be saved to the registry's storage; nothing was kept. "
                        "Try again in a few minutes; if it happens again, tell the registry team."
                    )
                ) from error
            except BaseException:
                storage.delete_quietly(stored)
                raise
            if actor:
                claims.record_event(
                    scan.pk,
                    Scan.Status.QUEUED,
                    detail=gettext_noop("uploaded by %(user)s"),
                    params={"user": str(actor)},
                )
            else:
                claims.record_event(scan.pk, Scan.Status.QUEUED)
            transaction.on_commit(lambda: dispatch(scan.pk, first=True))
    return scan, True


def _upload_error(error, *, dwi, bval, bvec, dicom_zip):
    """The refusal of an upload, naming the file the person sent (for a DICOM zip: the zip, and
    "the series converted from it" where the check speaks of the converted image)."""
    if dicom_zip is not None:
        zip_name = _sent_name(dicom_zip)
        converted = _("the series converted from %(file)s") % {"file": zip_name}
        named = {name: converted for name in ("dwi.nii.gz", "dwi.bval", "dwi.bvec")}
        return _field_error(error, named, sent=zip_name, field="dicom_zip")
    uploads = {"dwi": dwi, "bval": bval, "bvec": bvec}
    staged = {"dwi.nii": dwi, "dwi.nii.gz": dwi, "dwi.bval": bval, "dwi.bvec": bvec}
    named = {name: _sent_name(upload) for name, upload in staged.items() if upload is not None}
    at_fault = uploads.get(error.field)
    return _field_error(error, named, sent=_sent_name(at_fault) if at_fault is not None else None)


def dispatch(scan_id, first=False):
    """Hand the scan to the broker for a worker. A broker that does not answer loses nothing: the
    scan stays queued, unsent, and the sweep sends it once the broker is back. Returns whether it was sent."""
    from celery import current_app
    from kombu.exceptions import KombuError

    try:
        # By name: imaging.tasks builds on this module, not the other way round.
        current_app.signature(PROCESS_SCAN_TASK, args=(scan_id,)).delay()
    except (KombuError, OSError) as error:
        log.warning("scan %s not sent to the workers, the sweep will send it: %s", scan_id, error)
        if first:
            claims.record_event(
                scan_id,
                Scan.Status.QUEUED,
                detail=gettext_noop(
                    "waiting for the processing queue, which did not answer; it is sent when it is back"
                ),
            )
        return False
    Scan.objects.filter(pk=scan_id, status=Scan.Status.QUEUED).update(dispatched_at=timezone.now())
    return True


class ProgressRecorder:
    """Stores the pipeline's stage and percent on the scan (at most every half second) with the
    attempt's heartbeat; stops the attempt (ClaimLost) once another attempt owns the scan."""

    def __init__(self, attempt, heartbeat=None, clock=timezone.now):
        self.attempt = attempt
        self.heartbeat = heartbeat
        self.clock = clock
        self.last = None
        self.stage = None

    def __call__(self, stage, percent):
        if self.heartbeat is not None and self.heartbeat.lost.is_set():
            raise claims.ClaimLost(self.attempt)
        now = self.clock()
        if stage != self.stage or self.last is None or (now - self.last).total_seconds() >= 0.5 or percent >= 100:
            try:
                alive = claims.beat(self.attempt, stage=stage, progress=min(int(percent), 99))
            except claims.DATABASE_ERRORS as error:  # progress is not worth failing the attempt for
                log.warning("scan %s: progress not recorded (%s)", self.attempt.scan_id, error)
                return
            if not alive:
                raise claims.ClaimLost(self.attempt)
            self.stage, self.last = stage, now


@contextmanager
def local_inputs(scan):
    """The scan's input files (dwi, bval, bvec, labels or None) as local paths, downloaded
    first when storage is remote."""
    folder = Path(tempfile.mkdtemp(prefix=f"scan-{scan.pk}-", dir=settings.IMAGING_STAGING_DIR))
    try:
        paths = []
        for field in (scan.dwi, scan.bval, scan.bvec, scan.labels):
            if not field:
                paths.append(None)
                continue
            target = folder / Path(field.name).name
            with field.storage.open(field.name, "rb") as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 4 * 1024 * 1024)
            paths.append(target)
        yield folder, paths
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _end(attempt, status, detail="", **fields):
    """End an attempt that failed; if it no longer owns the scan, the owner's state stands."""
    try:
        claims.release(attempt, status, detail, **fields)
    except claims.ClaimLost:
        log.warning(
            "scan %s: attempt %s on %s ended after losing its claim", attempt.scan_id, attempt.number, attempt.worker
        )


def scan_process(scan_id, worker="", *, heartbeat=False, final=True, threads=1):
    """Claim the scan, run the pipeline and store its result atomically (the previous one is kept).

    Does nothing when another attempt is alive or the scan needs no processing. Input errors fail the
    scan with a message for people. A transient error (database, broker, network) is raised for the
    task to retry, the scan queued again (failed when `final`); other errors fail the scan and are
    raised after recording the traceback. `heartbeat`: refresh the claim from a thread (not needed
    when the task runs in the caller's process). `threads`: for the standard profile's tensor fit (its
    results do not depend on them). Whatever ends an attempt without storing its
    result, the files it wrote are deleted.
    """
    attempt = claims.claim(scan_id, worker)
    if attempt is None:
        log.info("scan %s: nothing to do on %s (processed, or its attempt is alive)", scan_id, worker)
        return None
    scan = Scan.objects.select_related("visit__patient").get(pk=scan_id)
    result_folder = f"{scan_folder(scan_id)}/results/{timezone.now():%Y%m%dT%H%M%S%f}"
    # Every file is written whole under its name and checked; unless the result is stored, all go again.
    written = storage.AttemptFiles(result_folder)
    try:
        with claims.Heartbeat(attempt) if heartbeat else nullcontext() as beating:
            with local_inputs(scan) as (folder, (dwi_path, bval_path, bvec_path, labels_path)):
                out_dir = folder / "out"
                pipeline_settings = PipelineSettings(
                    profile=scan.profile,
                    fit_method=scan.fit_method,
                    limits=input_limits(),
                    # The full profile's denoising adds overlapping patches in the order its threads
                    # finish: its last bits would depend on the threads, so it keeps to one.
                    n_threads=threads if scan.profile == Scan.Profile.STANDARD else 1,
                    preview_languages=preview_languages(),
                )
                outcome = run_pipeline(
                    dwi_path,
                    bval_path,
                    bvec_path,
                    out_dir,
                    pipeline_settings,
                    labels_path=labels_path,
                    label_names=scan.label_names or None,
                    progress=ProgressRecorder(attempt, beating),
                )
                acquisition = comparability.acquisition_of(scan, bval_path)
                for name, path in {
                    **outcome.maps,
                    **{f"preview_{k}": v for k, v in outcome.previews.items()},
                    "results": outcome.results_json,
                }.items():
                    written.put(name, path)
            _store_result(scan, attempt, outcome, written.files, result_folder, written.checksums, acquisition)
            written.keep()
    except claims.ClaimLost:
        log.warning("scan %s: attempt %s on %s stopped, another attempt owns the scan", scan_id, attempt.number, worker)
        return None
    except (DiffusionInputError, storage.StoredFileError) as error:
        _end(
            attempt,
            Scan.Status.FAILED,
            detail=error.message,
            error=error.message,
            traceback=traceback.format_exc(),
        )
        return None
    except TRANSIENT_ERRORS as error:
        try:
            _end_transient(attempt, error, final)
        except TRANSIENT_ERRORS:  # the database is away: the sweep requeues the scan once its heartbeat is stale
            log.warning("scan %s: attempt %s could not be released", scan_id, attempt.number)
        raise
    except Exception as error:
        _end(
            attempt,
            Scan.Status.FAILED,
            detail=type(error).__name__,
            error=_(
                "Processing failed unexpectedly; an administrator can see the details. "
                "Reprocess the scan or contact the registry team."
            ),
            traceback=traceback.format_exc(),
        )
        raise
    finally:
        written.close()
    comparability.comparability_refresh(scan.visit.patient_id)
    regions.after_processing(Scan.objects.select_related("visit").get(pk=scan_id))
    transaction.on_commit(lambda: atlas.dispatch(scan_id))
    return scan_id


@transaction.atomic
def _store_result(scan, attempt, outcome, files, folder, checksums=None, acquisition=None):
    """Store the attempt's result, if the attempt still owns the scan (else ClaimLost, nothing stored)."""
    claims.release(attempt, Scan.Status.DONE, stage="done", progress=100)
    if acquisition is not None:
        Scan.objects.filter(pk=scan.pk).update(acquisition=acquisition)
    summary = outcome.summary or {}
    DiffusionResult.objects.filter(scan=scan, is_current=True).update(is_current=False)
    result = DiffusionResult.objects.create(
        scan=scan,
        is_current=True,
        folder=folder,
        files=files,
        checksums=checksums or {},
        qc=outcome.qc,
        summary=summary,
        provenance=outcome.provenance,
        fa_mean=summary.get("fa_mean"),
        fa_median=summary.get("fa_median"),
        fa_wm_mean=summary.get("wm_fa_mean"),
        md_mean=summary.get("md_mean"),
        qc_passed=outcome.qc.get("overall") == "pass",
    )
    if scan.labels:
        _replace_regions(scan, result, outcome.rois, None)
    return result


def _end_transient(attempt, error, final):
    """A transient failure: queued again while the task retries; failed once retries run out."""
    if final:
        _end(
            attempt,
            Scan.Status.FAILED,
            detail=type(error).__name__,
            error=_("Processing failed repeatedly (%(error)s); reprocess the scan later or contact the registry team.")
            % {"error": type(error).__name__},
            traceback=traceback.format_exc(),
        )
    else:
        _end(
            attempt,
            Scan.Status.QUEUED,
            detail=gettext_noop("retrying after %(error)s"),
            params={"error": type(error).__name__},
            error="",
            dispatched_at=timezone.now(),
        )


def scans_sweep():
    """Queue again the scans whose attempt was lost and send every queued scan the broker may not
    hold (never sent, or sent long ago). Returns the ids of the scans whose attempt was lost."""
    requeued, to_send = claims.sweep()
    for scan_id in to_send:
        dispatch(scan_id)
    return requeued


def scan_reprocess(scan, actor, profile=None, fit_method=None):
    """Queue the scan again, maybe with other parameters; the earlier results stay, not current.

    Accepted once: of simultaneous requests, the conditional update lets one through and the others
    are refused (RecordBusy) because the scan is queued by then.
    """
    with transaction.atomic():
        now = timezone.now()
        accepted = Scan.objects.filter(pk=scan.pk, status__in=[Scan.Status.DONE, Scan.Status.FAILED]).update(
            status=Scan.Status.QUEUED,
            status_changed_at=now,
            claim="",
            progress=0,
            stage="",
            attempts=0,
            dispatched_at=None,
        )
        if not accepted:
            raise registry_services.RecordBusy(_("The scan is already being processed."))
        fields = {}
        if profile:
            fields["profile"] = profile
        if fit_method:
            fields["fit_method"] = fit_method
        scan = registry_services.record_update(scan, actor, scan.version, **fields) if fields else scan
        claims.record_event(
            scan.pk,
            Scan.Status.QUEUED,
            detail=gettext_noop("reprocessing requested by %(user)s"),
            params={"user": str(actor)},
        )
    transaction.on_commit(lambda: dispatch(scan.pk, first=True))
    return scan


@transaction.atomic
def scan_review(scan, actor, expected_version, usable, reason):
    """A radiologist marks the scan usable or not, with a reason (required when not usable); a baseline
    scan marked unusable is no longer what the patient's follow-ups are compared with."""
    scan = registry_services.record_update(
        scan,
        actor,
        expected_version,
        usable=usable,
        usable_reason=reason or "",
        reviewed_by=actor,
        reviewed_at=timezone.now(),
    )
    comparability.comparability_refresh(scan.visit.patient_id)
    return scan


def labels_apply(scan, actor, labels_upload, names):
    """Attach a label image (integer NIfTI on the scan's grid) with region names to the scan.

    If the scan has maps, FA and MD per region are computed at once into its ROI measurements;
    otherwise when it is processed. Every later reprocessing measures the regions again.
    Earlier label-mask measurements are replaced; manual ones stay. Returns the measurements.
    """
    _refuse_empty(labels=labels_upload)
    try:
        label_names = parse_label_names(names) if names else {}
    except DiffusionInputError as error:
        raise _field_error(error) from None
    known = set(Region.objects.filter(code__in=label_names.values()).values_list("code", flat=True))
    for label, code in sorted(label_names.items()):
        if code not in known:
            problem = _("Label %(label)s: %(problem)s") % {"label": label, "problem": unknown_region(code)}
            raise ValidationError({"names": [problem]})
    with storage.staging_folder() as folder:
        suffix = ".nii.gz" if (labels_upload.name or "").lower().endswith(".gz") else ".nii"
        path, sha = stage_upload(labels_upload, folder, "labels" + suffix)
        try:
            labels = load_labels(path, tuple(scan.shape[:3]), np.asarray(scan.affine) if scan.affine else None)
        except DiffusionInputError as error:
            sent = _sent_name(labels_upload)
            raise _field_error(error, {path.name: sent}, sent=sent) from None
        result = scan.current_result
        try:
            stats = _region_stats(result, labels, label_names, folder) if result else None
        except (OSError, storage.StoredFileError):
            missing = _(
                "The scan's maps are missing from storage or damaged; reprocess the scan, then upload the labels again."
            )
            raise ValidationError({"labels": [missing]}) from None
        if stats is not None and not stats:
            raise ValidationError(
                {
                    "labels": [
                        _("No region of the label image falls inside the brain mask (all voxels are 0 or outside).")
                    ]
                }
            )
        with transaction.atomic():
            try:
                stored = storage.put(f"{scan_folder(scan.pk)}/labels/{sha[:12]}{suffix}", path).name
            except storage.StoredFileError as error:
                raise ValidationError({"labels": [error.message]}) from None
            Scan.objects.filter(pk=scan.pk).update(
                labels=stored, label_names={str(k): v for k, v in label_names.items()}, labels_at=timezone.now()
            )
            RegionCarry.objects.filter(scan=scan).delete()  # regions drawn on the scan replace carried ones
            if result:
                regions.after_labels(scan)
            return _replace_regions(scan, result, stats, actor) if result else []


def _region_stats(result, labels, label_names, folder):
    """Region statistics of `labels` on a stored result's FA, MD (AD, RD), inside its brain mask."""
    maps, _affine = storage.result_maps(result, ("fa", "md", "mask", "ad", "rd"), folder)
    extra = {"ad": maps.get("ad"), "rd": maps.get("rd")}
    stats = region_stats(labels, maps["fa"], maps["md"], mask=maps["mask"] > 0, label_names=label_names, **extra)
    return [row for row in stats if row["voxels"]]


def unknown_region(code):
    """The message for a region code that is not in the vocabulary, listing the valid ones."""
    return _("Unknown region code %(code)s; use one of: %(codes)s.") % {
        "code": json.dumps(str(code)),
        "codes": ", ".join(Region.objects.values_list("code", flat=True)),
    }


def _region_fields(row, regions):
    """The region of a measured label: its vocabulary entry, or (names from before the vocabulary)
    the text typed, or nothing for a label left unnamed."""
    name = str(row["name"])
    if name in regions:
        return {"region": regions[name], "region_text": ""}
    return {"region": None, "region_text": "" if name == f"label {row['label']}" else name[:100]}


def _replace_regions(scan, result, stats, actor):
    """Label-mask measurements of the scan := `stats` (rows of imaging.dti.region_stats)."""
    RoiMeasurement.objects.filter(scan=scan, source=RoiMeasurement.Source.LABEL_MASK).delete()
    regions = Region.objects.in_bulk([str(row["name"]) for row in stats or ()], field_name="code")
    created = []
    for row in stats or ():
        if not row.get("voxels"):
            continue
        roi = RoiMeasurement.from_stats(
            scan,
            result,
            row,
            **_region_fields(row, regions),
            source=RoiMeasurement.Source.LABEL_MASK,
            measured_by=actor,
        )
        roi.full_clean()
        roi._history_user = actor
        roi.save()
        created.append(roi)
    return created
