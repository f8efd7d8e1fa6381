"""API representations of registry records, identified and de-identified (research)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from registry.course import read_courses
from registry.deidentify import FREE_TEXT_FIELDS, IDENTIFIER_FIELDS, days_since_procedure, rules
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
        ]
        read_only_fields = COMMON_READ_ONLY


class AdverseEventSerializer(RecordSerializer):
    patient = serializers.IntegerField(source="procedure.patient_id", read_only=True)

    class Meta:
        model = AdverseEvent
        fields = COMMON_READ_ONLY + ["patient", "procedure", "onset_date", "term", "grade", "serious", "outcome"]
        read_only_fields = COMMON_READ_ONLY


class VisitScoreSerializer(serializers.ModelSerializer):
    instrument = serializers.SlugRelatedField(slug_field="code", read_only=True)
    display_value = serializers.CharField(read_only=True)

    class Meta:
        model = Score
        fields = ["id", "instrument", "value", "display_value"]


def course_visit(serializer, visit):
    """The read model's facts of ``visit``, read once for every visit the serializer's root holds."""
    cache = serializer.context.setdefault("course_visits", {})
    if visit.pk not in cache:
        root = serializer.root.instance
        visits = root if isinstance(root, list | tuple) or hasattr(root, "model") else [root]
        patient_ids = {item.patient_id for item in visits if isinstance(item, Visit)} | {visit.patient_id}
        for course in read_courses(patient_ids):
            cache.update({item.id: item for item in course.visits})
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
    scores = VisitScoreSerializer(many=True, read_only=True)
    imaging = serializers.SerializerMethodField()

    class Meta:
        model = Visit
        fields = COMMON_READ_ONLY + [
            "patient",
            "date",
            "kind",
            "months_since_procedure",
            "timepoint",
            "in_window",
            "scores",
            "imaging",
        ]
        read_only_fields = COMMON_READ_ONLY

    @extend_schema_field(OpenApiTypes.FLOAT)
    def get_months_since_procedure(self, visit):
        return course_visit(self, visit).months

    @extend_schema_field(OpenApiTypes.STR)
    def get_timepoint(self, visit):
        return course_visit(self, visit).timepoint

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_in_window(self, visit):
        return course_visit(self, visit).in_window

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_imaging(self, visit):
        """Diffusion scans of this visit, newest first: status, the radiologist's review, the FA summary of
        each scan's current result, and `counts`: whether it is the scan whose FA counts for the visit."""
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
        cached = rules()
        if request is not None:
            request._deidentification_rules = cached
    return cached


def deidentified(serializer_class, date_fields=()):
    """The research twin of a serializer: no identifiers, each date as days since the procedure.

    A date field `date` becomes `day`, `onset_date` becomes `onset_day`, and so on.
    """
    drop = set(IDENTIFIER_FIELDS) | set(date_fields) | {"created_at", "updated_at"}
    day_names = {name: (name[: -len("date")] + "day") for name in date_fields}
    fields = [name for name in serializer_class.Meta.fields if name not in drop] + list(day_names.values())
    model_name = serializer_class.Meta.model._meta.model_name
    free_text = {name: f"{model_name}.{name}" for name in fields if f"{model_name}.{name}" in FREE_TEXT_FIELDS}

    def make_getter(date_name):
        @extend_schema_field(OpenApiTypes.INT)
        def getter(self, instance):
            return days_since_procedure(getattr(instance, date_name), getattr(instance, "first_procedure_date", None))

        return getter

    def to_representation(self, instance):
        data = serializer_class.to_representation(self, instance)
        rules = research_rules(self.context)
        for name, key in free_text.items():
            if not rules.keeps(key):
                data.pop(name, None)
        return data

    attrs = {
        "Meta": type("Meta", (serializer_class.Meta,), {"fields": fields, "read_only_fields": fields}),
        "__doc__": f"De-identified {serializer_class.Meta.model._meta.verbose_name}.",
        "to_representation": to_representation,
    }
    for date_name, day_name in day_names.items():
        attrs[day_name] = serializers.SerializerMethodField(
            help_text="Days since the patient's first intrathecal procedure."
        )
        attrs[f"get_{day_name}"] = make_getter(date_name)
    return type(f"Research{serializer_class.__name__}", (serializer_class,), attrs)


class ResearchPatientSerializer(deidentified(PatientSerializer)):
    age_at_first_procedure_months = serializers.SerializerMethodField()

    class Meta(deidentified(PatientSerializer).Meta):
        fields = deidentified(PatientSerializer).Meta.fields + ["age_at_first_procedure_months"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.INT)
    def get_age_at_first_procedure_months(self, patient):
        first = getattr(patient, "first_procedure_date", None)
        return patient.age_in_months(first) if first else None


RESEARCH_SERIALIZERS = {
    PatientSerializer: ResearchPatientSerializer,
    HarvestSerializer: deidentified(HarvestSerializer, ["date"]),
    ProductSerializer: deidentified(ProductSerializer),
    ProcedureSerializer: deidentified(ProcedureSerializer, ["date"]),
    AdverseEventSerializer: deidentified(AdverseEventSerializer, ["onset_date"]),
    VisitSerializer: deidentified(VisitSerializer, ["date"]),
    InstrumentSerializer: InstrumentSerializer,
    ScoreSerializer: deidentified(ScoreSerializer),
}
