"""The four roles (Django groups), the registry's own permissions for each, and how an app grants its own."""

from django.utils.translation import gettext_lazy as _

HEMATOLOGY = "hematology"
RADIOLOGY = "radiology"
RESEARCH = "research"
REGISTRY_ADMIN = "registry-admin"
HEMATOLOGY_LEAD = "hematology-lead"
ROLES = {
    HEMATOLOGY: _("Hematology: enters patients, harvests, doses, procedures, adverse events, visits, scores"),
    HEMATOLOGY_LEAD: _("Hematology lead: what hematology does, and signs visits and patients' data as investigator"),
    RADIOLOGY: _("Radiology: uploads and reviews diffusion scans"),
    RESEARCH: _("Research: reads de-identified data, analyses, exports"),
    REGISTRY_ADMIN: _("Registry admin: everything, users and roles"),
}
IDENTIFIERS = "registry.view_identifiers"
# Roles whose accounts belong to one or more sites and see only those sites' patients.
SITE_ROLES = frozenset({HEMATOLOGY, HEMATOLOGY_LEAD, RADIOLOGY})
EVERY_SITE = "registry.view_every_site"

CLINICAL_MODELS = [
    "patient",
    "bonemarrowharvest",
    "cellproduct",
    "intrathecalprocedure",
    "adverseevent",
    "visit",
    "score",
]
# What registry-admins keep and every role reads: instruments, the visit schedule, muscle groups.
VOCABULARY_MODELS = ["instrument", "scheduledtimepoint", "musclegroup"]
EVERY_ACTION = ["add", "change", "delete", "view"]


def codenames(models, actions):
    """Permission codenames such as ``view_patient`` for each model and action."""
    return [f"{action}_{model}" for model in models for action in actions]


# Each app lists the codenames of its own permissions that each role holds (registry-admin holds all).
# Queries carry free text about identified records: clinical roles only, never research.
QUERY_WORK = ["view_query", "add_query", "view_queryevent", "view_signature"]
ROLE_PERMISSIONS = {
    HEMATOLOGY: codenames(CLINICAL_MODELS, EVERY_ACTION)
    + codenames(VOCABULARY_MODELS, ["view"])
    + ["view_identifiers"]
    + QUERY_WORK,
    HEMATOLOGY_LEAD: codenames(CLINICAL_MODELS, EVERY_ACTION)
    + codenames(VOCABULARY_MODELS, ["view"])
    + ["view_identifiers", "sign_records"]
    + QUERY_WORK,
    RADIOLOGY: codenames(CLINICAL_MODELS + VOCABULARY_MODELS, ["view"]) + ["view_identifiers"] + QUERY_WORK,
    # Research reads the de-identified data of every site; clinical staff only their own sites' patients.
    RESEARCH: codenames(CLINICAL_MODELS + VOCABULARY_MODELS, ["view"]) + ["view_every_site"],
}


def grant_role_permissions(app_label, role_permissions, using):
    """Give each role group the listed permissions of one app (idempotent).

    Every app calls this for itself after its migrations (post_migrate, from its AppConfig), so
    the registry names no add-on's permissions, and roles are complete after any ``migrate``
    or test-database flush. Permissions an administrator added by hand are kept.
    """
    from django.contrib.auth.models import Group, Permission

    for role, names in role_permissions.items():
        group, _created = Group.objects.using(using).get_or_create(name=role)
        permissions = Permission.objects.using(using).filter(content_type__app_label=app_label, codename__in=names)
        group.permissions.add(*permissions)


def grant_registry_admin(sender, using, **kwargs):
    """post_migrate of any app: registry-admin holds every permission of that app."""
    from django.contrib.auth.models import Group, Permission

    group, _created = Group.objects.using(using).get_or_create(name=REGISTRY_ADMIN)
    group.permissions.add(*Permission.objects.using(using).filter(content_type__app_label=sender.label))
