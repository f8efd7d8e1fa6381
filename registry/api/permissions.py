"""API permissions: each verb needs the role's model permission, reads included."""

from django.db.models import Model
from rest_framework.permissions import DjangoModelPermissions

from registry.roles import IDENTIFIERS


class RoleModelPermissions(DjangoModelPermissions):
    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }

    def _queryset(self, view):
        # The permissions depend on the model alone: a view that names its model (RecordViewSet) is not
        # made to build its site-scoped, annotated queryset once more just to tell it.
        model = getattr(view, "model", None)
        if isinstance(model, type) and issubclass(model, Model):
            return model._default_manager.none()
        return super()._queryset(view)


def sees_identifiers(user):
    """Whether this account may see names, record numbers and exact dates."""
    if not user.is_authenticated:
        return False
    # Asked several times a request; kept on the account's object, as Django keeps its permissions there.
    seen = getattr(user, "_sees_identifiers", None)
    if seen is None:
        seen = user._sees_identifiers = user.has_perm(IDENTIFIERS)
    return seen
