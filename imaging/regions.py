"""Regions drawn once, measured everywhere: a patient's label image carried to their other scans.

The scan whose label image was attached last is where the patient's regions are drawn. Every other
processed scan of the patient without a label image of its own gets them by registering its FA to
that scan's FA (imaging.dti.register); each carried region is measured like a drawn one. A
registration whose similarity is below the threshold is stored flagged; a radiologist accepts or
rejects the carried regions, and rejected ones count nowhere (imaging.selectors).
"""

import logging

import nibabel as nib
import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from imaging import storage
from imaging.dti import RegistrationSettings, carry_labels, load_labels, region_stats, register_fa, sha256_file
from imaging.models import DiffusionResult, Region, RegionCarry, RoiMeasurement, Scan
from registry import services as registry_services

log = logging.getLogger(__name__)


def min_similarity():
    """Below this similarity of the registered FA maps, carried regions are flagged (settings)."""
    return float(settings.IMAGING_CARRY_MIN_SIMILARITY)


def drawn_regions_scan(patient_id):
    """The patient's scan whose label image was attached last and that has a current result, or None."""
    scans = Scan.objects.filter(visit__patient_id=patient_id, labels_at__isnull=False).exclude(labels="")
    for scan in scans.order_by("-labels_at", "-pk"):
        if scan.current_result is not None:
            return scan
    return None


def carry_targets(source):
    """The patient's other processed scans that have no label image of their own."""
    return (
        Scan.objects.filter(visit__patient_id=source.visit.patient_id, status=Scan.Status.DONE, labels="")
        .exclude(pk=source.pk)
        .filter(results__is_current=True)
        .order_by("pk")
    )


def dispatch_carry(scan_ids):
    """Queue the carrying of the patient's regions to each scan (a task per scan: registration takes seconds)."""
    from celery import current_app
    from kombu.exceptions import KombuError

    for scan_id in scan_ids:
        try:  # by name: imaging.tasks builds on this module, not the other way round
            current_app.signature("imaging.tasks.carry_regions", args=(scan_id,)).delay()
        except (KombuError, OSError) as error:  # the broker is away; the next labelling or processing carries again
            log.warning("scan %s: regions not carried, the queue did not answer: %s", scan_id, error)


def after_labels(scan):
    """Once the transaction commits: the patient's other processed scans get the regions drawn on `scan`."""
    targets = list(carry_targets(scan).values_list("pk", flat=True))
    transaction.on_commit(lambda: dispatch_carry(targets))


def after_processing(scan):
    """Once the transaction commits: a newly processed scan gets the patient's drawn regions; a newly
    processed scan that holds them passes them to the patient's other scans."""
    if not scan.labels:
        transaction.on_commit(lambda: dispatch_carry([scan.pk]))
    elif (drawn := drawn_regions_scan(scan.visit.patient_id)) is not None and drawn.pk == scan.pk:
        after_labels(scan)


def regions_carry_to(scan_id):
    """Carry the patient's drawn regions to the scan and measure them; returns the RegionCarry or None
    (nothing to carry: no drawn regions, the scan has its own, or it has no current result)."""
    scan = Scan.objects.select_related("visit").get(pk=scan_id)
    if scan.labels or scan.status != Scan.Status.DONE:
        return None
    source = drawn_regions_scan(scan.visit.patient_id)
    result = scan.current_result
    if source is None or source.pk == scan.pk or result is None:
        return None
    source_result = source.current_result

    with storage.staging_folder() as folder:
        (folder / "scan").mkdir()
        (folder / "source").mkdir()
        maps, affine = storage.result_maps(result, ("fa", "md", "mask", "ad", "rd"), folder / "scan")
        source_maps, source_affine = storage.result_maps(source_result, ("fa",), folder / "source")
        labels = _source_labels(source, source_maps["fa"].shape, source_affine, folder)
        mask = maps["mask"] > 0
        registration = register_fa(
            maps["fa"], affine, source_maps["fa"], source_affine, static_mask=mask, settings=RegistrationSettings()
        )
        carried = carry_labels(labels, registration)
        stored = _put_carried_labels(carried, affine, result, folder)
    names = {int(k): v for k, v in (source.label_names or {}).items()}
    stats = region_stats(
        carried, maps["fa"], maps["md"], mask=mask, label_names=names, ad=maps.get("ad"), rd=maps.get("rd")
    )
    try:
        carry = _store_carry(
            scan, result, source, source_result, registration, [row for row in stats if row["voxels"]], stored
        )
    except BaseException:
        storage.delete_quietly([stored.name])
        raise
    if carry is None:
        storage.delete_quietly([stored.name])
    return carry


