"""Forms of the imaging pages: upload, review, label image, manual ROI."""

from django import forms
from django.utils.translation import gettext_lazy as _

from imaging.models import RoiMeasurement, Scan
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
    labels = forms.FileField(label=_("Label image (integer NIfTI on the scan's grid)"), allow_empty_file=True)
    names = forms.CharField(
        label=_("Regions of the labels (JSON, label value to region code)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_('For example {"1": "cst-l", "2": "cst-r"}; the codes are listed beside this form.'),
    )


class ManualRoiForm(forms.ModelForm):
    class Meta:
        model = RoiMeasurement
        fields = ["region", "fa", "md"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A typed measurement always names a region of the vocabulary.
        self.fields["region"].required = True
