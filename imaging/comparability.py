"""Comparable scans only: each scan's acquisition against the site's protocol and the patient's baseline scan.

A follow-up acquired otherwise than the baseline (another b-value, fewer directions, another voxel
size or matrix, another scanner, field strength, TR or TE) is flagged, and its measures take no part
in any change since baseline (registry.course.Course.change) unless a radiologist includes it, with
a reason. Differences from the protocol are shown in QC; they do not on their own make a follow-up
incomparable with a baseline acquired the same way.

The differences are worked out again whenever something they depend on changes: a scan of the
patient is processed or reviewed, or the protocol is saved.
"""

import json

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from imaging.dti.acquisition import Tolerances, acquisition_summary, compare_acquisitions, compare_with_protocol
from imaging.dti.gradients import read_bvals
from imaging.models import AcquisitionProtocol, Scan
from registry import services as registry_services
from registry.models import Patient, Visit

SCANNER_FIELDS = ("manufacturer", "model", "field_strength", "repetition_time", "echo_time")


def current_protocol(site_id):
    """The protocol that applies at a site: the newest saved for that site, else the newest saved for
    every site (no site named); None while registry-admins have set none."""
    newest = AcquisitionProtocol.objects.order_by("-updated_at", "-pk")
    return newest.filter(site_id=site_id).first() or newest.filter(site__isnull=True).first()


def tolerances(protocol):
    if protocol is None:
        return Tolerances()
    return Tolerances(
        b_value=protocol.b_value_tolerance,
        voxel_mm=protocol.voxel_tolerance_mm,
        timing_percent=protocol.timing_tolerance_percent,
    )


def acquisition_of(scan, bval_path):
    """The scan's acquisition summary from its b-values and grid, keeping the scanner recorded at upload."""
    scanner = {key: scan.acquisition.get(key) for key in SCANNER_FIELDS if (scan.acquisition or {}).get(key)}
    return acquisition_summary(read_bvals(bval_path), scan.shape, scan.affine, scanner)


def baseline_scan(patient_id):
    """The scan follow-ups are compared with: the newest processed scan of the patient's baseline visit
    that a radiologist has not marked unusable; None if there is none."""
    return (
        Scan.objects.filter(visit__patient_id=patient_id, visit__kind=Visit.Kind.BASELINE, status=Scan.Status.DONE)
        .exclude(usable=False)
        .filter(acquisition__has_key="shells")
        .order_by("-visit__date", "-created_at", "-pk")
        .first()
    )


def comparability_refresh(patient_id):
    """Work out again how each processed scan of the patient differs from the protocol and the baseline."""
    protocol = current_protocol(Patient.objects.values_list("site_id", flat=True).get(pk=patient_id))
    reference = protocol.as_reference() if protocol else None
    tol = tolerances(protocol)
    baseline = baseline_scan(patient_id)
    of_patient = Scan.objects.filter(visit__patient_id=patient_id)
    # A scan not processed yet (or failed) has no shells to compare: a DICOM upload's scanner alone is
    # no acquisition, and it is neither comparable nor not until the worker has read it.
    of_patient.exclude(status=Scan.Status.DONE).exclude(comparable=None).update(comparable=None, comparability={})
    scans = of_patient.filter(status=Scan.Status.DONE, acquisition__has_key="shells").select_related("visit")
    for scan in scans:
        to_protocol = compare_with_protocol(scan.acquisition, reference, tol) if reference else []
        compared = baseline is not None and scan.visit.kind != Visit.Kind.BASELINE
        to_baseline = compare_acquisitions(scan.acquisition, baseline.acquisition, tol) if compared else []
        comparability = {
            "protocol": to_protocol,
            "baseline": to_baseline,
            "baseline_scan": baseline.pk if compared else None,
            "protocol_name": protocol.name if protocol else "",
        }
        comparable = (not to_baseline) if compared else None
        # Each scan of the patient is worked out again when one is processed; only a changed one is
        # written (a write per scan of the patient per scan processed, each waiting for the row's lock).
        if scan.comparable is comparable and _as_stored(scan.comparability) == _as_stored(comparability):
            continue
        Scan.objects.filter(pk=scan.pk).update(comparability=comparability, comparable=comparable)


def _as_stored(value):
    """The JSON text of a value as the database keeps it (key order aside): a comparison that tells
    1 from 1.0 and True, unlike Python's =="""
    return json.dumps(value, sort_keys=True)


def protocol_saved():
    """Every patient's scans compared again with the protocol just saved."""
    processed = Scan.objects.filter(status=Scan.Status.DONE, acquisition__has_key="shells")
    patients = processed.values_list("visit__patient_id", flat=True).distinct()
    for patient_id in sorted(set(patients)):
        comparability_refresh(patient_id)


@transaction.atomic
def comparability_override_set(scan, actor, expected_version, include, reason):
    """A radiologist includes a scan not acquired like the baseline in change analyses (a reason is
    required), or leaves it out again. Kept in the scan's history."""
    reason = (reason or "").strip()
    if include and not reason:
        raise ValidationError(
            {"reason": [_("Say why this scan may be compared with the baseline despite the differences.")]}
        )
    return registry_services.record_update(
        scan,
        actor,
        expected_version,
        comparability_override=bool(include),
        comparability_reason=reason if include else "",
        comparability_override_by=actor,
        comparability_override_at=timezone.now(),
    )
