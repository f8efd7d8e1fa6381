"""Django admin for scans, their results, status history, ROI measurements and carried regions."""

from django.contrib import admin
from django.db import transaction
from simple_history.admin import SimpleHistoryAdmin

from imaging import comparability
from imaging.models import (
    AcquisitionProtocol,
    DiffusionResult,
    Region,
    RegionCarry,
    RoiMeasurement,
    Scan,
    ScanStatusEvent,
)
from registry.admin import RecordAdmin


class StatusEventInline(admin.TabularInline):
    model = ScanStatusEvent
    extra = 0
    can_delete = False
    readonly_fields = ["status", "at", "worker", "detail"]


class ResultInline(admin.TabularInline):
    model = DiffusionResult
    extra = 0
    can_delete = False
    fields = ["created_at", "is_current", "fa_mean", "fa_wm_mean", "md_mean", "qc_passed"]
    readonly_fields = fields


@admin.register(Scan)
class ScanAdmin(RecordAdmin):
    list_display = ["id", "visit", "acquisition_date", "status", "progress", "usable", "profile", "fit_method"]
    list_filter = ["status", "usable", "profile"]
    search_fields = ["visit__patient__study_id"]
    readonly_fields = RecordAdmin.readonly_fields + [
        "dwi_sha256",
        "bval_sha256",
        "bvec_sha256",
        "dicom_sha256",
        "fingerprint",
        "shape",
        "status",
        "stage",
        "progress",
        "error",
        "traceback",
        "attempts",
        "status_changed_at",
        "acquisition",
        "comparability",
        "comparable",
    ]
    inlines = [StatusEventInline, ResultInline]


@admin.register(DiffusionResult)
class DiffusionResultAdmin(admin.ModelAdmin):
    list_display = ["scan", "created_at", "is_current", "fa_wm_mean", "qc_passed"]
    list_filter = ["is_current", "qc_passed"]
    readonly_fields = [
        "scan",
        "created_at",
        "folder",
        "files",
        "checksums",
        "qc",
        "summary",
        "provenance",
        "fa_mean",
        "fa_median",
        "fa_wm_mean",
        "md_mean",
        "qc_passed",
        "is_current",
    ]


@admin.register(RegionCarry)
class RegionCarryAdmin(admin.ModelAdmin):
    """Regions carried to a scan by registration: read-only here (radiologists decide on the scan page)."""

    list_display = ["scan", "source_scan", "similarity", "flagged", "decision", "created_at"]
    list_filter = ["flagged", "decision"]
    search_fields = ["scan__visit__patient__study_id"]
    readonly_fields = [
        "scan",
        "result",
        "source_scan",
        "source_result",
        "similarity",
        "flagged",
        "transform",
        "decision",
        "decided_by",
        "decided_at",
        "created_at",
    ]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    """The region vocabulary; registry-admins add regions, the built-in ones keep their codes."""

    list_display = ["code", "name_en", "name_es", "builtin"]
    search_fields = ["code", "name_en", "name_es"]

    def get_readonly_fields(self, request, obj=None):
        # Codes are what label images, the API and research tables name regions by.
        return ["code", "builtin"] if obj is not None and obj.builtin else ["builtin"]


@admin.register(RoiMeasurement)
class RoiMeasurementAdmin(RecordAdmin):
    list_display = ["scan", "region", "region_text", "fa", "md", "voxels", "source"]
    list_filter = ["source", "region"]
    search_fields = ["region__code", "region_text", "scan__visit__patient__study_id"]


@admin.register(AcquisitionProtocol)
class AcquisitionProtocolAdmin(SimpleHistoryAdmin):
    """The acquisition protocol scans are compared with; saving it compares every scan again."""

    list_display = ["name", "site", "b_values", "min_directions", "voxel_size", "field_strength", "updated_at"]
    list_filter = ["site"]

    def save_model(self, request, obj, form, change):
        obj._history_user = request.user
        super().save_model(request, obj, form, change)
        transaction.on_commit(comparability.protocol_saved)
