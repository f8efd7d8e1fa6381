"""Diffusion scans of a visit, their processing status, FA results and region measurements."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from registry.models import ClinicalRecord, Visit, check_not_future


def scan_folder(scan_id):
    return f"scans/{scan_id}"


class Scan(ClinicalRecord):
    patient_path = "visit__patient"

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    class Profile(models.TextChoices):
        STANDARD = "standard", _("Standard (mask, tensor fit, maps)")
        FULL = "full", _("Full (denoising, Gibbs unringing, motion correction first)")

    class FitMethod(models.TextChoices):
        WLS = "WLS", _("Weighted least squares")
        OLS = "OLS", _("Ordinary least squares")

    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="scans", verbose_name=_("visit"))
    acquisition_date = models.DateField(_("acquisition date"))
    # Input files; a DICOM upload keeps the zip and the NIfTI/bval/bvec converted from it.
    dwi = models.FileField(_("diffusion NIfTI"), max_length=255)
    bval = models.FileField(_("b-values"), max_length=255)
    bvec = models.FileField(_("b-vectors"), max_length=255)
    dicom_zip = models.FileField(_("DICOM zip"), max_length=255, blank=True)
    dwi_sha256 = models.CharField(max_length=64)
    bval_sha256 = models.CharField(max_length=64)
    bvec_sha256 = models.CharField(max_length=64)
    dicom_sha256 = models.CharField(max_length=64, blank=True)
    fingerprint = models.CharField(
        max_length=64, help_text=_("sha256 over the uploaded files; the same upload twice is one scan.")
    )
    profile = models.CharField(
        _("processing profile"), max_length=16, choices=Profile.choices, default=Profile.STANDARD
    )
    fit_method = models.CharField(_("tensor fit"), max_length=8, choices=FitMethod.choices, default=FitMethod.WLS)
    shape = models.JSONField(_("image shape"), default=list)
    affine = models.JSONField(_("voxel-to-world affine"), default=list)
    labels = models.FileField(
        _("label image"),
        max_length=255,
        blank=True,
        help_text=_("Integer NIfTI on the scan's grid; its regions are measured at every run."),
    )
    # Label value -> region code (values typed before the vocabulary may remain as text).
    label_names = models.JSONField(_("region names"), default=dict, blank=True)
    # When the label image was attached: the patient's latest drawn regions are carried to their other scans.
    labels_at = models.DateTimeField(_("regions drawn at"), null=True, blank=True)

    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    stage = models.CharField(_("stage"), max_length=32, blank=True)
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    error = models.TextField(_("error"), blank=True, help_text=_("What went wrong, for people."))
    traceback = models.TextField(blank=True, help_text=_("For administrators."))
    attempts = models.PositiveSmallIntegerField(default=0)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    # The processing attempt that owns the scan: a token only its worker knows, that worker, and
    # the last sign of life from it. Only the owner of the claim may store a result.
    claim = models.CharField(max_length=32, blank=True)
    claimed_by = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # When the scan was last handed to the broker; empty while it could not be (broker unavailable).
    dispatched_at = models.DateTimeField(null=True, blank=True)

    usable = models.BooleanField(_("usable"), null=True, blank=True)
    usable_reason = models.CharField(_("reason"), max_length=300, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("reviewed by"),
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("uploaded by")
    )
    # How the scan was acquired (imaging.dti.acquisition), recorded when it is processed; for a DICOM
    # upload the scanner and timing are recorded at upload.
    acquisition = models.JSONField(_("acquisition"), default=dict, blank=True)
    # How it differs from the protocol and from the patient's baseline scan (imaging.comparability):
    # {"protocol": [differences], "baseline": [differences], "baseline_scan": id or None}.
    comparability = models.JSONField(_("differences in acquisition"), default=dict, blank=True)
    comparable = models.BooleanField(
        _("comparable with the baseline"),
        null=True,
        blank=True,
        help_text=_("Empty while there is no baseline scan to compare with."),
    )
    comparability_override = models.BooleanField(
        _("included in change analyses despite differences"),
        default=False,
        help_text=_("Set by a radiologist, with a reason, for a scan not acquired like the baseline."),
    )
    comparability_reason = models.CharField(_("reason for including it"), max_length=300, blank=True)
    comparability_override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    comparability_override_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords(
        excluded_fields=[
            "stage",
            "progress",
            "traceback",
            "status_changed_at",
            "affine",
            "claim",
            "claimed_by",
            "heartbeat_at",
            "dispatched_at",
            "acquisition",
            "comparability",
        ]
    )

    class Meta:
        verbose_name = _("diffusion scan")
        verbose_name_plural = _("diffusion scans")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["created_at"], name="scan_list_order")]
        constraints = [
            models.UniqueConstraint(
                fields=["visit", "fingerprint"],
                name="scan_unique_upload_per_visit",
                violation_error_message=_("This scan was already uploaded for this visit."),
            ),
            models.CheckConstraint(condition=Q(progress__lte=100), name="scan_progress_at_most_100"),
        ]

    def __str__(self):
        return _("Scan %(id)s of %(visit)s") % {"id": self.pk, "visit": self.visit}

    @property
    def owner_patient(self):
        return self.visit.patient

    @property
    def current_result(self):
        return self.results.filter(is_current=True).first()

    def clean(self):
        errors = {}
        check_not_future(self.acquisition_date, "acquisition_date", errors)
        if self.acquisition_date and self.visit_id and self.acquisition_date < self.visit.patient.date_of_birth:
            errors["acquisition_date"] = _("The acquisition date is before the patient's birth.")
        if self.usable is False and not self.usable_reason.strip():
            errors["usable_reason"] = _("Say why the scan is not usable (e.g. motion, artefact, wrong sequence).")
        if errors:
            raise ValidationError(errors)


class ScanStatusEvent(models.Model):
    """One step of a scan's processing: queued, running, done or failed, or an attempt lost (its
    worker died or stopped answering), when and on which worker."""

    LOST = "lost"
    STATUSES = [*Scan.Status.choices, (LOST, _("Attempt lost"))]

    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="status_events")
    status = models.CharField(max_length=16, choices=STATUSES)
    at = models.DateTimeField(auto_now_add=True)
    worker = models.CharField(max_length=200, blank=True)
    # The English message (a msgid) and its values, so each reader sees it in their own language.
    detail = models.CharField(max_length=500, blank=True)
    params = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.status} {self.at:%Y-%m-%d %H:%M:%S}"

    @property
    def text(self):
        """The detail in the reader's language."""
        if not self.detail:
            return ""
        message = gettext(self.detail)
        if not self.params:
            return message
        try:
            return message % self.params
        except (KeyError, TypeError, ValueError):
            return self.detail


