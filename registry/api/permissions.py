"""API permissions: each verb needs the role's model permission, reads included."""

from rest_framework.permissions import DjangoModelPermissions

from registry.roles import IDENTIFIERS


class RoleModelPermissions(DjangoModelPermissions):
    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }


def sees_identifiers(user):
    """Whether this account may see names, record numbers and exact dates."""
    if not user.is_authenticated:
        return False
    # Asked several times a request; kept on the account's object, as Django keeps its permissions there.
    seen = getattr(user, "_sees_identifiers", None)
    if seen is None:
        seen = user._sees_identifiers = user.has_perm(IDENTIFIERS)
    return seen
