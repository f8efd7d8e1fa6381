"""Forms for the registry's pages; validation is the model's, so forms and API agree."""

import re
from decimal import Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

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
from registry.selectors import user_sites
from registry.services import parse_version

SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")


def parse_cell_count(text):
    """A cell count as typed in the lab: 3200000000, 3,200,000,000, 3.2e9, 3.2 x 10^9 or 3.2×10⁹."""
    cleaned = text.strip().replace(",", "").replace(" ", "").lower().translate(SUPERSCRIPTS)
    match = re.fullmatch(r"([0-9]*\.?[0-9]+)(?:(?:x|×|\*)10\^?(-?[0-9]+)|e\+?(-?[0-9]+))?", cleaned)
    if not match:
        raise ValidationError(_("Enter a cell count such as 3200000000, 3.2e9 or 3.2×10^9."))
    mantissa, exponent = Decimal(match.group(1)), int(match.group(2) or match.group(3) or 0)
    try:
        value = mantissa.scaleb(exponent)
    except InvalidOperation:
        raise ValidationError(_("This cell count is too large.")) from None
    if value != value.to_integral_value():
        raise ValidationError(_("A cell count is a whole number of cells."))
    if value > Decimal(9 * 10**18):
        raise ValidationError(_("This cell count is too large."))
    return int(value)


class CellCountField(forms.CharField):
    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        return parse_cell_count(value)

    def prepare_value(self, value):
        if isinstance(value, int):
            return f"{value:.4g}".replace("e+0", "e").replace("e+", "e") if value >= 10**6 else str(value)
        return value


class VersionField(forms.Field):
    """The version of the record the form was opened on (hidden): digits 0-9 only, or empty."""

    widget = forms.HiddenInput

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return parse_version(value)
        except ValidationError as error:
            raise ValidationError(error.message_dict["version"]) from None


