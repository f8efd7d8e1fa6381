"""API of the query workflow and of sign-off: `/api/v1/queries/` (list, read, open) with its steps
`answer`, `close`, `reopen`; `sign` and `unlock` of visits and patients. Refusals: 400 for bad input,
403 for a role that may not, 409 for a step that does not follow from the query's status."""

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.response import Response

from registry import audit, queries, selectors, signoff
from registry.api.permissions import RoleModelPermissions, sees_identifiers
from registry.models import Query, QueryEvent, Signature


class QueryEventSerializer(serializers.ModelSerializer):
    user = serializers.SerializerMethodField()

    class Meta:
        model = QueryEvent
        fields = ["action", "user", "at", "note"]
        read_only_fields = fields

    def get_user(self, event) -> str | None:
        return event.user.get_username() if event.user else None


class QuerySerializer(serializers.ModelSerializer):
    study_id = serializers.CharField(source="patient.study_id", read_only=True)
    record_kind = serializers.SerializerMethodField()
    opened_by = serializers.SerializerMethodField()
    text = serializers.CharField(
        source="shown_text", read_only=True, help_text="In the request's language for a rule's query."
    )
    events = QueryEventSerializer(many=True, read_only=True)

    class Meta:
        model = Query
        fields = [
            "id",
            "patient",
            "study_id",
            "record_kind",
            "record_id",
            "field",
            "rule",
            "text",
            "status",
            "assigned_role",
            "opened_by",
            "opened_at",
            "events",
        ]
        read_only_fields = fields

    def get_record_kind(self, query) -> str | None:
        return queries.KIND_OF_MODEL.get(query.record_type.model_class())

    def get_opened_by(self, query) -> str | None:
        return query.opened_by.get_username() if query.opened_by else None


class QueryOpenSerializer(serializers.Serializer):
    record_kind = serializers.ChoiceField(choices=list(queries.RECORD_KINDS))
    record_id = serializers.IntegerField(min_value=1)
    field = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)
    text = serializers.CharField(max_length=queries.TEXT_LIMIT)
    assigned_role = serializers.ChoiceField(choices=Query.Role.choices, default=Query.Role.HEMATOLOGY)


class QueryStepSerializer(serializers.Serializer):
    text = serializers.CharField(required=False, allow_blank=True, default="", max_length=queries.TEXT_LIMIT)


class SignSerializer(serializers.Serializer):
    password = serializers.CharField(trim_whitespace=False)
    meaning_acknowledged = serializers.BooleanField(
        help_text="true: the signer read the meaning of the signature (GET the sign page, or see `meaning`)."
    )

    def validate_meaning_acknowledged(self, value):
        if value is not True:
            raise serializers.ValidationError(_("Set meaning_acknowledged to true to sign."))
        return value


class UnlockSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class SignatureSerializer(serializers.ModelSerializer):
    voided_by = serializers.SerializerMethodField()

    class Meta:
        model = Signature
        fields = [
            "id",
            "patient",
            "visit",
            "subject",
            "meaning",
            "signer_name",
            "signed_at",
            "voided_at",
            "voided_by",
            "void_reason",
        ]
        read_only_fields = fields

    def get_voided_by(self, signature) -> str | None:
        return signature.voided_by.get_username() if signature.voided_by else None


class IdentifiedRoleModelPermissions(RoleModelPermissions):
    """Queries speak of identified records: only accounts that see identifiers, with the role's permission."""

    def has_permission(self, request, view):
        return sees_identifiers(request.user) and super().has_permission(request, view)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=Query.Status.values),
            OpenApiParameter("assigned_role", str, enum=Query.Role.values),
            OpenApiParameter("patient", int),
        ]
    )
)
class QueryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Data-quality queries on records: open ones (POST), list, read, and take them through their steps."""

    queryset = Query.objects.none()
    serializer_class = QuerySerializer
    permission_classes = [IdentifiedRoleModelPermissions]
    filter_backends = []

    def get_queryset(self):
        found = (
            selectors.visible(Query, self.request.user)
            .select_related("patient", "opened_by", "record_type")
            .prefetch_related("events__user")
        )
        params = self.request.query_params
        for name, values in (("status", Query.Status.values), ("assigned_role", Query.Role.values)):
            value = params.get(name)
            if value is not None:
                if value not in values:
                    raise serializers.ValidationError(
                        {
                            name: [
                                _("“%(value)s” is not one of %(values)s.")
                                % {"value": value, "values": ", ".join(values)}
                            ]
                        }
                    )
                found = found.filter(**{name: value})
        patient = params.get("patient")
        if patient is not None:
            if not (patient.isascii() and patient.isdigit()):
                raise serializers.ValidationError(
                    {"patient": [_("“%(value)s” is not a patient id.") % {"value": patient}]}
                )
            found = found.filter(patient_id=int(patient))
        return found

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        page = getattr(self.paginator, "page", None)
        shown = list(page.object_list) if page is not None else []
        audit.record_access(
            request, audit.Kind.API_LIST, record_type="query", patients=list({q.patient for q in shown})
        )
        return response

    def retrieve(self, request, *args, **kwargs):
        query = self.get_object()
        audit.record_access(
            request, audit.Kind.API_RECORD, record_type="query", object_id=query.pk, patients=[query.patient]
        )
        return Response(self.get_serializer(query).data)

    @extend_schema(request=QueryOpenSerializer, responses={201: QuerySerializer})
    def create(self, request, *args, **kwargs):
        given = QueryOpenSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = dict(given.validated_data)
        record = queries.record_for(data.pop("record_kind"), data.pop("record_id"), request.user)
        query = queries.query_open(actor=request.user, record=record, **data)
        return Response(QuerySerializer(self.get_queryset().get(pk=query.pk)).data, status=status.HTTP_201_CREATED)

    def _step(self, request, step):
        given = QueryStepSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        query = self.get_object()
        queries.query_step(step, actor=request.user, query=query, text=given.validated_data["text"])
        return Response(QuerySerializer(self.get_queryset().get(pk=query.pk)).data)

    @extend_schema(request=QueryStepSerializer, responses=QuerySerializer)
    @action(detail=True, methods=["post"])
    def answer(self, request, pk=None):
        """The assigned role answers an open query (`text` required)."""
        return self._step(request, "answer")

    @extend_schema(request=QueryStepSerializer, responses=QuerySerializer)
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        """Whoever opened the query, or a registry-admin, closes it (`text`: an optional note)."""
        return self._step(request, "close")

    @extend_schema(request=QueryStepSerializer, responses=QuerySerializer)
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        """Whoever opened the query, or a registry-admin, re-opens a closed one (`text`: why, required)."""
        return self._step(request, "reopen")


class NothingToUnlock(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = gettext_lazy("There is no standing signature here to unlock.")
    default_code = "not_signed"


class SignOff:
    """`sign` and `unlock` actions for a viewset of visits or patients; the services check the permissions."""

    def _signature_response(self, signature, code=status.HTTP_200_OK):
        return Response(SignatureSerializer(signature).data, status=code)

    def _sign(self, request, sign):
        given = SignSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        signature = sign(
            request._request, self.get_object(), password=given.validated_data["password"], acknowledged=True
        )
        return self._signature_response(signature, status.HTTP_201_CREATED)

    def _unlock(self, request, standing):
        if not request.user.has_perm(signoff.UNLOCK):
            raise PermissionDenied(_("Only a registry-admin may unlock signed records."))
        given = UnlockSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        signature = standing(self.get_object())
        if signature is None:
            raise NothingToUnlock()
        return self._signature_response(signoff.unlock(signature, request.user, given.validated_data["reason"]))
