"""The REST API's viewsets: thin wrappers that parse input and call the services."""

from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from registry import selectors, services, signoff
from registry.api import filters, serializers
from registry.api.audit import AuditedReads
from registry.api.pagination import count_in_sites
from registry.api.permissions import sees_identifiers
from registry.api.quality import SignatureSerializer, SignOff, SignSerializer, UnlockSerializer
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
    default_detail = gettext_lazy(
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


class SiteScopedList:
    """The records of `model` the account may see: another site's record is not found (404), as if it did
    not exist. `records` says what a representation reads; `list_count` counts a list of them."""

    model = None

    def records(self):
        return selectors.records(self.model)

    def get_queryset(self):
        # Asked for several times a request (permissions, the list, the audit); made once, and only
        # ever narrowed (filter, get) afterwards, never evaluated itself.
        if self.__dict__.get("_visible") is None:
            self._visible = selectors.visible(self.model, self.request.user, self.records())
        return self._visible

    def list_count(self, queryset):
        """The list's `count`: the records of ``queryset``, counted without the joins that what records()
        reads would bring (see pagination.count_in_sites)."""

        def unscoped():
            # The filters as the list applied them, on the bare records.
            filters = getattr(self, "list_filters", None)
            every = self.model.objects.all()
            return every if filters is None else filters.filter_queryset(every)

        if selectors.sees_every_site(self.request.user):
            return unscoped().count()  # what visible() gives these accounts: every record
        return count_in_sites(self.model, self.request.user, queryset, unscoped)


@extend_schema_view(
    update=extend_schema(parameters=[VERSION_PARAMETER]),
    partial_update=extend_schema(parameters=[VERSION_PARAMETER]),
    destroy=extend_schema(parameters=[VERSION_PARAMETER]),
)
class RecordViewSet(SiteScopedList, AuditedReads, JSONOnlyForResearch, viewsets.ModelViewSet):
    """CRUD for one kind of clinical record.

    Updates and deletes must name the version the client saw (`version` in the body, or
    If-Match); a stale version is refused (409 for the body, 412 for If-Match).
    Accounts without identifier access receive de-identified representations.
    """

    research_serializer_class = None  # what accounts without identifier access get (read-only)

    def get_serializer_class(self):
        if sees_identifiers(self.request.user) or getattr(self, "swagger_fake_view", False):
            return self.serializer_class
        return self.research_serializer_class

    def retrieve(self, request, *args, **kwargs):
        response = super().retrieve(request, *args, **kwargs)
        response["ETag"] = f'"{response.data["version"]}"'
        return response

    def expected_version(self):
        """The version the client edited: If-Match (a stale one answers 412) or `version` in the body (409)."""
        header = self.request.headers.get("If-Match")
        if header:
            raw = header.strip().removeprefix("W/").strip('"')
        else:
            data = self.request.data if hasattr(self.request.data, "get") else {}
            raw = data.get("version", self.request.query_params.get("version"))
        if raw is None or raw == "":
            raise PreconditionRequired()
        return services.parse_version(raw)

    def perform_create(self, serializer):
        serializer.instance = services.record_create(self.model, self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        updated = services.record_update(
            serializer.instance, self.request.user, self.expected_version(), **serializer.validated_data
        )
        serializer.instance = self.get_queryset().get(pk=updated.pk)

    def perform_destroy(self, instance):
        services.record_delete(instance, self.request.user, self.expected_version())

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.perform_create(serializer)
        # Re-read so derived values (months, doses) come with the answer.
        instance = self.get_queryset().get(pk=serializer.instance.pk)
        return Response(self.get_serializer(instance).data, status=status.HTTP_201_CREATED)


class PatientViewSet(SignOff, RecordViewSet):
    """Patients. `search` matches study ID (and, for clinical staff, name or MRN)."""

    model = Patient
    queryset = Patient.objects.none()
    serializer_class = serializers.PatientSerializer
    research_serializer_class = serializers.ResearchPatientSerializer
    filterset_class = filters.PatientFilter

    @extend_schema(request=SignSerializer, responses={201: SignatureSerializer})
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated])
    def sign(self, request, pk=None):
        """An investigator signs all of the patient's data, re-entering their password; the data are then locked."""
        return self._sign(request, signoff.sign_patient)

    @extend_schema(request=UnlockSerializer, responses=SignatureSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated])
    def unlock(self, request, pk=None):
        """A registry-admin voids the patient's standing signature, with a `reason`."""
        return self._unlock(request, signoff.standing_for_patient)


class HarvestViewSet(RecordViewSet):
    """Bone-marrow harvests."""

    model = BoneMarrowHarvest
    queryset = BoneMarrowHarvest.objects.none()
    serializer_class = serializers.HarvestSerializer
    research_serializer_class = serializers.ResearchHarvestSerializer
    filterset_class = filters.HarvestFilter


class ProductViewSet(RecordViewSet):
    """Cell products made from a harvest (cell counts in cells)."""

    model = CellProduct
    queryset = CellProduct.objects.none()
    serializer_class = serializers.ProductSerializer
    research_serializer_class = serializers.ResearchProductSerializer
    filterset_class = filters.ProductFilter


class ProcedureViewSet(RecordViewSet):
    """Intrathecal procedures, with doses per kg computed from the product and weight."""

    model = IntrathecalProcedure
    queryset = IntrathecalProcedure.objects.none()
    serializer_class = serializers.ProcedureSerializer
    research_serializer_class = serializers.ResearchProcedureSerializer
    filterset_class = filters.ProcedureFilter


class AdverseEventViewSet(RecordViewSet):
    """Adverse events of a procedure: a CTCAE v5.0 term (or "Other, specify" with `term_other`)."""

    model = AdverseEvent
    queryset = AdverseEvent.objects.none()
    serializer_class = serializers.AdverseEventSerializer
    research_serializer_class = serializers.ResearchAdverseEventSerializer
    filterset_class = filters.AdverseEventFilter


class VisitViewSet(SignOff, RecordViewSet):
    """Visits, with months since the first procedure, scores and imaging."""

    model = Visit
    queryset = Visit.objects.none()
    serializer_class = serializers.VisitSerializer
    research_serializer_class = serializers.ResearchVisitSerializer
    filterset_class = filters.VisitFilter

    @extend_schema(request=SignSerializer, responses={201: SignatureSerializer})
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated])
    def sign(self, request, pk=None):
        """An investigator signs the visit and its scores, re-entering their password; they are then locked."""
        return self._sign(request, signoff.sign_visit)

    @extend_schema(request=UnlockSerializer, responses=SignatureSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated])
    def unlock(self, request, pk=None):
        """A registry-admin voids the visit's standing signature, with a `reason`."""
        return self._unlock(request, signoff.standing_for_visit)


class InstrumentViewSet(RecordViewSet):
    """Clinical instruments (scales) and their ranges."""

    model = Instrument
    queryset = Instrument.objects.none()
    serializer_class = serializers.InstrumentSerializer
    research_serializer_class = serializers.ResearchInstrumentSerializer
    filterset_class = filters.InstrumentFilter


class ScoreViewSet(RecordViewSet):
    """Scores of an instrument at a visit, validated against its range."""

    model = Score
    queryset = Score.objects.none()
    serializer_class = serializers.ScoreSerializer
    research_serializer_class = serializers.ResearchScoreSerializer
    filterset_class = filters.ScoreFilter
