"""The four roles (Django groups) and the permissions each one holds."""

from django.utils.translation import gettext_lazy as _

HEMATOLOGY = "hematology"
RADIOLOGY = "radiology"
RESEARCH = "research"
REGISTRY_ADMIN = "registry-admin"
ROLES = {
    HEMATOLOGY: _("Hematology: enters patients, harvests, doses, procedures, adverse events, visits, scores"),
    RADIOLOGY: _("Radiology: uploads and reviews diffusion scans"),
    RESEARCH: _("Research: reads de-identified data, analyses, exports"),
    REGISTRY_ADMIN: _("Registry admin: everything, users and roles"),
}

CLINICAL_MODELS = [
    "patient",
    "bonemarrowharvest",
    "cellproduct",
    "intrathecalprocedure",
    "adverseevent",
    "visit",
    "score",
]
IDENTIFIERS = "registry.view_identifiers"


IMAGING_MODELS = ["scan", "diffusionresult", "roimeasurement"]


def _perms(models, actions, app="registry"):
    return [f"{app}.{action}_{model}" for model in models for action in actions]


ROLE_PERMISSIONS = {
    HEMATOLOGY: _perms(CLINICAL_MODELS, ["add", "change", "delete", "view"])
    + _perms(["instrument"], ["view"])
    + _perms(IMAGING_MODELS, ["view"], app="imaging")
    + [IDENTIFIERS],
    RADIOLOGY: _perms(CLINICAL_MODELS + ["instrument"], ["view"])
    + _perms(["scan"], ["add", "change", "view"], app="imaging")
    + _perms(["diffusionresult"], ["view"], app="imaging")
    + _perms(["roimeasurement"], ["add", "change", "delete", "view"], app="imaging")
    + [IDENTIFIERS],
    RESEARCH: _perms(CLINICAL_MODELS + ["instrument"], ["view"])
    + _perms(IMAGING_MODELS, ["view"], app="imaging")
    + ["research.view_cohort", "research.export_data"],
    # registry-admin holds every permission of every app (see sync_roles).
    REGISTRY_ADMIN: [],
}


def sync_roles(apps):
    """Create the role groups and give each its permissions (idempotent; used by migrations).

    Permissions of models that do not exist yet in `apps` (an app migrated later) are left
    for that app's own migration, which calls this again.
    """
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        # Migration state has no models modules; create_permissions skips apps without one.
        original = getattr(app_config, "models_module", None)
        app_config.models_module = original or True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = original

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, names in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role)
        if role == REGISTRY_ADMIN:
            group.permissions.set(Permission.objects.all())
            continue
        perms = []
        for name in names:
            app_label, codename = name.split(".")
            if not _model_exists(apps, app_label, codename):
                continue
            perms.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        group.permissions.add(*perms)


# Custom permissions and the model that declares them.
CUSTOM_PERMISSION_MODELS = {"view_identifiers": "patient", "view_cohort": "exportlog", "export_data": "exportlog"}


def _model_exists(apps, app_label, codename):
    model = CUSTOM_PERMISSION_MODELS.get(codename) or codename.split("_", 1)[1]
    try:
        apps.get_model(app_label, model)
    except LookupError:
        return False
    return True
