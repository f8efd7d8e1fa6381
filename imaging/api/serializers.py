"""API representations of scans, results and ROI measurements (identified and research)."""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from imaging.models import Region, RegionCarry, RoiMeasurement, Scan, ScanStatusEvent
from imaging.services import unknown_region
from registry.api.serializers import RecordSerializer, ResearchSerializer, VersionField, VisibleRelations
from registry.models import Visit


def media_url(request, name):
    url = reverse("media", args=[name])
    return request.build_absolute_uri(url) if request else url


class RegionField(serializers.SlugRelatedField):
    """A region of the vocabulary, given by its code (`cst-l`); an unknown code is refused by name."""

    def __init__(self, **kwargs):
        super().__init__(slug_field="code", **kwargs)

    def to_internal_value(self, data):
        region = self.get_queryset().filter(code=str(data)).first()
        if region is None:
            raise serializers.ValidationError(unknown_region(data))
        return region


class CarrySerializer(serializers.ModelSerializer):
    """How regions carried from another scan were registered, and the radiologist's decision."""

    class Meta:
        model = RegionCarry
        fields = ["id", "similarity", "flagged", "decision", "decided_at"]
        read_only_fields = fields


class RoiSerializer(RecordSerializer):
    region = RegionField(queryset=Region.objects.all())
    region_name = serializers.CharField(source="region.name", read_only=True, default=None)
    registration = CarrySerializer(source="carry", read_only=True, default=None)

    class Meta:
        model = RoiMeasurement
        fields = [
            "id",
            "version",
            "scan",
            "region",
            "region_name",
            "region_text",
            "label",
            "fa",
            "fa_sd",
            "fa_median",
            "md",
            "ad",
            "rd",
            "voxels",
            "source",
            "source_scan",
            "registration",
            "created_at",
        ]
        read_only_fields = [
            "id",
            "version",
            "region_text",
            "label",
            "fa_sd",
            "fa_median",
            "ad",
            "rd",
            "voxels",
            "source_scan",
            "created_at",
        ]

    def validate_source(self, value):
        if value != RoiMeasurement.Source.MANUAL:
            raise serializers.ValidationError(
                "Only manual measurements are typed; label-mask ones come from POST /api/v1/scans/{id}/labels/."
            )
        return value


class StatusEventSerializer(serializers.ModelSerializer):
    detail = serializers.CharField(source="text", read_only=True, help_text="In the language of the request.")

    class Meta:
        model = ScanStatusEvent
        fields = ["status", "at", "worker", "detail"]


class ScanSerializer(RecordSerializer):
    patient = serializers.IntegerField(source="visit.patient_id", read_only=True)
    site = serializers.CharField(source="visit.patient.site.code", read_only=True, help_text="The patient's site.")
    qc = serializers.SerializerMethodField()
    summary = serializers.SerializerMethodField()
    rois = RoiSerializer(many=True, read_only=True)
    maps = serializers.SerializerMethodField()
    maps_sha256 = serializers.SerializerMethodField()
    status_history = StatusEventSerializer(source="status_events", many=True, read_only=True)

    class Meta:
        model = Scan
        fields = [
            "id",
            "version",
            "visit",
            "patient",
            "site",
            "acquisition_date",
            "profile",
            "fit_method",
            "shape",
            "status",
            "stage",
            "progress",
            "error",
            "usable",
            "usable_reason",
            "acquisition",
            "comparable",
            "comparability",
            "comparability_override",
            "comparability_reason",
            "qc",
            "summary",
            "rois",
            "maps",
            "maps_sha256",
            "dwi_sha256",
            "bval_sha256",
            "bvec_sha256",
            "dicom_sha256",
            "status_history",
            "created_at",
        ]
        read_only_fields = fields

    def _result(self, scan):
        results = getattr(scan, "current_results", None)
        if results is not None:
            return results[0] if results else None
        return scan.current_result

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_qc(self, scan):
        result = self._result(scan)
        return result.qc if result else None

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_summary(self, scan):
        result = self._result(scan)
        if not result:
            return None
        return {
            "fa_mean": result.fa_mean,
            "fa_median": result.fa_median,
            "fa_wm_mean": result.fa_wm_mean,
            "md_mean": result.md_mean,
            "qc_passed": result.qc_passed,
            "pipeline_version": result.provenance.get("pipeline_version"),
        }

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_maps(self, scan):
        result = self._result(scan)
        if not result:
            return {}
        request = self.context.get("request")
        return {name: media_url(request, path) for name, path in result.files.items()}

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_maps_sha256(self, scan):
        """The sha256 of each file of `maps` as it was stored: the link answers 410 rather than serve
        other bytes, and a download can be checked against it."""
        result = self._result(scan)
        return dict(result.checksums) if result and isinstance(result.checksums, dict) else {}


class ResearchRoiSerializer(ResearchSerializer):
    kind, clinical, patient_field = "roi", RoiSerializer, None


class ResearchScanSerializer(ResearchSerializer):
    """Scans for research: no exact date, no file links or hashes, no uploader, no error text."""

    kind, clinical = "scan", ScanSerializer


class ScanUploadSerializer(VisibleRelations, serializers.Serializer):
    """multipart: `visit` and either `dwi` + `bval` + `bvec`, or `dicom_zip`. An empty file is refused
    by imaging.services, which names it."""

    visit = serializers.PrimaryKeyRelatedField(queryset=Visit.objects.all())
    dwi = serializers.FileField(required=False, allow_empty_file=True, help_text="4D NIfTI (.nii or .nii.gz)")
    bval = serializers.FileField(required=False, allow_empty_file=True, help_text="b-values (FSL text)")
    bvec = serializers.FileField(
        required=False, allow_empty_file=True, help_text="b-vectors (FSL 3×N rows, or N×3 columns)"
    )
    dicom_zip = serializers.FileField(
        required=False, allow_empty_file=True, help_text="zip of one DICOM diffusion series"
    )
    acquisition_date = serializers.DateField(required=False, help_text="defaults to the visit's date")
    profile = serializers.ChoiceField(choices=Scan.Profile.choices, default=Scan.Profile.STANDARD)
    fit_method = serializers.ChoiceField(choices=Scan.FitMethod.choices, default=Scan.FitMethod.WLS)


class LabelsUploadSerializer(serializers.Serializer):
    labels = serializers.FileField(
        allow_empty_file=True,
        help_text="integer NIfTI; on another grid (resolution, orientation) it is resampled through the affines",
    )
    names = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text='JSON map from label value to region code, such as {"1": "cst-l", "2": "cst-r"}',
    )


class CarryDecisionSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(
        choices=[RegionCarry.Decision.ACCEPTED, RegionCarry.Decision.REJECTED],
        help_text="accepted or rejected: the regions carried to this scan from the scan they were drawn on",
    )
    carry = serializers.IntegerField(
        required=False,
        help_text="The carry decided on (a carried ROI's `registration.id`); refused if the regions have "
        "been carried again since.",
    )


class ComparabilitySerializer(serializers.Serializer):
    include = serializers.BooleanField(
        help_text="true: compare this scan with the baseline despite differences in acquisition; false: leave it out"
    )
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=300, help_text="required when include is true"
    )
    version = VersionField()


class ReviewSerializer(serializers.Serializer):
    usable = serializers.BooleanField()
    reason = serializers.CharField(required=False, allow_blank=True, max_length=300)
    version = VersionField()


class ReprocessSerializer(serializers.Serializer):
    profile = serializers.ChoiceField(choices=Scan.Profile.choices, required=False)
    fit_method = serializers.ChoiceField(choices=Scan.FitMethod.choices, required=False)
