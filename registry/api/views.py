"""The REST API's viewsets: thin wrappers that parse input and call the services."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from registry import selectors, services
from registry.api import filters, serializers
from registry.api.errors import PreconditionFailed
from registry.api.permissions import sees_identifiers
from registry.models import (
    AdverseEvent,
    BoneMarrowHarvest,
    CellProduct,
    Instrument,
    IntrathecalProcedure,
    Patient,
    Score,
    Visit,
)


class PreconditionRequired(APIException):
    status_code = 428
    default_detail = _lazy(
        "Say which version you are changing: send the record's `version` in the body, "
        "or an If-Match header with its ETag."
    )
    default_code = "precondition_required"


VERSION_PARAMETER = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="The ETag (version) of the record you edited; a stale one gets 412.",
)


class JSONOnlyForResearch:
    """The browsable API's forms and filters name related records by their exact dates;
    accounts without identifier access get plain JSON only."""

    def get_renderers(self):
        if self.request is not None and not sees_identifiers(self.request.user):
            return [JSONRenderer()]
        return super().get_renderers()


@extend_schema_view(
    update=extend_schema(parameters=[VERSION_PARAMETER]),
    partial_update=extend_schema(parameters=[VERSION_PARAMETER]),
    destroy=extend_schema(parameters=[VERSION_PARAMETER]),
)
class RecordViewSet(JSONOnlyForResearch, viewsets.ModelViewSet):
    """CRUD for one kind of clinical record.

    Updates and deletes must name the version the client saw (`version` in the body, or
    If-Match); a stale version is refused (409 for the body, 412 for If-Match).
    Accounts without identifier access receive de-identified representations.
    """

    model = None

    def get_queryset(self):
        return selectors.records(self.model)

    def get_serializer_class(self):
        if sees_identifiers(self.request.user) or getattr(self, "swagger_fake_view", False):
            return self.serializer_class
        return serializers.RESEARCH_SERIALIZERS[self.serializer_class]

    def retrieve(self, request, *args, **kwargs):
        response = super().retrieve(request, *args, **kwargs)
        response["ETag"] = f'"{response.data["version"]}"'
        return response

    def expected_version(self):
        """The version the client edited, and whether it came in If-Match (412) or the body (409)."""
        header = self.request.headers.get("If-Match")
        if header:
            raw, from_header = header.strip().removeprefix("W/").strip('"'), True
        else:
            data = self.request.data if hasattr(self.request.data, "get") else {}
            raw = data.get("version", self.request.query_params.get("version"))
            from_header = False
        if raw in (None, ""):
            raise PreconditionRequired()
        try:
            return int(raw), from_header
        except (TypeError, ValueError):
            raise ValidationError(
                {"version": [_("The version must be a whole number, as the record showed it.")]}
            ) from None

    def _guarded(self, write, *args):
        version, from_header = self.expected_version()
        try:
            return write(*args, version)
        except services.EditConflict as conflict:
            if from_header:
                raise PreconditionFailed(conflict) from conflict
            raise

    def perform_create(self, serializer):
        serializer.instance = services.record_create(self.model, self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        def write(instance, data, version):
            return services.record_update(instance, self.request.user, version, **data)

        updated = self._guarded(write, serializer.instance, serializer.validated_data)
        serializer.instance = self.get_queryset().get(pk=updated.pk)

    def perform_destroy(self, instance):
        def write(record, version):
            return services.record_delete(record, self.request.user, version)

        self._guarded(write, instance)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.perform_create(serializer)
        # Re-read so derived values (months, doses) come with the answer.
        instance = self.get_queryset().get(pk=serializer.instance.pk)
        return Response(self.get_serializer(instance).data, status=status.HTTP_201_CREATED)


def _viewset(model, serializer, filterset, doc):
    return type(
        f"{model.__name__}ViewSet",
        (RecordViewSet,),
        {
            "model": model,
            "serializer_class": serializer,
            "filterset_class": filterset,
            "__doc__": doc,
            "queryset": model.objects.none(),
        },
    )


PatientViewSet = _viewset(
    Patient,
    serializers.PatientSerializer,
    filters.PatientFilter,
    "Patients. `search` matches study ID (and, for clinical staff, name or MRN).",
)
HarvestViewSet = _viewset(
    BoneMarrowHarvest, serializers.HarvestSerializer, filters.HarvestFilter, "Bone-marrow harvests."
)
ProductViewSet = _viewset(
    CellProduct,
    serializers.ProductSerializer,
    filters.ProductFilter,
    "Cell products made from a harvest (cell counts in cells).",
)
ProcedureViewSet = _viewset(
    IntrathecalProcedure,
    serializers.ProcedureSerializer,
    filters.ProcedureFilter,
    "Intrathecal procedures, with doses per kg computed from the product and weight.",
)
AdverseEventViewSet = _viewset(
    AdverseEvent,
    serializers.AdverseEventSerializer,
    filters.AdverseEventFilter,
    "Adverse events of a procedure (CTCAE).",
)
VisitViewSet = _viewset(
    Visit,
    serializers.VisitSerializer,
    filters.VisitFilter,
    "Visits, with months since the first procedure, scores and imaging.",
)
InstrumentViewSet = _viewset(
    Instrument,
    serializers.InstrumentSerializer,
    filters.InstrumentFilter,
    "Clinical instruments (scales) and their ranges.",
)
ScoreViewSet = _viewset(
    Score,
    serializers.ScoreSerializer,
    filters.ScoreFilter,
    "Scores of an instrument at a visit, validated against its range.",
)
