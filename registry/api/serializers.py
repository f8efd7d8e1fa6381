"""API representations of registry records, identified and de-identified (research)."""

import copy

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject

from registry import deidentify, quantities, selectors, services
from registry.course import read_visits
from registry.models import (
    AdverseEvent,
    BoneMarrowHarvest,
    CellProduct,
    Instrument,
    IntrathecalProcedure,
    MuscleGroup,
    Patient,
    Score,
    Site,
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


class VisibleRelations:
    """A record it links to (patient, harvest, visit, ...) must be one the account sees: another site's is
    refused as not found, naming the field, so a record cannot be moved to another site's patient; a site
    must be one of the account's own."""

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        user = getattr(request, "user", None)
        if user is None:
            return fields
        for field in fields.values():
            queryset = getattr(field, "queryset", None)
            if field.read_only or queryset is None:
                continue
            if queryset.model is Site:
                field.queryset = selectors.user_sites(user)
            elif getattr(queryset.model, "patient_path", None) is not None:
                field.queryset = selectors.visible(queryset.model, user, queryset)
        return fields


def representation_plan(serializer):
    """How ``serializer`` reads each of its fields from a record, worked out once per serializer (a list's
    child serves every row): a plain column is read straight off the record and a link as its id, exactly
    as DRF's own field lookup does; every other field (nested, computed, dotted) goes through DRF's lookup."""
    model = serializer.Meta.model
    columns = {field.name: field for field in model._meta.concrete_fields}
    plan = []
    for field in serializer._readable_fields:
        column = columns.get(field.source) if len(field.source_attrs) == 1 else None
        if column is None or isinstance(field, serializers.BaseSerializer):
            plan.append((field.field_name, None, field))
        elif type(field) is serializers.PrimaryKeyRelatedField and field.pk_field is None and column.is_relation:
            plan.append((field.field_name, column.attname, None))
        elif not column.is_relation and not isinstance(field, serializers.RelatedField | serializers.ManyRelatedField):
            plan.append((field.field_name, column.attname, field))
        else:
            plan.append((field.field_name, None, field))
    return plan


class PlannedRepresentation:
    """DRF's to_representation with each field's lookup planned once (see representation_plan): the same
    answer, without DRF's general attribute walk for every field of every row."""

    def to_representation(self, instance):
        if not isinstance(instance, Model):
            return super().to_representation(instance)
        plan = self.__dict__.get("_plan")
        if plan is None:
            plan = self._plan = representation_plan(self)
        answer = {}
        for name, column, field in plan:
            if column is not None:
                value = getattr(instance, column)
                answer[name] = value if value is None or field is None else field.to_representation(value)
                continue
            try:
                attribute = field.get_attribute(instance)
            except SkipField:
                continue
            empty = attribute.pk is None if isinstance(attribute, PKOnlyObject) else attribute is None
            answer[name] = None if empty else field.to_representation(attribute)
        return answer


class FieldsWorkedOutOnce:
    """A ModelSerializer works its fields out from the model each time one is made, though they depend on
    what its class declares alone: they are worked out once per declaration (worked out again should the
    class's field list or declared fields change), and each serializer gets fresh copies."""

    def get_fields(self):
        declared = (tuple(self.Meta.fields), tuple(self._declared_fields.items()))
        made = type(self).__dict__.get("_made_fields")
        if made is None or made[0] != declared:
            made = type(self)._made_fields = (declared, super().get_fields())
        return copy.deepcopy(made[1])


class RecordSerializer(PlannedRepresentation, VisibleRelations, FieldsWorkedOutOnce, serializers.ModelSerializer):
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


class SiteField(serializers.SlugRelatedField):
    """A site named by its code; an account may name only its own sites. Omitted on a new patient, it is
    the account's site when the account has exactly one."""

    default_error_messages = {
        "does_not_exist": _('"{value}" is not one of your sites; name one of them by its code.'),
        "invalid": _("Name the site by its code, e.g. MAIN."),
    }

    def __init__(self, **kwargs):
        super().__init__(slug_field="code", queryset=Site.objects.all(), **kwargs)


class PatientSerializer(RecordSerializer):
    site = SiteField(required=False, help_text="The code of the patient's site (centre).")

    class Meta:
        model = Patient
        fields = COMMON_READ_ONLY + [
            "site",
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

    def validate(self, data):
        if self.instance is None and "site" not in data:
            sites = list(self.fields["site"].queryset[:2])
            if len(sites) != 1:
                raise serializers.ValidationError({"site": [_("Say which of your sites the patient belongs to.")]})
            data["site"] = sites[0]
        return data


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


SCORE_DECIMAL = serializers.DecimalField(max_digits=7, decimal_places=2)


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "number"}], "nullable": True})
class ScoreValueField(serializers.Field):
    """A score's value. Taken as a number (1.5, "1.5") or as one of the instrument's labels ("1+", "III").
    Given as the instrument writes it: the label for instruments written as labels (Modified Ashworth:
    "1+"), else the number as a decimal string ("40.00"); null when the score is recorded as missing."""

    def __init__(self, **kwargs):
        super().__init__(source="*", required=False, allow_null=True, **kwargs)

    def to_representation(self, score):
        if score.value is None:
            return None
        if score.instrument.written_as_label:
            return score.instrument.label_for(score.value)
        return SCORE_DECIMAL.to_representation(score.value)

    def validate_empty_values(self, data):
        if data is None:
            return True, {"value": None}
        return super().validate_empty_values(data)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int | float):
            raise serializers.ValidationError(_("Enter a number, or one of the instrument's labels such as 1+."))
        return {"value_text": str(data)}


