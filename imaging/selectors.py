"""Reads of imaging for the course read model: each visit's scans and the one scan that counts for it."""

from dataclasses import dataclass

from django.db.models import Count, Exists, F, OuterRef, Q
from django.db.models.fields.json import KT

from imaging.models import DiffusionResult, Region, RegionCarry, RoiMeasurement, Scan
from registry.course import FA_WHITE_MATTER, Measure, VisitImaging
from registry.lookups import Ids

RESULT_FIELDS = ("pk", "scan_id", "fa_mean", "fa_wm_mean", "md_mean", "qc_passed", "qc__overall")
# The summary measures of a result, as the course and research tables name them.
SUMMARY_MEASURES = (
    (FA_WHITE_MATTER, "fa", "", "fa_wm_mean"),
    ("FA whole brain", "fa", "", "fa_mean"),
    ("MD whole brain", "md", "mm²/s", "md_mean"),
)
SUMMARY_NAMES = frozenset(name for name, _kind, _unit, _key in SUMMARY_MEASURES)


def counts_for_visit(scan, result, qc_overall, *, usable_only=False):
    """The rule for the scan that counts, applied to one scan (newest first):

    it has a current result and a radiologist has not marked it unusable (with ``usable_only``: has
    marked it usable). A result whose QC failed (one that cannot be right) counts only once a
    radiologist has explicitly marked the scan usable. A scan being reprocessed keeps its current
    result, so it keeps counting until the new result replaces it.
    """
    if result is None:
        return False
    if usable_only or qc_overall == "fail":
        return scan.usable is True
    return scan.usable is not False


@dataclass(slots=True, eq=False)
class ScanState:
    """A scan as the course lists it (a visit's scans are read by the hundred for a cohort, so not as
    model instances): its status, the radiologist's review, and its current result's FA and MD."""

    pk: int
    visit_id: int
    status: str
    usable: bool | None
    comparable: bool | None = None  # acquired like the baseline scan (None: nothing to compare with)
    comparability_override: bool = False
    current_summary: dict | None = None  # fa_mean, fa_wm_mean, md_mean of the current result, or None

    @property
    def counts_in_change(self):
        """Whether the scan's measures may be compared with the baseline's: acquired alike (or nothing to
        compare with), or included by a radiologist despite the differences."""
        return self.comparable is not False or self.comparability_override

    def get_status_display(self):
        return Scan.Status(self.status).label


def visit_imaging(visit_ids, *, usable_only=False, names=None):
    """``{visit_id: VisitImaging}`` for the visits that have scans; three queries for any number of visits.

    Each scan (a ScanState) carries ``current_summary``: its current result's FA and MD (a dict), or None.
    ``names``: the measures read (e.g. ``{"FA white matter", "FA cst-l"}``), None for every one; the scans and
    the one that counts are the same either way.
    """
    rows = Scan.objects.filter(visit_id__any=Ids(visit_ids)).order_by("-created_at", "-pk")
    scan_list = [
        ScanState(*row)
        for row in rows.values_list("pk", "visit_id", "status", "usable", "comparable", "comparability_override")
    ]
    results = {}
    scan_ids = Ids(scan.pk for scan in scan_list)
    current = DiffusionResult.objects.filter(scan_id__any=scan_ids, is_current=True).order_by()
    # The QC verdict as text: no JSON to decode per scan.
    summaries = current.values_list("pk", "scan_id", "fa_mean", "fa_wm_mean", "md_mean", "qc_passed", KT("qc__overall"))
    for row in summaries:
        results[row[1]] = dict(zip(RESULT_FIELDS, row))
    by_visit = {}
    for scan in scan_list:
        imaging = by_visit.get(scan.visit_id)
        if imaging is None:
            imaging = by_visit[scan.visit_id] = VisitImaging()
        imaging.scans.append(scan)
        result = scan.current_summary = results.get(scan.pk)
        if imaging.counted is None and counts_for_visit(
            scan, result, result and result["qc__overall"], usable_only=usable_only
        ):
            imaging.counted, imaging.qc_passed = scan, result["qc_passed"]
            imaging.comparable = scan.counts_in_change
            source = f"scan {scan.pk}"
            imaging.measures = [
                Measure(name, kind, unit, result[key], source)
                for name, kind, unit, key in SUMMARY_MEASURES
                if result[key] is not None and (names is None or name in names)
            ]
    _add_regions(by_visit, results, names)
    return by_visit


