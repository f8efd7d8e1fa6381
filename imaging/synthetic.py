"""Imaging's part of the synthetic load cohort (registry.synthetic): a processed scan, with its current
result and two tract regions, at the baseline and at the 6-, 12- and 24-month follow-ups.

No image is made and no pipeline runs: the rows carry plausible FA and MD (white-matter FA of 0.36 to
0.46 at baseline, rising by about 0.002 a month after the procedure) and name files that do not exist.
"""

import random

from simple_history.utils import bulk_create_with_history

from imaging.models import DiffusionResult, Region, RoiMeasurement, Scan

SCANNED_MONTHS = (0, 6, 12, 24)  # 0: the baseline
REGIONS = ("cst-l", "cst-r")
PIPELINE = {"pipeline": "seed_load", "note": "synthetic result, no pipeline run"}


def add_processed_scans(planned, *, change_reason):
    """Scans with a current result for the planned visits at SCANNED_MONTHS; returns {what: how many}."""
    chosen = [item for item in planned if item.scheduled and item.months in SCANNED_MONTHS]
    scans = bulk_create_with_history(
        [_scan(item) for item in chosen], Scan, batch_size=2000, default_change_reason=change_reason
    )
    values = {}
    results = []
    for item, scan in zip(chosen, scans):
        rng = random.Random(item.rng_seed)
        wm = round(0.36 + 0.1 * rng.random() + 0.002 * item.months, 4)
        md = round(0.00085 - 0.000002 * item.months + rng.uniform(-2e-5, 2e-5), 7)
        values[scan.pk] = (wm, md, rng)
        results.append(
            DiffusionResult(
                scan=scan,
                is_current=True,
                folder=f"load/scan-{scan.pk}",
                qc={"overall": "pass"},
                summary={"fa_mean": round(wm - 0.1, 4), "fa_wm_mean": wm, "md_mean": md},
                provenance=PIPELINE,
                fa_mean=round(wm - 0.1, 4),
                fa_median=round(wm - 0.11, 4),
                fa_wm_mean=wm,
                md_mean=md,
                qc_passed=True,
            )
        )
    results = DiffusionResult.objects.bulk_create(results, batch_size=2000)
    regions = {region.code: region for region in Region.objects.filter(code__in=REGIONS)}
    rois = [
        RoiMeasurement(
            scan=result.scan,
            result=result,
            region=regions[code],
            label=label,
            fa=round(values[result.scan_id][0] + 0.12 + values[result.scan_id][2].uniform(-0.02, 0.02), 4),
            md=values[result.scan_id][1],
            voxels=400,
            source=RoiMeasurement.Source.LABEL_MASK,
        )
        for result in results
        for label, code in enumerate(REGIONS, start=3)
        if code in regions
    ]
    bulk_create_with_history(rois, RoiMeasurement, batch_size=2000, default_change_reason=change_reason)
    return {"scans": len(scans), "results": len(results), "regions measured": len(rois)}


def _scan(item):
    visit = item.visit
    name = f"load/visit-{visit.pk}"
    return Scan(
        visit=visit,
        acquisition_date=visit.date,
        dwi=f"{name}/dwi.nii.gz",
        bval=f"{name}/dwi.bval",
        bvec=f"{name}/dwi.bvec",
        dwi_sha256="0" * 64,
        bval_sha256="0" * 64,
        bvec_sha256="0" * 64,
        fingerprint=f"seed-load-{visit.pk}",
        status=Scan.Status.DONE,
        progress=100,
        usable=True if item.months == 0 or item.rng_seed % 3 else None,
    )
