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
    class Meta:
        model = Score
        fields = ["visit", "instrument", "value", "assessor"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["visit"].queryset = Visit.objects.filter(patient=self.patient)
        self.fields["instrument"].queryset = Instrument.objects.all()
        self.fields["instrument"].label_from_instance = lambda instrument: f"{instrument.code} — {instrument.name}"
