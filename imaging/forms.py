"""Forms of the imaging pages: upload, review, label image, manual ROI."""

from django import forms
from django.utils.translation import gettext_lazy as _

from imaging.models import Region, RoiMeasurement, Scan
from registry.forms import VersionField


class ScanUploadForm(forms.Form):
    dwi = forms.FileField(label=_("Diffusion NIfTI (.nii or .nii.gz)"), required=False, allow_empty_file=True)
    bval = forms.FileField(label=_("b-values (.bval)"), required=False, allow_empty_file=True)
    bvec = forms.FileField(label=_("b-vectors (.bvec)"), required=False, allow_empty_file=True)
    dicom_zip = forms.FileField(label=_("…or a zip of the DICOM series"), required=False, allow_empty_file=True)
    acquisition_date = forms.DateField(
        label=_("Acquisition date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Defaults to the visit's date."),
    )
    profile = forms.ChoiceField(
        label=_("Processing"), choices=Scan.Profile.choices, initial=Scan.Profile.STANDARD, required=False
    )
    fit_method = forms.ChoiceField(
        label=_("Tensor fit"), choices=Scan.FitMethod.choices, initial=Scan.FitMethod.WLS, required=False
    )


class ComparabilityForm(forms.Form):
    """A radiologist includes a scan not acquired like the baseline in change analyses, with a reason."""

    include = forms.TypedChoiceField(
        label=_("Change since baseline"),
        coerce=lambda value: value == "yes",
        choices=[("yes", _("Include this scan despite the differences")), ("no", _("Leave this scan out"))],
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose to include or leave out the scan.")},
    )
    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        max_length=300,
        help_text=_("Required to include it: why the differences do not matter for FA."),
    )
    version = VersionField()

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "id_comparability_%s")  # the review form on the same page has a reason too
        super().__init__(*args, **kwargs)

    @classmethod
    def for_scan(cls, scan):
        include = "yes" if scan.comparability_override else "no"
        return cls(initial={"include": include, "reason": scan.comparability_reason, "version": scan.version})


class ReviewForm(forms.Form):
    """A radiologist's review. Nothing is chosen until someone chooses: an unreviewed scan opens
    with neither answer selected, so a save without a choice is refused, never recorded as usable."""

    usable = forms.TypedChoiceField(
        label=_("Usable for analysis"),
        coerce=lambda value: value == "yes",
        choices=[("yes", _("Usable")), ("no", _("Not usable"))],
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose usable or not usable.")},
    )
    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        max_length=300,
        help_text=_("Required when not usable: motion, artefact, wrong sequence…"),
    )
    version = VersionField()

    @classmethod
    def for_scan(cls, scan):
        """The form as the scan stands: its current answer chosen, or none if it was never reviewed."""
        usable = None if scan.usable is None else "yes" if scan.usable else "no"
        return cls(initial={"usable": usable, "reason": scan.usable_reason, "version": scan.version})

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("usable") is False and not (cleaned.get("reason") or "").strip():
            self.add_error("reason", _("Say why the scan is not usable (e.g. motion, artefact, wrong sequence)."))
        return cleaned

    def full_clean(self):
        super().full_clean()
        # Screen readers announce the error with the field it belongs to.
        for name in self.errors:
            if name in self.fields:
                self.fields[name].widget.attrs.update({"aria-invalid": "true", "aria-describedby": f"{name}-errors"})


class LabelsForm(forms.Form):
    """A label image and, one row per label, the region of the vocabulary it draws."""

    ROWS = 12  # the built-in vocabulary has 12 regions

    labels = forms.FileField(
        label=_("Label image (integer NIfTI, on any grid: it is resampled onto the scan)"), allow_empty_file=True
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        regions = Region.objects.all()
        for row in range(1, self.ROWS + 1):
            self.fields[f"label_{row}"] = forms.IntegerField(
                label=_("Label value"),
                required=False,
                min_value=1,
                widget=forms.NumberInput(attrs={"size": 4, "aria-label": _("Label value")}),
            )
            self.fields[f"region_{row}"] = forms.ModelChoiceField(
                regions,
                label=_("Region"),
                required=False,
                to_field_name="code",
                empty_label="—",
                widget=forms.Select(attrs={"aria-label": _("Region")}),
            )

    def rows(self):
        """(label field, region field) per row, for the template."""
        return [(self[f"label_{row}"], self[f"region_{row}"]) for row in range(1, self.ROWS + 1)]

    def clean(self):
        cleaned = super().clean()
        names = {}
        for row in range(1, self.ROWS + 1):
            value, region = cleaned.get(f"label_{row}"), cleaned.get(f"region_{row}")
            if value is None and region is None:
                continue
            if value is None or region is None:
                self.add_error(
                    f"label_{row}" if value is None else f"region_{row}",
                    _("Row %(row)d: give both the label value and its region.") % {"row": row},
                )
            elif value in names:
                self.add_error(f"label_{row}", _("Label %(value)d is named twice.") % {"value": value})
            else:
                names[value] = region.code
        cleaned["names"] = names
        return cleaned


class ManualRoiForm(forms.ModelForm):
    class Meta:
        model = RoiMeasurement
        fields = ["region", "fa", "md"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A typed measurement always names a region of the vocabulary.
        self.fields["region"].required = True