class DiffusionResult(models.Model):
    """The maps, QC and summary of one processing run; a rerun adds a new current result and
    keeps the earlier ones (with their provenance)."""

    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="results")
    is_current = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    folder = models.CharField(max_length=255, help_text=_("Storage folder of the maps and previews."))
    files = models.JSONField(default=dict, help_text=_("Map or preview name -> storage path."))
    # Written with the files (imaging.storage): a file whose bytes no longer hash to this is damaged.
    checksums = models.JSONField(
        default=dict,
        blank=True,
        help_text=_("Map or preview name -> sha256 of the stored file, checked before it is served or exported."),
    )
    qc = models.JSONField(default=dict)
    summary = models.JSONField(default=dict)
    provenance = models.JSONField(default=dict)
    fa_mean = models.FloatField(null=True)
    fa_median = models.FloatField(null=True)
    fa_wm_mean = models.FloatField(null=True)
    md_mean = models.FloatField(null=True)
    qc_passed = models.BooleanField(default=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["scan"], condition=Q(is_current=True), name="result_one_current_per_scan"),
        ]

    def __str__(self):
        return _("Result of scan %(id)s") % {"id": self.scan_id}


class AcquisitionProtocol(models.Model):
    """How a site's diffusion scans are meant to be acquired; registry-admins set it in the admin.

    A protocol names its site, or none: the protocol of every site without one of its own. Of several,
    the newest applies. Empty fields are not checked.
    """

    name = models.CharField(_("name"), max_length=100)
    site = models.ForeignKey(
        "registry.Site",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="acquisition_protocols",
        verbose_name=_("site"),
        help_text=_("Empty: the protocol of every site that has none of its own."),
    )
    b_values = models.JSONField(
        _("b-values of the shells (s/mm²)"), default=list, blank=True, help_text=_("e.g. [1000], or [1000, 2000].")
    )
    b_value_tolerance = models.FloatField(_("b-value tolerance (s/mm²)"), default=50.0)
    min_directions = models.PositiveSmallIntegerField(
        _("minimum directions per shell"), null=True, blank=True, help_text=_("e.g. 30.")
    )
    voxel_size = models.JSONField(
        _("voxel size (mm)"), default=list, blank=True, help_text=_("Three numbers, e.g. [2, 2, 2].")
    )
    voxel_tolerance_mm = models.FloatField(_("voxel size tolerance (mm)"), default=0.1)
    matrix = models.JSONField(
        _("matrix"), default=list, blank=True, help_text=_("Voxels per axis, e.g. [128, 128, 60].")
    )
    manufacturer = models.CharField(_("manufacturer"), max_length=100, blank=True)
    model = models.CharField(_("scanner model"), max_length=100, blank=True)
    field_strength = models.FloatField(_("field strength (T)"), null=True, blank=True)
    repetition_time = models.FloatField(_("TR (ms)"), null=True, blank=True)
    echo_time = models.FloatField(_("TE (ms)"), null=True, blank=True)
    timing_tolerance_percent = models.FloatField(_("TR and TE tolerance (%)"), default=5.0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("acquisition protocol")
        verbose_name_plural = _("acquisition protocols")
        ordering = ["-updated_at", "-id"]

    def __str__(self):
        return self.name

    def clean(self):
        errors = {}
        if self.b_values and (not _numbers(self.b_values) or any(b <= 0 for b in self.b_values)):
            errors["b_values"] = _("Give a list of positive numbers, e.g. [1000].")
        if self.voxel_size and (not _numbers(self.voxel_size) or len(self.voxel_size) != 3):
            errors["voxel_size"] = _("Give three numbers in mm, e.g. [2, 2, 2].")
        if self.matrix and (
            not _numbers(self.matrix) or len(self.matrix) != 3 or any(int(n) != n for n in self.matrix)
        ):
            errors["matrix"] = _("Give three whole numbers, e.g. [128, 128, 60].")
        if errors:
            raise ValidationError(errors)

    def as_reference(self):
        """The protocol as imaging.dti.acquisition.compare_with_protocol reads it."""
        return {
            "b_values": self.b_values,
            "min_directions": self.min_directions,
            "voxel_size": self.voxel_size,
            "matrix": self.matrix,
            "manufacturer": self.manufacturer,
            "model": self.model,
            "field_strength": self.field_strength,
            "repetition_time": self.repetition_time,
            "echo_time": self.echo_time,
        }


def _numbers(value):
    return isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)


