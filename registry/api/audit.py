"""The access audit in the API: reads of identified records and research bulk reads are logged;
registry-admins read the log at /api/v1/access-log/."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.permissions import BasePermission

from registry import audit
from registry.api.permissions import sees_identifiers
from registry.models import AccessLog

VIEW_ACCESS_LOG = "registry.view_accesslog"


class AuditedReads:
    """For a viewset of records: a list or a record read by an account that sees identifiers is
    logged, naming the patients shown; a list read by a research account is logged as a research
    bulk read (as exports are), with its query. Records of no patient (instruments) are not logged."""

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        if response.status_code == 200:
            page = getattr(self.paginator, "page", None)
            records = list(page.object_list) if page is not None else []
            kind = audit.Kind.API_LIST if sees_identifiers(request.user) else audit.Kind.RESEARCH_LIST
            patients = audit.loaded_patients(self.get_queryset().model, records)
            self._record_access(request, kind, [record.pk for record in records], patients=patients)
        return response

    def retrieve(self, request, *args, **kwargs):
        response = super().retrieve(request, *args, **kwargs)
        if response.status_code == 200 and sees_identifiers(request.user):
            pk = self.kwargs[self.lookup_url_kwarg or self.lookup_field]
            self._record_access(request, audit.Kind.API_RECORD, [pk], object_id=pk)
        return response

    def _record_access(self, request, kind, pks, object_id="", patients=None):
        model = self.get_queryset().model
        if model.patient_path is None:
            return
        audit.record_access(
            request,
            kind,
            record_type=model._meta.model_name,
            object_id=object_id,
            patients=audit.patients_of(model, pks) if patients is None else patients,
        )


class CanReadAccessLog(BasePermission):
    """Registry-admins only, for every method: writes then answer 405, as nothing may write the log."""

    def has_permission(self, request, view):
        return request.user.has_perm(VIEW_ACCESS_LOG)


class AccessedPatientSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="patient_id")
    study_id = serializers.CharField()


class AccessLogSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="username")
    patients = AccessedPatientSerializer(many=True)

    class Meta:
        model = AccessLog
        fields = ["id", "at", "user", "kind", "record_type", "object_id", "patients", "path", "ip", "user_agent"]
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("patient", str, description="A patient's id or study ID."),
            OpenApiParameter("user", str, description="A user name."),
        ]
    )
)
class AccessLogViewSet(viewsets.ReadOnlyModelViewSet):
    """Who read which identified data, when and from where (newest first); registry-admins only."""

    queryset = AccessLog.objects.none()
    serializer_class = AccessLogSerializer
    permission_classes = [CanReadAccessLog]
    filter_backends = []

    def get_queryset(self):
        params = self.request.query_params
        return audit.access_entries(patient=params.get("patient", ""), user=params.get("user", ""))