def measures_in_full(imagings):
    """``{name: kind}`` of every measure the scans that count carry (those of ``imagings``, VisitImaging of
    visit_imaging read with any ``names``): what visit_imaging gives them with every name, the regions found
    by one query in the database rather than by reading every region's measurement of every scan."""
    counted = {imaging.counted.pk: imaging.counted for imaging in imagings if imaging.counted is not None}
    found = {}
    for name, kind, _unit, key in SUMMARY_MEASURES:
        if any(scan.current_summary[key] is not None for scan in counted.values()):
            found[name] = kind
    # Grouped by the region's id, its code read apart: joining the vocabulary here misleads the planner.
    with_md = dict(_regions_counted(counted).order_by().values_list("region_id").annotate(with_md=Count("md")))
    for region_id, region in Region.objects.filter(pk__in=sorted(with_md)).values_list("pk", "code"):
        found[f"FA {region}"] = "fa"
        if with_md[region_id]:
            found[f"MD {region}"] = "md"
    return found


def _regions_counted(scan_ids):
    """The region measurements _add_regions keeps of the scans ``scan_ids`` (each counting for its visit): on
    the scan's current result (or on none), and from the atlas only where the scan has no other of the region."""
    rois = trusted_rois(RoiMeasurement.objects.filter(scan_id__any=Ids(scan_ids), region__isnull=False))
    own = trusted_rois(RoiMeasurement.objects.filter(scan_id=OuterRef("scan_id"), region_id=OuterRef("region_id")))
    own = own.exclude(source=RoiMeasurement.Source.ATLAS)
    on_current = Q(result__isnull=True) | Q(result__is_current=True, result__scan_id=F("scan_id"))
    return rois.filter(on_current).exclude(Q(source=RoiMeasurement.Source.ATLAS) & Exists(own))


def trusted_rois(rois):
    """Leaves out regions carried from another scan that a radiologist rejected, and those whose
    registration was flagged (similarity below the threshold) until a radiologist accepts them."""
    return rois.exclude(carry__decision=RegionCarry.Decision.REJECTED).exclude(
        Q(carry__flagged=True) & ~Q(carry__decision=RegionCarry.Decision.ACCEPTED)
    )


def _add_regions(by_visit, results, names=None):
    """FA and MD per region of each counted scan (measured on its current result: drawn on it or carried
    from another scan of the patient, see trusted_rois; or typed by a radiologist), named by the region's
    code; a label the label image left unnamed is not a region and is left out. ``names``: the measures
    wanted (None: every one)."""
    counted = {imaging.counted.pk: imaging for imaging in by_visit.values() if imaging.counted is not None}
    rois = trusted_rois(RoiMeasurement.objects.filter(scan_id__any=Ids(counted))).order_by("pk")
    if names is not None:
        # "FA cst-l", "MD cst-l": a region's code follows its measure's prefix (codes have no spaces).
        regions = sorted(
            {name.split(" ", 1)[1] for name in names if name.startswith(("FA ", "MD ")) and name not in SUMMARY_NAMES}
        )
        if not regions:
            return
        rois = rois.filter(region__code__in=regions)
    rows = rois.filter(region__isnull=False).values_list("scan_id", "result_id", "region__code", "fa", "md", "source")
    # A region measured on the scan's own regions (drawn, carried or typed) is not measured again from the atlas.
    own = {(scan_id, region) for scan_id, _r, region, _f, _m, source in rows if source != RoiMeasurement.Source.ATLAS}
    for scan_id, result_id, region, fa, md, source in rows:
        if result_id is not None and result_id != results[scan_id]["pk"]:
            continue  # measured on an earlier result of the scan
        if source == RoiMeasurement.Source.ATLAS and (scan_id, region) in own:
            continue
        imaging, source = counted[scan_id], f"scan {scan_id}"
        if names is None or f"FA {region}" in names:
            imaging.measures.append(Measure(f"FA {region}", "fa", "", fa, source))
        if md is not None and (names is None or f"MD {region}" in names):
            imaging.measures.append(Measure(f"MD {region}", "md", "mm²/s", md, source))
