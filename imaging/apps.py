"""Diffusion imaging: scans, their processing by Celery workers, FA results and regions."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class ImagingConfig(AppConfig):
    name = "imaging"
    verbose_name = _("Diffusion imaging")

    def ready(self):
        # Research's allow-lists of scans, ROIs and provenance live with the models they describe.
        from imaging import deidentify  # noqa: F401
        from imaging.selectors import visit_imaging
        from imaging.synthetic import add_processed_scans
        from registry.course import provide_visit_measures
        from registry.synthetic import provide_visit_records

        provide_visit_measures(visit_imaging)
        provide_visit_records(add_processed_scans)
        post_migrate.connect(self.grant_roles, sender=self)

    def grant_roles(self, using, **kwargs):
        from registry.roles import EVERY_ACTION, HEMATOLOGY, RADIOLOGY, RESEARCH, codenames, grant_role_permissions

        results = codenames(["scan", "diffusionresult", "roimeasurement"], ["view"])
        grant_role_permissions(
            self.label,
            {
                HEMATOLOGY: results,
                RADIOLOGY: codenames(["scan"], ["add", "change", "view"])
                + codenames(["diffusionresult"], ["view"])
                + codenames(["roimeasurement"], EVERY_ACTION),
                RESEARCH: results,
            },
            using,
        )