# The carried label image among the files of the scan's result (shown over the FA in the viewer).
CARRIED_LABELS = "carried_regions"


def _put_carried_labels(carried, affine, result, folder):
    """Store the carried label image, on the scan's grid, in the result's folder (with its sha256)."""
    path = folder / "carried_regions.nii.gz"
    image = nib.Nifti1Image(np.asarray(carried, np.int16), np.asarray(affine, float))
    image.header.set_xyzt_units("mm")
    nib.save(image, str(path))
    digest = sha256_file(path)
    return storage.put(f"{result.folder}/carried_regions_{digest[:12]}.nii.gz", path)


def _source_labels(source, shape, affine, folder):
    """The source scan's label image on its own grid (resampled there if drawn on another grid)."""
    target = folder / ("labels.nii.gz" if source.labels.name.lower().endswith(".gz") else "labels.nii")
    with source.labels.storage.open(source.labels.name, "rb") as src, open(target, "wb") as dst:
        dst.write(src.read())
    return load_labels(target, tuple(shape), np.asarray(affine))


@transaction.atomic
def _store_carry(scan, result, source, source_result, registration, stats, stored):
    """Replace the scan's carried regions with these, unless the scan's result changed meanwhile; the
    carried label image `stored` becomes the result's file CARRIED_LABELS (an earlier one is deleted)."""
    result = DiffusionResult.objects.select_for_update().filter(pk=result.pk, is_current=True).first()
    if result is None:
        return None  # reprocessed meanwhile: its end carries again
    earlier = result.files.get(CARRIED_LABELS)
    result.files = {**result.files, CARRIED_LABELS: stored.name}
    result.checksums = {**(result.checksums or {}), CARRIED_LABELS: stored.sha256}
    result.save(update_fields=["files", "checksums"])
    if earlier and earlier != stored.name:
        storage.delete_after_commit([earlier])
    RegionCarry.objects.filter(scan=scan).delete()
    carry = RegionCarry.objects.create(
        scan=scan,
        result=result,
        source_scan=source,
        source_result=source_result,
        similarity=registration.similarity,
        flagged=registration.similarity < min_similarity(),
        transform=registration.provenance(),
    )
    regions = Region.objects.in_bulk([str(row["name"]) for row in stats], field_name="code")
    for row in stats:
        region = regions.get(str(row["name"]))
        roi = RoiMeasurement.from_stats(
            scan, result, row, region=region, source=RoiMeasurement.Source.CARRIED, source_scan=source, carry=carry
        )
        roi.full_clean()
        roi.save()
    return carry


@transaction.atomic
def carried_regions_decide(scan, actor, decision, carry_id=None):
    """A radiologist accepts or rejects the regions carried to ``scan`` (its newest carry); rejected ones
    count nowhere. ``carry_id``, when given, is the carry the person looked at: if the regions have been
    carried again since, nothing is decided. Kept in the carry's history; refused on a signed patient."""
    if decision not in (RegionCarry.Decision.ACCEPTED, RegionCarry.Decision.REJECTED):
        raise ValidationError({"decision": [_("Choose accepted or rejected.")]})
    carry = RegionCarry.objects.select_for_update().filter(scan=scan).order_by("-created_at", "-id").first()
    if carry is None:
        raise ValidationError({"decision": [_("No regions were carried to this scan.")]})
    if carry_id not in (None, "") and str(carry_id) != str(carry.pk):
        raise ValidationError(
            {"carry": [_("The regions were carried again since this page was shown; look at them again.")]}
        )
    registry_services.refuse_if_locked(scan)
    carry.decision, carry.decided_by, carry.decided_at = decision, actor, timezone.now()
    carry._history_user = actor
    carry.save(update_fields=["decision", "decided_by", "decided_at"])
    return carry


__all__ = [
    "carried_regions_decide",
    "carry_targets",
    "dispatch_carry",
    "drawn_regions_scan",
    "min_similarity",
    "regions_carry_to",
]
