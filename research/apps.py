"""Research: de-identified cohort analyses, linking FA with clinical scores, exports."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class ResearchConfig(AppConfig):
    name = "research"
    verbose_name = _("Research")

    def ready(self):
        post_migrate.connect(self.grant_roles, sender=self)

    def grant_roles(self, using, **kwargs):
        from registry.roles import RESEARCH, grant_role_permissions

        grant_role_permissions(self.label, {RESEARCH: ["view_cohort", "export_data"]}, using)