class RecordForm(forms.ModelForm):
    """A clinical record's form: date pickers, and the version being edited (for conflicts)."""

    version = VersionField(required=False)

    def __init__(self, *args, patient=None, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.patient = patient
        self.user = user
        if self.instance.pk:
            self.fields["version"].initial = self.instance.version
        for field in self.fields.values():
            if isinstance(field, forms.DateField):
                field.widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")

    def record_fields(self):
        """The cleaned values that belong to the model (not the version)."""
        return {name: value for name, value in self.cleaned_data.items() if name != "version"}


class PatientForm(RecordForm):
    """A patient's form; the site is one of the account's own sites (preset when it has only one)."""

    class Meta:
        model = Patient
        fields = [
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
        widgets = {
            "gmfcs_level": forms.Select(choices=[(i, r) for i, r in enumerate(["I", "II", "III", "IV", "V"], 1)])
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        sites = user_sites(self.user) if self.user is not None else Site.objects.none()
        self.fields["site"].queryset = sites
        self.fields["site"].error_messages["invalid_choice"] = _(
            "Choose one of your own sites; this one is not among them."
        )
        if len(sites) == 1 and (not self.instance.pk or self.instance.site_id == sites[0].pk):
            # An account of one site enters that site's patients: shown, not chosen.
            self.initial["site"] = sites[0].pk
            self.fields["site"].disabled = True


class HarvestForm(RecordForm):
    class Meta:
        model = BoneMarrowHarvest
        fields = ["date", "gcsf_mobilized", "gcsf_dose_mcg_per_kg_day", "volume_ml", "processing_method"]


class ProductForm(RecordForm):
    tnc_count = CellCountField(label=_("total nucleated cells"), help_text=_("e.g. 3.2e9 or 3.2×10^9 cells"))
    cd34_count = CellCountField(label=_("CD34+ cells"), required=False, help_text=_("e.g. 2.5e7 cells"))

    class Meta:
        model = CellProduct
        fields = ["harvest", "tnc_count", "cd34_count", "viability_percent", "sterility"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["harvest"].queryset = BoneMarrowHarvest.objects.filter(patient=self.patient)


class ProcedureForm(RecordForm):
    class Meta:
        model = IntrathecalProcedure
        fields = ["product", "date", "weight_kg", "volume_ml", "puncture_level", "sedation"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = CellProduct.objects.filter(harvest__patient=self.patient).select_related(
            "harvest"
        )


class AdverseEventForm(RecordForm):
    class Meta:
        model = AdverseEvent
        fields = ["procedure", "onset_date", "term", "term_other", "grade", "serious", "outcome"]
        widgets = {"grade": forms.Select(choices=[(i, str(i)) for i in range(1, 6)])}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["procedure"].queryset = IntrathecalProcedure.objects.filter(patient=self.patient)


class VisitForm(RecordForm):
    class Meta:
        model = Visit
        fields = ["date", "kind"]


class ScoreForm(RecordForm):
    """One score. The value is typed as a number or as one of the instrument's labels ("1+", "III")."""

    value = forms.CharField(
        label=_("value"),
        required=False,
        max_length=20,
        help_text=_("A number, or the instrument's label (e.g. 1+ for Modified Ashworth, III for GMFCS)."),
    )

    class Meta:
        model = Score
        fields = ["visit", "instrument", "muscle", "side", "value", "missing", "assessor"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["visit"].queryset = Visit.objects.filter(patient=self.patient)
        self.fields["instrument"].queryset = Instrument.objects.all()
        self.fields["instrument"].label_from_instance = lambda instrument: f"{instrument.code} — {instrument.name}"
        self.fields["muscle"].queryset = MuscleGroup.objects.all()
        if self.instance.pk and self.instance.value is not None:
            self.initial["value"] = self.instance.instrument.label_for(self.instance.value)

    def clean(self):
        cleaned = super().clean()
        text, instrument = cleaned.get("value"), cleaned.get("instrument")
        if text in (None, ""):
            cleaned["value"] = None
        elif instrument is None:
            cleaned["value"] = None  # the instrument's own error says what is wrong
        else:
            try:
                cleaned["value"] = instrument.value_from_text(text)
            except ValidationError as error:
                self.add_error("value", error)
        return cleaned


MISSING_CHOICES = [("", "")] + list(Score.Missing.choices)


class AssessmentForm(forms.Form):
    """Every instrument a visit assesses, on one form (registry.selectors.assessment_rows): per row a value
    (a choice of the instrument's labels — GMFCS I–V, Modified Ashworth 0, 1, 1+, 2, 3, 4 — or a number)
    or why it is missing, and the version of the score it was opened on. Both left empty: not entered yet."""

    assessor = forms.CharField(label=_("assessor"), max_length=100, required=False)

    def __init__(self, data=None, *, rows, **kwargs):
        super().__init__(data, **kwargs)
        self.rows = rows
        assessors = [row.score.assessor for row in rows if row.score and row.score.assessor]
        if assessors:
            self.fields["assessor"].initial = max(set(assessors), key=assessors.count)
        for row in rows:
            instrument, score = row.instrument, row.score
            if instrument.value_labels:
                value = forms.ChoiceField(
                    choices=[("", "—")] + [(label, label) for label in instrument.allowed_labels()],
                    required=False,
                    error_messages={
                        "invalid_choice": _("“%(value)s” is not one of the values this instrument allows.")
                    },
                )
            else:
                value = forms.CharField(
                    required=False,
                    max_length=20,
                    widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 6}),
                )
            value.label = row.key
            self.fields[f"{row.key}-value"] = value
            self.fields[f"{row.key}-missing"] = forms.ChoiceField(
                choices=MISSING_CHOICES, required=False, label=_("missing because")
            )
            self.fields[f"{row.key}-version"] = VersionField(required=False)
            if score is not None:
                self.initial[f"{row.key}-value"] = instrument.label_for(score.value) if score.value is not None else ""
                self.initial[f"{row.key}-missing"] = score.missing
                self.initial[f"{row.key}-version"] = score.version

    def bound(self, row):
        """The value, missing-reason and version fields of ``row``, for the template."""
        return self[f"{row.key}-value"], self[f"{row.key}-missing"], self[f"{row.key}-version"]

    def clean(self):
        cleaned = super().clean()
        self.entries = []
        for row in self.rows:
            name = row.key
            text, missing = cleaned.get(f"{name}-value"), cleaned.get(f"{name}-missing") or ""
            if f"{name}-value" in self.errors:
                continue
            value = None
            if text not in (None, ""):
                try:
                    value = row.instrument.value_from_text(text)
                except ValidationError as error:
                    self.add_error(f"{name}-value", error)
                    continue
                message = row.instrument.check_value(value)
                if message:
                    self.add_error(f"{name}-value", message)
                    continue
            if value is not None and missing:
                self.add_error(f"{name}-missing", _("Either a value or why it is missing, not both."))
                continue
            self.entries.append((row, value, missing, cleaned.get(f"{name}-version")))
        return cleaned


class AssessmentVisitForm(RecordForm):
    """The date and kind of a visit entered together with its assessments."""

    class Meta:
        model = Visit
        fields = ["date", "kind"]
