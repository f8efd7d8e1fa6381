"""What research may see of scans, their ROI measurements and their processing provenance."""

from django.utils.translation import gettext_lazy as _

from registry.deidentify import KEEP, Day, Each, Nested, ReleasedText, register

register(
    "roi",
    {
        "id": KEEP,
        "version": KEEP,
        "scan": KEEP,
        "region": KEEP,  # a code of the region vocabulary
        "region_name": KEEP,
        "region_text": ReleasedText("roimeasurement.region_text", _("ROI measurement: region as typed (legacy)")),
        "label": KEEP,
        "fa": KEEP,
        "fa_sd": KEEP,
        "fa_median": KEEP,
        "md": KEEP,
        "ad": KEEP,
        "rd": KEEP,
        "voxels": KEEP,
        "source": KEEP,
        "source_scan": KEEP,  # a scan id, as `scan` is
        "registration": Nested("roi-registration"),
    },
)
# Regions carried from another scan: how alike the registered maps are and the decision, not when it was taken.
register("roi-registration", {"similarity": KEEP, "flagged": KEEP, "decision": KEEP})
register(
    "scan-summary",
    {
        "fa_mean": KEEP,
        "fa_median": KEEP,
        "fa_wm_mean": KEEP,
        "md_mean": KEEP,
        "qc_passed": KEEP,
        "pipeline_version": KEEP,
    },
)
register(
    "scan",
    {
        "id": KEEP,
        "version": KEEP,
        "visit": KEEP,
        "patient": KEEP,
        "site": KEEP,  # the code of the patient's centre
        "profile": KEEP,
        "fit_method": KEEP,
        "shape": KEEP,
        "status": KEEP,
        "stage": KEEP,
        "progress": KEEP,
        "usable": KEEP,
        "usable_reason": ReleasedText("scan.usable_reason", _("Scan: reason it is not usable")),
        "qc": KEEP,
        "acquisition": KEEP,  # b-values, directions, grid, scanner make and timing: no identifier
        "comparable": KEEP,
        "comparability_override": KEEP,
        "summary": Nested("scan-summary"),
        "rois": Each("roi"),
        "acquisition_day": Day("acquisition_date"),
    },
)
# A processing run's provenance, copied into BIDS sidecars: software and parameters, no file
# paths, header text or times that could name a patient or date a scan.
register(
    "provenance",
    {
        "pipeline": KEEP,
        "pipeline_version": KEEP,
        "versions": KEEP,
        "parameters": KEEP,
        "gradients": KEEP,
        "runtime_s": KEEP,
    },
)
