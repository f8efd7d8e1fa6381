"""API for scans (upload, status, results, labels, review, reprocess) and ROI measurements."""

import django_filters
from django.db.models import Prefetch
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from imaging import comparability, regions, services
from imaging.api import serializers
from imaging.models import DiffusionResult, RoiMeasurement, Scan
from registry.api.audit import AuditedReads
from registry.api.filters import RecordFilter
from registry.api.permissions import sees_identifiers
from registry.api.views import JSONOnlyForResearch, RecordViewSet, SiteScopedList
from registry.selectors import with_first_procedure


class CanChangeScans(BasePermission):
    def has_permission(self, request, view):
        return request.user.has_perm("imaging.change_scan")


class ScanFilter(RecordFilter):
    date_field = "acquisition_date"

    class Meta:
        model = Scan
        fields = ["visit", "status", "usable"]


class RoiFilter(RecordFilter):
    region = django_filters.CharFilter(field_name="region__code", help_text="A region code, e.g. cst-l.")

    class Meta:
        model = RoiMeasurement
        fields = ["scan", "source", "region"]


def scans_with_results():
    current = Prefetch("results", queryset=DiffusionResult.objects.filter(is_current=True), to_attr="current_results")
    return with_first_procedure(
        Scan.objects.select_related("visit__patient__site").prefetch_related(
            current,
            Prefetch("rois", queryset=RoiMeasurement.objects.select_related("region", "carry")),
            "status_events",
        )
    )


class ScanViewSet(
    SiteScopedList,
    AuditedReads,
    JSONOnlyForResearch,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """Diffusion scans. POST (multipart) `visit` with `dwi` + `bval` + `bvec`, or `dicom_zip`:
    checked at once (400 with the field at fault), then queued (202). The same files uploaded
    again for the visit answer 200 with the existing scan."""

    model = Scan
    queryset = Scan.objects.none()
    filterset_class = ScanFilter
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def records(self):
        return scans_with_results()

    def get_serializer_class(self):
        if self.action == "create":
            return serializers.ScanUploadSerializer
        if sees_identifiers(self.request.user) or getattr(self, "swagger_fake_view", False):
            return serializers.ScanSerializer
        return serializers.ResearchScanSerializer

    def _answer(self, scan, code):
        scan = self.get_queryset().get(pk=scan.pk)
        return Response(serializers.ScanSerializer(scan, context=self.get_serializer_context()).data, status=code)

    @extend_schema(
        request=serializers.ScanUploadSerializer,
        responses={202: serializers.ScanSerializer, 200: serializers.ScanSerializer},
    )
    def create(self, request, *args, **kwargs):
        upload = serializers.ScanUploadSerializer(data=request.data, context=self.get_serializer_context())
        upload.is_valid(raise_exception=True)
        data = dict(upload.validated_data)
        visit = data.pop("visit")
        scan, created = services.scan_register(visit, request.user, **data)
        response = self._answer(scan, status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)
        if not created:
            response.data["duplicate"] = True
        return response

    @extend_schema(request=serializers.LabelsUploadSerializer, responses={201: serializers.RoiSerializer(many=True)})
    @action(detail=True, methods=["post"], permission_classes=[CanChangeScans])
    def labels(self, request, pk=None):
        """Per-region FA, MD, AD and RD from an integer label image (on any grid: resampled onto the
        scan's); the regions are then carried to the patient's other processed scans."""
        scan = self.get_object()
        form = serializers.LabelsUploadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        rois = services.labels_apply(
            scan, request.user, form.validated_data["labels"], form.validated_data.get("names")
        )
        return Response(serializers.RoiSerializer(rois, many=True).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=serializers.CarryDecisionSerializer, responses=serializers.ScanSerializer)
    @action(detail=True, methods=["post"], url_path="carried-regions", permission_classes=[CanChangeScans])
    def carried_regions(self, request, pk=None):
        """Accept or reject the regions carried to this scan from the scan they were drawn on; rejected
        ones (and flagged ones until accepted) count in no table or statistic."""
        scan = self.get_object()
        form = serializers.CarryDecisionSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        regions.carried_regions_decide(scan, request.user, data["decision"], data.get("carry"))
        return self._answer(scan, status.HTTP_200_OK)

    @extend_schema(request=serializers.ReviewSerializer, responses=serializers.ScanSerializer)
    @action(detail=True, methods=["post"], permission_classes=[CanChangeScans])
    def review(self, request, pk=None):
        """Mark the scan usable or not (a reason is required when not)."""
        scan = self.get_object()
        form = serializers.ReviewSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        scan = services.scan_review(
            scan,
            request.user,
            form.validated_data["version"],
            form.validated_data["usable"],
            form.validated_data.get("reason", ""),
        )
        return self._answer(scan, status.HTTP_200_OK)

    @extend_schema(request=serializers.ComparabilitySerializer, responses=serializers.ScanSerializer)
    @action(detail=True, methods=["post"], permission_classes=[CanChangeScans])
    def comparability(self, request, pk=None):
        """Include a scan not acquired like the patient's baseline scan in change analyses (`include`
        true, with a `reason`), or leave it out again (`include` false)."""
        scan = self.get_object()
        form = serializers.ComparabilitySerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        scan = comparability.comparability_override_set(
            scan, request.user, data["version"], data["include"], data.get("reason", "")
        )
        return self._answer(scan, status.HTTP_200_OK)

    @extend_schema(request=serializers.ReprocessSerializer, responses={202: serializers.ScanSerializer})
    @action(detail=True, methods=["post"], permission_classes=[CanChangeScans])
    def reprocess(self, request, pk=None):
        """Process again, optionally with another profile or fit; earlier results are kept."""
        scan = self.get_object()
        form = serializers.ReprocessSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        scan = services.scan_reprocess(scan, request.user, **form.validated_data)
        return self._answer(scan, status.HTTP_202_ACCEPTED)


class RoiViewSet(RecordViewSet):
    """ROI measurements: computed from label images, or typed by a radiologist (`source` manual)."""

    model = RoiMeasurement
    queryset = RoiMeasurement.objects.none()
    serializer_class = serializers.RoiSerializer
    filterset_class = RoiFilter

    def records(self):
        return with_first_procedure(RoiMeasurement.objects.select_related("scan__visit__patient", "region"))

    def get_serializer_class(self):
        if sees_identifiers(self.request.user) or getattr(self, "swagger_fake_view", False):
            return serializers.RoiSerializer
        return serializers.ResearchRoiSerializer

    def perform_update(self, serializer):
        if serializer.instance.source == RoiMeasurement.Source.CARRIED:
            raise ValidationError(
                {
                    "source": [
                        _(
                            "This measurement is computed from regions carried from another scan; accept or "
                            "reject them on the scan, or draw regions on this scan instead of editing it."
                        )
                    ]
                }
            )
        if serializer.instance.source == RoiMeasurement.Source.LABEL_MASK:
            # Computed values follow the label image; typing over them would leave numbers no map supports.
            raise ValidationError(
                {
                    "source": [
                        _(
                            "This measurement is computed from the scan's label image; upload a "
                            "corrected label image instead of editing it."
                        )
                    ]
                }
            )
        super().perform_update(serializer)

    def perform_create(self, serializer):
        serializer.validated_data["measured_by"] = self.request.user
        serializer.validated_data.setdefault("source", RoiMeasurement.Source.MANUAL)
        super().perform_create(serializer)