class Region(models.Model):
    """A region of interest of the controlled vocabulary (e.g. `cst-l`, the left corticospinal tract).

    ROI measurements and label images name regions by code, never by typed text, so the region of
    every measurement can be shown to research. Registry-admins add regions in the admin.
    """

    code = models.SlugField(_("code"), max_length=32, unique=True, help_text=_("Stable, e.g. cst-l; used in the API."))
    name_en = models.CharField(_("name (English)"), max_length=200)
    name_es = models.CharField(_("name (Spanish)"), max_length=200, blank=True)
    builtin = models.BooleanField(_("built in"), default=False, editable=False)

    class Meta:
        verbose_name = _("region")
        verbose_name_plural = _("regions")
        ordering = ["code"]

    def __str__(self):
        return f"{self.code}: {self.name}"

    @property
    def name(self):
        """The name in the active language (English when no translation was entered)."""
        return self.name_es if (get_language() or "").startswith("es") and self.name_es else self.name_en


class RegionCarry(models.Model):
    """Regions drawn on one scan of a patient carried to another of their scans by registering the
    FA maps: the transform found, how alike the maps became, and the radiologist's decision."""

    class Decision(models.TextChoices):
        PENDING = "pending", _("Not reviewed")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")

    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="carries", verbose_name=_("scan"))
    result = models.ForeignKey(DiffusionResult, on_delete=models.CASCADE, related_name="+")
    source_scan = models.ForeignKey(
        Scan, on_delete=models.CASCADE, related_name="+", verbose_name=_("regions drawn on scan")
    )
    source_result = models.ForeignKey(DiffusionResult, on_delete=models.CASCADE, related_name="+")
    similarity = models.FloatField(
        _("registration similarity"),
        help_text=_(
            "Correlation of this scan's FA with the registered FA of the scan the regions were drawn on "
            "(1 is a perfect match)."
        ),
    )
    flagged = models.BooleanField(
        _("registration below threshold"),
        default=False,
        help_text=_("The measurements are stored but not to be trusted unchecked."),
    )
    transform = models.JSONField(
        default=dict, help_text=_("How the scans were registered: method, affine, SyN, seconds.")
    )
    decision = models.CharField(_("decision"), max_length=16, choices=Decision.choices, default=Decision.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("carried regions")
        verbose_name_plural = _("carried regions")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"scan {self.source_scan_id} -> scan {self.scan_id}"


class RoiMeasurement(ClinicalRecord):
    patient_path = "scan__visit__patient"

    class Source(models.TextChoices):
        LABEL_MASK = "label-mask", _("Computed from a label image")
        CARRIED = "carried", _("Carried from another scan of the patient")
        ATLAS = "atlas", _("From the site's atlas")
        MANUAL = "manual", _("Typed by a radiologist")

    scan = models.ForeignKey(Scan, on_delete=models.PROTECT, related_name="rois", verbose_name=_("scan"))
    result = models.ForeignKey(DiffusionResult, on_delete=models.CASCADE, null=True, blank=True, related_name="rois")
    region = models.ForeignKey(
        Region,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("region"),
        help_text=_("From the region vocabulary; empty for a label the label image left unnamed."),
    )
    # What was typed before regions were a vocabulary, when it matched none; clinical roles only.
    region_text = models.CharField(_("region (as typed)"), max_length=100, blank=True)
    label = models.IntegerField(_("label value"), null=True, blank=True)
    fa = models.FloatField(_("FA"))
    fa_sd = models.FloatField(_("FA SD"), null=True, blank=True)
    fa_median = models.FloatField(_("FA median"), null=True, blank=True)
    md = models.FloatField(_("MD (mm²/s)"), null=True, blank=True)
    ad = models.FloatField(_("AD (mm²/s)"), null=True, blank=True)
    rd = models.FloatField(_("RD (mm²/s)"), null=True, blank=True)
    voxels = models.PositiveIntegerField(_("voxels"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.MANUAL)
    source_scan = models.ForeignKey(
        Scan,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("regions drawn on scan"),
        help_text=_("For carried regions: the scan the regions were drawn on."),
    )
    carry = models.ForeignKey(RegionCarry, on_delete=models.CASCADE, null=True, blank=True, related_name="rois")
    measured_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("ROI measurement")
        verbose_name_plural = _("ROI measurements")
        ordering = ["scan", "region__code", "label", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(fa__gte=0, fa__lte=1),
                name="roi_fa_0_to_1",
                violation_error_message=_("FA lies between 0 and 1."),
            ),
            models.CheckConstraint(
                condition=Q(md__isnull=True) | Q(md__gte=0, md__lte=0.01),
                name="roi_md_range",
                violation_error_message=_("MD is in mm²/s, between 0 and 0.01 (e.g. 0.0008)."),
            ),
        ]

    def __str__(self):
        return f"{self.region_label}: FA {self.fa:.3f}"

    @classmethod
    def from_stats(cls, scan, result, row, **fields):
        """An unsaved measurement of one label from a row of imaging.dti.region_stats."""
        return cls(
            scan=scan,
            result=result,
            label=row["label"],
            fa=row["fa_mean"],
            fa_sd=row.get("fa_sd"),
            fa_median=row.get("fa_median"),
            md=row.get("md_mean"),
            ad=row.get("ad_mean"),
            rd=row.get("rd_mean"),
            voxels=row["voxels"],
            **fields,
        )

    @property
    def region_label(self):
        """For clinical pages: the region's name, else the text typed or the label value."""
        if self.region_id:
            return self.region.name
        return self.region_text or _("label %(value)s") % {"value": self.label}

    @property
    def owner_patient(self):
        return self.scan.visit.patient

    def clean(self):
        errors = {}
        if self.fa is not None and not 0 <= self.fa <= 1:
            errors["fa"] = _("FA lies between 0 and 1.")
        if self.md is not None and not 0 <= self.md <= 0.01:
            errors["md"] = _("MD is in mm²/s, between 0 and 0.01 (e.g. 0.0008).")
        if errors:
            raise ValidationError(errors)
