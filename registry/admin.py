"""Django admin for registry-admins: every model, with its change history; sign-in records read-only."""

from axes import admin as axes_admin
from axes import models as axes_models
from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from knox.models import AuthToken
from simple_history.admin import SimpleHistoryAdmin

from registry import models
from registry.services import EditConflict, refuse_if_locked


class RecordAdminForm(forms.ModelForm):
    """Carries the version the admin opened; a save over someone else's change is refused."""

    opened_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["opened_version"].initial = self.instance.version

    def clean(self):
        data = super().clean()
        opened = data.get("opened_version")
        if self.instance.pk and opened is not None:
            current = type(self.instance).objects.filter(pk=self.instance.pk).values_list("version", flat=True).first()
            if current is not None and current != opened:
                raise forms.ValidationError(
                    str(EditConflict(type(self.instance).objects.get(pk=self.instance.pk), opened))
                )
        return data


class RecordAdmin(SimpleHistoryAdmin):
    """Admin edits go through the same versioning as the pages and the API."""

    form = RecordAdminForm
    readonly_fields = ["version", "created_at", "updated_at"]

    def save_model(self, request, obj, form, change):
        # A record under an investigator's signature is refused here as in the services (423 page).
        if change:
            refuse_if_locked(type(obj).objects.get(pk=obj.pk))
        refuse_if_locked(obj)
        if change:
            obj.version += 1
        super().save_model(request, obj, form, change)

    def delete_model(self, request, obj):
        refuse_if_locked(obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            refuse_if_locked(obj)
        super().delete_queryset(request, queryset)


class SiteMembershipInline(admin.TabularInline):
    model = models.SiteMembership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(models.Site)
class SiteAdmin(SimpleHistoryAdmin):
    """Sites (centres) and the staff accounts that belong to each."""

    list_display = ["code", "name"]
    search_fields = ["code", "name"]
    inlines = [SiteMembershipInline]


@admin.register(models.SiteMembership)
class SiteMembershipAdmin(SimpleHistoryAdmin):
    list_display = ["user", "site"]
    list_filter = ["site"]
    search_fields = ["user__username", "site__code"]
    autocomplete_fields = ["user", "site"]


@admin.register(models.Patient)
class PatientAdmin(RecordAdmin):
    list_display = [
        "study_id",
        "site",
        "family_name",
        "given_name",
        "mrn",
        "date_of_birth",
        "cp_subtype",
        "gmfcs_level",
    ]
    search_fields = ["study_id", "family_name", "given_name", "mrn"]
    list_filter = ["site", "cp_subtype", "etiology", "gmfcs_level", "sex"]


@admin.register(models.BoneMarrowHarvest)
class HarvestAdmin(RecordAdmin):
    list_display = ["patient", "date", "gcsf_mobilized", "volume_ml", "processing_method"]
    list_filter = ["gcsf_mobilized", "processing_method"]
    search_fields = ["patient__study_id"]


@admin.register(models.CellProduct)
class ProductAdmin(RecordAdmin):
    list_display = ["harvest", "tnc_count", "cd34_count", "viability_percent", "sterility"]
    search_fields = ["harvest__patient__study_id"]


@admin.register(models.IntrathecalProcedure)
class ProcedureAdmin(RecordAdmin):
    list_display = ["patient", "date", "weight_kg", "volume_ml", "puncture_level"]
    search_fields = ["patient__study_id"]


@admin.register(models.AdverseEvent)
class AdverseEventAdmin(RecordAdmin):
    list_display = ["procedure", "onset_date", "term", "grade", "serious", "outcome"]
    list_filter = ["grade", "serious", "outcome"]


@admin.register(models.Visit)
class VisitAdmin(RecordAdmin):
    list_display = ["patient", "date", "kind"]
    list_filter = ["kind"]
    search_fields = ["patient__study_id"]


@admin.register(models.Instrument)
class InstrumentAdmin(RecordAdmin):
    list_display = ["code", "name", "min_value", "max_value", "higher_is_better", "unit"]


@admin.register(models.Score)
class ScoreAdmin(RecordAdmin):
    list_display = ["visit", "instrument", "muscle", "side", "value", "missing", "assessor"]
    list_filter = ["instrument", "missing"]


@admin.register(models.ScheduledTimepoint)
class ScheduledTimepointAdmin(SimpleHistoryAdmin):
    """The protocol's visit schedule: windows, and the instruments each visit assesses."""

    list_display = ["code", "months", "window_before", "window_after", "window_unit"]
    filter_horizontal = ["instruments"]


@admin.register(models.MuscleGroup)
class MuscleGroupAdmin(SimpleHistoryAdmin):
    """The muscle groups asked on each side by instruments scored per muscle group (Modified Ashworth)."""

    list_display = ["code", "name", "position", "active"]
    list_editable = ["position", "active"]


@admin.register(models.FreeTextRelease)
class FreeTextReleaseAdmin(SimpleHistoryAdmin):
    """Which exact free-text values research may see; deleting a row withdraws the release."""

    list_display = ["field", "value", "released_by", "released_at", "note"]
    list_filter = ["field"]
    search_fields = ["value"]
    readonly_fields = ["released_by", "released_at"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "field":
            from django import forms

            from registry.deidentify import free_text_fields

            return forms.ChoiceField(
                choices=[(key, str(label)) for key, label in free_text_fields().items()], label=db_field.verbose_name
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.released_by = request.user
        super().save_model(request, obj, form, change)


if admin.site.is_registered(AuthToken):
    admin.site.unregister(AuthToken)  # knox's own admin lists digests in full and makes keys for anyone


@admin.register(AuthToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Who holds an API token and until when; deleting one revokes it. No key is ever shown, and none
    is made here: a registry-admin holding someone else's key could act, and be recorded, as them."""

    list_display = ["user", "digest_start", "created", "expiry"]
    fields = ["user", "digest_start", "created", "expiry"]
    readonly_fields = fields
    search_fields = ["user__username"]
    ordering = ["-created"]

    @admin.display(description=_("digest (start)"))
    def digest_start(self, token):
        return f"{token.digest[:8]}…"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class SignInRecordAdmin(admin.ModelAdmin):
    """Sign-in records of django-axes: registry-admins read them; nobody adds or edits one."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(axes_models.AccessAttempt)
class LockoutAdmin(SignInRecordAdmin, axes_admin.AccessAttemptAdmin):
    """Failures counting towards a lockout; deleting a row unlocks that username and address."""

    actions = []


@admin.register(axes_models.AccessFailureLog)
class SignInFailureAdmin(SignInRecordAdmin, axes_admin.AccessFailureLogAdmin):
    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(axes_models.AccessLog)
class SignInAdmin(SignInRecordAdmin, axes_admin.AccessLogAdmin):
    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnly:
    """Shown in the admin, never added, changed or deleted there: the pages and services that make these
    records check and log each step."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AccessedPatientInline(ReadOnly, admin.TabularInline):
    model = models.AccessedPatient
    fields = ["study_id", "patient_id"]
    readonly_fields = fields
    extra = 0

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("registry.view_accesslog")


@admin.register(models.AccessLog)
class AccessLogAdmin(ReadOnly, admin.ModelAdmin):
    """Read-only: registry-admins read the access log here and on /access-log/; nobody adds, changes or deletes."""

    list_display = ["at", "username", "kind", "record_type", "object_id", "path", "ip"]
    list_filter = ["kind"]
    search_fields = ["username", "patients__study_id"]
    date_hierarchy = "at"
    inlines = [AccessedPatientInline]


class QueryEventInline(ReadOnly, admin.TabularInline):
    model = models.QueryEvent
    fields = ["at", "action", "user", "note"]
    readonly_fields = fields
    extra = 0


@admin.register(models.Query)
class QueryAdmin(ReadOnly, SimpleHistoryAdmin):
    """Read-only: queries move through their steps on the queries page and the API, where each step is
    checked and logged."""

    list_display = [
        "pk",
        "patient",
        "record_type",
        "record_id",
        "field",
        "rule",
        "status",
        "assigned_role",
        "opened_at",
    ]
    list_filter = ["status", "assigned_role", "rule"]
    search_fields = ["patient__study_id"]
    inlines = [QueryEventInline]


@admin.register(models.Signature)
class SignatureAdmin(ReadOnly, SimpleHistoryAdmin):
    """Read-only: signatures are made with the signer's password and voided by an unlock with a reason,
    on the pages and the API; none is made, changed or deleted here."""

    list_display = ["subject", "signer_name", "signed_at", "voided_at", "voided_by"]
    list_filter = ["voided_at"]
    search_fields = ["patient__study_id", "signer_name"]


@admin.register(models.QueryEvent)
class QueryEventAdmin(ReadOnly, admin.ModelAdmin):
    """Read-only: the steps of every query, as the queries page and the API logged them."""

    list_display = ["query", "action", "user", "at"]
    list_filter = ["action"]
