"""API representations of registry records, identified and de-identified (research)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from registry import deidentify, quantities, services
from registry.course import read_visits
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

COMMON_READ_ONLY = ["id", "version", "created_at", "updated_at"]


class VersionField(serializers.IntegerField):
    """The version a client edited: a JSON integer or ASCII digits; booleans and floats are refused."""

    def to_internal_value(self, data):
        try:
            return services.parse_version(data)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict["version"]) from None


class RecordSerializer(serializers.ModelSerializer):
    """Leaves model validation (cross-field rules, constraints) to the services."""

    def build_standard_field(self, field_name, model_field):
        # Ranges and formats are the model's validators, run by full_clean with the model's
        # messages ("Weight must be between 1 and 150 kg."), not DRF's generic copies.
        field_class, kwargs = super().build_standard_field(field_name, model_field)
        for key in ("min_value", "max_value", "validators"):
            kwargs.pop(key, None)
        return field_class, kwargs

    def get_validators(self):
        # Uniqueness and constraints are checked by the model's full_clean in the services,
        # with the model's own messages; DRF's copies would only duplicate them.
        return []


class PatientSerializer(RecordSerializer):
    class Meta:
        model = Patient
        fields = COMMON_READ_ONLY + [
            "study_id",
            "given_name",
            "family_name",
            "mrn",
            "date_of_birth",
            "sex",
            "cp_subtype",
            "etiology",
            "gestational_age_weeks",
            "gmfcs_level",
            "epilepsy",
            "consent_date",
        ]
        read_only_fields = COMMON_READ_ONLY


class HarvestSerializer(RecordSerializer):
    class Meta:
        model = BoneMarrowHarvest
        fields = COMMON_READ_ONLY + [
            "patient",
            "date",
            "gcsf_mobilized",
            "gcsf_dose_mcg_per_kg_day",
            "volume_ml",
            "processing_method",
        ]
        read_only_fields = COMMON_READ_ONLY


class ProductSerializer(RecordSerializer):
    patient = serializers.IntegerField(source="harvest.patient_id", read_only=True)

    class Meta:
        model = CellProduct
        fields = COMMON_READ_ONLY + ["patient", "harvest", "tnc_count", "cd34_count", "viability_percent", "sterility"]
        read_only_fields = COMMON_READ_ONLY


class ProcedureSerializer(RecordSerializer):
    tnc_per_kg = serializers.FloatField(read_only=True, help_text="Total nucleated cells per kg (cells/kg).")
    cd34_per_kg = serializers.FloatField(read_only=True, allow_null=True, help_text="CD34+ cells per kg (cells/kg).")
    age_months = serializers.IntegerField(source="age_in_months", read_only=True)
    months_since_procedure = serializers.SerializerMethodField(
        help_text="Months (30.4375 days) since the patient's first intrathecal procedure (0 for the first)."
    )

    class Meta:
        model = IntrathecalProcedure
        fields = COMMON_READ_ONLY + [
            "patient",
            "product",
            "date",
            "weight_kg",
            "volume_ml",
            "puncture_level",
            "sedation",
            "tnc_per_kg",
            "cd34_per_kg",
            "age_months",
            "months_since_procedure",
        ]
        read_only_fields = COMMON_READ_ONLY

    @extend_schema_field(OpenApiTypes.FLOAT)
    def get_months_since_procedure(self, procedure):
        first = getattr(procedure, "first_procedure_date", None) or procedure.patient.first_procedure_date()
        return quantities.months_between(first, procedure.date)


class AdverseEventSerializer(RecordSerializer):
    patient = serializers.IntegerField(source="procedure.patient_id", read_only=True)

    class Meta:
        model = AdverseEvent
        extra_kwargs = {
            "term": {
                "error_messages": {
                    "invalid_choice": _(
                        '"{input}" is not a CTCAE v5.0 term of the registry\'s list: choose one of the listed terms '
                        '(e.g. Headache), or "Other, specify" and put the event in term_other.'
                    )
                }
            }
        }
        fields = COMMON_READ_ONLY + [
            "patient",
            "procedure",
            "onset_date",
            "term",
            "term_other",
            "grade",
            "serious",
            "outcome",
        ]
        read_only_fields = COMMON_READ_ONLY


class VisitScoreSerializer(serializers.ModelSerializer):
    instrument = serializers.SlugRelatedField(slug_field="code", read_only=True)
    display_value = serializers.CharField(read_only=True)

    class Meta:
        model = Score
        fields = ["id", "instrument", "value", "display_value"]


def course_visit(serializer, visit):
    """The read model's facts of ``visit``, read once for every visit the serializer's root holds (a page
    of visits costs a fixed number of queries)."""
    cache = serializer.context.setdefault("course_visits", {})
    if visit.pk not in cache:
        root = serializer.root.instance
        visits = root if isinstance(root, list | tuple) or hasattr(root, "model") else [root]
        visits = [item for item in visits if isinstance(item, Visit)]
        cache.update(read_visits([*visits, visit] if visit not in visits else visits))
    return cache[visit.pk]


class VisitSerializer(RecordSerializer):
    months_since_procedure = serializers.SerializerMethodField(
        help_text="Months (30.4375 days) since the patient's first intrathecal procedure; negative before it."
    )
    timepoint = serializers.SerializerMethodField(
        help_text="The scheduled follow-up this visit fills (3m, 6m, 9m, 12m, 18m, 24m), or null."
    )
    in_window = serializers.SerializerMethodField(
        help_text="For a follow-up visit: whether it falls in a scheduled timepoint's window; null otherwise."
    )
    age_months = serializers.SerializerMethodField(help_text="The patient's age at the visit, in completed months.")
    scores = VisitScoreSerializer(many=True, read_only=True)
    imaging = serializers.SerializerMethodField()

    class Meta:
        model = Visit
        fields = COMMON_READ_ONLY + [
            "patient",
            "date",
            "kind",
            "months_since_procedure",
            "age_months",
            "timepoint",
            "in_window",
            "scores",
            "imaging",
        ]
        read_only_fields = COMMON_READ_ONLY

    @extend_schema_field(OpenApiTypes.FLOAT)
    def get_months_since_procedure(self, visit):
        return course_visit(self, visit).months

    @extend_schema_field(OpenApiTypes.INT)
    def get_age_months(self, visit):
        return course_visit(self, visit).age_months

    @extend_schema_field(OpenApiTypes.STR)
    def get_timepoint(self, visit):
        return course_visit(self, visit).timepoint

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_in_window(self, visit):
        return course_visit(self, visit).in_window

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_imaging(self, visit):
        """Diffusion scans of this visit, newest first: status, the radiologist's review, the FA summary of
        each scan's current result, `counts`: whether it is the scan whose FA counts for the visit, and
        `in_change`: whether its measures take part in changes since baseline (acquired like the baseline
        scan, or included by a radiologist)."""
        imaging = course_visit(self, visit).imaging
        items = []
        for scan in imaging.scans:
            summary = scan.current_summary or {}
            items.append(
                {
                    "id": scan.pk,
                    "status": scan.status,
                    "usable": scan.usable,
                    "counts": scan is imaging.counted,
                    "fa_mean": summary.get("fa_mean"),
                    "fa_wm_mean": summary.get("fa_wm_mean"),
                    "md_mean": summary.get("md_mean"),
                    "in_change": getattr(scan, "counts_in_change", True),
                }
            )
        return items


class InstrumentSerializer(RecordSerializer):
    class Meta:
        model = Instrument
        fields = COMMON_READ_ONLY + [
            "code",
            "name",
            "min_value",
            "max_value",
            "higher_is_better",
            "unit",
            "integer_only",
            "value_labels",
        ]
        read_only_fields = COMMON_READ_ONLY


class ScoreSerializer(RecordSerializer):
    instrument = serializers.SlugRelatedField(slug_field="code", queryset=Instrument.objects.all())
    patient = serializers.IntegerField(source="visit.patient_id", read_only=True)
    display_value = serializers.CharField(read_only=True)

    class Meta:
        model = Score
        fields = COMMON_READ_ONLY + ["patient", "visit", "instrument", "value", "display_value", "assessor"]
        read_only_fields = COMMON_READ_ONLY


def research_rules(context):
    """The de-identification rules for this request (read once per request)."""
    request = context.get("request")
    cached = getattr(request, "_deidentification_rules", None)
    if cached is None:
        cached = deidentify.rules()
        if request is not None:
            request._deidentification_rules = cached
    return cached


class ResearchSerializer(serializers.BaseSerializer):
    """What a research account sees of a record: the clinical serializer's answer projected through
    the kind's allow-list in registry.deidentify, so a field added to the clinical serializer stays
    invisible to research until it is put on that list. Read-only."""

    kind = None  # the allow-list (registry.deidentify.research_fields)
    clinical = None  # the identified serializer whose answer is projected
    patient_field = "patient"  # where the answer names the patient (for shifted dates)

    def to_representation(self, instance):
        data = self.clinical_serializer().to_representation(instance)
        return research_rules(self.context).project(
            self.kind,
            data,
            patient_id=data.get(self.patient_field),
            first_procedure_date=getattr(instance, "first_procedure_date", None),
        )

    def clinical_serializer(self):
        """The clinical serializer, made once for a whole list (making one per record costs more than the
        record). It is given the list this serializer answers for, so what it reads for the records it
        reads once for all of them (the courses of a page of visits)."""
        if getattr(self, "_clinical", None) is None:
            self._clinical = self.clinical(self.root.instance, context=self.context)
        return self._clinical


class ResearchPatientSerializer(ResearchSerializer):
    kind, clinical, patient_field = "patient", PatientSerializer, "id"


class ResearchHarvestSerializer(ResearchSerializer):
    kind, clinical = "harvest", HarvestSerializer


class ResearchProductSerializer(ResearchSerializer):
    kind, clinical = "product", ProductSerializer


class ResearchProcedureSerializer(ResearchSerializer):
    kind, clinical = "procedure", ProcedureSerializer


class ResearchAdverseEventSerializer(ResearchSerializer):
    kind, clinical = "adverseevent", AdverseEventSerializer


class ResearchVisitSerializer(ResearchSerializer):
    kind, clinical = "visit", VisitSerializer


class ResearchInstrumentSerializer(ResearchSerializer):
    kind, clinical = "instrument", InstrumentSerializer


class ResearchScoreSerializer(ResearchSerializer):
    kind, clinical = "score", ScoreSerializer