def score_value(attrs, instance):
    """Turn the value as sent (number or label) into the instrument's numeric coding, in ``attrs``."""
    if "value_text" not in attrs:
        return attrs
    text = attrs.pop("value_text")
    instrument = attrs.get("instrument") or getattr(instance, "instrument", None)
    if instrument is None:
        raise serializers.ValidationError({"instrument": [_("Say which instrument the value is for.")]})
    try:
        attrs["value"] = instrument.value_from_text(text)
    except DjangoValidationError as error:
        raise serializers.ValidationError({"value": error.messages}) from None
    return attrs


class VisitScoreList(serializers.ListSerializer):
    """A visit's scores, in the order and as read by selectors.visit_scores."""

    def get_attribute(self, visit):
        return selectors.visit_scores(visit)


class VisitScoreSerializer(PlannedRepresentation, FieldsWorkedOutOnce, serializers.ModelSerializer):
    instrument = serializers.SlugRelatedField(slug_field="code", read_only=True)
    muscle = serializers.SlugRelatedField(slug_field="code", read_only=True)
    value = ScoreValueField(read_only=True)
    display_value = serializers.CharField(read_only=True)

    class Meta:
        model = Score
        fields = ["id", "instrument", "muscle", "side", "value", "missing", "display_value"]
        list_serializer_class = VisitScoreList


def course_visit(serializer, visit):
    """The read model's facts of ``visit``, read once for every visit the serializer's root holds (a page
    of visits costs a fixed number of queries)."""
    cache = serializer.context.setdefault("course_visits", {})
    if visit.pk not in cache:
        root = serializer.root.instance
        visits = root if isinstance(root, list | tuple) or hasattr(root, "model") else [root]
        visits = [item for item in visits if isinstance(item, Visit)]
        # The answer lists the scores itself and shows no measure: the schedule's facts and the scans.
        wanted = [*visits, visit] if visit not in visits else visits
        cache.update(read_visits(wanted, instruments=(), measures=()))
    return cache[visit.pk]


class VisitSerializer(RecordSerializer):
    months_since_procedure = serializers.SerializerMethodField(
        help_text="Months (30.4375 days) since the patient's first intrathecal procedure; negative before it."
    )
    timepoint = serializers.SerializerMethodField(
        help_text="The scheduled follow-up this visit fills (a code of the visit schedule: 3m, 6m, 9m, 12m, 18m, "
        "24m as seeded), or null: baseline, unscheduled and out-of-window visits."
    )
    in_window = serializers.SerializerMethodField(
        help_text="For a follow-up visit: whether it fills a scheduled timepoint; for a baseline: whether it lies in "
        "the baseline window before the first procedure; null for unscheduled visits and before any procedure."
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
            "written_as_label",
            "per_muscle_group",
        ]
        read_only_fields = COMMON_READ_ONLY


class ScoreSerializer(RecordSerializer):
    instrument = serializers.SlugRelatedField(slug_field="code", queryset=Instrument.objects.all())
    muscle = serializers.SlugRelatedField(
        slug_field="code",
        queryset=MuscleGroup.objects.all(),
        required=False,
        allow_null=True,
        help_text="For instruments scored per muscle group (MAS): the muscle group's code, with `side`.",
    )
    patient = serializers.IntegerField(source="visit.patient_id", read_only=True)
    value = ScoreValueField()
    display_value = serializers.CharField(read_only=True)

    class Meta:
        model = Score
        fields = COMMON_READ_ONLY + [
            "patient",
            "visit",
            "instrument",
            "muscle",
            "side",
            "value",
            "missing",
            "display_value",
            "assessor",
        ]
        read_only_fields = COMMON_READ_ONLY

    def validate(self, attrs):
        return score_value(attrs, self.instance)


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
