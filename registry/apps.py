"""The clinical registry app."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = _("Clinical registry")

    def ready(self):
        from axes.signals import user_locked_out

        from registry import lookups  # noqa: F401  (registers field__any)
        from registry.roles import grant_registry_admin
        from registry.signin import flag_api_lockout

        post_migrate.connect(self.grant_roles, sender=self)
        post_migrate.connect(grant_registry_admin, dispatch_uid="registry-admin-holds-every-permission")
        user_locked_out.connect(flag_api_lockout, dispatch_uid="registry-api-lockout")

    def grant_roles(self, using, **kwargs):
        from registry.roles import ROLE_PERMISSIONS, grant_role_permissions

        grant_role_permissions(self.label, ROLE_PERMISSIONS, using)
