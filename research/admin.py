"""The export log, for registry-admins."""

from django.contrib import admin

from research.models import ExportLog


@admin.register(ExportLog)
class ExportLogAdmin(admin.ModelAdmin):
    list_display = ["at", "user", "kind", "file_format", "date_mode", "rows", "completed"]
    list_filter = ["kind", "file_format", "completed"]
    readonly_fields = [field.name for field in ExportLog._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
